/* columns.c - column metadata and the JSON schema, generated from
 * NNFI_TRIAL_COLUMNS (results.h). */
#include "nnfi/results.h"

#include <stdio.h>
#include <string.h>

#define NNFI_COL_INFO(name, ctype, kind, unit, desc)                                                      \
    {#name, NNFI_COL_##kind, offsetof(nnfi_trial_row, name), sizeof(ctype), unit, desc, 0},

static nnfi_column_info columns[] = {NNFI_TRIAL_COLUMNS(NNFI_COL_INFO)};
#undef NNFI_COL_INFO

const nnfi_column_info *nnfi_trial_columns(size_t *n)
{
    static int marked;
    if (!marked) { /* the volatile ones, by the rule stated in results.h */
        for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
            columns[i].is_volatile = strstr(columns[i].description, "(volatile)") != NULL;
        marked = 1;
    }
    *n = sizeof columns / sizeof columns[0];
    return columns;
}

static const char *kind_name(nnfi_column_kind k)
{
    switch (k) {
    case NNFI_COL_U8: return "uint8";
    case NNFI_COL_U32: return "uint32";
    case NNFI_COL_I32: return "int32";
    case NNFI_COL_U64: return "uint64";
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

nnfi_status nnfi_write_schema_json(const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) return NNFI_FAIL(NNFI_E_IO, "%s: cannot write the schema file\n  hint: check the directory exists", path);
    size_t n;
    const nnfi_column_info *c = nnfi_trial_columns(&n);
    fprintf(f, "{\n  \"schema_version\": %d,\n  \"group\": \"/trials\",\n  \"index\": \"trial\",\n  \"columns\": [\n",
            NNFI_RESULTS_SCHEMA_VERSION);
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "    {\"name\": \"%s\", \"dtype\": \"%s\", \"unit\": ", c[i].name, kind_name(c[i].kind));
        json_str(f, c[i].unit);
        fprintf(f, ", \"volatile\": %s, \"description\": ", c[i].is_volatile ? "true" : "false");
        json_str(f, c[i].description);
        fprintf(f, "}%s\n", i + 1 < n ? "," : "");
    }
    fprintf(f, "  ]\n}\n");
    if (fclose(f) != 0) return NNFI_FAIL(NNFI_E_IO, "%s: write failed\n  hint: disk full?", path);
    return NNFI_OK;
}
