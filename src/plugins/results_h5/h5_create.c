/* h5_create.c - nnfi_h5_create(): a new result file built whole under
 * PATH.ckpt (root provenance attributes, the /trials columns of the schema
 * with their dimension scale, /experiments, /points, empty /sites and
 * /golden, /progress) and published by link()/rename(); also the writer's
 * constructor and /progress, shared with resume and checkpoint. */
#include "h5_writer.h"
#include "h5_journal.h"

#include <errno.h>
#include <hdf5_hl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnfi/build_info.h"

#define SCALE_BLOCK (1u << 20) /* trial indices written per H5Dwrite */

static nnfi_status write_provenance(hid_t f, const char *path, const nnfi_campaign *c, const nnfi_h5_provenance *prov)
{
    nnfi_status st = NNFI_OK;
    char libs[512], created[32];
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(libs, sizeof libs, "%s, hdf5 %u.%u.%u", nnfi_config_library_versions(), maj, min, rel);
    iso_now(created, sizeof created);
    H5_TRY(attr_i32(f, "schema_version", NNFI_RESULTS_SCHEMA_VERSION), path, "write attribute schema_version");
    H5_TRY(attr_str(f, "nnfi_version", NNFI_VERSION), path, "write attribute nnfi_version");
    H5_TRY(attr_str(f, "git_sha", NNFI_GIT_SHA), path, "write attribute git_sha");
    H5_TRY(attr_u64(f, "seed", c->seed), path, "write attribute seed");
    H5_TRY(attr_str(f, "config", c->source_text ? c->source_text : ""), path, "write attribute config");
    H5_TRY(attr_u64(f, "config_hash", c->hash), path, "write attribute config_hash");
    H5_TRY(attr_str(f, "config_path", c->source_path ? c->source_path : ""), path, "write attribute config_path");
    H5_TRY(attr_str(f, "campaign", c->name ? c->name : ""), path, "write attribute campaign");
    H5_TRY(attr_str(f, "library_versions", libs), path, "write attribute library_versions");
    H5_TRY(attr_i32(f, "world_size", prov ? prov->world_size : 1), path, "write attribute world_size");
    H5_TRY(attr_i32(f, "shard_index", prov ? (int)prov->shard_index : 0), path, "write attribute shard_index");
    H5_TRY(attr_i32(f, "shard_count", prov && prov->shard_count ? (int)prov->shard_count : 1), path,
           "write attribute shard_count");
    if (prov && prov->slurm_job_id)
        H5_TRY(attr_str(f, "slurm_job_id", prov->slurm_job_id), path, "write attribute slurm_job_id");
    if (prov && prov->slurm_array_job_id)
        H5_TRY(attr_str(f, "slurm_array_job_id", prov->slurm_array_job_id), path, "write attribute slurm_array_job_id");
    if (prov && prov->slurm_array_task_id)
        H5_TRY(attr_str(f, "slurm_array_task_id", prov->slurm_array_task_id), path,
               "write attribute slurm_array_task_id");
    H5_TRY(attr_str(f, "created", created), path, "write attribute created");
out:
    return st;
}

