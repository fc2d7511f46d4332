/* segment_apply.cuh - the per-thread bodies of the CUDA backend's kernels, as
 * __host__ __device__ functions, so a CPU test can run them thread by thread
 * against the `cpu` backend (tests/unit/test_segment_apply.c).
 *
 * Every fault of a trial gets a 64-bit key (nnfi_seg_key); one stable radix
 * sort of (key, list position) puts them in the order the kernels need, with
 * faults of equal key keeping their list order:
 *   class 0  permanent parameter fault   key = 0 << 62 | global element
 *   class 1  transient parameter fault   key = 1 << 62 | call << 40 | global element
 *   class 2  activation/input/state      key = 2 << 62 | site << 40 | element
 *   class 3  invalid (out of range)      never applied; the trial fails
 * (global element = the element's position among all parameter elements).
 * A run of equal keys is a segment: every fault on one element (of one call),
 * in list order. Thread i works only when it heads a segment (i == 0 or
 * key[i] != key[i-1]); it then applies the whole segment in order, which is
 * exactly what the CPU backend's sequential loop leaves in memory, and no two
 * threads ever touch one element. No count ever needs to reach the host: a
 * kernel runs over all n sorted faults and each thread checks its class.
 */
#ifndef NNFI_KERNELS_SEGMENT_APPLY_CUH
#define NNFI_KERNELS_SEGMENT_APPLY_CUH

#include <stdint.h>

#include "nnfi/fault_bits.h"
#include "nnfi/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_SEG_CLASS_SHIFT 62
#define NNFI_SEG_MID_SHIFT 40
#define NNFI_SEG_LOW_MASK ((((uint64_t)1) << NNFI_SEG_MID_SHIFT) - 1)
#define NNFI_SEG_MID_MASK ((((uint64_t)1) << (NNFI_SEG_CLASS_SHIFT - NNFI_SEG_MID_SHIFT)) - 1)
#define NNFI_SEG_INVALID (((uint64_t)3) << NNFI_SEG_CLASS_SHIFT)

/* What the kernels know about the model's sites. */
typedef struct nnfi_seg_sites {
    void *const *base;        /* per site: device memory of a parameter's elements, NULL otherwise */
    const uint8_t *dtype;     /* per site: nnfi_dtype */
    const uint8_t *is_param;  /* per site: PARAM or BUFFER */
    const uint64_t *numel;    /* per site: elements (per sample for activations) */
    const uint64_t *param_off;/* per site: offset among all parameter elements */
    uint32_t n_sites;
} nnfi_seg_sites;

NNFI_HD uint32_t nnfi_seg_class(uint64_t key) { return (uint32_t)(key >> NNFI_SEG_CLASS_SHIFT); }
NNFI_HD uint64_t nnfi_seg_mid(uint64_t key) { return (key >> NNFI_SEG_MID_SHIFT) & NNFI_SEG_MID_MASK; }

/* The sort key of fault f (NNFI_SEG_INVALID when it names a site or element
 * the model lacks, a parameter in host memory, or numbers past the key's fields). */
NNFI_HD uint64_t nnfi_seg_key(const nnfi_seg_sites *s, const nnfi_fault *f)
{
    if (f->site >= s->n_sites || f->element >= s->numel[f->site]) return NNFI_SEG_INVALID;
    if (!s->is_param[f->site]) {
        if (f->site > NNFI_SEG_MID_MASK || f->element > NNFI_SEG_LOW_MASK) return NNFI_SEG_INVALID;
        return ((uint64_t)2 << NNFI_SEG_CLASS_SHIFT) | ((uint64_t)f->site << NNFI_SEG_MID_SHIFT) | f->element;
    }
    uint64_t g = s->param_off[f->site] + f->element;
    if (!s->base[f->site]) return NNFI_SEG_INVALID;
    if (!f->transient) return g < ((uint64_t)1 << NNFI_SEG_CLASS_SHIFT) ? g : NNFI_SEG_INVALID;
    if (f->when < 0 || (uint64_t)f->when > NNFI_SEG_MID_MASK || g > NNFI_SEG_LOW_MASK) return NNFI_SEG_INVALID;
    return ((uint64_t)1 << NNFI_SEG_CLASS_SHIFT) | ((uint64_t)f->when << NNFI_SEG_MID_SHIFT) | g;
}

/* Does sorted entry i head a parameter segment of class cls (for class 1:
 * of this call)? */
NNFI_HD int nnfi_seg_param_head(const uint64_t *key, uint64_t n, uint64_t i, uint32_t cls, uint64_t call)
{
    if (i >= n || nnfi_seg_class(key[i]) != cls || (i > 0 && key[i] == key[i - 1])) return 0;
    return cls != 1 || nnfi_seg_mid(key[i]) == call;
}

/* Apply the parameter segment headed at i in list order, saving the
 * original word in saved[i]; returns the faults applied (0 if not a head). */
