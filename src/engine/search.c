/* search.c - the critical-bit search (search.h): draw the elements,
 * classify the pilot elements exhaustively and check the site's
 * monotonicity and pools on them; on monotone float sites group-test the
 * largest flip of each side of every other element (adaptive pools) and
 * binary-search below the sides whose largest flip is critical; on the
 * others group-test every flip, bit by bit; check against exhaustive
 * labels, and tally the strata. Flips and their evaluation:
 * search_flips.c; units (one site at a time) and their records:
 * search_units.c. */
#include "search_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnfi/plan.h"
#include "nnfi/sampler.h"

typedef struct site_state {
    uint64_t drawn; /* elements drawn from the site */
    uint64_t pilot; /* pilot elements seen */
    int monotone;   /* no pilot element went from critical back to harmless as a change grew (floats only) */
    int unpooled;   /* a pilot group holding a known critical flip tested harmless (masking): no pools */
    /* per bit: the flips seen with known labels and the critical ones (pools of the flip-by-flip mode) */
    uint64_t seen_bit[64], crit_bit[64];
    uint64_t want;  /* pilot elements wanted */
    /* per side (0: -, 1: +): largest flips tested so far and how many were critical (pool sizes) */
    uint64_t tops[2], crit_tops[2];
} site_state;

#define POOL_MIN_DRAWN 64 /* fewer draws from a site: no pools there */
#define BIT_POOL_MIN 16   /* the flip-by-flip mode pools a bit only in groups of at least this many */

/* The labels and evaluation counts of every drawn element: 64 per element. */
typedef struct book {
    elem *xs;
    uint8_t *checked; /* among the first `exhaustive_check` drawn (of all sites) */
    uint8_t *lab; /* 0, 1 or UNKNOWN */
    uint8_t *cnt; /* evaluations charged to each (element, bit) by the search */
    uint64_t evals;
} book;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void charge(book *bk, uint64_t k, unsigned b)
{
    if (bk->cnt[64 * k + b] < 255) bk->cnt[64 * k + b]++;
    bk->evals++;
}

/* The flip with the largest change among x's undecided flips on `side`, or -1. */
static int side_top(const elem *x, const uint8_t *lab, int side)
{
    int top = -1;
    double best = -1, after;
    for (unsigned b = 0; b < 64; b++) {
        if (!(x->mask >> b & 1) || lab[b] != UNKNOWN || flip_side(x, b) != side) continue;
        double m = fabs(flip_change(x, b, &after));
        if (m > best) best = m, top = (int)b;
    }
    return top;
}

/* Every candidate bit of element k evaluated alone (the pilot, the check). */
static nnfi_status classify_all(search_ctx *sc, book *bk, uint64_t k, uint8_t *lab, int charge_it, uint64_t *evals)
{
    elem *x = &bk->xs[k];
    for (unsigned b = 0; b < 64; b++) {
        if (!(x->mask >> b & 1)) continue;
        int c;
        NNFI_TRY(eval_single(sc, x, b, &c));
        lab[b] = (uint8_t)c;
        if (charge_it) charge(bk, k, b);
        (*evals)++;
    }
    return NNFI_OK;
}

/* Decide a whole side: every undecided flip on it gets label v. */
static void settle_side(book *bk, uint64_t k, int side, uint8_t v)
{
    const elem *x = &bk->xs[k];
    for (unsigned b = 0; b < 64; b++)
        if ((x->mask >> b & 1) && bk->lab[64 * k + b] == UNKNOWN && flip_side(x, b) == side) bk->lab[64 * k + b] = v;
}

/* A group test (Dorfman, with binary splitting) of the side tops
 * (ks[i], bits[i]): a harmless group makes every member's side harmless
 * (monotone sites); a critical one is split until single flips, which are
 * then critical themselves. `positive`: the group is known to hold a
 * critical flip (its sibling half was harmless), so it is not tested whole. */
