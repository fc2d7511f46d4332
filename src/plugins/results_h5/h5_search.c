/* h5_search.c - the result file of `nnfi search` (nnfi_h5_write_search):
 * built whole as PATH.ckpt, fsynced and renamed over PATH, so PATH is either
 * absent, the previous file, or complete. Layout in h5_results.h. */
#include "nnfi/h5_results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "h5_util.h"
#include "nnfi/build_info.h"

/* One chunked, filtered 1-D column of n values, written whole. */
static herr_t put_column(hid_t loc, const char *name, nnfi_column_kind kind, hsize_t n, const void *data,
                         const char *unit, const char *desc, nnfi_category cat)
{
    hid_t ds = create_chunked(loc, name, kind, n, n < 65536 ? (n ? n : 1) : 65536);
    if (ds < 0) return -1;
    herr_t rc = n ? H5Dwrite(ds, mem_type(kind), H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
    if (rc >= 0) rc = attr_column(ds, kind, unit, desc, cat);
    KEEP_ERRORS(rc < 0, H5Dclose(ds));
    return rc;
}

static nnfi_status write_labels(hid_t f, const char *path, const nnfi_search_result *r, size_t n)
{
    nnfi_status st = NNFI_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += r[i].n_labels;
    uint32_t *xp = malloc((total ? total : 1) * sizeof *xp), *site = malloc((total ? total : 1) * sizeof *site);
    uint64_t *el = malloc((total ? total : 1) * sizeof *el);
    uint8_t *u8 = malloc((total ? total : 1) * 4);
    hid_t g = -1;
    if (!xp || !site || !el || !u8) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    uint8_t *bit = u8, *crit = u8 + total, *method = u8 + 2 * total, *evals = u8 + 3 * total;
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++)
        for (uint64_t k = 0; k < r[i].n_labels; k++, at++) {
            const nnfi_bit_label *l = &r[i].labels[k];
            xp[at] = r[i].experiment;
            site[at] = l->site;
            el[at] = l->element;
            bit[at] = l->bit;
            crit[at] = l->critical;
            method[at] = l->method;
            evals[at] = l->evaluations;
        }
    H5_TRY(g = H5Gcreate2(f, "critical_bits", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create /critical_bits");
    H5_TRY(put_column(g, "experiment", NNFI_COL_U32, total, xp, "1", "experiment index (/search/<name>@index)",
                      NNFI_CAT_NONE), path, "write /critical_bits/experiment");
    H5_TRY(put_column(g, "site", NNFI_COL_U32, total, site, "1", "site index into /search/<experiment>/site_names",
                      NNFI_CAT_NONE), path, "write /critical_bits/site");
    H5_TRY(put_column(g, "element", NNFI_COL_U64, total, el, "1", "element index within the site", NNFI_CAT_NONE),
           path, "write /critical_bits/element");
    H5_TRY(put_column(g, "bit", NNFI_COL_U8, total, bit, "1", "bit position (0 = least significant)", NNFI_CAT_NONE),
           path, "write /critical_bits/bit");
    H5_TRY(put_column(g, "critical", NNFI_COL_U8, total, crit, "1", "flipping this bit alone meets the criterion",
                      NNFI_CAT_YESNO), path, "write /critical_bits/critical");
    H5_TRY(put_column(g, "method", NNFI_COL_U8, total, method, "1", "how the label was obtained", NNFI_CAT_METHOD),
           path, "write /critical_bits/method");
    H5_TRY(put_column(g, "evaluations", NNFI_COL_U8, total, evals, "1",
                      "faulty configurations evaluated for this (element, bit) by this method: 1 evaluated over the "
                      "eval set, 0 predicted; an element's evaluations are the sum over its rows",
                      NNFI_CAT_NONE), path, "write /critical_bits/evaluations");
out:
    if (g >= 0) KEEP_ERRORS(st != NNFI_OK, H5Gclose(g));
    free(xp);
    free(site);
    free(el);
    free(u8);
    return st;
}

static nnfi_status write_strata(hid_t f, const char *path, const nnfi_search_result *r, size_t n)
{
    nnfi_status st = NNFI_OK;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) total += r[i].n_strata;
    size_t m = total ? total : 1;
    uint32_t *xp = malloc(m * sizeof *xp), *site = malloc(m * sizeof *site);
    uint8_t *bit = malloc(m);
    uint64_t *els = malloc(m * sizeof *els), *crit = malloc(m * sizeof *crit);
    double *fr = malloc(m * sizeof *fr), *lo = malloc(m * sizeof *lo), *hi = malloc(m * sizeof *hi);
    hid_t g = -1;
    if (!xp || !site || !bit || !els || !crit || !fr || !lo || !hi) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    uint64_t at = 0;
    for (size_t i = 0; i < n; i++)
        for (uint64_t k = 0; k < r[i].n_strata; k++, at++) {
            const nnfi_search_stratum *s = &r[i].strata[k];
            xp[at] = r[i].experiment;
            site[at] = s->site;
            bit[at] = s->bit;
            els[at] = s->elements;
            crit[at] = s->critical;
            fr[at] = s->fraction;
            lo[at] = s->lo;
            hi[at] = s->hi;
        }
    H5_TRY(g = H5Gcreate2(f, "critical_strata", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path,
           "create /critical_strata");
    H5_TRY(attr_f64(g, "confidence", n ? r[0].confidence : 0.95), path, "write /critical_strata@confidence");
    {
        uint8_t *src = malloc(m);
        if (!src) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            goto out;
        }
        at = 0;
        for (size_t i = 0; i < n; i++)
            for (uint64_t k = 0; k < r[i].n_strata; k++) src[at++] = (uint8_t)r[i].strata_sampled;
        herr_t rc = put_column(g, "sampled", NNFI_COL_U8, total, src, "1",
                               "1: the stratified estimator's sampled evaluations (unbiased); 0: tallied from the "
                               "search's labels of the drawn elements (predictions included)", NNFI_CAT_YESNO);
        free(src);
        H5_TRY(rc, path, "write /critical_strata/sampled");
    }
    H5_TRY(put_column(g, "experiment", NNFI_COL_U32, total, xp, "1", "experiment index", NNFI_CAT_NONE), path,
           "write /critical_strata/experiment");
    H5_TRY(put_column(g, "site", NNFI_COL_U32, total, site, "1", "site index", NNFI_CAT_NONE), path,
           "write /critical_strata/site");
    H5_TRY(put_column(g, "bit", NNFI_COL_U8, total, bit, "1", "bit position", NNFI_CAT_NONE), path,
           "write /critical_strata/bit");
    H5_TRY(put_column(g, "elements", NNFI_COL_U64, total, els, "1", "searched elements of the site", NNFI_CAT_NONE),
           path, "write /critical_strata/elements");
    H5_TRY(put_column(g, "critical", NNFI_COL_U64, total, crit, "1", "of those, labelled critical at this bit",
                      NNFI_CAT_NONE), path, "write /critical_strata/critical");
    H5_TRY(put_column(g, "fraction", NNFI_COL_F64, total, fr, "1", "critical / elements", NNFI_CAT_NONE), path,
           "write /critical_strata/fraction");
    H5_TRY(put_column(g, "lo", NNFI_COL_F64, total, lo, "1", "Wilson interval, lower end (confidence attribute)",
                      NNFI_CAT_NONE), path, "write /critical_strata/lo");
    H5_TRY(put_column(g, "hi", NNFI_COL_F64, total, hi, "1", "Wilson interval, upper end", NNFI_CAT_NONE), path,
           "write /critical_strata/hi");
out:
    if (g >= 0) KEEP_ERRORS(st != NNFI_OK, H5Gclose(g));
    free(xp);
    free(site);
    free(bit);
    free(els);
    free(crit);
    free(fr);
    free(lo);
    free(hi);
    return st;
}

static nnfi_status write_summary(hid_t f, const char *path, const nnfi_campaign *c, const nnfi_search_result *r,
                                 const nnfi_search_sites *ss)
{
    nnfi_status st = NNFI_OK;
    const nnfi_experiment_cfg *x = &c->experiments[r->experiment];
    const nnfi_search_cfg *s = x->search;
    char name[160];
    snprintf(name, sizeof name, "search/%s", x->name);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), g = -1;
    H5_TRY(lcpl, path, "create a property list");
    H5_TRY(H5Pset_create_intermediate_group(lcpl, 1), path, "set intermediate groups");
    H5_TRY(g = H5Gcreate2(f, name, lcpl, H5P_DEFAULT, H5P_DEFAULT), path, "create /search/<experiment>");
    H5_TRY(attr_u64(g, "index", r->experiment), path, "write index");
    H5_TRY(attr_str(g, "model", x->model), path, "write model");
    H5_TRY(attr_str(g, "criterion", nnfi_watch_name(s->criterion)), path, "write criterion");
    H5_TRY(attr_f64(g, "threshold", s->threshold), path, "write threshold");
    H5_TRY(attr_u64(g, "pool", s->pool), path, "write pool");
    H5_TRY(attr_u64(g, "pilot", s->pilot), path, "write pilot");
    H5_TRY(attr_u64(g, "elements", r->elements), path, "write elements");
    H5_TRY(attr_u64(g, "checked", r->checked), path, "write checked");
    H5_TRY(attr_u64(g, "pilot_elements", r->pilot_elements), path, "write pilot_elements");
    H5_TRY(attr_u64(g, "bits", r->bits), path, "write bits");
    H5_TRY(attr_u64(g, "evaluations_search", r->evals_search), path, "write evaluations_search");
    H5_TRY(attr_u64(g, "evaluations_search_checked", r->evals_search_checked), path, "write evaluations");
    H5_TRY(attr_u64(g, "evaluations_exhaustive", r->evals_exhaustive), path, "write evaluations_exhaustive");
    H5_TRY(attr_u64(g, "predicted", r->predicted), path, "write predicted");
    H5_TRY(attr_f64(g, "strata_width", s->strata_width), path, "write strata_width");
    H5_TRY(attr_u64(g, "evaluations_strata", r->evals_strata), path, "write evaluations_strata");
    H5_TRY(attr_u64(g, "true_positives", r->tp), path, "write true_positives");
    H5_TRY(attr_u64(g, "false_positives", r->fp), path, "write false_positives");
    H5_TRY(attr_u64(g, "false_negatives", r->fn), path, "write false_negatives");
    H5_TRY(attr_f64(g, "recall", r->recall), path, "write recall");
    H5_TRY(attr_f64(g, "precision", r->precision), path, "write precision");
    H5_TRY(attr_u64(g, "sites", r->sites), path, "write sites");
    H5_TRY(attr_u64(g, "nonmonotone_sites", r->nonmonotone_sites), path, "write nonmonotone_sites");
    H5_TRY(attr_u64(g, "unpooled_sites", r->unpooled_sites), path, "write unpooled_sites");
    H5_TRY(attr_f64(g, "seconds", r->seconds), path, "write seconds");
    H5_TRY(write_strs(g, "site_names", ss->n, ss->names), path, "write site_names");
out:
    if (g >= 0) KEEP_ERRORS(st != NNFI_OK, H5Gclose(g));
    if (lcpl >= 0) KEEP_ERRORS(st != NNFI_OK, H5Pclose(lcpl));
    return st;
}

