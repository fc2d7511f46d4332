/* comm_self.c - comm.h for a build without MPI: one process, rank 0 of 1.
 * Rank 0 never sends to itself, so the point-to-point calls are errors. */
#include "nnfi/comm.h"
#include "nnfi/comm_backends.h"

#include <stdlib.h>
#include <string.h>

#include "nnfi/topology.h"

struct nnfi_comm_state {
    int unused;
};

static nnfi_status self_init(int *argc, char ***argv, nnfi_comm_state **out)
{
    (void)argc;
    (void)argv;
    *out = calloc(1, sizeof **out);
    return *out ? NNFI_OK : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
}

static int self_rank(const nnfi_comm_state *c) { (void)c; return 0; }
static int self_size(const nnfi_comm_state *c) { (void)c; return 1; }
static const char *self_library(void) { return "none (built without MPI)"; }

static const char *env_get(const char *name) { return getenv(name); }

static nnfi_status self_local_rank(nnfi_comm_state *c, int *local_rank, const char **source)
{
    (void)c;
    *local_rank = nnfi_topology_env_local_rank(env_get, source);
    if (*local_rank < 0) *local_rank = 0, *source = "one process";
    return NNFI_OK;
}

static nnfi_status self_bcast_bytes(nnfi_comm_state *c, char **buf, uint64_t *len)
{
    (void)c;
    (void)buf;
    (void)len;
    return NNFI_OK;
}

static nnfi_status self_all_ok(nnfi_comm_state *c, int ok, int *all_ok)
{
    (void)c;
    *all_ok = ok;
    return NNFI_OK;
}

static nnfi_status self_gather_bytes(nnfi_comm_state *c, const uint8_t *buf, uint64_t len, uint8_t **all,
                                     uint64_t *lens)
{
    (void)c;
    *all = malloc(len ? len : 1);
    if (!*all) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    if (len) memcpy(*all, buf, len);
    lens[0] = len;
    return NNFI_OK;
}

static nnfi_status no_peers(void)
{
    return NNFI_FAIL(NNFI_E_UNSUPPORTED, "this nnfi was built without MPI: one process only\n  hint: rebuild with NNFI_WITH_MPI=ON to use mpirun/srun");
}

static nnfi_status self_send_report(nnfi_comm_state *c, const nnfi_trial_row *rows, size_t n, unsigned flags)
{
    (void)c; (void)rows; (void)n; (void)flags;
    return no_peers();
}

static nnfi_status self_recv_range(nnfi_comm_state *c, uint64_t *lo, uint64_t *hi)
{
    (void)c; (void)lo; (void)hi;
    return no_peers();
}

static nnfi_status self_poll_report(nnfi_comm_state *c, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                                  unsigned *flags)
{
    (void)c; (void)src; (void)rows; (void)n; (void)flags;
    *got = 0;
    return NNFI_OK;
}

static nnfi_status self_send_range(nnfi_comm_state *c, int dst, uint64_t lo, uint64_t hi)
{
    (void)c; (void)dst; (void)lo; (void)hi;
    return no_peers();
}

static void self_finalize(nnfi_comm_state *c) { free(c); }
static void self_abort(nnfi_comm_state *c, int code) { (void)c; exit(code); }

/* The table the registry hands out (comm_backends.h). */
const nnfi_comm_backend *nnfi_comm_self(void)
{
    static const nnfi_comm_backend b = {
        NNFI_COMM_ABI, sizeof(nnfi_comm_backend), "self",
        self_init,
        self_rank,
        self_size,
        self_library,
        self_local_rank,
        self_bcast_bytes,
        self_all_ok,
        self_gather_bytes,
        self_send_report,
        self_recv_range,
        self_poll_report,
        self_send_range,
        self_finalize,
        self_abort,
    };
    return &b;
}
