/* h5_merge.c - `nnfi merge`: join the shard files of one campaign (written by
 * `nnfi run --shard I/N`) into one result file that equals, in every /trials
 * column, a single run of the whole campaign (see nnfi_h5_merge() in
 * nnfi/h5_results.h for the contract and the refusals).
 *
 * How:
 *   1. read each shard's root attributes and refuse mixes (config hash, shard
 *      count, planned trials, a shard given twice, a shard missing);
 *   2. rebuild the campaign from the `config` attribute (parsing only: no model
 *      is opened) and the plan from /experiments and /points, so that each
 *      shard's share comes from the very functions `nnfi run --shard` used:
 *      nnfi_shard_of() and the dispatcher (src/campaign/dispatch.h), which
 *      also knows which trials a stopping rule legitimately left undone;
 *   3. compare /experiments, /points, /sites and /golden of every shard with
 *      the first one (values and attributes, bit for bit);
 *   4. walk each shard's `done` column: a done row outside the shard's share
 *      or done in two shards is refused; the dispatcher then hands out what
 *      is still missing in the share, which names the incomplete ranges;
 *   5. write the output with the result writer itself (nnfi_h5_create, then
 *      nnfi_h5_put_rows + nnfi_h5_checkpoint per block of rows), copy
 *      /sites/<model> and /golden/<model> of the first shard (H5Ocopy),
 *      concatenate /faults in shard order, and set the root attributes.
 * The output is built under OUT.merging next to OUT and renamed over OUT only
 * when complete, so a failed merge never leaves a half-written OUT (nor
 * destroys an existing one under --force).
 *
 * Memory: O(trials) bytes for the share checks (a 4-byte owner per trial and
 * the dispatcher's 2 bytes) and O(block) for rows; shards are read in blocks
 * of MERGE_BLOCK rows.
 *
 * Usable alone: the function needs only nnfi_core (no MPI initialisation);
 * tests/merge/test_merge.py drives it through `nnfi merge`.
 */
#include "nnfi/h5_results.h"

#include "h5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nnfi/dispatch.h" /* nnfi_shard_of + the dispatcher: a shard's share, as `nnfi run --shard` saw it */
#include "nnfi/build_info.h"

#define MERGE_BLOCK (1u << 18) /* rows read from a shard at a time */
#define MAX_RANGES_SHOWN 4     /* missing trial ranges named in a message */

/* ------------------------------------------------------------ utilities -- */

/* Free the strings HDF5 allocated when reading variable-length data. */
static void vlen_free(hid_t mtype, hid_t space, void *buf)
{
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mtype, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf);
#endif
}

static hid_t mem_type_of(nnfi_column_kind k)
{
    switch (k) {
    case NNFI_COL_U8: return H5T_NATIVE_UINT8;
    case NNFI_COL_U32: return H5T_NATIVE_UINT32;
    case NNFI_COL_I32: return H5T_NATIVE_INT32;
    case NNFI_COL_U64: return H5T_NATIVE_UINT64;
    case NNFI_COL_F64: return H5T_NATIVE_DOUBLE;
    }
    return H5T_NATIVE_UINT8;
}

static void iso_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Scalar numeric attribute; -1 when absent or unreadable. */
static int attr_num(hid_t obj, const char *name, hid_t mtype, void *out)
{
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t sp = H5Aget_space(a);
    int ok = sp >= 0 && H5Sget_simple_extent_npoints(sp) == 1 && H5Aread(a, mtype, out) >= 0;
    if (sp >= 0) H5Sclose(sp);
    H5Aclose(a);
    return ok ? 0 : -1;
}

/* A scalar string attribute (variable or fixed length), malloc'd; NULL when
 * absent or not a string. */
static char *attr_text(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    char *res = NULL;
    hid_t ft = H5Aget_type(a);
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = vstr_type();
            char *s = NULL;
            if (mt >= 0 && H5Aread(a, mt, &s) >= 0 && s) {
                res = strdup(s);
                H5free_memory(s);
            }
            if (mt >= 0) H5Tclose(mt);
        } else {
            size_t len = H5Tget_size(ft);
            res = calloc(len + 1, 1);
            hid_t mt = H5Tcopy(ft);
            if (res && (mt < 0 || H5Aread(a, mt, res) < 0)) {
                free(res);
                res = NULL;
            }
            if (mt >= 0) H5Tclose(mt);
        }
    }
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return res;
}

static herr_t attr_put(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *val)
{
    herr_t rc = -1;
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    if (sp < 0) return -1;
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) goto out;
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto out;
    rc = H5Awrite(a, mtype, val);
    H5Aclose(a);
out:
    H5Sclose(sp);
    return rc;
}

static herr_t attr_put_i32(hid_t obj, const char *name, int32_t v)
{
    return attr_put(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &v);
}

/* n == 0: a scalar string; else a 1-D array of n strings. */
static herr_t attr_put_strs(hid_t obj, const char *name, hsize_t n, const char *const *v)
{
    hid_t t = vstr_type();
    if (t < 0) return -1;
    herr_t rc = attr_put(obj, name, t, t, n, v);
    H5Tclose(t);
    return rc;
}

/* Read rows [lo, lo + count) of a 1-D dataset as mtype. */
static herr_t read_block(hid_t ds, hid_t mtype, hsize_t lo, hsize_t count, void *buf)
{
    if (!count) return 0;
    herr_t rc = -1;
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &count, NULL);
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &lo, NULL, &count, NULL) >= 0)
        rc = H5Dread(ds, mtype, ms, fs, H5P_DEFAULT, buf);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    return rc;
}

/* A whole 1-D dataset of n values as mtype (n must match). */
static herr_t read_all(hid_t loc, const char *name, hid_t mtype, hsize_t n, void *buf)
{
    if (ds_length(loc, name) != (int64_t)n) return -1;
    if (!n) return 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    herr_t rc = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    H5Dclose(ds);
    return rc;
}

/* ------------------------------------------------------- the shard files -- */

typedef struct shard {
    const char *path;
    int32_t index, count, world;
    uint64_t hash, total;
    char *config_path;  /* the campaign file it was run from (for hints) */
    char *slurm_job_id; /* NULL when absent */
    dev_t dev;
    ino_t ino;
} shard;

static hid_t open_ro(const char *path) { return H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT); }

