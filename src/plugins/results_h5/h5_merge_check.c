/* h5_merge_check.c - the checks of `nnfi merge` (see nnfi_h5_merge() in
 * nnfi/h5_results.h for the contract and h5_merge.c for the steps), made
 * before anything is written:
 *   1. each shard's root attributes (through the reader API), and refusals
 *      of mixes: config hash, shard count, planned trials, a shard given
 *      twice, a shard missing;
 *   2. the campaign rebuilt from the `config` attribute (parsing only: no
 *      model is opened) and the plan from /experiments and /points, so that
 *      each shard's share comes from the very functions `nnfi run --shard`
 *      used: nnfi_shard_of() and the dispatcher (nnfi/dispatch.h), which also
 *      knows which trials a stopping rule legitimately left undone;
 *   3. /experiments, /points, /sites and /golden of every shard compared
 *      with the first one's (values and attributes, bit for bit);
 *   4. each shard's `done` column walked: a done row outside the shard's
 *      share or done in two shards is refused; the dispatcher then hands out
 *      what is still missing in the share, which names the incomplete ranges.
 * Memory: O(trials) bytes for the share checks (a 4-byte owner per trial and
 * the dispatcher's 2 bytes) and O(MERGE_BLOCK) for rows. */
#include "h5_merge.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nnfi/dispatch.h" /* nnfi_shard_of + the dispatcher: a shard's share, as `nnfi run --shard` saw it */

#define MAX_RANGES_SHOWN 4 /* missing trial ranges named in a message */

static const char shard_hint[] = "give the shard files written by 'nnfi run --shard I/N'";

nnfi_status shard_open(const shard *s, nnfi_h5_file **f) { return nnfi_h5_open(s->path, shard_hint, f); }

/* ------------------------------------------------------- the shard files -- */

nnfi_status read_shard_head(shard *s)
{
    struct stat sb;
    if (stat(s->path, &sb) != 0)
        return NNFI_FAIL(NNFI_E_IO, "%s: %s\n  hint: %s", s->path, strerror(errno), shard_hint);
    s->dev = sb.st_dev;
    s->ino = sb.st_ino;
    nnfi_h5_file *f = NULL;
    NNFI_TRY(shard_open(s, &f));
    const nnfi_h5_file_info *in = nnfi_h5_file_info_of(f);
    nnfi_status st = NNFI_OK;
    if (in->schema_version != NNFI_RESULTS_SCHEMA_VERSION) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s: result schema version %d, this nnfi merges version %d\n  hint: merge with "
                                       "the nnfi version that wrote the shards",
                       s->path, (int)in->schema_version, NNFI_RESULTS_SCHEMA_VERSION);
        goto out;
    }
    /* every chunk read back through its Fletcher-32 checksum before anything is merged */
    if ((st = nnfi_h5_verify(f, NULL, NULL)) != NNFI_OK) goto out;
    s->hash = in->config_hash;
    /* absent: a whole-campaign file, shard 0 of 1, one rank */
    s->index = in->shard_index >= 0 ? in->shard_index : 0;
    s->count = in->shard_count >= 0 ? in->shard_count : 1;
    s->world = in->world_size >= 0 ? in->world_size : 1;
    if (s->count < 1 || s->index < 0 || s->index >= s->count) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s: shard_index %d / shard_count %d make no sense\n  hint: the file is "
                                       "damaged; rerun that shard with --force",
                       s->path, (int)s->index, (int)s->count);
        goto out;
    }
    s->total = in->trials;
    s->config_path = in->config_path ? strdup(in->config_path) : NULL;
    s->slurm_job_id = in->slurm_job_id ? strdup(in->slurm_job_id) : NULL;
    s->config = in->config ? strdup(in->config) : NULL;
    if ((in->config_path && !s->config_path) || (in->slurm_job_id && !s->slurm_job_id) || (in->config && !s->config))
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", s->path);
out:
    nnfi_h5_file_close(f);
    return st;
}

static int by_index(const void *a, const void *b)
{
    const shard *x = a, *y = b;
    return (x->index > y->index) - (x->index < y->index);
}

const char *campaign_of(const shard *s) { return s->config_path && *s->config_path ? s->config_path : "CAMPAIGN.yaml"; }

nnfi_status check_set(shard *s, size_t n)
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

