/* h5_results.c - the HDF5 result file (see nnfi/h5_results.h for the layout,
 * the durability model and the lifecycle).
 *
 * Only the serial HDF5 API is used, from one process (rank 0). The file is
 * never changed in place: create() builds it under PATH.ckpt and publishes it
 * by link()/rename(); add_sites(), add_golden() and checkpoint() copy it to
 * PATH.ckpt, change the copy, fsync it and rename() it over PATH (see
 * "crash-safe updates" below). A kill -9, a full disk or any error at any
 * moment therefore leaves PATH as the last complete update made it. Within a
 * checkpoint the `done` column is still written last.
 *
 * HDF5's automatic error printing is silenced at every entry point and its
 * errors are turned into nnfi messages that name the file, what was being
 * written and HDF5's innermost reason.
 *
 * Speed (tests/bench/bench_h5.c): rows are buffered column-major, and a
 * checkpoint writes each /trials column chunk by chunk with H5Dwrite_chunk,
 * doing the shuffle + deflate itself (zlib level 1 with the Z_RLE strategy,
 * a valid stream for HDF5's deflate filter, about twice as fast on shuffled
 * numbers); chunks the buffered rows cover in part are read back
 * (H5Dread_chunk), merged and rewritten. Columns of any other layout go
 * through an ordinary hyperslab H5Dwrite. The file keeps its free-space
 * information across opens (1.10 file format, so readers need HDF5 >= 1.10),
 * else every partly rewritten chunk would leak its old space at each close.
 *
 * Notes on behaviour the header leaves open:
 *   - put_faults() silently ignores fault lists longer than the campaign's
 *     output.faults_max_n (and empty ones): only short lists are kept.
 *   - /faults rows are appended in checkpoint order (put order within one
 *     checkpoint), not sorted by trial; select by the `trial` column.
 *   - A trial put twice before a checkpoint keeps the row put last; a row put
 *     after a checkpoint overwrites the stored one.
 *   - add_sites()/add_golden() on a resumed file whose model group exists
 *     check the new data against the stored one (site names; golden shape and
 *     labels) and refuse a mismatch instead of rewriting.
 */
#define _GNU_SOURCE /* copy_file_range, flock */
#include "nnfi/h5_results.h"

#include "h5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "nnfi/build_info.h"

/* Filters of the chunked /trials, /faults and golden datasets of files made
 * from now on: 1 = shuffle + deflate level 1 (the default), 0 = none. Not
 * part of the API: a knob for tests/bench/bench_h5.c and
 * tests/results/test_h5_results.c, which declare it extern. */
extern int nnfi_h5_filters;
int nnfi_h5_filters = 1;

#define TRIAL_CHUNK 65536u      /* rows per chunk of /trials columns */
#define FAULT_CHUNK 16384u      /* rows per chunk of /faults columns */
#define SCALE_BLOCK (1u << 20)  /* trial indices written per H5Dwrite */

/* ---------------------------------------------------------------- types -- */

typedef enum h5_kind { K_U8, K_U32, K_I32, K_U64, K_I64, K_F64 } h5_kind;

static hid_t mem_type(h5_kind k)
{
    switch (k) {
    case K_U8: return H5T_NATIVE_UINT8;
    case K_U32: return H5T_NATIVE_UINT32;
    case K_I32: return H5T_NATIVE_INT32;
    case K_U64: return H5T_NATIVE_UINT64;
    case K_I64: return H5T_NATIVE_INT64;
    case K_F64: return H5T_NATIVE_DOUBLE;
    }
    return H5T_NATIVE_UINT8;
}

static hid_t file_type(h5_kind k)
{
    switch (k) {
    case K_U8: return H5T_STD_U8LE;
    case K_U32: return H5T_STD_U32LE;
    case K_I32: return H5T_STD_I32LE;
    case K_U64: return H5T_STD_U64LE;
    case K_I64: return H5T_STD_I64LE;
    case K_F64: return H5T_IEEE_F64LE;
    }
    return H5T_STD_U8LE;
}

static h5_kind column_kind(nnfi_column_kind k)
{
    switch (k) {
    case NNFI_COL_U8: return K_U8;
    case NNFI_COL_U32: return K_U32;
    case NNFI_COL_I32: return K_I32;
    case NNFI_COL_U64: return K_U64;
    case NNFI_COL_F64: return K_F64;
    }
    return K_U8;
}

/* A buffered fault and the /faults columns made from it. */
typedef struct pending_fault {
    uint64_t trial;
    nnfi_fault f;
} pending_fault;

typedef struct fault_column {
    const char *name;
    h5_kind kind;
    size_t offset, size;
    const char *unit, *description;
} fault_column;

#define FCOL(field, kind, unit, desc) {#field, kind, offsetof(pending_fault, f.field), sizeof(((nnfi_fault *)0)->field), unit, desc}
static const fault_column fault_columns[] = {
    {"trial", K_U64, offsetof(pending_fault, trial), sizeof(uint64_t), "1", "global trial index (row of /trials)"},
    FCOL(group, K_U8, "1", "fault group within the experiment"),
    FCOL(site, K_U32, "1", "site index (row of /sites/<model>)"),
    FCOL(element, K_U64, "1", "element index within the site (per sample for activations)"),
    FCOL(mask, K_U64, "1", "bits changed, within the dtype's width"),
    FCOL(value, K_U64, "1", "random/set: the bits written under mask"),
    FCOL(op, K_U8, "1", "0 flip, 1 stuck0, 2 stuck1, 3 random, 4 set"),
    FCOL(transient, K_U8, "1", "0 permanent, 1 transient"),
    FCOL(scope, K_U8, "1", "transient: 0 a forward call, 1 one eval sample"),
    FCOL(when, K_I64, "1", "transient: forward-call or eval-sample index; -1 permanent"),
    FCOL(t_first, K_U32, "step", "first time step hit (inclusive)"),
    FCOL(t_last, K_U32, "step", "last time step hit (inclusive; 4294967295 = every step)"),
};
#undef FCOL
#define N_FAULT_COLUMNS (sizeof fault_columns / sizeof fault_columns[0])

