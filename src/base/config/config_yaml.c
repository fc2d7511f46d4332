/* config_yaml.c - the only place nnfi reads YAML: campaign file -> nnfi_campaign.
 *
 * Three passes over one file, all driven by the libcyaml schema below (the
 * single description of the file format):
 *   1. libyaml parses the text into a node tree (syntax errors with line:col);
 *   2. check_value() walks that tree along the schema and rejects unknown keys,
 *      wrong types, bad enum values, missing fields and bad sequence lengths,
 *      with the exact line:column, the field path and a hint; it also records
 *      where every field sits (nnfi_config_index) for later errors;
 *   3. libcyaml loads the (now known-good) text into the public structs, and
 *      check_semantics() applies ranges, cross-field rules and defaults.
 * libcyaml's own messages locate errors only roughly, which is why pass 2
 * exists; it accepts a subset of what libcyaml accepts, so pass 3 cannot fail
 * on anything pass 2 let through (if it does, its message is reported).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup */
#endif
#include "nnfi/config.h"

#include <cyaml/cyaml.h>
#include <yaml.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ---------------------------------------------------------------- names -- */

static const cyaml_strval_t host_strings[] = {{"null", NNFI_HOST_NULL}, {"torch", NNFI_HOST_TORCH}};
static const cyaml_strval_t device_strings[] = {
    {"auto", NNFI_DEVICE_AUTO}, {"cpu", NNFI_DEVICE_CPU}, {"cuda", NNFI_DEVICE_CUDA}};
static const cyaml_strval_t target_strings[] = {
    {"weight", NNFI_TARGET_WEIGHT},         {"bias", NNFI_TARGET_BIAS},
    {"param", NNFI_TARGET_PARAM},           {"activation", NNFI_TARGET_ACTIVATION},
    {"input", NNFI_TARGET_INPUT},           {"state", NNFI_TARGET_STATE}};
static const cyaml_strval_t op_strings[] = {{"flip", NNFI_OP_FLIP},
                                            {"stuck0", NNFI_OP_STUCK0},
                                            {"stuck1", NNFI_OP_STUCK1},
                                            {"random", NNFI_OP_RANDOM},
                                            {"set", NNFI_OP_SET}};
static const cyaml_strval_t preset_strings[] = {{"all", NNFI_BITS_ALL},
                                                {"sign", NNFI_BITS_SIGN},
                                                {"exponent", NNFI_BITS_EXPONENT},
                                                {"mantissa", NNFI_BITS_MANTISSA}};
static const cyaml_strval_t persistence_strings[] = {{"permanent", NNFI_PERMANENT},
                                                     {"transient", NNFI_TRANSIENT}};
static const cyaml_strval_t scope_strings[] = {{"call", NNFI_SCOPE_CALL},
                                               {"sample", NNFI_SCOPE_SAMPLE}};
static const cyaml_strval_t values_strings[] = {{"any", NNFI_VALUES_ANY},
                                                {"nonzero", NNFI_VALUES_NONZERO},
                                                {"zero", NNFI_VALUES_ZERO}};
static const cyaml_strval_t draw_strings[] = {{"fixed", NNFI_RATE_FIXED},
                                              {"poisson", NNFI_RATE_POISSON}};
static const cyaml_strval_t watch_strings[] = {{"accuracy_drop", NNFI_WATCH_ACCURACY_DROP},
                                               {"sdc", NNFI_WATCH_SDC},
                                               {"critical_sdc", NNFI_WATCH_CRITICAL_SDC},
                                               {"due", NNFI_WATCH_DUE}};
static const char *const dtype_names[NNFI_DT_COUNT] = {"fp32", "fp16", "bf16", "fp64",
                                                       "int8", "uint8", "int32"};

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static const char *strval_name(const cyaml_strval_t *t, size_t n, int64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (t[i].val == v) return t[i].str;
    return "?";
}

const char *nnfi_dtype_name(nnfi_dtype dt)
{
    return (unsigned)dt < NNFI_DT_COUNT ? dtype_names[dt] : "?";
}
const char *nnfi_op_name(nnfi_op v) { return strval_name(op_strings, N_OF(op_strings), v); }
const char *nnfi_preset_name(nnfi_bit_preset v) { return strval_name(preset_strings, N_OF(preset_strings), v); }
const char *nnfi_target_name(nnfi_target v) { return strval_name(target_strings, N_OF(target_strings), v); }
const char *nnfi_persistence_name(nnfi_persistence v) { return strval_name(persistence_strings, N_OF(persistence_strings), v); }
const char *nnfi_scope_name(nnfi_transient_scope v) { return strval_name(scope_strings, N_OF(scope_strings), v); }
const char *nnfi_watch_name(nnfi_watch v) { return strval_name(watch_strings, N_OF(watch_strings), v); }
const char *nnfi_values_name(nnfi_values v) { return strval_name(values_strings, N_OF(values_strings), v); }

const char *nnfi_config_library_versions(void)
{
    static char buf[96];
    snprintf(buf, sizeof buf, "libcyaml %u.%u.%u, libyaml %s", (unsigned)(cyaml_version >> 16) & 0xff,
             (unsigned)(cyaml_version >> 8) & 0xff, (unsigned)cyaml_version & 0xff, yaml_get_version_string());
    return buf;
}

/* --------------------------------------------------------------- schema -- */

#define OPT CYAML_FLAG_OPTIONAL
#define OPT_PTR (CYAML_FLAG_OPTIONAL | CYAML_FLAG_POINTER)
#define ENUM_FIELD(key, flags, type, member, table)                                     \
    CYAML_FIELD_ENUM(key, flags, type, member, table, N_OF(table))

static const cyaml_schema_value_t string_entry = {
    CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 1, NNFI_CONFIG_MAX_PATTERN)};
static const cyaml_schema_value_t uint32_entry = {CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint32_t)};
static const cyaml_schema_value_t uint64_entry = {CYAML_VALUE_UINT(CYAML_FLAG_DEFAULT, uint64_t)};
static const cyaml_schema_value_t double_entry = {CYAML_VALUE_FLOAT(CYAML_FLAG_DEFAULT, double)};

static const cyaml_schema_field_t null_model_fields[] = {
    CYAML_FIELD_UINT("inputs", OPT, nnfi_null_model_cfg, inputs),
    CYAML_FIELD_UINT("hidden", OPT, nnfi_null_model_cfg, hidden),
    CYAML_FIELD_UINT("layers", OPT, nnfi_null_model_cfg, layers),
    CYAML_FIELD_UINT("classes", OPT, nnfi_null_model_cfg, classes),
    CYAML_FIELD_END};

static const cyaml_schema_field_t model_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER, nnfi_model_cfg, name, 1, 64),
    ENUM_FIELD("host", CYAML_FLAG_DEFAULT, nnfi_model_cfg, host, host_strings),
    CYAML_FIELD_STRING_PTR("path", OPT_PTR, nnfi_model_cfg, path, 1, NNFI_CONFIG_MAX_PATH),
    ENUM_FIELD("device", OPT, nnfi_model_cfg, device, device_strings),
    CYAML_FIELD_UINT("threads", OPT, nnfi_model_cfg, threads),
    CYAML_FIELD_STRING_PTR("qengine", OPT_PTR, nnfi_model_cfg, qengine, 1, 32),
    CYAML_FIELD_MAPPING_PTR("shape", OPT_PTR, nnfi_model_cfg, null_model, null_model_fields),
    CYAML_FIELD_END};
static const cyaml_schema_value_t model_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, nnfi_model_cfg, model_fields)};

