/* h5_writer.c - the writer's buffers, checkpoint and fold: put_rows /
 * put_faults buffer rows (column-major) and faults in memory; checkpoint()
 * appends them, sorted by trial, as one record to the journal
 * (h5_journal.h); fold_journal() writes every journaled record into the file
 * as one durable update (h5_durable.c): the /trials columns (done last, so a
 * row is never done before its values are in), /faults appended in record
 * order, /progress. Also close(), read_column(), trials_done() and stats().
 *
 * Notes on behaviour the header leaves open:
 *   - put_faults() silently ignores fault lists longer than the campaign's
 *     output.faults_max_n (and empty ones): only short lists are kept.
 *   - /faults rows are appended in checkpoint order (put order within one
 *     checkpoint), not sorted by trial; select by the `trial` column.
 *   - A trial put twice before a checkpoint keeps the row put last; a row put
 *     after a checkpoint overwrites the stored one.
 */
#include "h5_writer.h"
#include "h5_journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

static int bit_get(const uint8_t *b, uint64_t t) { return (b[t >> 3] >> (t & 7)) & 1; }

/* Room for n more buffered rows. */
static nnfi_status reserve_rows(nnfi_h5_results *r, size_t n)
{
    size_t nc;
    const nnfi_column_info *cols = nnfi_trial_columns(&nc);
    if (r->n_rows + n <= r->cap_rows) return NNFI_OK;
    size_t cap = r->cap_rows ? r->cap_rows : 4096;
    while (cap < r->n_rows + n) cap *= 2;
    uint64_t *nt = realloc(r->trials, cap * sizeof *nt);
    if (nt) r->trials = nt;
    for (size_t i = 0; nt && i < nc; i++) {
        uint8_t *c = realloc(r->col[i], cap * cols[i].size);
        if (c) r->col[i] = c;
        else nt = NULL;
    }
    if (!nt) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory buffering %zu result rows\n  hint: checkpoint more often", cap);
    r->cap_rows = cap;
    return NNFI_OK;
}

/* Room for n more buffered faults. */
static nnfi_status reserve_faults(nnfi_h5_results *r, size_t n)
{
    if (r->n_faults + n <= r->cap_faults) return NNFI_OK;
    size_t cap = r->cap_faults ? r->cap_faults : 1024;
    while (cap < r->n_faults + n) cap *= 2;
    nnfi_fault_row *nf = realloc(r->faults, cap * sizeof *nf);
    if (!nf) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory buffering %zu faults\n  hint: checkpoint more often", cap);
    r->faults = nf;
    r->cap_faults = cap;
    return NNFI_OK;
}

nnfi_status nnfi_h5_put_rows(nnfi_h5_results *r, const nnfi_trial_row *rows, size_t n)
{
    if (!r || (!rows && n))
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_put_rows: NULL argument\n  hint: this is a bug in the caller");
    for (size_t i = 0; i < n; i++)
        if (rows[i].trial >= r->total)
            return NNFI_FAIL(NNFI_E_INVALID, "%s: a row for trial %" PRIu64 " but the plan has %" PRIu64 " trials\n"
                                             "  hint: this is a bug in the caller (rows are placed by global trial index)",
                             r->path, rows[i].trial, r->total);
    size_t nc;
    const nnfi_column_info *cols = nnfi_trial_columns(&nc);
    NNFI_TRY(reserve_rows(r, n));
    /* transpose into the column buffers (a batch is small: its rows stay in cache) */
    for (size_t k = 0; k < n; k++) r->trials[r->n_rows + k] = rows[k].trial;
    for (size_t i = 0; i < nc; i++) {
        size_t off = cols[i].offset, size = cols[i].size;
        uint8_t *dst = r->col[i] + r->n_rows * size;
        const char *src = (const char *)rows + off;
        switch (size) {
        case 1:
            for (size_t k = 0; k < n; k++) dst[k] = *(const uint8_t *)(src + k * sizeof *rows);
            break;
        case 4:
            for (size_t k = 0; k < n; k++) memcpy(dst + 4 * k, src + k * sizeof *rows, 4);
            break;
        case 8:
            for (size_t k = 0; k < n; k++) memcpy(dst + 8 * k, src + k * sizeof *rows, 8);
            break;
        default:
            for (size_t k = 0; k < n; k++) memcpy(dst + size * k, src + k * sizeof *rows, size);
            break;
        }
    }
    r->n_rows += n;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = rows[i].trial;
        int was = bit_get(r->done_bits, t), now = rows[i].done != 0;
        if (was == now) continue;
        if (now) {
            r->done_bits[t >> 3] |= (uint8_t)(1u << (t & 7));
            r->n_done++;
        } else {
            r->done_bits[t >> 3] &= (uint8_t)~(1u << (t & 7));
            r->n_done--;
        }
    }
    return NNFI_OK;
}

