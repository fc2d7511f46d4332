/* inject_cpu.c - the `cpu` injection backend: faults applied in place on host
 * tensors through the shared primitives of fault_bits.h, originals saved in an
 * O(N) undo log and restored in reverse order.
 *
 * Cost model: a trial with N parameter faults does N random read-modify-writes
 * and N restores; the loops prefetch a few faults ahead because at 1e5-1e6
 * faults on a large tensor every access misses the cache, and overlapping the
 * misses is what keeps apply+restore near memory latency / parallelism.
 * Activation faults are bucketed by site once per trial (counting sort), so a
 * site's call only visits its own faults.
 */
#include "nnfi/inject.h"

#include "nnfi/config.h" /* nnfi_transient_scope */

#include <stdlib.h>
#include <string.h>

#define PREFETCH_AHEAD 16

typedef struct undo_entry {
    void *base;
    uint64_t element;
    uint64_t word;
    uint32_t dtype;
} undo_entry;

struct nnfi_injector {
    const nnfi_site *sites;
    size_t n_sites;
    int armed;
    const nnfi_fault *faults;
    size_t n_faults;
    /* undo log of parameter faults currently applied */
    undo_entry *undo;
    size_t n_undo, cap_undo;
    size_t n_permanent_undo; /* entries below this index belong to permanent faults */
    /* transient parameter faults (indices into faults), and the call they are applied for */
    size_t *transient_params;
    size_t n_transient_params, cap_transient;
    int64_t applied_call;
    /* activation/input/state faults bucketed by site: order[start[s] .. start[s+1]) */
    size_t *site_start; /* n_sites + 1 */
    size_t *order;
    size_t cap_order;
    /* the current call */
    uint64_t call, first_sample, rows;
    uint64_t applied;
};

static int is_param_site(const nnfi_site *s)
{
    return s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER;
}

static nnfi_status grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return NNFI_OK;
    size_t n = *cap ? *cap : 256;
    while (n < need) n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %zu saved faults\n  hint: lower the fault count", need);
    *p = q;
    *cap = n;
    return NNFI_OK;
}

