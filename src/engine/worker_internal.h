/* worker_internal.h - the worker's state, shared by worker.c (trials) and
 * worker_model.c (models, eval sets, golden runs). Private to src/engine.
 * Ownership as in worker.h: the worker owns every model_state and frees it
 * in nnfi_worker_destroy. */
#ifndef NNFI_WORKER_INTERNAL_H
#define NNFI_WORKER_INTERNAL_H

#include "nnfi/worker.h"

#include <time.h>

#include "golden_cache.h"

#include "nnfi/eval_set.h"
#include "nnfi/inject.h"
#include "nnfi/model_host.h"
#include "nnfi/outcome.h"
#include "nnfi/trial_pack.h"
#include "nnfi/trial_pass.h"

/* A trial packs with others when all its faults pack and it has at most
 * this many (more faults reach more samples: little left to share). */
#define PACK_MAX_FAULTS 64

typedef struct model_state {
    int open, ready;
    const nnfi_eval_cfg *ecfg; /* this model's eval set (models[].eval, else the campaign's) */
    char efield[48];           /* where the campaign names it: "eval", "models[1].eval", ... */
    const nnfi_model_host *host;
    nnfi_model *model;
    const nnfi_site *sites;
    size_t n_sites;
    nnfi_eval_set eval;
    uint32_t classes;   /* logits per sample: positions x nclass */
    uint32_t nclass;    /* the model's classes (per position) */
    uint32_t positions; /* output positions per sample: 1 ([N, C]) or T ([N, T, C]) */
    float *golden;   /* samples x classes */
    float *logits;   /* batch x classes scratch */
    double golden_accuracy, golden_seconds;
    const nnfi_inject_backend *backend;
    nnfi_injector *inj;
    int device; /* CUDA ordinal of the model's tensors, -1 host */
    nnfi_pass_model pass; /* all of the above, as the trial pass takes it */
    /* the shortcuts (after the golden logits are final) */
    int shortcuts_ready;
    int shortcuts_ok; /* this rank's forwards reproduce the golden logits with other rows beside them */
    nnfi_outcome golden_self;
    golden_cache_store cache;
    /* eval.drop_nonfinite: samples left out, and the facts stored beside
     * the golden run (the host's + "dropped_nonfinite=N") */
    uint64_t dropped;
    char dropped_fact[48];
    const char *facts[64];
} model_state;

typedef struct experiment_state {
    int resolved;
    unsigned model;
    nnfi_group_plan groups[NNFI_MAX_GROUPS];
} experiment_state;

struct nnfi_worker {
    const nnfi_campaign *c;
    const nnfi_plan *p;
    int rank;
    model_state *models;
    experiment_state *experiments;
    nnfi_fault *faults;
    uint64_t cap_faults;
    int full_eval;
    uint8_t pattern; /* /trials/pattern of the trial generate() made last (fault-model groups) */
    /* trials waiting to be packed (one model at a time) */
    nnfi_pack_trial *pack;
    uint64_t *pack_trial; /* their index into the caller's rows */
    nnfi_fault *pack_faults; /* PACK_MAX_FAULTS per pending trial */
    size_t n_pack, cap_pack;
    unsigned pack_model;
};

/* Monotonic seconds (trial wall times, the golden run's time). */
static inline double worker_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Open model mi and load its eval set (once); worker_model.c. */
nnfi_status worker_open_model(nnfi_worker *w, unsigned mi);

/* The golden logits of model mi, computed and checked once (the eval set is
 * final once this returns); worker_model.c. */
nnfi_status worker_ensure_golden(nnfi_worker *w, unsigned mi);

#endif /* NNFI_WORKER_INTERNAL_H */