nnfi_status nnfi_h5_put_faults(nnfi_h5_results *r, uint64_t trial, const nnfi_fault *faults, size_t n)
{
    if (!r || (!faults && n))
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_put_faults: NULL argument\n  hint: this is a bug in the caller");
    if (trial >= r->total)
        return NNFI_FAIL(NNFI_E_INVALID, "%s: faults for trial %" PRIu64 " but the plan has %" PRIu64 " trials\n"
                                         "  hint: this is a bug in the caller",
                         r->path, trial, r->total);
    uint64_t max_n = r->c->output ? r->c->output->faults_max_n : 1000;
    if (n == 0 || n > max_n) return NNFI_OK; /* long lists are not stored: they regenerate from the seed */
    NNFI_TRY(reserve_faults(r, n));
    for (size_t i = 0; i < n; i++) r->faults[r->n_faults + i] = nnfi_fault_row_of(trial, &faults[i]);
    r->n_faults += n;
    return NNFI_OK;
}

/* ----------------------------------------------------------- checkpoint -- */

typedef struct row_key {
    uint64_t trial;
    size_t idx;
} row_key;

static int cmp_key(const void *a, const void *b)
{
    const row_key *x = a, *y = b;
    if (x->trial != y->trial) return x->trial < y->trial ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* Indices of the buffered rows to write, sorted by trial, one per trial (the
 * last one put). Returns the count, or (size_t)-1 when out of memory. */
static size_t order_rows(const nnfi_h5_results *r, size_t *order)
{
    size_t n = r->n_rows, m = 0;
    int sorted = 1;
    for (size_t i = 1; i < n && sorted; i++) sorted = r->trials[i] > r->trials[i - 1];
    if (sorted) {
        for (size_t i = 0; i < n; i++) order[i] = i;
        return n;
    }
    row_key *keys = malloc(n * sizeof *keys);
    if (!keys) return (size_t)-1;
    for (size_t i = 0; i < n; i++) {
        keys[i].trial = r->trials[i];
        keys[i].idx = i;
    }
    qsort(keys, n, sizeof *keys, cmp_key);
    for (size_t i = 0; i < n; i++)
        if (i + 1 == n || keys[i + 1].trial != keys[i].trial) order[m++] = keys[i].idx;
    free(keys);
    return m;
}

/* Select the runs of consecutive trials of the ordered rows in `space`. */
static herr_t select_rows(hid_t space, const nnfi_h5_results *r, const size_t *order, size_t m)
{
    if (H5Sselect_none(space) < 0) return -1;
    size_t i = 0;
    while (i < m) {
        size_t j = i + 1;
        while (j < m && r->trials[order[j]] == r->trials[order[j - 1]] + 1) j++;
        hsize_t start = r->trials[order[i]], count = j - i;
        if (H5Sselect_hyperslab(space, H5S_SELECT_OR, &start, NULL, &count, NULL) < 0) return -1;
        i = j;
    }
    return 0;
}

static void gather(const void *base, size_t stride, const size_t *order, size_t m, size_t offset, size_t size,
                   void *out)
{
    const char *b = (const char *)base + offset;
    switch (size) {
    case 1:
        for (size_t j = 0; j < m; j++) ((uint8_t *)out)[j] = *(const uint8_t *)(b + order[j] * stride);
        break;
    case 4:
        for (size_t j = 0; j < m; j++) memcpy((char *)out + 4 * j, b + order[j] * stride, 4);
        break;
    case 8:
        for (size_t j = 0; j < m; j++) memcpy((char *)out + 8 * j, b + order[j] * stride, 8);
        break;
    default:
        for (size_t j = 0; j < m; j++) memcpy((char *)out + size * j, b + order[j] * stride, size);
        break;
    }
}

/* Write the buffered rows into the /trials columns. Columns laid out as
 * create() makes them (chunked, shuffle + deflate or no filters) are written
 * chunk by chunk (h5_chunks.c); anything else through a hyperslab selection. */
static nnfi_status write_rows(hid_t f, nnfi_h5_results *r)
{
    nnfi_status st = NNFI_OK;
    chunk_writer *w = chunk_writer_new(trial_chunk(r->total));
    size_t *order = malloc(r->n_rows * sizeof *order);
    hid_t fs = -1, ms = -1, ds = -1;
    void *tmp = NULL;
    size_t m = order ? order_rows(r, order) : (size_t)-1;
    if (!order || !w || m == (size_t)-1) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory writing %zu rows to %s\n  hint: checkpoint more often", r->n_rows,
                       r->path);
        goto out;
    }
    size_t n;
    const nnfi_column_info *cols = nnfi_trial_columns(&n);
    char what[128], dname[96];
    /* every column but `done`, then `done`: a row is never done before its values are in */
    for (size_t pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            const nnfi_column_info *col = &cols[i];
            if ((strcmp(col->name, "done") == 0) != (pass == 1)) continue;
            snprintf(what, sizeof what, "write /trials/%s", col->name);
            snprintf(dname, sizeof dname, "trials/%s", col->name);
            H5_TRY(ds = H5Dopen2(f, dname, H5P_DEFAULT), r->path, what);
            int chunked;
            H5_TRY(chunked = write_column_chunks(ds, w, r, order, m, i, col), r->path, what);
            if (!chunked) {
                if (fs < 0) {
                    hsize_t total = r->total, mm = m;
                    tmp = malloc(m * 8);
                    if (!tmp) {
                        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory writing %zu rows to %s", m, r->path);
                        goto out;
                    }
                    H5_TRY(fs = H5Screate_simple(1, &total, NULL), r->path, what);
                    H5_TRY(select_rows(fs, r, order, m), r->path, what);
                    H5_TRY(ms = H5Screate_simple(1, &mm, NULL), r->path, what);
                }
                gather(r->col[i], col->size, order, m, 0, col->size, tmp);
                H5_TRY(H5Dwrite(ds, mem_type(col->kind), ms, fs, H5P_DEFAULT, tmp), r->path, what);
            }
            H5_TRY(H5Dclose(ds), r->path, what);
            ds = -1;
        }