static const cyaml_schema_field_t eval_fields[] = {
    CYAML_FIELD_STRING_PTR("path", OPT_PTR, nnfi_eval_cfg, path, 1, NNFI_CONFIG_MAX_PATH),
    CYAML_FIELD_STRING_PTR("images", OPT_PTR, nnfi_eval_cfg, images, 1, 256),
    CYAML_FIELD_STRING_PTR("labels", OPT_PTR, nnfi_eval_cfg, labels, 1, 256),
    CYAML_FIELD_UINT("samples", OPT, nnfi_eval_cfg, samples),
    CYAML_FIELD_UINT("batch", OPT, nnfi_eval_cfg, batch),
    CYAML_FIELD_END};

static const cyaml_schema_field_t bits_fields[] = {
    ENUM_FIELD("preset", OPT, nnfi_bits_cfg, preset, preset_strings),
    CYAML_FIELD_SEQUENCE("list", OPT_PTR, nnfi_bits_cfg, list, &uint32_entry, 1, 64),
    CYAML_FIELD_SEQUENCE("range", OPT_PTR, nnfi_bits_cfg, range, &uint32_entry, 2, 2),
    CYAML_FIELD_UINT("count", OPT, nnfi_bits_cfg, count),
    CYAML_FIELD_BOOL("all", OPT, nnfi_bits_cfg, all),
    CYAML_FIELD_END};

static const cyaml_schema_field_t window_fields[] = {
    CYAML_FIELD_UINT("from", CYAML_FLAG_DEFAULT, nnfi_window_cfg, from),
    CYAML_FIELD_UINT("to", CYAML_FLAG_DEFAULT, nnfi_window_cfg, to),
    CYAML_FIELD_END};

static const cyaml_schema_field_t group_fields[] = {
    CYAML_FIELD_STRING_PTR("name", OPT_PTR, nnfi_group_cfg, name, 1, 64),
    ENUM_FIELD("target", CYAML_FLAG_DEFAULT, nnfi_group_cfg, target, target_strings),
    CYAML_FIELD_SEQUENCE("sites", OPT_PTR, nnfi_group_cfg, sites, &string_entry, 1, 1024),
    CYAML_FIELD_STRING_PTR("regex", OPT_PTR, nnfi_group_cfg, regex, 1, NNFI_CONFIG_MAX_PATTERN),
    CYAML_FIELD_UINT_PTR("element", OPT_PTR, nnfi_group_cfg, element),
    ENUM_FIELD("values", OPT, nnfi_group_cfg, values, values_strings),
    CYAML_FIELD_MAPPING_PTR("bits", OPT_PTR, nnfi_group_cfg, bits, bits_fields),
    ENUM_FIELD("op", OPT, nnfi_group_cfg, op, op_strings),
    CYAML_FIELD_FLOAT_PTR("value", OPT_PTR, nnfi_group_cfg, value),
    ENUM_FIELD("persistence", OPT, nnfi_group_cfg, persistence, persistence_strings),
    ENUM_FIELD("scope", OPT, nnfi_group_cfg, scope, scope_strings),
    CYAML_FIELD_MAPPING_PTR("time_steps", OPT_PTR, nnfi_group_cfg, time_steps, window_fields),
    CYAML_FIELD_UINT("duration", OPT, nnfi_group_cfg, duration),
    CYAML_FIELD_BOOL("distinct", OPT, nnfi_group_cfg, distinct),
    CYAML_FIELD_UINT_PTR("count", OPT_PTR, nnfi_group_cfg, count),
    CYAML_FIELD_FLOAT_PTR("rate", OPT_PTR, nnfi_group_cfg, rate),
    CYAML_FIELD_END};
static const cyaml_schema_value_t group_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, nnfi_group_cfg, group_fields)};

static const cyaml_schema_field_t sweep_fields[] = {
    CYAML_FIELD_SEQUENCE("faults", OPT_PTR, nnfi_sweep_cfg, faults, &uint64_entry, 1, NNFI_MAX_POINTS),
    CYAML_FIELD_SEQUENCE("rates", OPT_PTR, nnfi_sweep_cfg, rates, &double_entry, 1, NNFI_MAX_POINTS),
    ENUM_FIELD("draw", OPT, nnfi_sweep_cfg, draw, draw_strings),
    CYAML_FIELD_END};

static const cyaml_schema_field_t budget_fields[] = {
    CYAML_FIELD_FLOAT("margin", CYAML_FLAG_DEFAULT, nnfi_budget_cfg, margin),
    CYAML_FIELD_FLOAT("confidence", CYAML_FLAG_DEFAULT, nnfi_budget_cfg, confidence),
    CYAML_FIELD_FLOAT_PTR("p", OPT_PTR, nnfi_budget_cfg, p),
    CYAML_FIELD_END};

static const cyaml_schema_field_t stop_fields[] = {
    ENUM_FIELD("watch", CYAML_FLAG_DEFAULT, nnfi_stop_cfg, watch, watch_strings),
    CYAML_FIELD_FLOAT("threshold", OPT, nnfi_stop_cfg, threshold),
    CYAML_FIELD_FLOAT("width", CYAML_FLAG_DEFAULT, nnfi_stop_cfg, width),
    CYAML_FIELD_FLOAT("confidence", OPT, nnfi_stop_cfg, confidence),
    CYAML_FIELD_UINT("min", OPT, nnfi_stop_cfg, min),
    CYAML_FIELD_UINT("max", CYAML_FLAG_DEFAULT, nnfi_stop_cfg, max),
    CYAML_FIELD_END};

static const cyaml_schema_field_t experiment_fields[] = {
    CYAML_FIELD_STRING_PTR("name", CYAML_FLAG_POINTER, nnfi_experiment_cfg, name, 1, 64),
    CYAML_FIELD_STRING_PTR("model", CYAML_FLAG_POINTER, nnfi_experiment_cfg, model, 1, 64),
    CYAML_FIELD_SEQUENCE("groups", CYAML_FLAG_POINTER, nnfi_experiment_cfg, groups, &group_entry, 1, NNFI_MAX_GROUPS),
    CYAML_FIELD_MAPPING_PTR("sweep", OPT_PTR, nnfi_experiment_cfg, sweep, sweep_fields),
    CYAML_FIELD_UINT_PTR("trials", OPT_PTR, nnfi_experiment_cfg, trials),
    CYAML_FIELD_MAPPING_PTR("budget", OPT_PTR, nnfi_experiment_cfg, budget, budget_fields),
    CYAML_FIELD_MAPPING_PTR("stop", OPT_PTR, nnfi_experiment_cfg, stop, stop_fields),
    CYAML_FIELD_END};
static const cyaml_schema_value_t experiment_entry = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, nnfi_experiment_cfg, experiment_fields)};

static const cyaml_schema_field_t output_fields[] = {
    CYAML_FIELD_STRING_PTR("path", OPT_PTR, nnfi_output_cfg, path, 1, NNFI_CONFIG_MAX_PATH),
    CYAML_FIELD_UINT("faults_max_n", OPT, nnfi_output_cfg, faults_max_n),
    CYAML_FIELD_END};

static const cyaml_schema_field_t campaign_fields[] = {
    CYAML_FIELD_STRING_PTR("name", OPT_PTR, nnfi_campaign, name, 1, 64),
    CYAML_FIELD_UINT("seed", CYAML_FLAG_DEFAULT, nnfi_campaign, seed),
    CYAML_FIELD_SEQUENCE("models", CYAML_FLAG_POINTER, nnfi_campaign, models, &model_entry, 1, 64),
    CYAML_FIELD_MAPPING_PTR("eval", OPT_PTR, nnfi_campaign, eval, eval_fields),
    CYAML_FIELD_SEQUENCE("experiments", CYAML_FLAG_POINTER, nnfi_campaign, experiments, &experiment_entry, 1, NNFI_MAX_EXPERIMENTS),
    CYAML_FIELD_MAPPING_PTR("output", OPT_PTR, nnfi_campaign, output, output_fields),
    CYAML_FIELD_END};
