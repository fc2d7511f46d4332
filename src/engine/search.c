/* search.c - the critical-bit search (search.h): draw the elements, classify
 * the pilot elements exhaustively, derive each site's evidence, label every
 * element's bits by prediction and binary search, check against exhaustive
 * labels, and tally the strata. */
#include "nnfi/search.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnfi/outcome.h"
#include "nnfi/plan.h"
#include "nnfi/sampler.h"

#define HUGE_VALUE 18446744073709551616.0 /* 2^64: a flip to this magnitude or more counts as critical unevaluated */

typedef struct elem {
    uint32_t site;
    uint64_t element;
    nnfi_dtype dt;
    uint64_t word; /* the element's bits */
    uint64_t mask; /* candidate bits */
    uint64_t known, crit; /* bits evaluated so far (either method) and which of them were critical */
} elem;

typedef struct site_evidence {
    uint64_t pilot;  /* pilot elements seen */
    int monotone;    /* no pilot element went from critical back to harmless as a change grew */
    int probe_ok;    /* no pilot element had a critical flip the probe rule calls harmless */
} site_evidence;

/* What one evaluated flip (the probe) says about the element's other flips
 * under a linear response: a flip changing the value by t times the probe's
 * change (t > 0 the same way, t < 0 the other) changes some sample's top-1
 * once t passes t_same (resp. -t passes t_opp). */
typedef struct probe_fit {
    unsigned bit;
    int side;         /* +1 / -1: the sign of the probe's change */
    double mag;       /* |change| of the probe */
    int critical;
    double t_same, t_opp;
} probe_fit;

typedef struct search_ctx {
    nnfi_worker *w;
    unsigned e;
    const nnfi_search_cfg *s;
    const float *golden; /* rows x classes */
    uint64_t rows;       /* samples x positions */
    uint32_t classes;
    float *faulty;       /* rows x classes scratch */
} search_ctx;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The value of element x's bits with bit b flipped, minus its value. */
static double flip_change(const elem *x, unsigned b, double *after)
{
    double v0 = nnfi_value_decode(x->word, x->dt);
    *after = nnfi_value_decode(x->word ^ (UINT64_C(1) << b), x->dt);
    return *after - v0;
}

static int certain_critical(const elem *x, unsigned b)
{
    double after;
    flip_change(x, b, &after);
    return nnfi_dtype_is_float(x->dt) && (!isfinite(after) || fabs(after) >= HUGE_VALUE);
}

static int meets(const search_ctx *sc, const nnfi_outcome *o, int failed)
{
    if (failed || o->nonfinite > 0) return 1;
    switch (sc->s->criterion) {
    case NNFI_WATCH_SDC: return o->mismatches > 0;
    case NNFI_WATCH_CRITICAL_SDC: return o->critical > 0;
    case NNFI_WATCH_ACCURACY_DROP: return o->golden_accuracy - o->accuracy > sc->s->threshold;
    case NNFI_WATCH_DUE: return 0;
    }
    return 0;
}

/* The linear thresholds of a probe from its faulty logits (sc->faulty). */
static void fit_probe(const search_ctx *sc, probe_fit *p)
{
    p->t_same = p->t_opp = INFINITY;
    for (uint64_t r = 0; r < sc->rows; r++) {
        const float *g = sc->golden + r * sc->classes, *f = sc->faulty + r * sc->classes;
        uint32_t top = nnfi_top1(g, sc->classes);
        double dg = (double)f[top] - (double)g[top];
        for (uint32_t j = 0; j < sc->classes; j++) {
            if (j == top) continue;
            double margin = (double)g[top] - (double)g[j];
            double slope = ((double)f[j] - (double)g[j]) - dg;
            if (!isfinite(slope) || !isfinite(margin)) { /* NaN/Inf: nothing can be predicted */
                p->t_same = p->t_opp = 0;
                return;
            }
            /* a tie (margin 0, as quantized logits often are) flips with
             * any change that favours class j: only on that side */
            if (slope > 0 && margin / slope < p->t_same) p->t_same = margin / slope;
            if (slope < 0 && margin / -slope < p->t_opp) p->t_opp = margin / -slope;
        }
    }
}

