/* h5_io.c - datasets for the whole module (see h5_util.h): the length of a
 * 1-D column, block and whole reads, small tables written whole (plan
 * tables, site tables), and the chunked, extendible columns of /trials and
 * /faults with the standard filters (shuffle + deflate level 1). */
#include "h5_util.h"

#include <stdlib.h>
#include <string.h>

int nnfi_h5_filters = 1;

hsize_t trial_chunk(uint64_t total) { return total < TRIAL_CHUNK ? (total ? total : 1) : TRIAL_CHUNK; }

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

/* ----------------------------------------------------------------- read -- */

herr_t read_block(hid_t ds, hid_t mtype, hsize_t lo, hsize_t count, void *buf)
{
    if (!count) return 0;
    herr_t rc = -1;
    hid_t fs = H5Dget_space(ds), ms = H5Screate_simple(1, &count, NULL);
    if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, &lo, NULL, &count, NULL) >= 0)
        rc = H5Dread(ds, mtype, ms, fs, H5P_DEFAULT, buf);
    KEEP_ERRORS(rc < 0, if (ms >= 0) H5Sclose(ms); if (fs >= 0) H5Sclose(fs));
    return rc;
}

herr_t read_all(hid_t loc, const char *name, hid_t mtype, hsize_t n, void *buf)
{
    if (ds_length(loc, name) != (int64_t)n) return -1;
    if (!n) return 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT);
    if (ds < 0) return -1;
    herr_t rc = H5Dread(ds, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    KEEP_ERRORS(rc < 0, H5Dclose(ds));
    return rc;
}

herr_t read_strings(hid_t loc, const char *name, size_t n, char **out)
{
    if (ds_length(loc, name) != (int64_t)n) return -1;
    if (!n) return 0;
    hid_t ds = H5Dopen2(loc, name, H5P_DEFAULT), mt = vstr_type();
    char **raw = calloc(n, sizeof *raw);
    herr_t rc = -1;
    if (ds >= 0 && mt >= 0 && raw && H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) >= 0) {
        rc = 0;
        for (size_t i = 0; i < n; i++) {
            out[i] = strdup(raw[i] ? raw[i] : "");
            if (!out[i]) rc = -1;
            if (raw[i]) H5free_memory(raw[i]);
        }
        for (size_t i = 0; rc < 0 && i < n; i++) {
            free(out[i]);
            out[i] = NULL;
        }
    }
    free(raw);
    if (mt >= 0) H5Tclose(mt);
    if (ds >= 0) H5Dclose(ds);
    return rc;
}

/* ---------------------------------------------------------------- write -- */

herr_t write_table(hid_t loc, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *data)
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

herr_t write_num(hid_t loc, const char *name, nnfi_column_kind kind, hsize_t n, const void *data)
{
    return write_table(loc, name, file_type(kind), mem_type(kind), n, data);
}

herr_t write_strs(hid_t loc, const char *name, hsize_t n, const char *const *strs)
{
    hid_t t = vstr_type();
    if (t < 0) return -1;
    herr_t rc = write_table(loc, name, t, t, n, strs);
    KEEP_ERRORS(rc < 0, H5Tclose(t));
    return rc;
}

hid_t create_chunked(hid_t loc, const char *name, nnfi_column_kind kind, hsize_t n, hsize_t chunk)
{
    hsize_t maxd = H5S_UNLIMITED;
    hid_t sp = H5Screate_simple(1, &n, &maxd);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t ds = -1;
    uint64_t zero = 0;
    if (sp < 0 || dcpl < 0) goto out;
    if (H5Pset_chunk(dcpl, 1, &chunk) < 0 || H5Pset_fill_value(dcpl, mem_type(kind), &zero) < 0) goto out;
    if (nnfi_h5_filters && (H5Pset_shuffle(dcpl) < 0 || H5Pset_deflate(dcpl, 1) < 0)) goto out;
    if (H5Pset_fletcher32(dcpl) < 0) goto out; /* last: a checksum of the stored chunk (nnfi_h5_verify) */
    ds = H5Dcreate2(loc, name, file_type(kind), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
out:
    KEEP_ERRORS(ds < 0, if (dcpl >= 0) H5Pclose(dcpl); if (sp >= 0) H5Sclose(sp));
    return ds;
}

hid_t create_column(hid_t loc, const nnfi_column_info *col, hsize_t n, hsize_t chunk)
{
    hid_t ds = create_chunked(loc, col->name, col->kind, n, chunk);
    if (ds < 0) return ds;
    if (attr_schema_column(ds, col) < 0) {
        KEEP_ERRORS(1, H5Dclose(ds));
        return -1;
    }
    return ds;
}