/* Read what the cross-checks need from a shard's root. */
static nnfi_status read_shard_head(shard *s)
{
    struct stat sb;
    if (stat(s->path, &sb) != 0)
        return NNFI_FAIL(NNFI_E_IO, "%s: %s\n  hint: give the shard files written by 'nnfi run --shard I/N'", s->path,
                         strerror(errno));
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    if (H5Fis_hdf5(s->path) <= 0)
        return NNFI_FAIL(NNFI_E_IO, "%s: not an HDF5 file, so not an nnfi result file\n  hint: give the shard files "
                                    "written by 'nnfi run --shard I/N'",
                         s->path);
    hid_t f = open_ro(s->path);
    if (f < 0) return h5_fail(s->path, "open the shard file");
    nnfi_status st = NNFI_OK;
    int32_t schema = 0;
    if (attr_num(f, "schema_version", H5T_NATIVE_INT32, &schema) < 0 ||
        attr_num(f, "config_hash", H5T_NATIVE_UINT64, &s->hash) < 0 || ds_length(f, "trials/done") < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: not an nnfi result file (no schema_version/config_hash attributes or no "
                                  "/trials/done)\n  hint: give the shard files written by 'nnfi run --shard I/N'",
                       s->path);
        goto out;
    }
    if (schema != NNFI_RESULTS_SCHEMA_VERSION) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s: result schema version %d, this nnfi merges version %d\n  hint: merge with "
                                       "the nnfi version that wrote the shards",
                       s->path, (int)schema, NNFI_RESULTS_SCHEMA_VERSION);
        goto out;
    }
    s->index = 0;
    s->count = 1;
    s->world = 1;
    attr_num(f, "shard_index", H5T_NATIVE_INT32, &s->index); /* absent: a whole-campaign file, shard 0 of 1 */
    attr_num(f, "shard_count", H5T_NATIVE_INT32, &s->count);
    attr_num(f, "world_size", H5T_NATIVE_INT32, &s->world);
    if (s->count < 1 || s->index < 0 || s->index >= s->count) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s: shard_index %d / shard_count %d make no sense\n  hint: the file is "
                                       "damaged; rerun that shard with --force",
                       s->path, (int)s->index, (int)s->count);
        goto out;
    }
    s->total = (uint64_t)ds_length(f, "trials/done");
    s->config_path = attr_text(f, "config_path");
    s->slurm_job_id = attr_text(f, "slurm_job_id");
out:
    H5Fclose(f);
    return st;
}

static int by_index(const void *a, const void *b)
{
    const shard *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

static const char *campaign_of(const shard *s) { return s->config_path && *s->config_path ? s->config_path : "CAMPAIGN.yaml"; }

/* Refuse shards of other campaigns, other splits, duplicates and gaps.
 * Sorts the shards by index. */
static nnfi_status check_set(shard *s, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        if (s[i].hash != s[0].hash)
            return NNFI_FAIL(NNFI_E_INVALID, "%s and %s were written for different campaigns (config hash %016" PRIx64
                                             " vs %016" PRIx64 ")\n  hint: merge the shards of one campaign file only "
                                             "(each file keeps its campaign text in the 'config' attribute)",
                             s[0].path, s[i].path, s[0].hash, s[i].hash);
        if (s[i].count != s[0].count)
            return NNFI_FAIL(NNFI_E_INVALID, "%s is shard %d of %d but %s is shard %d of %d\n  hint: merge the files "
                                             "of one split: every shard of 'nnfi run --shard I/N' with the same N",
                             s[0].path, (int)s[0].index, (int)s[0].count, s[i].path, (int)s[i].index, (int)s[i].count);
        if (s[i].total != s[0].total)
            return NNFI_FAIL(NNFI_E_INVALID, "%s plans %" PRIu64 " trials but %s plans %" PRIu64 "\n  hint: the plan "
                                             "depends on the model (Leveugle budgets): run every shard with the same "
                                             "model files",
                             s[0].path, s[0].total, s[i].path, s[i].total);
    }
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            if (s[i].dev == s[j].dev && s[i].ino == s[j].ino) {
                if (strcmp(s[i].path, s[j].path) == 0)
                    return NNFI_FAIL(NNFI_E_INVALID, "%s is given twice\n  hint: give each shard file once", s[i].path);
                return NNFI_FAIL(NNFI_E_INVALID, "%s and %s are the same file, given twice\n  hint: give each shard "
                                                 "file once",
                                 s[i].path, s[j].path);
            }
            if (s[i].index == s[j].index)
                return NNFI_FAIL(NNFI_E_INVALID, "shard %d of %d is given twice: %s and %s\n  hint: give each shard "
                                                 "once (keep the complete one; 'nnfi inspect' shows what a file holds)",
                                 (int)s[i].index, (int)s[i].count, s[i].path, s[j].path);
        }
    qsort(s, n, sizeof *s, by_index);
    if ((int64_t)n != s[0].count) {
        int32_t miss = 0;
        size_t nmiss = (size_t)s[0].count - n;
        for (size_t i = 0; i < n && s[i].index == miss; i++) miss++;
        char given[256];
        size_t used = 0;
        given[0] = '\0';
        for (size_t i = 0; i < n && used < sizeof given - 16; i++)
            used += (size_t)snprintf(given + used, sizeof given - used, "%s%d", i ? ", " : "", (int)s[i].index);
        if (n > 0 && used >= sizeof given - 16) snprintf(given + used, sizeof given - used, ", ...");
        return NNFI_FAIL(NNFI_E_INVALID, "missing shard %d of %d%s (given: %s)\n  hint: run it with 'nnfi run %s -o "
                                         "SHARD.h5 --shard %d/%d', then merge all %d files",
                         (int)miss, (int)s[0].count, nmiss > 1 ? " and others" : "", given, campaign_of(&s[0]),
                         (int)miss, (int)s[0].count, (int)s[0].count);
    }
    return NNFI_OK;
}

/* -------------------------------------------------- campaign and plan -- */

/* The campaign from the first shard's `config` text (parsed only). */
static nnfi_status load_campaign(const shard *s0, nnfi_campaign **c)
{
    hid_t f = open_ro(s0->path);
    if (f < 0) return h5_fail(s0->path, "open the shard file");
    char *text = attr_text(f, "config");
    H5Fclose(f);
    if (!text)
        return NNFI_FAIL(NNFI_E_IO, "%s: no 'config' attribute (the campaign text)\n  hint: the file is damaged; rerun "
                                    "that shard with --force",
                         s0->path);
    char name[1200];
    snprintf(name, sizeof name, "%s (config attribute of %s)", campaign_of(s0), s0->path);
    nnfi_status st = nnfi_campaign_load_text(text, strlen(text), name, c);
    free(text);
    if (st != NNFI_OK) return st;
    if ((*c)->hash != s0->hash) {
        nnfi_campaign_free(*c);
        *c = NULL;
        return NNFI_FAIL(NNFI_E_INVALID, "%s: the 'config' attribute does not hash to config_hash %016" PRIx64
                                         "\n  hint: the file is damaged or was edited; rerun that shard with --force",
                         s0->path, s0->hash);
    }
    return NNFI_OK;
}

