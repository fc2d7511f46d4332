/* eval_h5.c - evaluation sets from HDF5 files (see nnfi/eval_set.h). HDF5
 * reports its own errors on stderr by default; they are silenced here
 * (quiet_on, h5_util.h) and turned into nnfi messages with the file and
 * dataset names. */
#include "nnfi/eval_set.h"
#include "nnfi/config.h"

#include "h5_util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a dataset's values are, in words ("64-bit floats", "strings"). */
static void type_words(hid_t ty, char *buf, size_t n)
{
    H5T_class_t k = H5Tget_class(ty);
    size_t bits = H5Tget_size(ty) * 8;
    switch (k) {
    case H5T_INTEGER: snprintf(buf, n, "%zu-bit integers", bits); break;
    case H5T_FLOAT: snprintf(buf, n, "%zu-bit floats", bits); break;
    case H5T_STRING: snprintf(buf, n, "strings"); break;
    case H5T_COMPOUND: snprintf(buf, n, "compound records"); break;
    case H5T_ENUM: snprintf(buf, n, "enum values (booleans are stored so)"); break;
    case H5T_BITFIELD: snprintf(buf, n, "bit fields"); break;
    case H5T_OPAQUE: snprintf(buf, n, "opaque bytes"); break;
    case H5T_REFERENCE: snprintf(buf, n, "object references"); break;
    case H5T_ARRAY: snprintf(buf, n, "fixed-size arrays"); break;
    case H5T_VLEN: snprintf(buf, n, "variable-length sequences"); break;
    case H5T_TIME: snprintf(buf, n, "time values"); break;
    default: snprintf(buf, n, "values of an unknown class"); break;
    }
}

/* Is the dataset's type one its role takes: images a float or integer class
 * (converted to fp32), labels an integer class? Else an error naming it. */
static nnfi_status check_type(hid_t ds, const char *path, const char *name, int labels)
{
    hid_t ty = H5Dget_type(ds);
    if (ty < 0) return NNFI_FAIL(NNFI_E_IO, "%s: cannot read the type of dataset '%s'\n  hint: is the file complete?", path, name);
    H5T_class_t k = H5Tget_class(ty);
    char words[64];
    type_words(ty, words, sizeof words);
    H5Tclose(ty);
    if (labels && k != H5T_INTEGER)
        return NNFI_FAIL(NNFI_E_CONFIG,
                         "%s: dataset '%s' holds %s; labels must be integer class indices in [0, classes)\n"
                         "  hint: store the labels as int64 (h5py: f['%s'] = labels.astype('int64'))",
                         path, name, words, name);
    if (!labels && k != H5T_INTEGER && k != H5T_FLOAT)
        return NNFI_FAIL(NNFI_E_CONFIG,
                         "%s: dataset '%s' holds %s, which the model cannot take as input\n"
                         "  hint: images must be a float or integer array [samples, ...] (converted to float32), "
                         "e.g. uint8 pixels or float32 values",
                         path, name, words);
    return NNFI_OK;
}

static nnfi_status read_dataset(hid_t file, const char *path, const char *name, hid_t memtype, int labels,
                                int min_rank, int max_rank, int *rank, hsize_t *dims, void **data, size_t elem)
{
    *data = NULL;
    if (H5Lexists(file, name, H5P_DEFAULT) <= 0)
        return NNFI_FAIL(NNFI_E_CONFIG, "%s: no dataset '%s'\n  hint: set eval.images / eval.labels to the dataset names in this file (h5ls %s)",
                         path, name, path);
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    if (ds < 0) return NNFI_FAIL(NNFI_E_IO, "%s: cannot open dataset '%s'\n  hint: is the file complete?", path, name);
    nnfi_status st = check_type(ds, path, name, labels);
    if (st != NNFI_OK) {
        H5Dclose(ds);
        return st;
    }
    hid_t sp = H5Dget_space(ds);
    *rank = H5Sget_simple_extent_ndims(sp);
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
            st = NNFI_FAIL(NNFI_E_IO, "%s: cannot read dataset '%s' as %s\n  hint: images must be numeric, labels integers",
                           path, name, labels ? "64-bit integers" : "32-bit floats");
    }
    H5Sclose(sp);
    H5Dclose(ds);
    if (st != NNFI_OK) {
        free(*data);
        *data = NULL;
    }
    return st;
}

