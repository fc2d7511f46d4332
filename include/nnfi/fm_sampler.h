/* fm_sampler.h - a fault group with a hardware fault model (`fault_model:`),
 * drawn as ordinary faults.
 *
 * A fault-model group's count is the number of pattern occurrences per trial.
 * Occurrence o of trial id is a pure function of (seed, experiment, group,
 * point, trial, o), with the sampler's key (the campaign seed) and counter
 * word 3 (e << 20 | g << 16 | p), word 2 the trial:
 *   fault slot 2o + 1, draw 0 (nnfi_sampler_draw(id, 0, 2o + 1)): words 0,1 a
 *       64-bit uniform u picking the site, weighted by element count (site of
 *       element mulhi64(u, total), as the ordinary sampler picks elements);
 *       word 2 the forward call or eval sample of a transient occurrence,
 *       word 3 its first time step (as the ordinary sampler);
 *   fault slot 2o: the library's occurrence draw (nnfi_fm_draw owns ctr.v[0]).
 * The occurrence lands on the site's view (fault_model.h "The tensor views"):
 *   parameters and buffers: the matrix {c=1, h=shape[0], w=numel/shape[0]}
 *   (a linear weight [out, in], a conv weight [out, in*kh*kw]); 1-D: {1, 1, n};
 *   activation, input, state (one sample): {shape[0], shape[1], rest} for 3+
 *   dims, {1, shape[0], shape[1]} for 2, {1, 1, n} for 1.
 * and expands into one nnfi_fault per element: bitflip -> op flip with the
 * drawn mask; every other class -> op set of the whole element to
 * nnfi_value_encode(nnfi_fm_value(class, word, min, max)), where [min, max]
 * is the golden min/max of the parameter's finite values (read once, at
 * resolve, from host memory) or the group's `value_range` for activation,
 * input and state sites (and parameters not in host memory). The model's
 * scope maps onto persistence/scope: per_call -> transient, scope call;
 * per_sample -> transient, scope sample (scope call on parameters, which the
 * whole batch shares); both hit every step of the group's time_steps window;
 * per_step -> transient, scope call, one step of the window (duration 1; no
 * window: every step); permanent -> permanent.
 *
 * Ownership: nnfi_fm_group_resolve() fills g->fm (borrowed from the
 * campaign), g->fm_shape and g->fm_range (owned by the plan, freed by
 * nnfi_group_plan_free). nnfi_fm_group_faults() grows the caller's buffer
 * with realloc.
 */
#ifndef NNFI_FM_SAMPLER_H
#define NNFI_FM_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/fault_model.h"
#include "nnfi/plan.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The fault-model part of nnfi_group_resolve (called by it when the group
 * has fault_model): views, value ranges, transient mapping; errors name
 * experiments[xi].groups[gi].fault_model or .value_range. */
nnfi_status nnfi_fm_group_resolve(const nnfi_campaign *c, unsigned xi, unsigned gi, const nnfi_site *sites,
                                  nnfi_group_plan *out);

/* Occurrences 0..n-1 of group g for trial id, appended to (*buf)[*at ...]
 * (grown with realloc, *cap updated; *at advanced by the faults written).
 * *first_kind (may be NULL) gets occurrence 0's nnfi_fm_kind when n > 0 and
 * it is still negative (the first fault-model group of a trial sets it). */
nnfi_status nnfi_fm_group_faults(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t n, nnfi_fault **buf,
                                 uint64_t *cap, uint64_t *at, int *first_kind);

/* Grow *buf (realloc) to hold at least n faults; *cap updated. */
nnfi_status nnfi_fm_reserve(nnfi_fault **buf, uint64_t *cap, uint64_t n);

/* One occurrence, drawn into occ (caller's arrays, fault_model.h) with the
 * site index within the group's selection, the transient `when` and time
 * steps; what nnfi_fm_group_faults expands. */
typedef struct nnfi_fm_pick {
    uint32_t sel;      /* index into g->site_ids */
    int64_t when;      /* -1 permanent */
    uint32_t t_first, t_last;
} nnfi_fm_pick;
nnfi_status nnfi_fm_group_occurrence(const nnfi_group_plan *g, nnfi_fault_id id, uint32_t o, nnfi_fm_pick *pick,
                                     nnfi_fm_occurrence *occ);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_FM_SAMPLER_H */