/* The plan as the shards recorded it in /experiments and /points (which the
 * merge output gets again through nnfi_h5_create). Built like
 * nnfi_plan_create() builds it, so nnfi_plan_free() frees it. */
static nnfi_status load_plan(const shard *s0, const nnfi_campaign *c, nnfi_plan **out)
{
    *out = NULL;
    nnfi_status st = NNFI_OK;
    hid_t f = open_ro(s0->path), t = vstr_type();
    char **names = NULL;
    int names_read = 0;
    uint64_t *efirst = NULL, *etrials = NULL, *pfirst = NULL, *ptrials = NULL;
    uint32_t *npts = NULL, *pexp = NULL, *ppt = NULL;
    double *px = NULL;
    uint8_t *prate = NULL;
    nnfi_plan *p = NULL;
    if (f < 0 || t < 0) {
        st = h5_fail(s0->path, "open the shard file");
        goto out;
    }
    int64_t ne = ds_length(f, "experiments/name"), np = ds_length(f, "points/experiment");
    if (ne < 0 || np < 0 || (uint64_t)ne != c->experiments_count) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /experiments or /points is missing or does not match the campaign's %u "
                                  "experiments\n  hint: the file is damaged; rerun that shard with --force",
                       s0->path, c->experiments_count);
        goto out;
    }
    size_t e_n = (size_t)ne, p_n = (size_t)np;
    names = calloc(e_n + 1, sizeof *names);
    efirst = calloc(e_n + 1, sizeof *efirst);
    etrials = calloc(e_n + 1, sizeof *etrials);
    npts = calloc(e_n + 1, sizeof *npts);
    pexp = calloc(p_n + 1, sizeof *pexp);
    ppt = calloc(p_n + 1, sizeof *ppt);
    px = calloc(p_n + 1, sizeof *px);
    prate = calloc(p_n + 1, sizeof *prate);
    pfirst = calloc(p_n + 1, sizeof *pfirst);
    ptrials = calloc(p_n + 1, sizeof *ptrials);
    p = calloc(1, sizeof *p);
    if (p) p->experiments = calloc(e_n + 1, sizeof *p->experiments);
    if (!names || !efirst || !etrials || !npts || !pexp || !ppt || !px || !prate || !pfirst || !ptrials || !p ||
        !p->experiments) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading the plan of %s", s0->path);
        goto out;
    }
    H5_TRY(read_all(f, "experiments/name", t, e_n, names), s0->path, "read /experiments/name");
    names_read = 1;
    H5_TRY(read_all(f, "experiments/first_trial", H5T_NATIVE_UINT64, e_n, efirst), s0->path, "read /experiments");
    H5_TRY(read_all(f, "experiments/trials", H5T_NATIVE_UINT64, e_n, etrials), s0->path, "read /experiments");
    H5_TRY(read_all(f, "experiments/n_points", H5T_NATIVE_UINT32, e_n, npts), s0->path, "read /experiments");
    H5_TRY(read_all(f, "points/experiment", H5T_NATIVE_UINT32, p_n, pexp), s0->path, "read /points");
    H5_TRY(read_all(f, "points/point", H5T_NATIVE_UINT32, p_n, ppt), s0->path, "read /points");
    H5_TRY(read_all(f, "points/x", H5T_NATIVE_DOUBLE, p_n, px), s0->path, "read /points");
    H5_TRY(read_all(f, "points/is_rate", H5T_NATIVE_UINT8, p_n, prate), s0->path, "read /points");
    H5_TRY(read_all(f, "points/first_trial", H5T_NATIVE_UINT64, p_n, pfirst), s0->path, "read /points");
    H5_TRY(read_all(f, "points/trials", H5T_NATIVE_UINT64, p_n, ptrials), s0->path, "read /points");
    p->campaign = c;
    p->n_experiments = (uint32_t)e_n;
    size_t k = 0;
    uint64_t next = 0;
    int ok = 1;
    for (size_t e = 0; e < e_n && ok; e++) {
        nnfi_plan_experiment *x = &p->experiments[e];
        x->cfg = &c->experiments[e];
        x->n_points = npts[e];
        x->first = efirst[e];
        x->trials = etrials[e];
        ok = names[e] && c->experiments[e].name && strcmp(names[e], c->experiments[e].name) == 0 && npts[e] > 0 &&
             efirst[e] == next && k + npts[e] <= p_n;
        x->points = ok ? calloc(npts[e], sizeof *x->points) : NULL;
        if (ok && !x->points) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading the plan of %s", s0->path);
            goto out;
        }
        for (uint32_t q = 0; ok && q < npts[e]; q++, k++) {
            ok = pexp[k] == e && ppt[k] == q && pfirst[k] == next;
            x->points[q].x = px[k];
            x->points[q].is_rate = prate[k] != 0;
            x->points[q].first = pfirst[k];
            x->points[q].trials = ptrials[k];
            next += ptrials[k];
        }
        ok = ok && next - x->first == x->trials;
    }
    if (!ok || k != p_n || next != s0->total) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /experiments and /points do not describe the %" PRIu64 " trials of /trials "
                                  "for this campaign\n  hint: the file is damaged; rerun that shard with --force",
                       s0->path, s0->total);
        goto out;
    }
    p->total_trials = next;
    *out = p;
    p = NULL;
out:
    if (names_read && c->experiments_count) {
        hsize_t n = c->experiments_count;
        hid_t sp = H5Screate_simple(1, &n, NULL);
        if (sp >= 0) vlen_free(t, sp, names);
        if (sp >= 0) H5Sclose(sp);
    }
    nnfi_plan_free(p);
    free(names);
    free(efirst);
    free(etrials);
    free(npts);
    free(pexp);
    free(ppt);
    free(px);
    free(prate);
    free(pfirst);
    free(ptrials);
    if (t >= 0) H5Tclose(t);
    if (f >= 0) H5Fclose(f);
    return st;
}

/* ------------------------------------------- comparing tables and groups -- */

/* Names of an object's attributes, sorted (H5Aiterate2 by name). */
typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static herr_t collect_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)loc;
    (void)info;
    name_list *l = data;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return -1;
    l->n++;
    return 0;
}

static int attr_names(hid_t obj, name_list *l)
{
    memset(l, 0, sizeof *l);
    hsize_t idx = 0;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr, l) < 0) {
        names_free(l);
        return -1;
    }
    return 0;
}

/* Same type, shape and values (strings compared as text, anything else
 * byte for byte in its file type). 1 same, 0 different, -1 error. */
