/* segment_apply.cuh - the per-thread bodies of the CUDA backend's apply and
 * restore kernels, as __host__ __device__ functions, so a CPU test can run
 * them thread by thread against the `cpu` backend (tests/unit/test_segment_apply.c).
 *
 * Faults reach the kernels sorted by a key (stable radix sort, so faults with
 * equal keys keep their list order): for parameters the key is the element's
 * global position among all parameter elements, for activations
 * (site << 40 | element). A run of equal keys is a segment: all faults on one
 * element, in list order. Thread i does work only when it heads a segment
 * (i == 0 or key[i] != key[i-1]); it then applies the whole segment in order,
 * which is exactly what the CPU backend's sequential loop leaves in memory,
 * without two threads ever touching one element.
 */
#ifndef NNFI_KERNELS_SEGMENT_APPLY_CUH
#define NNFI_KERNELS_SEGMENT_APPLY_CUH

#include <stdint.h>

#include "nnfi/fault_bits.h"
#include "nnfi/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Where each site's elements are, as the kernels see them. */
typedef struct nnfi_seg_sites {
    void *const *base;     /* per site: element memory (parameters), NULL otherwise */
    const uint8_t *dtype;  /* per site: nnfi_dtype */
} nnfi_seg_sites;

NNFI_HD int nnfi_seg_is_head(const uint64_t *key, uint64_t i) { return i == 0 || key[i] != key[i - 1]; }

/* Parameter segment headed at i (of n sorted entries): apply every fault of
 * the segment in order, save the original word in saved[i]. */
NNFI_HD void nnfi_seg_apply_param(const nnfi_seg_sites *s, const nnfi_fault *f, const uint64_t *key,
                                  const uint32_t *idx, uint64_t n, uint64_t i, uint64_t *saved)
{
    if (i >= n || !nnfi_seg_is_head(key, i)) return;
    const nnfi_fault *f0 = &f[idx[i]];
    void *base = s->base[f0->site];
    nnfi_dtype dt = (nnfi_dtype)s->dtype[f0->site];
    uint64_t w = nnfi_elem_load(base, dt, f0->element);
    saved[i] = w;
    for (uint64_t j = i; j < n && key[j] == key[i]; j++) {
        const nnfi_fault *fj = &f[idx[j]];
        w = nnfi_bits_apply(w, (nnfi_op)fj->op, fj->mask, fj->value);
    }
    nnfi_elem_store(base, dt, f0->element, w);
}

/* Undo nnfi_seg_apply_param for the segment headed at i. */
NNFI_HD void nnfi_seg_restore_param(const nnfi_seg_sites *s, const nnfi_fault *f, const uint64_t *key,
                                    const uint32_t *idx, uint64_t n, uint64_t i, const uint64_t *saved)
{
    if (i >= n || !nnfi_seg_is_head(key, i)) return;
    const nnfi_fault *f0 = &f[idx[i]];
    nnfi_elem_store(s->base[f0->site], (nnfi_dtype)s->dtype[f0->site], f0->element, saved[i]);
}

/* The call an on_site kernel runs for. */
typedef struct nnfi_seg_call {
    uint64_t call, first_sample, rows;
    uint64_t numel;  /* elements per sample of the site */
    uint32_t t;      /* the site's call count within the forward */
    uint8_t dtype;
} nnfi_seg_call;

/* Does fault f apply to row r of this call (the CPU backend's filters)? */
NNFI_HD int nnfi_seg_hits(const nnfi_fault *f, const nnfi_seg_call *c, uint64_t r)
{
    if (c->t < f->t_first || c->t > f->t_last) return 0;
    if (!f->transient) return 1;
    if (f->scope == 0 /* NNFI_SCOPE_CALL */) return f->when == (int64_t)c->call;
    return f->when >= (int64_t)c->first_sample && (uint64_t)f->when - c->first_sample == r;
}

/* Activation segment headed at position i of [lo, hi) (the site's bucket of
 * sorted entries), row r of the call's tensor `data`. */
NNFI_HD void nnfi_seg_apply_site(void *data, const nnfi_fault *f, const uint64_t *key, const uint32_t *idx,
                                 uint64_t lo, uint64_t hi, uint64_t i, uint64_t r, const nnfi_seg_call *c)
{
    if (i < lo || i >= hi || r >= c->rows || (i > lo && key[i] == key[i - 1])) return;
    nnfi_dtype dt = (nnfi_dtype)c->dtype;
    uint64_t e = r * c->numel + f[idx[i]].element;
    uint64_t w0 = nnfi_elem_load(data, dt, e), w = w0;
    for (uint64_t j = i; j < hi && key[j] == key[i]; j++) {
        const nnfi_fault *fj = &f[idx[j]];
        if (nnfi_seg_hits(fj, c, r)) w = nnfi_bits_apply(w, (nnfi_op)fj->op, fj->mask, fj->value);
    }
    if (w != w0) nnfi_elem_store(data, dt, e, w);
}

#ifdef __cplusplus
}
#endif
#endif /* NNFI_KERNELS_SEGMENT_APPLY_CUH */
