/* trial_pass.h - the one trial pass: arm a trial's faults, evaluate the model
 * over the eval set batch by batch (activation, input and state faults
 * applied through the site hook as tensors are produced), classify against
 * the golden logits, restore bit-exactly. The worker runs every trial through
 * it; benchmarks and tests call it too, so there is one copy of this loop.
 *
 *   arm (or arm_generated) -> set_hook (NULL when no fault needs it)
 *   -> per batch: begin_call, forward, outcome -> set_hook NULL -> disarm
 *
 * Also the fault-free pass (nnfi_golden_pass): hook NULL, nothing armed.
 *
 * Everything is borrowed from the caller; the pass allocates nothing. One
 * thread per model.
 */
#ifndef NNFI_TRIAL_PASS_H
#define NNFI_TRIAL_PASS_H

#include <stdint.h>

#include "nnfi/inject.h"
#include "nnfi/model_host.h"
#include "nnfi/outcome.h"
#include "nnfi/sampler.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The golden cache: per cut of the host (model_host.h, prefix reuse), the
 * golden run's values live across it for every eval sample, or NULL where
 * the cut is not kept (the memory budget eval.cache_mb, or its self-check
 * failed). Owned by the worker. */
typedef struct nnfi_golden_cache {
    uint32_t n_cuts;
    const uint64_t *bytes; /* per cut: bytes per sample */
    void *const *live;     /* per cut: samples x bytes[c], or NULL */
    /* per site: where a fault there lets a forward start: 0 from the input,
     * c + 1 at kept cut c (the latest kept cut before everything it changes) */
    const uint32_t *site_from;
    /* per site: a kept cut whose live values are exactly what the site's hook
     * receives (model_host.h site_value_cut), or -1: where fault dropping can
     * compare a faulty forward with the golden one */
    const int32_t *value_cut;
} nnfi_golden_cache;

/* An open model with its eval set, golden logits and injector (borrowed). */
typedef struct nnfi_pass_model {
    const nnfi_model_host *host;
    nnfi_model *model;
    const nnfi_site *sites;
    const float *inputs;  /* samples x numel */
    const int32_t *labels; /* samples x positions */
    uint64_t numel, samples, batch;
    uint32_t classes;    /* logits per sample: positions x the model's classes */
    const float *golden; /* samples x classes (NULL for nnfi_golden_pass) */
    float *logits;       /* batch x classes scratch */
    const nnfi_inject_backend *backend;
    nnfi_injector *inj;
    /* for the shortcuts (nnfi_pass_faults.calls / from_cut); unused by the full pass */
    const nnfi_outcome *golden_self; /* nnfi_outcome_add(golden, golden) over every sample, not finished */
    const nnfi_golden_cache *cache;  /* NULL: no prefix reuse */
    /* outputs with a class per position ([N, T, C], model_host.h positions):
     * T, each sample's logits are T rows of classes / T and it has T labels,
     * every (sample, position) one compared row of the outcome; 0 or 1: [N, C] */
    uint32_t positions;
} nnfi_pass_model;

/* Positions per sample of a pass model (at least 1). */
static inline uint32_t nnfi_pass_positions(const nnfi_pass_model *m) { return m->positions ? m->positions : 1; }

/* Fold samples [s, s + rows) of faulty logits (rows x m->classes) against
 * the golden ones into o, one outcome row per (sample, position). */
void nnfi_pass_outcome_add(nnfi_outcome *o, const nnfi_pass_model *m, const float *faulty, uint64_t s, uint64_t rows);

/* A trial's faults: a list handed to arm(), or, when `groups` is set and the
 * backend has arm_generated, made by the backend (bit-identical to the list
 * of nnfi_sampler_faults over the groups, concatenated). */
typedef struct nnfi_pass_faults {
    const nnfi_fault *list;
    uint64_t n;
    const nnfi_group_plan *const *groups; /* NULL: use list */
    const nnfi_fault_id *ids;
    const uint64_t *counts;
    unsigned n_groups;
    /* Shortcuts (all zero: the full evaluation, every call from the input).
     * The caller vouches that they change nothing: that the calls left out
     * are fault-free (their logits are the golden ones) and that nothing
     * before cut from_cut - 1 reads a faulty value. */
    const uint64_t *calls; /* evaluate only these forward calls (increasing); NULL: every call */
    uint64_t n_calls;
    uint32_t from_cut; /* 0: from the input; c + 1: resume every call at cut c from m->cache */
    /* 0: no fault dropping; s + 1: when site s's hook (first call of a
     * forward) receives exactly the golden values of its rows
     * (m->cache->value_cut[s]), the faults were masked: the forward stops
     * there (NNFI_STOP) and the call's logits are the golden ones. The caller
     * vouches that no fault applies at or after s. Host memory only. */
    uint32_t drop_at;
} nnfi_pass_faults;

/* Optional measurements and outputs of a pass (benchmarks); NULL: none. */
typedef struct nnfi_pass_probe {
    double arm_s, site_s, disarm_s; /* thread CPU time inside the injector */
    float *all_logits;              /* samples x classes: every faulty logit (NULL: not kept) */
    uint64_t dropped;               /* calls stopped early by fault dropping */
} nnfi_pass_probe;

typedef struct nnfi_pass_result {
    nnfi_outcome outcome;       /* finished (nnfi_outcome_finish) */
    nnfi_status forward_status; /* a forward or hook failure: the trial's outcome (DUE), not an error */
    nnfi_status restore_status; /* disarm: anything but OK / TIMEOUT leaves the model unknown */
} nnfi_pass_result;

/* Run one trial pass. Returns an error only when the faults could not be
 * armed (nothing applied); otherwise NNFI_OK with the outcome and the
 * forward and restore statuses in *r. */
nnfi_status nnfi_trial_pass(const nnfi_pass_model *m, const nnfi_pass_faults *f, nnfi_pass_probe *probe,
                            nnfi_pass_result *r);

/* The fault-free pass: every sample's logits into out (samples x classes). */
nnfi_status nnfi_golden_pass(const nnfi_pass_model *m, float *out);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_TRIAL_PASS_H */