static int same_values(hid_t ta, hid_t sa, hid_t tb, hid_t sb, int is_attr, hid_t a, hid_t b)
{
    if (H5Tequal(ta, tb) <= 0) return 0;
    int nd = H5Sget_simple_extent_ndims(sa);
    if (nd < 0 || nd != H5Sget_simple_extent_ndims(sb) || nd > 8) return nd < 0 ? -1 : 0;
    hsize_t da[8], db[8];
    H5Sget_simple_extent_dims(sa, da, NULL);
    H5Sget_simple_extent_dims(sb, db, NULL);
    for (int i = 0; i < nd; i++)
        if (da[i] != db[i]) return 0;
    hssize_t npts = H5Sget_simple_extent_npoints(sa);
    if (npts < 0) return -1;
    if (npts == 0) return 1;
    int vstr = H5Tis_variable_str(ta) > 0;
    hid_t mt = vstr ? vstr_type() : H5Tcopy(ta);
    size_t size = vstr ? sizeof(char *) : H5Tget_size(ta);
    void *ba = calloc((size_t)npts, size), *bb = calloc((size_t)npts, size);
    int rc = -1;
    if (mt >= 0 && ba && bb) {
        herr_t ra = is_attr ? H5Aread(a, mt, ba) : H5Dread(a, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, ba);
        herr_t rb = ra < 0 ? -1 : is_attr ? H5Aread(b, mt, bb) : H5Dread(b, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, bb);
        if (ra >= 0 && rb >= 0) {
            if (vstr) {
                rc = 1;
                for (hssize_t i = 0; i < npts && rc; i++) {
                    const char *x = ((char **)ba)[i], *y = ((char **)bb)[i];
                    rc = strcmp(x ? x : "", y ? y : "") == 0;
                }
            } else {
                rc = memcmp(ba, bb, (size_t)npts * size) == 0;
            }
        }
        if (vstr && ra >= 0) vlen_free(mt, sa, ba);
        if (vstr && rb >= 0) vlen_free(mt, sb, bb);
    }
    if (mt >= 0) H5Tclose(mt);
    free(ba);
    free(bb);
    return rc;
}

/* Same attribute names and values. 1 same, 0 different (*which = the name,
 * malloc'd), -1 error. */
static int same_attrs(hid_t a, hid_t b, char **which)
{
    name_list la, lb;
    if (attr_names(a, &la) < 0) return -1;
    if (attr_names(b, &lb) < 0) {
        names_free(&la);
        return -1;
    }
    int rc = 1;
    for (size_t i = 0; i < la.n && rc == 1; i++)
        if (i >= lb.n || strcmp(la.v[i], lb.v[i]) != 0) {
            rc = 0;
            *which = strdup(la.v[i]);
        }
    if (rc == 1 && lb.n > la.n) {
        rc = 0;
        *which = strdup(lb.v[la.n]);
    }
    for (size_t i = 0; i < la.n && rc == 1; i++) {
        hid_t xa = H5Aopen(a, la.v[i], H5P_DEFAULT), xb = H5Aopen(b, la.v[i], H5P_DEFAULT);
        hid_t ta = xa >= 0 ? H5Aget_type(xa) : -1, tb = xb >= 0 ? H5Aget_type(xb) : -1;
        hid_t sa = xa >= 0 ? H5Aget_space(xa) : -1, sb = xb >= 0 ? H5Aget_space(xb) : -1;
        rc = ta < 0 || tb < 0 || sa < 0 || sb < 0 ? -1 : same_values(ta, sa, tb, sb, 1, xa, xb);
        if (rc == 0) *which = strdup(la.v[i]);
        if (sa >= 0) H5Sclose(sa);
        if (sb >= 0) H5Sclose(sb);
        if (ta >= 0) H5Tclose(ta);
        if (tb >= 0) H5Tclose(tb);
        if (xa >= 0) H5Aclose(xa);
        if (xb >= 0) H5Aclose(xb);
    }
    names_free(&la);
    names_free(&lb);
    return rc;
}

/* Compare object `name` under the roots of files fa and fb, recursively:
 * the same members, dataset types, shapes, values and attributes. 1 same;
 * 0 different, with the differing path in `where`; -1 error. */
static int same_tree(hid_t fa, hid_t fb, const char *name, char *where, size_t wn)
{
    snprintf(where, wn, "/%s", name);
    int ea = H5Lexists(fa, name, H5P_DEFAULT) > 0, eb = H5Lexists(fb, name, H5P_DEFAULT) > 0;
    if (!ea || !eb) return ea == eb;
    hid_t a = H5Oopen(fa, name, H5P_DEFAULT), b = H5Oopen(fb, name, H5P_DEFAULT);
    int rc = -1;
    if (a < 0 || b < 0) goto out;
    H5I_type_t ia = H5Iget_type(a), ib = H5Iget_type(b);
    if (ia != ib) {
        rc = 0;
        goto out;
    }
    char *attr = NULL;
    rc = same_attrs(a, b, &attr);
    if (rc == 0) {
        snprintf(where, wn, "/%s (attribute %s)", name, attr ? attr : "?");
        free(attr);
        goto out;
    }
    if (rc < 0) goto out;
    if (ia == H5I_DATASET) {
        hid_t ta = H5Dget_type(a), tb = H5Dget_type(b), sa = H5Dget_space(a), sb = H5Dget_space(b);
        rc = ta < 0 || tb < 0 || sa < 0 || sb < 0 ? -1 : same_values(ta, sa, tb, sb, 0, a, b);
        if (sa >= 0) H5Sclose(sa);
        if (sb >= 0) H5Sclose(sb);
        if (ta >= 0) H5Tclose(ta);
        if (tb >= 0) H5Tclose(tb);
    } else if (ia == H5I_GROUP) {
        H5G_info_t ga, gb;
        if (H5Gget_info(a, &ga) < 0 || H5Gget_info(b, &gb) < 0) {
            rc = -1;
            goto out;
        }
        if (ga.nlinks != gb.nlinks) {
            rc = 0;
            goto out;
        }
        char member[512], path[1024];
        for (hsize_t i = 0; i < ga.nlinks && rc == 1; i++) {
            if (H5Lget_name_by_idx(a, ".", H5_INDEX_NAME, H5_ITER_INC, i, member, sizeof member, H5P_DEFAULT) < 0) {
                rc = -1;
                break;
            }
            snprintf(path, sizeof path, "%s/%s", name, member);
            rc = same_tree(fa, fb, path, where, wn);
        }
    }
out:
    if (a >= 0) H5Oclose(a);
    if (b >= 0) H5Oclose(b);
    return rc;
}

