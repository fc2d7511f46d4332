/* run.h - a whole campaign run: `nnfi run` without the option parsing.
 *
 * Every rank calls nnfi_campaign_run() with the same options. Rank 0 reads
 * the campaign file and broadcasts its text (every rank parses the same
 * bytes), writes the result file, hands out trial ranges on demand and runs
 * trials itself between serving requests; the other ranks run the ranges
 * they are given and send rows back. See src/campaign/run.c.
 */
#ifndef NNFI_RUN_H
#define NNFI_RUN_H

#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_run_options {
    const char *campaign_path;
    const char *output;        /* NULL: the campaign's output.path */
    int resume;                /* continue an interrupted result file */
    int force;                 /* overwrite an existing result file */
    double checkpoint_every;   /* seconds between checkpoints (default 10) */
    int progress;              /* -1 auto (a bar on a terminal, log lines otherwise), 0 off, 1 bar, 2 lines */
    int quiet;                 /* no summary */
    unsigned shard_index;      /* run only shard i of n (see nnfi merge); n <= 1: everything */
    unsigned shard_count;
} nnfi_run_options;

/* Outcome of a run, for the caller's exit code and message. */
typedef enum nnfi_run_end {
    NNFI_RUN_COMPLETE = 0,    /* every planned trial is in the file */
    NNFI_RUN_INTERRUPTED = 1, /* a signal stopped it; checkpoint written; --resume continues */
} nnfi_run_end;

typedef struct nnfi_run_result {
    nnfi_run_end end;
    int rank;          /* this process's rank (0 wrote the file) */
    char output[4096]; /* the result file */
} nnfi_run_result;

/* Runs the campaign. Needs argc/argv for MPI_Init. On success *res says
 * whether it completed or was interrupted (both exit 0). */
nnfi_status nnfi_campaign_run(int *argc, char ***argv, const nnfi_run_options *opt, nnfi_run_result *res);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_RUN_H */
