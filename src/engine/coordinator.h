/* coordinator.h - the two loops of a campaign run (engine-private): rank 0
 * coordinates, writes and works; every other rank works the ranges it is
 * given. Called by run.c once the file and the golden logits are set up. */
#ifndef NNFI_ENGINE_COORDINATOR_H
#define NNFI_ENGINE_COORDINATOR_H

#include <signal.h>

#include "nnfi/comm.h"
#include "nnfi/config.h"
#include "nnfi/dispatch.h"
#include "nnfi/h5_results.h"
#include "nnfi/plan.h"
#include "nnfi/run.h"
#include "nnfi/worker.h"

typedef struct nnfi_coordinator nnfi_coordinator;

/* Everything borrowed from the caller. */
typedef struct nnfi_coordinator_args {
    nnfi_comm *comm;
    const nnfi_campaign *c;
    const nnfi_plan *plan;
    nnfi_worker *worker;
    nnfi_h5_results *h5;
    nnfi_dispatch *d;
    const volatile sig_atomic_t *stop; /* never NULL */
    double checkpoint_every;
    const char *campaign_path, *out;   /* for the resume hints */
    void (*on_progress)(void *user, const nnfi_run_progress *p);
    void *progress_user;
} nnfi_coordinator_args;

typedef struct nnfi_coordinator_result {
    int stopping;            /* a stop (signal, failed rank or checkpoint) ended the loop */
    int failed_rank;         /* -1: none */
    uint64_t done, done_before, total;
    double seconds;
} nnfi_coordinator_result;

/* Rank 0: run until every trial is done or the run stops; the rows go to
 * a->h5 (not closed here). NNFI_E_TIMEOUT when other ranks do not answer a
 * stop within the deadline. */
nnfi_status nnfi_coordinate(const nnfi_coordinator_args *a, nnfi_coordinator_result *res);

/* Every other rank: ask for ranges, run them, report rows, until rank 0
 * answers with an empty range (or *stop). */
nnfi_status nnfi_rank_work(nnfi_comm *comm, nnfi_worker *w, const volatile sig_atomic_t *stop);

#endif /* NNFI_ENGINE_COORDINATOR_H */
