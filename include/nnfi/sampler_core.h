/* sampler_core.h - the body of nnfi_sampler_fault as __host__ __device__
 * inline functions, so the CPU sampler (src/base/plan/sampler.c) and the CUDA
 * generator (kernels/fault_gen.cu) run the same code and draw bit-identical
 * faults. See sampler.h for the counter layout; the draw layout per fault k:
 *   draw 0: w0,w1 element (64-bit uniform), w2 call/sample, w3 time step
 *   draw 1: w0,w1 random value (op random), w2,w3 bit picks 0 and 1
 *   draw 2+: bit picks 2.. (four per draw)
 * The distinct-element permutation uses draws with the top bit set. The plan's
 * arrays (site_ids, prefix, site_dtype, index_map) must be readable where the
 * code runs: host memory on the CPU, device memory in a kernel.
 */
#ifndef NNFI_SAMPLER_CORE_H
#define NNFI_SAMPLER_CORE_H

#include "nnfi/sampler.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_SAMPLER_PERM_DRAW 0x80000000u
#define NNFI_SAMPLER_FEISTEL_ROUNDS 4

NNFI_HD uint32_t nnfi_mulhi32(uint32_t w, uint32_t n) { return (uint32_t)(((uint64_t)w * n) >> 32); }

NNFI_HD uint32_t nnfi_popcount64(uint64_t x)
{
#if defined(__CUDA_ARCH__)
    return (uint32_t)__popcll(x);
#else
    return (uint32_t)__builtin_popcountll(x);
#endif
}

/* Keyed bijection on [0, 2^(2*half)) by a balanced Feistel network whose
 * round function is Philox; cycle-walking keeps it inside [0, total). */
NNFI_HD uint64_t nnfi_sampler_permute(nnfi_fault_id id, uint64_t x, uint64_t total)
{
    unsigned bits = 0;
    while (bits < 64 && ((uint64_t)1 << bits) < total) bits++;
    unsigned half = (bits + 1) / 2;
    if (half == 0) half = 1;
    uint64_t hmask = nnfi_low_mask(half);
    do {
        uint64_t l = x >> half, r = x & hmask;
        for (uint32_t round = 0; round < NNFI_SAMPLER_FEISTEL_ROUNDS; round++) {
            nnfi_philox_ctr w = nnfi_sampler_draw(id, NNFI_SAMPLER_PERM_DRAW | round, (uint32_t)r);
            uint64_t f = nnfi_u64_of(w.v[0], w.v[1]) & hmask;
            uint64_t nl = r;
            r = l ^ f;
            l = nl;
        }
        x = (l << half) | r;
    } while (x >= total);
    return x;
}

/* Word j of the bit-pick stream of fault k. */
NNFI_HD uint32_t nnfi_sampler_bit_word(nnfi_fault_id id, uint32_t k, uint32_t j, const nnfi_philox_ctr *d1)
{
    if (j < 2) return d1->v[2 + j];
    nnfi_philox_ctr w = nnfi_sampler_draw(id, 2 + (j - 2) / 4, k);
    return w.v[(j - 2) % 4];
}

/* `count` distinct bits chosen uniformly among the set bits of cand. */
NNFI_HD uint64_t nnfi_sampler_pick_bits(uint64_t cand, uint32_t count, nnfi_fault_id id, uint32_t k,
                                        const nnfi_philox_ctr *d1)
{
    uint32_t left = nnfi_popcount64(cand);
    if (count == 0 || count >= left) return cand;
    uint64_t mask = 0;
    for (uint32_t j = 0; j < count; j++, left--) {
        uint32_t idx = nnfi_mulhi32(nnfi_sampler_bit_word(id, k, j, d1), left);
        uint64_t c = cand;
        for (uint32_t s = 0; s < idx; s++) c &= c - 1; /* drop the lowest idx set bits */
        uint64_t bit = c & (~c + 1);
        mask |= bit;
        cand &= ~bit;
    }
    return mask;
}

/* Fault k of the stream `id` (what nnfi_sampler_fault returns). */
NNFI_HD void nnfi_sampler_fault_at(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k, nnfi_fault *out)
{
    uint32_t k32 = (uint32_t)k;
    nnfi_philox_ctr d0 = nnfi_sampler_draw(id, 0, k32);
    nnfi_philox_ctr d1 = nnfi_sampler_draw(id, 1, k32);
    uint64_t x;
    if (g->element >= 0)
        x = (uint64_t)g->element;
    else if (g->distinct)
        x = nnfi_sampler_permute(id, k % g->total, g->total); /* k >= total cannot be distinct; callers refuse it */
    else
        x = nnfi_mulhi64(nnfi_u64_of(d0.v[0], d0.v[1]), g->total);
    /* the site holding global element x: last i with prefix[i] <= x */
    uint32_t lo = 0, hi = g->n_sites - 1;
    if (g->element < 0) {
        while (lo < hi) {
            uint32_t mid = (lo + hi + 1) / 2;
            if (g->prefix[mid] <= x) lo = mid;
            else hi = mid - 1;
        }
    }
    nnfi_dtype dt = (nnfi_dtype)g->site_dtype[lo];
    out->site = g->site_ids[lo];
    out->element = g->element >= 0 ? x : g->index_map ? g->index_map[x] : x - g->prefix[lo];
    out->mask = nnfi_sampler_pick_bits(g->candidates[dt], g->bit_count, id, k32, &d1);
    out->op = g->op;
    out->group = (uint8_t)id.group;
    if (g->op == NNFI_OP_RANDOM)
        out->value = nnfi_u64_of(d1.v[0], d1.v[1]) & nnfi_low_mask(nnfi_dtype_bits(dt));
    else if (g->op == NNFI_OP_SET)
        out->value = nnfi_value_encode(g->set_value, dt);
    else
        out->value = 0;
    out->transient = g->transient;
    out->scope = g->scope;
    out->t_first = g->t_from;
    out->t_last = g->t_to;
    out->when = -1;
    if (g->transient) {
        uint64_t range = g->scope == 1 ? g->samples : g->calls;
        out->when = (int64_t)nnfi_mulhi32(d0.v[2], (uint32_t)(range ? range : 1));
        if (g->t_to != UINT32_MAX) {
            uint32_t starts = g->t_to - g->t_from + 1 - (g->duration - 1);
            out->t_first = g->t_from + nnfi_mulhi32(d0.v[3], starts);
            out->t_last = out->t_first + g->duration - 1;
        }
    }
}

#ifdef __cplusplus
}
#endif
#endif /* NNFI_SAMPLER_CORE_H */
