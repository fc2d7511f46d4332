/* sampler.h - fault k of trial t of point p of experiment e, as a pure function.
 *
 * The sampler turns a resolved fault group (which sites, which bits, which op,
 * how persistent) into concrete faults. Every random choice comes from
 * Philox4x32-10 keyed by the campaign seed with the counter
 *     (draw, k, t, e << 20 | g << 16 | p)
 * so fault k never depends on faults 0..k-1, on call order, on chunking, on
 * the rank or on the device. `distinct` groups draw element k through a keyed
 * Feistel permutation of [0, elements) (cycle-walking), which makes faults
 * distinct without remembering earlier ones.
 *
 * Lifecycle: fill an nnfi_group_plan with nnfi_group_resolve() (plan.h) once
 * per experiment group; then call nnfi_sampler_* freely from any thread (the
 * plan is read-only). The plan borrows its site arrays from the caller.
 */
#ifndef NNFI_SAMPLER_H
#define NNFI_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/fault_bits.h"
#include "nnfi/philox.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One concrete fault. 48 bytes, no padding; plain data, safe to copy to a device. */
typedef struct nnfi_fault {
    uint64_t element;  /* element index within the site (per sample for activations) */
    uint64_t mask;     /* bits changed, within the dtype's width */
    uint64_t value;    /* RANDOM/SET: the bits written under mask */
    uint32_t site;     /* index into the model's site table */
    uint8_t op;        /* nnfi_op */
    uint8_t transient; /* 0 permanent, 1 transient */
    uint8_t scope;     /* nnfi_transient_scope when transient */
    uint8_t group;     /* fault group within the experiment */
    int64_t when;      /* transient: forward-call index (scope call) or eval-sample index (scope sample); -1 permanent */
    uint32_t t_first;  /* time-step window, inclusive; [0, UINT32_MAX] = every step */
    uint32_t t_last;
} nnfi_fault;

/* Indices that name a fault's stream. */
typedef struct nnfi_fault_id {
    uint64_t seed;
    uint32_t experiment; /* < 4096 */
    uint32_t group;      /* < 16 */
    uint32_t point;      /* < 65536 */
    uint32_t trial;      /* trial index within the point */
} nnfi_fault_id;

/* A fault group resolved against a model's sites. */
typedef struct nnfi_group_plan {
    uint32_t n_sites;
    const uint32_t *site_ids;   /* site index of each selected site */
    const uint64_t *prefix;     /* prefix[i] = elements in sites 0..i-1; prefix[n_sites] = total */
    const uint8_t *site_dtype;  /* nnfi_dtype of each selected site */
    uint64_t total;             /* selected elements */
    uint64_t candidates[NNFI_DT_COUNT]; /* candidate bit mask per dtype */
    uint32_t bit_count;         /* random distinct bits per fault; 0 = the whole candidate mask */
    uint8_t op;
    double set_value;           /* NNFI_OP_SET */
    uint8_t transient;
    uint8_t scope;
    uint64_t calls;             /* forward calls per eval pass (transient, scope call) */
    uint64_t samples;           /* eval samples (transient, scope sample) */
    uint32_t t_from, t_to;      /* time-step window (UINT32_MAX to = unbounded) */
    uint32_t duration;          /* transient: steps hit from a random start */
    uint8_t distinct;
    int64_t element;            /* explicit element (>= 0) or -1 */
    const uint64_t *index_map;  /* NULL: selected ordinal x is element x - prefix[site]; else the
                                 * element of ordinal x (only the (non)zero elements are selected) */
    /* hardware fault model groups (fm_sampler.h; NULL otherwise): faults come
     * from nnfi_fm_group_faults, one pattern occurrence per count */
    const struct nnfi_fault_model *fm;  /* borrowed from the campaign */
    const struct nnfi_fm_shape *fm_shape; /* the library's view of each selected site */
    const double *fm_range;             /* [min, max] of each selected site, 2 per site */
} nnfi_group_plan;

/* How many faults a group produces at one point: a fixed count, or for rates
 * round(rate * total) (draw fixed) or Poisson(rate * total) capped at total
 * (draw poisson; the count itself is drawn from the same pure stream). */
typedef struct nnfi_count_rule {
    uint64_t count;   /* used when rate == 0 */
    double rate;      /* per selected element */
    int poisson;      /* draw the count per trial */
} nnfi_count_rule;

uint64_t nnfi_sampler_count(const nnfi_group_plan *g, nnfi_count_rule rule, nnfi_fault_id id);

/* Fault k of the stream `id`. */
void nnfi_sampler_fault(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k, nnfi_fault *out);

/* Faults k0 .. k0+n-1 into out[0..n-1]. Same result as n single calls
 * (bit for bit), computed in vectorised blocks (see sampler.c) on
 * nnfi_sampler_draw_threads() threads. */
void nnfi_sampler_faults(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n,
                         nnfi_fault *out);

/* The same on `threads` POSIX threads (0: nnfi_sampler_draw_threads()). Each
 * fault is a pure function of its index, so the result is the same for every
 * thread count; a thread gets at least 32,768 faults, fewer faults use fewer
 * threads (below 65,536: only the calling thread). */
void nnfi_sampler_faults_threads(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n,
                                 nnfi_fault *out, unsigned threads);

/* Threads nnfi_sampler_faults uses: the environment variable
 * NNFI_DRAW_THREADS, read once per process (a number 1..64, or "auto": the
 * online cores as sysconf reports them; anything else: 1), default 1, so a
 * rank draws on its own thread unless asked otherwise (an MPI rank usually
 * has one core of its own). */
unsigned nnfi_sampler_draw_threads(void);

/* Philox4x32-10 of n counters at once, structure of arrays, in place:
 * (w0[i], w1[i], w2[i], w3[i]) goes in as counter i and comes out as its
 * block, the same words nnfi_philox4x32_10 returns. Vectorised: on x86-64
 * with AVX-512F or AVX2 when the CPU has them (checked at run time), else a
 * plain C loop over the lanes. */
void nnfi_philox4x32_10_batch(uint32_t *w0, uint32_t *w1, uint32_t *w2, uint32_t *w3, size_t n,
                              nnfi_philox_key key);

/* The same through one code path, for tests and benchmarks: isa 0 the plain
 * C loop, 1 AVX2, 2 AVX-512F, -1 the widest the CPU has. Returns the path
 * used, or -1 (nothing computed) when this CPU or build lacks it. */
int nnfi_philox4x32_10_batch_isa(int isa, uint32_t *w0, uint32_t *w1, uint32_t *w2, uint32_t *w3, size_t n,
                                 nnfi_philox_key key);

/* The raw stream: 4 words of draw `draw` for fault k. Exposed for tests and
 * for the CUDA generator, which must match it. */
NNFI_HD nnfi_philox_ctr nnfi_sampler_draw(nnfi_fault_id id, uint32_t draw, uint32_t k)
{
    nnfi_philox_ctr c;
    c.v[0] = draw;
    c.v[1] = k;
    c.v[2] = id.trial;
    c.v[3] = (id.experiment << 20) | (id.group << 16) | id.point;
    nnfi_philox_key key;
    key.v[0] = (uint32_t)id.seed;
    key.v[1] = (uint32_t)(id.seed >> 32);
    return nnfi_philox4x32_10(c, key);
}

#ifdef __cplusplus
}
#endif
#endif /* NNFI_SAMPLER_H */
