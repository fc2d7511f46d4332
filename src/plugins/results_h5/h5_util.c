/* h5_util.c - the error plumbing of the HDF5 module (quiet HDF5, failures as
 * nnfi statuses naming the file and the action, full-disk detection), column
 * kinds as HDF5 types, string types, and opening files with or without a
 * lock (see h5_util.h). */
#include "h5_util.h"

#include "nnfi/h5_results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void quiet_on(h5_quiet *q)
{
    H5Eget_auto2(H5E_DEFAULT, &q->fn, &q->data);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void quiet_off(const h5_quiet *q) { H5Eset_auto2(H5E_DEFAULT, q->fn, q->data); }

static herr_t first_error(unsigned n, const H5E_error2_t *e, void *buf)
{
    (void)n;
    if (!((char *)buf)[0] && e->desc) snprintf((char *)buf, 160, "%s", e->desc);
    return 0;
}

/* HDF5's file drivers put the system's errno into their messages
 * ("... errno = 27, error message = 'File too large' ..."). */
static herr_t find_errno(unsigned n, const H5E_error2_t *e, void *out)
{
    (void)n;
    const char *s = e->desc ? strstr(e->desc, "errno = ") : NULL;
    if (s && !*(int *)out) *(int *)out = atoi(s + 8);
    return 0;
}

int h5_errno(void)
{
    int err = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, find_errno, &err);
    return err;
}

int no_space_errno(int err) { return err == ENOSPC || err == EFBIG || err == EDQUOT; }

nnfi_status no_space_fail(const char *path, const char *what, int err)
{
    return NNFI_FAIL(NNFI_E_IO, "%s: file size limit / disk full while writing the result file (%s: %s)\n  hint: make "
                                "room (df -h), raise the limit (ulimit -f) or write elsewhere with -o; the file "
                                "keeps its last checkpoint: continue it with --resume",
                     path, what, strerror(err));
}

nnfi_status h5_fail(const char *path, const char *what)
{
    char reason[160] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_error, reason);
    int err = h5_errno();
    if (no_space_errno(err)) return no_space_fail(path, what, err);
    return NNFI_FAIL(NNFI_E_IO, "%s: cannot %s (HDF5: %s)\n  hint: check that the file is a complete nnfi result file, "
                                "that the disk has space, and that no other program has it open for writing",
                     path, what, reason[0] ? reason : "unknown error");
}

/* ---------------------------------------------------------------- types -- */

hid_t mem_type(nnfi_column_kind k)
{
    switch (k) {
    case NNFI_COL_U8: return H5T_NATIVE_UINT8;
    case NNFI_COL_U32: return H5T_NATIVE_UINT32;
    case NNFI_COL_I32: return H5T_NATIVE_INT32;
    case NNFI_COL_U64: return H5T_NATIVE_UINT64;
    case NNFI_COL_I64: return H5T_NATIVE_INT64;
    case NNFI_COL_F64: return H5T_NATIVE_DOUBLE;
    }
    return H5T_NATIVE_UINT8;
}

hid_t file_type(nnfi_column_kind k)
{
    switch (k) {
    case NNFI_COL_U8: return H5T_STD_U8LE;
    case NNFI_COL_U32: return H5T_STD_U32LE;
    case NNFI_COL_I32: return H5T_STD_I32LE;
    case NNFI_COL_U64: return H5T_STD_U64LE;
    case NNFI_COL_I64: return H5T_STD_I64LE;
    case NNFI_COL_F64: return H5T_IEEE_F64LE;
    }
    return H5T_STD_U8LE;
}

hid_t vstr_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

void vlen_free(hid_t mtype, hid_t space, void *buf)
{
#if H5_VERSION_GE(1, 12, 0)
    H5Treclaim(mtype, space, H5P_DEFAULT, buf);
#else
    H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, buf);
#endif
}

/* ---------------------------------------------------------------- files -- */

hid_t make_fapl(void)
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

/* Readers hold a shared lock, a writer an exclusive one. */
int lock_error(void)
{
    int found = 0;
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, find_lock_error, &found);
    return found;
}

hid_t open_file(const char *path, unsigned flags)
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

hid_t open_file_unlocked(const char *path)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    H5Pset_file_locking(fapl, 0, 1); /* a reader: never block on the writer's lock */
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    KEEP_ERRORS(f < 0, H5Pclose(fapl));
    return f;
}

nnfi_status open_fail(const char *path, const char *what)
{
    if (lock_error())
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: another program has it open (HDF5 file lock, waited 10 s)\n  hint: "
                                    "close h5py/HDFView sessions on the file of a running campaign, or read it with "
                                    "'nnfi inspect' or with HDF5_USE_FILE_LOCKING=FALSE set, which take no lock; is "
                                    "another 'nnfi run' writing it?",
                         path, what);
    return h5_fail(path, what);
}

void iso_now(char *buf, size_t n)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

const char *nnfi_h5_library_version(void)
{
    static char v[32];
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(v, sizeof v, "%u.%u.%u", maj, min, rel);
    return v;
}
