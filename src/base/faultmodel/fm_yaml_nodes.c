/* fm_yaml_nodes.c - the libyaml side that the native loader (fm_load_yaml.c)
 * and the CLASSES import (fm_load_classes.c) share: a bounded file read, one
 * parsed document with located syntax errors (libyaml reads JSON as YAML flow
 * syntax, so CLASSES files get line:column too), the one located message
 * format "FILE:LINE:COL: PATH: WHAT\n  hint: HINT", and numbers and parameter
 * distributions read from nodes.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "fm_internal.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FM_MAX_DEPTH 12
#define FM_MAX_NODES 200000

static int mark_line(yaml_mark_t m) { return m.line < INT_MAX ? (int)m.line + 1 : INT_MAX; }
static int mark_col(yaml_mark_t m) { return m.column < INT_MAX ? (int)m.column + 1 : INT_MAX; }

static nnfi_status fail_at(const char *file, int line, int col, const char *path, const char *what, const char *hint)
{
    return NNFI_FAIL(NNFI_E_CONFIG, "%s:%d:%d: %s: %s\n  hint: %s", file, line, col, path[0] ? path : "(top level)",
                     what, hint);
}

nnfi_status fm_fail(const fm_doc *d, const yaml_node_t *n, const char *path, const char *what, const char *hint)
{
    return fail_at(d->file, n ? mark_line(n->start_mark) : 1, n ? mark_col(n->start_mark) : 1, path, what, hint);
}

yaml_node_t *fm_node(const fm_doc *d, int id) { return yaml_document_get_node((yaml_document_t *)&d->doc, id); }

const char *fm_scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

nnfi_status fm_read_file(const char *path, const char *what, char **text, size_t *len)
{
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot open %s: %s\n  hint: check the path", path, what, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || S_ISDIR(sb.st_mode)) {
        fclose(f);
        return NNFI_FAIL(NNFI_E_IO, "%s: not a readable %s\n  hint: name the file itself", path, what);
    }
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            if (cap > NNFI_FM_MAX_FILE_BYTES) break;
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", path);
    if (bad) {
        free(buf);
        return NNFI_FAIL(NNFI_E_IO, "%s: read error\n  hint: check the file system", path);
    }
    if (n > NNFI_FM_MAX_FILE_BYTES) {
        free(buf);
        return fail_at(path, 1, 1, "", "file over the 4 MiB limit", "is this the right file? fault models are a few KB");
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return NNFI_OK;
}

static nnfi_status syntax_error(const char *file, const yaml_parser_t *p)
{
    if (p->error == YAML_MEMORY_ERROR) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory parsing %s", file);
    char what[512];
    if (p->error == YAML_READER_ERROR) {
        snprintf(what, sizeof what, "syntax error: %s at byte %zu", p->problem ? p->problem : "?", p->problem_offset);
        return fail_at(file, 1, 1, "", what, "the file must be UTF-8 text without control characters");
    }
    if (p->context)
        snprintf(what, sizeof what, "syntax error: %s %s (started at line %d, column %d)",
                 p->problem ? p->problem : "?", p->context, mark_line(p->context_mark), mark_col(p->context_mark));
    else
        snprintf(what, sizeof what, "syntax error: %s", p->problem ? p->problem : "?");
    return fail_at(file, mark_line(p->problem_mark), mark_col(p->problem_mark), "", what,
                   "check brackets, commas, colons and indentation (spaces, not tabs) near here");
}

nnfi_status fm_parse(const char *text, size_t len, const char *file, const char *kind_of_file, fm_doc *d)
{
    d->file = file;
    memset(&d->doc, 0, sizeof d->doc);
    if (len > NNFI_FM_MAX_FILE_BYTES)
        return fail_at(file, 1, 1, "", "text over the 4 MiB limit", "is this the right file? fault models are a few KB");
    /* Bounds first, on the event stream: one document, bounded depth and
     * size, before libyaml builds a tree. */
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    size_t depth = 0, nodes = 0, docs = 0;
    nnfi_status st = NNFI_OK;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&p, &ev)) {
            st = syntax_error(file, &p);
            break;
        }
        yaml_event_type_t t = ev.type;
        yaml_mark_t at = ev.start_mark;
        yaml_event_delete(&ev);
        if (t == YAML_STREAM_END_EVENT) break;
        if (t == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            st = fail_at(file, mark_line(at), mark_col(at), "", "a second document",
                         "a fault-model file holds one document: remove this '---' and what follows");
            break;
        }
        if (t == YAML_ALIAS_EVENT) {
            st = fail_at(file, mark_line(at), mark_col(at), "", "a YAML alias (*name)",
                         "write the value out: fault-model files do not use anchors and aliases");
            break;
        }
        if (t == YAML_SEQUENCE_START_EVENT || t == YAML_MAPPING_START_EVENT) {
            if (++depth > FM_MAX_DEPTH) {
                st = fail_at(file, mark_line(at), mark_col(at), "", "nested too deeply",
                             "look for unbalanced '[' or '{'");
                break;
            }
        } else if (t == YAML_SEQUENCE_END_EVENT || t == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        if (++nodes > FM_MAX_NODES) {
            st = fail_at(file, mark_line(at), mark_col(at), "", "too many values", "is this the right file?");
            break;
        }
    }
    yaml_parser_delete(&p);
    if (st != NNFI_OK) return st;
    if (!yaml_parser_initialize(&p)) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    if (!yaml_parser_load(&p, &d->doc)) {
        st = syntax_error(file, &p);
        yaml_parser_delete(&p);
        memset(&d->doc, 0, sizeof d->doc);
        return st;
    }
    yaml_parser_delete(&p);
    yaml_node_t *root = yaml_document_get_root_node(&d->doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        char what[160], hint[200];
        snprintf(what, sizeof what, "%s", root ? "expected a mapping of keys at the top" : "the file is empty");
        snprintf(hint, sizeof hint, "a %s starts with its keys (see include/nnfi/fault_model.h)", kind_of_file);
        st = fm_fail(d, root, "", what, hint);
        yaml_document_delete(&d->doc);
        memset(&d->doc, 0, sizeof d->doc);
        return st;
    }
    return NNFI_OK;
}

