/* h5_util.c - HDF5 error plumbing for src/results (see h5_util.h). */
#include "h5_util.h"

#include "nnfi/h5_results.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

hid_t vstr_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0) return t;
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

int64_t ds_length(hid_t loc, const char *name)
{
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    hid_t sp = H5Dget_space(ds);
    hsize_t n = 0;
    int64_t len = -1;
    if (sp >= 0 && H5Sget_simple_extent_ndims(sp) == 1 && H5Sget_simple_extent_dims(sp, &n, NULL) == 1)
        len = (int64_t)n;
    if (sp >= 0) H5Sclose(sp);
    H5Dclose(ds);
    return len;
}

const char *nnfi_h5_library_version(void)
{
    static char v[32];
    unsigned maj = 0, min = 0, rel = 0;
    H5get_libversion(&maj, &min, &rel);
    snprintf(v, sizeof v, "%u.%u.%u", maj, min, rel);
    return v;
}