/* /experiments, /points, /sites and /golden of shard s equal those of s0. */
static nnfi_status check_tables(const shard *s0, const shard *s)
{
    static const char *const tables[] = {"experiments", "points", "sites", "golden"};
    nnfi_status st = NNFI_OK;
    hid_t fa = open_ro(s0->path), fb = fa >= 0 ? open_ro(s->path) : -1;
    if (fa < 0 || fb < 0) {
        st = h5_fail(fa < 0 ? s0->path : s->path, "open the shard file");
        goto out;
    }
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char where[1200];
        int rc = same_tree(fa, fb, tables[i], where, sizeof where);
        if (rc < 0) {
            st = h5_fail(s->path, "compare its tables with the first shard's");
            goto out;
        }
        if (rc == 0) {
            st = NNFI_FAIL(NNFI_E_INVALID, "%s and %s differ in %s\n  hint: every shard must be run with the same "
                                           "models and eval data (same sites and golden run); rerun the odd shard "
                                           "with 'nnfi run %s -o %s --shard %d/%d --force'",
                           s0->path, s->path, where, campaign_of(s), s->path, (int)s->index, (int)s->count);
            goto out;
        }
    }
out:
    if (fb >= 0) H5Fclose(fb);
    if (fa >= 0) H5Fclose(fa);
    return st;
}

/* ------------------------------------------------------------ the rows -- */

/* Reads a shard's /trials in blocks: `done` and every column of the schema. */
typedef struct row_reader {
    const shard *s;
    hid_t f;
    hid_t *ds;     /* one per column of NNFI_TRIAL_COLUMNS */
    uint8_t **buf; /* one block per column */
    const nnfi_column_info *cols;
    size_t n_cols, i_done;
} row_reader;

static void reader_close(row_reader *r)
{
    for (size_t i = 0; r->ds && i < r->n_cols; i++)
        if (r->ds[i] >= 0) H5Dclose(r->ds[i]);
    for (size_t i = 0; r->buf && i < r->n_cols; i++) free(r->buf[i]);
    free(r->ds);
    free(r->buf);
    if (r->f >= 0) H5Fclose(r->f);
    r->f = -1;
    r->ds = NULL;
    r->buf = NULL;
}

static nnfi_status reader_open(row_reader *r, const shard *s)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->cols = nnfi_trial_columns(&r->n_cols);
    r->f = open_ro(s->path);
    if (r->f < 0) return h5_fail(s->path, "open the shard file");
    r->ds = malloc(r->n_cols * sizeof *r->ds);
    r->buf = calloc(r->n_cols, sizeof *r->buf);
    if (!r->ds || !r->buf) {
        reader_close(r);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", s->path);
    }
    for (size_t i = 0; i < r->n_cols; i++) r->ds[i] = -1;
    for (size_t i = 0; i < r->n_cols; i++) {
        char name[96];
        snprintf(name, sizeof name, "trials/%s", r->cols[i].name);
        if (strcmp(r->cols[i].name, "done") == 0) r->i_done = i;
        if (ds_length(r->f, name) != (int64_t)s->total || (r->ds[i] = H5Dopen2(r->f, name, H5P_DEFAULT)) < 0) {
            nnfi_status st = NNFI_FAIL(NNFI_E_IO, "%s: /%s is missing or does not hold %" PRIu64 " rows\n  hint: the "
                                                  "file is damaged; rerun that shard with --force",
                                       s->path, name, s->total);
            reader_close(r);
            return st;
        }
        r->buf[i] = malloc((size_t)MERGE_BLOCK * r->cols[i].size);
        if (!r->buf[i]) {
            reader_close(r);
            return NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", s->path);
        }
    }
    return NNFI_OK;
}

/* Read block [lo, lo + count): `done` only, or every column. */
static nnfi_status reader_block(row_reader *r, uint64_t lo, uint64_t count, int all)
{
    for (size_t i = 0; i < r->n_cols; i++) {
        if (!all && i != r->i_done) continue;
        if (read_block(r->ds[i], mem_type_of(r->cols[i].kind), lo, count, r->buf[i]) < 0) {
            char what[128];
            snprintf(what, sizeof what, "read /trials/%s", r->cols[i].name);
            return h5_fail(r->s->path, what);
        }
    }
    return NNFI_OK;
}

/* Row k of the block, from the column buffers. */
static void reader_row(const row_reader *r, size_t k, uint64_t trial, nnfi_trial_row *row)
{
    memset(row, 0, sizeof *row);
    row->trial = trial;
    for (size_t i = 0; i < r->n_cols; i++)
        memcpy((char *)row + r->cols[i].offset, r->buf[i] + k * r->cols[i].size, r->cols[i].size);
}

/* Name up to MAX_RANGES_SHOWN missing ranges as "a-b, c, ...". */
static void describe_missing(nnfi_dispatch *d, char *buf, size_t n, uint64_t *missing, int *waits)
{
    uint64_t lo, hi, cur_lo = 0, cur_hi = 0;
    size_t used = 0, shown = 0, ranges = 0;
    buf[0] = '\0';
    *missing = 0;
    *waits = 0;
    for (;;) {
        nnfi_next nx = nnfi_dispatch_next(d, 1, &lo, &hi);
        if (nx == NNFI_NEXT_WAIT) *waits = 1;
        int more = nx == NNFI_NEXT_RANGE;
        if (more && hi > lo && lo == cur_hi && cur_hi > cur_lo) { /* the dispatcher splits long runs: join them */
            cur_hi = hi;
            *missing += hi - lo;
            continue;
        }
        if (cur_hi > cur_lo) { /* flush the run so far */
            ranges++;
            if (shown < MAX_RANGES_SHOWN && used < n) {
                if (cur_hi - cur_lo == 1)
                    used += (size_t)snprintf(buf + used, n - used, "%s%" PRIu64, shown ? ", " : "", cur_lo);
                else
                    used += (size_t)snprintf(buf + used, n - used, "%s%" PRIu64 "-%" PRIu64, shown ? ", " : "",
                                             cur_lo, cur_hi - 1);
                shown++;
            }
        }
        if (!more) break;
        cur_lo = lo;
        cur_hi = hi;
        *missing += hi - lo;
    }
    if (ranges > shown && used < n) snprintf(buf + used, n - used, " and %zu more range(s)", ranges - shown);
}

/* Every done row of every shard lies in that shard's share and in no other
 * shard; every trial of a share that the campaign runs is done. */
