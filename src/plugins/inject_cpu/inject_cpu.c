/* inject_cpu.c - the `cpu` injection backend: faults applied in place on host
 * tensors through the shared primitives of fault_bits.h, originals saved in an
 * O(N) undo log and restored in reverse order.
 *
 * Cost model: a trial with N parameter faults does N random read-modify-writes
 * and N restores, and keeps one 16-byte undo entry per fault: the saved word
 * and one 64-bit key holding the element index above the site index (the
 * site's low bits: as many as n_sites needs; create() refuses a parameter
 * site too large to leave them room, which no tensor in memory is); the
 * restore takes the site's data and dtype from the site table; the loops prefetch a few faults ahead because at 1e5-1e6
 * faults on a large tensor every access misses the cache, and overlapping the
 * misses is what keeps apply+restore near memory latency / parallelism.
 * Activation faults are bucketed by site once per trial (counting sort), so a
 * site's call only visits its own faults. Within a site, arm() sorts each
 * touched element into one of three lists, by what hits it:
 *   folded   only permanent faults active at every time step: every op is
 *            w -> (w & a) ^ x and such maps compose, so all of an element's
 *            faults become one (a, x) pair, applied rows outer in element
 *            order: at most one edit per element and row, whatever N is;
 *   sample   only one-sample transient faults: kept sorted by sample, so a
 *            call visits just the faults of its own rows;
 *   rest     anything else (time windows, per-call transients, mixes): the
 *            faults in list order, each with its filters, as before.
 * Elements are disjoint between the lists, and within an element list order
 * is kept, so the result is bit-identical to applying the faults one by one.
 *
 * The call order (arm only when disarmed, begin_call/on_site only while
 * armed) is checked by the guard the registry wraps every backend in
 * (src/base/inject_guard.c), not here. What this file keeps: a failed arm
 * applies nothing, and disarm restores the undo log, which is empty when
 * nothing is applied, so disarm (and destroy) is a no-op then.
 */
#include "nnfi/inject.h"

#include "nnfi/config.h" /* nnfi_transient_scope */

#include <stdlib.h>
#include <string.h>

#define PREFETCH_AHEAD 16

/* One element's permanent faults folded: w -> (w & a) ^ x. */
typedef struct fold_entry {
    uint64_t element, a, x;
} fold_entry;

/* Largest per-sample site whose elements get folded (scratch is 17 bytes an element). */
#define FOLD_MAX_NUMEL ((uint64_t)1 << 24)

enum { CAT_FOLD = 1, CAT_SAMPLE = 2, CAT_OTHER = 4 };

/* One saved original: key = element << site_bits | site. 16 bytes. */
typedef struct undo_entry {
    uint64_t key;
    uint64_t word;
} undo_entry;

struct nnfi_injector {
    const nnfi_site *sites;
    size_t n_sites;
    const nnfi_fault *faults;
    size_t n_faults;
    /* undo log of parameter faults currently applied */
    unsigned site_bits; /* low bits of an undo key that hold the site */
    undo_entry *undo;
    size_t n_undo, cap_undo;
    size_t n_permanent_undo; /* entries below this index belong to permanent faults */
    /* transient parameter faults (indices into faults), and the call they are applied for */
    size_t *transient_params;
    size_t n_transient_params, cap_transient;
    int64_t applied_call;
    /* activation/input/state faults bucketed by site: order[start[s] .. start[s+1]);
     * after arm, the "rest" of each site (see the top) in list order */
    size_t *site_start; /* n_sites + 1 */
    size_t *order;
    size_t cap_order;
    /* per site: folded elements fold[fold_start[s] .. fold_start[s+1]) in element
     * order, standing for fold_faults[s] faults; one-sample faults
     * samp[samp_start[s] .. samp_start[s+1]) sorted by sample */
    size_t *fold_start, *samp_start, *rest_start; /* n_sites + 1 each */
    uint64_t *fold_faults;                        /* n_sites */
    fold_entry *fold;
    size_t cap_fold;
    size_t *samp, *rest;
    size_t cap_samp, cap_rest;
    /* scratch over one site's elements: category bits and folded maps */
    uint8_t *cat;
    uint64_t *fa, *fx;
    uint64_t cap_scratch;
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
    while (inj->site_bits < 64 && ((uint64_t)1 << inj->site_bits) < n_sites) inj->site_bits++;
    for (size_t i = 0; i < n_sites; i++) /* elements must fit above the site bits of an undo key */
        if (is_param_site(&sites[i]) && inj->site_bits > 0 && inj->site_bits < 64 &&
            sites[i].numel > ((uint64_t)1 << (64 - inj->site_bits))) {
            nnfi_status st = NNFI_FAIL(NNFI_E_INVALID, "site '%s': %llu elements do not fit the undo log's 64-bit key beside %zu sites",
                                       sites[i].name, (unsigned long long)sites[i].numel, n_sites);
            free(inj);
            return st;
        }
    inj->site_start = calloc(n_sites + 1, sizeof *inj->site_start);
    inj->fold_start = calloc(n_sites + 1, sizeof(size_t));
    inj->samp_start = calloc(n_sites + 1, sizeof(size_t));
    inj->rest_start = calloc(n_sites + 1, sizeof(size_t));
    inj->fold_faults = calloc(n_sites + 1, sizeof(uint64_t));
    if (!inj->site_start || !inj->fold_start || !inj->samp_start || !inj->rest_start || !inj->fold_faults) {
        free(inj->site_start), free(inj->fold_start), free(inj->samp_start), free(inj->rest_start), free(inj->fold_faults);
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
    const unsigned site_bits = inj->site_bits;
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
        u->key = ft->element << site_bits | ft->site;
        u->word = w;
        u++;
        nnfi_elem_store(s->data, s->dtype, ft->element, nnfi_bits_apply(w, (nnfi_op)ft->op, ft->mask, ft->value));
    }
    inj->n_undo += n;
    inj->applied += n;
}

