/* search_file.c - a set of searched units and the result file made of it
 * (search_file.h): used by `nnfi search` and by `nnfi merge` for search
 * shards. */
#include "search_file.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int search_units_has(const search_units *s, uint32_t e, uint32_t site)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].experiment == e && s->v[i].site == site) return 1;
    return 0;
}

nnfi_status search_units_take(search_units *s, nnfi_search_unit *u)
{
    if (search_units_has(s, u->experiment, u->site)) { /* the same unit twice (file and journal): identical */
        nnfi_search_unit_free(u);
        return NNFI_OK;
    }
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        nnfi_search_unit *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            nnfi_search_unit_free(u);
            return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = *u;
    memset(u, 0, sizeof *u);
    return NNFI_OK;
}

nnfi_status search_units_add_records(search_units *s, const uint8_t *buf, uint64_t len, const char *from)
{
    for (uint64_t at = 0; at < len;) {
        nnfi_search_unit u;
        size_t used = 0;
        nnfi_status st = nnfi_search_unit_unpack(buf + at, (size_t)(len - at), &u, &used);
        if (st != NNFI_OK) {
            char why[256];
            snprintf(why, sizeof why, "%s", nnfi_error_message());
            return NNFI_FAIL(st, "%s: unit record at byte %llu: %s\n  hint: start the search over with --force",
                             from, (unsigned long long)at, why);
        }
        NNFI_TRY(search_units_take(s, &u));
        at += used;
    }
    return NNFI_OK;
}

void search_units_free(search_units *s)
{
    for (size_t i = 0; i < s->n; i++) nnfi_search_unit_free(&s->v[i]);
    free(s->v);
    memset(s, 0, sizeof *s);
}

static int cmp_unit(const void *a, const void *b)
{
    const nnfi_search_unit *x = a, *y = b;
    if (x->experiment != y->experiment) return x->experiment < y->experiment ? -1 : 1;
    return x->site < y->site ? -1 : x->site > y->site;
}

void search_units_results_free(nnfi_search_result *res, nnfi_search_sites *names, size_t n)
{
    for (size_t i = 0; res && i < n; i++) nnfi_search_result_free(&res[i]);
    for (size_t i = 0; names && i < n; i++) free((void *)names[i].names);
    free(res);
    free(names);
}

nnfi_status search_units_results(const nnfi_campaign *c, const search_units *s, nnfi_search_result **res,
                                 nnfi_search_sites **names, size_t *n)
{
    size_t k = 0;
    for (unsigned e = 0; e < c->experiments_count; e++) k += c->experiments[e].search != NULL;
    *res = calloc(k ? k : 1, sizeof **res);
    *names = calloc(k ? k : 1, sizeof **names);
    *n = 0;
    if (!*res || !*names) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    for (unsigned e = 0; e < c->experiments_count; e++) {
        if (!c->experiments[e].search) continue;
        nnfi_search_result *r = &(*res)[*n];
        nnfi_search_sites *nm = &(*names)[*n];
        (*n)++;
        r->experiment = e;
        size_t n_sites = 0;
        for (size_t i = 0; i < s->n; i++)
            if (s->v[i].experiment == e && s->v[i].n_sites > n_sites) n_sites = s->v[i].n_sites;
        const char **v = calloc(n_sites ? n_sites : 1, sizeof *v);
        if (!v) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        for (size_t i = 0; i < n_sites; i++) v[i] = "";
        *nm = (nnfi_search_sites){v, n_sites};
        for (size_t i = 0; i < s->n; i++) {
            const nnfi_search_unit *u = &s->v[i];
            if (u->experiment != e) continue;
            if (u->site < n_sites) v[u->site] = u->site_name;
            NNFI_TRY(nnfi_search_result_add(r, &u->result));
        }
        NNFI_TRY(nnfi_search_result_finish(r));
    }
    return NNFI_OK;
}

nnfi_status search_units_write(const char *path, const nnfi_campaign *c, search_units *s, nnfi_search_archive *a,
                               double seconds, int force, nnfi_search_result **res, nnfi_search_sites **names,
                               size_t *n)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_unit);
    uint8_t *all = NULL;
    uint64_t bytes = 0;
    nnfi_status st = NNFI_OK;
    for (size_t i = 0; st == NNFI_OK && i < s->n; i++) {
        uint8_t *rec;
        size_t len;
        if ((st = nnfi_search_unit_pack(&s->v[i], &rec, &len)) != NNFI_OK) break;
        uint8_t *grown = realloc(all, bytes + len);
        if (!grown) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        else memcpy(grown + bytes, rec, len), all = grown, bytes += len;
        free(rec);
    }
    if (st == NNFI_OK) st = search_units_results(c, s, res, names, n);
    for (size_t i = 0; st == NNFI_OK && i < *n; i++) (*res)[i].seconds = seconds;
    a->records = all;
    a->bytes = bytes;
    a->units = s->n;
    a->config_hash = c->hash;
    if (st == NNFI_OK) st = nnfi_h5_write_search(path, c, *res, *n, *names, a, force);
    free(all);
    a->records = NULL;
    return st;
}

