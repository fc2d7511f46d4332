/* search_units.c - a critical-bit search split into units (search.h): one
 * unit is one site of one experiment, searched alone by nnfi_search_run
 * (only_site); units' results add up (nnfi_search_result_add) and, put in
 * canonical order (nnfi_search_result_finish), equal the whole search's bit
 * for bit, whichever rank or shard ran each. A unit travels as a packed
 * record (nnfi_search_unit_pack/unpack): between MPI ranks, in the search's
 * journal and in the result file's /search_units/records, which resume and
 * merge read back. */
#include "nnfi/search.h"

#include <stdlib.h>
#include <string.h>

#define UNIT_MAGIC 0x3155534eu /* "NSU1" read as a little-endian u32 */
#define LABEL_BYTES 16
#define STRATUM_BYTES 45

static int cmp_label(const void *a, const void *b)
{
    const nnfi_bit_label *x = a, *y = b;
    if (x->method != y->method) return x->method < y->method ? -1 : 1;
    if (x->site != y->site) return x->site < y->site ? -1 : 1;
    if (x->element != y->element) return x->element < y->element ? -1 : 1;
    return (int)x->bit - (int)y->bit;
}

static int cmp_stratum(const void *a, const void *b)
{
    const nnfi_search_stratum *x = a, *y = b;
    if (x->site != y->site) return x->site < y->site ? -1 : 1;
    return (int)x->bit - (int)y->bit;
}

nnfi_status nnfi_search_result_finish(nnfi_search_result *r)
{
    if (r->n_labels) qsort(r->labels, r->n_labels, sizeof *r->labels, cmp_label);
    if (r->n_strata) qsort(r->strata, r->n_strata, sizeof *r->strata, cmp_stratum);
    r->recall = r->tp + r->fn ? (double)r->tp / (double)(r->tp + r->fn) : 1;
    r->precision = r->tp + r->fp ? (double)r->tp / (double)(r->tp + r->fp) : 1;
    if (r->confidence == 0) r->confidence = 0.95;
    return NNFI_OK;
}

nnfi_status nnfi_search_result_add(nnfi_search_result *dst, const nnfi_search_result *src)
{
    if (src->n_labels) {
        nnfi_bit_label *l = realloc(dst->labels, (dst->n_labels + src->n_labels) * sizeof *l);
        if (!l) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for search labels");
        memcpy(l + dst->n_labels, src->labels, src->n_labels * sizeof *l);
        dst->labels = l;
        dst->n_labels += src->n_labels;
    }
    if (src->n_strata) {
        nnfi_search_stratum *z = realloc(dst->strata, (dst->n_strata + src->n_strata) * sizeof *z);
        if (!z) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for search strata");
        memcpy(z + dst->n_strata, src->strata, src->n_strata * sizeof *z);
        dst->strata = z;
        dst->n_strata += src->n_strata;
    }
    dst->experiment = src->experiment;
    if (src->confidence != 0) dst->confidence = src->confidence;
    dst->elements += src->elements;
    dst->checked += src->checked;
    dst->pilot_elements += src->pilot_elements;
    dst->bits += src->bits;
    dst->evals_search += src->evals_search;
    dst->evals_search_checked += src->evals_search_checked;
    dst->evals_exhaustive += src->evals_exhaustive;
    dst->predicted += src->predicted;
    dst->strata_sampled |= src->strata_sampled;
    dst->evals_strata += src->evals_strata;
    dst->tp += src->tp;
    dst->fp += src->fp;
    dst->fn += src->fn;
    dst->sites += src->sites;
    dst->nonmonotone_sites += src->nonmonotone_sites;
    dst->unpooled_sites += src->unpooled_sites;
    dst->seconds += src->seconds;
    return NNFI_OK;
}

/* ---------------------------------------------------------------- records -- */

typedef struct writer {
    uint8_t *p;
    size_t at;
} writer;

static void put(writer *w, const void *v, size_t n)
{
    if (w->p) memcpy(w->p + w->at, v, n);
    w->at += n;
}

static void put_u8(writer *w, uint8_t v) { put(w, &v, 1); }
static void put_u32(writer *w, uint32_t v) { put(w, &v, 4); }
static void put_u64(writer *w, uint64_t v) { put(w, &v, 8); }
static void put_f64(writer *w, double v) { put(w, &v, 8); }

/* The record, or (w->p == NULL) only its size. Native byte order: the magic
 * tells a record of another byte order, which unpack refuses. */
static void emit(writer *w, const nnfi_search_unit *u)
{
    const nnfi_search_result *r = &u->result;
    size_t name_len = u->site_name ? strlen(u->site_name) : 0;
    put_u32(w, UNIT_MAGIC);
    put_u32(w, u->experiment);
    put_u32(w, u->site);
    put_u32(w, u->n_sites);
    put_u32(w, (uint32_t)name_len);
    put(w, u->site_name ? u->site_name : "", name_len);
    const uint64_t c64[] = {r->elements,     r->checked,          r->pilot_elements, r->bits,
                            r->evals_search, r->evals_search_checked, r->evals_exhaustive, r->predicted,
                            r->evals_strata, r->tp,               r->fp,             r->fn};
    for (size_t i = 0; i < sizeof c64 / sizeof *c64; i++) put_u64(w, c64[i]);
    put_u32(w, r->sites);
    put_u32(w, r->nonmonotone_sites);
    put_u32(w, r->unpooled_sites);
    put_u32(w, (uint32_t)r->strata_sampled);
    put_f64(w, r->confidence); /* not the seconds: a record is the same however long it took */
    put_u64(w, r->n_labels);
    for (uint64_t i = 0; i < r->n_labels; i++) {
        const nnfi_bit_label *l = &r->labels[i];
        put_u64(w, l->element);
        put_u32(w, l->site);
        put_u8(w, l->bit);
        put_u8(w, l->critical);
        put_u8(w, l->method);
        put_u8(w, l->evaluations);
    }
    put_u64(w, r->n_strata);
    for (uint64_t i = 0; i < r->n_strata; i++) {
        const nnfi_search_stratum *z = &r->strata[i];
        put_u32(w, z->site);
        put_u8(w, z->bit);
        put_u64(w, z->elements);
        put_u64(w, z->critical);
        put_f64(w, z->fraction);
        put_f64(w, z->lo);
        put_f64(w, z->hi);
    }
}

