/* sampler.c - concrete faults from (seed, experiment, group, point, trial, k).
 * See sampler.h for the counter layout. Draw layout per fault k:
 *   draw 0: w0,w1 element (64-bit uniform), w2 call/sample, w3 time step
 *   draw 1: w0,w1 random value (op random), w2,w3 bit picks 0 and 1
 *   draw 2+: bit picks 2.. (four per draw)
 * The per-fault code is in sampler_core.h (shared with the CUDA generator).
 * Counts drawn per trial use fault slot k = COUNT_SLOT, which no fault uses;
 * the distinct-element permutation uses draws with the top bit set.
 */
#include "nnfi/sampler.h"
#include "nnfi/sampler_core.h"

#include <math.h>

#define COUNT_SLOT 0xFFFFFFFFu

void nnfi_sampler_fault(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k, nnfi_fault *out)
{
    nnfi_sampler_fault_at(g, id, k, out);
}

void nnfi_sampler_faults(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n,
                         nnfi_fault *out)
{
    for (uint64_t i = 0; i < n; i++) nnfi_sampler_fault_at(g, id, k0 + i, &out[i]);
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
