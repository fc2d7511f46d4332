/* h5_util.h - the HDF5 error plumbing shared by the result writer
 * (h5_results.c) and nnfi merge (h5_merge.c): silence HDF5's own error
 * printing around a block, turn a failing call into an nnfi status naming the
 * file and the action, and the variable-length UTF-8 string type. Private to
 * src/results. */
#ifndef NNFI_RESULTS_H5_UTIL_H
#define NNFI_RESULTS_H5_UTIL_H

#include <hdf5.h>
#include <stdint.h>

#include "nnfi/status.h"

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

/* Length of a 1-D dataset, or -1 (absent, not 1-D, or unreadable; the
 * HDF5 error stack then says why, for h5_fail). */
int64_t ds_length(hid_t loc, const char *name);

/* A new variable-length UTF-8 string type (close with H5Tclose); < 0 on error. */
hid_t vstr_type(void);

#endif
