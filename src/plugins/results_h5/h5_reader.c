/* h5_reader.c - the reader API of nnfi/h5_reader.h: open a result file
 * without a lock, its provenance and /progress, the plan tables, blocks of
 * /trials columns (handles kept open for HDF5's chunk cache), and the golden
 * runs, with the checkpoint journal laid over the file. Used by `nnfi inspect` (src/cli/cmd_inspect.c) and `nnfi merge`
 * (h5_merge_check.c, h5_merge.c). */
#include "nnfi/h5_reader.h"

#include "h5_util.h"
#include "h5_journal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct nnfi_h5_file {
    char *path;
    hid_t f;
    nnfi_h5_file_info info;
    char *text[10];   /* the info's strings, owned */
    hid_t *cols;      /* /trials columns in schema order, opened on first read (-1) */
    size_t n_cols;
    journal j;        /* checkpoints not yet folded into the file (h5_journal.h) */
    char last_ckpt[32];
    uint64_t journal_id;
};

const journal *h5_reader_journal(const nnfi_h5_file *f) { return f ? &f->j : NULL; }

hid_t h5_reader_hid(const nnfi_h5_file *f) { return f ? f->f : -1; }

const nnfi_h5_file_info *nnfi_h5_file_info_of(const nnfi_h5_file *f) { return f ? &f->info : NULL; }

static nnfi_status bad_file(const char *path, const char *what)
{
    return NNFI_FAIL(NNFI_E_IO, "%s: %s\n  hint: the file is damaged or was not written by this nnfi; 'h5ls -r %s' "
                                "shows what it holds",
                     path, what, path);
}

void nnfi_h5_file_close(nnfi_h5_file *f)
{
    if (!f) return;
    h5_quiet q;
    quiet_on(&q);
    for (size_t i = 0; f->cols && i < f->n_cols; i++)
        if (f->cols[i] >= 0) H5Dclose(f->cols[i]);
    if (f->f >= 0) H5Fclose(f->f);
    quiet_off(&q);
    journal_free(&f->j);
    for (size_t i = 0; i < sizeof f->text / sizeof f->text[0]; i++) free(f->text[i]);
    free(f->cols);
    free(f->path);
    free(f);
}

/* A root (or /progress) string attribute kept in f->text[slot]. */
static const char *keep_text(nnfi_h5_file *f, size_t slot, hid_t obj, const char *name)
{
    f->text[slot] = attr_text(obj, name);
    return f->text[slot];
}

static void read_info(nnfi_h5_file *f)
{
    nnfi_h5_file_info *in = &f->info;
    hid_t r = f->f;
    in->path = f->path;
    in->world_size = in->shard_index = in->shard_count = -1;
    attr_read(r, "seed", H5T_NATIVE_UINT64, &in->seed);
    attr_read(r, "world_size", H5T_NATIVE_INT32, &in->world_size);
    attr_read(r, "shard_index", H5T_NATIVE_INT32, &in->shard_index);
    attr_read(r, "shard_count", H5T_NATIVE_INT32, &in->shard_count);
    in->nnfi_version = keep_text(f, 0, r, "nnfi_version");
    in->git_sha = keep_text(f, 1, r, "git_sha");
    in->created = keep_text(f, 2, r, "created");
    in->campaign = keep_text(f, 3, r, "campaign");
    in->config = keep_text(f, 4, r, "config");
    in->config_path = keep_text(f, 5, r, "config_path");
    in->slurm_job_id = keep_text(f, 6, r, "slurm_job_id");
    in->slurm_array_job_id = keep_text(f, 7, r, "slurm_array_job_id");
    in->slurm_array_task_id = keep_text(f, 8, r, "slurm_array_task_id");
    if (H5Lexists(r, "progress", H5P_DEFAULT) > 0) {
        hid_t g = H5Gopen2(r, "progress", H5P_DEFAULT);
        if (g >= 0) {
            attr_read(g, "trials_done", H5T_NATIVE_UINT64, &in->progress_done);
            attr_read(g, "checkpoints", H5T_NATIVE_UINT64, &in->checkpoints);
            attr_read(g, "journal_id", H5T_NATIVE_UINT64, &f->journal_id);
            in->last_checkpoint = keep_text(f, 9, g, "last_checkpoint");
            H5Gclose(g);
        }
    }
}

/* Lay the journal over the file: its records beyond the file's last fold.
 * A journal that starts after the file's last checkpoint means a fold
 * replaced the file between our open and our read of the journal: reopen. */
