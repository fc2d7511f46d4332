/* comm_mpi.c - comm.h over MPI (point-to-point for reports and ranges, one
 * broadcast for the campaign text). MPI errors become nnfi statuses naming
 * the call and the rank. */
#include "nnfi/comm.h"
#include "nnfi/comm_backends.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnfi/topology.h"

#define TAG_REPORT 11
#define TAG_RANGE 12

struct nnfi_comm_state {
    int rank, size;
    char *buf;
    size_t cap;
    /* rank 0: a report being received (matched by MPI_Improbe, received by
     * MPI_Imrecv) that has not completed yet: its request, sender, size */
    MPI_Request pending;
    int pending_src, pending_bytes;
};

#define MPI_CHECK(c, call)                                                                                     \
    do {                                                                                                       \
        int rc_ = (call);                                                                                      \
        if (rc_ != MPI_SUCCESS) {                                                                              \
            char s_[MPI_MAX_ERROR_STRING];                                                                     \
            int l_ = 0;                                                                                        \
            MPI_Error_string(rc_, s_, &l_);                                                                    \
            return NNFI_FAIL(NNFI_E_BACKEND, "MPI: %s failed on rank %d: %s\n  hint: check the launcher (mpirun/srun --mpi=pmix)", \
                             #call, (c) ? (c)->rank : -1, s_);                                                 \
        }                                                                                                      \
    } while (0)

static nnfi_status mpi_init(int *argc, char ***argv, nnfi_comm_state **out)
{
    *out = NULL;
    nnfi_comm_state *c = calloc(1, sizeof *c);
    if (!c) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) MPI_CHECK(c, MPI_Init(argc, argv));
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &c->rank);
    MPI_Comm_size(MPI_COMM_WORLD, &c->size);
    c->pending = MPI_REQUEST_NULL;
    *out = c;
    return NNFI_OK;
}

static int mpi_rank(const nnfi_comm_state *c) { return c->rank; }
static int mpi_size(const nnfi_comm_state *c) { return c->size; }

