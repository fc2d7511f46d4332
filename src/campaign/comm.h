/* comm.h - the little message passing a campaign needs, behind one interface
 * with two implementations chosen at build time: comm_mpi.c (MPI; also a
 * plain process, which MPI runs as a singleton) and comm_self.c (one
 * process, builds without MPI). All #ifdef-free code above this line.
 *
 * Protocol (see run.c): workers send REPORT messages to rank 0 (rows of
 * finished trials, plus flags); rank 0 answers a REPORT that asks for work
 * with a RANGE [lo, hi) of global trial indices, or an empty range to stop.
 */
#ifndef NNFI_CAMPAIGN_COMM_H
#define NNFI_CAMPAIGN_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/results.h"
#include "nnfi/status.h"

typedef struct nnfi_comm nnfi_comm;

/* report flags */
#define NNFI_REPORT_WANTS_WORK 1u /* reply with a range */
#define NNFI_REPORT_STOPPING 2u   /* this rank got a stop signal */
#define NNFI_REPORT_FAILED 4u     /* this rank hit an error and leaves; rows[] empty */

nnfi_status nnfi_comm_init(int *argc, char ***argv, nnfi_comm **out);
int nnfi_comm_rank(const nnfi_comm *c);
int nnfi_comm_size(const nnfi_comm *c);
const char *nnfi_comm_library(void); /* "Open MPI v4.1.4" or "none" */

/* Collective, right after init: this rank's rank among the processes on its
 * node, from the launcher's environment (topology.h), else by comparing host
 * names across the world. *source names where it came from (static). */
nnfi_status nnfi_comm_local_rank(nnfi_comm *c, int *local_rank, const char **source);

/* Rank 0's buffer to everyone; others receive a malloc'd copy (caller frees).
 * *len == UINT64_MAX from rank 0 means "nothing" (it failed): no data moves. */
nnfi_status nnfi_comm_bcast_bytes(nnfi_comm *c, char **buf, uint64_t *len);

/* All ranks: logical AND of ok (1/0) across ranks. */
nnfi_status nnfi_comm_all_ok(nnfi_comm *c, int ok, int *all_ok);

/* worker -> rank 0 */
nnfi_status nnfi_comm_send_report(nnfi_comm *c, const nnfi_trial_row *rows, size_t n, unsigned flags);
nnfi_status nnfi_comm_recv_range(nnfi_comm *c, uint64_t *lo, uint64_t *hi);

/* rank 0: take one pending report if any (non-blocking; *got = 0 if none).
 * *rows is valid until the next call. */
nnfi_status nnfi_comm_poll_report(nnfi_comm *c, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                                  unsigned *flags);
nnfi_status nnfi_comm_send_range(nnfi_comm *c, int dst, uint64_t lo, uint64_t hi);

/* End the job: finalize (ok) or abort every rank with exit code. */
void nnfi_comm_finalize(nnfi_comm *c);
void nnfi_comm_abort(nnfi_comm *c, int code);

#endif
