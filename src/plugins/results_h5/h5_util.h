/* h5_util.h - the HDF5 toolkit of the results_h5 module, private to
 * src/plugins/results_h5/ and shared by every file there (writer, resume,
 * durable updates, reader, merge):
 *   h5_util.c     error plumbing (quiet HDF5, failures as nnfi statuses that
 *                 name the file), column kinds as HDF5 types, opening files
 *                 (with the wait on another program's lock), UTC time;
 *   h5_attr.c     attributes: write and read numbers and strings, the
 *                 per-column attributes of the schema, listing and copying;
 *   h5_io.c       datasets: length, block and whole reads of 1-D columns,
 *                 small tables written whole, chunked columns with the
 *                 standard filters;
 *   h5_durable.c  the copy-fsync-rename update of a result file.
 * Every function that returns herr_t/hid_t leaves HDF5's error stack in place
 * on failure, for h5_fail(). */
#ifndef NNFI_RESULTS_H5_UTIL_H
#define NNFI_RESULTS_H5_UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "nnfi/h5_reader.h"
#include "nnfi/results.h"
#include "nnfi/status.h"

/* ------------------------------------------------------------ h5_util.c -- */

typedef struct h5_quiet {
    H5E_auto2_t fn;
    void *data;
} h5_quiet;

/* Stop HDF5 printing its error stacks (until quiet_off); nnfi reports instead. */
void quiet_on(h5_quiet *q);
void quiet_off(const h5_quiet *q);

/* Record "PATH: cannot WHAT (HDF5: reason)" and return NNFI_E_IO. Call right
 * after the failing HDF5 call, while its error stack is still there. */
nnfi_status h5_fail(const char *path, const char *what);

/* The errno an HDF5 file driver recorded in the current error stack, or 0. */
int h5_errno(void);

/* Is err a full disk, a file-size limit (EFBIG: ulimit -f) or a quota? */
int no_space_errno(int err);

/* "PATH: file size limit / disk full while writing ... (WHAT: strerror)" with
 * a hint to make room and --resume; NNFI_E_IO. */
nnfi_status no_space_fail(const char *path, const char *what, int err);

/* In a function with `nnfi_status st` and an `out:` label. */
#define H5_TRY(call, path, what)                                                                           \
    do {                                                                                                   \
        if ((call) < 0) {                                                                                  \
            st = h5_fail(path, what);                                                                      \
            goto out;                                                                                      \
        }                                                                                                  \
    } while (0)

/* Every HDF5 call clears the error stack: run the clean-up calls after a
 * failure without losing the stack h5_fail() reports from. */
#define KEEP_ERRORS(failed, cleanup)                                                                       \
    do {                                                                                                   \
        hid_t es_ = (failed) ? H5Eget_current_stack() : -1;                                                \
        cleanup;                                                                                           \
        if (es_ >= 0) H5Eset_current_stack(es_);                                                           \
    } while (0)

/* The native (memory) and little-endian file types of a schema column kind. */
hid_t mem_type(nnfi_column_kind k);
hid_t file_type(nnfi_column_kind k);

/* A new variable-length UTF-8 string type (close with H5Tclose); < 0 on error. */
hid_t vstr_type(void);

/* Free the strings HDF5 allocated when reading variable-length data. */
void vlen_free(hid_t mtype, hid_t space, void *buf);

/* File access properties of the writer: strong close degree (error paths
 * leave nothing open), file locking on unless the file system cannot. */
hid_t make_fapl(void);

/* Open a file the writer's way: strong close degree, file locking on; while
 * another program holds a conflicting lock, retry for up to 10 s. On failure
 * HDF5's error stack is left for open_fail(). */
hid_t open_file(const char *path, unsigned flags);

/* Open a file read-only without taking a lock (a reader never blocks on, nor
 * blocks, a writer: updates replace the file by rename()). */
hid_t open_file_unlocked(const char *path);

/* Did the last HDF5 call fail on a file lock? */
int lock_error(void);

/* The message for an open_file() failure (names a lock held elsewhere). */
nnfi_status open_fail(const char *path, const char *what);

#define LOCK_WAIT_TRIES 100 /* x 100 ms: how long an open waits for another program's lock */

/* "2024-05-01T12:00:00Z", UTC now. */
void iso_now(char *buf, size_t n);

/* ------------------------------------------------------------ h5_attr.c -- */

/* Write (create or overwrite) a scalar (n == 0) or 1-D attribute of n values. */
herr_t attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *val);
herr_t attr_str(hid_t obj, const char *name, const char *val);
/* n == 0: a scalar string; else a 1-D array of n strings. */
herr_t attr_strs(hid_t obj, const char *name, hsize_t n, const char *const *v);
herr_t attr_u64(hid_t obj, const char *name, uint64_t v);
herr_t attr_i32(hid_t obj, const char *name, int32_t v);
herr_t attr_f64(hid_t obj, const char *name, double v);