static nnfi_status read_journal(nnfi_h5_file *f)
{
    for (int attempt = 0;; attempt++) {
        NNFI_TRY(journal_load(f->path, f->journal_id, f->info.checkpoints, &f->j));
        if (!f->j.gap) break;
        journal_free(&f->j);
        if (attempt == 20) {
            char *jp = journal_path(f->path);
            nnfi_status st = NNFI_FAIL(NNFI_E_IO, "%s: its checkpoint journal %s starts after the file's last "
                                                  "checkpoint\n  hint: was an older copy of the file put back?",
                                       f->path, jp ? jp : "");
            free(jp);
            return st;
        }
        for (size_t i = 0; i < f->n_cols; i++)
            if (f->cols[i] >= 0) H5Dclose(f->cols[i]);
        for (size_t i = 0; i < f->n_cols; i++) f->cols[i] = -1;
        H5Fclose(f->f);
        if ((f->f = open_file_unlocked(f->path)) < 0) return bad_file(f->path, "cannot reopen it after a fold");
        for (size_t i = 0; i < sizeof f->text / sizeof f->text[0]; i++) {
            free(f->text[i]);
            f->text[i] = NULL;
        }
        read_info(f);
    }
    nnfi_h5_file_info *in = &f->info;
    in->journal_checkpoints = f->j.n_rec;
    in->journal_rows = journal_rows(&f->j);
    if (f->j.n_rec) {
        const jrec *last = &f->j.rec[f->j.n_rec - 1];
        in->progress_done = last->n_done;
        in->checkpoints = last->seq;
        time_t t = (time_t)last->time;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(f->last_ckpt, sizeof f->last_ckpt, "%Y-%m-%dT%H:%M:%SZ", &tm);
        in->last_checkpoint = f->last_ckpt;
    }
    return NNFI_OK;
}

nnfi_status nnfi_h5_open(const char *path, const char *hint, nnfi_h5_file **out)
{
    if (out) *out = NULL;
    if (!path || !out)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_open: NULL argument\n  hint: this is a bug in the caller");
    if (!hint) hint = "give a result file written by 'nnfi run'";
    struct stat sb;
    if (stat(path, &sb) != 0) return NNFI_FAIL(NNFI_E_IO, "%s: %s\n  hint: %s", path, strerror(errno), hint);
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    nnfi_h5_file *f = calloc(1, sizeof *f);
    if (f) {
        f->f = -1;
        f->path = strdup(path);
        nnfi_trial_columns(&f->n_cols);
        f->cols = malloc(f->n_cols * sizeof *f->cols);
    }
    if (!f || !f->path || !f->cols) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory opening %s", path);
        goto out;
    }
    for (size_t i = 0; i < f->n_cols; i++) f->cols[i] = -1;
    if (H5Fis_hdf5(path) <= 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: not an HDF5 file, so not an nnfi result file\n  hint: %s", path, hint);
        goto out;
    }
    f->f = open_file_unlocked(path);
    if (f->f < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot open the HDF5 file (damaged?)\n  hint: a kill during a checkpoint can "
                                  "break the file; 'h5ls -r %s' shows what is readable",
                       path, path);
        goto out;
    }
    int64_t total = -1;
    if (attr_read(f->f, "schema_version", H5T_NATIVE_INT32, &f->info.schema_version) < 0 ||
        attr_read(f->f, "config_hash", H5T_NATIVE_UINT64, &f->info.config_hash) < 0 ||
        H5Lexists(f->f, "trials", H5P_DEFAULT) <= 0 || (total = ds_length(f->f, "trials/done")) < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: not an nnfi result file (no schema_version/config_hash attributes or no "
                                  "/trials/done)\n  hint: %s",
                       path, hint);
        goto out;
    }
    f->info.trials = (uint64_t)total;
    read_info(f);
    if ((st = read_journal(f)) != NNFI_OK) goto out;
    *out = f;
    f = NULL;
out:
    quiet_off(&q);
    nnfi_h5_file_close(f);
    return st;
}

/* ---------------------------------------------------------- plan tables -- */

void nnfi_h5_plan_tables_free(nnfi_h5_plan_tables *t)
{
    if (!t) return;
    for (size_t e = 0; t->experiments && e < t->n_experiments; e++) {
        free(t->experiments[e].name);
        free(t->experiments[e].model);
    }
    free(t->experiments);
    free(t->points);
    memset(t, 0, sizeof *t);
}

