/* h5_models.c - nnfi_h5_add_sites() and nnfi_h5_add_golden(): once per
 * model, its site table (/sites/<model>) and golden run (/golden/<model>:
 * logits, labels, accuracy, host facts), each written as one durable update.
 * On a resumed file whose group exists, the new data are checked against the
 * stored ones (site names; golden shape and labels) and a mismatch refused. */
#include "h5_writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nnfi_status check_model_name(const char *path, const char *model)
{
    if (!model || !*model || strchr(model, '/') || strcmp(model, ".") == 0)
        return NNFI_FAIL(NNFI_E_INVALID, "%s: model name '%s' cannot name an HDF5 group\n  hint: model names must be "
                                         "non-empty and contain no '/'",
                         path, model ? model : "(null)");
    return NNFI_OK;
}

/* Compare a stored string column with `n` strings. 0 = same. */
static int same_strings(hid_t g, const char *name, size_t n, const char *const *want, size_t stride)
{
    if (ds_length(g, name) != (int64_t)n) return -1;
    if (!n) return 0;
    hid_t ds = H5Dopen2(g, name, H5P_DEFAULT), t = vstr_type();
    char **got = calloc(n, sizeof *got);
    int rc = -1;
    if (ds >= 0 && t >= 0 && got && H5Dread(ds, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0) {
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            const char *w = *(const char *const *)((const char *)want + i * stride);
            if (!got[i] || strcmp(got[i], w) != 0) rc = -1;
            if (got[i]) H5free_memory(got[i]);
        }
    }
    free(got);
    if (t >= 0) H5Tclose(t);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

nnfi_status nnfi_h5_add_sites(nnfi_h5_results *r, const char *model, const nnfi_site *sites, size_t n)
{
    if (!r || (!sites && n))
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_add_sites: NULL argument\n  hint: this is a bug in the caller");
    NNFI_TRY(check_model_name(r->path, model));
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t f = -1, g = -1;
    const char **names = calloc(n ? n : 1, sizeof *names), **kinds = calloc(n ? n : 1, sizeof *kinds);
    const char **dtypes = calloc(n ? n : 1, sizeof *dtypes), **shapes = calloc(n ? n : 1, sizeof *shapes);
    char *shape_buf = malloc((n ? n : 1) * 200);
    uint64_t *numel = calloc(n ? n : 1, sizeof *numel);
    char gname[256], what[320];
    snprintf(gname, sizeof gname, "sites/%s", model);
    if (!names || !kinds || !dtypes || !shapes || !shape_buf || !numel) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory writing the sites of '%s' to %s", model, r->path);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const nnfi_site *s = &sites[i];
        names[i] = s->name;
        kinds[i] = nnfi_site_kind_name(s->kind);
        dtypes[i] = nnfi_dtype_name(s->dtype);
        numel[i] = s->numel;
        char *sh = shape_buf + i * 200;
        size_t used = (size_t)snprintf(sh, 200, "[");
        for (int d = 0; d < s->ndim && d < NNFI_SITE_MAX_DIMS && used < 200; d++)
            used += (size_t)snprintf(sh + used, 200 - used, "%s%" PRId64, d ? ", " : "", s->shape[d]);
        if (used < 200) snprintf(sh + used, 200 - used, "]");
        shapes[i] = sh;
    }
    update u;
    if ((st = update_begin(r->path, "open the result file to add sites", ((uint64_t)n + 16) * 512 + (64u << 10), &u)) != NNFI_OK) goto out;
    f = u.f;
    if (H5Lexists(f, "sites", H5P_DEFAULT) <= 0)
        H5_TRY(g = H5Gcreate2(f, "sites", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), r->path, "create group /sites");
    if (g >= 0) H5Gclose(g);
    g = -1;
    if (H5Lexists(f, gname, H5P_DEFAULT) > 0) { /* resumed: must be the same model */
        H5_TRY(g = H5Gopen2(f, gname, H5P_DEFAULT), r->path, "open the stored sites");
        if (same_strings(g, "name", n, (const char *const *)names, sizeof *names) != 0)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s: the sites of model '%s' differ from those stored in the file\n  hint: "
                                           "the model changed since the campaign started; resume with the original "
                                           "model, or start a new -o",
                           r->path, model);
        goto out;
    }
    snprintf(what, sizeof what, "write /%s", gname);
    H5_TRY(g = H5Gcreate2(f, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), r->path, what);
    H5_TRY(write_strs(g, "name", n, names), r->path, what);
    H5_TRY(write_strs(g, "kind", n, kinds), r->path, what);
    H5_TRY(write_strs(g, "dtype", n, dtypes), r->path, what);
    H5_TRY(write_num(g, "numel", NNFI_COL_U64, n, numel), r->path, what);
    H5_TRY(write_strs(g, "shape", n, shapes), r->path, what);
out:
    if (g >= 0) H5Gclose(g);
    if (f >= 0) st = update_end(&u, r->path, st);
    free(names);
    free(kinds);
    free(dtypes);
    free(shapes);
    free(shape_buf);
    free(numel);
    quiet_off(&q);
    return st;
}