out:
    if (ds >= 0) H5Dclose(ds);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    chunk_writer_free(w);
    free(order);
    free(tmp);
    return st;
}

nnfi_status append_fault_rows(hid_t f, const char *path, const nnfi_fault_row *rows, size_t m)
{
    nnfi_status st = NNFI_OK;
    hid_t g = -1, ds = -1, fs = -1, ms = -1;
    size_t *order = malloc((m + 1) * sizeof *order);
    void *tmp = malloc(m * 8 + 1);
    if (!order || !tmp) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory writing %zu faults to %s", m, path);
        goto out;
    }
    for (size_t i = 0; i < m; i++) order[i] = i;
    size_t nfc;
    const nnfi_column_info *fcols = nnfi_fault_columns(&nfc);
    char what[128];
    if (H5Lexists(f, "faults", H5P_DEFAULT) <= 0) { /* first faults: make the extendible columns */
        H5_TRY(g = H5Gcreate2(f, "faults", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /faults");
        for (size_t i = 0; i < nfc; i++) {
            snprintf(what, sizeof what, "create dataset /faults/%s", fcols[i].name);
            H5_TRY(ds = create_column(g, &fcols[i], 0, FAULT_CHUNK), path, what);
            H5Dclose(ds);
            ds = -1;
        }
    } else {
        H5_TRY(g = H5Gopen2(f, "faults", H5P_DEFAULT), path, "open group /faults");
    }
    int64_t cur = ds_length(g, "trial");
    if (cur < 0) {
        st = h5_fail(path, "read the length of /faults/trial");
        goto out;
    }
    hsize_t start = (hsize_t)cur, count = m, next = start + count;
    H5_TRY(ms = H5Screate_simple(1, &count, NULL), path, "append to /faults");
    for (size_t i = 0; i < nfc; i++) {
        const nnfi_column_info *fc = &fcols[i];
        snprintf(what, sizeof what, "append to /faults/%s", fc->name);
        gather(rows, sizeof *rows, order, m, fc->offset, fc->size, tmp);
        H5_TRY(ds = H5Dopen2(g, fc->name, H5P_DEFAULT), path, what);
        H5_TRY(H5Dset_extent(ds, &next), path, what);
        H5_TRY(fs = H5Dget_space(ds), path, what);
        H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL), path, what);
        H5_TRY(H5Dwrite(ds, mem_type(fc->kind), ms, fs, H5P_DEFAULT, tmp), path, what);
        H5Sclose(fs);
        fs = -1;
        H5_TRY(H5Dclose(ds), path, what);
        ds = -1;
    }