static nnfi_status check_shares(const shard *s, size_t n, const nnfi_campaign *c, const nnfi_plan *p)
{
    uint64_t total = p->total_trials;
    uint32_t *owner = calloc(total ? total : 1, sizeof *owner); /* shard index + 1 */
    if (!owner) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %" PRIu64 " trials", total);
    nnfi_status st = NNFI_OK;
    row_reader rd;
    memset(&rd, 0, sizeof rd);
    rd.f = -1;
    nnfi_dispatch *d = NULL;
    unsigned count = (unsigned)s[0].count;
    for (size_t i = 0; i < n && st == NNFI_OK; i++) {
        unsigned me = (unsigned)s[i].index;
        if ((st = reader_open(&rd, &s[i])) != NNFI_OK) break;
        if ((st = nnfi_dispatch_create(c, p, 1, me, count, &d)) != NNFI_OK) break;
        for (uint64_t lo = 0; lo < total && st == NNFI_OK; lo += MERGE_BLOCK) {
            uint64_t cnt = total - lo < MERGE_BLOCK ? total - lo : MERGE_BLOCK;
            if ((st = reader_block(&rd, lo, cnt, 0)) != NNFI_OK) break;
            const uint8_t *done = rd.buf[rd.i_done];
            int any = 0;
            for (uint64_t k = 0; k < cnt && !any; k++) any = done[k] != 0;
            if (!any) continue; /* nothing done here: the dispatcher sees the gap */
            if ((st = reader_block(&rd, lo, cnt, 1)) != NNFI_OK) break;
            for (uint64_t k = 0; k < cnt; k++) {
                if (!done[k]) continue;
                uint64_t t = lo + k;
                unsigned home = nnfi_shard_of(p, c, t, count);
                if (owner[t]) {
                    const shard *o = &s[owner[t] - 1];
                    st = NNFI_FAIL(NNFI_E_INVALID, "%s and %s both hold trial %" PRIu64 " (shards %d and %d of %d "
                                                   "overlap)\n  hint: give each shard once; a file with rows outside "
                                                   "its own share was not written by 'nnfi run --shard I/N'",
                                   o->path, s[i].path, t, (int)o->index, (int)me, (int)count);
                    break;
                }
                if (home != me) {
                    st = NNFI_FAIL(NNFI_E_INVALID, "%s (shard %d of %d) holds trial %" PRIu64 ", which belongs to "
                                                   "shard %u\n  hint: the shards overlap; merge files written by "
                                                   "'nnfi run --shard I/N' of one split",
                                   s[i].path, (int)me, (int)count, t, home);
                    break;
                }
                owner[t] = me + 1;
                nnfi_trial_row row;
                reader_row(&rd, (size_t)k, t, &row);
                nnfi_dispatch_finished(d, &row);
            }
        }
        if (st == NNFI_OK) {
            char ranges[512];
            uint64_t missing = 0;
            int waits = 0;
            describe_missing(d, ranges, sizeof ranges, &missing, &waits);
            if (missing || waits)
                st = NNFI_FAIL(NNFI_E_INVALID, "%s (shard %d of %d) is incomplete: %" PRIu64 " trial(s) of its share "
                                               "are not done: %s%s\n  hint: finish it with 'nnfi run %s -o %s --shard "
                                               "%d/%d --resume', then merge again",
                               s[i].path, (int)me, (int)count, missing, missing ? ranges : "",
                               waits ? (missing ? " (and what a stopping rule decides after them)"
                                                : "trials after a stopping rule's check")
                                     : "",
                               campaign_of(&s[i]), s[i].path, (int)me, (int)count);
        }
        nnfi_dispatch_destroy(d);
        d = NULL;
        reader_close(&rd);
    }
    nnfi_dispatch_destroy(d);
    reader_close(&rd);
    free(owner);
    return st;
}

/* Put every done row of every shard into the writer, a block at a time. */
static nnfi_status copy_rows(const shard *s, size_t n, nnfi_h5_results *w, uint64_t total)
{
    nnfi_trial_row *rows = malloc((size_t)MERGE_BLOCK * sizeof *rows);
    if (!rows) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory merging rows");
    nnfi_status st = NNFI_OK;
    row_reader rd;
    memset(&rd, 0, sizeof rd);
    rd.f = -1;
    for (size_t i = 0; i < n && st == NNFI_OK; i++) {
        if ((st = reader_open(&rd, &s[i])) != NNFI_OK) break;
        for (uint64_t lo = 0; lo < total && st == NNFI_OK; lo += MERGE_BLOCK) {
            uint64_t cnt = total - lo < MERGE_BLOCK ? total - lo : MERGE_BLOCK;
            if ((st = reader_block(&rd, lo, cnt, 0)) != NNFI_OK) break;
            int any = 0;
            for (uint64_t k = 0; k < cnt && !any; k++) any = rd.buf[rd.i_done][k] != 0;
            if (!any) continue; /* another shard's block */
            if ((st = reader_block(&rd, lo, cnt, 1)) != NNFI_OK) break;
            size_t m = 0;
            for (uint64_t k = 0; k < cnt; k++)
                if (rd.buf[rd.i_done][k]) reader_row(&rd, (size_t)k, lo + k, &rows[m++]);
            st = nnfi_h5_put_rows(w, rows, m);
            if (st == NNFI_OK) st = nnfi_h5_checkpoint(w);
        }
        reader_close(&rd);
    }
    reader_close(&rd);
    free(rows);
    return st;
}

/* -------------------------------------------------------- the rest of it -- */

/* Copy every member of group `name` (e.g. sites/<model>) of the first shard
 * into the same (existing, empty) group of the output. */
static nnfi_status copy_members(hid_t src, hid_t dst, const char *name, const char *spath, const char *opath)
{
    nnfi_status st = NNFI_OK;
    if (H5Lexists(src, name, H5P_DEFAULT) <= 0) return NNFI_OK;
    hid_t g = H5Gopen2(src, name, H5P_DEFAULT);
    H5G_info_t gi;
    char member[512], path[1024], what[1200];
    snprintf(what, sizeof what, "read group /%s", name);
    H5_TRY(g, spath, what);
    H5_TRY(H5Gget_info(g, &gi), spath, what);
    if (H5Lexists(dst, name, H5P_DEFAULT) <= 0) {
        hid_t dg = H5Gcreate2(dst, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5_TRY(dg, opath, "create a group");
        H5Gclose(dg);
    }
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        H5_TRY(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, member, sizeof member, H5P_DEFAULT), spath,
               what);
        snprintf(path, sizeof path, "%s/%s", name, member);
        snprintf(what, sizeof what, "copy /%s from %s", path, spath);
        H5_TRY(H5Ocopy(src, path, dst, path, H5P_DEFAULT, H5P_DEFAULT), opath, what);
    }
out:
    if (g >= 0) H5Gclose(g);
    return st;
}

/* Append shard s's /faults to the output's (copying the group whole when
 * the output has none yet). Adds the rows appended to *rows. */