static const cyaml_schema_value_t campaign_schema = {
    CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, nnfi_campaign, campaign_fields)};

/* ---------------------------------------------------- position index -- */

/* Field path -> line:column of every value the file spells out, in a hash
 * table: a large (or hostile) file makes hundreds of thousands of entries and
 * the semantic checks look paths up per group, so a list would be quadratic. */
typedef struct index_entry {
    char *path;
    int line, col; /* 1-based */
} index_entry;

struct nnfi_config_index {
    index_entry *e;
    size_t n, cap;
    size_t *slot; /* open addressing: entry index + 1, 0 = empty */
    size_t nslot; /* a power of two, at least 2n */
    char *file;   /* name used in messages */
};

static uint64_t fnv1a(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Entry index of `path`, or -1. */
static long index_lookup(const struct nnfi_config_index *ix, const char *path)
{
    if (!ix->nslot) return -1;
    for (size_t h = (size_t)fnv1a(path, strlen(path)) & (ix->nslot - 1);; h = (h + 1) & (ix->nslot - 1)) {
        size_t v = ix->slot[h];
        if (!v) return -1;
        if (strcmp(ix->e[v - 1].path, path) == 0) return (long)(v - 1);
    }
}

static int index_rehash(struct nnfi_config_index *ix, size_t nslot)
{
    size_t *slot = calloc(nslot, sizeof *slot);
    if (!slot) return -1;
    for (size_t i = 0; i < ix->n; i++) {
        size_t h = (size_t)fnv1a(ix->e[i].path, strlen(ix->e[i].path)) & (nslot - 1);
        while (slot[h]) h = (h + 1) & (nslot - 1);
        slot[h] = i + 1;
    }
    free(ix->slot);
    ix->slot = slot;
    ix->nslot = nslot;
    return 0;
}

/* Record where `path` sits (the first record of a path wins). The index also
 * tells an explicit value from an absent one, so losing an entry is an error. */
static nnfi_status index_add(struct nnfi_config_index *ix, const char *path, yaml_mark_t m)
{
    if (index_lookup(ix, path) >= 0) return NNFI_OK;
    if (ix->n == ix->cap) {
        size_t cap = ix->cap ? 2 * ix->cap : 64;
        index_entry *e = realloc(ix->e, cap * sizeof *e);
        if (!e) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        ix->e = e;
        ix->cap = cap;
    }
    if (2 * (ix->n + 1) > ix->nslot && index_rehash(ix, ix->nslot ? 2 * ix->nslot : 128) != 0)
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    index_entry *e = &ix->e[ix->n];
    e->path = strdup(path);
    if (!e->path) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    e->line = m.line < INT_MAX ? (int)m.line + 1 : INT_MAX;
    e->col = m.column < INT_MAX ? (int)m.column + 1 : INT_MAX;
    size_t h = (size_t)fnv1a(path, strlen(path)) & (ix->nslot - 1);
    while (ix->slot[h]) h = (h + 1) & (ix->nslot - 1);
    ix->slot[h] = ++ix->n;
    return NNFI_OK;
}

static void index_free(struct nnfi_config_index *ix)
{
    if (!ix) return;
    for (size_t i = 0; i < ix->n; i++) free(ix->e[i].path);
    free(ix->e);
    free(ix->slot);
    free(ix->file);
    free(ix);
}

/* Position of a path, or of its nearest recorded ancestor (1:1 if none). */
static void index_find(const struct nnfi_config_index *ix, const char *path, int *line, int *col)
{
    char buf[512];
    snprintf(buf, sizeof buf, "%s", path);
    *line = 1;
    *col = 1;
    for (;;) {
        long i = index_lookup(ix, buf);
        if (i >= 0) {
            *line = ix->e[i].line;
            *col = ix->e[i].col;
            return;
        }
        char *cut = strrchr(buf, '.');
        char *br = strrchr(buf, '[');
        if (br && (!cut || br > cut)) cut = br;
        if (!cut) return;
        *cut = '\0';
    }
}

/* Whether the file spelled out this field (to tell an explicit 0 from absent). */
static int index_has(const struct nnfi_config_index *ix, const char *path)
{
    return index_lookup(ix, path) >= 0;
}

/* ------------------------------------------------------ error helpers -- */

typedef struct load_ctx {
    const char *file;
    yaml_document_t *doc;
    struct nnfi_config_index *ix;
    size_t visits; /* values walked, aliases expanded (bounded: "billion laughs") */
} load_ctx;

static nnfi_status fail_at(const char *file, int line, int col, const char *path,
                           const char *what, const char *hint)
{
    return NNFI_FAIL(NNFI_E_CONFIG, "%s:%d:%d: %s: %s\n  hint: %s", file, line, col,
                     path[0] ? path : "(top level)", what, hint);
}

static int mark_line(yaml_mark_t m) { return m.line < INT_MAX ? (int)m.line + 1 : INT_MAX; }
static int mark_col(yaml_mark_t m) { return m.column < INT_MAX ? (int)m.column + 1 : INT_MAX; }

static nnfi_status fail_node(load_ctx *ctx, const yaml_node_t *n, const char *path,
                             const char *what, const char *hint)
{
    return fail_at(ctx->file, mark_line(n->start_mark), mark_col(n->start_mark), path, what, hint);
}

nnfi_status nnfi_campaign_error(const nnfi_campaign *c, nnfi_status st, const char *path,
                                const char *fmt, ...)
{
    char msg[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    if (c && c->index) index_find(c->index, path, &line, &col);
    return NNFI_FAIL(st, "%s:%d:%d: %s: %s", c && c->source_path ? c->source_path : "?", line,
                     col, path, msg);
}

/* Semantic errors share this: locate `path`, print the message and a hint. */
static nnfi_status fail_path(const nnfi_campaign *c, const char *path, const char *hint,
                             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static nnfi_status fail_path(const nnfi_campaign *c, const char *path, const char *hint,
                             const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    index_find(c->index, path, &line, &col);
    return fail_at(c->source_path, line, col, path, msg, hint);
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63) return 99;
    size_t d[64][64];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

/* "valid keys: a, b, c" plus "did you mean 'x'?" when one is close. */
static void keys_hint(const cyaml_schema_field_t *fields, const char *got, char *out, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3;
    size_t used = 0;
    for (const cyaml_schema_field_t *f = fields; f->key; f++) {
        size_t d = got ? edit_distance(got, f->key) : 99;
        if (d < bestd) {
            bestd = d;
            best = f->key;
        }
    }
    if (best) used += (size_t)snprintf(out + used, n - used, "did you mean '%s'? ", best);
    used += (size_t)snprintf(out + used, used < n ? n - used : 0, "valid keys here:");
    for (const cyaml_schema_field_t *f = fields; f->key && used < n; f++)
        used += (size_t)snprintf(out + used, n - used, " %s", f->key);
}

static const char *type_word(cyaml_type_e t)
{
    switch (t) {
    case CYAML_INT: return "an integer";
    case CYAML_UINT: return "a non-negative integer";
    case CYAML_BOOL: return "true or false";
    case CYAML_ENUM: return "one of a fixed set of words";
    case CYAML_FLOAT: return "a number";
    case CYAML_STRING: return "a string";
    case CYAML_MAPPING: return "a mapping (key: value lines)";
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED: return "a list ([a, b] or '- ' lines)";
    default: return "a value";
    }
}

static const char *node_word(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SCALAR_NODE: return "a scalar";
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "nothing";
    }
}

/* ------------------------------------------------ pass 2: schema walk -- */

static nnfi_status check_value(load_ctx *ctx, yaml_node_t *node,
                               const cyaml_schema_value_t *sv, const char *path);

static nnfi_status check_scalar(load_ctx *ctx, yaml_node_t *node,
                                const cyaml_schema_value_t *sv, const char *path)
{
    char what[512], hint[1024];
    if (node->type != YAML_SCALAR_NODE) {
        snprintf(what, sizeof what, "expected %s, found %s", type_word(sv->type), node_word(node));
        return fail_node(ctx, node, path, what, "write a single value here");
    }
    const char *s = (const char *)node->data.scalar.value;
    if (memchr(s, '\0', node->data.scalar.length))
        return fail_node(ctx, node, path, "a NUL character (\\0) inside a value",
                         "remove the \\0 escape: C strings end at the first NUL");
    char *end = NULL;
    errno = 0;
    switch (sv->type) {
    case CYAML_INT:
    case CYAML_UINT: {
        int neg = 0;
        const char *p = s;
        while (isspace((unsigned char)*p)) p++;
        if (*p == '-') neg = 1;
        if (*p == '\0' || (sv->type == CYAML_UINT && neg) ||
            !(isdigit((unsigned char)*p) || *p == '-' || *p == '+')) {
            snprintf(what, sizeof what, "expected %s, found '%s'", type_word(sv->type), s);
            return fail_node(ctx, node, path, what,
                             sv->type == CYAML_UINT ? "write a whole number >= 0, e.g. 100"
                                                    : "write a whole number, e.g. 100");
        }
        uint64_t limit = sv->data_size >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * sv->data_size)) - 1;
        if (sv->type == CYAML_UINT) {
            unsigned long long v = strtoull(p, &end, 0);
            if (errno || *end || v > limit) {
                snprintf(what, sizeof what, "'%s' is not a whole number in [0, %llu]", s,
                         (unsigned long long)limit);
                return fail_node(ctx, node, path, what,
                                 "write digits only (no decimal point or units), within range");
            }
        } else {
            long long v = strtoll(p, &end, 0);
            int64_t lim = (int64_t)(limit >> 1);
            if (errno || *end || v > lim || v < -lim - 1) {
                snprintf(what, sizeof what, "'%s' is not a whole number in range", s);
                return fail_node(ctx, node, path, what, "write digits only, within range");
            }
        }
        return NNFI_OK;
    }
    case CYAML_FLOAT: {
        strtod(s, &end);
        if (s[0] == '\0' || *end || errno == ERANGE) {
            snprintf(what, sizeof what, "expected a number, found '%s'", s);
            return fail_node(ctx, node, path, what, "write e.g. 0.5, 1e-7 or 7E-7");
        }
        return NNFI_OK;
    }
    case CYAML_BOOL: {
        static const char *const ok[] = {"true", "false", "yes", "no", "on", "off"};
        for (size_t i = 0; i < N_OF(ok); i++)
            if (strcasecmp(s, ok[i]) == 0) return NNFI_OK;
        snprintf(what, sizeof what, "expected true or false, found '%s'", s);
        return fail_node(ctx, node, path, what, "write true or false");
    }
    case CYAML_ENUM: {
        size_t used = 0;
        for (uint32_t i = 0; i < sv->enumeration.count; i++) {
            if (strcmp(s, sv->enumeration.strings[i].str) == 0) return NNFI_OK;
        }
        const char *close = NULL;
        for (uint32_t i = 0; i < sv->enumeration.count; i++)
            if (edit_distance(s, sv->enumeration.strings[i].str) <= 2) close = sv->enumeration.strings[i].str;
        if (close) used += (size_t)snprintf(hint, sizeof hint, "did you mean '%s'? ", close);
        used += (size_t)snprintf(hint + used, sizeof hint - used, "one of:");
        for (uint32_t i = 0; i < sv->enumeration.count && used < sizeof hint; i++)
            used += (size_t)snprintf(hint + used, sizeof hint - used, " %s",
                                     sv->enumeration.strings[i].str);
        snprintf(what, sizeof what, "unknown value '%s'", s);
        return fail_node(ctx, node, path, what, hint);
    }
    case CYAML_STRING: {
        size_t len = node->data.scalar.length;
        if (len < sv->string.min || (sv->string.max != CYAML_UNLIMITED && len > sv->string.max)) {
            snprintf(what, sizeof what, "string of %zu characters, expected %u to %u", len,
                     sv->string.min, sv->string.max);
            return fail_node(ctx, node, path, what,
                             len ? "shorten it" : "write a non-empty value");
        }
        return NNFI_OK;
    }
    default:
        return fail_node(ctx, node, path, "unsupported schema type", "report this as a bug");
    }
}