static const char *mpi_library(void)
{
    static char v[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(v, &len);
    v[strcspn(v, ",\n")] = '\0';
    return v;
}

static const char *env_get(const char *name) { return getenv(name); }

static nnfi_status mpi_local_rank(nnfi_comm_state *c, int *local_rank, const char **source)
{
    /* every rank takes part in the same collectives: agree first on whether
     * the environment answers everywhere */
    int env = nnfi_topology_env_local_rank(env_get, source), have = env >= 0, all = 0;
    MPI_CHECK(c, MPI_Allreduce(&have, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
    if (all) {
        *local_rank = env;
        return NNFI_OK;
    }
    enum { NAME = 256 };
    char me[NAME] = {0};
    if (gethostname(me, NAME - 1) != 0) strcpy(me, "?");
    char *names = malloc((size_t)c->size * NAME);
    if (!names) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    int rc = MPI_Allgather(me, NAME, MPI_CHAR, names, NAME, MPI_CHAR, MPI_COMM_WORLD);
    if (rc != MPI_SUCCESS) {
        free(names);
        MPI_CHECK(c, rc);
    }
    int lr = 0;
    for (int r = 0; r < c->rank; r++) lr += strncmp(names + (size_t)r * NAME, me, NAME) == 0;
    free(names);
    *local_rank = lr;
    *source = "host names";
    return NNFI_OK;
}

static nnfi_status mpi_bcast_bytes(nnfi_comm_state *c, char **buf, uint64_t *len)
{
    MPI_CHECK(c, MPI_Bcast(len, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD));
    if (*len == UINT64_MAX) return NNFI_OK; /* rank 0's "nothing to send" (it could not read its data) */
    if (c->rank != 0) {
        *buf = malloc(*len + 1);
        if (!*buf) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        (*buf)[*len] = '\0';
    }
    for (uint64_t off = 0; off < *len; off += 1u << 30) {
        uint64_t n = *len - off < (1u << 30) ? *len - off : (1u << 30);
        MPI_CHECK(c, MPI_Bcast(*buf + off, (int)n, MPI_BYTE, 0, MPI_COMM_WORLD));
    }
    return NNFI_OK;
}

static nnfi_status mpi_all_ok(nnfi_comm_state *c, int ok, int *all_ok)
{
    MPI_CHECK(c, MPI_Allreduce(&ok, all_ok, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD));
    return NNFI_OK;
}

static nnfi_status mpi_send_report(nnfi_comm_state *c, const nnfi_trial_row *rows, size_t n, unsigned flags)
{
    size_t bytes = sizeof(uint64_t) + n * sizeof *rows;
    if (bytes > c->cap) {
        char *b = realloc(c->buf, bytes);
        if (!b) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        c->buf = b;
        c->cap = bytes;
    }
    uint64_t f = flags;
    memcpy(c->buf, &f, sizeof f);
    if (n) memcpy(c->buf + sizeof f, rows, n * sizeof *rows);
    MPI_CHECK(c, MPI_Send(c->buf, (int)bytes, MPI_BYTE, 0, TAG_REPORT, MPI_COMM_WORLD));
    return NNFI_OK;
}

static nnfi_status mpi_recv_range(nnfi_comm_state *c, uint64_t *lo, uint64_t *hi)
{
    uint64_t r[2];
    MPI_CHECK(c, MPI_Recv(r, 2, MPI_UINT64_T, 0, TAG_RANGE, MPI_COMM_WORLD, MPI_STATUS_IGNORE));
    *lo = r[0];
    *hi = r[1];
    return NNFI_OK;
}

/* Non-blocking all the way: a report larger than the eager limit needs its
 * sender to take part in the transfer, and a sender that was stopped (a hung
 * node, SIGSTOP) right after its envelope arrived would block a plain
 * MPI_Recv forever, out of reach of the coordinator's stop deadline. So the
 * report is matched (MPI_Improbe), received with MPI_Imrecv, and tested on
 * each call; until it completes, *got = 0 and nothing else is matched. */
static nnfi_status mpi_poll_report(nnfi_comm_state *c, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                                  unsigned *flags)
{
    *got = 0;
    if (c->pending == MPI_REQUEST_NULL) {
        int flag = 0;
        MPI_Message msg;
        MPI_Status status;
        MPI_CHECK(c, MPI_Improbe(MPI_ANY_SOURCE, TAG_REPORT, MPI_COMM_WORLD, &flag, &msg, &status));
        if (!flag) return NNFI_OK;
        int bytes = 0;
        MPI_Get_count(&status, MPI_BYTE, &bytes);
        if ((size_t)bytes > c->cap) {
            char *b = realloc(c->buf, (size_t)bytes);
            if (!b) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            c->buf = b;
            c->cap = (size_t)bytes;
        }
        MPI_CHECK(c, MPI_Imrecv(c->buf, bytes, MPI_BYTE, &msg, &c->pending));
        c->pending_src = status.MPI_SOURCE;
        c->pending_bytes = bytes;
    }
    int done = 0;
    MPI_CHECK(c, MPI_Test(&c->pending, &done, MPI_STATUS_IGNORE));
    if (!done) return NNFI_OK;
    uint64_t f;
    memcpy(&f, c->buf, sizeof f);
    *flags = (unsigned)f;
    *n = ((size_t)c->pending_bytes - sizeof f) / sizeof **rows;
    *rows = (const nnfi_trial_row *)(void *)(c->buf + sizeof f);
    *src = c->pending_src;
    *got = 1;
    return NNFI_OK;
}

static nnfi_status mpi_send_range(nnfi_comm_state *c, int dst, uint64_t lo, uint64_t hi)
{
    uint64_t r[2] = {lo, hi};
    MPI_CHECK(c, MPI_Send(r, 2, MPI_UINT64_T, dst, TAG_RANGE, MPI_COMM_WORLD));
    return NNFI_OK;
}

static void mpi_finalize(nnfi_comm_state *c)
{
    if (!c) return;
    free(c->buf);
    free(c);
    MPI_Finalize();
}

static void mpi_abort(nnfi_comm_state *c, int code)
{
    (void)c;
    MPI_Abort(MPI_COMM_WORLD, code);
}

/* The table the registry hands out (comm_backends.h). */
const nnfi_comm_backend *nnfi_comm_mpi(void)
{
    static const nnfi_comm_backend b = {
        NNFI_COMM_ABI, sizeof(nnfi_comm_backend), "mpi",
        mpi_init,
        mpi_rank,
        mpi_size,
        mpi_library,
        mpi_local_rank,
        mpi_bcast_bytes,
        mpi_all_ok,
        mpi_send_report,
        mpi_recv_range,
        mpi_poll_report,
        mpi_send_range,
        mpi_finalize,
        mpi_abort,
    };
    return &b;
}
