/* eval_h5.c - evaluation sets from HDF5 files (see nnfi/eval_set.h). HDF5
 * reports its own errors on stderr by default; they are silenced here
 * (quiet_on, h5_util.h) and turned into nnfi messages with the file and
 * dataset names. */
#include "nnfi/eval_set.h"

#include "h5_util.h"

#include <stdlib.h>
#include <string.h>

static nnfi_status read_dataset(hid_t file, const char *path, const char *name, hid_t memtype, int min_rank,
                                int max_rank, int *rank, hsize_t *dims, void **data, size_t elem)
{
    *data = NULL;
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return NNFI_FAIL(NNFI_E_CONFIG, "%s: no dataset '%s'\n  hint: set eval.images / eval.labels to the dataset names in this file (h5ls %s)",
                         path, name, path);
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0) return NNFI_FAIL(NNFI_E_IO, "%s: cannot open dataset '%s'\n  hint: is the file complete?", path, name);
    hid_t sp = H5Dget_space(ds);
    *rank = H5Sget_simple_extent_ndims(sp);
    nnfi_status st = NNFI_OK;
    if (*rank < min_rank || *rank > max_rank) {
        st = NNFI_FAIL(NNFI_E_CONFIG, "%s: dataset '%s' has %d dimensions, expected %d to %d\n  hint: the first dimension counts samples",
                       path, name, *rank, min_rank, max_rank);
    } else {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        size_t n = 1;
        for (int d = 0; d < *rank; d++) n *= (size_t)dims[d];
        *data = malloc(n ? n * elem : 1);
        if (!*data) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory for dataset '%s' of %s", name, path);
        else if (H5Dread(ds, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, *data) < 0)
            st = NNFI_FAIL(NNFI_E_IO, "%s: cannot read dataset '%s' as numbers\n  hint: images must be numeric, labels integers",
                           path, name);
    }
    H5Sclose(sp);
    H5Dclose(ds);
    if (st != NNFI_OK) {
        free(*data);
        *data = NULL;
    }
    return st;
}

nnfi_status nnfi_eval_load(const char *path, const char *images, const char *labels, uint64_t max_samples,
                           nnfi_eval_set *out)
{
    memset(out, 0, sizeof *out);
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (file < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot open as an HDF5 file\n  hint: check eval.path (relative paths are relative to the campaign file)", path);
        goto out;
    }
    int ri = 0, rl = 0;
    hsize_t di[9] = {0}, dl[9] = {0};
    void *img = NULL, *lab = NULL;
    st = read_dataset(file, path, images, H5T_NATIVE_FLOAT, 2, 9, &ri, di, &img, sizeof(float));
    if (st == NNFI_OK) st = read_dataset(file, path, labels, H5T_NATIVE_INT32, 1, 1, &rl, dl, &lab, sizeof(int32_t));
    H5Fclose(file);
    if (st == NNFI_OK && dl[0] != di[0])
        st = NNFI_FAIL(NNFI_E_CONFIG, "%s: %llu images but %llu labels\n  hint: the eval set's datasets must have one label per image",
                       path, (unsigned long long)di[0], (unsigned long long)dl[0]);
    if (st != NNFI_OK) {
        free(img);
        free(lab);
        goto out;
    }
    out->inputs = img;
    out->labels = lab;
    out->samples = max_samples && max_samples < di[0] ? max_samples : di[0];
    out->ndim = ri - 1;
    out->numel = 1;
    for (int d = 1; d < ri; d++) {
        out->shape[d - 1] = (int64_t)di[d];
        out->numel *= di[d];
    }
out:
    quiet_off(&q);
    return st;
}

void nnfi_eval_free(nnfi_eval_set *e)
{
    if (!e) return;
    free(e->inputs);
    free(e->labels);
    memset(e, 0, sizeof *e);
}