/* /search_units: the units' records (resume, merge) and how far the search got. */
static herr_t write_archive(hid_t f, const nnfi_search_archive *a)
{
    hid_t g = H5Gcreate2(f, "search_units", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) return -1;
    herr_t rc = put_column(g, "records", NNFI_COL_U8, a->bytes, a->records, "1",
                           "packed unit records (src/engine/search_units.c), native byte order", NNFI_CAT_NONE);
    if (rc >= 0) rc = attr_u64(g, "units", a->units);
    if (rc >= 0) rc = attr_u64(g, "units_wanted", a->units_wanted);
    if (rc >= 0) rc = attr_u64(g, "units_total", a->units_total);
    if (rc >= 0) rc = attr_u64(g, "shard_index", a->shard_index);
    if (rc >= 0) rc = attr_u64(g, "shard_count", a->shard_count);
    if (rc >= 0) rc = attr_u64(g, "config_hash", a->config_hash);
    if (rc >= 0)
        rc = attr_str(g, "description", "the search's units (one per experiment and site), read back by nnfi "
                                        "search --resume and nnfi merge; complete when units == units_wanted");
    KEEP_ERRORS(rc < 0, H5Gclose(g));
    return rc;
}

nnfi_status nnfi_h5_write_search(const char *path, const nnfi_campaign *c, const nnfi_search_result *r, size_t n,
                                 const nnfi_search_sites *sites, const nnfi_search_archive *archive, int force)
{
    if (!force && access(path, F_OK) == 0)
        return NNFI_FAIL(NNFI_E_IO, "%s exists\n  hint: pass --force to replace it, or choose another -o", path);
    char *tmp = side_path(path, TMP_SUFFIX);
    if (!tmp) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    unlink(tmp);
    nnfi_status st = NNFI_OK;
    char created[32];
    iso_now(created, sizeof created);
    hid_t fapl = make_fapl();
    hid_t f = fapl >= 0 ? H5Fcreate(tmp, H5F_ACC_EXCL, H5P_DEFAULT, fapl) : -1;
    if (fapl >= 0) H5Pclose(fapl);
    H5_TRY(f, path, "create the file");
    H5_TRY(attr_str(f, "kind", "critical_bits"), path, "write attribute kind");
    H5_TRY(attr_str(f, "nnfi_version", NNFI_VERSION), path, "write attribute nnfi_version");
    H5_TRY(attr_str(f, "git_sha", NNFI_GIT_SHA), path, "write attribute git_sha");
    H5_TRY(attr_u64(f, "seed", c->seed), path, "write attribute seed");
    H5_TRY(attr_str(f, "config", c->source_text ? c->source_text : ""), path, "write attribute config");
    H5_TRY(attr_str(f, "config_path", c->source_path ? c->source_path : ""), path, "write attribute config_path");
    H5_TRY(attr_str(f, "campaign", c->name ? c->name : ""), path, "write attribute campaign");
    H5_TRY(attr_str(f, "created", created), path, "write attribute created");
    if ((st = write_labels(f, path, r, n)) != NNFI_OK) goto out;
    if ((st = write_strata(f, path, r, n)) != NNFI_OK) goto out;
    for (size_t i = 0; i < n; i++)
        if ((st = write_summary(f, path, c, &r[i], &sites[i])) != NNFI_OK) goto out;
    H5_TRY(write_archive(f, archive), path, "write /search_units");
out:
    if (f >= 0 && H5Fclose(f) < 0 && st == NNFI_OK) st = h5_fail(path, "close the file");
    if (st == NNFI_OK) st = sync_file(tmp, path);
    if (st == NNFI_OK && rename(tmp, path) != 0)
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot rename %s over it\n  hint: check the directory's permissions", path,
                       tmp);
    if (st == NNFI_OK) sync_dir_of(path);
    else unlink(tmp);
    free(tmp);
    return st;
}