static nnfi_status group_test(search_ctx *sc, book *bk, site_state *ss, const uint64_t *ks, const unsigned *bits,
                              unsigned n, int side, int positive)
{
    int c = 1;
    if (!positive || n == 1) {
        elem *xs[NNFI_SEARCH_POOL_MAX];
        for (unsigned i = 0; i < n; i++) xs[i] = &bk->xs[ks[i]];
        if (n == 1) {
            NNFI_TRY(eval_single(sc, xs[0], bits[0], &c));
        } else {
            NNFI_TRY(eval_group(sc, xs, bits, n, &c));
        }
        charge(bk, ks[0], bits[0]);
    }
    if (!c) {
        for (unsigned i = 0; i < n; i++) settle_side(bk, ks[i], side, 0);
        ss->tops[side > 0] += n;
        return NNFI_OK;
    }
    if (n == 1) {
        bk->lab[64 * ks[0] + bits[0]] = 1;
        ss->tops[side > 0]++;
        ss->crit_tops[side > 0]++;
        return NNFI_OK;
    }
    unsigned h = n / 2;
    uint64_t before = ss->crit_tops[side > 0];
    NNFI_TRY(group_test(sc, bk, ss, ks, bits, h, side, 0));
    int first_clean = ss->crit_tops[side > 0] == before;
    return group_test(sc, bk, ss, ks + h, bits + h, n - h, side, first_clean);
}

/* The pool size for a side: about 1/sqrt(p), p the fraction of its tops
 * found critical so far (Dorfman's optimum), within [1, pool]. */
static unsigned pool_size(const site_state *ss, int side, uint64_t pool)
{
    if (ss->unpooled) return 1;
    double p = ((double)ss->crit_tops[side > 0] + 0.5) / ((double)ss->tops[side > 0] + 1);
    double k = floor(1 / sqrt(p));
    if (k < 1) k = 1;
    if (k > (double)pool) k = (double)pool;
    return (unsigned)k;
}

/* The pool size for bit b in the flip-by-flip mode: about ln 2 / (2p), p
 * the fraction of the site's flips of bit b found critical so far (the
 * size that minimises 1/k + 2p log2 k, the tests per flip of a pool with
 * binary splitting, when few flips are critical). */
static unsigned bit_pool(const site_state *ss, unsigned b, uint64_t pool)
{
    if (ss->unpooled) return 1;
    double p = ((double)ss->crit_bit[b] + 0.5) / ((double)ss->seen_bit[b] + 1);
    double k = floor(0.35 / p);
    if (k < BIT_POOL_MIN) return 1; /* a dense bit: pools would save little and mask more */
    return k < 1 ? 1 : k > (double)pool ? (unsigned)pool : (unsigned)k;
}