out:
    if (fs >= 0) H5Sclose(fs);
    if (ms >= 0) H5Sclose(ms);
    if (ds >= 0) H5Dclose(ds);
    if (g >= 0) H5Gclose(g);
    free(order);
    free(tmp);
    return st;
}

static nnfi_status write_faults(hid_t f, nnfi_h5_results *r)
{
    return append_fault_rows(f, r->path, r->faults, r->n_faults);
}

/* An upper bound of the bytes a fold adds to the file: every chunk the
 * journaled rows touch rewritten in every column at its worst compressed
 * size, the faults, and room for metadata. */
static uint64_t fold_growth(const nnfi_h5_results *r, const journal *j)
{
    uint64_t chunk = trial_chunk(r->total);
    uint64_t n_chunks = r->total / chunk + 1, touched = 0;
    uint8_t *seen = calloc((size_t)(n_chunks / 8 + 1), 1);
    for (size_t k = 0; k < j->n_rec && touched < n_chunks; k++)
        for (uint64_t i = 0; i < j->rec[k].n_rows; i++) {
            uint64_t t;
            memcpy(&t, &j->rec[k].trial[i], 8);
            uint64_t c = t / chunk;
            if (!seen) {
                touched = n_chunks;
                break;
            }
            if (!(seen[c >> 3] >> (c & 7) & 1)) {
                seen[c >> 3] |= (uint8_t)(1u << (c & 7));
                touched++;
            }
        }
    free(seen);
    size_t n;
    nnfi_trial_columns(&n);
    uint64_t per_chunk = compressBound((uLong)(chunk * 8)) * n; /* no column is wider than 8 bytes */
    return touched * per_chunk + journal_faults(j) * 2 * sizeof(nnfi_fault_row) + (64u << 10);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

#define FOLD_BATCH ((size_t)1 << 20)     /* rows written into the file per pass of a fold */
#define FOLD_MIN ((uint64_t)256 << 20) /* journal bytes: no fold below this */

/* Move the buffered rows and faults into the open copy f, then empty the buffers. */
static nnfi_status flush_buffers(hid_t f, nnfi_h5_results *r)
{
    nnfi_status st = NNFI_OK;
    if (r->n_rows) st = write_rows(f, r);
    if (st == NNFI_OK && r->n_faults) st = write_faults(f, r);
    r->n_rows = 0;
    r->n_faults = 0;
    return st;
}

/* Copy journal record k's rows and faults into the (empty or partly filled) buffers. */
static nnfi_status buffer_record(nnfi_h5_results *r, const jrec *rec)
{
    size_t nc, nf;
    const nnfi_column_info *tc = nnfi_trial_columns(&nc), *fc = nnfi_fault_columns(&nf);
    size_t n = (size_t)rec->n_rows, m = (size_t)rec->n_faults;
    NNFI_TRY(reserve_rows(r, n));
    NNFI_TRY(reserve_faults(r, m));
    memcpy(r->trials + r->n_rows, rec->trial, 8 * n);
    for (size_t i = 0; i < nc; i++) memcpy(r->col[i] + r->n_rows * tc[i].size, rec->col[i], n * tc[i].size);
    r->n_rows += n;
    for (size_t i = 0; i < nf; i++)
        for (size_t k = 0; k < m; k++)
            memcpy((char *)&r->faults[r->n_faults + k] + fc[i].offset, rec->fcol[i] + k * fc[i].size, fc[i].size);
    r->n_faults += m;
    return NNFI_OK;
}

nnfi_status fold_journal(nnfi_h5_results *r)
{
    if (r->checkpoints == r->js->folded) return NNFI_OK;
    double t0 = now_s();
    h5_quiet q;
    quiet_on(&q);
    journal j;
    update u;
    hid_t f = -1;
    nnfi_status st = journal_load(r->path, r->js->journal_id, r->js->folded, &j);
    if (st != NNFI_OK) goto out;
    uint64_t last = j.n_rec ? j.rec[j.n_rec - 1].seq : r->js->folded;
    if (last != r->checkpoints || j.gap) {
        char *jp = journal_path(r->path);
        st = NNFI_FAIL(NNFI_E_IO, "%s: the checkpoint journal %s holds checkpoints %" PRIu64 "..%" PRIu64 " but %" PRIu64
                                  "..%" PRIu64 " were written\n  hint: was the journal changed or removed while the "
                                  "campaign ran? 'nnfi run --resume' redoes the missing rows",
                       r->path, jp ? jp : "", j.n_rec ? j.rec[0].seq : 0, last, r->js->folded + 1, r->checkpoints);
        free(jp);
        goto out;
    }
    /* the buffers are empty here (checkpoint() journaled them): a fold uses them as its batch */
    if ((st = update_begin(r->path, "fold the checkpoint journal into the result file", fold_growth(r, &j), &u)) !=
        NNFI_OK)
        goto out;
    f = u.f;
    for (size_t k = 0; k < j.n_rec && st == NNFI_OK; k++) {
        st = buffer_record(r, &j.rec[k]);
        if (st == NNFI_OK && (r->n_rows >= FOLD_BATCH || k + 1 == j.n_rec)) st = flush_buffers(f, r);
    }
    if (st == NNFI_OK) st = write_progress(f, r->path, j.n_rec ? j.rec[j.n_rec - 1].n_done : r->n_done, last,
                                           r->js->journal_id);
out:
    r->n_rows = 0; /* the rows are in the journal whatever happened */
    r->n_faults = 0;
    if (f >= 0) st = update_end(&u, r->path, st);
    journal_free(&j);
    if (st == NNFI_OK) {
        r->js->folded = last;
        if (r->js->jfd >= 0) close(r->js->jfd); /* the next checkpoint starts a new journal */
        r->js->jfd = -1;
        struct stat sb;
        uint64_t size = stat(r->path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        r->js->stats.folds++;
        r->js->stats.fold_bytes += 2 * size; /* copied, then written */
        /* journal records are uncompressed (about 5x a row's bytes in the
         * file): folding at four times the file's size lets the file grow by
         * about 80% between folds, so all folds together copy about twice
         * the final file */
        r->js->fold_at = 4 * size > FOLD_MIN ? 4 * size : FOLD_MIN;
    }
    r->js->stats.fold_s += now_s() - t0;
    quiet_off(&q);
    return st;
}

/* Bytes of journal records that make a fold due (NNFI_FOLD_MB, else four
 * times the file's size at the last fold, at least FOLD_MIN). */
static uint64_t fold_threshold(const nnfi_h5_results *r)
{
    const char *e = getenv("NNFI_FOLD_MB");
    if (e && *e) {
        char *end;
        unsigned long long mb = strtoull(e, &end, 10);
        if (*end == '\0') return (uint64_t)mb << 20;
    }
    return r->js->fold_at ? r->js->fold_at : FOLD_MIN;
}

nnfi_status append_checkpoint(nnfi_h5_results *r, uint64_t n_done)
{
    double t0 = now_s();
    jstate *js = r->js;
    nnfi_status st = NNFI_OK;
    size_t nc;
    const nnfi_column_info *cols = nnfi_trial_columns(&nc);
    size_t *order = malloc((r->n_rows + 1) * sizeof *order);
    uint64_t *trial = malloc((r->n_rows + 1) * 8);
    uint8_t **col = calloc(nc, sizeof *col);
    size_t m = order ? order_rows(r, order) : (size_t)-1;
    for (size_t i = 0; col && i < nc; i++) col[i] = malloc(r->n_rows * cols[i].size + 1);
    int oom = !order || !trial || !col || m == (size_t)-1;
    for (size_t i = 0; !oom && i < nc; i++) oom = !col[i];
    if (oom) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory checkpointing %zu rows to %s\n  hint: checkpoint more often",
                       r->n_rows, r->path);
        goto out;
    }
    for (size_t k = 0; k < m; k++) trial[k] = r->trials[order[k]];
    for (size_t i = 0; i < nc; i++) gather(r->col[i], cols[i].size, order, m, 0, cols[i].size, col[i]);
    if (js->jfd < 0 && (st = journal_start(r->path, js->journal_id, js->folded, &js->jfd, &js->jbytes)) != NNFI_OK)
        goto out;
    uint64_t bytes = 0;
    st = journal_append(r->path, js->jfd, js->jbytes, r->checkpoints, n_done, trial, (const uint8_t *const *)col, m,
                        r->faults, r->n_faults, &bytes);
    if (st != NNFI_OK) goto out; /* on failure keep the buffers: a later checkpoint retries */
    js->jbytes += bytes;
    r->n_rows = 0;
    r->n_faults = 0;
    js->stats.checkpoints++;
    js->stats.journal_bytes += bytes;
    js->stats.last_checkpoint_bytes = bytes;
out:
    free(order);
    free(trial);
    for (size_t i = 0; col && i < nc; i++) free(col[i]);
    free(col);
    js->stats.last_checkpoint_s = now_s() - t0;
    js->stats.append_s += js->stats.last_checkpoint_s;
    if (st == NNFI_OK && js->jbytes >= fold_threshold(r)) st = fold_journal(r);
    return st;
}

