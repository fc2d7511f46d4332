/* sampler.c - concrete faults from (seed, experiment, group, point, trial, k).
 * See sampler.h for the counter layout. Draw layout per fault k:
 *   draw 0: w0,w1 element (64-bit uniform), w2 call/sample, w3 time step
 *   draw 1: w0,w1 random value (op random), w2,w3 bit picks 0 and 1
 *   draw 2+: bit picks 2.. (four per draw)
 * Counts drawn per trial use fault slot k = COUNT_SLOT, which no fault uses;
 * the distinct-element permutation uses draws with the top bit set.
 */
#include "nnfi/sampler.h"

#include <math.h>

#define COUNT_SLOT 0xFFFFFFFFu
#define PERM_DRAW 0x80000000u
#define FEISTEL_ROUNDS 4

static uint32_t mulhi32(uint32_t w, uint32_t n) { return (uint32_t)(((uint64_t)w * n) >> 32); }

/* Keyed bijection on [0, 2^(2*half)) by a balanced Feistel network whose
 * round function is Philox; cycle-walking keeps it inside [0, total). */
static uint64_t permute(nnfi_fault_id id, uint64_t x, uint64_t total)
{
    unsigned bits = 0;
    while (bits < 64 && ((uint64_t)1 << bits) < total) bits++;
    unsigned half = (bits + 1) / 2;
    if (half == 0) half = 1;
    uint64_t hmask = nnfi_low_mask(half);
    do {
        uint64_t l = x >> half, r = x & hmask;
        for (uint32_t round = 0; round < FEISTEL_ROUNDS; round++) {
            nnfi_philox_ctr w = nnfi_sampler_draw(id, PERM_DRAW | round, (uint32_t)r);
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
static uint32_t bit_pick_word(nnfi_fault_id id, uint32_t k, uint32_t j, const nnfi_philox_ctr *d1)
{
    if (j < 2) return d1->v[2 + j];
    nnfi_philox_ctr w = nnfi_sampler_draw(id, 2 + (j - 2) / 4, k);
    return w.v[(j - 2) % 4];
}

/* `count` distinct bits chosen uniformly among the set bits of cand. */
static uint64_t pick_bits(uint64_t cand, uint32_t count, nnfi_fault_id id, uint32_t k,
                          const nnfi_philox_ctr *d1)
{
    uint32_t left = (uint32_t)__builtin_popcountll(cand);
    if (count == 0 || count >= left) return cand;
    uint64_t mask = 0;
    for (uint32_t j = 0; j < count; j++, left--) {
        uint32_t idx = mulhi32(bit_pick_word(id, k, j, d1), left);
        uint64_t c = cand;
        for (uint32_t s = 0; s < idx; s++) c &= c - 1; /* drop the lowest idx set bits */
        uint64_t bit = c & (~c + 1);
        mask |= bit;
        cand &= ~bit;
    }
    return mask;
}

void nnfi_sampler_fault(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k, nnfi_fault *out)
{
    uint32_t k32 = (uint32_t)k;
    nnfi_philox_ctr d0 = nnfi_sampler_draw(id, 0, k32);
    nnfi_philox_ctr d1 = nnfi_sampler_draw(id, 1, k32);
    uint64_t x;
    if (g->element >= 0)
        x = (uint64_t)g->element;
    else if (g->distinct)
        x = permute(id, k % g->total, g->total); /* k >= total cannot be distinct; callers refuse it, never loop */
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
    out->mask = pick_bits(g->candidates[dt], g->bit_count, id, k32, &d1);
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
        out->when = (int64_t)mulhi32(d0.v[2], (uint32_t)(range ? range : 1));
        if (g->t_to != UINT32_MAX) {
            uint32_t starts = g->t_to - g->t_from + 1 - (g->duration - 1);
            out->t_first = g->t_from + mulhi32(d0.v[3], starts);
            out->t_last = out->t_first + g->duration - 1;
        }
    }
}

void nnfi_sampler_faults(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n,
                         nnfi_fault *out)
{
    for (uint64_t i = 0; i < n; i++) nnfi_sampler_fault(g, id, k0 + i, &out[i]);
}

/* Uniform doubles from the count slot of this trial's stream. */
typedef struct count_stream {
    nnfi_fault_id id;
    uint32_t draw;
    int word;
    nnfi_philox_ctr cur;
} count_stream;

static double next_unit(count_stream *s)
{
    if (s->word == 0 || s->word >= 4) {
        s->cur = nnfi_sampler_draw(s->id, s->draw++, COUNT_SLOT);
        s->word = 0;
    }
    uint64_t u = nnfi_u64_of(s->cur.v[s->word], s->cur.v[s->word + 1]);
    s->word += 2;
    return nnfi_unit_double(u);
}

/* Poisson(lambda): inversion for small means, Hormann's PTRS otherwise. */
static uint64_t poisson(count_stream *s, double lambda)
{
    if (lambda < 30) {
        double p = exp(-lambda), f = p, u = next_unit(s);
        uint64_t x = 0;
        while (u > f && x < 1000) {
            x++;
            p *= lambda / (double)x;
            f += p;
        }
        return x;
    }
    double slam = sqrt(lambda), loglam = log(lambda);
    double b = 0.931 + 2.53 * slam, a = -0.059 + 0.02483 * b;
    double invalpha = 1.1239 + 1.1328 / (b - 3.4), vr = 0.9277 - 3.6224 / (b - 2);
    for (;;) {
        double u = next_unit(s) - 0.5, v = next_unit(s);
        double us = 0.5 - fabs(u);
        double kk = floor((2 * a / us + b) * u + lambda + 0.43);
        if (us >= 0.07 && v <= vr) return (uint64_t)kk;
        if (kk < 0 || (us < 0.013 && v > us)) continue;
        if (log(v) + log(invalpha) - log(a / (us * us) + b) <= -lambda + kk * loglam - lgamma(kk + 1))
            return (uint64_t)kk;
    }
}

uint64_t nnfi_sampler_count(const nnfi_group_plan *g, nnfi_count_rule rule, nnfi_fault_id id)
{
    if (rule.rate <= 0) return rule.count;
    double lambda = rule.rate * (double)g->total;
    uint64_t n;
    if (rule.poisson) {
        count_stream s = {id, 0, 0, {{0, 0, 0, 0}}};
        n = poisson(&s, lambda);
    } else {
        n = (uint64_t)llround(lambda);
    }
    return n > g->total ? g->total : n;
}