/* Is flipping bit b of x critical? Evaluated once per run whichever method
 * asks first (each method counts its own evaluations). With fit (the
 * element's probe) the faulty logits are kept and fitted too. */
static nnfi_status evaluate(search_ctx *sc, elem *x, unsigned b, int *critical, probe_fit *fit)
{
    uint64_t bit = UINT64_C(1) << b;
    if (!(x->known & bit) || fit) {
        nnfi_fault f;
        memset(&f, 0, sizeof f);
        f.element = x->element;
        f.mask = bit;
        f.site = x->site;
        f.op = NNFI_OP_FLIP;
        f.when = -1;
        f.t_last = UINT32_MAX;
        nnfi_outcome o;
        int failed = 0;
        NNFI_TRY(nnfi_worker_eval_faults(sc->w, sc->e, &f, 1, &o, &failed, fit ? sc->faulty : NULL));
        x->known |= bit;
        if (meets(sc, &o, failed)) x->crit |= bit;
        if (fit) {
            fit->critical = (x->crit & bit) != 0;
            if (failed) fit->t_same = fit->t_opp = 0;
            else fit_probe(sc, fit);
        }
    }
    *critical = (x->crit & bit) != 0;
    return NNFI_OK;
}

static nnfi_status push(nnfi_search_result *r, uint64_t *cap, const elem *x, unsigned b, int critical, nnfi_method m,
                        int evaluated)
{
    if (r->n_labels == *cap) {
        uint64_t nc = *cap ? 2 * *cap : 1024;
        nnfi_bit_label *l = realloc(r->labels, nc * sizeof *l);
        if (!l) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu labels", (unsigned long long)nc);
        r->labels = l;
        *cap = nc;
    }
    r->labels[r->n_labels++] = (nnfi_bit_label){x->element, x->site, (uint8_t)b, (uint8_t)(critical != 0),
                                                (uint8_t)m, (uint8_t)(evaluated != 0)};
    return NNFI_OK;
}

#define UNKNOWN 2

/* The element's flip with the largest change that is not certain: the
 * probe. 0 when it has none. */
static int pick_probe(const elem *x, probe_fit *p)
{
    memset(p, 0, sizeof *p);
    int found = 0;
    for (unsigned b = 0; b < 64; b++) {
        double after, d;
        if (!(x->mask >> b & 1) || certain_critical(x, b)) continue;
        d = flip_change(x, b, &after);
        if (d != 0 && fabs(d) > p->mag) {
            p->bit = b;
            p->side = d > 0 ? 1 : -1;
            p->mag = fabs(d);
            found = 1;
        }
    }
    return found;
}

/* A label for flip b of x from its probe, or UNKNOWN: below the probe on
 * its own side when the probe is harmless, above it when critical
 * (monotone sites); beyond the linear thresholds with the safety factor
 * (sites where the rule held in the pilot; a critical label only for the
 * sdc criterion, which the linear thresholds model). */
static int predict(const search_ctx *sc, const elem *x, unsigned b, const probe_fit *p, int monotone, int probe_ok)
{
    double after, d = flip_change(x, b, &after), m = fabs(d);
    int same = (d > 0 ? 1 : -1) == p->side;
    if (same && monotone && !p->critical && m <= p->mag) return 0;
    if (same && monotone && p->critical && m >= p->mag) return 1;
    if (!probe_ok || d == 0) return UNKNOWN;
    double t = m / p->mag, lim = same ? p->t_same : p->t_opp, k = sc->s->safety;
    if (!(lim > 0)) return UNKNOWN;
    if (t < lim / k) return 0;
    if (sc->s->criterion == NNFI_WATCH_SDC && t > lim * k) return 1;
    return UNKNOWN;
}

/* Every candidate bit evaluated (the probe first, fitted, into *p when
 * given): labels into lab[b], evald[b] = 1. */
