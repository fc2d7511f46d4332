/* schema.c - the result schema as data: column tables of /trials and /faults,
 * the names of every categorical list, and the JSON that `nnfi schema`
 * prints. All generated from the X-macros of results.h and categories.h. */
#include "nnfi/results.h"

#include <stdio.h>
#include <string.h>

#include "nnfi/sampler.h"

#define COL_INFO(row_type, name, ctype, kind, cat, vol, unit, desc)                                         \
    {#name, NNFI_COL_##kind, offsetof(row_type, name), sizeof(ctype), unit, desc, vol, cat},
#define TRIAL_COL(name, ctype, kind, cat, vol, unit, desc) COL_INFO(nnfi_trial_row, name, ctype, kind, cat, vol, unit, desc)
#define FAULT_COL(name, ctype, kind, cat, vol, unit, desc) COL_INFO(nnfi_fault_row, name, ctype, kind, cat, vol, unit, desc)

static const nnfi_column_info trial_columns[] = {NNFI_TRIAL_COLUMNS(TRIAL_COL)};
static const nnfi_column_info fault_columns[] = {NNFI_FAULT_COLUMNS(FAULT_COL)};

/* The C type of each column must be the row field's type (a mismatch would
 * write garbage): checked at compile time, field by field. */
#define SAME_SIZE(row_type, name, ctype, kind, cat, vol, unit, desc)                                        \
    _Static_assert(sizeof(((row_type *)0)->name) == sizeof(ctype), #name " has another size than its column");
#define TRIAL_SIZE(name, ctype, kind, cat, vol, unit, desc) SAME_SIZE(nnfi_trial_row, name, ctype, kind, cat, vol, unit, desc)
#define FAULT_SIZE(name, ctype, kind, cat, vol, unit, desc) SAME_SIZE(nnfi_fault_row, name, ctype, kind, cat, vol, unit, desc)
NNFI_TRIAL_COLUMNS(TRIAL_SIZE)
NNFI_FAULT_COLUMNS(FAULT_SIZE)

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

const nnfi_column_info *nnfi_trial_columns(size_t *n)
{
    *n = N_OF(trial_columns);
    return trial_columns;
}

const nnfi_column_info *nnfi_fault_columns(size_t *n)
{
    *n = N_OF(fault_columns);
    return fault_columns;
}

/* ------------------------------------------------------------ categories -- */

#define CAT_NAME(constant, code, name) [code] = name,
static const char *const op_names[] = {NNFI_OP_VALUES(CAT_NAME)};
static const char *const persistence_names[] = {NNFI_PERSISTENCE_VALUES(CAT_NAME)};
static const char *const scope_names[] = {NNFI_SCOPE_VALUES(CAT_NAME)};
static const char *const status_names[] = {NNFI_TRIAL_STATUS_VALUES(CAT_NAME)};
static const char *const yesno_names[] = {NNFI_YESNO_VALUES(CAT_NAME)};
static const char *const pattern_names[] = {NNFI_PATTERN_VALUES(CAT_NAME)};
static const char *const method_names[] = {NNFI_METHOD_VALUES(CAT_NAME)};
#undef CAT_NAME

#define CAT_MEANING(constant, code, name) " " name
/* each string starts with a space: +1 skips it */
static const char *const meanings[NNFI_CAT_COUNT] = {
    [NNFI_CAT_NONE] = NULL,
    [NNFI_CAT_OP] = NNFI_OP_VALUES(CAT_MEANING) + 1,
    [NNFI_CAT_PERSISTENCE] = NNFI_PERSISTENCE_VALUES(CAT_MEANING) + 1,
    [NNFI_CAT_SCOPE] = NNFI_SCOPE_VALUES(CAT_MEANING) + 1,
    [NNFI_CAT_TRIAL_STATUS] = NNFI_TRIAL_STATUS_VALUES(CAT_MEANING) + 1,
    [NNFI_CAT_YESNO] = NNFI_YESNO_VALUES(CAT_MEANING) + 1,
    [NNFI_CAT_PATTERN] = NNFI_PATTERN_VALUES(CAT_MEANING) + 1,
    [NNFI_CAT_METHOD] = NNFI_METHOD_VALUES(CAT_MEANING) + 1,
};
#undef CAT_MEANING

const char *const *nnfi_category_names(nnfi_category cat, size_t *n)
{
    switch (cat) {
    case NNFI_CAT_OP: *n = N_OF(op_names); return op_names;
    case NNFI_CAT_PERSISTENCE: *n = N_OF(persistence_names); return persistence_names;
    case NNFI_CAT_SCOPE: *n = N_OF(scope_names); return scope_names;
    case NNFI_CAT_TRIAL_STATUS: *n = N_OF(status_names); return status_names;
    case NNFI_CAT_YESNO: *n = N_OF(yesno_names); return yesno_names;
    case NNFI_CAT_PATTERN: *n = N_OF(pattern_names); return pattern_names;
    case NNFI_CAT_METHOD: *n = N_OF(method_names); return method_names;
    case NNFI_CAT_NONE:
    case NNFI_CAT_COUNT: break;
    }
    *n = 0;
    return NULL;
}

const char *nnfi_category_meanings(nnfi_category cat)
{
    return (unsigned)cat < NNFI_CAT_COUNT ? meanings[cat] : NULL;
}

nnfi_fault_row nnfi_fault_row_of(uint64_t trial, const nnfi_fault *f)
{
    nnfi_fault_row r;
    memset(&r, 0, sizeof r);
    r.trial = trial;
    r.group = f->group;
    r.site = f->site;
    r.element = f->element;
    r.mask = f->mask;
    r.value = f->value;
    r.op = f->op;
    r.transient = f->transient;
    r.scope = f->scope;
    r.when = f->when;
    r.t_first = f->t_first;
    r.t_last = f->t_last;
    return r;
}

/* ------------------------------------------------------------------ JSON -- */

static const char *kind_name(nnfi_column_kind k)
{
    switch (k) {
    case NNFI_COL_U8: return "uint8";
    case NNFI_COL_U32: return "uint32";
    case NNFI_COL_I32: return "int32";
    case NNFI_COL_U64: return "uint64";
    case NNFI_COL_I64: return "int64";
    case NNFI_COL_F64: return "float64";
    }
    return "?";
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void json_columns(FILE *f, const nnfi_column_info *c, size_t n, const char *indent)
{
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%s{\"name\": \"%s\", \"dtype\": \"%s\", \"unit\": ", indent, c[i].name, kind_name(c[i].kind));
        json_str(f, c[i].unit);
        fprintf(f, ", \"volatile\": %s, \"description\": ", c[i].is_volatile ? "true" : "false");
        json_str(f, c[i].description);
        size_t nv = 0;
        const char *const *names = nnfi_category_names(c[i].category, &nv);
        if (names) {
            fprintf(f, ", \"flag_values\": [");
            for (size_t v = 0; v < nv; v++) fprintf(f, "%s%zu", v ? ", " : "", v);
            fprintf(f, "], \"flag_meanings\": [");
            for (size_t v = 0; v < nv; v++) {
                if (v) fprintf(f, ", ");
                json_str(f, names[v]);
            }
            fprintf(f, "]");
        }
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
}

/* The top-level "group"/"index"/"columns" keys describe /trials (the layout
 * of schema version 1, which analysis/ reads); "tables" holds every table. */
nnfi_status nnfi_write_schema_json(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return NNFI_FAIL(NNFI_E_IO, "%s: cannot write the schema file\n  hint: check the directory exists", path);
    size_t nt, nf;
    const nnfi_column_info *tc = nnfi_trial_columns(&nt), *fc = nnfi_fault_columns(&nf);
    fprintf(f, "{\n  \"schema_version\": %d,\n  \"group\": \"/trials\",\n  \"index\": \"trial\",\n  \"columns\": [\n",
            NNFI_RESULTS_SCHEMA_VERSION);
    json_columns(f, tc, nt, "    ");
    fprintf(f, "  ],\n  \"tables\": {\n    \"/trials\": {\"index\": \"trial\", \"rows\": \"one per trial, at its global "
               "trial index\", \"columns\": [\n");
    json_columns(f, tc, nt, "      ");
    fprintf(f, "    ]},\n    \"/faults\": {\"index\": null, \"rows\": \"one per fault of the trials with at most "
               "output.faults_max_n faults, in checkpoint order\", \"columns\": [\n");
    json_columns(f, fc, nf, "      ");
    fprintf(f, "    ]}\n  }\n}\n");
    if (fclose(f) != 0) return NNFI_FAIL(NNFI_E_IO, "%s: write failed\n  hint: disk full?", path);
    return NNFI_OK;
}
