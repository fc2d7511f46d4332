/* config_index.c - where every field of a campaign file sits, for errors.
 *
 * The line:column index of the YAML document (struct nnfi_config_index): pass 2
 * records the position of every key and list entry under its field path
 * ("experiments[0].groups[1].sites"), and every later error - semantic checks
 * at load time, nnfi_campaign_error() once a model is open - is located
 * through it. Also the one format of a located message (nnfi_cfg_fail_at).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup */
#endif
#include "config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

uint64_t nnfi_cfg_fnv1a(const char *s, size_t n)
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
    for (size_t h = (size_t)nnfi_cfg_fnv1a(path, strlen(path)) & (ix->nslot - 1);; h = (h + 1) & (ix->nslot - 1)) {
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
        size_t h = (size_t)nnfi_cfg_fnv1a(ix->e[i].path, strlen(ix->e[i].path)) & (nslot - 1);
        while (slot[h]) h = (h + 1) & (nslot - 1);
        slot[h] = i + 1;
    }
    free(ix->slot);
    ix->slot = slot;
    ix->nslot = nslot;
    return 0;
}

/* The first record of a path wins. The index also tells an explicit value
 * from an absent one, so losing an entry is an error. */
nnfi_status nnfi_cfg_index_add(struct nnfi_config_index *ix, const char *path, yaml_mark_t m)
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
    size_t h = (size_t)nnfi_cfg_fnv1a(path, strlen(path)) & (ix->nslot - 1);
    while (ix->slot[h]) h = (h + 1) & (ix->nslot - 1);
    ix->slot[h] = ++ix->n;
    return NNFI_OK;
}

void nnfi_cfg_index_free(struct nnfi_config_index *ix)
{
    if (!ix) return;
    for (size_t i = 0; i < ix->n; i++) free(ix->e[i].path);
    free(ix->e);
    free(ix->slot);
    free(ix->file);
    free(ix);
}

void nnfi_cfg_index_find(const struct nnfi_config_index *ix, const char *path, int *line, int *col)
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

int nnfi_cfg_index_has(const struct nnfi_config_index *ix, const char *path)
{
    return index_lookup(ix, path) >= 0;
}

struct nnfi_config_index *nnfi_cfg_index_new(const char *file)
{
    struct nnfi_config_index *ix = calloc(1, sizeof *ix);
    if (!ix || !(ix->file = strdup(file))) {
        free(ix);
        return NULL;
    }
    return ix;
}

/* ------------------------------------------------------ located errors -- */

nnfi_status nnfi_cfg_fail_at(const char *file, int line, int col, const char *path,
                             const char *what, const char *hint)
{
    return NNFI_FAIL(NNFI_E_CONFIG, "%s:%d:%d: %s: %s\n  hint: %s", file, line, col,
                     path[0] ? path : "(top level)", what, hint);
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
    if (c && c->index) nnfi_cfg_index_find(c->index, path, &line, &col);
    return NNFI_FAIL(st, "%s:%d:%d: %s: %s", c && c->source_path ? c->source_path : "?", line,
                     col, path, msg);
}