/* /trials: the trial scale and one column per NNFI_TRIAL_COLUMNS entry. */
static nnfi_status create_trials(hid_t f, const char *path, uint64_t total)
{
    nnfi_status st = NNFI_OK;
    hsize_t chunk = trial_chunk(total);
    hid_t g = -1, scale = -1, ds = -1, ms = -1, fs = -1;
    uint64_t *idx = NULL;
    H5_TRY(g = H5Gcreate2(f, "trials", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /trials");

    /* the dimension scale 0..T-1, written blockwise */
    H5_TRY(scale = create_chunked(g, "trial", NNFI_COL_U64, total, chunk), path, "create dataset /trials/trial");
    size_t block = total < SCALE_BLOCK ? (size_t)(total ? total : 1) : SCALE_BLOCK;
    idx = malloc(block * sizeof *idx);
    if (!idx) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory writing %s", path);
        goto out;
    }
    H5_TRY(fs = H5Dget_space(scale), path, "write /trials/trial");
    for (uint64_t at = 0; at < total; at += block) {
        hsize_t start = at, count = total - at < block ? total - at : block;
        for (hsize_t i = 0; i < count; i++) idx[i] = at + i;
        H5_TRY(ms = H5Screate_simple(1, &count, NULL), path, "write /trials/trial");
        H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL), path, "write /trials/trial");
        H5_TRY(H5Dwrite(scale, H5T_NATIVE_UINT64, ms, fs, H5P_DEFAULT, idx), path, "write /trials/trial");
        H5Sclose(ms);
        ms = -1;
    }
    H5_TRY(H5DSset_scale(scale, "trial"), path, "make /trials/trial a dimension scale");
    H5_TRY(attr_column(scale, NNFI_COL_U64, "1", "global trial index (experiments, then points, then trials)",
                       NNFI_CAT_NONE),
           path, "write attributes of /trials/trial");

    size_t n;
    const nnfi_column_info *cols = nnfi_trial_columns(&n);
    char what[128];
    for (size_t i = 0; i < n; i++) {
        snprintf(what, sizeof what, "create dataset /trials/%s", cols[i].name);
        H5_TRY(ds = create_column(g, &cols[i], total, chunk), path, what);
        H5_TRY(H5DSattach_scale(ds, scale, 0), path, what);
        H5Dclose(ds);
        ds = -1;
    }
out:
    free(idx);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (ds >= 0) H5Dclose(ds);
    if (scale >= 0) H5Dclose(scale);
    if (g >= 0) H5Gclose(g);
    return st;
}

