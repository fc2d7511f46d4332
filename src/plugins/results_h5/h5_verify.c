/* h5_verify.c - nnfi_h5_verify (nnfi/h5_reader.h): read every dataset of a
 * result file back through HDF5's filter pipeline, so that a chunk whose
 * Fletcher-32 checksum does not match (the writer puts the filter on every
 * chunked dataset: h5_io.c create_chunked, h5_models.c) or that cannot be
 * decompressed is found, and named. `nnfi inspect --verify` and `nnfi merge`
 * (every shard, before anything is written) call it. */
#include "nnfi/h5_reader.h"

#include "h5_util.h"
#include "h5_journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hid_t h5_reader_hid(const nnfi_h5_file *f);

#define SLAB_BYTES (8u << 20) /* read 1-D datasets in slabs of about this size */

typedef struct verify_ctx {
    const char *path;
    nnfi_status st;
    uint64_t datasets, bytes;
} verify_ctx;

/* Read dataset `ds` (of file type `type`) whole, 1-D ones slab by slab. */
static herr_t read_back(hid_t ds, hid_t type, uint64_t *bytes)
{
    hid_t fsp = H5Dget_space(ds);
    if (fsp < 0) return -1;
    int rank = H5Sget_simple_extent_ndims(fsp);
    hssize_t npts = H5Sget_simple_extent_npoints(fsp);
    size_t esz = H5Tget_size(type);
    int vlen = H5Tis_variable_str(type) > 0 || H5Tget_class(type) == H5T_VLEN;
    herr_t rc = rank < 0 || npts < 0 || esz == 0 ? -1 : 0;
    if (rc == 0 && npts > 0) {
        hsize_t dims[H5S_MAX_RANK];
        H5Sget_simple_extent_dims(fsp, dims, NULL);
        hsize_t per = rank == 1 ? (SLAB_BYTES / esz ? SLAB_BYTES / esz : 1) : (hsize_t)npts;
        void *buf = malloc((size_t)(per < (hsize_t)npts ? per : (hsize_t)npts) * esz);
        if (!buf) rc = -1;
        for (hsize_t at = 0; rc == 0 && at < (hsize_t)npts; at += per) {
            hsize_t n = (hsize_t)npts - at < per ? (hsize_t)npts - at : per;
            hid_t msp = H5Screate_simple(1, &n, NULL);
            hid_t sel = H5Scopy(fsp);
            if (msp < 0 || sel < 0) rc = -1;
            if (rc == 0 && rank == 1) rc = H5Sselect_hyperslab(sel, H5S_SELECT_SET, &at, NULL, &n, NULL);
            if (rc == 0) rc = H5Dread(ds, type, msp, sel, H5P_DEFAULT, buf);
            if (rc == 0 && vlen) vlen_free(type, msp, buf);
            if (rc == 0) *bytes += n * esz;
            if (sel >= 0) H5Sclose(sel);
            if (msp >= 0) H5Sclose(msp);
        }
        free(buf);
    }
    H5Sclose(fsp);
    return rc;
}

#if H5_VERSION_GE(1, 12, 0)
typedef H5O_info2_t obj_info;
#else
typedef H5O_info_t obj_info;
#endif

static herr_t visit(hid_t obj, const char *name, const obj_info *info, void *data)
{
    verify_ctx *v = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t ds = H5Dopen2(obj, name, H5P_DEFAULT);
    hid_t type = ds >= 0 ? H5Dget_type(ds) : -1;
    herr_t rc = type < 0 ? -1 : read_back(ds, type, &v->bytes);
    if (type >= 0) H5Tclose(type);
    if (ds >= 0) H5Dclose(ds);
    if (rc < 0) {
        v->st = NNFI_FAIL(NNFI_E_IO,
                          "%s: /%s cannot be read back: a chunk's Fletcher-32 checksum does not match or it cannot "
                          "be decompressed (the file is damaged)\n  hint: run again from a good copy, or resume "
                          "from the last good checkpoint; 'h5dump -d /%s %s' shows where the read fails",
                          v->path, name, name, v->path);
        return 1; /* stop the visit */
    }
    v->datasets++;
    return 0;
}

nnfi_status nnfi_h5_verify(nnfi_h5_file *f, uint64_t *datasets, uint64_t *bytes)
{
    const nnfi_h5_file_info *info = nnfi_h5_file_info_of(f);
    if (!info) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_verify: NULL file\n  hint: this is a bug in the caller");
    verify_ctx v = {info->path, NNFI_OK, 0, 0};
    h5_quiet q;
    quiet_on(&q);
#if H5_VERSION_GE(1, 12, 0)
    herr_t rc = H5Ovisit3(h5_reader_hid(f), H5_INDEX_NAME, H5_ITER_NATIVE, visit, &v, H5O_INFO_BASIC);
#else
    herr_t rc = H5Ovisit(h5_reader_hid(f), H5_INDEX_NAME, H5_ITER_NATIVE, visit, &v);
#endif
    quiet_off(&q);
    if (v.st == NNFI_OK && rc < 0)
        v.st = NNFI_FAIL(NNFI_E_IO, "%s: its groups cannot be walked (the file is damaged)\n  hint: 'h5ls -r %s' "
                                    "shows what can still be read",
                         info->path, info->path);
    const journal *j = h5_reader_journal(f);
    if (v.st == NNFI_OK && j && j->damaged) {
        char *jp = journal_path(info->path);
        v.st = NNFI_FAIL(NNFI_E_IO, "%s: its checkpoint journal %s is damaged: the record at byte %" PRIu64 " fails "
                                    "its CRC-32 checksum, and whole records follow it (readers stop at it)\n  hint: "
                                    "the rows after it are lost; 'nnfi run --resume' folds what is good and redoes "
                                    "the rest",
                         info->path, jp ? jp : "", j->bad_at);
        free(jp);
    }
    if (j && v.st == NNFI_OK) v.bytes += j->valid_end;
    if (datasets) *datasets = v.datasets;
    if (bytes) *bytes = v.bytes;
    return v.st;
}