/* A checkpoint on the caller's thread: every earlier async one first. */
nnfi_status nnfi_h5_checkpoint(nnfi_h5_results *r)
{
    if (!r) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_checkpoint: NULL writer\n  hint: this is a bug in the caller");
    double t0 = now_s();
    nnfi_status st = bg_drain(r);
    if (st == NNFI_OK && (r->n_rows || r->n_faults)) {
        r->checkpoints++;
        st = append_checkpoint(r, r->n_done);
        if (st != NNFI_OK) r->checkpoints--; /* the buffers stay: the next checkpoint retries this one */
    }
    r->js->stats.checkpoint_s += now_s() - t0;
    return st;
}

nnfi_status nnfi_h5_checkpoint_async(nnfi_h5_results *r)
{
    if (!r) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_checkpoint_async: NULL writer\n  hint: this is a bug in the caller");
    if (!r->n_rows && !r->n_faults) return NNFI_OK;
    double t0 = now_s();
    nnfi_status st = bg_enqueue(r);
    r->js->stats.checkpoint_s += now_s() - t0;
    return st;
}

const nnfi_h5_checkpoint_stats *nnfi_h5_stats(nnfi_h5_results *r)
{
    if (!r) return NULL;
    (void)bg_drain(r); /* the background writer's figures are complete once it is idle */
    return &r->js->stats;
}