static nnfi_status classify_all(search_ctx *sc, elem *x, uint8_t lab[64], uint8_t evald[64], uint64_t *evals,
                                probe_fit *p)
{
    if (p && pick_probe(x, p)) {
        int c;
        NNFI_TRY(evaluate(sc, x, p->bit, &c, p));
    }
    for (unsigned b = 0; b < 64; b++) {
        if (!(x->mask >> b & 1)) continue;
        int c;
        NNFI_TRY(evaluate(sc, x, b, &c, NULL));
        lab[b] = (uint8_t)c;
        evald[b] = 1;
        (*evals)++;
    }
    return NNFI_OK;
}

/* Does one side's sequence of labels (by increasing change) never go from
 * critical back to harmless? */
static int side_monotone(const elem *x, const uint8_t lab[64], int side)
{
    unsigned order[64], n = 0;
    double mag[64];
    for (unsigned b = 0; b < 64; b++) {
        double after, d;
        if (!(x->mask >> b & 1) || certain_critical(x, b)) continue;
        d = flip_change(x, b, &after);
        if ((side > 0) != (d > 0) || d == 0) continue;
        unsigned i = n++;
        while (i > 0 && mag[i - 1] > fabs(d)) {
            mag[i] = mag[i - 1];
            order[i] = order[i - 1];
            i--;
        }
        mag[i] = fabs(d);
        order[i] = b;
    }
    for (unsigned i = 1; i < n; i++)
        if (lab[order[i - 1]] && !lab[order[i]]) return 0;
    return 1;
}

/* A pilot element's exhaustive labels against the rules: monotone on both
 * sides, and no critical flip the probe calls harmless. */
static void learn(const search_ctx *sc, site_evidence *ev, const elem *x, const uint8_t lab[64], const probe_fit *p,
                  int have_probe)
{
    ev->pilot++;
    if (!side_monotone(x, lab, +1) || !side_monotone(x, lab, -1)) ev->monotone = 0;
    for (unsigned b = 0; have_probe && b < 64; b++) {
        if (!(x->mask >> b & 1) || certain_critical(x, b) || b == p->bit) continue;
        if (lab[b] && predict(sc, x, b, p, 1, 1) == 0) ev->probe_ok = 0;
    }
}

/* Sort flips[0..n) by increasing change. */
static void sort_by_change(const elem *x, unsigned *flips, unsigned n)
{
    for (unsigned i = 1; i < n; i++) {
        unsigned b = flips[i], j = i;
        double after, m = fabs(flip_change(x, b, &after));
        while (j > 0 && fabs(flip_change(x, flips[j - 1], &after)) > m) {
            flips[j] = flips[j - 1];
            j--;
        }
        flips[j] = b;
    }
}

/* The search's labels of a non-pilot element. */
static nnfi_status classify_search(search_ctx *sc, elem *x, const site_evidence *ev, uint8_t lab[64],
                                   uint8_t evald[64], uint64_t *evals)
{
    for (unsigned b = 0; b < 64; b++)
        if (x->mask >> b & 1) lab[b] = certain_critical(x, b) ? 1 : UNKNOWN;
    probe_fit p;
    if (ev->monotone && pick_probe(x, &p)) {
        int c;
        NNFI_TRY(evaluate(sc, x, p.bit, &c, &p));
        lab[p.bit] = (uint8_t)c;
        evald[p.bit] = 1;
        (*evals)++;
        for (unsigned b = 0; b < 64; b++)
            if ((x->mask >> b & 1) && lab[b] == UNKNOWN) lab[b] = (uint8_t)predict(sc, x, b, &p, 1, ev->probe_ok);
    }
    for (int side = -1; side <= 1; side += 2) {
        unsigned band[64], n = 0;
        for (unsigned b = 0; b < 64; b++) {
            double after, d;
            if (!(x->mask >> b & 1) || lab[b] != UNKNOWN) continue;
            d = flip_change(x, b, &after);
            if ((d > 0) == (side > 0)) band[n++] = b;
        }
        sort_by_change(x, band, n);
        if (!ev->monotone) { /* the site broke monotonicity in the pilot: every flip evaluated */
            for (unsigned i = 0; i < n; i++) {
                int c;
                NNFI_TRY(evaluate(sc, x, band[i], &c, NULL));
                lab[band[i]] = (uint8_t)c;
                evald[band[i]] = 1;
                (*evals)++;
            }
            continue;
        }
        /* most bands are harmless throughout: try the largest change first
         * (harmless: so is the whole band), then a binary search below it */
        unsigned lo = 0, hi = n; /* the first critical flip of the band is at lo */
        if (n) {
            int c;
            NNFI_TRY(evaluate(sc, x, band[n - 1], &c, NULL));
            evald[band[n - 1]] = 1;
            (*evals)++;
            if (c) hi = n - 1;
            else lo = n;
        }
        while (lo < hi) {
            unsigned mid = (lo + hi) / 2;
            int c;
            NNFI_TRY(evaluate(sc, x, band[mid], &c, NULL));
            evald[band[mid]] = 1;
            (*evals)++;
            if (c) hi = mid;
            else lo = mid + 1;
        }
        for (unsigned i = 0; i < n; i++) lab[band[i]] = i >= lo;
    }
    return NNFI_OK;
}