struct nnfi_h5_results {
    char *path;
    const nnfi_campaign *c;
    const nnfi_plan *p;
    uint64_t total;
    uint8_t *done_bits; /* one bit per trial: done (written or buffered) */
    uint64_t n_done;
    /* buffered rows, column-major: the trial indices and one array per column
     * of NNFI_TRIAL_COLUMNS (n_cols of them, cols[i].size bytes a value) */
    uint64_t *trials;
    uint8_t **col;
    size_t n_cols;
    size_t n_rows, cap_rows;
    pending_fault *faults; /* buffered faults */
    size_t n_faults, cap_faults;
    uint64_t checkpoints;
};

/* --------------------------------------------------------------- errors -- */

/* Every HDF5 call clears the error stack: run the clean-up calls after a
 * failure without losing the stack h5_fail() reports from. */
#define KEEP_ERRORS(failed, cleanup)                                                                       \
    do {                                                                                                   \
        hid_t es_ = (failed) ? H5Eget_current_stack() : -1;                                                \
        cleanup;                                                                                           \
        if (es_ >= 0) H5Eset_current_stack(es_);                                                           \
    } while (0)

/* ----------------------------------------------------------- small bits -- */

static void iso_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Push the closed file's pages to stable storage (a node crash, not only a
 * killed process, then keeps the last checkpoint); `path` names it in errors.
 * A full disk may first show here (delayed allocation). */
static nnfi_status sync_file(const char *file, const char *path)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        if (no_space_errno(err)) return no_space_fail(path, "sync the file", err);
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot sync %s: %s\n  hint: check the disk", path, file, strerror(err));
    }
    close(fd);
    return NNFI_OK;
}

static hid_t make_fapl(void)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    H5Pset_fclose_degree(fapl, H5F_CLOSE_STRONG); /* close leftovers of error paths */
    H5Pset_file_locking(fapl, 1, 1);               /* lock, unless the file system cannot */
    return fapl;
}

static herr_t find_lock_error(unsigned n, const H5E_error2_t *e, void *found)
{
    (void)n;
    if (e->desc && strstr(e->desc, "lock file")) *(int *)found = 1;
    return 0;
}

/* Did the last HDF5 call fail on the file lock (another process has the
 * file open: readers hold a shared lock, a writer an exclusive one)? */
static int lock_error(void)
{
    int found = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, find_lock_error, &found);
    return found;
}

#define LOCK_WAIT_TRIES 100 /* x 100 ms: how long an open waits for another program's lock */

/* Open the file; while another program holds a conflicting lock (say an h5py
 * session reading the file of a running campaign), retry for up to 10 s. On
 * failure HDF5's error stack is left for open_fail(). */
static hid_t open_file(const char *path, unsigned flags)
{
    for (int attempt = 0;; attempt++) {
        hid_t fapl = make_fapl();
        if (fapl < 0) return fapl;
        hid_t f = H5Fopen(path, flags, fapl);
        KEEP_ERRORS(f < 0, H5Pclose(fapl));
        if (f >= 0 || attempt + 1 >= LOCK_WAIT_TRIES || !lock_error()) return f;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* The message for an open_file() failure. */
static nnfi_status open_fail(const char *path, const char *what)
{
    if (lock_error())
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: another program has it open (HDF5 file lock, waited 10 s)\n  hint: "
                                    "close h5py/HDFView sessions on the file of a running campaign, or read it with "
                                    "'nnfi inspect' or with HDF5_USE_FILE_LOCKING=FALSE set, which take no lock; is "
                                    "another 'nnfi run' writing it?",
                         path, what);
    return h5_fail(path, what);
}

/* ---------------------------------------------------- crash-safe updates -- */

/* Why copies: HDF5 1.10 writes in place and keeps no journal. A checkpoint
 * rewrites chunks; their new versions go into free space, which may be the
 * space of chunks the old, still-on-disk index points to, and the index
 * itself is written at close. A kill -9 inside that window left columns that
 * no longer inflate (8 of 40 kills in tests/drills' torture run before this
 * change), and a full disk does the same at any moment of the window. So
 * every change is made on a copy PATH.ckpt (same directory, so rename() is
 * atomic), which replaces PATH only once it is complete and fsync'ed. The
 * price: one copy of the file per checkpoint (copy_file_range: a reflink or
 * an in-kernel copy where the file system can) and the file's size again in
 * free space while it runs. A stale PATH.ckpt (a kill during an update) is
 * simply replaced by the next update. */

#define TMP_SUFFIX ".ckpt"

typedef struct update {
    char *tmp;   /* PATH.ckpt */
    int lock_fd; /* PATH, flock'ed exclusively while the update runs */
    hid_t f;     /* the copy, open read-write */
} update;

static char *side_path(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", path, suffix);
    return s;
}

/* fsync the directory holding path: the rename itself survives a node crash. */
static void sync_dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d) return;
    char *slash = strrchr(d, '/');
    const char *dir = ".";
    if (slash == d) dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = d;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(d);
}

/* Copy all of `in` to `out` (both at offset 0); 0, or -1 with errno set. */
static int copy_fd(int in, int out)
{
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
        if (n > 0) continue;
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) return -1;
        break; /* no in-kernel copy here: plain reads and writes from where it stopped */
    }
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return -1;
            done += w;
        }
    }
}

/* Take PATH's lock the way an HDF5 writer would (readers such as h5py hold a
 * shared one): wait up to 10 s. 0 = locked, or the file system has no locks
 * (HDF5 then goes on unlocked as well); -1 = still held by another program. */