typedef struct collect {
    nnfi_search_summary *v;
    size_t n, cap;
    nnfi_status st;
} collect;

static herr_t one_summary(hid_t g, const char *name, const H5L_info_t *info, void *data)
{
    (void)info;
    collect *c = data;
    hid_t x = H5Gopen2(g, name, H5P_DEFAULT);
    if (x < 0) return 0;
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 4;
        nnfi_search_summary *v = realloc(c->v, cap * sizeof *v);
        if (!v) {
            H5Gclose(x);
            c->st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            return -1;
        }
        c->v = v;
        c->cap = cap;
    }
    nnfi_search_summary *s = &c->v[c->n++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    attr_read_str(x, "model", s->model, sizeof s->model);
    attr_read_str(x, "criterion", s->criterion, sizeof s->criterion);
    static const char *const u64[] = {"index", "elements", "checked", "pilot_elements", "bits", "evaluations_search",
                                      "evaluations_search_checked", "evaluations_exhaustive", "predicted",
                                      "true_positives", "false_positives", "false_negatives", "sites",
                                      "nonmonotone_sites", "unpooled_sites"};
    uint64_t *dst[] = {&s->index, &s->elements, &s->checked, &s->pilot_elements, &s->bits, &s->evals_search,
                       &s->evals_search_checked, &s->evals_exhaustive, &s->predicted, &s->tp, &s->fp, &s->fn,
                       &s->sites, &s->nonmonotone_sites, &s->unpooled_sites};
    for (size_t i = 0; i < sizeof u64 / sizeof *u64; i++) attr_read(x, u64[i], H5T_NATIVE_UINT64, dst[i]);
    attr_read(x, "recall", H5T_NATIVE_DOUBLE, &s->recall);
    attr_read(x, "precision", H5T_NATIVE_DOUBLE, &s->precision);
    attr_read(x, "seconds", H5T_NATIVE_DOUBLE, &s->seconds);
    H5Gclose(x);
    return 0;
}

