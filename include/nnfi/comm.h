/* comm.h - the little message passing a campaign needs, behind a versioned
 * table with two plug-ins (src/plugins/comm_mpi: MPI, also a plain process,
 * which MPI runs as a singleton; src/plugins/comm_self: one process, builds
 * without MPI). The registry (registry.h) picks the build's one; the CLI
 * opens and closes it (nnfi_comm_init / nnfi_comm_finalize) and is the only
 * caller of nnfi_comm_abort. Library code uses the handle it is given.
 *
 * Protocol (see src/engine/coordinator.c): workers send REPORT messages to
 * rank 0 (rows of finished trials, plus flags); rank 0 answers a REPORT that
 * asks for work with a RANGE [lo, hi) of global trial indices, or an empty
 * range to stop.
 */
#ifndef NNFI_CAMPAIGN_COMM_H
#define NNFI_CAMPAIGN_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/results.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_comm nnfi_comm;             /* an open communicator: table + state */
typedef struct nnfi_comm_state nnfi_comm_state; /* a plug-in's own state */

/* report flags */
#define NNFI_REPORT_WANTS_WORK 1u /* reply with a range */
#define NNFI_REPORT_STOPPING 2u   /* this rank got a stop signal */
#define NNFI_REPORT_FAILED 4u     /* this rank hit an error and leaves; rows[] empty */

#define NNFI_COMM_ABI 2 /* 2: gather_bytes */

/* A comm plug-in. Every slot is required. Semantics: see the nnfi_comm_*
 * wrappers below, which call them. */
typedef struct nnfi_comm_backend {
    uint32_t abi;  /* NNFI_COMM_ABI */
    uint32_t size; /* sizeof(nnfi_comm_backend) the plug-in was built with */
    const char *name;
    nnfi_status (*init)(int *argc, char ***argv, nnfi_comm_state **out);
    int (*rank)(const nnfi_comm_state *s);
    int (*world_size)(const nnfi_comm_state *s);
    const char *(*library)(void);
    nnfi_status (*local_rank)(nnfi_comm_state *s, int *local_rank, const char **source);
    nnfi_status (*bcast_bytes)(nnfi_comm_state *s, char **buf, uint64_t *len);
    nnfi_status (*all_ok)(nnfi_comm_state *s, int ok, int *all_ok);
    nnfi_status (*gather_bytes)(nnfi_comm_state *s, const uint8_t *buf, uint64_t len, uint8_t **all, uint64_t *lens);
    nnfi_status (*send_report)(nnfi_comm_state *s, const nnfi_trial_row *rows, size_t n, unsigned flags);
    nnfi_status (*recv_range)(nnfi_comm_state *s, uint64_t *lo, uint64_t *hi);
    nnfi_status (*poll_report)(nnfi_comm_state *s, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                               unsigned *flags);
    nnfi_status (*send_range)(nnfi_comm_state *s, int dst, uint64_t lo, uint64_t hi);
    void (*finalize)(nnfi_comm_state *s);
    void (*abort)(nnfi_comm_state *s, int code);
} nnfi_comm_backend;

/* Open backend b (checked: ABI, size, every slot) for this process. Needs
 * argc/argv for MPI_Init. Lifecycle: init -> use -> finalize (or abort). */
nnfi_status nnfi_comm_init(const nnfi_comm_backend *b, int *argc, char ***argv, nnfi_comm **out);
int nnfi_comm_rank(const nnfi_comm *c);
int nnfi_comm_size(const nnfi_comm *c);
const char *nnfi_comm_library(const nnfi_comm *c); /* "Open MPI v4.1.4" or "none" */

/* Collective, right after init: this rank's rank among the processes on its
 * node, from the launcher's environment (topology.h), else by comparing host
 * names across the world. *source names where it came from (static). */
nnfi_status nnfi_comm_local_rank(nnfi_comm *c, int *local_rank, const char **source);

/* Rank 0's buffer to everyone; others receive a malloc'd copy (caller frees).
 * *len == UINT64_MAX from rank 0 means "nothing" (it failed): no data moves. */
nnfi_status nnfi_comm_bcast_bytes(nnfi_comm *c, char **buf, uint64_t *len);

/* All ranks: logical AND of ok (1/0) across ranks. */
nnfi_status nnfi_comm_all_ok(nnfi_comm *c, int ok, int *all_ok);

/* Collective: every rank's buf[0..len) to rank 0, which gets them one
 * after another in rank order in *all (malloc'd, the caller frees it) and
 * each rank's length in lens[0..size); on other ranks *all = NULL and lens
 * is not touched. */
nnfi_status nnfi_comm_gather_bytes(nnfi_comm *c, const uint8_t *buf, uint64_t len, uint8_t **all, uint64_t *lens);

/* worker -> rank 0 */
nnfi_status nnfi_comm_send_report(nnfi_comm *c, const nnfi_trial_row *rows, size_t n, unsigned flags);
nnfi_status nnfi_comm_recv_range(nnfi_comm *c, uint64_t *lo, uint64_t *hi);

/* rank 0: take one pending report if any (non-blocking; *got = 0 if none).
 * *rows is valid until the next call. */
nnfi_status nnfi_comm_poll_report(nnfi_comm *c, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                                  unsigned *flags);
nnfi_status nnfi_comm_send_range(nnfi_comm *c, int dst, uint64_t lo, uint64_t hi);

/* End the job: finalize (ok; frees c; NULL is a no-op) or abort every rank
 * with an exit code (the CLI only: library code returns statuses). */
void nnfi_comm_finalize(nnfi_comm *c);
void nnfi_comm_abort(nnfi_comm *c, int code);

#ifdef __cplusplus
}
#endif
#endif