static int lock_exclusive(int fd)
{
    for (int attempt = 0;; attempt++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK && errno != EINTR) return 0;
        if (attempt + 1 >= LOCK_WAIT_TRIES) return -1;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void update_abort(update *u)
{
    if (u->f >= 0) H5Fclose(u->f);
    u->f = -1;
    if (u->tmp) unlink(u->tmp);
    if (u->lock_fd >= 0) close(u->lock_fd);
    u->lock_fd = -1;
    free(u->tmp);
    u->tmp = NULL;
}

/* Copy PATH to PATH.ckpt and open the copy read-write (u->f). On failure
 * nothing is left behind and PATH is untouched.
 *
 * `reserve` bytes (an upper bound of what the update adds) are allocated
 * past the copy's end first: HDF5 places new objects at the end of its
 * address space, so they land in space that is already there, and a full
 * disk or a file-size limit (ulimit -f) shows here, cleanly, instead of
 * inside HDF5. That matters: an H5Fclose whose flush fails leaves a
 * half-closed file behind that crashes HDF5's own clean-up at exit (seen as
 * a segfault in H5F__close_cb under MPI_Finalize on a full tmpfs). HDF5
 * truncates the file to its end of address space when it closes it. */
static nnfi_status update_begin(const char *path, const char *what, uint64_t reserve, update *u)
{
    u->f = -1;
    u->lock_fd = -1;
    u->tmp = side_path(path, TMP_SUFFIX);
    if (!u->tmp) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = NNFI_OK;
    int out = -1;
    struct stat sb;
    u->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (u->lock_fd < 0 || fstat(u->lock_fd, &sb) != 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: %s\n  hint: was the result file moved or deleted while the "
                                  "campaign ran?",
                       path, what, strerror(errno));
        goto out;
    }
    if (lock_exclusive(u->lock_fd) != 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: another program has it open (file lock, waited 10 s)\n  hint: "
                                  "close h5py/HDFView sessions on the file of a running campaign, or read it with "
                                  "'nnfi inspect' or with HDF5_USE_FILE_LOCKING=FALSE set, which take no lock; is "
                                  "another 'nnfi run' writing it?",
                       path, what);
        goto out;
    }
    if (unlink(u->tmp) != 0 && errno != ENOENT) { /* a stale copy of an update cut short */
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot remove the stale %s: %s\n  hint: check the directory's permissions",
                       path, u->tmp, strerror(errno));
        goto out;
    }
    out = open(u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, sb.st_mode & 0666);
    if (out < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: cannot create its working copy %s: %s\n  hint: the directory of "
                                  "the result file must be writable",
                       path, what, u->tmp, strerror(errno));
        goto out;
    }
    int rc = copy_fd(u->lock_fd, out), err = errno;
    if (rc == 0 && reserve) {
        int e = posix_fallocate(out, (off_t)sb.st_size, (off_t)reserve);
        if (e && (no_space_errno(e) || e == EIO)) { /* EINVAL / EOPNOTSUPP: a file system without it */
            rc = -1;
            err = e;
        }
    }
    if (close(out) != 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    out = -1;
    if (rc != 0) {
        st = no_space_errno(err) ? no_space_fail(path, what, err)
                                 : NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: copying it to %s failed: %s\n  hint: check "
                                                        "the disk",
                                             path, what, u->tmp, strerror(err));
        goto out;
    }
    u->f = open_file(u->tmp, H5F_ACC_RDWR);
    if (u->f < 0) st = open_fail(path, what);
out:
    if (out >= 0) close(out);
    if (st != NNFI_OK) update_abort(u);
    return st;
}

/* Close the copy and, when st is OK, make it PATH (fsync, rename, fsync of
 * the directory); otherwise drop it. Returns the first failure. */
static nnfi_status update_end(update *u, const char *path, nnfi_status st)
{
    if (u->f >= 0) {
        herr_t rc = H5Fclose(u->f);
        u->f = -1;
        if (rc < 0 && st == NNFI_OK) st = h5_fail(path, "close the file (flush)");
    }
    if (st == NNFI_OK) st = sync_file(u->tmp, path);
    if (st == NNFI_OK && rename(u->tmp, path) != 0)
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot replace it by its updated copy %s: %s\n  hint: the directory of the "
                                  "result file must be writable",
                       path, u->tmp, strerror(errno));
    if (st == NNFI_OK) {
        sync_dir_of(path);
        free(u->tmp); /* renamed: nothing to remove */
        u->tmp = NULL;
    }
    update_abort(u);
    return st;
}

/* Refuse to write through a symbolic link at `path` (its target would be
 * clobbered: a link planted where a result file is expected). */
static nnfi_status refuse_symlink(const char *path, const char *hint)
{
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        return NNFI_FAIL(NNFI_E_IO, "%s is a symbolic link; nnfi does not write result files through links (its "
                                    "target is left alone)\n  hint: %s",
                         path, hint);
    return NNFI_OK;
}

/* ----------------------------------------------------------- attributes -- */

/* Write (create or overwrite) a scalar or 1-D attribute. */
static herr_t attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *val)
{
    herr_t rc = -1;
    hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    if (sp < 0) return -1;
    if (H5Aexists(obj, name) > 0 && H5Adelete(obj, name) < 0) goto out;
    hid_t a = H5Acreate2(obj, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0) goto out;
    rc = H5Awrite(a, mtype, val);
    KEEP_ERRORS(rc < 0, H5Aclose(a));
out:
    KEEP_ERRORS(rc < 0, H5Sclose(sp));
    return rc;
}

static herr_t attr_str(hid_t obj, const char *name, const char *val)
{
    hid_t t = vstr_type();
    if (t < 0) return -1;
    herr_t rc = attr_write(obj, name, t, t, 0, &val);
    KEEP_ERRORS(rc < 0, H5Tclose(t));
    return rc;
}

static herr_t attr_u64(hid_t obj, const char *name, uint64_t v)
{
    return attr_write(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, &v);
}

static herr_t attr_i32(hid_t obj, const char *name, int32_t v)
{
    return attr_write(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &v);
}

static herr_t attr_f64(hid_t obj, const char *name, double v)
{
    return attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &v);
}

/* unit, description and (categorical columns) flag_values / flag_meanings. */
static herr_t attr_column(hid_t ds, h5_kind kind, const char *unit, const char *desc, const char *flags)
{
    if (attr_str(ds, "unit", unit) < 0 || attr_str(ds, "description", desc) < 0) return -1;
    if (!flags) return 0;
    uint8_t values[16];
    hsize_t n = 1;
    for (const char *s = flags; *s; s++) n += *s == ' ';
    for (hsize_t i = 0; i < n && i < 16; i++) values[i] = (uint8_t)i;
    if (kind != K_U8) return -1;
    if (attr_write(ds, "flag_values", H5T_STD_U8LE, H5T_NATIVE_UINT8, n, values) < 0) return -1;
    return attr_str(ds, "flag_meanings", flags);
}

static const char *trial_flags(const char *column)
{
    if (strcmp(column, "status") == 0) return "ok failed timeout";
    if (strcmp(column, "done") == 0 || strcmp(column, "due") == 0) return "no yes";
    return NULL;
}

static const char *fault_flags(const char *column)
{
    if (strcmp(column, "op") == 0) return "flip stuck0 stuck1 random set";
    if (strcmp(column, "transient") == 0) return "permanent transient";
    if (strcmp(column, "scope") == 0) return "call sample";
    return NULL;
}