nnfi_status nnfi_h5_search_summaries(const char *path, nnfi_search_summary **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    hid_t f = -1;
    H5E_BEGIN_TRY { /* not HDF5, or not readable: not a search file (the caller's own open says why) */
        f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    }
    H5E_END_TRY
    if (f < 0) return NNFI_OK;
    char kind[32] = "";
    attr_read_str(f, "kind", kind, sizeof kind);
    nnfi_status st = NNFI_OK;
    collect c = {NULL, 0, 0, NNFI_OK};
    uint32_t *xp = NULL;
    uint64_t *crit = NULL;
    if (strcmp(kind, "critical_bits") != 0) goto out;
    hid_t g = H5Gopen2(f, "search", H5P_DEFAULT);
    if (g < 0) {
        st = h5_fail(path, "open /search");
        goto out;
    }
    H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, one_summary, &c);
    H5Gclose(g);
    if ((st = c.st) != NNFI_OK) goto out;
    int64_t len = ds_length(f, "critical_strata/critical");
    if (len < 0) {
        st = h5_fail(path, "read /critical_strata");
        goto out;
    }
    xp = malloc((size_t)(len ? len : 1) * sizeof *xp);
    crit = malloc((size_t)(len ? len : 1) * sizeof *crit);
    if (!xp || !crit) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    if (len && (read_all(f, "critical_strata/experiment", H5T_NATIVE_UINT32, (hsize_t)len, xp) < 0 ||
                read_all(f, "critical_strata/critical", H5T_NATIVE_UINT64, (hsize_t)len, crit) < 0)) {
        st = h5_fail(path, "read /critical_strata");
        goto out;
    }
    for (int64_t i = 0; i < len; i++)
        for (size_t k = 0; k < c.n; k++)
            if (c.v[k].index == xp[i]) c.v[k].critical += crit[i];
    H5E_BEGIN_TRY { g = H5Gopen2(f, "search_units", H5P_DEFAULT); }
    H5E_END_TRY
    for (size_t k = 0; g >= 0 && k < c.n; k++) {
        attr_read(g, "units", H5T_NATIVE_UINT64, &c.v[k].units);
        attr_read(g, "units_wanted", H5T_NATIVE_UINT64, &c.v[k].units_wanted);
        attr_read(g, "shard_index", H5T_NATIVE_UINT64, &c.v[k].shard_index);
        attr_read(g, "shard_count", H5T_NATIVE_UINT64, &c.v[k].shard_count);
    }
    if (g >= 0) H5Gclose(g);
out:
    H5Fclose(f);
    free(xp);
    free(crit);
    if (st != NNFI_OK) {
        free(c.v);
        return st;
    }
    *out = c.v;
    *n = c.n;
    return NNFI_OK;
}