/* The labels, read as int64, to int32: a value out of int32's range is no
 * class index (a bare conversion would clamp it into range); the worker
 * checks [0, classes) once the model says how many classes it has. */
static nnfi_status narrow_labels(const char *path, const char *name, const int64_t *wide, uint64_t n, int32_t **out)
{
    *out = malloc(n ? n * sizeof **out : 1);
    if (!*out) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for the labels of %s", path);
    for (uint64_t i = 0; i < n; i++) {
        if (wide[i] < INT32_MIN || wide[i] > INT32_MAX) {
            free(*out);
            *out = NULL;
            return NNFI_FAIL(NNFI_E_CONFIG, "%s: dataset '%s': label %llu is %lld, not a class index\n"
                                            "  hint: labels must be integer class indices in [0, classes)",
                             path, name, (unsigned long long)i, (long long)wide[i]);
        }
        (*out)[i] = (int32_t)wide[i];
    }
    return NNFI_OK;
}

/* The dtype a model takes the images in: the dataset's `dtype` attribute
 * when it has one ("float32", "float16", "bfloat16", "int64"), else 16-bit
 * floats -> fp16, signed 64-bit integers -> int64 (token ids), anything else
 * fp32 (images). -1: an attribute naming no dtype of these. */
static int images_dtype(hid_t ds, char *attr, size_t n)
{
    attr[0] = '\0';
    if (H5Aexists(ds, "dtype") > 0) {
        if (attr_read_str(ds, "dtype", attr, n) < 0) snprintf(attr, n, "(not a string)");
        static const struct { const char *word; nnfi_dtype dt; } words[] = {
            {"float32", NNFI_DT_F32}, {"float16", NNFI_DT_F16}, {"bfloat16", NNFI_DT_BF16}, {"int64", NNFI_DT_I64}};
        for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
            if (strcmp(attr, words[i].word) == 0) return (int)words[i].dt;
        return -1;
    }
    hid_t ty = H5Dget_type(ds);
    int dt = NNFI_DT_F32;
    if (H5Tget_class(ty) == H5T_FLOAT && H5Tget_size(ty) == 2) dt = NNFI_DT_F16;
    if (H5Tget_class(ty) == H5T_INTEGER && H5Tget_size(ty) == 8 && H5Tget_sign(ty) == H5T_SGN_2) dt = NNFI_DT_I64;
    H5Tclose(ty);
    return dt;
}

/* Token ids travel as fp32 (model_host.h forward): exact up to 2^24. */
#define NNFI_EXACT_INT_MAX 16777216LL

/* The images of an int64 dataset: read as integers, refused past 2^24 (fp32
 * would round them), then converted. */