static uint64_t popcount64(uint64_t v)
{
    uint64_t n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

/* The pilot elements a site wants: a sixteenth of its draws, 1 to `pilot`,
 * counted in 32-bit elements: an element with fewer candidate bits costs
 * less to classify exhaustively, so proportionally more of them (int8: 4x,
 * fp16: 2x); never more than the site's draws. */
static uint64_t pilot_wanted(const site_state *v, const elem *x, uint64_t pilot)
{
    uint64_t nb = popcount64(x->mask);
    uint64_t scale = nb && nb < 32 ? 32 / nb : 1;
    uint64_t want = (v->drawn / 16 > 1 ? v->drawn / 16 : 1) * scale;
    if (want > pilot * scale) want = pilot * scale;
    return want < v->drawn ? want : v->drawn;
}

/* The largest flip on `side` of x that is not certainly critical (the flip
 * the search would group-test first), or -1. */
static int pilot_top(const elem *x, int side)
{
    uint8_t undecided[64];
    for (unsigned b = 0; b < 64; b++) undecided[b] = certain_critical(x, b) ? 1 : UNKNOWN;
    return side_top(x, undecided, side);
}

/* Verify on the pilot that the site's group tests do not mask: the pilot
 * elements' flips the search would pool (each side's largest flip on
 * monotone sites, side = -1 or +1; flips of bit `bit` in the flip-by-flip
 * mode, side = 0), in draw order, in groups of the pool size the search
 * starts with; each group holding a critical flip (known from the pilot) is
 * evaluated whole, and if one comes out harmless (flips that cancel, or
 * saturate together: quantized requantization clamps) the site is searched
 * without pools. Groups of harmless flips are not tested (a critical group
 * is split down to single flips, so it costs only time). */
static nnfi_status verify_pools(search_ctx *sc, book *bk, site_state *ss, uint32_t site, int side, unsigned bit,
                                const uint8_t *is_pilot, uint64_t n)
{
    unsigned g = side ? pool_size(ss, side, sc->s->pool) : bit_pool(ss, bit, sc->s->pool), m = 0, crit = 0;
    if (g < 2) return NNFI_OK;
    elem *xs[NNFI_SEARCH_POOL_MAX];
    unsigned bits[NNFI_SEARCH_POOL_MAX];
    uint64_t first = 0;
    for (uint64_t k = 0; k <= n && !ss->unpooled; k++) {
        if (k < n) {
            if (!is_pilot[k] || bk->xs[k].site != site) continue;
            int top = side ? pilot_top(&bk->xs[k], side) : (bk->xs[k].mask >> bit & 1) ? (int)bit : -1;
            if (top < 0 || (!side && certain_critical(&bk->xs[k], bit))) continue;
            if (!m) first = k;
            xs[m] = &bk->xs[k];
            bits[m++] = (unsigned)top;
            crit += bk->lab[64 * k + (unsigned)top] == 1;
        }
        if (m && (m == g || k == n)) {
            if (crit && m > 1) {
                int c;
                NNFI_TRY(eval_group(sc, xs, bits, m, &c));
                charge(bk, first, bits[0]);
                if (!c) ss->unpooled = 1;
            }
            m = crit = 0;
        }
    }
    return NNFI_OK;
}

/* Below a critical top (already labelled), the side's first critical flip by
 * binary search over the undecided flips sorted by change. */
static nnfi_status search_below(search_ctx *sc, book *bk, uint64_t k, int side)
{
    elem *x = &bk->xs[k];
    uint8_t *lab = bk->lab + 64 * k;
    unsigned band[64], n = 0;
    for (unsigned b = 0; b < 64; b++)
        if ((x->mask >> b & 1) && lab[b] == UNKNOWN && flip_side(x, b) == side) band[n++] = b;
    sort_by_change(x, band, n);
    unsigned lo = 0, hi = n;
    while (lo < hi) {
        unsigned mid = (lo + hi) / 2;
        int c;
        NNFI_TRY(eval_single(sc, x, band[mid], &c));
        charge(bk, k, band[mid]);
        if (c) hi = mid;
        else lo = mid + 1;
    }
    for (unsigned i = 0; i < n; i++) lab[band[i]] = i >= lo;
    return NNFI_OK;
}

/* The search on the non-pilot elements of one site, one side. */
static nnfi_status search_side(search_ctx *sc, book *bk, site_state *ss, uint32_t site, int side,
                               const uint8_t *is_pilot, uint64_t n)
{
    uint64_t ks[NNFI_SEARCH_POOL_MAX];
    unsigned bits[NNFI_SEARCH_POOL_MAX], m = 0;
    for (uint64_t k = 0; k <= n; k++) {
        int flush = k == n;
        if (!flush) {
            if (is_pilot[k] || bk->xs[k].site != site) continue;
            int top = side_top(&bk->xs[k], bk->lab + 64 * k, side);
            if (top < 0) continue;
            ks[m] = k;
            bits[m++] = (unsigned)top;
            flush = m >= pool_size(ss, side, sc->s->pool);
        }
        if (flush && m) {
            NNFI_TRY(group_test(sc, bk, ss, ks, bits, m, side, 0));
            for (unsigned i = 0; i < m; i++)
                if (bk->lab[64 * ks[i] + bits[i]] == 1) NNFI_TRY(search_below(sc, bk, ks[i], side));
            m = 0;
        }
    }
    return NNFI_OK;
}

/* A group test of single flips (ks[i], bits[i]) of distinct elements, no
 * monotonicity used: a harmless group makes each of its flips harmless, a
 * critical one is split in halves down to single flips (`positive`: known
 * to hold a critical flip, as in group_test). */
static nnfi_status flip_group_test(search_ctx *sc, book *bk, const uint64_t *ks, const unsigned *bits, unsigned n,
                                   int positive)
{
    int c = 1;
    if (!positive || n == 1) {
        elem *xs[NNFI_SEARCH_POOL_MAX];
        for (unsigned i = 0; i < n; i++) xs[i] = &bk->xs[ks[i]];
        if (n == 1) {
            NNFI_TRY(eval_single(sc, xs[0], bits[0], &c));
        } else {
            NNFI_TRY(eval_group(sc, xs, bits, n, &c));
        }
        charge(bk, ks[0], bits[0]);
    }
    if (!c || n == 1) {
        for (unsigned i = 0; i < n; i++) bk->lab[64 * ks[i] + bits[i]] = (uint8_t)c;
        return NNFI_OK;
    }
    unsigned h = n / 2, crit = 0;
    NNFI_TRY(flip_group_test(sc, bk, ks, bits, h, 0));
    for (unsigned i = 0; i < h; i++) crit += bk->lab[64 * ks[i] + bits[i]] == 1;
    return flip_group_test(sc, bk, ks + h, bits + h, n - h, crit == 0);
}

/* The flip-by-flip mode (sites not monotone in the pilot, and integer
 * sites, whose rounding and clamps make criticality non-monotone in the
 * change): every undecided flip of the site's non-pilot elements is
 * decided by group tests of flips of one bit position across elements
 * (pools per bit, learned from the pilot and as the search goes). */
static nnfi_status search_flips(search_ctx *sc, book *bk, site_state *ss, uint32_t site, const uint8_t *is_pilot,
                                uint64_t n)
{
    for (unsigned b = 0; b < 64; b++) {
        uint64_t ks[NNFI_SEARCH_POOL_MAX];
        unsigned bits[NNFI_SEARCH_POOL_MAX], m = 0;
        for (uint64_t k = 0; k <= n; k++) {
            int flush = k == n;
            if (!flush) {
                if (is_pilot[k] || bk->xs[k].site != site || !(bk->xs[k].mask >> b & 1) ||
                    bk->lab[64 * k + b] != UNKNOWN)
                    continue;
                ks[m] = k;
                bits[m++] = b;
                flush = m >= bit_pool(ss, b, sc->s->pool);
            }
            if (flush && m) {
                NNFI_TRY(flip_group_test(sc, bk, ks, bits, m, 0));
                for (unsigned i = 0; i < m; i++) {
                    ss->seen_bit[b]++;
                    ss->crit_bit[b] += bk->lab[64 * ks[i] + b] == 1;
                }
                m = 0;
            }
        }
    }
    return NNFI_OK;
}

static nnfi_status push(nnfi_search_result *r, uint64_t *cap, const elem *x, unsigned b, int critical, nnfi_method m,
                        unsigned evaluations)
{
    if (r->n_labels == *cap) {
        uint64_t nc = *cap ? 2 * *cap : 1024;
        nnfi_bit_label *l = realloc(r->labels, nc * sizeof *l);
        if (!l) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu labels", (unsigned long long)nc);
        r->labels = l;
        *cap = nc;
    }
    r->labels[r->n_labels++] = (nnfi_bit_label){x->element, x->site, (uint8_t)b, (uint8_t)(critical != 0),
                                                (uint8_t)m, (uint8_t)evaluations};
    return NNFI_OK;
}

static int cmp_stratum(const void *a, const void *b)
{
    const nnfi_bit_label *x = a, *y = b;
    if (x->site != y->site) return x->site < y->site ? -1 : 1;
    return (int)x->bit - (int)y->bit;
}

static nnfi_status tally_strata(nnfi_search_result *r, uint64_t n_search)
{
    nnfi_bit_label *tmp = malloc((n_search ? n_search : 1) * sizeof *tmp);
    r->strata = calloc(n_search ? n_search : 1, sizeof *r->strata);
    if (!tmp || !r->strata) {
        free(tmp);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    memcpy(tmp, r->labels, n_search * sizeof *tmp);
    qsort(tmp, n_search, sizeof *tmp, cmp_stratum);
    r->confidence = 0.95;
    for (uint64_t i = 0; i < n_search; i++) {
        nnfi_search_stratum *s = r->n_strata ? &r->strata[r->n_strata - 1] : NULL;
        if (!s || s->site != tmp[i].site || s->bit != tmp[i].bit) {
            s = &r->strata[r->n_strata++];
            s->site = tmp[i].site;
            s->bit = tmp[i].bit;
        }
        s->elements++;
        s->critical += tmp[i].critical;
    }
    for (uint64_t i = 0; i < r->n_strata; i++) {
        nnfi_search_stratum *s = &r->strata[i];
        s->fraction = (double)s->critical / (double)s->elements;
        nnfi_wilson_interval(s->critical, s->elements, r->confidence, &s->lo, &s->hi);
    }
    free(tmp);
    return NNFI_OK;
}

/* Draw the elements (the group's sampler, distinct, trial 0 of point 0). */
static nnfi_status draw(nnfi_worker *w, const nnfi_campaign *c, unsigned e, int64_t only_site, book *bk,
                        uint64_t *n_out, nnfi_search_result *out)
{
    const nnfi_search_cfg *s = c->experiments[e].search;
    const nnfi_site *sites;
    size_t n_sites;
    const nnfi_group_plan *gp;
    NNFI_TRY(nnfi_worker_sites(w, e, &sites, &n_sites));
    NNFI_TRY(nnfi_worker_group_plan(w, e, 0, &gp));
    nnfi_group_plan g = *gp;
    g.distinct = 1;
    uint64_t n = s->elements < gp->total ? s->elements : gp->total;
    if (gp->element >= 0 && n > 1) n = 1;
    nnfi_fault *f = malloc((n ? n : 1) * sizeof *f);
    bk->xs = calloc(n ? n : 1, sizeof *bk->xs);
    bk->lab = malloc((n ? n : 1) * 64);
    bk->cnt = calloc(n ? n : 1, 64);
    bk->checked = calloc(n ? n : 1, 1);
    if (!f || !bk->xs || !bk->lab || !bk->cnt || !bk->checked) {
        free(f);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu elements", (unsigned long long)n);
    }
    memset(bk->lab, UNKNOWN, (n ? n : 1) * 64);
    nnfi_sampler_faults(&g, (nnfi_fault_id){c->seed, e, 0, 0, 0}, 0, n, f);
    uint64_t kept = 0;
    for (uint64_t j = 0; j < n; j++) { /* the sites asked for, in draw order */
        if (only_site >= 0 && f[j].site != (uint64_t)only_site) continue;
        uint64_t k = kept++;
        bk->checked[k] = j < s->exhaustive_check;
        f[k] = f[j];
        const nnfi_site *site = &sites[f[k].site];
        if (!site->data || site->device >= 0) {
            free(f);
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "site '%s' is not in host memory: the search reads element values on "
                                                 "the host\n  hint: search with the model on the CPU (device: cpu)",
                             site->name);
        }
        bk->xs[k] = (elem){f[k].site, f[k].element, site->dtype,
                           nnfi_elem_load(site->data, site->dtype, f[k].element), gp->candidates[site->dtype], 0, 0};
        out->bits += popcount64(bk->xs[k].mask);
        for (unsigned b = 0; b < 64; b++)
            if ((bk->xs[k].mask >> b & 1) && certain_critical(&bk->xs[k], b)) bk->lab[64 * k + b] = 1;
    }
    free(f);
    *n_out = kept;
    return NNFI_OK;
}

/* The search's labels then the exhaustive check's, as rows; recall and precision. */
static nnfi_status check_and_emit(search_ctx *sc, book *bk, uint64_t n, nnfi_search_result *out)
{
    uint64_t cap = 0, checked = 0;
    for (uint64_t k = 0; k < n; k++)
        for (unsigned b = 0; b < 64; b++) {
            if (!(bk->xs[k].mask >> b & 1)) continue;
            unsigned cnt = bk->cnt[64 * k + b];
            NNFI_TRY(push(out, &cap, &bk->xs[k], b, bk->lab[64 * k + b], NNFI_METHOD_SEARCH, cnt));
            out->predicted += cnt == 0;
            if (bk->checked[k]) out->evals_search_checked += cnt;
        }
    uint64_t n_search = out->n_labels;
    for (uint64_t k = 0; k < n; k++) {
        if (!bk->checked[k]) continue;
        checked++;
        uint8_t truth[64];
        NNFI_TRY(classify_all(sc, bk, k, truth, 0, &out->evals_exhaustive));
        for (unsigned b = 0; b < 64; b++) {
            if (!(bk->xs[k].mask >> b & 1)) continue;
            NNFI_TRY(push(out, &cap, &bk->xs[k], b, truth[b], NNFI_METHOD_EXHAUSTIVE, 1));
            int got = bk->lab[64 * k + b] == 1, want = truth[b];
            out->tp += got && want;
            out->fp += got && !want;
            out->fn += !got && want;
        }
    }
    out->checked = checked;
    return sc->s->strata_width > 0 ? NNFI_OK : tally_strata(out, n_search);
}

nnfi_status nnfi_search_run(nnfi_worker *w, const nnfi_campaign *c, unsigned e, int64_t only_site,
                            nnfi_search_result *out)
{
    memset(out, 0, sizeof *out);
    out->experiment = e;
    const nnfi_search_cfg *s = c->experiments[e].search;
    double t0 = now_s();
    book bk = {0};
    uint64_t n = 0;
    search_ctx sc = {w, e, s};
    const nnfi_site *sites;
    size_t n_sites = 0;
    site_state *ss = NULL;
    uint8_t *is_pilot = NULL;
    nnfi_status st = nnfi_worker_sites(w, e, &sites, &n_sites);
    if (st == NNFI_OK) st = draw(w, c, e, only_site, &bk, &n, out);
    if (st == NNFI_OK) {
        ss = calloc(n_sites ? n_sites : 1, sizeof *ss);
        is_pilot = calloc(n ? n : 1, 1);
        if (!ss || !is_pilot) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n_sites && ss; i++) ss[i].monotone = 1; /* pilot 0: assumed, as BinFI does */
    for (uint64_t k = 0; st == NNFI_OK && k < n; k++) ss[bk.xs[k].site].drawn++;
    for (uint64_t k = 0; st == NNFI_OK && k < n; k++) /* the pilot's size per site */
        if (!ss[bk.xs[k].site].want) ss[bk.xs[k].site].want = pilot_wanted(&ss[bk.xs[k].site], &bk.xs[k], s->pilot);
    /* 1. the pilot: the last drawn elements of each site, exhaustively
     * (the last, so that the exhaustive check, on the first ones, measures
     * the search on elements the pilot did not see) */
    for (uint64_t k = n; st == NNFI_OK && k-- > 0;) {
        site_state *v = &ss[bk.xs[k].site];
        if (v->pilot >= v->want) continue;
        is_pilot[k] = 1;
        v->pilot++;
        out->pilot_elements++;
        uint64_t ev = 0;
        uint8_t *lab = bk.lab + 64 * k;
        if ((st = classify_all(&sc, &bk, k, lab, 1, &ev)) != NNFI_OK) break;
        if (!nnfi_dtype_is_float(bk.xs[k].dt) || !side_monotone(&bk.xs[k], lab, 1) ||
            !side_monotone(&bk.xs[k], lab, -1))
            v->monotone = 0; /* integer sites: never assumed monotone (rounding, clamps) */
        for (unsigned b = 0; b < 64; b++)
            if ((bk.xs[k].mask >> b & 1) && !certain_critical(&bk.xs[k], b)) {
                v->seen_bit[b]++;
                v->crit_bit[b] += lab[b];
            }
        for (int side = -1; side <= 1; side += 2) { /* its side tops, for the pool sizes */
            int top = pilot_top(&bk.xs[k], side);
            if (top < 0) continue;
            v->tops[side > 0]++;
            v->crit_tops[side > 0] += lab[top];
        }
    }
    /* the pools the search will use, tried on the pilot's own flips; a
     * site with few draws is searched without pools (they would save little,
     * and its pilot is too small to try them) */
    for (size_t i = 0; st == NNFI_OK && i < n_sites; i++) {
        if (ss[i].drawn && ss[i].drawn < POOL_MIN_DRAWN) ss[i].unpooled = 1;
        for (int side = -1; st == NNFI_OK && side <= 1 && ss[i].pilot && ss[i].monotone; side += 2)
            st = verify_pools(&sc, &bk, &ss[i], (uint32_t)i, side, 0, is_pilot, n);
        for (unsigned b = 0; st == NNFI_OK && b < 64 && ss[i].pilot && !ss[i].monotone; b++)
            st = verify_pools(&sc, &bk, &ss[i], (uint32_t)i, 0, b, is_pilot, n);
    }
    for (size_t i = 0; i < n_sites && ss; i++) {
        out->sites += ss[i].drawn > 0;
        out->nonmonotone_sites += ss[i].drawn > 0 && !ss[i].monotone;
        out->unpooled_sites += ss[i].drawn > 0 && ss[i].unpooled;
    }
    /* 2. the search: non-monotone and integer sites flip by flip (group
     * tests per bit position); monotone ones by group tests of each side's
     * largest flip and binary searches below */
    for (size_t i = 0; st == NNFI_OK && i < n_sites; i++) {
        if (!ss[i].drawn) continue;
        if (!ss[i].monotone) st = search_flips(&sc, &bk, &ss[i], (uint32_t)i, is_pilot, n);
        for (int side = -1; st == NNFI_OK && side <= 1 && ss[i].monotone; side += 2)
            st = search_side(&sc, &bk, &ss[i], (uint32_t)i, side, is_pilot, n);
    }
    out->evals_search = bk.evals;
    out->elements = n;
    /* 3. the exhaustive check, the rows, the strata */
    if (st == NNFI_OK) st = check_and_emit(&sc, &bk, n, out);
    if (st == NNFI_OK && s->strata_width > 0) {
        const nnfi_group_plan *gp;
        uint8_t *searched = calloc(n_sites ? n_sites : 1, 1);
        st = searched ? nnfi_worker_group_plan(w, e, 0, &gp) : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        for (size_t i = 0; st == NNFI_OK && i < n_sites; i++) searched[i] = ss[i].drawn > 0;
        if (st == NNFI_OK) st = search_strata(&sc, sites, gp, searched, c->seed, out);
        free(searched);
    }
    if (st == NNFI_OK) st = nnfi_search_result_finish(out);
    out->seconds = now_s() - t0;
    free(bk.xs);
    free(bk.checked);
    free(bk.lab);
    free(bk.cnt);
    free(ss);
    free(is_pilot);
    if (st != NNFI_OK) nnfi_search_result_free(out);
    return st;
}

void nnfi_search_result_free(nnfi_search_result *r)
{
    if (!r) return;
    free(r->labels);
    free(r->strata);
    r->labels = NULL;
    r->strata = NULL;
    r->n_labels = r->n_strata = 0;
}