static nnfi_status check_mapping(load_ctx *ctx, yaml_node_t *node,
                                 const cyaml_schema_value_t *sv, const char *path)
{
    char what[512], hint[1024], sub[512];
    if (node->type != YAML_MAPPING_NODE) {
        snprintf(what, sizeof what, "expected a mapping (key: value lines), found %s%s%s%s",
                 node_word(node), node->type == YAML_SCALAR_NODE ? " '" : "",
                 node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : "",
                 node->type == YAML_SCALAR_NODE ? "'" : "");
        keys_hint(sv->mapping.fields, NULL, hint, sizeof hint);
        return fail_node(ctx, node, path, what, hint);
    }
    size_t nfields = 0;
    while (sv->mapping.fields[nfields].key) nfields++;
    unsigned char seen[128] = {0};
    for (yaml_node_pair_t *pr = node->data.mapping.pairs.start; pr < node->data.mapping.pairs.top; pr++) {
        yaml_node_t *k = yaml_document_get_node(ctx->doc, pr->key);
        yaml_node_t *v = yaml_document_get_node(ctx->doc, pr->value);
        if (!k || k->type != YAML_SCALAR_NODE) {
            keys_hint(sv->mapping.fields, NULL, hint, sizeof hint);
            return fail_node(ctx, k ? k : node, path, "a key must be a plain word", hint);
        }
        const char *key = (const char *)k->data.scalar.value;
        if (memchr(key, '\0', k->data.scalar.length)) {
            keys_hint(sv->mapping.fields, NULL, hint, sizeof hint);
            return fail_node(ctx, k, path, "a NUL character (\\0) inside a key", hint);
        }
        snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", key);
        size_t fi = 0;
        while (fi < nfields && strcmp(sv->mapping.fields[fi].key, key) != 0) fi++;
        if (fi == nfields) {
            snprintf(what, sizeof what, "unknown key '%s'", key);
            keys_hint(sv->mapping.fields, key, hint, sizeof hint);
            return fail_node(ctx, k, sub, what, hint);
        }
        if (seen[fi]) {
            snprintf(what, sizeof what, "key '%s' given twice", key);
            return fail_node(ctx, k, sub, what, "keep one of them");
        }
        seen[fi] = 1;
        NNFI_TRY(index_add(ctx->ix, sub, k->start_mark));
        NNFI_TRY(check_value(ctx, v, &sv->mapping.fields[fi].value, sub));
    }
    for (size_t fi = 0; fi < nfields; fi++) {
        const cyaml_schema_field_t *f = &sv->mapping.fields[fi];
        if (!seen[fi] && !(f->value.flags & CYAML_FLAG_OPTIONAL)) {
            snprintf(what, sizeof what, "missing required key '%s'", f->key);
            snprintf(hint, sizeof hint, "add '%s: <%s>' to this mapping", f->key,
                     type_word(f->value.type));
            return fail_node(ctx, node, path, what, hint);
        }
    }
    return NNFI_OK;
}