nnfi_status nnfi_h5_read_plan_tables(nnfi_h5_file *f, nnfi_h5_plan_tables *out)
{
    memset(out, 0, sizeof *out);
    if (!f) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_read_plan_tables: NULL file\n  hint: this is a bug in the caller");
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    int64_t ne = ds_length(f->f, "experiments/name"), np = ds_length(f->f, "points/experiment");
    size_t e_n = ne > 0 ? (size_t)ne : 0, p_n = np > 0 ? (size_t)np : 0, most = (e_n > p_n ? e_n : p_n) + 1;
    char **names = calloc(e_n + 1, sizeof *names), **models = calloc(e_n + 1, sizeof *models);
    uint64_t *u64 = calloc(most, sizeof *u64);
    uint32_t *u32 = calloc(most, sizeof *u32);
    double *dbl = calloc(p_n + 1, sizeof *dbl);
    uint8_t *u8 = calloc(p_n + 1, 1);
    if (ne < 0 || np < 0) {
        st = bad_file(f->path, "no /experiments or /points table");
        goto out;
    }
    out->experiments = calloc(e_n + 1, sizeof *out->experiments);
    out->points = calloc(p_n + 1, sizeof *out->points);
    if (!out->experiments || !out->points || !names || !models || !u64 || !u32 || !dbl || !u8) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", f->path);
        goto out;
    }
    out->n_experiments = e_n;
    out->n_points = p_n;
    if (read_strings(f->f, "experiments/name", e_n, names) < 0 ||
        read_strings(f->f, "experiments/model", e_n, models) < 0) {
        st = bad_file(f->path, "cannot read /experiments/name or /experiments/model");
        goto out;
    }
    for (size_t e = 0; e < e_n; e++) {
        out->experiments[e].name = names[e];
        out->experiments[e].model = models[e];
        names[e] = models[e] = NULL;
    }
#define READ_COL(table, col, n, buf, type, rows, field)                                                    \
    if (read_all(f->f, table "/" col, type, n, buf) < 0) {                                                 \
        st = bad_file(f->path, "cannot read /" table "/" col);                                             \
        goto out;                                                                                          \
    }                                                                                                      \
    for (size_t i = 0; i < n; i++) out->rows[i].field = buf[i];
    READ_COL("experiments", "first_trial", e_n, u64, H5T_NATIVE_UINT64, experiments, first_trial)
    READ_COL("experiments", "trials", e_n, u64, H5T_NATIVE_UINT64, experiments, trials)
    READ_COL("experiments", "n_points", e_n, u32, H5T_NATIVE_UINT32, experiments, n_points)
    READ_COL("points", "experiment", p_n, u32, H5T_NATIVE_UINT32, points, experiment)
    READ_COL("points", "point", p_n, u32, H5T_NATIVE_UINT32, points, point)
    READ_COL("points", "x", p_n, dbl, H5T_NATIVE_DOUBLE, points, x)
    READ_COL("points", "is_rate", p_n, u8, H5T_NATIVE_UINT8, points, is_rate)
    READ_COL("points", "first_trial", p_n, u64, H5T_NATIVE_UINT64, points, first_trial)
    READ_COL("points", "trials", p_n, u64, H5T_NATIVE_UINT64, points, trials)
#undef READ_COL
out:
    for (size_t e = 0; names && models && e < e_n; e++) {
        free(names[e]);
        free(models[e]);
    }
    free(names);
    free(models);
    free(u64);
    free(u32);
    free(dbl);
    free(u8);
    quiet_off(&q);
    return st;
}

/* --------------------------------------------------------------- trials -- */

nnfi_status nnfi_h5_read_trials(nnfi_h5_file *f, const char *column, uint64_t lo, uint64_t count, void *out)
{
    if (!f || !column || (!out && count))
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_read_trials: NULL argument\n  hint: this is a bug in the caller");
    size_t n, i = 0;
    const nnfi_column_info *cols = nnfi_trial_columns(&n);
    while (i < n && strcmp(cols[i].name, column) != 0) i++;
    if (i == n)
        return NNFI_FAIL(NNFI_E_NOTFOUND, "no result column '%s'\n  hint: the columns are those of "
                                          "NNFI_TRIAL_COLUMNS (nnfi/results.h)",
                         column);
    if (lo > f->info.trials || count > f->info.trials - lo)
        return NNFI_FAIL(NNFI_E_INVALID, "%s: rows %" PRIu64 "+%" PRIu64 " of /trials/%s lie outside its %" PRIu64
                                         " rows\n  hint: this is a bug in the caller",
                         f->path, lo, count, column, f->info.trials);
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    char name[96], what[128];
    snprintf(name, sizeof name, "trials/%s", column);
    if (f->cols[i] < 0) {
        if (ds_length(f->f, name) != (int64_t)f->info.trials ||
            (f->cols[i] = H5Dopen2(f->f, name, H5P_DEFAULT)) < 0) {
            snprintf(what, sizeof what, "no readable /%s column of %" PRIu64 " rows", name, f->info.trials);
            st = bad_file(f->path, what);
            goto out;
        }
    }
    snprintf(what, sizeof what, "read /%s", name);
    H5_TRY(read_block(f->cols[i], mem_type(cols[i].kind), lo, count, out), f->path, what);
    journal_overlay(&f->j, i, cols[i].size, lo, count, out);
out:
    quiet_off(&q);
    return st;
}

