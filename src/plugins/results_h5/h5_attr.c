/* h5_attr.c - HDF5 attributes for the whole module (see h5_util.h): write
 * numbers and strings, the unit/description/flag attributes of a schema
 * column (categorical names from categories.h), read numbers and strings
 * back, list an object's attributes and copy one to another object. */
#include "h5_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- write -- */

herr_t attr_write(hid_t obj, const char *name, hid_t ftype, hid_t mtype, hsize_t n, const void *val)
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

herr_t attr_strs(hid_t obj, const char *name, hsize_t n, const char *const *v)
{
    hid_t t = vstr_type();
    if (t < 0) return -1;
    herr_t rc = attr_write(obj, name, t, t, n, v);
    KEEP_ERRORS(rc < 0, H5Tclose(t));
    return rc;
}

herr_t attr_str(hid_t obj, const char *name, const char *val) { return attr_strs(obj, name, 0, &val); }

herr_t attr_u64(hid_t obj, const char *name, uint64_t v)
{
    return attr_write(obj, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, 0, &v);
}

herr_t attr_i32(hid_t obj, const char *name, int32_t v)
{
    return attr_write(obj, name, H5T_STD_I32LE, H5T_NATIVE_INT32, 0, &v);
}

herr_t attr_f64(hid_t obj, const char *name, double v)
{
    return attr_write(obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 0, &v);
}

herr_t attr_column(hid_t ds, nnfi_column_kind kind, const char *unit, const char *desc, nnfi_category cat)
{
    if (attr_str(ds, "unit", unit) < 0 || attr_str(ds, "description", desc) < 0) return -1;
    size_t n = 0;
    const char *const *names = nnfi_category_names(cat, &n);
    const char *meanings = nnfi_category_meanings(cat);
    if (!names || !meanings || !n) return 0;
    if (kind != NNFI_COL_U8 || n > 256) return -1; /* flag_values are stored as uint8 codes */
    uint8_t values[256];
    for (size_t i = 0; i < n; i++) values[i] = (uint8_t)i; /* the lists are indexed by code */
    if (attr_write(ds, "flag_values", H5T_STD_U8LE, H5T_NATIVE_UINT8, (hsize_t)n, values) < 0) return -1;
    return attr_str(ds, "flag_meanings", meanings);
}

herr_t attr_schema_column(hid_t ds, const nnfi_column_info *col)
{
    return attr_column(ds, col->kind, col->unit, col->description, col->category);
}

/* ----------------------------------------------------------------- read -- */

int attr_read(hid_t obj, const char *name, hid_t mtype, void *out)
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

char *attr_text(hid_t obj, const char *name)
{
    if (H5Aexists(obj, name) <= 0) return NULL;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0) return NULL;
    char *res = NULL;
    hid_t ft = H5Aget_type(a);
    if (ft >= 0 && H5Tget_class(ft) == H5T_STRING) {
        if (H5Tis_variable_str(ft) > 0) {
            hid_t mt = vstr_type();
            char *s = NULL;
            if (mt >= 0 && H5Aread(a, mt, &s) >= 0 && s) {
                res = strdup(s);
                H5free_memory(s);
            }
            if (mt >= 0) H5Tclose(mt);
        } else {
            size_t len = H5Tget_size(ft);
            res = calloc(len + 1, 1);
            hid_t mt = H5Tcopy(ft);
            if (res && (mt < 0 || H5Aread(a, mt, res) < 0)) {
                free(res);
                res = NULL;
            }
            if (mt >= 0) H5Tclose(mt);
        }
    }
    if (ft >= 0) H5Tclose(ft);
    H5Aclose(a);
    return res;
}

int attr_read_str(hid_t obj, const char *name, char *buf, size_t n)
{
    buf[0] = '\0';
    char *s = attr_text(obj, name);
    if (!s) return -1;
    snprintf(buf, n, "%s", s);
    free(s);
    return 0;
}

/* ------------------------------------------------------- list and copy -- */

void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static herr_t collect_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data)
{
    (void)loc;
    (void)info;
    name_list *l = data;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (!v) return -1;
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name))) return -1;
    l->n++;
    return 0;
}

int attr_names(hid_t obj, name_list *l)
{
    memset(l, 0, sizeof *l);
    hsize_t idx = 0;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, collect_attr, l) < 0) {
        names_free(l);
        return -1;
    }
    return 0;
}

herr_t copy_attr(hid_t src, hid_t dst, const char *name)
{
    herr_t rc = -1;
    hid_t a = H5Aopen(src, name, H5P_DEFAULT);
    hid_t ft = a >= 0 ? H5Aget_type(a) : -1, sp = a >= 0 ? H5Aget_space(a) : -1;
    hid_t mt = ft >= 0 ? H5Tget_native_type(ft, H5T_DIR_DEFAULT) : -1;
    hssize_t npts = sp >= 0 ? H5Sget_simple_extent_npoints(sp) : -1;
    void *buf = NULL;
    if (mt < 0 || npts < 0) goto out;
    int vlen = H5Tis_variable_str(ft) > 0 || H5Tdetect_class(ft, H5T_VLEN) > 0;
    buf = calloc(npts ? (size_t)npts : 1, H5Tget_size(mt));
    if (!buf || H5Aread(a, mt, buf) < 0) goto out;
    if (H5Aexists(dst, name) > 0) H5Adelete(dst, name);
    hid_t b = H5Acreate2(dst, name, ft, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (b >= 0) {
        rc = H5Awrite(b, mt, buf);
        H5Aclose(b);
    }
    if (vlen) vlen_free(mt, sp, buf);
out:
    free(buf);
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (ft >= 0) H5Tclose(ft);
    if (a >= 0) H5Aclose(a);
    return rc;
}