/* Restore undo entries [from, n_undo) in reverse order. */
static void restore_to(nnfi_injector *inj, size_t from)
{
    const undo_entry *u = inj->undo;
    const nnfi_site *sites = inj->sites;
    const unsigned site_bits = inj->site_bits;
    const uint64_t site_mask = nnfi_low_mask(site_bits);
    for (size_t i = inj->n_undo; i > from; i--) {
        if (i - 1 >= from + PREFETCH_AHEAD) {
            uint64_t pk = u[i - 1 - PREFETCH_AHEAD].key;
            const nnfi_site *ps = &sites[pk & site_mask];
            __builtin_prefetch((const char *)ps->data + (pk >> site_bits) * (nnfi_dtype_bits(ps->dtype) / 8), 1);
        }
        const undo_entry *e = &u[i - 1];
        const nnfi_site *s = &sites[e->key & site_mask];
        nnfi_elem_store(s->data, s->dtype, e->key >> site_bits, e->word);
    }
    inj->n_undo = from;
}

/* The fault as w -> (w & a) ^ x (every op has that form). */
static void op_as_map(const nnfi_fault *f, uint64_t *a, uint64_t *x)
{
    switch ((nnfi_op)f->op) {
    case NNFI_OP_FLIP: *a = ~(uint64_t)0, *x = f->mask; break;
    case NNFI_OP_STUCK0: *a = ~f->mask, *x = 0; break;
    case NNFI_OP_STUCK1: *a = ~f->mask, *x = f->mask; break;
    default: *a = ~f->mask, *x = f->value & f->mask; break; /* RANDOM, SET */
    }
}

static int is_foldable(const nnfi_fault *f) { return !f->transient && f->t_first == 0 && f->t_last == UINT32_MAX; }
static int is_one_sample(const nnfi_fault *f) { return f->transient && f->scope == NNFI_SCOPE_SAMPLE; }

static int cmp_when(const void *pa, const void *pb, void *faults)
{
    const nnfi_fault *f = faults;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (f[a].when != f[b].when) return f[a].when < f[b].when ? -1 : 1;
    return a < b ? -1 : a > b; /* list order: stable */
}

/* qsort_r is a GNU/BSD extension: a small merge sort instead (stable by construction) */
static void sort_by_when(size_t *v, size_t n, size_t *tmp, const nnfi_fault *f)
{
    if (n < 2) return;
    size_t h = n / 2;
    sort_by_when(v, h, tmp, f);
    sort_by_when(v + h, n - h, tmp, f);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) tmp[k++] = cmp_when(&v[j], &v[i], (void *)f) < 0 ? v[j++] : v[i++];
    while (i < h) tmp[k++] = v[i++];
    while (j < n) tmp[k++] = v[j++];
    memcpy(v, tmp, n * sizeof *v);
}

/* Sort one site's one-sample faults by sample, stably: a counting sort when
 * the samples span a range comparable to the count (the usual case: the
 * eval set), else a merge sort. */