NNFI_HD uint64_t nnfi_seg_apply_param(const nnfi_seg_sites *s, const nnfi_fault *f, const uint64_t *key,
                                      const uint32_t *idx, uint64_t n, uint64_t i, uint32_t cls, uint64_t call,
                                      uint64_t *saved)
{
    if (!nnfi_seg_param_head(key, n, i, cls, call)) return 0;
    const nnfi_fault *f0 = &f[idx[i]];
    void *base = s->base[f0->site];
    nnfi_dtype dt = (nnfi_dtype)s->dtype[f0->site];
    uint64_t w = nnfi_elem_load(base, dt, f0->element), j = i;
    saved[i] = w;
    for (; j < n && key[j] == key[i]; j++) {
        const nnfi_fault *fj = &f[idx[j]];
        w = nnfi_bits_apply(w, (nnfi_op)fj->op, fj->mask, fj->value);
    }
    nnfi_elem_store(base, dt, f0->element, w);
    return j - i;
}

/* Undo nnfi_seg_apply_param for the segment headed at i. */
NNFI_HD void nnfi_seg_restore_param(const nnfi_seg_sites *s, const nnfi_fault *f, const uint64_t *key,
                                    const uint32_t *idx, uint64_t n, uint64_t i, uint32_t cls, uint64_t call,
                                    const uint64_t *saved)
{
    if (!nnfi_seg_param_head(key, n, i, cls, call)) return;
    const nnfi_fault *f0 = &f[idx[i]];
    nnfi_elem_store(s->base[f0->site], (nnfi_dtype)s->dtype[f0->site], f0->element, saved[i]);
}

/* The call an on_site kernel runs for. */
typedef struct nnfi_seg_call {
    uint64_t call, first_sample, rows;
    uint64_t numel;  /* elements per sample of the site */
    uint32_t site;
    uint32_t t;      /* the site's call count within the forward */
    uint8_t dtype;
} nnfi_seg_call;

/* Does fault f apply in this call at all (the CPU backend's filters), and if
 * it is a one-sample fault, to which row (*row, else UINT64_MAX = every row)? */
NNFI_HD int nnfi_seg_hits_call(const nnfi_fault *f, const nnfi_seg_call *c, uint64_t *row)
{
    *row = UINT64_MAX;
    if (c->t < f->t_first || c->t > f->t_last) return 0;
    if (!f->transient) return 1;
    if (f->scope == 0 /* NNFI_SCOPE_CALL */) return f->when == (int64_t)c->call;
    if (f->when < (int64_t)c->first_sample || (uint64_t)f->when - c->first_sample >= c->rows) return 0;
    *row = (uint64_t)f->when - c->first_sample;
    return 1;
}

/* Does sorted entry i head a segment of this call's site? */
NNFI_HD int nnfi_seg_site_head(const uint64_t *key, uint64_t n, uint64_t i, uint32_t site)
{
    return i < n && nnfi_seg_class(key[i]) == 2 && nnfi_seg_mid(key[i]) == site && (i == 0 || key[i] != key[i - 1]);
}

/* Row r of the site's tensor `data`: apply the segment headed at i, in list
 * order, with the filters of each fault. */
NNFI_HD void nnfi_seg_apply_site(void *data, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx, uint64_t n,
                                 uint64_t i, uint64_t r, const nnfi_seg_call *c)
{
    if (r >= c->rows || !nnfi_seg_site_head(key, n, i, c->site)) return;
    nnfi_dtype dt = (nnfi_dtype)c->dtype;
    uint64_t e = r * c->numel + f[idx[i]].element;
    uint64_t w0 = nnfi_elem_load(data, dt, e), w = w0, row;
    for (uint64_t j = i; j < n && key[j] == key[i]; j++) {
        const nnfi_fault *fj = &f[idx[j]];
        if (nnfi_seg_hits_call(fj, c, &row) && (row == UINT64_MAX || row == r))
            w = nnfi_bits_apply(w, (nnfi_op)fj->op, fj->mask, fj->value);
    }
    if (w != w0) nnfi_elem_store(data, dt, e, w);
}

/* How many faults of the segment headed at i apply in this call (the cpu
 * backend counts each once per call it hits). */
NNFI_HD uint64_t nnfi_seg_site_count(const nnfi_fault *f, const uint64_t *key, const uint32_t *idx, uint64_t n,
                                     uint64_t i, const nnfi_seg_call *c)
{
    if (!nnfi_seg_site_head(key, n, i, c->site)) return 0;
    uint64_t k = 0, row;
    for (uint64_t j = i; j < n && key[j] == key[i]; j++) k += (uint64_t)nnfi_seg_hits_call(&f[idx[j]], c, &row);
    return k;
}

#ifdef __cplusplus
}
#endif
#endif /* NNFI_KERNELS_SEGMENT_APPLY_CUH */