/* --------------------------------------------------------------- golden -- */

void nnfi_h5_names_free(char **names, size_t n)
{
    for (size_t i = 0; names && i < n; i++) free(names[i]);
    free(names);
}

nnfi_status nnfi_h5_golden_models(nnfi_h5_file *f, char ***names, size_t *n)
{
    *names = NULL;
    *n = 0;
    if (!f) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_golden_models: NULL file\n  hint: this is a bug in the caller");
    if (H5Lexists(f->f, "golden", H5P_DEFAULT) <= 0) return NNFI_OK;
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t g = -1;
    H5G_info_t gi;
    char member[512];
    H5_TRY(g = H5Gopen2(f->f, "golden", H5P_DEFAULT), f->path, "open group /golden");
    H5_TRY(H5Gget_info(g, &gi), f->path, "read group /golden");
    *names = calloc((size_t)gi.nlinks + 1, sizeof **names);
    if (!*names) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", f->path);
        goto out;
    }
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        H5_TRY(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, member, sizeof member, H5P_DEFAULT), f->path,
               "read group /golden");
        if (!((*names)[*n] = strdup(member))) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", f->path);
            goto out;
        }
        (*n)++;
    }
out:
    if (g >= 0) H5Gclose(g);
    if (st != NNFI_OK) {
        nnfi_h5_names_free(*names, *n);
        *names = NULL;
        *n = 0;
    }
    quiet_off(&q);
    return st;
}

nnfi_status nnfi_h5_read_golden(nnfi_h5_file *f, const char *model, int with_data, nnfi_h5_golden_info *out)
{
    memset(out, 0, sizeof *out);
    if (!f || !model)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_read_golden: NULL argument\n  hint: this is a bug in the caller");
    char gname[600], what[1400];
    snprintf(gname, sizeof gname, "golden/%s", model);
    if (strchr(model, '/') || H5Lexists(f->f, "golden", H5P_DEFAULT) <= 0 || H5Lexists(f->f, gname, H5P_DEFAULT) <= 0)
        return NNFI_FAIL(NNFI_E_NOTFOUND, "%s: no golden run of model '%s'\n  hint: the file holds one per model "
                                          "its campaign evaluated (/golden)",
                         f->path, model);
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t g = -1;
    snprintf(what, sizeof what, "read /%s", gname);
    H5_TRY(g = H5Gopen2(f->f, gname, H5P_DEFAULT), f->path, what);
    uint64_t classes = 0;
    if (attr_read(g, "accuracy", H5T_NATIVE_DOUBLE, &out->accuracy) < 0 ||
        attr_read(g, "samples", H5T_NATIVE_UINT64, &out->samples) < 0 ||
        attr_read(g, "classes", H5T_NATIVE_UINT64, &classes) < 0 || classes > UINT32_MAX) {
        snprintf(what, sizeof what, "/%s lacks its accuracy/samples/classes attributes", gname);
        st = bad_file(f->path, what);
        goto out;
    }
    out->classes = (uint32_t)classes;
    uint64_t positions = 1;
    if (H5Aexists(g, "positions") > 0 &&
        (attr_read(g, "positions", H5T_NATIVE_UINT64, &positions) < 0 || positions == 0 || positions > UINT32_MAX)) {
        snprintf(what, sizeof what, "/%s has a bad positions attribute", gname);
        st = bad_file(f->path, what);
        goto out;
    }
    out->positions = (uint32_t)positions;
    if (with_data) {
        size_t n = (size_t)(out->samples * positions * classes), nl = (size_t)(out->samples * positions);
        out->logits = malloc((n ? n : 1) * sizeof *out->logits);
        out->labels = malloc((nl ? nl : 1) * sizeof *out->labels);
        if (!out->logits || !out->labels) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", f->path);
            goto out;
        }
        hid_t ds = H5Dopen2(g, "logits", H5P_DEFAULT), sp = ds >= 0 ? H5Dget_space(ds) : -1;
        hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
        herr_t rc = npts == (hssize_t)n ? H5Dread(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out->logits) : -1;
        if (sp >= 0) H5Sclose(sp);
        if (ds >= 0) H5Dclose(ds);
        if (rc < 0 || read_all(g, "labels", H5T_NATIVE_INT32, nl, out->labels) < 0) {
            snprintf(what, sizeof what, "cannot read /%s/logits [%" PRIu64 " x %u] and /%s/labels", gname,
                     out->samples, out->classes, gname);
            st = bad_file(f->path, what);
            goto out;
        }
    }
out:
    if (g >= 0) H5Gclose(g);
    if (st != NNFI_OK) {
        free(out->logits);
        free(out->labels);
        out->logits = NULL;
        out->labels = NULL;
    }
    quiet_off(&q);
    return st;
}