static nnfi_status append_faults(hid_t dst, const shard *s, const char *opath, uint64_t *rows)
{
    nnfi_status st = NNFI_OK;
    hid_t src = open_ro(s->path), sg = -1, dg = -1, sds = -1, dds = -1, ft = -1, fs = -1, ms = -1;
    void *buf = NULL;
    H5_TRY(src, s->path, "open the shard file");
    if (H5Lexists(src, "faults", H5P_DEFAULT) <= 0) goto out;
    int64_t len = ds_length(src, "faults/trial");
    if (len < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /faults has no 'trial' column\n  hint: the file is damaged; rerun that shard "
                                  "with --force",
                       s->path);
        goto out;
    }
    if (H5Lexists(dst, "faults", H5P_DEFAULT) <= 0) {
        H5_TRY(H5Ocopy(src, "faults", dst, "faults", H5P_DEFAULT, H5P_DEFAULT), opath, "copy /faults");
        *rows += (uint64_t)len;
        goto out;
    }
    H5_TRY(sg = H5Gopen2(src, "faults", H5P_DEFAULT), s->path, "open /faults");
    H5_TRY(dg = H5Gopen2(dst, "faults", H5P_DEFAULT), opath, "open /faults");
    H5G_info_t gi, di;
    H5_TRY(H5Gget_info(sg, &gi), s->path, "read /faults");
    H5_TRY(H5Gget_info(dg, &di), opath, "read /faults");
    int64_t have = ds_length(dg, "trial");
    if (gi.nlinks != di.nlinks || have < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /faults has other columns than the first shard's\n  hint: the file is damaged or "
                                  "from another nnfi version; rerun that shard with --force",
                       s->path);
        goto out;
    }
    char col[256], what[512];
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        H5_TRY(H5Lget_name_by_idx(sg, ".", H5_INDEX_NAME, H5_ITER_INC, i, col, sizeof col, H5P_DEFAULT), s->path,
               "read /faults");
        snprintf(what, sizeof what, "append to /faults/%s", col);
        if (ds_length(sg, col) != len || ds_length(dg, col) != have) {
            st = NNFI_FAIL(NNFI_E_IO, "%s: /faults/%s is missing or of another length than /faults/trial\n  hint: the "
                                      "file is damaged; rerun that shard with --force",
                           s->path, col);
            goto out;
        }
        H5_TRY(sds = H5Dopen2(sg, col, H5P_DEFAULT), s->path, what);
        H5_TRY(dds = H5Dopen2(dg, col, H5P_DEFAULT), opath, what);
        H5_TRY(ft = H5Dget_type(sds), s->path, what);
        hid_t dt = H5Dget_type(dds);
        int same = dt >= 0 && H5Tequal(ft, dt) > 0 && H5Tis_variable_str(ft) <= 0;
        if (dt >= 0) H5Tclose(dt);
        if (!same) {
            st = NNFI_FAIL(NNFI_E_IO, "%s: /faults/%s has another type than the first shard's\n  hint: merge shards "
                                      "written by one nnfi version",
                           s->path, col);
            goto out;
        }
        size_t size = H5Tget_size(ft);
        hsize_t next = (hsize_t)have + (hsize_t)len;
        H5_TRY(H5Dset_extent(dds, &next), opath, what);
        free(buf);
        buf = malloc((size_t)MERGE_BLOCK * size);
        if (!buf) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory merging /faults");
            goto out;
        }
        for (hsize_t lo = 0; lo < (hsize_t)len; lo += MERGE_BLOCK) {
            hsize_t cnt = (hsize_t)len - lo < MERGE_BLOCK ? (hsize_t)len - lo : MERGE_BLOCK, at = (hsize_t)have + lo;
            H5_TRY(read_block(sds, ft, lo, cnt, buf), s->path, what);
            H5_TRY(fs = H5Dget_space(dds), opath, what);
            H5_TRY(ms = H5Screate_simple(1, &cnt, NULL), opath, what);
            H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &cnt, NULL), opath, what);
            H5_TRY(H5Dwrite(dds, ft, ms, fs, H5P_DEFAULT, buf), opath, what);
            H5Sclose(fs);
            H5Sclose(ms);
            fs = ms = -1;
        }
        H5Tclose(ft);
        H5Dclose(sds);
        H5Dclose(dds);
        ft = sds = dds = -1;
    }
    *rows += (uint64_t)len;
out:
    free(buf);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (ft >= 0) H5Tclose(ft);
    if (sds >= 0) H5Dclose(sds);
    if (dds >= 0) H5Dclose(dds);
    if (sg >= 0) H5Gclose(sg);
    if (dg >= 0) H5Gclose(dg);
    if (src >= 0) H5Fclose(src);
    return st;
}