static nnfi_status cpu_create(const nnfi_site *sites, size_t n_sites, nnfi_injector **out)
{
    nnfi_injector *inj = calloc(1, sizeof *inj);
    if (!inj) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    inj->sites = sites;
    inj->n_sites = n_sites;
    inj->site_start = calloc(n_sites + 1, sizeof *inj->site_start);
    if (!inj->site_start) {
        free(inj);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    inj->applied_call = -1;
    *out = inj;
    return NNFI_OK;
}

/* Apply faults[idx[0..n)] (or faults[0..n) when idx is NULL) to parameters,
 * logging originals. */
static void apply_params(nnfi_injector *inj, const size_t *idx, size_t n)
{
    const nnfi_fault *f = inj->faults;
    const nnfi_site *sites = inj->sites;
    undo_entry *u = inj->undo + inj->n_undo;
    for (size_t i = 0; i < n; i++) {
        if (i + PREFETCH_AHEAD < n) {
            const nnfi_fault *pf = &f[idx ? idx[i + PREFETCH_AHEAD] : i + PREFETCH_AHEAD];
            const nnfi_site *ps = &sites[pf->site];
            __builtin_prefetch((const char *)ps->data + pf->element * (nnfi_dtype_bits(ps->dtype) / 8), 1);
        }
        const nnfi_fault *ft = &f[idx ? idx[i] : i];
        const nnfi_site *s = &sites[ft->site];
        uint64_t w = nnfi_elem_load(s->data, s->dtype, ft->element);
        u->base = s->data;
        u->element = ft->element;
        u->word = w;
        u->dtype = (uint32_t)s->dtype;
        u++;
        nnfi_elem_store(s->data, s->dtype, ft->element, nnfi_bits_apply(w, (nnfi_op)ft->op, ft->mask, ft->value));
    }
    inj->n_undo += n;
    inj->applied += n;
}

/* Restore undo entries [from, n_undo) in reverse order. */
static void restore_to(nnfi_injector *inj, size_t from)
{
    undo_entry *u = inj->undo;
    for (size_t i = inj->n_undo; i > from; i--) {
        if (i - 1 >= from + PREFETCH_AHEAD) {
            const undo_entry *pu = &u[i - 1 - PREFETCH_AHEAD];
            __builtin_prefetch((const char *)pu->base + pu->element * (nnfi_dtype_bits((nnfi_dtype)pu->dtype) / 8), 1);
        }
        const undo_entry *e = &u[i - 1];
        nnfi_elem_store(e->base, (nnfi_dtype)e->dtype, e->element, e->word);
    }
    inj->n_undo = from;
}

static nnfi_status cpu_arm(nnfi_injector *inj, const nnfi_fault *faults, size_t n)
{
    if (inj->armed)
        return NNFI_FAIL(NNFI_E_INVALID, "injector armed twice\n  hint: call disarm() after each trial");
    size_t n_perm = 0, n_trans = 0;
    memset(inj->site_start, 0, (inj->n_sites + 1) * sizeof *inj->site_start);
    for (size_t i = 0; i < n; i++) {
        if (faults[i].site >= inj->n_sites)
            return NNFI_FAIL(NNFI_E_INVALID, "fault %zu names site %u of %zu\n  hint: faults must come from this model's site table",
                             i, faults[i].site, inj->n_sites);
        const nnfi_site *s = &inj->sites[faults[i].site];
        if (is_param_site(s)) {
            if (faults[i].element >= s->numel || !s->data)
                return NNFI_FAIL(NNFI_E_INVALID, "fault %zu: element %llu outside site '%s' (%llu elements)",
                                 i, (unsigned long long)faults[i].element, s->name, (unsigned long long)s->numel);
            if (faults[i].transient) n_trans++;
            else n_perm++;
        } else {
            if (faults[i].element >= s->numel)
                return NNFI_FAIL(NNFI_E_INVALID, "fault %zu: element %llu outside site '%s' (%llu per sample)",
                                 i, (unsigned long long)faults[i].element, s->name, (unsigned long long)s->numel);
            inj->site_start[faults[i].site + 1]++;
        }
    }
    NNFI_TRY(grow((void **)&inj->undo, &inj->cap_undo, n_perm + n_trans, sizeof *inj->undo));
    NNFI_TRY(grow((void **)&inj->transient_params, &inj->cap_transient, n_trans, sizeof(size_t)));
    for (size_t s = 0; s < inj->n_sites; s++) inj->site_start[s + 1] += inj->site_start[s];
    size_t n_sited = inj->site_start[inj->n_sites];
    NNFI_TRY(grow((void **)&inj->order, &inj->cap_order, n_sited, sizeof(size_t)));
    inj->faults = faults;
    inj->n_faults = n;
    inj->applied = 0;
    inj->n_undo = 0;
    inj->n_transient_params = 0;
    inj->applied_call = -1;
    /* bucket the per-call faults by site, keeping list order within a site */
    size_t *fill = NULL;
    if (n_sited) {
        fill = malloc(inj->n_sites * sizeof *fill);
        if (!fill) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        memcpy(fill, inj->site_start, inj->n_sites * sizeof *fill);
    }
    int all_perm_params = n_trans == 0 && n_sited == 0;
    if (!all_perm_params) {
        for (size_t i = 0; i < n; i++) {
            const nnfi_site *s = &inj->sites[faults[i].site];
            if (!is_param_site(s)) inj->order[fill[faults[i].site]++] = i;
            else if (faults[i].transient) inj->transient_params[inj->n_transient_params++] = i;
        }
    }
    free(fill);
    inj->armed = 1;
    if (all_perm_params) {
        apply_params(inj, NULL, n); /* the common case: one straight pass */
    } else {
        size_t *perm = malloc((n_perm ? n_perm : 1) * sizeof *perm);
        if (!perm) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (is_param_site(&inj->sites[faults[i].site]) && !faults[i].transient) perm[k++] = i;
        apply_params(inj, perm, k);
        free(perm);
    }
    inj->n_permanent_undo = inj->n_undo;
    return NNFI_OK;
}

static nnfi_status cpu_begin_call(nnfi_injector *inj, uint64_t call, uint64_t first_sample, uint64_t rows)
{
    if (!inj->armed) return NNFI_FAIL(NNFI_E_INVALID, "begin_call on a disarmed injector\n  hint: arm() first");
    inj->call = call;
    inj->first_sample = first_sample;
    inj->rows = rows;
    if (inj->n_transient_params == 0 || inj->applied_call == (int64_t)call) return NNFI_OK;
    restore_to(inj, inj->n_permanent_undo); /* the previous call's transient faults */
    size_t k = 0;
    size_t *sel = inj->transient_params; /* compacted in place is unsafe: copy matches first */
    size_t *hit = malloc(inj->n_transient_params * sizeof *hit);
    if (!hit) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    for (size_t i = 0; i < inj->n_transient_params; i++)
        if (inj->faults[sel[i]].when == (int64_t)call) hit[k++] = sel[i];
    apply_params(inj, hit, k);
    free(hit);
    inj->applied_call = (int64_t)call;
    return NNFI_OK;
}

static nnfi_status cpu_on_site(nnfi_injector *inj, uint32_t site, void *data, uint32_t t)
{
    if (!inj->armed) return NNFI_FAIL(NNFI_E_INVALID, "on_site on a disarmed injector\n  hint: arm() first");
    if (site >= inj->n_sites) return NNFI_FAIL(NNFI_E_INVALID, "on_site: no site %u", site);
    const nnfi_site *s = &inj->sites[site];
    nnfi_dtype dt = s->dtype;
    uint64_t numel = s->numel;
    for (size_t j = inj->site_start[site]; j < inj->site_start[site + 1]; j++) {
        const nnfi_fault *f = &inj->faults[inj->order[j]];
        if (t < f->t_first || t > f->t_last) continue;
        uint64_t r0 = 0, r1 = inj->rows;
        if (f->transient) {
            if (f->scope == NNFI_SCOPE_CALL) {
                if (f->when != (int64_t)inj->call) continue;
            } else {
                if (f->when < (int64_t)inj->first_sample || f->when >= (int64_t)(inj->first_sample + inj->rows)) continue;
                r0 = (uint64_t)f->when - inj->first_sample;
                r1 = r0 + 1;
            }
        }
        for (uint64_t r = r0; r < r1; r++) {
            uint64_t e = r * numel + f->element;
            uint64_t w = nnfi_elem_load(data, dt, e);
            nnfi_elem_store(data, dt, e, nnfi_bits_apply(w, (nnfi_op)f->op, f->mask, f->value));
        }
        inj->applied++;
    }
    return NNFI_OK;
}

static nnfi_status cpu_disarm(nnfi_injector *inj)
{
    if (!inj->armed) return NNFI_OK;
    restore_to(inj, 0);
    inj->armed = 0;
    inj->faults = NULL;
    inj->n_faults = 0;
    inj->applied_call = -1;
    return NNFI_OK;
}

static void cpu_destroy(nnfi_injector *inj)
{
    if (!inj) return;
    cpu_disarm(inj);
    free(inj->undo);
    free(inj->transient_params);
    free(inj->site_start);
    free(inj->order);
    free(inj);
}

static uint64_t cpu_applied(const nnfi_injector *inj) { return inj->applied; }

static const nnfi_inject_backend cpu_backend = {
    .abi = NNFI_INJECT_ABI,
    .size = sizeof(nnfi_inject_backend),
    .name = "cpu",
    .create = cpu_create,
    .arm = cpu_arm,
    .begin_call = cpu_begin_call,
    .on_site = cpu_on_site,
    .disarm = cpu_disarm,
    .destroy = cpu_destroy,
    .applied = cpu_applied,
};

const nnfi_inject_backend *nnfi_inject_cpu(void) { return &cpu_backend; }