/* Read a scalar numeric attribute; -1 when absent or unreadable. */
static int attr_read(hid_t obj, const char *name, hid_t mtype, void *out)
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

/* Read a string attribute (variable or fixed length) into buf. */
static int attr_read_str(hid_t obj, const char *name, char *buf, size_t n)
{
    buf[0] = '\0';
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return -1;
    int rc = -1;
    hid_t ft = H5Aget_type(a);
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = vstr_type();
            char *s = NULL;
            if (mt >= 0 && H5Aread(a, mt, &s) >= 0 && s) {
                snprintf(buf, n, "%s", s);
                H5free_memory(s);
                rc = 0;
            }
            if (mt >= 0) H5Tclose(mt);
        } else {
            size_t len = H5Tget_size(ft);
            char *s = calloc(len + 1, 1);
            hid_t mt = H5Tcopy(ft);
            if (s && mt >= 0 && H5Aread(a, mt, s) >= 0) {
                snprintf(buf, n, "%s", s);
                rc = 0;
            }
            if (mt >= 0) H5Tclose(mt);
            free(s);
        }
    }
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* ------------------------------------------------------------- datasets -- */

/* A chunked 1-D dataset of n rows (maxdims unlimited), fill 0. */
static hid_t create_chunked(hid_t loc, const char *name, h5_kind kind, hsize_t n, hsize_t chunk)
{
    hsize_t maxd = H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(1, &n, &maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = -1;
    uint64_t zero = 0;
    if (sp < 0 || dcpl < 0) goto out;
    if (H5Pset_chunk(dcpl, 1, &chunk) < 0 || H5Pset_fill_value(dcpl, mem_type(kind), &zero) < 0) goto out;
    if (nnfi_h5_filters && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 1) < 0)) goto out;
    ds = H5Dcreate2(loc, name, file_type(kind), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
out:
    KEEP_ERRORS(ds < 0, if (dcpl >= 0) H5Pclose(dcpl); if (sp >= 0) H5Sclose(sp));
    return ds;
}

