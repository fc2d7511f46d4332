/* config_names.c - enum <-> name tables of the campaign loader.
 *
 * The words each enum field of a campaign file accepts (as cyaml_strval_t
 * tables for the schema in config_schema.c), the nnfi_*_name() functions that
 * turn values back into those words, and nnfi_config_library_versions(). Every
 * table is generated from an X-macro list: op, persistence and scope from
 * nnfi/categories.h (so they cannot drift from the enums and the result file's
 * flag attributes), the loader's own enums from config_internal.h.
 */
#include "config_internal.h"

#include <stdio.h>

const cyaml_strval_t nnfi_cfg_host_strings[] = {NNFI_CFG_HOST_WORDS(NNFI_CFG_WORD)};
const cyaml_strval_t nnfi_cfg_device_strings[] = {NNFI_CFG_DEVICE_WORDS(NNFI_CFG_WORD)};
const cyaml_strval_t nnfi_cfg_target_strings[] = {NNFI_CFG_TARGET_WORDS(NNFI_CFG_WORD)};
const cyaml_strval_t nnfi_cfg_op_strings[] = {NNFI_OP_VALUES(NNFI_CFG_CATEGORY_WORD)};
const cyaml_strval_t nnfi_cfg_preset_strings[] = {NNFI_CFG_PRESET_WORDS(NNFI_CFG_WORD)};
const cyaml_strval_t nnfi_cfg_persistence_strings[] = {NNFI_PERSISTENCE_VALUES(NNFI_CFG_CATEGORY_WORD)};
const cyaml_strval_t nnfi_cfg_scope_strings[] = {NNFI_SCOPE_VALUES(NNFI_CFG_CATEGORY_WORD)};
const cyaml_strval_t nnfi_cfg_values_strings[] = {NNFI_CFG_VALUES_WORDS(NNFI_CFG_WORD)};
const cyaml_strval_t nnfi_cfg_draw_strings[] = {NNFI_CFG_DRAW_WORDS(NNFI_CFG_WORD)};
const cyaml_strval_t nnfi_cfg_watch_strings[] = {NNFI_CFG_WATCH_WORDS(NNFI_CFG_WORD)};
static const char *const dtype_names[NNFI_DT_COUNT] = {"fp32", "fp16", "bf16", "fp64",
                                                       "int8", "uint8", "int32", "int64"};

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