/* ------------------------------------------------------------------ merge -- */

int search_merge(const char *const *paths, size_t n, const char *out, int force, int quiet)
{
    search_units set = {0};
    nnfi_campaign *c = NULL;
    nnfi_search_archive first = {0};
    nnfi_search_result *res = NULL;
    nnfi_search_sites *names = NULL;
    size_t n_res = 0;
    nnfi_status st = NNFI_OK;
    uint8_t *seen = NULL;
    for (size_t i = 0; st == NNFI_OK && i < n; i++) {
        nnfi_search_archive a;
        uint8_t *recs = NULL;
        char *config = NULL;
        if ((st = nnfi_h5_read_search_archive(paths[i], &a, &recs, i == 0 ? &config : NULL)) != NNFI_OK) break;
        if (i == 0) {
            first = a;
            seen = calloc(a.shard_count ? a.shard_count : 1, 1);
            if (!seen) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            else if (!config) st = NNFI_FAIL(NNFI_E_INVALID, "%s has no campaign text (attribute config)", paths[i]);
            else st = nnfi_campaign_load_text(config, strlen(config), paths[i], &c);
            free(config);
        } else if (a.config_hash != first.config_hash) {
            st = NNFI_FAIL(NNFI_E_INVALID, "%s and %s are searches of different campaign texts\n  hint: merge the "
                                           "shards of one campaign file", paths[0], paths[i]);
        } else if (a.shard_count != first.shard_count) {
            st = NNFI_FAIL(NNFI_E_INVALID, "%s is shard %llu/%llu but %s is of %llu shards\n  hint: merge the shards "
                                           "of one split (the same N in --shard I/N)", paths[i],
                           (unsigned long long)a.shard_index, (unsigned long long)a.shard_count, paths[0],
                           (unsigned long long)first.shard_count);
        }
        if (st == NNFI_OK && a.shard_index >= first.shard_count)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s: shard index %llu out of %llu", paths[i],
                           (unsigned long long)a.shard_index, (unsigned long long)first.shard_count);
        if (st == NNFI_OK && seen[a.shard_index]++)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s: shard %llu/%llu given twice\n  hint: give each shard file once",
                           paths[i], (unsigned long long)a.shard_index, (unsigned long long)a.shard_count);
        if (st == NNFI_OK && a.units != a.units_wanted)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s: shard %llu/%llu is not complete (%llu of %llu units)\n  hint: finish "
                                           "it with 'nnfi search CAMPAIGN.yaml -o %s --shard %llu/%llu --resume'",
                           paths[i], (unsigned long long)a.shard_index, (unsigned long long)a.shard_count,
                           (unsigned long long)a.units, (unsigned long long)a.units_wanted, paths[i],
                           (unsigned long long)a.shard_index, (unsigned long long)a.shard_count);
        if (st == NNFI_OK) st = search_units_add_records(&set, recs, a.bytes, paths[i]);
        free(recs);
    }
    for (uint64_t k = 0; st == NNFI_OK && k < first.shard_count; k++)
        if (!seen[k])
            st = NNFI_FAIL(NNFI_E_INVALID, "shard %llu/%llu is missing\n  hint: give every shard file of the split",
                           (unsigned long long)k, (unsigned long long)first.shard_count);
    if (st == NNFI_OK && set.n != first.units_total)
        st = NNFI_FAIL(NNFI_E_INVALID, "the shards hold %zu of the campaign's %llu units\n  hint: give every shard "
                                       "file of the split", set.n, (unsigned long long)first.units_total);
    if (st == NNFI_OK) {
        nnfi_search_archive a = {NULL, 0, 0, first.units_total, first.units_total, 0, 1, 0};
        st = search_units_write(out, c, &set, &a, 0, force, &res, &names, &n_res);
    }
    if (st == NNFI_OK && !quiet)
        printf("nnfi merge: %zu search shard(s), %zu units -> %s\n", n, set.n, out);
    search_units_results_free(res, names, n_res);
    search_units_free(&set);
    free(seen);
    nnfi_campaign_free(c);
    return st == NNFI_OK ? CLI_OK : cli_fail(st);
}
