/* inject_guard.c - the lifecycle order of nnfi/inject.h, checked once for
 * every injection backend (see nnfi_inject_guarded there).
 *
 * A guarded table forwards every slot to the backend it wraps, after checking
 * the order the backends rely on:
 *   arm / arm_generated   only when disarmed ("injector armed twice");
 *   begin_call / on_site  only while armed ("... on a disarmed injector");
 *   disarm                any time; forwarded only while armed, so it runs
 *                         once per trial (and a second call is a no-op).
 * The state lives in a small wrapper around the backend's injector, so a
 * backend keeps only what it needs to restore, and the registry hands out
 * guarded tables only (src/registry/registry.c: nnfi_inject_for_sites).
 *
 * A guarded injector is a `guard` below cast to nnfi_injector *: pass it only
 * to the guarded table's slots (nnfi_inject_unguarded gives the backend's own).
 *
 * The guarded tables are built on first use, one per wrapped backend, in a
 * fixed set of slots (C has no closures: each slot has its own create()).
 * Building is thread-safe (a slot is claimed with an atomic, filled, then
 * published); the tables are never freed.
 */
#include "nnfi/inject.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "nnfi/plugin.h"

typedef struct guard {
    const nnfi_inject_backend *inner;
    nnfi_injector *inj; /* the backend's own injector */
    int armed;
} guard;

static guard *G(nnfi_injector *inj) { return (guard *)(void *)inj; }
static const guard *CG(const nnfi_injector *inj) { return (const guard *)(const void *)inj; }

/* ---------------------------------------------------------------- slots -- */

enum { SLOT_EMPTY, SLOT_FILLING, SLOT_READY };
#define N_SLOTS 8 /* distinct backends one process may guard (this build has two) */

typedef struct slot {
    atomic_int state;
    const nnfi_inject_backend *inner;
    nnfi_inject_backend table;
} slot;

static slot slots[N_SLOTS];

static nnfi_status guard_create(size_t k, const nnfi_site *sites, size_t n_sites, nnfi_injector **out)
{
    *out = NULL;
    guard *g = calloc(1, sizeof *g);
    if (!g) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    g->inner = slots[k].inner;
    nnfi_status st = g->inner->create(sites, n_sites, &g->inj);
    if (st != NNFI_OK) {
        free(g);
        return st;
    }
    *out = (nnfi_injector *)(void *)g;
    return NNFI_OK;
}

#define CREATE(k) \
    static nnfi_status guard_create_##k(const nnfi_site *s, size_t n, nnfi_injector **o) { return guard_create(k, s, n, o); }
CREATE(0)
CREATE(1)
CREATE(2)
CREATE(3)
CREATE(4)
CREATE(5)
CREATE(6)
CREATE(7)
#undef CREATE

static nnfi_status (*const creates[N_SLOTS])(const nnfi_site *, size_t, nnfi_injector **) = {
    guard_create_0, guard_create_1, guard_create_2, guard_create_3,
    guard_create_4, guard_create_5, guard_create_6, guard_create_7,
};

/* ------------------------------------------------------ the order checks -- */

static nnfi_status guard_arm(nnfi_injector *inj, const nnfi_fault *faults, size_t n)
{
    guard *g = G(inj);
    if (g->armed) return NNFI_FAIL(NNFI_E_INVALID, "injector armed twice\n  hint: call disarm() after each trial");
    NNFI_TRY(g->inner->arm(g->inj, faults, n));
    g->armed = 1;
    return NNFI_OK;
}

static nnfi_status guard_arm_generated(nnfi_injector *inj, const nnfi_group_plan *const *groups,
                                       const nnfi_fault_id *ids, const uint64_t *counts, unsigned n_groups)
{
    guard *g = G(inj);
    if (g->armed) return NNFI_FAIL(NNFI_E_INVALID, "injector armed twice\n  hint: call disarm() after each trial");
    NNFI_TRY(g->inner->arm_generated(g->inj, groups, ids, counts, n_groups));
    g->armed = 1;
    return NNFI_OK;
}

static nnfi_status guard_begin_call(nnfi_injector *inj, uint64_t call, uint64_t first_sample, uint64_t rows)
{
    guard *g = G(inj);
    if (!g->armed) return NNFI_FAIL(NNFI_E_INVALID, "begin_call on a disarmed injector\n  hint: arm() first");
    return g->inner->begin_call(g->inj, call, first_sample, rows);
}

static nnfi_status guard_on_site(nnfi_injector *inj, uint32_t site, void *data, uint32_t t)
{
    guard *g = G(inj);
    if (!g->armed) return NNFI_FAIL(NNFI_E_INVALID, "on_site on a disarmed injector\n  hint: arm() first");
    return g->inner->on_site(g->inj, site, data, t);
}

static nnfi_status guard_disarm(nnfi_injector *inj)
{
    guard *g = G(inj);
    if (!g->armed) return NNFI_OK;
    g->armed = 0; /* even when the restore fails: it is not retried */
    return g->inner->disarm(g->inj);
}

static void guard_destroy(nnfi_injector *inj)
{
    if (!inj) return;
    guard *g = G(inj);
    g->inner->destroy(g->inj); /* restores first when still armed (inject.h) */
    free(g);
}

static uint64_t guard_applied(const nnfi_injector *inj)
{
    const guard *g = CG(inj);
    return g->inner->applied(g->inj);
}

/* ---------------------------------------------------------------- public -- */

static int is_guarded(const nnfi_inject_backend *b)
{
    for (size_t k = 0; k < N_SLOTS; k++)
        if (b == &slots[k].table) return 1;
    return 0;
}

static void fill(size_t k, const nnfi_inject_backend *inner)
{
    nnfi_inject_backend *t = &slots[k].table;
    slots[k].inner = inner;
    t->abi = NNFI_INJECT_ABI;
    t->size = sizeof *t;
    t->name = inner->name;
    t->create = creates[k];
    t->arm = guard_arm;
    t->begin_call = guard_begin_call;
    t->on_site = guard_on_site;
    t->disarm = guard_disarm;
    t->destroy = guard_destroy;
    /* optional slots: present exactly when the wrapped backend has them */
    t->applied = NNFI_HAS_SLOT(nnfi_inject_backend, inner, applied) ? guard_applied : NULL;
    t->arm_generated = NNFI_HAS_SLOT(nnfi_inject_backend, inner, arm_generated) ? guard_arm_generated : NULL;
}

const nnfi_inject_backend *nnfi_inject_guarded(const nnfi_inject_backend *inner)
{
    if (!inner) return NULL;
    if (is_guarded(inner)) return inner;
    for (size_t k = 0; k < N_SLOTS; k++) {
        slot *s = &slots[k];
        int st = atomic_load_explicit(&s->state, memory_order_acquire);
        if (st == SLOT_EMPTY) {
            int expect = SLOT_EMPTY;
            if (atomic_compare_exchange_strong_explicit(&s->state, &expect, SLOT_FILLING, memory_order_acq_rel,
                                                        memory_order_acquire)) {
                fill(k, inner);
                atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
                return &s->table;
            }
            st = expect;
        }
        while (st == SLOT_FILLING) st = atomic_load_explicit(&s->state, memory_order_acquire); /* a few stores away */
        if (s->inner == inner) return &s->table;
    }
    return NULL;
}

nnfi_injector *nnfi_inject_unguarded(const nnfi_inject_backend *b, nnfi_injector *inj)
{
    return inj && b && is_guarded(b) ? G(inj)->inj : inj;
}