static nnfi_status emit(nnfi_search_result *r, uint64_t *cap, const elem *x, const uint8_t lab[64],
                        const uint8_t evald[64], nnfi_method m)
{
    for (unsigned b = 0; b < 64; b++)
        if (x->mask >> b & 1) NNFI_TRY(push(r, cap, x, b, lab[b], m, evald[b]));
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

static uint64_t popcount64(uint64_t v)
{
    uint64_t n = 0;
    for (; v; v &= v - 1) n++;
    return n;
}

nnfi_status nnfi_search_run(nnfi_worker *w, const nnfi_campaign *c, unsigned e, nnfi_search_result *out)
{
    memset(out, 0, sizeof *out);
    out->experiment = e;
    const nnfi_search_cfg *s = c->experiments[e].search;
    const nnfi_site *sites;
    size_t n_sites;
    const nnfi_group_plan *gp;
    NNFI_TRY(nnfi_worker_sites(w, e, &sites, &n_sites));
    NNFI_TRY(nnfi_worker_group_plan(w, e, 0, &gp));
    double t0 = now_s();
    /* the draw: the group's sampler, distinct, trial 0 of point 0 */
    nnfi_group_plan draw = *gp;
    draw.distinct = 1;
    uint64_t n = s->elements < gp->total ? s->elements : gp->total;
    if (gp->element >= 0) n = n < 1 ? n : 1;
    nnfi_fault *f = malloc((n ? n : 1) * sizeof *f);
    elem *xs = calloc(n ? n : 1, sizeof *xs);
    site_evidence *ev = calloc(n_sites, sizeof *ev);
    uint64_t cap = 0;
    nnfi_status st = NNFI_OK;
    if (!f || !xs || !ev) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu elements", (unsigned long long)n);
    if (st == NNFI_OK) {
        nnfi_sampler_faults(&draw, (nnfi_fault_id){c->seed, e, 0, 0, 0}, 0, n, f);
        for (uint64_t k = 0; k < n; k++) {
            const nnfi_site *site = &sites[f[k].site];
            if (!site->data || site->device >= 0) {
                st = NNFI_FAIL(NNFI_E_INVALID, "site '%s' is not in host memory: the search reads element values "
                                               "on the host\n  hint: search on a CPU model (device: cpu)", site->name);
                break;
            }
            xs[k] = (elem){f[k].site, f[k].element, site->dtype, nnfi_elem_load(site->data, site->dtype, f[k].element),
                           gp->candidates[site->dtype], 0, 0};
            out->bits += popcount64(xs[k].mask);
        }
    }
    search_ctx sc = {w, e, s, NULL, 0, 0, NULL};
    nnfi_model_facts mf;
    unsigned mi = 0;
    while (strcmp(c->models[mi].name, c->experiments[e].model) != 0) mi++;
    if (st == NNFI_OK) st = nnfi_worker_model_facts(w, mi, &mf);
    if (st == NNFI_OK) {
        sc.golden = mf.golden_logits;
        sc.rows = mf.samples * (mf.positions ? mf.positions : 1);
        sc.classes = mf.classes;
        sc.faulty = malloc((sc.rows ? sc.rows : 1) * sc.classes * sizeof *sc.faulty);
        if (!sc.faulty) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu logits", (unsigned long long)sc.rows);
    }
    /* pilot 0: nothing verified; monotonicity assumed (a plain BinFI-style
     * search), the probe's linear rule not used */
    for (size_t i = 0; i < n_sites; i++) ev[i].monotone = 1, ev[i].probe_ok = s->pilot > 0;
    uint8_t *lab = malloc((n ? n : 1) * 64), *evald = calloc(n ? n : 1, 64);
    uint8_t *is_pilot = calloc(n ? n : 1, 1);
    if (st == NNFI_OK && (!lab || !evald || !is_pilot)) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    /* 1. the pilot: the last `pilot` drawn elements of each site, exhaustively
     * (the last, so that the exhaustive check, on the first ones, measures
     * the search on elements the pilot did not see) */
    for (uint64_t k = n; st == NNFI_OK && k-- > 0;) {
        site_evidence *v = &ev[xs[k].site];
        if (v->pilot >= s->pilot) continue;
        is_pilot[k] = 1;
        out->pilot_elements++;
        uint64_t ev0 = 0;
        probe_fit pf;
        st = classify_all(&sc, &xs[k], lab + 64 * k, evald + 64 * k, &ev0, &pf);
        out->evals_search += ev0;
        if (k < s->exhaustive_check) out->evals_search_checked += ev0;
        if (st == NNFI_OK) learn(&sc, v, &xs[k], lab + 64 * k, &pf, pf.mag > 0);
    }
    for (size_t i = 0; i < n_sites; i++) {
        if (ev[i].pilot) {
            out->sites++;
            out->nonmonotone_sites += !ev[i].monotone;
        }
    }
    /* 2. the search on every other element */
    for (uint64_t k = 0; st == NNFI_OK && k < n; k++) {
        if (is_pilot[k]) continue;
        uint64_t ev0 = 0;
        st = classify_search(&sc, &xs[k], &ev[xs[k].site], lab + 64 * k, evald + 64 * k, &ev0);
        out->evals_search += ev0;
        if (k < s->exhaustive_check) out->evals_search_checked += ev0;
    }
    for (uint64_t k = 0; st == NNFI_OK && k < n; k++) {
        st = emit(out, &cap, &xs[k], lab + 64 * k, evald + 64 * k, NNFI_METHOD_SEARCH);
        for (unsigned b = 0; b < 64; b++) out->predicted += (xs[k].mask >> b & 1) && !evald[64 * k + b];
    }
    uint64_t n_search = out->n_labels;
    /* 3. the exhaustive check */
    uint64_t checked = s->exhaustive_check < n ? s->exhaustive_check : n;
    for (uint64_t k = 0; st == NNFI_OK && k < checked; k++) {
        uint8_t truth[64], all[64];
        st = classify_all(&sc, &xs[k], truth, all, &out->evals_exhaustive, NULL);
        if (st == NNFI_OK) st = emit(out, &cap, &xs[k], truth, all, NNFI_METHOD_EXHAUSTIVE);
        for (unsigned b = 0; st == NNFI_OK && b < 64; b++) {
            if (!(xs[k].mask >> b & 1)) continue;
            int got = lab[64 * k + b], want = truth[b];
            out->tp += got && want;
            out->fp += got && !want;
            out->fn += !got && want;
        }
    }
    out->elements = n;
    out->checked = checked;
    out->recall = out->tp + out->fn ? (double)out->tp / (double)(out->tp + out->fn) : 1;
    out->precision = out->tp + out->fp ? (double)out->tp / (double)(out->tp + out->fp) : 1;
    if (st == NNFI_OK) st = tally_strata(out, n_search);
    out->seconds = now_s() - t0;
    free(f);
    free(xs);
    free(ev);
    free(lab);
    free(evald);
    free(is_pilot);
    free(sc.faulty);
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