nnfi_status load_campaign(const shard *s0, nnfi_campaign **c)
{
    const char *text = s0->config;
    if (!text)
        return NNFI_FAIL(NNFI_E_IO, "%s: no 'config' attribute (the campaign text)\n  hint: the file is damaged; rerun "
                                    "that shard with --force",
                         s0->path);
    char name[1200];
    snprintf(name, sizeof name, "%s (config attribute of %s)", campaign_of(s0), s0->path);
    nnfi_status st = nnfi_campaign_load_text(text, strlen(text), name, c);
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
nnfi_status load_plan(const shard *s0, const nnfi_campaign *c, nnfi_plan **out)
{
    *out = NULL;
    nnfi_h5_file *f = NULL;
    nnfi_h5_plan_tables t;
    memset(&t, 0, sizeof t);
    nnfi_plan *p = NULL;
    nnfi_status st = shard_open(s0, &f);
    if (st == NNFI_OK) st = nnfi_h5_read_plan_tables(f, &t);
    if (st != NNFI_OK) goto out;
    if (t.n_experiments != c->experiments_count) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /experiments or /points is missing or does not match the campaign's %u "
                                  "experiments\n  hint: the file is damaged; rerun that shard with --force",
                       s0->path, c->experiments_count);
        goto out;
    }
    size_t e_n = t.n_experiments, p_n = t.n_points;
    p = calloc(1, sizeof *p);
    if (p) p->experiments = calloc(e_n + 1, sizeof *p->experiments);
    if (!p || !p->experiments) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading the plan of %s", s0->path);
        goto out;
    }
    p->campaign = c;
    p->n_experiments = (uint32_t)e_n;
    size_t k = 0;
    uint64_t next = 0;
    int ok = 1;
    for (size_t e = 0; e < e_n && ok; e++) {
        const nnfi_h5_experiment_row *row = &t.experiments[e];
        nnfi_plan_experiment *x = &p->experiments[e];
        x->cfg = &c->experiments[e];
        x->n_points = row->n_points;
        x->first = row->first_trial;
        x->trials = row->trials;
        ok = row->name && c->experiments[e].name && strcmp(row->name, c->experiments[e].name) == 0 &&
             row->n_points > 0 && row->first_trial == next && k + row->n_points <= p_n;
        x->points = ok ? calloc(row->n_points, sizeof *x->points) : NULL;
        if (ok && !x->points) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading the plan of %s", s0->path);
            goto out;
        }
        for (uint32_t q = 0; ok && q < row->n_points; q++, k++) {
            const nnfi_h5_point_row *pt = &t.points[k];
            ok = pt->experiment == e && pt->point == q && pt->first_trial == next;
            x->points[q].x = pt->x;
            x->points[q].is_rate = pt->is_rate != 0;
            x->points[q].first = pt->first_trial;
            x->points[q].trials = pt->trials;
            next += pt->trials;
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
    nnfi_plan_free(p);
    nnfi_h5_plan_tables_free(&t);
    nnfi_h5_file_close(f);
    return st;
}

/* ------------------------------------------- comparing tables and groups -- */

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
nnfi_status check_tables(const shard *s0, const shard *s)
{
    static const char *const tables[] = {"experiments", "points", "sites", "golden"};
    nnfi_h5_file *ra = NULL, *rb = NULL;
    nnfi_status st = shard_open(s0, &ra);
    if (st == NNFI_OK) st = shard_open(s, &rb);
    if (st != NNFI_OK) goto out;
    hid_t fa = h5_reader_hid(ra), fb = h5_reader_hid(rb);
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
    nnfi_h5_file_close(rb);
    nnfi_h5_file_close(ra);
    return st;
}

/* ------------------------------------------------------------ the rows -- */

nnfi_status block_new(row_block *b)
{
    memset(b, 0, sizeof *b);
    b->cols = nnfi_trial_columns(&b->n_cols);
    b->buf = calloc(b->n_cols, sizeof *b->buf);
    for (size_t i = 0; b->buf && i < b->n_cols; i++) {
        if (strcmp(b->cols[i].name, "done") == 0) b->i_done = i;
        if (!(b->buf[i] = malloc((size_t)MERGE_BLOCK * b->cols[i].size))) {
            block_free(b);
            break;
        }
    }
    return b->buf ? NNFI_OK : NNFI_FAIL(NNFI_E_NOMEM, "out of memory for the merge's row buffers");
}

void block_free(row_block *b)
{
    for (size_t i = 0; b->buf && i < b->n_cols; i++) free(b->buf[i]);
    free(b->buf);
    b->buf = NULL;
}

nnfi_status block_read(row_block *b, nnfi_h5_file *f, uint64_t lo, uint64_t count, int all)
{
    for (size_t i = 0; i < b->n_cols; i++)
        if (all || i == b->i_done) NNFI_TRY(nnfi_h5_read_trials(f, b->cols[i].name, lo, count, b->buf[i]));
    return NNFI_OK;
}

void block_row(const row_block *b, size_t k, uint64_t trial, nnfi_trial_row *row)
{
    memset(row, 0, sizeof *row);
    row->trial = trial;
    for (size_t i = 0; i < b->n_cols; i++)
        memcpy((char *)row + b->cols[i].offset, b->buf[i] + k * b->cols[i].size, b->cols[i].size);
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
nnfi_status check_shares(const shard *s, size_t n, const nnfi_campaign *c, const nnfi_plan *p)
{
    uint64_t total = p->total_trials;
    uint32_t *owner = calloc(total ? total : 1, sizeof *owner); /* shard index + 1 */
    if (!owner) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %" PRIu64 " trials", total);
    row_block rb;
    nnfi_status st = block_new(&rb);
    nnfi_h5_file *rd = NULL;
    nnfi_dispatch *d = NULL;
    unsigned count = (unsigned)s[0].count;
    for (size_t i = 0; i < n && st == NNFI_OK; i++) {
        unsigned me = (unsigned)s[i].index;
        if ((st = shard_open(&s[i], &rd)) != NNFI_OK) break;
        if ((st = nnfi_dispatch_create(c, p, 1, me, count, &d)) != NNFI_OK) break;
        for (uint64_t lo = 0; lo < total && st == NNFI_OK; lo += MERGE_BLOCK) {
            uint64_t cnt = total - lo < MERGE_BLOCK ? total - lo : MERGE_BLOCK;
            if ((st = block_read(&rb, rd, lo, cnt, 0)) != NNFI_OK) break;
            const uint8_t *done = rb.buf[rb.i_done];
            int any = 0;
            for (uint64_t k = 0; k < cnt && !any; k++) any = done[k] != 0;
            if (!any) continue; /* nothing done here: the dispatcher sees the gap */
            if ((st = block_read(&rb, rd, lo, cnt, 1)) != NNFI_OK) break;
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
                block_row(&rb, (size_t)k, t, &row);
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
        nnfi_h5_file_close(rd);
        rd = NULL;
    }
    nnfi_dispatch_destroy(d);
    nnfi_h5_file_close(rd);
    block_free(&rb);
    free(owner);
    return st;
}
