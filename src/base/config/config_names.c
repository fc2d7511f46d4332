/* config_names.c - enum <-> name tables of the campaign loader.
 *
 * The words each enum field of a campaign file accepts (as cyaml_strval_t
 * tables for the schema in config_schema.c), the nnfi_*_name() functions that
 * turn values back into those words, and nnfi_config_library_versions(). The
 * op, persistence and scope tables are generated from the X-macro lists in
 * nnfi/categories.h, so they cannot drift from the enums and the result
 * file's flag attributes.
 */
#include "config_internal.h"

#include <stdio.h>

const cyaml_strval_t nnfi_cfg_host_strings[] = {{"null", NNFI_HOST_NULL}, {"torch", NNFI_HOST_TORCH}};
const cyaml_strval_t nnfi_cfg_device_strings[] = {
    {"auto", NNFI_DEVICE_AUTO}, {"cpu", NNFI_DEVICE_CPU}, {"cuda", NNFI_DEVICE_CUDA}};
const cyaml_strval_t nnfi_cfg_target_strings[] = {
    {"weight", NNFI_TARGET_WEIGHT},         {"bias", NNFI_TARGET_BIAS},
    {"param", NNFI_TARGET_PARAM},           {"activation", NNFI_TARGET_ACTIVATION},
    {"input", NNFI_TARGET_INPUT},           {"state", NNFI_TARGET_STATE}};
const cyaml_strval_t nnfi_cfg_op_strings[] = {NNFI_OP_VALUES(NNFI_CFG_STRVAL)};
const cyaml_strval_t nnfi_cfg_preset_strings[] = {{"all", NNFI_BITS_ALL},
                                                  {"sign", NNFI_BITS_SIGN},
                                                  {"exponent", NNFI_BITS_EXPONENT},
                                                  {"mantissa", NNFI_BITS_MANTISSA}};
const cyaml_strval_t nnfi_cfg_persistence_strings[] = {NNFI_PERSISTENCE_VALUES(NNFI_CFG_STRVAL)};
const cyaml_strval_t nnfi_cfg_scope_strings[] = {NNFI_SCOPE_VALUES(NNFI_CFG_STRVAL)};
const cyaml_strval_t nnfi_cfg_values_strings[] = {{"any", NNFI_VALUES_ANY},
                                                  {"nonzero", NNFI_VALUES_NONZERO},
                                                  {"zero", NNFI_VALUES_ZERO}};
const cyaml_strval_t nnfi_cfg_draw_strings[] = {{"fixed", NNFI_RATE_FIXED},
                                                {"poisson", NNFI_RATE_POISSON}};
const cyaml_strval_t nnfi_cfg_watch_strings[] = {{"accuracy_drop", NNFI_WATCH_ACCURACY_DROP},
                                                 {"sdc", NNFI_WATCH_SDC},
                                                 {"critical_sdc", NNFI_WATCH_CRITICAL_SDC},
                                                 {"due", NNFI_WATCH_DUE}};
static const char *const dtype_names[NNFI_DT_COUNT] = {"fp32", "fp16", "bf16", "fp64",
                                                       "int8", "uint8", "int32"};

static const char *strval_name(const cyaml_strval_t *t, size_t n, int64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].val == v) return t[i].str;
    return "?";
}

#define NAME_OF(table, v) strval_name(table, N_OF(table), v)

const char *nnfi_dtype_name(nnfi_dtype dt)
{
    return (unsigned)dt < NNFI_DT_COUNT ? dtype_names[dt] : "?";
}
const char *nnfi_op_name(nnfi_op v) { return NAME_OF(nnfi_cfg_op_strings, v); }
const char *nnfi_preset_name(nnfi_bit_preset v) { return NAME_OF(nnfi_cfg_preset_strings, v); }
const char *nnfi_target_name(nnfi_target v) { return NAME_OF(nnfi_cfg_target_strings, v); }
const char *nnfi_persistence_name(nnfi_persistence v) { return NAME_OF(nnfi_cfg_persistence_strings, v); }
const char *nnfi_scope_name(nnfi_transient_scope v) { return NAME_OF(nnfi_cfg_scope_strings, v); }
const char *nnfi_watch_name(nnfi_watch v) { return NAME_OF(nnfi_cfg_watch_strings, v); }
const char *nnfi_values_name(nnfi_values v) { return NAME_OF(nnfi_cfg_values_strings, v); }

const char *nnfi_config_library_versions(void)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "libcyaml %u.%u.%u, libyaml %s", (unsigned)(cyaml_version >> 16) & 0xff,
             (unsigned)(cyaml_version >> 8) & 0xff, (unsigned)cyaml_version & 0xff, yaml_get_version_string());
    return buf;
}
