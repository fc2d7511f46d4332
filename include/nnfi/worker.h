/* worker.h - runs trials: the per-rank half of a campaign.
 *
 * A worker holds, for each model the campaign names, the open model, the
 * eval set, the golden logits (computed once) and an injector; for each
 * experiment, its fault groups resolved against the model's sites. It turns
 * a global trial index into a result row:
 *   sampler(seed, e, g, p, t) -> faults -> arm -> forward over the eval set in
 *   batches (activation/input/state faults applied per call through the site
 *   hook; no hook at all when a trial has none) -> outcome vs golden ->
 *   disarm (bit-exact restore) -> row.
 * Models are opened lazily, on the first trial that needs them; the golden
 * run happens on the first trial or model_facts() call.
 *
 * Lifecycle: nnfi_worker_create -> nnfi_worker_run_trial* -> nnfi_worker_destroy.
 * The worker borrows the campaign and the plan. One thread.
 */
#ifndef NNFI_WORKER_H
#define NNFI_WORKER_H

#include <signal.h>
#include <stdint.h>

#include "nnfi/config.h"
#include "nnfi/outcome.h"
#include "nnfi/plan.h"
#include "nnfi/results.h"
#include "nnfi/sampler.h"
#include "nnfi/site.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_worker nnfi_worker;

nnfi_status nnfi_worker_create(const nnfi_campaign *c, const nnfi_plan *p, int rank, nnfi_worker **out);

/* Make the campaign's plan for a worker created with p == NULL (Leveugle
 * budgets need the groups resolved against the model first) and attach it.
 * `nnfi run`, `nnfi plan` and `nnfi faults` all plan this way, so they agree.
 * The caller owns *out (nnfi_plan_free after destroying the worker). */
nnfi_status nnfi_worker_plan(nnfi_worker *w, nnfi_plan **out);

/* Run global trial `trial` and fill *row (row->done = 1). An error inside the
 * trial (the host failing) is an outcome: status FAILED, due = 1, and the
 * model is restored; only errors that make further trials meaningless
 * (cannot open the model, bad selectors) are returned. */
nnfi_status nnfi_worker_run_trial(nnfi_worker *w, uint64_t trial, nnfi_trial_row *row);

/* Run global trials [lo, lo + *done) of [lo, hi) into rows[0 .. *done), as
 * nnfi_worker_run_trial would one by one (the same rows bit for bit, wall_s
 * aside), with the shortcuts (trial_pack.h, trial_pass.h): calls no fault
 * reaches keep their golden logits, one-sample faults of several trials
 * share forward calls, and forwards start at the latest cut of the golden
 * cache before the faulted sites. Stops taking new trials once budget_s
 * seconds have passed (0: no limit) or *stop is set (NULL: never), so a
 * caller's checkpoints and signals are served on time; at least one trial
 * runs. Errors as
 * nnfi_worker_run_trial (then *done = 0: the rows are not to be used). */
nnfi_status nnfi_worker_run_trials(nnfi_worker *w, uint64_t lo, uint64_t hi, double budget_s,
                                   const volatile sig_atomic_t *stop, nnfi_trial_row *rows, uint64_t *done);

/* on = 1: every trial on its own over every call from the input (the
 * reference path, `nnfi run --full-eval`); no golden cache is built. */
void nnfi_worker_set_full_eval(nnfi_worker *w, int on);

/* What the shortcuts of model mi can use (opens the model, runs the golden
 * pass and builds the golden cache if not done yet). */
typedef struct nnfi_shortcut_info {
    int full_eval;       /* the worker runs --full-eval: no shortcuts at all */
    int rows_ok;         /* rows independent and this rank reproduces the golden logits: shortcuts on */
    uint32_t cuts;       /* cuts the host offers (0: no prefix reuse) */
    uint32_t kept;       /* of those, in the golden cache */
    uint32_t over_budget; /* usable but left out for eval.cache_mb */
    uint32_t failed;     /* dropped: a forward resumed there did not reproduce the golden logits */
    uint32_t too_slow;   /* dropped: resuming there is not clearly faster than a plain forward */
    uint64_t cache_bytes; /* held by the golden cache */
} nnfi_shortcut_info;
nnfi_status nnfi_worker_shortcuts(nnfi_worker *w, unsigned mi, nnfi_shortcut_info *out);

/* The faults of global trial `trial`, regenerated (for the result file's
 * /faults). *faults points into the worker's buffer (valid until the next
 * call); *n receives the count. */
nnfi_status nnfi_worker_faults(nnfi_worker *w, uint64_t trial, const nnfi_fault **faults, uint64_t *n);

/* What the writer records once per model (opens the model if needed). All
 * pointers borrowed from the worker. */
typedef struct nnfi_model_facts {
    const char *name;
    const nnfi_site *sites;
    size_t n_sites;
    const float *golden_logits; /* samples x positions x classes */
    const int32_t *labels;      /* samples x positions */
    uint64_t samples;
    uint32_t classes;
    uint32_t positions;         /* 1: outputs [N, C]; T: [N, T, C], outcomes per (sample, position) */
    double golden_accuracy;
    double golden_seconds;      /* the fault-free pass over the eval set, timed */
    const char *host;           /* host name */
    const char *const *host_facts; /* NULL-terminated "key=value" (threads, BLAS, qengine...), or NULL */
} nnfi_model_facts;

nnfi_status nnfi_worker_model_facts(nnfi_worker *w, unsigned model_index, nnfi_model_facts *out);

/* Replace model mi's golden logits (samples x positions x classes, copied) by another
 * rank's, and recompute its golden accuracy (golden_sync.c: every rank
 * compares against rank 0's logits). The model must be open. */
nnfi_status nnfi_worker_set_golden(nnfi_worker *w, unsigned model_index, const float *golden);

/* The site table of experiment e's model (opens it, without a golden run).
 * Borrowed from the worker. */
nnfi_status nnfi_worker_sites(nnfi_worker *w, unsigned e, const nnfi_site **sites, size_t *n);

/* Group gi of experiment e resolved against its model (opens it if needed).
 * Borrowed from the worker. */
nnfi_status nnfi_worker_group_plan(nnfi_worker *w, unsigned e, unsigned gi, const nnfi_group_plan **out);

/* Evaluate faults[0..n) of experiment e's model (explicit permanent faults,
 * e.g. one bit flip of the critical-bit search) as one configuration over
 * the eval set, with the shortcuts that apply to permanent faults (the
 * forward starts at the latest kept cut before the faulted sites), and
 * restore the model bit-exactly. *o gets the finished outcome against the
 * golden logits; *failed = 1 when the forward failed (a DUE, not an error).
 * Errors: what ends the run (the model cannot be opened or restored). */
nnfi_status nnfi_worker_eval_faults(nnfi_worker *w, unsigned e, const nnfi_fault *faults, uint64_t n, nnfi_outcome *o,
                                    int *failed);

void nnfi_worker_destroy(nnfi_worker *w);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_WORKER_H */