nnfi_status fm_weight(const fm_doc *d, const yaml_node_t *n, const char *path, double *out)
{
    const char *s = fm_scalar(n);
    char what[256];
    if (!s) return fm_fail(d, n, path, "expected a number", "write a number >= 0, e.g. 0.25");
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v)) {
        snprintf(what, sizeof what, "expected a number, found '%.60s'", s);
        return fm_fail(d, n, path, what, "write a number >= 0, e.g. 0.25");
    }
    if (v < 0) {
        snprintf(what, sizeof what, "negative value %g", v);
        return fm_fail(d, n, path, what, "frequencies, weights and percentages are >= 0");
    }
    *out = v;
    return NNFI_OK;
}

nnfi_status fm_uint(const fm_doc *d, const yaml_node_t *n, const char *path, unsigned long lo, unsigned long hi,
                    unsigned long *out)
{
    const char *s = fm_scalar(n);
    char what[256], hint[160];
    snprintf(hint, sizeof hint, "write a whole number in %lu..%lu", lo, hi);
    if (!s) return fm_fail(d, n, path, "expected a whole number", hint);
    /* CLASSES writes counts as JSON numbers, sometimes 4.0: accept integral decimals */
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v != floor(v)) {
        snprintf(what, sizeof what, "expected a whole number, found '%.60s'", s);
        return fm_fail(d, n, path, what, hint);
    }
    if (v < (double)lo || v > (double)hi) {
        snprintf(what, sizeof what, "%.60s is out of range", s);
        return fm_fail(d, n, path, what, hint);
    }
    *out = (unsigned long)v;
    return NNFI_OK;
}

nnfi_status fm_pct(const fm_doc *d, const yaml_node_t *n, const char *path, uint32_t *bp)
{
    double v;
    NNFI_TRY(fm_weight(d, n, path, &v));
    if (v > 100) {
        char what[128];
        snprintf(what, sizeof what, "percentage %g is over 100", v);
        return fm_fail(d, n, path, what, "percentages are 0..100");
    }
    *bp = (uint32_t)floor(v * 100 + 0.5);
    return NNFI_OK;
}