/* /experiments and /points, columnar. */
static nnfi_status write_plan_tables(hid_t f, const char *path, const nnfi_plan *p)
{
    nnfi_status st = NNFI_OK;
    hid_t g = -1;
    size_t ne = p->n_experiments, np = 0;
    for (size_t e = 0; e < ne; e++) np += p->experiments[e].n_points;
    const char **names = calloc(ne ? ne : 1, sizeof *names), **models = calloc(ne ? ne : 1, sizeof *models);
    uint64_t *first = calloc(ne ? ne : 1, sizeof *first), *trials = calloc(ne ? ne : 1, sizeof *trials);
    uint32_t *npts = calloc(ne ? ne : 1, sizeof *npts);
    uint32_t *pe = calloc(np ? np : 1, sizeof *pe), *pp = calloc(np ? np : 1, sizeof *pp);
    double *px = calloc(np ? np : 1, sizeof *px);
    uint8_t *prate = calloc(np ? np : 1, sizeof *prate);
    uint64_t *pfirst = calloc(np ? np : 1, sizeof *pfirst), *ptrials = calloc(np ? np : 1, sizeof *ptrials);
    if (!names || !models || !first || !trials || !npts || !pe || !pp || !px || !prate || !pfirst || !ptrials) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory writing %s", path);
        goto out;
    }
    size_t k = 0;
    for (size_t e = 0; e < ne; e++) {
        const nnfi_plan_experiment *x = &p->experiments[e];
        names[e] = x->cfg && x->cfg->name ? x->cfg->name : "";
        models[e] = x->cfg && x->cfg->model ? x->cfg->model : "";
        first[e] = x->first;
        trials[e] = x->trials;
        npts[e] = x->n_points;
        for (uint32_t q = 0; q < x->n_points; q++, k++) {
            pe[k] = (uint32_t)e;
            pp[k] = q;
            px[k] = x->points[q].x;
            prate[k] = (uint8_t)(x->points[q].is_rate != 0);
            pfirst[k] = x->points[q].first;
            ptrials[k] = x->points[q].trials;
        }
    }
    H5_TRY(g = H5Gcreate2(f, "experiments", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /experiments");
    H5_TRY(write_strs(g, "name", ne, names), path, "write /experiments/name");
    H5_TRY(write_strs(g, "model", ne, models), path, "write /experiments/model");
    H5_TRY(write_num(g, "first_trial", NNFI_COL_U64, ne, first), path, "write /experiments/first_trial");
    H5_TRY(write_num(g, "trials", NNFI_COL_U64, ne, trials), path, "write /experiments/trials");
    H5_TRY(write_num(g, "n_points", NNFI_COL_U32, ne, npts), path, "write /experiments/n_points");
    H5Gclose(g);
    H5_TRY(g = H5Gcreate2(f, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /points");
    H5_TRY(write_num(g, "experiment", NNFI_COL_U32, np, pe), path, "write /points/experiment");
    H5_TRY(write_num(g, "point", NNFI_COL_U32, np, pp), path, "write /points/point");
    H5_TRY(write_num(g, "x", NNFI_COL_F64, np, px), path, "write /points/x");
    H5_TRY(write_num(g, "is_rate", NNFI_COL_U8, np, prate), path, "write /points/is_rate");
    H5_TRY(write_num(g, "first_trial", NNFI_COL_U64, np, pfirst), path, "write /points/first_trial");
    H5_TRY(write_num(g, "trials", NNFI_COL_U64, np, ptrials), path, "write /points/trials");
out:
    if (g >= 0) H5Gclose(g);
    free(names);
    free(models);
    free(first);
    free(trials);
    free(npts);
    free(pe);
    free(pp);
    free(px);
    free(prate);
    free(pfirst);
    free(ptrials);
    return st;
}

nnfi_status write_progress(hid_t f, const char *path, uint64_t done, uint64_t checkpoints, uint64_t journal_id)
{
    nnfi_status st = NNFI_OK;
    char now[32];
    iso_now(now, sizeof now);
    hid_t g = H5Lexists(f, "progress", H5P_DEFAULT) > 0 ? H5Gopen2(f, "progress", H5P_DEFAULT)
                                                        : H5Gcreate2(f, "progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5_TRY(g, path, "open group /progress");
    H5_TRY(attr_u64(g, "trials_done", done), path, "write /progress attributes");
    H5_TRY(attr_u64(g, "checkpoints", checkpoints), path, "write /progress attributes");
    H5_TRY(attr_u64(g, "journal_id", journal_id), path, "write /progress attributes");
    H5_TRY(attr_str(g, "last_checkpoint", now), path, "write /progress attributes");
out:
    if (g >= 0) H5Gclose(g);
    return st;
}

nnfi_status new_writer(const char *path, const nnfi_campaign *c, const nnfi_plan *p, nnfi_h5_results **out)
{
    nnfi_h5_results *r = calloc(1, sizeof *r);
    if (r) {
        r->path = strdup(path);
        r->done_bits = calloc((size_t)(p->total_trials / 8 + 1), 1);
        nnfi_trial_columns(&r->n_cols);
        r->col = calloc(r->n_cols, sizeof *r->col);
        r->js = calloc(1, sizeof *r->js);
    }
    if (!r || !r->path || !r->done_bits || !r->col || !r->js) {
        if (r) {
            free(r->path);
            free(r->done_bits);
            free(r->col);
            free(r->js);
        }
        free(r);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for the result writer of %s", path);
    }
    r->c = c;
    r->p = p;
    r->total = p->total_trials;
    r->js->jfd = -1;
    *out = r;
    return NNFI_OK;
}

nnfi_status nnfi_h5_create(const char *path, int force, const nnfi_campaign *c, const nnfi_plan *p,
                           const nnfi_h5_provenance *prov, nnfi_h5_results **out)
{
    if (out) *out = NULL;
    if (!path || !*path || !c || !p || !out)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_create: NULL argument\n  hint: this is a bug in the caller");
    struct stat sb;
    NNFI_TRY(refuse_symlink(path, "remove the link, or name a real file with -o"));
    if (!force && lstat(path, &sb) == 0)
        return NNFI_FAIL(NNFI_E_IO, "%s exists\n  hint: --force to overwrite, --resume to continue it", path);
    if (force && lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return NNFI_FAIL(NNFI_E_IO, "%s is a directory\n  hint: -o names the result file, e.g. -o results.h5", path);
    char *tmp = side_path(path, TMP_SUFFIX);
    if (!tmp) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    if (unlink(tmp) != 0 && errno != ENOENT) { /* a stale copy: a kill during create() or an update */
        nnfi_status e = NNFI_FAIL(NNFI_E_IO, "%s: cannot remove the stale %s: %s\n  hint: check the directory's "
                                             "permissions",
                                  path, tmp, strerror(errno));
        free(tmp);
        return e;
    }

    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t f = -1, g = -1;
    int created = 0;
    /* Objects in the 1.8 format where possible (no 64 KiB object-header
     * limits), the file in the 1.10 format for persistent free-space
     * tracking: every checkpoint rewrites the chunks it completes in part,
     * and without it the space of each replaced chunk would be lost at close
     * (files 2-3x larger with frequent checkpoints). Readers need HDF5 >= 1.10. */
    hid_t fapl = make_fapl(), fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fapl >= 0 && fcpl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V110) >= 0 &&
        H5Pset_file_space_strategy(fcpl, H5F_FSPACE_STRATEGY_FSM_AGGR, 1, 1) >= 0) {
        errno = 0;
        f = H5Fcreate(tmp, H5F_ACC_EXCL, fcpl, fapl); /* O_EXCL: never through a link planted at tmp */
    }
    if (fcpl >= 0) H5Pclose(fcpl);
    if (fapl >= 0) H5Pclose(fapl);
    if (f < 0) {
        if (no_space_errno(errno))
            st = no_space_fail(path, "create the result file", errno);
        else
            st = NNFI_FAIL(NNFI_E_IO, "%s: cannot create the result file (%s)\n  hint: check that the directory exists "
                                      "and is writable, and that no other program has the file open",
                           path, errno ? strerror(errno) : "HDF5 error");
        goto out;
    }
    created = 1;
    if ((st = write_provenance(f, path, c, prov)) != NNFI_OK) goto out;
    if ((st = create_trials(f, path, p->total_trials)) != NNFI_OK) goto out;
    if ((st = write_plan_tables(f, path, p)) != NNFI_OK) goto out;
    H5_TRY(g = H5Gcreate2(f, "sites", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /sites");
    H5Gclose(g);
    H5_TRY(g = H5Gcreate2(f, "golden", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /golden");
    H5Gclose(g);
    g = -1;
    uint64_t journal_id = journal_new_id();
    if ((st = write_progress(f, path, 0, 0, journal_id)) != NNFI_OK) goto out;
    herr_t rc = H5Fclose(f);
    f = -1;
    if (rc < 0) {
        st = h5_fail(path, "close the file (flush)");
        goto out;
    }
    if ((st = sync_file(tmp, path)) != NNFI_OK) goto out;
    /* publish: link() fails on an existing PATH (a file made meanwhile is not
     * replaced without --force); rename() replaces PATH, or a symlink there,
     * never writing through it */
    if (!force && link(tmp, path) == 0) {
        unlink(tmp);
    } else if (!force && errno == EEXIST) {
        st = NNFI_FAIL(NNFI_E_IO, "%s exists\n  hint: --force to overwrite, --resume to continue it", path);
    } else if (!force && lstat(path, &sb) == 0) { /* a file system without hard links */
        st = NNFI_FAIL(NNFI_E_IO, "%s exists\n  hint: --force to overwrite, --resume to continue it", path);
    } else if (rename(tmp, path) != 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot create the result file (rename from %s: %s)\n  hint: check that the "
                                  "directory is writable",
                       path, tmp, strerror(errno));
    }
    if (st != NNFI_OK) goto out;
    created = 0; /* published: tmp is gone */
    sync_dir_of(path);
    char *jp = journal_path(path); /* a journal of the file replaced: its id no longer matches; remove it */
    if (jp) unlink(jp);
    free(jp);
    st = new_writer(path, c, p, out);
    if (st == NNFI_OK) (*out)->js->journal_id = journal_id;
out:
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    if (created) unlink(tmp); /* no half-made result files */
    free(tmp);
    quiet_off(&q);
    return st;
}
