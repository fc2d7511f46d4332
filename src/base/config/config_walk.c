/* config_walk.c - pass 2 of the campaign loader: the schema walk.
 *
 * Walks libyaml's node tree of a campaign file along the libcyaml schema
 * (config_schema.c) and refuses, at the exact line:column and with the field
 * path and a hint, what libcyaml would refuse with a vague message: unknown or
 * repeated keys (with "did you mean"), wrong types, bad enum words, numbers out
 * of range, missing required keys, bad list lengths, NUL characters, and
 * documents whose aliases expand past NNFI_CONFIG_MAX_NODES values. It records
 * the position of every key and list entry in the index (config_index.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strcasecmp */
#endif
#include "config_internal.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static nnfi_status fail_node(nnfi_cfg_walk *ctx, const yaml_node_t *n, const char *path,
                             const char *what, const char *hint)
{
    return nnfi_cfg_fail_at(ctx->file, nnfi_cfg_mark_line(n->start_mark), nnfi_cfg_mark_col(n->start_mark),
                            path, what, hint);
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

/* ------------------------------------------------------------ the walk -- */

/* The scalar's text in ctx->patched (plain scalars only: a quoted one is a
 * string in YAML and is left alone), or NULL. */
static char *patchable(nnfi_cfg_walk *ctx, const yaml_node_t *node)
{
    if (!ctx->patched || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return NULL;
    return ctx->patched + node->start_mark.index;
}

/* YAML 1.2 spells NaN and infinities .nan .NaN .NAN .inf .Inf .INF, signed
 * or not: 1 (and the patched text reads "nan" / "inf" for strtod) or 0. */
static int yaml12_special_float(nnfi_cfg_walk *ctx, const yaml_node_t *node, const char *s)
{
    const char *p = s + (s[0] == '-' || s[0] == '+');
    static const char *const words[] = {".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF"};
    int hit = 0;
    for (size_t i = 0; i < N_OF(words); i++) hit |= strcmp(p, words[i]) == 0;
    if (!hit || (p != s && (p[1] == 'n' || p[1] == 'N'))) return 0; /* no signed NaN */
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0; /* '.nan' quoted is a string */
    char *t = patchable(ctx, node);
    if (t) { /* "-.inf" -> " -inf": the sign moves right over the dot */
        size_t dot = (size_t)(p - s);
        memmove(t + 1, t, dot);
        t[0] = ' ';
    }
    return 1;
}

static nnfi_status check_scalar(nnfi_cfg_walk *ctx, yaml_node_t *node,
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
        const char *digits = p + (*p == '-' || *p == '+');
        if (digits[0] == '0' && isdigit((unsigned char)digits[1])) {
            const char *d = digits;
            while (d[0] == '0' && d[1]) d++;
            char octal[32] = "not octal";
            if (strspn(digits, "01234567") == strlen(digits))
                snprintf(octal, sizeof octal, "%llu", strtoull(digits, NULL, 8));
            char h[96];
            snprintf(h, sizeof h, "drop the leading zeros for decimal, or write 0o%s for octal", d);
            snprintf(what, sizeof what, "'%s' is ambiguous: YAML 1.2 reads a leading zero as decimal (%s), YAML 1.1 "
                                        "as octal (%s)", s, d, octal);
            return fail_node(ctx, node, path, what, h);
        }
        if (digits[0] == '0' && digits[1] == 'o') { /* YAML 1.2 octal: strtoll reads "00" + digits as octal */
            if (!digits[2] || strspn(digits + 2, "01234567") != strlen(digits + 2)) {
                snprintf(what, sizeof what, "'%s' is not an octal number", s);
                return fail_node(ctx, node, path, what, "0o is followed by the digits 0-7, e.g. 0o17");
            }
            char *t = patchable(ctx, node);
            if (t) t[(digits - s) + 1] = '0'; /* "0o17" -> "0017": strtoll's octal */
            uint64_t lim = sv->data_size >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * sv->data_size)) - 1;
            if (sv->type == CYAML_INT) lim >>= 1;
            unsigned long long v = strtoull(digits + 2, &end, 8);
            if (errno || *end || v > lim + (*p == '-')) {
                snprintf(what, sizeof what, "'%s' is not a whole number in range", s);
                return fail_node(ctx, node, path, what, "write digits only, within range");
            }
            return NNFI_OK;
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
        if (yaml12_special_float(ctx, node, s)) return NNFI_OK;
        strtod(s, &end);
        if (s[0] == '\0' || *end || errno == ERANGE) {
            snprintf(what, sizeof what, "expected a number, found '%s'", s);
            return fail_node(ctx, node, path, what, "write e.g. 0.5, 1e-7, 7E-7, .nan, .inf or -.inf");
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

static nnfi_status check_mapping(nnfi_cfg_walk *ctx, yaml_node_t *node,
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
        NNFI_TRY(nnfi_cfg_index_add(ctx->ix, sub, k->start_mark));
        NNFI_TRY(nnfi_cfg_check_value(ctx, v, &sv->mapping.fields[fi].value, sub));
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

static nnfi_status check_sequence(nnfi_cfg_walk *ctx, yaml_node_t *node,
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
        NNFI_TRY(nnfi_cfg_index_add(ctx->ix, sub, v->start_mark));
        NNFI_TRY(nnfi_cfg_check_value(ctx, v, sv->sequence.entry, sub));
    }
    return NNFI_OK;
}

nnfi_status nnfi_cfg_check_value(nnfi_cfg_walk *ctx, yaml_node_t *node,
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