/* One entry: N or [lo, hi]. */
static nnfi_status interval(const fm_doc *d, const yaml_node_t *n, const char *path, int pct, uint32_t *lo,
                            uint32_t *hi)
{
    if (n->type == YAML_SEQUENCE_NODE) {
        yaml_node_item_t *it = n->data.sequence.items.start;
        size_t k = (size_t)(n->data.sequence.items.top - it);
        if (k != 2)
            return fm_fail(d, n, path, "a range needs exactly two numbers",
                           "write [lo, hi], a single number, or a choice {one_of: [...]}");
        char p2[320];
        snprintf(p2, sizeof p2, "%s[0]", path);
        if (pct) NNFI_TRY(fm_pct(d, fm_node(d, it[0]), p2, lo));
        else {
            unsigned long v;
            NNFI_TRY(fm_uint(d, fm_node(d, it[0]), p2, 0, UINT32_MAX, &v));
            *lo = (uint32_t)v;
        }
        snprintf(p2, sizeof p2, "%s[1]", path);
        if (pct) NNFI_TRY(fm_pct(d, fm_node(d, it[1]), p2, hi));
        else {
            unsigned long v;
            NNFI_TRY(fm_uint(d, fm_node(d, it[1]), p2, 0, UINT32_MAX, &v));
            *hi = (uint32_t)v;
        }
        if (*lo > *hi) return fm_fail(d, n, path, "range with lo > hi", "write [lo, hi] with lo <= hi");
        return NNFI_OK;
    }
    if (pct) NNFI_TRY(fm_pct(d, n, path, lo));
    else {
        unsigned long v;
        NNFI_TRY(fm_uint(d, n, path, 0, UINT32_MAX, &v));
        *lo = (uint32_t)v;
    }
    *hi = *lo;
    return NNFI_OK;
}

nnfi_status fm_pdist(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_param p,
                     const char *choice_key, nnfi_fm_pdist *out)
{
    int pct = nnfi_fm_param_is_pct(p);
    memset(out, 0, sizeof *out);
    if (n->type != YAML_MAPPING_NODE) {
        NNFI_TRY(interval(d, n, path, pct, &out->lo[0], &out->hi[0]));
        out->n = 1;
        return NNFI_OK;
    }
    char hint[200];
    snprintf(hint, sizeof hint, "a choice is {%s: [a, b, [lo, hi], ...]}: one entry uniformly", choice_key);
    yaml_node_pair_t *pr = n->data.mapping.pairs.start;
    if (n->data.mapping.pairs.top - pr != 1) return fm_fail(d, n, path, "expected a one-key choice mapping", hint);
    const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
    const char *ks = fm_scalar(k);
    if (!ks || strcmp(ks, choice_key) != 0) {
        char what[160];
        snprintf(what, sizeof what, "unknown key '%.60s' in a parameter value", ks ? ks : "?");
        return fm_fail(d, k, path, what, hint);
    }
    char p2[320];
    snprintf(p2, sizeof p2, "%s.%s", path, choice_key);
    if (v->type != YAML_SEQUENCE_NODE) return fm_fail(d, v, p2, "expected a list of choices", hint);
    yaml_node_item_t *it = v->data.sequence.items.start;
    size_t cnt = (size_t)(v->data.sequence.items.top - it);
    if (cnt == 0 || cnt > NNFI_FM_MAX_CHOICES) {
        char what[160];
        snprintf(what, sizeof what, "%zu choices (1..%d allowed)", cnt, NNFI_FM_MAX_CHOICES);
        return fm_fail(d, v, p2, what, "list between 1 and 24 choices");
    }
    for (size_t i = 0; i < cnt; i++) {
        char p3[340];
        snprintf(p3, sizeof p3, "%s[%zu]", p2, i);
        NNFI_TRY(interval(d, fm_node(d, it[i]), p3, pct, &out->lo[i], &out->hi[i]));
    }
    out->n = (uint32_t)cnt;
    return NNFI_OK;
}

void fm_default_name(const char *file, char *out, size_t n)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t k = strcspn(base, ".");
    if (k == 0) {
        snprintf(out, n, "fault-model");
        return;
    }
    if (k >= n) k = n - 1;
    memcpy(out, base, k);
    out[k] = '\0';
}