static nnfi_status exact_ids(hid_t file, const char *path, const char *name, float *img, uint64_t n)
{
    int64_t *ids = malloc(n ? n * sizeof *ids : 1);
    if (!ids) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for dataset '%s' of %s", name, path);
    hid_t ds = H5Dopen2(file, name, H5P_DEFAULT);
    herr_t rc = ds >= 0 ? H5Dread(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, ids) : -1;
    if (ds >= 0) H5Dclose(ds);
    nnfi_status st = NNFI_OK;
    if (rc < 0) st = NNFI_FAIL(NNFI_E_IO, "%s: cannot read dataset '%s' as 64-bit integers\n  hint: is the file complete?", path, name);
    for (uint64_t i = 0; st == NNFI_OK && i < n; i++) {
        if (ids[i] < -NNFI_EXACT_INT_MAX || ids[i] > NNFI_EXACT_INT_MAX)
            st = NNFI_FAIL(NNFI_E_CONFIG, "%s: dataset '%s': token id %llu is %lld, beyond 2^24 = %lld\n"
                           "  hint: nnfi carries inputs as fp32, exact for integers up to 2^24 only; a vocabulary "
                           "that large is not supported",
                           path, name, (unsigned long long)i, (long long)ids[i], NNFI_EXACT_INT_MAX);
        img[i] = (float)ids[i];
    }
    free(ids);
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
    void *img = NULL, *wide = NULL;
    int32_t *lab = NULL;
    int dtype = NNFI_DT_F32;
    st = read_dataset(file, path, images, H5T_NATIVE_FLOAT, 0, 2, 9, &ri, di, &img, sizeof(float));
    if (st == NNFI_OK) {
        char attr[64];
        hid_t ds = H5Dopen2(file, images, H5P_DEFAULT);
        dtype = ds >= 0 ? images_dtype(ds, attr, sizeof attr) : NNFI_DT_F32;
        if (ds >= 0) H5Dclose(ds);
        if (dtype < 0)
            st = NNFI_FAIL(NNFI_E_CONFIG, "%s: dataset '%s': attribute dtype is '%s', not a dtype nnfi feeds a model\n"
                           "  hint: dtype is one of float32, float16, bfloat16, int64 (or drop the attribute: the "
                           "dataset's own type decides)",
                           path, images, attr);
    }
    if (st == NNFI_OK && dtype == NNFI_DT_I64) {
        uint64_t n = 1;
        for (int d = 0; d < ri; d++) n *= di[d];
        st = exact_ids(file, path, images, img, n);
    }
    if (st == NNFI_OK) st = read_dataset(file, path, labels, H5T_NATIVE_INT64, 1, 1, 2, &rl, dl, &wide, sizeof(int64_t));
    H5Fclose(file);
    if (st == NNFI_OK && dl[0] != di[0])
        st = NNFI_FAIL(NNFI_E_CONFIG, "%s: %llu images but %llu labels\n  hint: the eval set's datasets must have one label per image "
                       "([N], or [N, T] for a model with a class per position)",
                       path, (unsigned long long)di[0], (unsigned long long)dl[0]);
    uint64_t positions = rl == 2 ? dl[1] : 1;
    if (st == NNFI_OK && (positions == 0 || positions > UINT32_MAX))
        st = NNFI_FAIL(NNFI_E_CONFIG, "%s: dataset '%s' has shape [%llu, %llu]: no positions per sample\n"
                       "  hint: labels are [N] (a class per sample) or [N, T] (a class per position, T >= 1)",
                       path, labels, (unsigned long long)dl[0], (unsigned long long)dl[1]);
    if (st == NNFI_OK && di[0] == 0)
        st = NNFI_FAIL(NNFI_E_CONFIG, "%s: dataset '%s' holds no samples\n  hint: the eval set must not be empty (its first dimension counts samples)",
                       path, images);
    uint64_t keep = max_samples && max_samples < di[0] ? max_samples : di[0];
    if (st == NNFI_OK) st = narrow_labels(path, labels, wide, keep * positions, &lab); /* the samples kept only */
    free(wide);
    if (st != NNFI_OK) {
        free(img);
        free(lab);
        goto out;
    }
    out->inputs = img;
    out->labels = lab;
    out->samples = keep;
    out->positions = (uint32_t)positions;
    out->input_dtype = (nnfi_dtype)dtype;
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

void nnfi_eval_model_cfg(const nnfi_campaign *c, const nnfi_model_cfg *mc, nnfi_model_cfg *out)
{
    *out = *mc;
    out->input_ndim = 0;
    out->input_dtype = NNFI_DT_F32;
    const nnfi_eval_cfg *e = mc->eval ? mc->eval : c ? c->eval : NULL;
    if (!e || !e->path) return;
    char path[4096];
    int abs = e->path[0] == '/';
    snprintf(path, sizeof path, "%s%s%s", abs ? "" : c->source_dir, abs ? "" : "/", e->path);
    h5_quiet q;
    quiet_on(&q);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT), ds = -1, sp = -1;
    if (f >= 0) ds = H5Dopen2(f, e->images ? e->images : "images", H5P_DEFAULT);
    if (ds >= 0) sp = H5Dget_space(ds);
    int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
    hsize_t dims[9];
    if (nd >= 2 && nd <= 9 && H5Sget_simple_extent_dims(sp, dims, NULL) == nd) {
        out->input_ndim = nd - 1;
        for (int d = 1; d < nd; d++) out->input_shape[d - 1] = (int64_t)dims[d];
        char attr[64];
        int dt = images_dtype(ds, attr, sizeof attr);
        out->input_dtype = dt < 0 ? NNFI_DT_F32 : (nnfi_dtype)dt; /* a bad attribute: nnfi_eval_load says so, located */
    }
    if (sp >= 0) H5Sclose(sp);
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    quiet_off(&q);
}