/* Copy one attribute of src to dst (any type, scalar or simple). */
static herr_t copy_attr(hid_t src, hid_t dst, const char *name)
{
    herr_t rc = -1;
    hid_t a = H5Aopen(src, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    hid_t mt = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_DEFAULT) : -1;
    hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    void *buf = NULL;
    if (mt < 0 || npts < 0) goto out;
    int vlen = H5Tis_variable_str(ft) > 0 || H5Tdetect_class(ft, H5T_VLEN) > 0;
    buf = calloc(npts ? (size_t)npts : 1, H5Tget_size(mt));
    if (!buf || H5Aread(a, mt, buf) < 0) goto out;
    if (H5Aexists(dst, name) > 0) H5Adelete(dst, name);
    hid_t b = H5Acreate2(dst, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (b >= 0) {
        rc = H5Awrite(b, mt, buf);
        H5Aclose(b);
    }
    if (vlen) vlen_free(mt, sp, buf);
out:
    free(buf);
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    return rc;
}

/* The root attributes: the first shard's, then the merge's own (see the
 * header: shard_index 0, shard_count 1, world_size = sum, merged_from, ...). */
static nnfi_status write_root(hid_t dst, const shard *s, size_t n, const char *opath)
{
    nnfi_status st = NNFI_OK;
    hid_t src = open_ro(s[0].path);
    name_list names;
    memset(&names, 0, sizeof names);
    const char **paths = calloc(n, sizeof *paths), **jobs = calloc(n, sizeof *jobs);
    int32_t *worlds = calloc(n, sizeof *worlds);
    H5_TRY(src, s[0].path, "open the shard file");
    if (!paths || !jobs || !worlds) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    H5_TRY(attr_names(src, &names), s[0].path, "list the root attributes");
    for (size_t i = 0; i < names.n; i++) {
        char what[512];
        snprintf(what, sizeof what, "copy root attribute %s", names.v[i]);
        H5_TRY(copy_attr(src, dst, names.v[i]), opath, what);
    }
    int64_t world = 0;
    for (size_t i = 0; i < n; i++) {
        paths[i] = s[i].path;
        jobs[i] = s[i].slurm_job_id ? s[i].slurm_job_id : "";
        worlds[i] = s[i].world;
        world += s[i].world;
    }
    char now[32];
    iso_now(now, sizeof now);
    const char *ver = NNFI_VERSION;
    H5_TRY(attr_put_i32(dst, "shard_index", 0), opath, "write attribute shard_index");
    H5_TRY(attr_put_i32(dst, "shard_count", 1), opath, "write attribute shard_count");
    H5_TRY(attr_put_i32(dst, "world_size", world > INT32_MAX ? INT32_MAX : (int32_t)world), opath,
           "write attribute world_size");
    if (H5Aexists(dst, "slurm_array_task_id") > 0)
        H5_TRY(H5Adelete(dst, "slurm_array_task_id"), opath, "drop attribute slurm_array_task_id");
    H5_TRY(attr_put_strs(dst, "merged_from", n, paths), opath, "write attribute merged_from");
    H5_TRY(attr_put(dst, "shard_world_sizes", H5T_STD_I32LE, H5T_NATIVE_INT32, n, worlds), opath,
           "write attribute shard_world_sizes");
    H5_TRY(attr_put_strs(dst, "shard_slurm_job_ids", n, jobs), opath, "write attribute shard_slurm_job_ids");
    H5_TRY(attr_put_strs(dst, "merged", 0, (const char *const[]){now}), opath, "write attribute merged");
    H5_TRY(attr_put_strs(dst, "merged_by", 0, &ver), opath, "write attribute merged_by");
out:
    names_free(&names);
    free(paths);
    free(jobs);
    free(worlds);
    if (src >= 0) H5Fclose(src);
    return st;
}

/* Steps 5 on the temporary output: sites/golden, rows, faults, root. */
static nnfi_status write_output(const char *tmp, const shard *s, size_t n, const nnfi_campaign *c,
                                const nnfi_plan *p, nnfi_h5_merge_info *info)
{
    nnfi_h5_provenance prov = {0, NULL, NULL, NULL, 0, 1};
    for (size_t i = 0; i < n; i++) prov.world_size += s[i].world;
    nnfi_h5_results *w = NULL;
    NNFI_TRY(nnfi_h5_create(tmp, 1, c, p, &prov, &w));
    nnfi_status st = NNFI_OK;
    hid_t src = -1, dst = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    H5_TRY(dst, tmp, "reopen the merged file");
    H5_TRY(src = open_ro(s[0].path), s[0].path, "open the shard file");
    if ((st = copy_members(src, dst, "sites", s[0].path, tmp)) != NNFI_OK) goto out;
    if ((st = copy_members(src, dst, "golden", s[0].path, tmp)) != NNFI_OK) goto out;
    H5Fclose(src);
    src = -1;
    H5_TRY(H5Fclose(dst), tmp, "close the merged file");
    dst = -1;

    if ((st = copy_rows(s, n, w, p->total_trials)) != NNFI_OK) goto out;
    info->done = nnfi_h5_trials_done(w);
    st = nnfi_h5_close(w);
    w = NULL;
    if (st != NNFI_OK) goto out;

    H5_TRY(dst = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT), tmp, "reopen the merged file");
    for (size_t i = 0; i < n && st == NNFI_OK; i++) st = append_faults(dst, &s[i], tmp, &info->faults);
    if (st == NNFI_OK) st = write_root(dst, s, n, tmp);
    if (st == NNFI_OK) H5_TRY(H5Fclose(dst), tmp, "close the merged file");
    if (st == NNFI_OK) dst = -1;
out:
    if (src >= 0) H5Fclose(src);
    if (dst >= 0) H5Fclose(dst);
    if (w) nnfi_h5_close(w);
    return st;
}

nnfi_status nnfi_h5_merge(const char *const *shards, size_t n, const char *out, int force, nnfi_h5_merge_info *info)
{
    nnfi_h5_merge_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (!shards || !out || !*out)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_merge: NULL argument\n  hint: this is a bug in the caller");
    if (n == 0)
        return NNFI_FAIL(NNFI_E_INVALID, "no shard files to merge\n  hint: nnfi merge SHARD.h5... -o OUT.h5");
    struct stat ob;
    if (lstat(out, &ob) == 0 && S_ISLNK(ob.st_mode)) /* rename() would replace the link: refuse it, as run -o does */
        return NNFI_FAIL(NNFI_E_IO, "%s is a symbolic link; nnfi does not write result files through links (its "
                                    "target is left alone)\n  hint: remove the link, or name a real file with -o",
                         out);
    int out_exists = stat(out, &ob) == 0;
    if (out_exists && !force)
        return NNFI_FAIL(NNFI_E_IO, "%s exists\n  hint: --force to overwrite it, or another -o", out);
    if (out_exists && S_ISDIR(ob.st_mode))
        return NNFI_FAIL(NNFI_E_IO, "%s is a directory\n  hint: -o names the merged file, e.g. -o results.h5", out);

    shard *s = calloc(n, sizeof *s);
    if (!s) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    nnfi_campaign *c = NULL;
    nnfi_plan *p = NULL;
    char *tmp = NULL;
    for (size_t i = 0; i < n && st == NNFI_OK; i++) {
        s[i].path = shards[i];
        st = read_shard_head(&s[i]);
        if (st == NNFI_OK && out_exists && s[i].dev == ob.st_dev && s[i].ino == ob.st_ino)
            st = NNFI_FAIL(NNFI_E_INVALID, "the output %s is also an input shard\n  hint: write the merge to a new "
                                           "file with -o",
                           out);
    }
    if (st == NNFI_OK) st = check_set(s, n);
    if (st == NNFI_OK) st = load_campaign(&s[0], &c);
    if (st == NNFI_OK) st = load_plan(&s[0], c, &p);
    for (size_t i = 1; i < n && st == NNFI_OK; i++) st = check_tables(&s[0], &s[i]);
    if (st == NNFI_OK) st = check_shares(s, n, c, p);
    if (st != NNFI_OK) goto out;

    size_t tl = strlen(out) + 16;
    tmp = malloc(tl);
    if (!tmp) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp, tl, "%s.merging", out);
    info->shards = (unsigned)n;
    info->trials = p->total_trials;
    st = write_output(tmp, s, n, c, p, info);
    if (st == NNFI_OK) {
        int fd = open(tmp, O_RDONLY);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
        if (rename(tmp, out) != 0)
            st = NNFI_FAIL(NNFI_E_IO, "cannot rename %s to %s: %s\n  hint: check that the directory is writable", tmp,
                           out, strerror(errno));
    }
    if (st != NNFI_OK) unlink(tmp); /* no half-made result files */
out:
    free(tmp);
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
    for (size_t i = 0; i < n; i++) {
        free(s[i].config_path);
        free(s[i].slurm_job_id);
    }
    free(s);
    quiet_off(&q);
    return st;
}