/* Compare the stored golden labels and logits shape. 0 = same. */
static int same_golden(hid_t g, const int32_t *labels, uint64_t samples, uint32_t classes, uint32_t positions)
{
    hid_t ds = H5Dopen2(g, "logits", H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t d[3] = {0, 0, 0};
    int rank = positions > 1 ? 3 : 2;
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == rank && H5Sget_simple_extent_dims(sp, d, NULL) == rank &&
             d[0] == samples && d[rank - 1] == classes && (rank == 2 || d[1] == positions);
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    uint64_t n = samples * positions;
    if (!ok || ds_length(g, "labels") != (int64_t)n) return -1;
    int32_t *got = malloc(n * sizeof *got);
    ds = H5Dopen2(g, "labels", H5P_DEFAULT);
    ok = got && ds >= 0 && H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0 &&
         memcmp(got, labels, n * sizeof *got) == 0;
    if (ds >= 0) H5Dclose(ds);
    free(got);
    return ok ? 0 : -1;
}

nnfi_status nnfi_h5_add_golden(nnfi_h5_results *r, const char *model, const float *logits, const int32_t *labels,
                               uint64_t samples, uint32_t classes, uint32_t positions, double accuracy,
                               const char *const *facts)
{
    if (!r || !logits || !labels)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_add_golden: NULL argument\n  hint: this is a bug in the caller");
    NNFI_TRY(check_model_name(r->path, model));
    if (!positions) positions = 1;
    if (!samples || !classes)
        return NNFI_FAIL(NNFI_E_INVALID, "%s: golden run of '%s' with %" PRIu64 " samples and %u classes\n  hint: the "
                                         "eval set must not be empty",
                         r->path, model, samples, classes);
    for (size_t i = 0; facts && facts[i]; i++) {
        const char *eq = strchr(facts[i], '=');
        if (!eq || eq == facts[i] || (size_t)(eq - facts[i]) >= 128)
            return NNFI_FAIL(NNFI_E_INVALID, "%s: golden fact '%s' is not key=value\n  hint: facts are strings like "
                                             "\"threads=4\"",
                             r->path, facts[i]);
    }
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t f = -1, g = -1, sp = -1, dcpl = -1, ds = -1;
    char gname[256], what[320];
    snprintf(gname, sizeof gname, "golden/%s", model);
    snprintf(what, sizeof what, "write /%s", gname);
    update u;
    if ((st = update_begin(r->path, "open the result file to add the golden run",
                           (samples * positions * classes + samples * positions) * 8 + (64u << 10), &u)) != NNFI_OK)
        goto out;
    f = u.f;
    if (H5Lexists(f, "golden", H5P_DEFAULT) <= 0) {
        H5_TRY(g = H5Gcreate2(f, "golden", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), r->path, "create group /golden");
        H5Gclose(g);
        g = -1;
    }
    if (H5Lexists(f, gname, H5P_DEFAULT) > 0) { /* resumed: must be the same eval set */
        H5_TRY(g = H5Gopen2(f, gname, H5P_DEFAULT), r->path, "open the stored golden run");
        if (same_golden(g, labels, samples, classes, positions) != 0)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s: the golden run of model '%s' (%" PRIu64 " samples x %u classes) "
                                           "differs from the stored one in shape or labels\n  hint: the eval set "
                                           "changed since the campaign started; resume with the original data, or "
                                           "start a new -o",
                           r->path, model, samples, classes);
        goto out;
    }
    H5_TRY(g = H5Gcreate2(f, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), r->path, what);
    /* [sample, class], or [sample, position, class] for a class per position */
    int rank = positions > 1 ? 3 : 2;
    uint64_t width = (uint64_t)positions * classes;
    hsize_t rows = 65536 / width ? 65536 / width : 1;
    hsize_t dims[3] = {samples, positions, classes}, chunk[3] = {samples < rows ? samples : rows, positions, classes};
    if (rank == 2) dims[1] = chunk[1] = classes;
    H5_TRY(sp = H5Screate_simple(rank, dims, NULL), r->path, what);
    H5_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE), r->path, what);
    H5_TRY(H5Pset_chunk(dcpl, rank, chunk), r->path, what);
    if (nnfi_h5_filters) {
        H5_TRY(H5Pset_shuffle(dcpl), r->path, what);
        H5_TRY(H5Pset_deflate(dcpl, 1), r->path, what);
    }
    H5_TRY(H5Pset_fletcher32(dcpl), r->path, what);
    H5_TRY(ds = H5Dcreate2(g, "logits", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT), r->path, what);
    H5_TRY(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, logits), r->path, what);
    H5_TRY(attr_column(ds, NNFI_COL_F64, "logit",
                       rank == 2 ? "fault-free logits [sample, class]" : "fault-free logits [sample, position, class]",
                       NNFI_CAT_NONE),
           r->path, what);
    H5_TRY(write_num(g, "labels", NNFI_COL_I32, samples * positions, labels), r->path, what);
    H5_TRY(attr_f64(g, "accuracy", accuracy), r->path, what);
    H5_TRY(attr_u64(g, "samples", samples), r->path, what);
    H5_TRY(attr_u64(g, "classes", classes), r->path, what);
    /* what one outcome row is: a sample ([N, C] outputs), or a (sample,
     * position) pair ([N, T, C]: labels are [sample x position], flattened) */
    H5_TRY(attr_u64(g, "positions", positions), r->path, what);
    H5_TRY(attr_str(g, "outcome_unit", positions > 1 ? "position" : "sample"), r->path, what);
    for (size_t i = 0; facts && facts[i]; i++) {
        char key[128];
        const char *eq = strchr(facts[i], '=');
        snprintf(key, sizeof key, "%.*s", (int)(eq - facts[i]), facts[i]);
        H5_TRY(attr_str(g, key, eq + 1), r->path, what);
    }
out:
    if (ds >= 0) H5Dclose(ds);
    if (dcpl >= 0) H5Pclose(dcpl);
    if (sp >= 0) H5Sclose(sp);
    if (g >= 0) H5Gclose(g);
    if (f >= 0) st = update_end(&u, r->path, st);
    quiet_off(&q);
    return st;
}
