/* comm.c - an open communicator: a comm plug-in's table and its state, and
 * the calls the engine makes through them (see comm.h). */
#include "nnfi/comm.h"

#include <stdlib.h>

#include "nnfi/plugin.h"

struct nnfi_comm {
    const nnfi_comm_backend *b;
    nnfi_comm_state *s;
};

static nnfi_status check(const nnfi_comm_backend *b)
{
    if (!b) return NNFI_FAIL(NNFI_E_INVALID, "no comm plug-in\n  hint: this is a bug in the caller");
    /* the header first: no slot is read from a table shorter than this build's */
    NNFI_TRY(nnfi_plugin_check("comm", b->name, b->abi, b->size, NNFI_COMM_ABI, sizeof *b, NULL, NULL, 0));
#define SLOT(x) (const void *)(b->x)
    const void *const slots[] = {SLOT(init), SLOT(rank), SLOT(world_size), SLOT(library), SLOT(local_rank),
                                 SLOT(bcast_bytes), SLOT(all_ok), SLOT(gather_bytes), SLOT(send_report), SLOT(recv_range),
                                 SLOT(poll_report), SLOT(send_range), SLOT(finalize), SLOT(abort)};
#undef SLOT
    static const char *const names[] = {"init", "rank", "world_size", "library", "local_rank", "bcast_bytes", "all_ok",
                                        "gather_bytes",
                                        "send_report", "recv_range", "poll_report", "send_range", "finalize", "abort"};
    return nnfi_plugin_check("comm", b->name, b->abi, b->size, NNFI_COMM_ABI, sizeof *b, slots, names,
                             sizeof names / sizeof names[0]);
}

nnfi_status nnfi_comm_init(const nnfi_comm_backend *b, int *argc, char ***argv, nnfi_comm **out)
{
    *out = NULL;
    NNFI_TRY(check(b));
    nnfi_comm *c = calloc(1, sizeof *c);
    if (!c) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    c->b = b;
    nnfi_status st = b->init(argc, argv, &c->s);
    if (st != NNFI_OK) {
        free(c);
        return st;
    }
    *out = c;
    return NNFI_OK;
}

int nnfi_comm_rank(const nnfi_comm *c) { return c->b->rank(c->s); }
int nnfi_comm_size(const nnfi_comm *c) { return c->b->world_size(c->s); }
const char *nnfi_comm_library(const nnfi_comm *c) { return c->b->library(); }

nnfi_status nnfi_comm_local_rank(nnfi_comm *c, int *local_rank, const char **source)
{
    return c->b->local_rank(c->s, local_rank, source);
}

nnfi_status nnfi_comm_bcast_bytes(nnfi_comm *c, char **buf, uint64_t *len) { return c->b->bcast_bytes(c->s, buf, len); }
nnfi_status nnfi_comm_all_ok(nnfi_comm *c, int ok, int *all_ok) { return c->b->all_ok(c->s, ok, all_ok); }

nnfi_status nnfi_comm_gather_bytes(nnfi_comm *c, const uint8_t *buf, uint64_t len, uint8_t **all, uint64_t *lens)
{
    return c->b->gather_bytes(c->s, buf, len, all, lens);
}

nnfi_status nnfi_comm_send_report(nnfi_comm *c, const nnfi_trial_row *rows, size_t n, unsigned flags)
{
    return c->b->send_report(c->s, rows, n, flags);
}

nnfi_status nnfi_comm_recv_range(nnfi_comm *c, uint64_t *lo, uint64_t *hi) { return c->b->recv_range(c->s, lo, hi); }

nnfi_status nnfi_comm_poll_report(nnfi_comm *c, int *got, int *src, const nnfi_trial_row **rows, size_t *n,
                                  unsigned *flags)
{
    return c->b->poll_report(c->s, got, src, rows, n, flags);
}

nnfi_status nnfi_comm_send_range(nnfi_comm *c, int dst, uint64_t lo, uint64_t hi)
{
    return c->b->send_range(c->s, dst, lo, hi);
}

void nnfi_comm_finalize(nnfi_comm *c)
{
    if (!c) return;
    c->b->finalize(c->s);
    free(c);
}

void nnfi_comm_abort(nnfi_comm *c, int code) { c->b->abort(c->s, code); }