/* A small contiguous 1-D table column written whole. */
static herr_t write_table(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *data)
{
    herr_t rc = -1;
    hid_t sp = H5Screate_simple(1, &n, NULL);
    if (sp < 0) return -1;
    hid_t ds = H5Dcreate2(loc, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (ds >= 0) {
        rc = n ? H5Dwrite(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) : 0;
        KEEP_ERRORS(rc < 0, H5Dclose(ds));
    }
    KEEP_ERRORS(rc < 0, H5Sclose(sp));
    return rc;
}

static herr_t write_num(hid_t loc, const char *name, h5_kind kind, hsize_t n, const void *data)
{
    return write_table(loc, name, file_type(kind), mem_type(kind), n, data);
}

static herr_t write_strs(hid_t loc, const char *name, hsize_t n, const char *const *strs)
{
    hid_t t = vstr_type();
    if (t < 0) return -1;
    herr_t rc = write_table(loc, name, t, t, n, strs);
    KEEP_ERRORS(rc < 0, H5Tclose(t));
    return rc;
}

/* --------------------------------------------------------------- create -- */

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
    hsize_t chunk = total < TRIAL_CHUNK ? (total ? total : 1) : TRIAL_CHUNK;
    hid_t g = -1, scale = -1, ds = -1, ms = -1, fs = -1;
    uint64_t *idx = NULL;
    H5_TRY(g = H5Gcreate2(f, "trials", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /trials");

    /* the dimension scale 0..T-1, written blockwise */
    H5_TRY(scale = create_chunked(g, "trial", K_U64, total, chunk), path, "create dataset /trials/trial");
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
    H5_TRY(attr_column(scale, K_U64, "1", "global trial index (experiments, then points, then trials)", NULL), path,
           "write attributes of /trials/trial");

    size_t n;
    const nnfi_column_info *cols = nnfi_trial_columns(&n);
    char what[128];
    for (size_t i = 0; i < n; i++) {
        h5_kind k = column_kind(cols[i].kind);
        snprintf(what, sizeof what, "create dataset /trials/%s", cols[i].name);
        H5_TRY(ds = create_chunked(g, cols[i].name, k, total, chunk), path, what);
        H5_TRY(attr_column(ds, k, cols[i].unit, cols[i].description, trial_flags(cols[i].name)), path, what);
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
    H5_TRY(write_num(g, "first_trial", K_U64, ne, first), path, "write /experiments/first_trial");
    H5_TRY(write_num(g, "trials", K_U64, ne, trials), path, "write /experiments/trials");
    H5_TRY(write_num(g, "n_points", K_U32, ne, npts), path, "write /experiments/n_points");
    H5Gclose(g);
    H5_TRY(g = H5Gcreate2(f, "points", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), path, "create group /points");
    H5_TRY(write_num(g, "experiment", K_U32, np, pe), path, "write /points/experiment");
    H5_TRY(write_num(g, "point", K_U32, np, pp), path, "write /points/point");
    H5_TRY(write_num(g, "x", K_F64, np, px), path, "write /points/x");
    H5_TRY(write_num(g, "is_rate", K_U8, np, prate), path, "write /points/is_rate");
    H5_TRY(write_num(g, "first_trial", K_U64, np, pfirst), path, "write /points/first_trial");
    H5_TRY(write_num(g, "trials", K_U64, np, ptrials), path, "write /points/trials");
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

static nnfi_status write_progress(hid_t f, const char *path, uint64_t done, uint64_t checkpoints)
{
    nnfi_status st = NNFI_OK;
    char now[32];
    iso_now(now, sizeof now);
    hid_t g = H5Lexists(f, "progress", H5P_DEFAULT) > 0 ? H5Gopen2(f, "progress", H5P_DEFAULT)
                                                        : H5Gcreate2(f, "progress", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    H5_TRY(g, path, "open group /progress");
    H5_TRY(attr_u64(g, "trials_done", done), path, "write /progress attributes");
    H5_TRY(attr_u64(g, "checkpoints", checkpoints), path, "write /progress attributes");
    H5_TRY(attr_str(g, "last_checkpoint", now), path, "write /progress attributes");
out:
    if (g >= 0) H5Gclose(g);
    return st;
}

static nnfi_status new_writer(const char *path, const nnfi_campaign *c, const nnfi_plan *p, nnfi_h5_results **out)
{
    nnfi_h5_results *r = calloc(1, sizeof *r);
    if (r) {
        r->path = strdup(path);
        r->done_bits = calloc((size_t)(p->total_trials / 8 + 1), 1);
        nnfi_trial_columns(&r->n_cols);
        r->col = calloc(r->n_cols, sizeof *r->col);
    }
    if (!r || !r->path || !r->done_bits || !r->col) {
        if (r) {
            free(r->path);
            free(r->done_bits);
            free(r->col);
        }
        free(r);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for the result writer of %s", path);
    }
    r->c = c;
    r->p = p;
    r->total = p->total_trials;
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
    if ((st = write_progress(f, path, 0, 0)) != NNFI_OK) goto out;
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
    st = new_writer(path, c, p, out);
out:
    if (g >= 0) H5Gclose(g);
    if (f >= 0) H5Fclose(f);
    if (created) unlink(tmp); /* no half-made result files */
    free(tmp);
    quiet_off(&q);
    return st;
}

/* --------------------------------------------------------------- resume -- */

nnfi_status nnfi_h5_resume(const char *path, const nnfi_campaign *c, const nnfi_plan *p, nnfi_h5_results **out,
                           uint8_t **done)
{
    if (out) *out = NULL;
    if (done) *done = NULL;
    if (!path || !*path || !c || !p || !out) /* done may be NULL: the mask is then not returned */
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_resume: NULL argument\n  hint: this is a bug in the caller");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return NNFI_FAIL(NNFI_E_IO, "%s: no such result file to resume\n  hint: drop --resume to start a new one, or "
                                    "check -o / output.path",
                         path);
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t f = -1, ds = -1;
    uint8_t *col = NULL;
    char *real = NULL;
    if (H5Fis_hdf5(path) <= 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: not an HDF5 file, so not an nnfi result file\n  hint: --resume continues a "
                                  "file written by 'nnfi run'; use another -o, or --force to overwrite it",
                       path);
        goto out;
    }
    f = open_file(path, H5F_ACC_RDONLY);
    if (f < 0 && lock_error()) {
        st = open_fail(path, "open the result file to resume");
        goto out;
    }
    if (f < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot open the HDF5 file (damaged, or open for writing elsewhere)\n  hint: a "
                                  "kill during a checkpoint can break the file; start again with --force or a new -o",
                       path);
        goto out;
    }
    int32_t schema = 0;
    uint64_t hash = 0;
    char their_path[1024];
    if (attr_read(f, "schema_version", H5T_NATIVE_INT32, &schema) < 0 ||
        attr_read(f, "config_hash", H5T_NATIVE_UINT64, &hash) < 0 || H5Lexists(f, "trials", H5P_DEFAULT) <= 0 ||
        H5Lexists(f, "trials/done", H5P_DEFAULT) <= 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: not an nnfi result file (no schema_version/config_hash attributes or no "
                                  "/trials/done)\n  hint: --resume continues a file written by 'nnfi run'; use "
                                  "another -o, or --force to overwrite it",
                       path);
        goto out;
    }
    if (schema != NNFI_RESULTS_SCHEMA_VERSION) {
        char ver[64];
        attr_read_str(f, "nnfi_version", ver, sizeof ver);
        st = NNFI_FAIL(NNFI_E_INVALID, "%s: result schema version %d (written by nnfi %s), this nnfi writes version "
                                       "%d\n  hint: finish it with the nnfi that wrote it, or start a new -o",
                       path, (int)schema, ver[0] ? ver : "?", NNFI_RESULTS_SCHEMA_VERSION);
        goto out;
    }
    if (hash != c->hash) {
        attr_read_str(f, "config_path", their_path, sizeof their_path);
        st = NNFI_FAIL(NNFI_E_INVALID, "%s was written for another campaign: config hash %016" PRIx64 " (%s), but %s "
                                       "hashes to %016" PRIx64 "\n  hint: use the original campaign file (the file "
                                       "keeps its text in the 'config' attribute), or a new -o",
                       path, hash, their_path[0] ? their_path : "?", c->source_path ? c->source_path : "the campaign",
                       c->hash);
        goto out;
    }
    int64_t len = ds_length(f, "trials/done");
    if (len < 0 || (uint64_t)len != p->total_trials) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s holds %" PRId64 " trials but the plan has %" PRIu64 "\n  hint: the "
                                       "plan depends on the model (Leveugle budgets); use the original model, or a new -o",
                       path, len, p->total_trials);
        goto out;
    }
    col = malloc((size_t)p->total_trials + 1);
    if (!col) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    H5_TRY(ds = H5Dopen2(f, "trials/done", H5P_DEFAULT), path, "open /trials/done");
    if (p->total_trials) H5_TRY(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, col), path, "read /trials/done");
    H5Dclose(ds);
    ds = -1;
    H5Fclose(f);
    f = -1;
    /* updates replace the file by rename(): through a symlink the user made to
     * the file, that must replace the link's target, not the link */
    real = realpath(path, NULL);
    if ((st = new_writer(real ? real : path, c, p, out)) != NNFI_OK) goto out;
    nnfi_h5_results *r = *out;
    for (uint64_t t = 0; t < r->total; t++)
        if (col[t]) {
            r->done_bits[t >> 3] |= (uint8_t)(1u << (t & 7));
            r->n_done++;
        }
    hid_t pf = open_file(path, H5F_ACC_RDONLY);
    if (pf >= 0) { /* carry the checkpoint count on */
        if (H5Lexists(pf, "progress", H5P_DEFAULT) > 0) {
            hid_t g = H5Gopen2(pf, "progress", H5P_DEFAULT);
            if (g >= 0) {
                attr_read(g, "checkpoints", H5T_NATIVE_UINT64, &r->checkpoints);
                H5Gclose(g);
            }
        }
        H5Fclose(pf);
    }
    if (done) {
        *done = col;
        col = NULL;
    }
out:
    free(real);
    free(col);
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    quiet_off(&q);
    return st;
}