static nnfi_status check_sequence(load_ctx *ctx, yaml_node_t *node,
                                  const cyaml_schema_value_t *sv, const char *path)
{
    char what[512], hint[256], sub[512];
    if (node->type != YAML_SEQUENCE_NODE) {
        snprintf(what, sizeof what, "expected a list, found %s", node_word(node));
        return fail_node(ctx, node, path, what, "write [a, b] or one '- item' line per entry");
    }
    size_t n = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
    if (n < sv->sequence.min || n > sv->sequence.max) {
        snprintf(what, sizeof what, "list has %zu entries", n);
        if (sv->sequence.min == sv->sequence.max)
            snprintf(hint, sizeof hint, "give exactly %u entries", sv->sequence.min);
        else
            snprintf(hint, sizeof hint, "give %u to %u entries", sv->sequence.min, sv->sequence.max);
        return fail_node(ctx, node, path, what, hint);
    }
    size_t i = 0;
    for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++, i++) {
        yaml_node_t *v = yaml_document_get_node(ctx->doc, *it);
        snprintf(sub, sizeof sub, "%s[%zu]", path, i);
        NNFI_TRY(index_add(ctx->ix, sub, v->start_mark));
        NNFI_TRY(check_value(ctx, v, sv->sequence.entry, sub));
    }
    return NNFI_OK;
}

static nnfi_status check_value(load_ctx *ctx, yaml_node_t *node,
                               const cyaml_schema_value_t *sv, const char *path)
{
    /* The walk follows the schema, so its depth is the schema's (six levels)
     * whatever the document's; but an alias re-walks its anchor's subtree,
     * and aliases of aliases grow exponentially: count every visit. */
    if (++ctx->visits > NNFI_CONFIG_MAX_NODES) {
        char what[128];
        snprintf(what, sizeof what, "the campaign expands to more than %u values", NNFI_CONFIG_MAX_NODES);
        return fail_node(ctx, node, path, what,
                         "aliases (*name) repeat their anchor's whole value; write the values out, or split the campaign");
    }
    switch (sv->type) {
    case CYAML_MAPPING: return check_mapping(ctx, node, sv, path);
    case CYAML_SEQUENCE:
    case CYAML_SEQUENCE_FIXED: return check_sequence(ctx, node, sv, path);
    default: return check_scalar(ctx, node, sv, path);
    }
}

/* --------------------------------------------- pass 3: semantic checks -- */

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int target_is_param(nnfi_target t)
{
    return t == NNFI_TARGET_WEIGHT || t == NNFI_TARGET_BIAS || t == NNFI_TARGET_PARAM;
}

/* How many atoms a POSIX extended regex becomes once bounded repetitions are
 * expanded: glibc's regcomp copies the repeated part m..n times, so nested
 * repeats multiply ("(((a{100}){100}){100}){100}" is 10^8 copies and gigabytes
 * of memory in regcomp). An estimate that errs high: {m,n} counts max(m, n)
 * copies, '*', '+', '?' none extra; syntax errors are left to regcomp. */
static double regex_size(const char *re)
{
    enum { CAP = NNFI_CONFIG_MAX_PATTERN + 2 };
    double sum[CAP], last[CAP]; /* per open group: atoms so far, size of the last atom */
    size_t d = 0;
    sum[0] = last[0] = 0;
    for (const char *p = re; *p; p++) {
        double atom = 1;
        switch (*p) {
        case '\\':
            if (p[1]) p++;
            break;
        case '[': { /* a bracket expression is one atom: skip to its closing ']' */
            const char *q = p + 1;
            if (*q == '^') q++;
            if (*q == ']') q++;
            while (*q && *q != ']') {
                if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
                    const char *e = q + 2;
                    while (*e && !(e[0] == q[1] && e[1] == ']')) e++;
                    q = *e ? e + 2 : e;
                } else {
                    q++;
                }
            }
            p = *q ? q : q - 1;
            break;
        }
        case '(':
            if (d + 1 >= CAP) return INFINITY;
            d++;
            sum[d] = last[d] = 0;
            continue;
        case ')':
            if (d > 0) atom = sum[d--];
            break;
        case '|':
            last[d] = 0; /* alternatives add up in sum[d] */
            continue;
        case '*':
        case '+':
        case '?':
            continue;
        case '{': {
            if (!isdigit((unsigned char)p[1])) break; /* not a bound: a literal '{' */
            char *end = NULL;
            unsigned long m = strtoul(p + 1, &end, 10), n = m;
            if (*end == ',') {
                if (isdigit((unsigned char)end[1])) {
                    n = strtoul(end + 1, &end, 10);
                } else {
                    n = m + 1; /* {m,}: at least one copy more */
                    end++;
                }
            }
            if (*end != '}') break;
            double rep = (double)(m > n ? m : n);
            sum[d] += last[d] * (rep - 1);
            last[d] *= rep;
            p = end;
            continue;
        }
        default: break;
        }
        sum[d] += atom;
        last[d] = atom;
    }
    while (d > 0) {
        double inner = sum[d--];
        sum[d] += inner;
    }
    return sum[0];
}