static nnfi_status sort_samples(size_t *v, size_t m, const nnfi_fault *f)
{
    int64_t lo = f[v[0]].when, hi = lo;
    for (size_t i = 1; i < m; i++) {
        if (f[v[i]].when < lo) lo = f[v[i]].when;
        if (f[v[i]].when > hi) hi = f[v[i]].when;
    }
    uint64_t range = (uint64_t)(hi - lo) + 1;
    size_t *tmp = malloc(m * sizeof *tmp);
    size_t *cnt = range <= 4 * (uint64_t)m + 65536 ? calloc(range + 1, sizeof *cnt) : NULL;
    if (!tmp || (range <= 4 * (uint64_t)m + 65536 && !cnt)) {
        free(tmp), free(cnt);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory sorting %zu faults", m);
    }
    if (cnt) {
        for (size_t i = 0; i < m; i++) cnt[f[v[i]].when - lo + 1]++;
        for (uint64_t r = 0; r < range; r++) cnt[r + 1] += cnt[r];
        for (size_t i = 0; i < m; i++) tmp[cnt[f[v[i]].when - lo]++] = v[i];
        memcpy(v, tmp, m * sizeof *v);
    } else {
        sort_by_when(v, m, tmp, f);
    }
    free(tmp), free(cnt);
    return NNFI_OK;
}

/* Split every site's bucket into folded / one-sample / rest (see the top). */
static nnfi_status split_sites(nnfi_injector *inj)
{
    const nnfi_fault *f = inj->faults;
    size_t total = inj->site_start[inj->n_sites];
    NNFI_TRY(grow((void **)&inj->samp, &inj->cap_samp, total, sizeof(size_t)));
    NNFI_TRY(grow((void **)&inj->rest, &inj->cap_rest, total, sizeof(size_t)));
    size_t nf = 0, ns = 0, nr = 0;
    for (size_t s = 0; s < inj->n_sites; s++) {
        size_t lo = inj->site_start[s], hi = inj->site_start[s + 1];
        uint64_t numel = inj->sites[s].numel;
        inj->fold_start[s] = nf, inj->samp_start[s] = ns, inj->rest_start[s] = nr;
        inj->fold_faults[s] = 0;
        if (lo == hi) continue;
        if (numel > FOLD_MAX_NUMEL) { /* no scratch this large: everything stays in list order */
            for (size_t j = lo; j < hi; j++) inj->rest[nr++] = inj->order[j];
            continue;
        }
        if (numel > inj->cap_scratch) {
            uint8_t *c = realloc(inj->cat, numel);
            if (c) inj->cat = c;
            uint64_t *a = realloc(inj->fa, numel * sizeof *a);
            if (a) inj->fa = a;
            uint64_t *x = realloc(inj->fx, numel * sizeof *x);
            if (x) inj->fx = x;
            if (!c || !a || !x) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for a site of %llu elements", (unsigned long long)numel);
            memset(inj->cat, 0, numel);
            inj->cap_scratch = numel;
        }
        uint8_t *cat = inj->cat;
        for (size_t j = lo; j < hi; j++) {
            const nnfi_fault *ft = &f[inj->order[j]];
            cat[ft->element] |= is_foldable(ft) ? CAT_FOLD : is_one_sample(ft) ? CAT_SAMPLE : CAT_OTHER;
        }
        size_t folded_elems = 0;
        for (size_t j = lo; j < hi; j++) { /* list order */
            size_t i = inj->order[j];
            uint64_t e = f[i].element;
            if (cat[e] == CAT_FOLD || cat[e] == (CAT_FOLD | 0x80)) {
                uint64_t a, x;
                op_as_map(&f[i], &a, &x);
                if (cat[e] == CAT_FOLD) { /* first fault on e */
                    inj->fa[e] = a, inj->fx[e] = x;
                    cat[e] |= 0x80;
                    folded_elems++;
                } else { /* compose: ((w & a1) ^ x1) & a ^ x */
                    inj->fa[e] &= a;
                    inj->fx[e] = (inj->fx[e] & a) ^ x;
                }
                inj->fold_faults[s]++;
            } else if (cat[e] == CAT_SAMPLE) {
                inj->samp[ns++] = i;
            } else {
                inj->rest[nr++] = i;
            }
        }
        NNFI_TRY(grow((void **)&inj->fold, &inj->cap_fold, nf + folded_elems, sizeof(fold_entry)));
        if (folded_elems * 8 < numel) { /* sparse: visit the touched elements only (sorted below) */
            for (size_t j = lo; j < hi; j++) {
                uint64_t e = f[inj->order[j]].element;
                if (cat[e] == (CAT_FOLD | 0x80)) {
                    inj->fold[nf++] = (fold_entry){e, inj->fa[e], inj->fx[e]};
                    cat[e] = 0x40; /* emitted */
                }
            }
            fold_entry *fe = inj->fold + inj->fold_start[s];
            size_t m = nf - inj->fold_start[s];
            for (size_t k = 1; k < m; k++) { /* insertion sort by element: m is small here */
                fold_entry v = fe[k];
                size_t q = k;
                while (q > 0 && fe[q - 1].element > v.element) fe[q] = fe[q - 1], q--;
                fe[q] = v;
            }
        } else { /* dense: a scan of the site in element order */
            for (uint64_t e = 0; e < numel; e++)
                if (cat[e] == (CAT_FOLD | 0x80)) inj->fold[nf++] = (fold_entry){e, inj->fa[e], inj->fx[e]};
        }
        for (size_t j = lo; j < hi; j++) cat[f[inj->order[j]].element] = 0; /* scratch clean for the next site */
        size_t m = ns - inj->samp_start[s];
        if (m > 1) NNFI_TRY(sort_samples(inj->samp + inj->samp_start[s], m, f));
    }
    inj->fold_start[inj->n_sites] = nf, inj->samp_start[inj->n_sites] = ns, inj->rest_start[inj->n_sites] = nr;
    return NNFI_OK;
}

