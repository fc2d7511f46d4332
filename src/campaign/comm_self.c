/* comm_self.c - comm.h for a build without MPI: one process, rank 0 of 1.
 * Rank 0 never sends to itself, so the point-to-point calls are errors. */
#include "comm.h"

#include <stdlib.h>

#include "nnfi/topology.h"

struct nnfi_comm {
    int unused;
};

nnfi_status nnfi_comm_init(int *argc, char ***argv, nnfi_comm **out)
{
    (void)argc;
    (void)argv;
    *out = calloc(1, sizeof **out);
    return *out ? NNFI_OK : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
}

int nnfi_comm_rank(const nnfi_comm *c) { (void)c; return 0; }
int nnfi_comm_size(const nnfi_comm *c) { (void)c; return 1; }
const char *nnfi_comm_library(void) { return "none (built without MPI)"; }

static const char *env_get(const char *name) { return getenv(name); }

nnfi_status nnfi_comm_local_rank(nnfi_comm *c, int *local_rank, const char **source)
{
    (void)c;
    *local_rank = nnfi_topology_env_local_rank(env_get, source);
    if (*local_rank < 0) *local_rank = 0, *source = "one process";
    return NNFI_OK;
}

nnfi_status nnfi_comm_bcast_bytes(nnfi_comm *c, char **buf, uint64_t *len)
{
    (void)c;
    (void)buf;
    (void)len;
    return NNFI_OK;
}

nnfi_status nnfi_comm_all_ok(nnfi_comm *c, int ok, int *all_ok)
{
    (void)c;
    *all_ok = ok;
    return NNFI_OK;
}

static nnfi_status no_peers(void)
{
    return NNFI_FAIL(NNFI_E_UNSUPPORTED, "this nnfi was built without MPI: one process only\n  hint: rebuild with NNFI_WITH_MPI=ON to use mpirun/srun");
}

nnfi_status nnfi_comm_send_report(nnfi_comm *c, const nnfi_trial_row *rows, size_t n, unsigned flags)
{
    (void)c; (void)rows; (void)n; (void)flags;
    return no_peers();
}

nnfi_status nnfi_comm_recv_range(nnfi_comm *c, uint64_t *lo, uint64_t *hi)
{
    (void)c; (void)lo; (void)hi;
    return no_peers();
}

nnfi_status nnfi_comm_poll_report(nnfi_comm *c, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                                  unsigned *flags)
{
    (void)c; (void)src; (void)rows; (void)n; (void)flags;
    *got = 0;
    return NNFI_OK;
}

nnfi_status nnfi_comm_send_range(nnfi_comm *c, int dst, uint64_t lo, uint64_t hi)
{
    (void)c; (void)dst; (void)lo; (void)hi;
    return no_peers();
}

void nnfi_comm_finalize(nnfi_comm *c) { free(c); }
void nnfi_comm_abort(nnfi_comm *c, int code) { (void)c; exit(code); }