static nnfi_status check_group(nnfi_campaign *c, const nnfi_experiment_cfg *x, nnfi_group_cfg *g,
                               const char *gp, unsigned gi)
{
    char p[600];
#define AT(field) (snprintf(p, sizeof p, "%s.%s", gp, field), p)
    if (!g->name) {
        char nm[32];
        snprintf(nm, sizeof nm, "g%u", gi);
        g->name = xstrdup(nm);
        if (!g->name) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    if (g->sites && g->regex)
        return fail_path(c, AT("regex"), "keep either 'sites' (globs) or 'regex'",
                         "'sites' and 'regex' both given");
    if (g->regex && !(regex_size(g->regex) <= NNFI_CONFIG_MAX_REGEX_SIZE))
        return fail_path(c, AT("regex"), "site names are short: drop or shrink the {m,n} repeats, or use 'sites' globs",
                         "the regex expands to more than %u atoms ({m,n} repeats multiply)",
                         NNFI_CONFIG_MAX_REGEX_SIZE);
    if (g->count && g->rate)
        return fail_path(c, AT("rate"), "keep 'count' (faults per trial) or 'rate' (per element)",
                         "'count' and 'rate' both given");
    if (g->count && (*g->count < 1 || *g->count > NNFI_MAX_FAULTS_PER_GROUP))
        return fail_path(c, AT("count"), "give 1 to 4000000000 faults", "count %llu out of range",
                         (unsigned long long)*g->count);
    if (g->rate && !(*g->rate > 0 && *g->rate <= 1))
        return fail_path(c, AT("rate"), "a rate per element is in (0, 1], e.g. 7e-7",
                         "rate %g out of range", *g->rate);
    if (g->op == NNFI_OP_SET && !g->value)
        return fail_path(c, AT("op"), "add 'value: <number>' (written in the site's dtype)",
                         "op 'set' needs a value");
    if (g->op != NNFI_OP_SET && g->value)
        return fail_path(c, AT("value"), "use 'op: set' to write a value, or drop 'value'",
                         "'value' is only used by op 'set' (op is '%s')", nnfi_op_name(g->op));
    if (g->values != NNFI_VALUES_ANY && !target_is_param(g->target))
        return fail_path(c, AT("values"), "'values' selects among a parameter's loaded elements: target weight, bias or param",
                         "'values: %s' cannot apply to target '%s'", nnfi_values_name(g->values), nnfi_target_name(g->target));
    if (g->values != NNFI_VALUES_ANY && g->element)
        return fail_path(c, AT("values"), "an explicit element is already chosen; drop 'values' or 'element'",
                         "'values' with 'element'");
    if (g->element && g->distinct)
        return fail_path(c, AT("distinct"), "an explicit element cannot be hit by distinct faults",
                         "'distinct' with 'element'");
    if (g->persistence == NNFI_PERMANENT) {
        if (index_has(c->index, AT("scope")))
            return fail_path(c, AT("scope"), "'scope' applies to transient faults; add 'persistence: transient'",
                             "scope given for a permanent fault");
        if (g->duration)
            return fail_path(c, AT("duration"), "'duration' applies to transient faults; add 'persistence: transient'",
                             "duration given for a permanent fault");
    } else {
        if (g->scope == NNFI_SCOPE_SAMPLE && target_is_param(g->target))
            return fail_path(c, AT("scope"),
                             "a parameter is shared by the whole batch: use 'scope: call' for transient weight faults",
                             "scope 'sample' cannot apply to target '%s'", nnfi_target_name(g->target));
    }
    if (g->time_steps) {
        if (target_is_param(g->target))
            return fail_path(c, AT("time_steps"),
                             "time steps are counted by activation, input and state sites; target one of those",
                             "time_steps cannot apply to target '%s'", nnfi_target_name(g->target));
        if (g->time_steps->from > g->time_steps->to)
            return fail_path(c, AT("time_steps.from"), "write from <= to",
                             "from %u is after to %u", g->time_steps->from, g->time_steps->to);
        if (g->duration && g->duration > (uint64_t)g->time_steps->to - g->time_steps->from + 1)
            return fail_path(c, AT("duration"), "make the window wider or the duration shorter",
                             "duration %u is longer than the time-step window", g->duration);
    }
    if (!g->duration) g->duration = 1;
    if (g->bits) {
        nnfi_bits_cfg *b = g->bits;
        if (b->list && b->range)
            return fail_path(c, AT("bits.range"), "keep 'list' or 'range'", "'list' and 'range' both given");
        for (unsigned i = 0; i < b->list_count; i++) {
            if (b->list[i] > 63) {
                char lp[640];
                snprintf(lp, sizeof lp, "%s.bits.list[%u]", gp, i);
                return fail_path(c, lp, "bit positions are 0 (least significant) to 63",
                                 "bit %u out of range", b->list[i]);
            }
            for (unsigned j = 0; j < i; j++)
                if (b->list[j] == b->list[i]) {
                    char lp[640];
                    snprintf(lp, sizeof lp, "%s.bits.list[%u]", gp, i);
                    return fail_path(c, lp, "list each bit once", "bit %u listed twice", b->list[i]);
                }
        }
        if (b->range && (b->range[0] > b->range[1] || b->range[1] > 63))
            return fail_path(c, AT("bits.range"), "write [lo, hi] with 0 <= lo <= hi <= 63",
                             "bad bit range [%u, %u]", b->range[0], b->range[1]);
        if (b->all && b->count)
            return fail_path(c, AT("bits.count"), "'all: true' hits every candidate bit; drop 'count'",
                             "'count' and 'all' both given");
        if (b->count == 0 && index_has(c->index, AT("bits.count")))
            return fail_path(c, AT("bits.count"), "at least one bit per fault, or 'all: true' for the whole set",
                             "count 0");
        if (!b->all && b->count == 0) b->count = 1;
        if (b->count > 64)
            return fail_path(c, AT("bits.count"), "an element has at most 64 bits",
                             "count %u out of range", b->count);
    } else {
        g->bits = calloc(1, sizeof *g->bits);
        if (!g->bits) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        g->bits->preset = NNFI_BITS_ALL;
        /* default: one random bit; but 'set' writes a whole value */
        if (g->op == NNFI_OP_SET) g->bits->all = true;
        else g->bits->count = 1;
    }
    if (!x->sweep && !g->count && !g->rate)
        return fail_path(c, gp, "add 'count: N' or 'rate: R' to the group, or a 'sweep' to the experiment",
                         "no fault count for group '%s'", g->name);
    return NNFI_OK;
#undef AT
}

static nnfi_status check_experiment(nnfi_campaign *c, unsigned xi)
{
    nnfi_experiment_cfg *x = &c->experiments[xi];
    char xp[64], p[640];
    snprintf(xp, sizeof xp, "experiments[%u]", xi);
#define AT(field) (snprintf(p, sizeof p, "%s.%s", xp, field), p)
    for (unsigned j = 0; j < xi; j++)
        if (strcmp(c->experiments[j].name, x->name) == 0)
            return fail_path(c, AT("name"), "give every experiment its own name",
                             "experiment name '%s' used twice", x->name);
    unsigned mi = 0;
    while (mi < c->models_count && strcmp(c->models[mi].name, x->model) != 0) mi++;
    if (mi == c->models_count) {
        char hint[1024];
        size_t used = (size_t)snprintf(hint, sizeof hint, "models defined:");
        for (unsigned j = 0; j < c->models_count && used < sizeof hint; j++)
            used += (size_t)snprintf(hint + used, sizeof hint - used, " %s", c->models[j].name);
        return fail_path(c, AT("model"), hint, "no model named '%s'", x->model);
    }
    int budgets = !!x->trials + !!x->budget + !!x->stop;
    if (budgets == 0)
        return fail_path(c, xp, "add 'trials: N', 'budget: {margin, confidence}' or 'stop: {...}'",
                         "no trial budget for experiment '%s'", x->name);
    if (budgets > 1)
        return fail_path(c, x->stop ? AT("stop") : AT("budget"),
                         "keep one of 'trials', 'budget' and 'stop'", "more than one trial budget");
    if (x->trials && (*x->trials < 1 || *x->trials > NNFI_MAX_TRIALS_PER_POINT))
        return fail_path(c, AT("trials"), "give 1 to 4000000000 trials per point",
                         "trials %llu out of range", (unsigned long long)*x->trials);
    if (x->budget) {
        nnfi_budget_cfg *b = x->budget;
        if (!(b->margin > 0 && b->margin < 0.5))
            return fail_path(c, AT("budget.margin"), "a margin of error in (0, 0.5), e.g. 0.01",
                             "margin %g out of range", b->margin);
        if (!(b->confidence > 0 && b->confidence < 1))
            return fail_path(c, AT("budget.confidence"), "a confidence level in (0, 1), e.g. 0.95",
                             "confidence %g out of range", b->confidence);
        if (b->p && !(*b->p > 0 && *b->p < 1))
            return fail_path(c, AT("budget.p"), "an expected proportion in (0, 1); 0.5 is the safe choice",
                             "p %g out of range", *b->p);
    }
    if (x->stop) {
        nnfi_stop_cfg *s = x->stop;
        if (!(s->width > 0 && s->width < 1))
            return fail_path(c, AT("stop.width"), "an interval width in (0, 1), e.g. 0.05",
                             "width %g out of range", s->width);
        if (s->confidence == 0) s->confidence = 0.95;
        if (!(s->confidence > 0 && s->confidence < 1))
            return fail_path(c, AT("stop.confidence"), "a confidence level in (0, 1), e.g. 0.95",
                             "confidence %g out of range", s->confidence);
        if (s->watch == NNFI_WATCH_ACCURACY_DROP && !(s->threshold > 0 && s->threshold <= 1))
            return fail_path(c, AT("stop.threshold"), "the accuracy drop that counts, in (0, 1], e.g. 0.4",
                             "watch 'accuracy_drop' needs a threshold in (0, 1]");
        if (s->min == 0) s->min = 30;
        if (s->max < s->min || s->max > NNFI_MAX_TRIALS_PER_POINT)
            return fail_path(c, AT("stop.max"), "the cap must be at least 'min' (default 30)",
                             "max %llu is below min %llu or too large", (unsigned long long)s->max,
                             (unsigned long long)s->min);
    }
    if (x->sweep) {
        nnfi_sweep_cfg *s = x->sweep;
        if (!!s->faults + !!s->rates != 1)
            return fail_path(c, AT("sweep"), "give 'faults: [1, 10, ...]' or 'rates: [1e-7, ...]'",
                             "a sweep needs exactly one of 'faults' and 'rates'");
        for (unsigned i = 0; i < s->faults_count; i++)
            if (s->faults[i] < 1 || s->faults[i] > NNFI_MAX_FAULTS_PER_GROUP) {
                char lp[700];
                snprintf(lp, sizeof lp, "%s.sweep.faults[%u]", xp, i);
                return fail_path(c, lp, "fault counts are 1 to 4000000000", "fault count %llu out of range",
                                 (unsigned long long)s->faults[i]);
            }
        for (unsigned i = 0; i < s->rates_count; i++)
            if (!(s->rates[i] > 0 && s->rates[i] <= 1)) {
                char lp[700];
                snprintf(lp, sizeof lp, "%s.sweep.rates[%u]", xp, i);
                return fail_path(c, lp, "a rate per element is in (0, 1], e.g. 7e-7", "rate %g out of range",
                                 s->rates[i]);
            }
        if (s->draw != NNFI_RATE_FIXED && !s->rates)
            return fail_path(c, AT("sweep.draw"), "'draw' applies to 'rates' sweeps only",
                             "'draw' without 'rates'");
        int swept = 0;
        for (unsigned gi = 0; gi < x->groups_count; gi++)
            swept += !x->groups[gi].count && !x->groups[gi].rate;
        if (!swept)
            return fail_path(c, AT("sweep"), "drop 'count'/'rate' from the group the sweep should set",
                             "the sweep sets no group: every group has a fixed count or rate");
    }
    for (unsigned gi = 0; gi < x->groups_count; gi++) {
        char gp[128];
        snprintf(gp, sizeof gp, "%s.groups[%u]", xp, gi);
        NNFI_TRY(check_group(c, x, &x->groups[gi], gp, gi));
        for (unsigned gj = 0; gj < gi; gj++)
            if (strcmp(x->groups[gj].name, x->groups[gi].name) == 0)
                return fail_path(c, gp, "give every group of an experiment its own name",
                                 "group name '%s' used twice", x->groups[gi].name);
    }
    return NNFI_OK;
#undef AT
}

static nnfi_status check_semantics(nnfi_campaign *c)
{
    char p[128];
    for (unsigned i = 0; i < c->models_count; i++) {
        nnfi_model_cfg *m = &c->models[i];
        for (unsigned j = 0; j < i; j++)
            if (strcmp(c->models[j].name, m->name) == 0) {
                snprintf(p, sizeof p, "models[%u].name", i);
                return fail_path(c, p, "give every model its own name", "model name '%s' used twice", m->name);
            }
        if (m->host == NNFI_HOST_TORCH && !m->path) {
            snprintf(p, sizeof p, "models[%u]", i);
            return fail_path(c, p, "add 'path: <model.pt>' (a TorchScript file, relative to this file)",
                             "torch model '%s' has no path", m->name);
        }
        if (m->threads > 1024) {
            snprintf(p, sizeof p, "models[%u].threads", i);
            return fail_path(c, p, "0 (one thread) to 1024", "threads %u out of range", m->threads);
        }
        if (m->host == NNFI_HOST_NULL && !m->null_model) {
            m->null_model = calloc(1, sizeof *m->null_model);
            if (!m->null_model) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        }
        if (m->null_model) {
            nnfi_null_model_cfg *s = m->null_model;
            if (!s->inputs) s->inputs = 64;
            if (!s->hidden) s->hidden = 128;
            if (!s->layers) s->layers = 2;
            if (!s->classes) s->classes = 10;
            if (s->inputs > 65536 || s->hidden > 65536 || s->layers > 64 || s->classes > 65536 ||
                s->classes < 2) {
                snprintf(p, sizeof p, "models[%u].shape", i);
                return fail_path(c, p, "inputs/hidden/classes up to 65536 (classes >= 2), layers up to 64",
                                 "null model shape out of range");
            }
        }
    }
    if (!c->eval) {
        c->eval = calloc(1, sizeof *c->eval);
        if (!c->eval) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    if (!c->eval->images) c->eval->images = xstrdup("images");
    if (!c->eval->labels) c->eval->labels = xstrdup("labels");
    if (!c->eval->batch && index_has(c->index, "eval.batch"))
        return fail_path(c, "eval.batch", "a batch of 1 to 65536 samples", "batch 0");
    if (!c->eval->batch) c->eval->batch = 256;
    if (c->eval->batch > 65536)
        return fail_path(c, "eval.batch", "a batch of 1 to 65536 samples", "batch %u out of range",
                         c->eval->batch);
    for (unsigned i = 0; i < c->experiments_count; i++) NNFI_TRY(check_experiment(c, i));
    if (!c->output) {
        c->output = calloc(1, sizeof *c->output);
        if (!c->output) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    if (!index_has(c->index, "output.faults_max_n")) c->output->faults_max_n = 1000;
    if (!c->output->path) { /* not written in the file: the working directory, like -o */
        char buf[128];
        snprintf(buf, sizeof buf, "%s.h5", c->name);
        c->output->path = xstrdup(buf);
    } else if (c->output->path[0] != '/' && c->source_dir && strcmp(c->source_dir, ".") != 0) {
        /* written in the file: relative to the file, as every path in it */
        size_t n = strlen(c->source_dir) + strlen(c->output->path) + 2;
        char *joined = malloc(n);
        if (!joined) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        snprintf(joined, n, "%s/%s", c->source_dir, c->output->path);
        free(c->output->path);
        c->output->path = joined;
    }
    return NNFI_OK;
}

/* --------------------------------------------------------------- driver -- */

typedef struct cyaml_log_buf {
    char text[2048];
    size_t used;
} cyaml_log_buf;

static void cyaml_log_capture(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    cyaml_log_buf *b = ctx;
    if (level < CYAML_LOG_ERROR || b->used >= sizeof b->text) return;
    int n = vsnprintf(b->text + b->used, sizeof b->text - b->used, fmt, args);
    if (n > 0) b->used += (size_t)n;
    if (b->used >= sizeof b->text) b->used = sizeof b->text - 1;
}

static char *default_name(const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strcspn(base, ".");
    if (n == 0 || n > 60) return strdup("campaign");
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, base, n);
    s[n] = '\0';
    return s;
}

static char *dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - file);
    char *s = malloc(n + 2);
    if (!s) return NULL;
    memcpy(s, file, n ? n : 1);
    s[n ? n : 1] = '\0';
    return s;
}

