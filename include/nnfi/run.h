/* run.h - a whole campaign run: `nnfi run` without the option parsing.
 *
 * Every rank calls nnfi_campaign_run() with the same options. Rank 0 reads
 * the campaign file and broadcasts its text (every rank parses the same
 * bytes), writes the result file, hands out trial ranges on demand and runs
 * trials itself between serving requests; the other ranks run the ranges
 * they are given and send rows back. See src/engine/run.c and coordinator.c.
 */
#ifndef NNFI_RUN_H
#define NNFI_RUN_H

#include <signal.h>

#include "nnfi/comm.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Progress of rank 0, handed to the caller's callback (the CLI draws a bar). */
typedef struct nnfi_run_progress {
    uint64_t done;        /* trials in the file */
    uint64_t done_before; /* of those, done before this run (resume) */
    uint64_t total;       /* trials the campaign will have when complete */
    double elapsed_s;     /* since this run's coordinator started */
    int final;            /* 1 on the last call */
} nnfi_run_progress;

typedef struct nnfi_run_options {
    const char *campaign_path;
    const char *output;        /* NULL: the campaign's output.path */
    int resume;                /* continue an interrupted result file */
    int force;                 /* overwrite an existing result file */
    int full_eval;             /* every trial over every call from the input: the reference path */
    double checkpoint_every;   /* seconds between checkpoints (default 10) */
    int quiet;                 /* the caller prints no summary (the engine prints nothing either way) */
    unsigned shard_index;      /* run only shard i of n (see nnfi merge); n <= 1: everything */
    unsigned shard_count;
    /* the caller's stop flag: nonzero (the signal number) once the run should
     * stop at the next trial boundary and checkpoint; NULL: never. The CLI's
     * SIGTERM/SIGUSR1/SIGINT handlers set it. */
    const volatile sig_atomic_t *stop;
    /* rank 0 calls this between trials (often: the callee throttles); NULL: none */
    void (*on_progress)(void *user, const nnfi_run_progress *p);
    void *progress_user;
} nnfi_run_options;

/* Outcome of a run, for the caller's exit code and message. */
typedef enum nnfi_run_end {
    NNFI_RUN_COMPLETE = 0,    /* every planned trial is in the file */
    NNFI_RUN_INTERRUPTED = 1, /* a signal stopped it; checkpoint written; --resume continues */
} nnfi_run_end;

typedef struct nnfi_run_result {
    nnfi_run_end end;
    int rank;          /* this process's rank (0 wrote the file) */
    int abort_job;     /* 1: other ranks are lost or hung; the caller must end the
                          job (nnfi_comm_abort) instead of finalizing */
    char output[4096]; /* the result file */
    const char *golden_via; /* "MPI", "NCCL" or "none": how rank 0's golden logits reached the others */
    /* rank 0: */
    uint64_t trials_ran;    /* by this run */
    uint64_t done, total;   /* trials in the file, and planned (less what stopping rules cut) */
    double seconds;         /* the coordinator's wall time */
    /* rank 0's result-file costs: time the coordinator was blocked in
     * checkpoint calls, the background thread's journal appends and folds,
     * and closing the file (the last checkpoint and the final fold) */
    uint64_t checkpoints, folds;
    double checkpoint_blocked_s, append_s, fold_s, close_s;
} nnfi_run_result;

/* Runs the campaign on every rank of comm (opened and closed by the caller;
 * collective). Library code: returns a status, never exits, installs no
 * signal handler. On success *res says whether it completed or was
 * interrupted (both exit 0). */
nnfi_status nnfi_campaign_run(nnfi_comm *comm, const nnfi_run_options *opt, nnfi_run_result *res);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_RUN_H */
