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
    /* rank 0: per sender, a report being received (matched by MPI_Improbe,
     * received by MPI_Imrecv) that may not have completed yet: its request,
     * its buffer, its size. A sender has at most one report in flight (its
     * MPI_Send blocks until it is received). */
    MPI_Request *pending;
    char **rbuf;
    size_t *rcap;
    int *rbytes;
    /* a sender's next report, matched while its previous one was still
     * pending: received once that one has been handed out */
    MPI_Message *held;
    int *held_bytes;
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
    c->pending = malloc((size_t)c->size * sizeof *c->pending);
    c->rbuf = calloc((size_t)c->size, sizeof *c->rbuf);
    c->rcap = calloc((size_t)c->size, sizeof *c->rcap);
    c->rbytes = calloc((size_t)c->size, sizeof *c->rbytes);
    c->held = malloc((size_t)c->size * sizeof *c->held);
    c->held_bytes = calloc((size_t)c->size, sizeof *c->held_bytes);
    if (!c->pending || !c->rbuf || !c->rcap || !c->rbytes || !c->held || !c->held_bytes) {
        free(c->pending);
        free(c->rbuf);
        free(c->rcap);
        free(c->rbytes);
        free(c->held);
        free(c->held_bytes);
        free(c);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    for (int r = 0; r < c->size; r++) {
        c->pending[r] = MPI_REQUEST_NULL;
        c->held[r] = MPI_MESSAGE_NULL;
    }
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

/* Lengths first (MPI_Gather), then the bytes in slices of at most 1 GiB per
 * rank (int counts), rank 0 placing each rank's slice at its offset. */
static nnfi_status mpi_gather_bytes(nnfi_comm_state *c, const uint8_t *buf, uint64_t len, uint8_t **all,
                                    uint64_t *lens)
{
    int size = c->size;
    uint64_t *l = c->rank == 0 ? lens : NULL;
    MPI_CHECK(c, MPI_Gather(&len, 1, MPI_UINT64_T, l, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD));
    uint64_t most = len;
    MPI_CHECK(c, MPI_Allreduce(MPI_IN_PLACE, &most, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD));
    int *counts = NULL, *displs = NULL;
    uint64_t total = 0, *start = NULL;
    nnfi_status st = NNFI_OK;
    if (c->rank == 0) {
        for (int r = 0; r < size; r++) total += lens[r];
        *all = malloc(total ? total : 1);
        counts = calloc((size_t)size, sizeof *counts);
        displs = calloc((size_t)size, sizeof *displs);
        start = calloc((size_t)size, sizeof *start);
        if (!*all || !counts || !displs || !start) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        for (int r = 1; st == NNFI_OK && r < size; r++) start[r] = start[r - 1] + lens[r - 1];
    } else {
        *all = NULL;
    }
    const uint64_t slice = 1u << 30;
    for (uint64_t off = 0; off < most; off += slice) { /* every rank takes part in every round */
        int mine = len > off ? (int)(len - off < slice ? len - off : slice) : 0;
        uint8_t *recv = NULL;
        if (c->rank == 0 && st == NNFI_OK) {
            /* one receive buffer per round: the slices packed, then moved into place */
            int at = 0;
            for (int r = 0; r < size; r++) {
                uint64_t left = lens[r] > off ? lens[r] - off : 0;
                counts[r] = (int)(left < slice ? left : slice);
                displs[r] = at;
                at += counts[r];
            }
            recv = malloc(at ? (size_t)at : 1);
            if (!recv) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        }
        int rc = MPI_Gatherv(mine ? buf + off : NULL, mine, MPI_BYTE, recv, counts, displs, MPI_BYTE, 0,
                             MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS && st == NNFI_OK) st = NNFI_FAIL(NNFI_E_BACKEND, "MPI_Gatherv failed (%d)", rc);
        if (c->rank == 0 && recv && st == NNFI_OK)
            for (int r = 0; r < size; r++) memcpy(*all + start[r] + off, recv + displs[r], (size_t)counts[r]);
        free(recv);
    }
    free(counts);
    free(displs);
    free(start);
    if (st != NNFI_OK && c->rank == 0) {
        free(*all);
        *all = NULL;
    }
    return st;
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

/* Receive the matched report msg of sender r (bytes long) into r's buffer. */
static nnfi_status start_recv(nnfi_comm_state *c, int r, MPI_Message *msg, int bytes)
{
    if ((size_t)bytes > c->rcap[r]) {
        char *b = realloc(c->rbuf[r], (size_t)bytes);
        if (!b) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        c->rbuf[r] = b;
        c->rcap[r] = (size_t)bytes;
    }
    MPI_CHECK(c, MPI_Imrecv(c->rbuf[r], bytes, MPI_BYTE, msg, &c->pending[r]));
    c->rbytes[r] = bytes;
    return NNFI_OK;
}

/* Hand out sender r's received report. */
static void deliver(nnfi_comm_state *c, int r, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                    unsigned *flags)
{
    uint64_t f;
    memcpy(&f, c->rbuf[r], sizeof f);
    *flags = (unsigned)f;
    *n = ((size_t)c->rbytes[r] - sizeof f) / sizeof **rows;
    *rows = (const nnfi_trial_row *)(void *)(c->rbuf[r] + sizeof f);
    *src = r;
    *got = 1;
}

/* Non-blocking all the way: a report larger than the eager limit needs its
 * sender to take part in the transfer, and a sender that was stopped (a hung
 * node, SIGSTOP) right after its envelope arrived would block a plain
 * MPI_Recv forever, out of reach of the coordinator's stop deadline. So each
 * report is matched (MPI_Improbe), received with MPI_Imrecv into its
 * sender's buffer and tested on each call; a receive that has not completed
 * stays pending without holding up the other senders. A sender whose next
 * report is matched while its previous one is pending must have finished
 * sending that one (a report it could send again after is eager, or its
 * MPI_Send returned once the transfer completed), so waiting for it is
 * prompt; the next one is held and received after the previous one is
 * handed out. */
static nnfi_status mpi_poll_report(nnfi_comm_state *c, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                                  unsigned *flags)
{
    *got = 0;
    for (int r = 0; r < c->size; r++)
        if (c->held[r] != MPI_MESSAGE_NULL && c->pending[r] == MPI_REQUEST_NULL)
            NNFI_TRY(start_recv(c, r, &c->held[r], c->held_bytes[r])); /* sets held[r] to MPI_MESSAGE_NULL */
    for (int pass = 0; pass < 2; pass++) {
        int idx = MPI_UNDEFINED, done = 0;
        MPI_CHECK(c, MPI_Testany(c->size, c->pending, &idx, &done, MPI_STATUS_IGNORE));
        if (done && idx != MPI_UNDEFINED) {
            deliver(c, idx, got, src, rows, n, flags);
            return NNFI_OK;
        }
        for (int more = 1; pass == 0 && more;) { /* start receiving every report that has arrived */
            MPI_Message msg;
            MPI_Status status;
            MPI_CHECK(c, MPI_Improbe(MPI_ANY_SOURCE, TAG_REPORT, MPI_COMM_WORLD, &more, &msg, &status));
            if (!more) break;
            int r = status.MPI_SOURCE, bytes = 0;
            MPI_Get_count(&status, MPI_BYTE, &bytes);
            if (c->pending[r] == MPI_REQUEST_NULL) {
                NNFI_TRY(start_recv(c, r, &msg, bytes));
                continue;
            }
            MPI_CHECK(c, MPI_Wait(&c->pending[r], MPI_STATUS_IGNORE));
            c->held[r] = msg;
            c->held_bytes[r] = bytes;
            deliver(c, r, got, src, rows, n, flags);
            return NNFI_OK;
        }
    }
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
    for (int r = 0; r < c->size; r++) free(c->rbuf[r]);
    free(c->rbuf);
    free(c->rcap);
    free(c->rbytes);
    free(c->pending);
    free(c->held);
    free(c->held_bytes);
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
        mpi_gather_bytes,
        mpi_send_report,
        mpi_recv_range,
        mpi_poll_report,
        mpi_send_range,
        mpi_finalize,
        mpi_abort,
    };
    return &b;
}