/* A libyaml failure as a located message. Reader errors (bad UTF-8, control
 * characters) carry a byte offset instead of a mark: count lines up to it. */
static nnfi_status syntax_error(const char *name, const yaml_parser_t *parser, const char *text, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory parsing %s", name);
    int line = mark_line(parser->problem_mark), col = mark_col(parser->problem_mark);
    char what[512];
    if (parser->error == YAML_READER_ERROR) {
        size_t off = parser->problem_offset < len ? parser->problem_offset : len, bol = 0;
        line = 1;
        for (size_t i = 0; i < off; i++)
            if (text[i] == '\n') {
                if (line < INT_MAX) line++;
                bol = i + 1;
            }
        col = off - bol < INT_MAX ? (int)(off - bol) + 1 : INT_MAX;
        snprintf(what, sizeof what, "YAML syntax error: %s (byte 0x%02x)", parser->problem ? parser->problem : "?",
                 (unsigned)parser->problem_value & 0xffu);
        return fail_at(name, line, col, "", what, "campaign files are UTF-8 text without control characters");
    }
    if (parser->context)
        snprintf(what, sizeof what, "YAML syntax error: %s %s (started at line %d, column %d)",
                 parser->problem ? parser->problem : "?", parser->context, mark_line(parser->context_mark),
                 mark_col(parser->context_mark));
    else
        snprintf(what, sizeof what, "YAML syntax error: %s", parser->problem ? parser->problem : "?");
    return fail_at(name, line, col, "", what, "check indentation (spaces, not tabs), colons and brackets near here");
}