/* ------------------------------------------------------ sites and golden -- */

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
    H5_TRY(write_num(g, "numel", K_U64, n, numel), r->path, what);
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
static int same_golden(hid_t g, const int32_t *labels, uint64_t samples, uint32_t classes)
{
    hid_t ds = H5Dopen2(g, "logits", H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t d[2] = {0, 0};
    int ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2 && H5Sget_simple_extent_dims(sp, d, NULL) == 2 &&
             d[0] == samples && d[1] == classes;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    if (!ok || ds_length(g, "labels") != (int64_t)samples) return -1;
    int32_t *got = malloc(samples * sizeof *got);
    ds = H5Dopen2(g, "labels", H5P_DEFAULT);
    ok = got && ds >= 0 && H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0 &&
         memcmp(got, labels, samples * sizeof *got) == 0;
    if (ds >= 0) H5Dclose(ds);
    free(got);
    return ok ? 0 : -1;
}

nnfi_status nnfi_h5_add_golden(nnfi_h5_results *r, const char *model, const float *logits, const int32_t *labels,
                               uint64_t samples, uint32_t classes, double accuracy, const char *const *facts)
{
    if (!r || !logits || !labels)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_add_golden: NULL argument\n  hint: this is a bug in the caller");
    NNFI_TRY(check_model_name(r->path, model));
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
                           (samples * classes + samples) * 8 + (64u << 10), &u)) != NNFI_OK) goto out;
    f = u.f;
    if (H5Lexists(f, "golden", H5P_DEFAULT) <= 0) {
        H5_TRY(g = H5Gcreate2(f, "golden", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), r->path, "create group /golden");
        H5Gclose(g);
        g = -1;
    }
    if (H5Lexists(f, gname, H5P_DEFAULT) > 0) { /* resumed: must be the same eval set */
        H5_TRY(g = H5Gopen2(f, gname, H5P_DEFAULT), r->path, "open the stored golden run");
        if (same_golden(g, labels, samples, classes) != 0)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s: the golden run of model '%s' (%" PRIu64 " samples x %u classes) "
                                           "differs from the stored one in shape or labels\n  hint: the eval set "
                                           "changed since the campaign started; resume with the original data, or "
                                           "start a new -o",
                           r->path, model, samples, classes);
        goto out;
    }
    H5_TRY(g = H5Gcreate2(f, gname, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), r->path, what);
    hsize_t dims[2] = {samples, classes};
    hsize_t rows = 65536 / classes ? 65536 / classes : 1;
    hsize_t chunk[2] = {samples < rows ? samples : rows, classes};
    H5_TRY(sp = H5Screate_simple(2, dims, NULL), r->path, what);
    H5_TRY(dcpl = H5Pcreate(H5P_DATASET_CREATE), r->path, what);
    H5_TRY(H5Pset_chunk(dcpl, 2, chunk), r->path, what);
    if (nnfi_h5_filters) {
        H5_TRY(H5Pset_shuffle(dcpl), r->path, what);
        H5_TRY(H5Pset_deflate(dcpl, 1), r->path, what);
    }
    H5_TRY(ds = H5Dcreate2(g, "logits", H5T_IEEE_F32LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT), r->path, what);
    H5_TRY(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, logits), r->path, what);
    H5_TRY(attr_column(ds, K_F64, "logit", "fault-free logits [sample, class]", NULL), r->path, what);
    H5_TRY(write_num(g, "labels", K_I32, samples, labels), r->path, what);
    H5_TRY(attr_f64(g, "accuracy", accuracy), r->path, what);
    H5_TRY(attr_u64(g, "samples", samples), r->path, what);
    H5_TRY(attr_u64(g, "classes", classes), r->path, what);
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

/* ------------------------------------------------------- rows and faults -- */

static int bit_get(const uint8_t *b, uint64_t t) { return (b[t >> 3] >> (t & 7)) & 1; }

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
    if (r->n_rows + n > r->cap_rows) {
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
    }
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
    if (r->n_faults + n > r->cap_faults) {
        size_t cap = r->cap_faults ? r->cap_faults : 1024;
        while (cap < r->n_faults + n) cap *= 2;
        pending_fault *nf = realloc(r->faults, cap * sizeof *nf);
        if (!nf) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory buffering %zu faults\n  hint: checkpoint more often", cap);
        r->faults = nf;
        r->cap_faults = cap;
    }
    for (size_t i = 0; i < n; i++) {
        r->faults[r->n_faults + i].trial = trial;
        r->faults[r->n_faults + i].f = faults[i];
    }
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

/* How a /trials column's chunks are stored, from its creation properties:
 * as create() makes them (chunks of want_chunk rows, shuffle + deflate or no
 * filters, stored in the host's byte order), or something else. */
typedef enum chunk_codec { CODEC_OTHER, CODEC_RAW, CODEC_SHUFFLE_DEFLATE } chunk_codec;

static chunk_codec column_codec(hid_t ds, hsize_t want_chunk, hid_t native)
{
    chunk_codec codec = CODEC_OTHER;
    hid_t ft = H5Dget_type(ds);
    int same = ft >= 0 && H5Tequal(ft, native) > 0; /* little-endian hosts */
    if (ft >= 0) H5Tclose(ft);
    hid_t dcpl = same ? H5Dget_create_plist(ds) : -1;
    if (dcpl < 0) return codec;
    hsize_t chunk = 0;
    if (H5Pget_layout(dcpl) == H5D_CHUNKED && H5Pget_chunk(dcpl, 1, &chunk) == 1 && chunk == want_chunk) {
        int nf = H5Pget_nfilters(dcpl);
        unsigned flags, cd[8];
        size_t ncd0 = 8, ncd1 = 8;
        if (nf == 0) codec = CODEC_RAW;
        else if (nf == 2 && H5Pget_filter2(dcpl, 0, &flags, &ncd0, cd, 0, NULL, NULL) == H5Z_FILTER_SHUFFLE &&
                 H5Pget_filter2(dcpl, 1, &flags, &ncd1, cd, 0, NULL, NULL) == H5Z_FILTER_DEFLATE)
            codec = CODEC_SHUFFLE_DEFLATE;
    }
    H5Pclose(dcpl);
    return codec;
}

/* HDF5's shuffle filter: byte j of element i goes to j * n + i. */
static void shuffle_bytes(const uint8_t *in, size_t n, size_t size, uint8_t *out)
{
    for (size_t j = 0; j < size; j++)
        for (size_t i = 0; i < n; i++) out[j * n + i] = in[i * size + j];
}

static void unshuffle_bytes(const uint8_t *in, size_t n, size_t size, uint8_t *out)
{
    for (size_t j = 0; j < size; j++)
        for (size_t i = 0; i < n; i++) out[i * size + j] = in[j * n + i];
}