nnfi_status nnfi_search_unit_pack(const nnfi_search_unit *u, uint8_t **buf, size_t *len)
{
    writer w = {NULL, 0};
    emit(&w, u);
    *len = w.at;
    *buf = malloc(w.at);
    if (!*buf) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for a search unit record (%zu bytes)", w.at);
    w = (writer){*buf, 0};
    emit(&w, u);
    return NNFI_OK;
}

typedef struct reader {
    const uint8_t *p;
    size_t at, len;
    int bad;
} reader;

static void get(reader *r, void *v, size_t n)
{
    if (r->bad || n > r->len - r->at) {
        r->bad = 1;
        memset(v, 0, n);
        return;
    }
    memcpy(v, r->p + r->at, n);
    r->at += n;
}

static uint8_t get_u8(reader *r)
{
    uint8_t v;
    get(r, &v, 1);
    return v;
}
static uint32_t get_u32(reader *r)
{
    uint32_t v;
    get(r, &v, 4);
    return v;
}
static uint64_t get_u64(reader *r)
{
    uint64_t v;
    get(r, &v, 8);
    return v;
}
static double get_f64(reader *r)
{
    double v;
    get(r, &v, 8);
    return v;
}

nnfi_status nnfi_search_unit_unpack(const uint8_t *buf, size_t len, nnfi_search_unit *u, size_t *used)
{
    memset(u, 0, sizeof *u);
    reader rd = {buf, 0, len, 0};
    if (get_u32(&rd) != UNIT_MAGIC || rd.bad)
        return NNFI_FAIL(NNFI_E_INVALID, "not a search unit record (magic), or one of another byte order");
    u->experiment = get_u32(&rd);
    u->site = get_u32(&rd);
    u->n_sites = get_u32(&rd);
    uint32_t name_len = get_u32(&rd);
    if (rd.bad || name_len > len - rd.at) return NNFI_FAIL(NNFI_E_INVALID, "search unit record truncated (name)");
    u->site_name = malloc(name_len + 1u);
    if (!u->site_name) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    get(&rd, u->site_name, name_len);
    u->site_name[name_len] = '\0';
    nnfi_search_result *r = &u->result;
    r->experiment = u->experiment;
    uint64_t *c64[] = {&r->elements,     &r->checked,          &r->pilot_elements, &r->bits,
                       &r->evals_search, &r->evals_search_checked, &r->evals_exhaustive, &r->predicted,
                       &r->evals_strata, &r->tp,               &r->fp,             &r->fn};
    for (size_t i = 0; i < sizeof c64 / sizeof *c64; i++) *c64[i] = get_u64(&rd);
    r->sites = get_u32(&rd);
    r->nonmonotone_sites = get_u32(&rd);
    r->unpooled_sites = get_u32(&rd);
    r->strata_sampled = (int)get_u32(&rd);
    r->confidence = get_f64(&rd);
    uint64_t nl = get_u64(&rd);
    if (rd.bad || nl > (len - rd.at) / LABEL_BYTES) goto truncated;
    r->labels = malloc((nl ? nl : 1) * sizeof *r->labels);
    if (!r->labels) goto nomem;
    for (uint64_t i = 0; i < nl; i++) {
        nnfi_bit_label *l = &r->labels[i];
        l->element = get_u64(&rd);
        l->site = get_u32(&rd);
        l->bit = get_u8(&rd);
        l->critical = get_u8(&rd);
        l->method = get_u8(&rd);
        l->evaluations = get_u8(&rd);
    }
    r->n_labels = nl;
    uint64_t ns = get_u64(&rd);
    if (rd.bad || ns > (len - rd.at) / STRATUM_BYTES) goto truncated;
    r->strata = calloc(ns ? ns : 1, sizeof *r->strata);
    if (!r->strata) goto nomem;
    for (uint64_t i = 0; i < ns; i++) {
        nnfi_search_stratum *z = &r->strata[i];
        z->site = get_u32(&rd);
        z->bit = get_u8(&rd);
        z->elements = get_u64(&rd);
        z->critical = get_u64(&rd);
        z->fraction = get_f64(&rd);
        z->lo = get_f64(&rd);
        z->hi = get_f64(&rd);
    }
    r->n_strata = ns;
    if (rd.bad) goto truncated;
    *used = rd.at;
    return NNFI_OK;
truncated:
    nnfi_search_unit_free(u);
    return NNFI_FAIL(NNFI_E_INVALID, "search unit record truncated");
nomem:
    nnfi_search_unit_free(u);
    return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
}

void nnfi_search_unit_free(nnfi_search_unit *u)
{
    if (!u) return;
    free(u->site_name);
    u->site_name = NULL;
    nnfi_search_result_free(&u->result);
}