/* Pass 1a: the event stream alone, before any tree is built, so that bounds
 * stop a hostile file early: one document, nesting up to NNFI_CONFIG_MAX_DEPTH
 * (libyaml itself has no limit, and its scanner is quadratic in the flow
 * nesting depth), at most NNFI_CONFIG_MAX_NODES values. Syntax errors are
 * found (and reported) here. */
static nnfi_status scan_events(const char *text, size_t len, const char *name)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    size_t depth = 0, nodes = 0, docs = 0;
    char what[160];
    nnfi_status st = NNFI_OK;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = syntax_error(name, &parser, text, len);
            break;
        }
        yaml_event_type_t type = ev.type;
        yaml_mark_t at = ev.start_mark;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) break;
        if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            st = fail_at(name, mark_line(at), mark_col(at), "", "a second YAML document",
                         "a campaign file holds one document: remove this '---' and what follows it");
            break;
        }
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (++depth > NNFI_CONFIG_MAX_DEPTH) {
                snprintf(what, sizeof what, "lists and mappings nested more than %u levels deep",
                         NNFI_CONFIG_MAX_DEPTH);
                st = fail_at(name, mark_line(at), mark_col(at), "", what,
                             "a campaign is at most six levels deep: look for unbalanced '[' or '{'");
                break;
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        if ((type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT || type == YAML_SEQUENCE_START_EVENT ||
             type == YAML_MAPPING_START_EVENT) &&
            ++nodes > NNFI_CONFIG_MAX_NODES) {
            snprintf(what, sizeof what, "more than %u values in one campaign", NNFI_CONFIG_MAX_NODES);
            st = fail_at(name, mark_line(at), mark_col(at), "", what, "split the campaign into several files");
            break;
        }
    }
    yaml_parser_delete(&parser);
    return st;
}

nnfi_status nnfi_campaign_load_text(const char *text, size_t len, const char *name,
                                    nnfi_campaign **out)
{
    *out = NULL;
    if (len > NNFI_CONFIG_MAX_BYTES) {
        char what[160];
        snprintf(what, sizeof what, "campaign text of %zu bytes is over the %u MiB limit", len,
                 NNFI_CONFIG_MAX_BYTES >> 20);
        return fail_at(name, 1, 1, "", what, "is this the right file? campaign files are a few KB");
    }
    NNFI_TRY(scan_events(text, len, name));

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        nnfi_status st = syntax_error(name, &parser, text, len);
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);

    struct nnfi_config_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->file = strdup(name))) {
        free(ix);
        yaml_document_delete(&doc);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    load_ctx ctx = {name, &doc, ix, 0};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    nnfi_status st;
    if (!root) {
        st = fail_at(name, 1, 1, "", "the file is empty",
                     "a campaign needs at least 'seed', 'models' and 'experiments' (see README)");
    } else {
        st = check_value(&ctx, root, &campaign_schema, "");
    }
    yaml_document_delete(&doc);
    if (st != NNFI_OK) {
        index_free(ix);
        return st;
    }

    cyaml_log_buf logbuf = {{0}, 0};
    cyaml_config_t cfg = {.log_fn = cyaml_log_capture,
                          .log_ctx = &logbuf,
                          .mem_fn = cyaml_mem,
                          .log_level = CYAML_LOG_ERROR,
                          .flags = CYAML_CFG_DEFAULT};
    nnfi_campaign *c = NULL;
    cyaml_err_t err = cyaml_load_data((const uint8_t *)text, len, &cfg, &campaign_schema,
                                      (cyaml_data_t **)&c, NULL);
    if (err != CYAML_OK) {
        index_free(ix);
        if (err == CYAML_ERR_OOM) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory loading %s", name);
        /* pass 2 should refuse everything libcyaml refuses: this is our bug */
        return NNFI_FAIL(NNFI_E_BACKEND,
                         "%s:1:1: (top level): libcyaml refused a file that passed nnfi's own checks: %s\n%s"
                         "  hint: this is a bug in nnfi's campaign loader; please report it with this file",
                         name, cyaml_strerror(err), logbuf.text);
    }
    c->index = ix;
    c->source_path = strdup(name);
    c->source_dir = dir_of(name);
    c->source_text = malloc(len + 1);
    if (!c->source_path || !c->source_dir || !c->source_text) {
        nnfi_campaign_free(c);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    memcpy(c->source_text, text, len);
    c->source_text[len] = '\0';
    c->hash = fnv1a(text, len);
    if (!c->name) c->name = default_name(name);
    if (!c->name) {
        nnfi_campaign_free(c);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    st = check_semantics(c);
    if (st != NNFI_OK) {
        nnfi_campaign_free(c);
        return st;
    }
    *out = c;
    return NNFI_OK;
}

nnfi_status nnfi_campaign_read_file(const char *path, char **text, size_t *len_out)
{
    *text = NULL;
    *len_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot open campaign file: %s\n  hint: check the path", path,
                         strerror(errno));
    /* stat first: a huge file is refused before a byte of it is read */
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot stat campaign file: %s\n  hint: check the path", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        fclose(f);
        return NNFI_FAIL(NNFI_E_IO, "%s: is a directory, not a campaign file\n  hint: name the .yaml file in it", path);
    }
    if (S_ISREG(sb.st_mode) && (uintmax_t)sb.st_size > NNFI_CONFIG_MAX_BYTES) {
        fclose(f);
        char what[160];
        snprintf(what, sizeof what, "campaign file of %.1f MiB is over the %u MiB limit",
                 (double)sb.st_size / (1024.0 * 1024.0), NNFI_CONFIG_MAX_BYTES >> 20);
        return fail_at(path, 1, 1, "", what, "is this the right file? campaign files are a few KB");
    }
    /* Pipes and devices have no size: read at most one byte over the limit. */
    size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 0 ? (size_t)sb.st_size + 1 : 16384, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    for (;;) {
        if (len == cap) {
            if (cap > NNFI_CONFIG_MAX_BYTES) break;
            size_t ncap = 2 * cap > (size_t)NNFI_CONFIG_MAX_BYTES + 1 ? (size_t)NNFI_CONFIG_MAX_BYTES + 1 : 2 * cap;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NNFI_FAIL(NNFI_E_IO, "%s: read error\n  hint: check the file system", path);
    }
    if (len > NNFI_CONFIG_MAX_BYTES) {
        free(buf);
        char what[160];
        snprintf(what, sizeof what, "campaign text of %zu bytes is over the %u MiB limit", len,
                 NNFI_CONFIG_MAX_BYTES >> 20);
        return fail_at(path, 1, 1, "", what, "is this the right file? campaign files are a few KB");
    }
    buf[len] = '\0'; /* cap > len here: the loop stops at len < cap or at cap > the limit */
    *text = buf;
    *len_out = len;
    return NNFI_OK;
}

nnfi_status nnfi_campaign_load(const char *path, nnfi_campaign **out)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    NNFI_TRY(nnfi_campaign_read_file(path, &text, &len));
    nnfi_status st = nnfi_campaign_load_text(text, len, path, out);
    free(text);
    return st;
}

void nnfi_campaign_free(nnfi_campaign *c)
{
    if (!c) return;
    index_free(c->index);
    free(c->source_path);
    free(c->source_dir);
    free(c->source_text);
    c->index = NULL;
    c->source_path = c->source_dir = c->source_text = NULL;
    cyaml_config_t cfg = {.mem_fn = cyaml_mem, .log_level = CYAML_LOG_ERROR, .log_fn = NULL};
    cyaml_free(&cfg, &campaign_schema, c, 0);
}