/* unit and description; a categorical column (cat != NNFI_CAT_NONE, kind U8)
 * also flag_values (its codes) and flag_meanings (its names). */
herr_t attr_column(hid_t ds, nnfi_column_kind kind, const char *unit, const char *desc, nnfi_category cat);

/* The same, from a schema column. */
herr_t attr_schema_column(hid_t ds, const nnfi_column_info *col);

/* Read a scalar numeric attribute as mtype; -1 when absent or unreadable. */
int attr_read(hid_t obj, const char *name, hid_t mtype, void *out);

/* A scalar string attribute (variable or fixed length), malloc'd; NULL when
 * absent or not a string. */
char *attr_text(hid_t obj, const char *name);

/* The same into buf (truncated to n - 1 bytes; "" and -1 when absent). */
int attr_read_str(hid_t obj, const char *name, char *buf, size_t n);

/* Names of an object's attributes, sorted by name. */
typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

int attr_names(hid_t obj, name_list *l);
void names_free(name_list *l);

/* Copy one attribute of src to dst (any type, scalar or simple). */
herr_t copy_attr(hid_t src, hid_t dst, const char *name);

/* -------------------------------------------------------------- h5_io.c -- */

/* Filters of the chunked /trials, /faults and golden datasets made from now
 * on: 1 = shuffle + deflate level 1 (the default), 0 = none. A knob for
 * tests/bench/bench_h5.c and tests/results/test_h5_results.c, which declare
 * it extern; not part of the API. */
extern int nnfi_h5_filters;

#define TRIAL_CHUNK 65536u /* rows per chunk of /trials columns */
#define FAULT_CHUNK 16384u /* rows per chunk of /faults columns */

/* Rows per chunk of the /trials columns of a plan of `total` trials. */
hsize_t trial_chunk(uint64_t total);

/* Length of a 1-D dataset, or -1 (absent, not 1-D, or unreadable; the
 * HDF5 error stack then says why, for h5_fail). */
int64_t ds_length(hid_t loc, const char *name);

/* Read rows [lo, lo + count) of an open 1-D dataset as mtype. */
herr_t read_block(hid_t ds, hid_t mtype, hsize_t lo, hsize_t count, void *buf);

/* A whole 1-D dataset of exactly n values as mtype (-1 when the length differs). */
herr_t read_all(hid_t loc, const char *name, hid_t mtype, hsize_t n, void *buf);

/* A whole 1-D string dataset of exactly n values as malloc'd copies (NULL
 * strings read as ""); on failure nothing is left allocated. */
herr_t read_strings(hid_t loc, const char *name, size_t n, char **out);

/* A small contiguous 1-D table column, written whole. */
herr_t write_table(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *data);
herr_t write_num(hid_t loc, const char *name, nnfi_column_kind kind, hsize_t n, const void *data);
herr_t write_strs(hid_t loc, const char *name, hsize_t n, const char *const *strs);

/* A chunked 1-D dataset of n rows (maxdims unlimited), fill 0, with the
 * standard filters (nnfi_h5_filters). */
hid_t create_chunked(hid_t loc, const char *name, nnfi_column_kind kind, hsize_t n, hsize_t chunk);

/* create_chunked() for a schema column, with its attributes (attr_schema_column). */
hid_t create_column(hid_t loc, const nnfi_column_info *col, hsize_t n, hsize_t chunk);

/* --------------------------------------------------------- h5_durable.c -- */

#define TMP_SUFFIX ".ckpt"

/* An update of a result file PATH, made on its copy PATH.ckpt. */
typedef struct update {
    char *tmp;   /* PATH.ckpt */
    int lock_fd; /* PATH, flock'ed exclusively while the update runs */
    hid_t f;     /* the copy, open read-write */
} update;

/* "PATHSUFFIX", malloc'd (NULL when out of memory). */
char *side_path(const char *path, const char *suffix);

/* fsync a closed file (`path` names the result file in errors). */
nnfi_status sync_file(const char *file, const char *path);

/* fsync the directory holding path: a rename there survives a node crash. */
void sync_dir_of(const char *path);

/* Copy PATH to PATH.ckpt (`reserve` bytes allocated past its end) and open
 * the copy read-write (u->f). On failure nothing is left and PATH is
 * untouched. */
nnfi_status update_begin(const char *path, const char *what, uint64_t reserve, update *u);

/* Close the copy and, when st is OK, make it PATH (fsync, rename, fsync of
 * the directory); otherwise drop it. Returns the first failure. */
nnfi_status update_end(update *u, const char *path, nnfi_status st);

/* Refuse to write through a symbolic link at `path`. */
nnfi_status refuse_symlink(const char *path, const char *hint);

/* ---------------------------------------------------------- h5_reader.c -- */

/* The HDF5 file of an open reader (for the merge's object copies). */
hid_t h5_reader_hid(const nnfi_h5_file *f);
/* The checkpoint journal laid over the file (h5_journal.h), read at open. */
struct journal;
const struct journal *h5_reader_journal(const nnfi_h5_file *f);

#endif