/* Buffers of the chunk writes. */
typedef struct chunk_writer {
    hsize_t chunk;  /* rows per chunk */
    uint8_t *raw;   /* chunk * 8: the chunk's values */
    uint8_t *shuf;  /* chunk * 8: shuffled */
    uint8_t *z;     /* a stored (compressed) chunk */
    size_t z_cap;
    z_stream zs;
    int z_ready;
} chunk_writer;

/* Load stored chunk `start` of a column into w->raw (zeros, the fill value,
 * when it was never written), undoing the filters HDF5 records as applied. */
static herr_t load_chunk(hid_t ds, chunk_codec codec, chunk_writer *w, hsize_t start, size_t size)
{
    size_t bytes = (size_t)w->chunk * size;
    hsize_t stored = 0;
    haddr_t addr = HADDR_UNDEF;
    unsigned fmask = 0;
    if (H5Dget_chunk_info_by_coord(ds, &start, &fmask, &addr, &stored) < 0) return -1;
    if (stored == 0) {
        memset(w->raw, 0, bytes);
        return 0;
    }
    if (stored > w->z_cap) {
        uint8_t *z = realloc(w->z, (size_t)stored);
        if (!z) return -1;
        w->z = z;
        w->z_cap = (size_t)stored;
    }
    uint32_t mask = 0;
    if (H5Dread_chunk(ds, H5P_DEFAULT, &start, &mask, w->z) < 0) return -1;
    if (codec == CODEC_RAW) mask = 3; /* no filters in the pipeline */
    const uint8_t *data = w->z;
    size_t len = (size_t)stored;
    if (!(mask & 2)) { /* deflated */
        uLongf out = (uLongf)bytes;
        if (uncompress(w->shuf, &out, w->z, (uLong)stored) != Z_OK) return -1;
        data = w->shuf;
        len = (size_t)out;
    }
    if (len != bytes) return -1;
    if (!(mask & 1) && size > 1) unshuffle_bytes(data, (size_t)w->chunk, size, w->raw);
    else memcpy(w->raw, data, bytes);
    return 0;
}

/* Store w->raw as chunk `start`: shuffled and deflated here the way HDF5's
 * filters would (the stream is plain zlib, so any reader inflates it; Z_RLE
 * suits shuffled numbers: about twice as fast as the default strategy at
 * level 1, and no larger), written with H5Dwrite_chunk. */
static herr_t store_chunk(hid_t ds, chunk_codec codec, chunk_writer *w, hsize_t start, size_t size)
{
    size_t bytes = (size_t)w->chunk * size;
    if (codec == CODEC_RAW) return H5Dwrite_chunk(ds, H5P_DEFAULT, 0, &start, bytes, w->raw);
    const uint8_t *in = w->raw;
    if (size > 1) {
        shuffle_bytes(w->raw, (size_t)w->chunk, size, w->shuf);
        in = w->shuf;
    }
    size_t bound = (size_t)compressBound((uLong)bytes);
    if (bound > w->z_cap) {
        uint8_t *z = realloc(w->z, bound);
        if (!z) return -1;
        w->z = z;
        w->z_cap = bound;
    }
    if (!w->z_ready) {
        memset(&w->zs, 0, sizeof w->zs);
        if (deflateInit2(&w->zs, 1, Z_DEFLATED, 15, 8, Z_RLE) != Z_OK) return -1;
        w->z_ready = 1;
    } else if (deflateReset(&w->zs) != Z_OK) {
        return -1;
    }
    w->zs.next_in = (Bytef *)(uintptr_t)in;
    w->zs.avail_in = (uInt)bytes;
    w->zs.next_out = w->z;
    w->zs.avail_out = (uInt)w->z_cap;
    if (deflate(&w->zs, Z_FINISH) != Z_STREAM_END) return -1;
    return H5Dwrite_chunk(ds, H5P_DEFAULT, 0, &start, w->z_cap - w->zs.avail_out, w->z);
}

/* Write one column's buffered rows chunk by chunk: a chunk the rows cover
 * whole is built from them alone (the edge chunk padded with the fill value
 * 0); one they cover in part is read, merged and rewritten. */
static herr_t write_column_chunks(hid_t ds, chunk_codec codec, chunk_writer *w, const nnfi_h5_results *r,
                                  const size_t *order, size_t m, size_t ci, size_t size)
{
    const uint8_t *src = r->col[ci];
    size_t i = 0;
    while (i < m) {
        uint64_t c = r->trials[order[i]] / w->chunk;
        size_t j = i + 1;
        while (j < m && r->trials[order[j]] / w->chunk == c) j++;
        hsize_t start = c * w->chunk;
        uint64_t rows = r->total - start < w->chunk ? r->total - start : w->chunk;
        if (j - i == rows) { /* whole (rows are sorted and unique) */
            if (rows < w->chunk) memset(w->raw + rows * size, 0, (size_t)(w->chunk - rows) * size);
        } else if (load_chunk(ds, codec, w, start, size) < 0) {
            return -1;
        }
        uint8_t *dst = w->raw;
        switch (size) { /* scatter the rows into the chunk */
        case 1:
            for (size_t k = i; k < j; k++) dst[r->trials[order[k]] - start] = src[order[k]];
            break;
        case 4:
            for (size_t k = i; k < j; k++) memcpy(dst + (r->trials[order[k]] - start) * 4, src + order[k] * 4, 4);
            break;
        case 8:
            for (size_t k = i; k < j; k++) memcpy(dst + (r->trials[order[k]] - start) * 8, src + order[k] * 8, 8);
            break;
        default:
            for (size_t k = i; k < j; k++)
                memcpy(dst + (r->trials[order[k]] - start) * size, src + order[k] * size, size);
            break;
        }
        if (store_chunk(ds, codec, w, start, size) < 0) return -1;
        i = j;
    }
    return 0;
}

/* Write the buffered rows into the /trials columns. Columns laid out as
 * create() makes them (chunked, shuffle + deflate or no filters) are written
 * chunk by chunk (above); anything else through a hyperslab selection. */