static nnfi_status cpu_arm(nnfi_injector *inj, const nnfi_fault *faults, size_t n)
{
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
    if (n_sited) NNFI_TRY(split_sites(inj));
    else memset(inj->fold_start, 0, (inj->n_sites + 1) * sizeof(size_t)), memset(inj->samp_start, 0, (inj->n_sites + 1) * sizeof(size_t)),
         memset(inj->rest_start, 0, (inj->n_sites + 1) * sizeof(size_t));
    if (all_perm_params) {
        apply_params(inj, NULL, n); /* the common case: one straight pass */
    } else {
        size_t *perm = malloc((n_perm ? n_perm : 1) * sizeof *perm);
        if (!perm) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory"); /* nothing applied yet */
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

/* Apply fault f to rows [r0, r1) of data. */
static void apply_rows(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t r0, uint64_t r1)
{
    for (uint64_t r = r0; r < r1; r++) {
        uint64_t e = r * numel + f->element;
        uint64_t w = nnfi_elem_load(data, dt, e);
        nnfi_elem_store(data, dt, e, nnfi_bits_apply(w, (nnfi_op)f->op, f->mask, f->value));
    }
}

static nnfi_status cpu_on_site(nnfi_injector *inj, uint32_t site, void *data, uint32_t t)
{
    if (site >= inj->n_sites) return NNFI_FAIL(NNFI_E_INVALID, "on_site: no site %u", site);
    const nnfi_site *s = &inj->sites[site];
    nnfi_dtype dt = s->dtype;
    uint64_t numel = s->numel;
    /* folded permanent faults: rows outer, elements in order */
    const fold_entry *fe = inj->fold + inj->fold_start[site];
    size_t nfold = inj->fold_start[site + 1] - inj->fold_start[site];
    if (nfold) {
        for (uint64_t r = 0; r < inj->rows; r++) {
            uint64_t base = r * numel;
            for (size_t k = 0; k < nfold; k++) {
                uint64_t e = base + fe[k].element;
                nnfi_elem_store(data, dt, e, (nnfi_elem_load(data, dt, e) & fe[k].a) ^ fe[k].x);
            }
        }
        inj->applied += inj->fold_faults[site];
    }
    /* one-sample faults of this call's rows: a binary search into the sorted list */
    const size_t *sp = inj->samp + inj->samp_start[site];
    size_t ns = inj->samp_start[site + 1] - inj->samp_start[site], lo = 0, hi = ns;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (inj->faults[sp[mid]].when < (int64_t)inj->first_sample) lo = mid + 1;
        else hi = mid;
    }
    for (size_t j = lo; j < ns; j++) {
        const nnfi_fault *f = &inj->faults[sp[j]];
        if (f->when >= (int64_t)(inj->first_sample + inj->rows)) break;
        if (t < f->t_first || t > f->t_last) continue;
        uint64_t r = (uint64_t)f->when - inj->first_sample;
        apply_rows(data, dt, numel, f, r, r + 1);
        inj->applied++;
    }
    /* the rest, in list order, each with its filters */
    for (size_t j = inj->rest_start[site]; j < inj->rest_start[site + 1]; j++) {
        const nnfi_fault *f = &inj->faults[inj->rest[j]];
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
        apply_rows(data, dt, numel, f, r0, r1);
        inj->applied++;
    }
    return NNFI_OK;
}

static nnfi_status cpu_disarm(nnfi_injector *inj)
{
    restore_to(inj, 0); /* an empty log when nothing is applied */
    inj->faults = NULL;
    inj->n_faults = 0;
    inj->applied_call = -1;
    return NNFI_OK;
}

static void cpu_destroy(nnfi_injector *inj)
{
    if (!inj) return;
    cpu_disarm(inj); /* destroy while armed restores first */
    free(inj->undo);
    free(inj->transient_params);
    free(inj->site_start);
    free(inj->order);
    free(inj->fold_start), free(inj->samp_start), free(inj->rest_start), free(inj->fold_faults);
    free(inj->fold), free(inj->samp), free(inj->rest);
    free(inj->cat), free(inj->fa), free(inj->fx);
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