nnfi_status nnfi_h5_close(nnfi_h5_results *r)
{
    if (!r) return NNFI_OK;
    nnfi_status st = bg_stop(r); /* the queued async checkpoints, in order */
    if (st == NNFI_OK) st = nnfi_h5_checkpoint(r);
    nnfi_status fs = fold_journal(r);
    if (st == NNFI_OK) st = fs;
    if (r->js->jfd >= 0) close(r->js->jfd);
    if (st == NNFI_OK) { /* every row is in the file: the journal is spent */
        char *jp = journal_path(r->path);
        if (jp) unlink(jp);
        free(jp);
        sync_dir_of(r->path);
    }
    free_writer(r);
    return st;
}

void free_writer(nnfi_h5_results *r)
{
    if (!r) return;
    free(r->path);
    free(r->done_bits);
    for (size_t i = 0; i < r->n_cols; i++) free(r->col[i]);
    free(r->col);
    free(r->trials);
    free(r->faults);
    free(r->js);
    free(r);
}

nnfi_status nnfi_h5_read_column(nnfi_h5_results *r, const char *name, void *out)
{
    if (!r || !name || !out)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_read_column: NULL argument\n  hint: this is a bug in the caller");
    size_t n;
    const nnfi_column_info *cols = nnfi_trial_columns(&n), *col = NULL;
    for (size_t i = 0; i < n && !col; i++)
        if (strcmp(cols[i].name, name) == 0) col = &cols[i];
    if (!col)
        return NNFI_FAIL(NNFI_E_NOTFOUND, "no result column '%s'\n  hint: the columns are those of "
                                          "NNFI_TRIAL_COLUMNS (nnfi/results.h)",
                         name);
    if (!r->total) return NNFI_OK;
    NNFI_TRY(bg_drain(r));
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    char dname[96], what[128];
    snprintf(dname, sizeof dname, "trials/%s", name);
    snprintf(what, sizeof what, "read /trials/%s", name);
    hid_t ds = -1, f = open_file(r->path, H5F_ACC_RDONLY);
    if (f < 0) {
        st = open_fail(r->path, "reopen the result file to read a column");
        goto out;
    }
    int64_t len = ds_length(f, dname);
    if (len < 0 || (uint64_t)len != r->total) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /trials/%s is missing or does not hold %" PRIu64 " rows\n  hint: the file is "
                                  "damaged; start again with --force or a new -o",
                       r->path, name, r->total);
        goto out;
    }
    H5_TRY(ds = H5Dopen2(f, dname, H5P_DEFAULT), r->path, what);
    H5_TRY(H5Dread(ds, mem_type(col->kind), H5S_ALL, H5S_ALL, H5P_DEFAULT, out), r->path, what);
    journal j; /* the checkpoints not folded yet */
    if ((st = journal_load(r->path, r->js->journal_id, r->js->folded, &j)) != NNFI_OK) goto out;
    journal_overlay(&j, (size_t)(col - cols), col->size, 0, r->total, out);
    journal_free(&j);
out:
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    quiet_off(&q);
    return st;
}

uint64_t nnfi_h5_trials_done(const nnfi_h5_results *r) { return r ? r->n_done : 0; }