static nnfi_status write_rows(hid_t f, nnfi_h5_results *r)
{
    nnfi_status st = NNFI_OK;
    hsize_t chunk = r->total < TRIAL_CHUNK ? (r->total ? r->total : 1) : TRIAL_CHUNK;
    chunk_writer w;
    memset(&w, 0, sizeof w);
    w.chunk = chunk;
    size_t *order = malloc(r->n_rows * sizeof *order);
    w.raw = malloc((size_t)chunk * 8);
    w.shuf = malloc((size_t)chunk * 8);
    hid_t fs = -1, ms = -1, ds = -1;
    void *tmp = NULL;
    size_t m = order ? order_rows(r, order) : (size_t)-1;
    if (!order || !w.raw || !w.shuf || m == (size_t)-1) {
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
            chunk_codec codec = column_codec(ds, chunk, mem_type(column_kind(col->kind)));
            if (codec != CODEC_OTHER) {
                H5_TRY(write_column_chunks(ds, codec, &w, r, order, m, i, col->size), r->path, what);
            } else {
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
                H5_TRY(H5Dwrite(ds, mem_type(column_kind(col->kind)), ms, fs, H5P_DEFAULT, tmp), r->path, what);
            }
            H5_TRY(H5Dclose(ds), r->path, what);
            ds = -1;
        }
out:
    if (w.z_ready) deflateEnd(&w.zs);
    if (ds >= 0) H5Dclose(ds);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    free(order);
    free(tmp);
    free(w.raw);
    free(w.shuf);
    free(w.z);
    return st;
}

static nnfi_status write_faults(hid_t f, nnfi_h5_results *r)
{
    nnfi_status st = NNFI_OK;
    hid_t g = -1, ds = -1, fs = -1, ms = -1;
    size_t m = r->n_faults;
    size_t *order = malloc(m * sizeof *order);
    void *tmp = malloc(m * 8);
    if (!order || !tmp) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory writing %zu faults to %s", m, r->path);
        goto out;
    }
    for (size_t i = 0; i < m; i++) order[i] = i;
    char what[128];
    if (H5Lexists(f, "faults", H5P_DEFAULT) <= 0) { /* first faults: make the extendible columns */
        H5_TRY(g = H5Gcreate2(f, "faults", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), r->path, "create group /faults");
        for (size_t i = 0; i < N_FAULT_COLUMNS; i++) {
            const fault_column *fc = &fault_columns[i];
            snprintf(what, sizeof what, "create dataset /faults/%s", fc->name);
            H5_TRY(ds = create_chunked(g, fc->name, fc->kind, 0, FAULT_CHUNK), r->path, what);
            H5_TRY(attr_column(ds, fc->kind, fc->unit, fc->description, fault_flags(fc->name)), r->path, what);
            H5Dclose(ds);
            ds = -1;
        }
    } else {
        H5_TRY(g = H5Gopen2(f, "faults", H5P_DEFAULT), r->path, "open group /faults");
    }
    int64_t cur = ds_length(g, "trial");
    if (cur < 0) {
        st = h5_fail(r->path, "read the length of /faults/trial");
        goto out;
    }
    hsize_t start = (hsize_t)cur, count = m, next = start + count;
    H5_TRY(ms = H5Screate_simple(1, &count, NULL), r->path, "append to /faults");
    for (size_t i = 0; i < N_FAULT_COLUMNS; i++) {
        const fault_column *fc = &fault_columns[i];
        snprintf(what, sizeof what, "append to /faults/%s", fc->name);
        gather(r->faults, sizeof *r->faults, order, m, fc->offset, fc->size, tmp);
        H5_TRY(ds = H5Dopen2(g, fc->name, H5P_DEFAULT), r->path, what);
        H5_TRY(H5Dset_extent(ds, &next), r->path, what);
        H5_TRY(fs = H5Dget_space(ds), r->path, what);
        H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &start, NULL, &count, NULL), r->path, what);
        H5_TRY(H5Dwrite(ds, mem_type(fc->kind), ms, fs, H5P_DEFAULT, tmp), r->path, what);
        H5Sclose(fs);
        fs = -1;
        H5_TRY(H5Dclose(ds), r->path, what);
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

/* An upper bound of the bytes a checkpoint adds to the file: every chunk the
 * buffered rows touch rewritten in every column at its worst compressed size,
 * the buffered faults, and room for metadata. */
static uint64_t checkpoint_growth(const nnfi_h5_results *r)
{
    uint64_t chunk = r->total < TRIAL_CHUNK ? (r->total ? r->total : 1) : TRIAL_CHUNK;
    uint64_t n_chunks = r->total / chunk + 1, touched = 0;
    uint8_t *seen = calloc((size_t)(n_chunks / 8 + 1), 1);
    for (size_t i = 0; i < r->n_rows; i++) {
        uint64_t c = r->trials[i] / chunk;
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
    return touched * per_chunk + (uint64_t)r->n_faults * 2 * sizeof(pending_fault) + (64u << 10);
}

nnfi_status nnfi_h5_checkpoint(nnfi_h5_results *r)
{
    if (!r) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_checkpoint: NULL writer\n  hint: this is a bug in the caller");
    if (!r->n_rows && !r->n_faults) return NNFI_OK;
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    update u;
    hid_t f = -1;
    if ((st = update_begin(r->path, "reopen the result file for a checkpoint", checkpoint_growth(r), &u)) != NNFI_OK) goto out;
    f = u.f;
    if (r->n_rows && (st = write_rows(f, r)) != NNFI_OK) goto out;
    if (r->n_faults && (st = write_faults(f, r)) != NNFI_OK) goto out;
    st = write_progress(f, r->path, r->n_done, r->checkpoints + 1);
out:
    if (f >= 0) st = update_end(&u, r->path, st);
    if (st == NNFI_OK) { /* on failure keep the buffers: a later checkpoint retries */
        r->n_rows = 0;
        r->n_faults = 0;
        r->checkpoints++;
    }
    quiet_off(&q);
    return st;
}

nnfi_status nnfi_h5_close(nnfi_h5_results *r)
{
    if (!r) return NNFI_OK;
    nnfi_status st = nnfi_h5_checkpoint(r);
    free(r->path);
    free(r->done_bits);
    for (size_t i = 0; i < r->n_cols; i++) free(r->col[i]);
    free(r->col);
    free(r->trials);
    free(r->faults);
    free(r);
    return st;
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
    H5_TRY(H5Dread(ds, mem_type(column_kind(col->kind)), H5S_ALL, H5S_ALL, H5P_DEFAULT, out), r->path, what);
out:
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    quiet_off(&q);
    return st;
}

uint64_t nnfi_h5_trials_done(const nnfi_h5_results *r) { return r ? r->n_done : 0; }
