/* plan.c - experiments x points x trials as one global index space, and the
 * statistics that size a point's trial budget (Leveugle, Wilson). */
#include "nnfi/plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

double nnfi_normal_quantile(double confidence)
{
    /* Solve erfc(z / sqrt 2) = 1 - confidence by bisection: exact to 1e-12,
     * and planning calls it a handful of times. */
    double alpha = 1 - confidence, lo = 0, hi = 40;
    for (int i = 0; i < 200; i++) {
        double mid = 0.5 * (lo + hi);
        if (erfc(mid / sqrt(2.0)) > alpha) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

uint64_t nnfi_leveugle_sample_size(double margin, double confidence, double p, double N)
{
    double t = nnfi_normal_quantile(confidence);
    double inf = t * t * p * (1 - p) / (margin * margin);
    double n = N > 0 ? N / (1 + margin * margin * (N - 1) / (t * t * p * (1 - p))) : inf;
    uint64_t r = (uint64_t)ceil(n - 1e-9);
    return r < 1 ? 1 : r;
}

void nnfi_wilson_interval(uint64_t k, uint64_t n, double confidence, double *lo, double *hi)
{
    if (n == 0) {
        *lo = 0;
        *hi = 1;
        return;
    }
    double z = nnfi_normal_quantile(confidence), ph = (double)k / (double)n, nn = (double)n;
    double den = 1 + z * z / nn;
    double ctr = (ph + z * z / (2 * nn)) / den;
    double half = z * sqrt(ph * (1 - ph) / nn + z * z / (4 * nn * nn)) / den;
    *lo = ctr - half < 0 ? 0 : ctr - half;
    *hi = ctr + half > 1 ? 1 : ctr + half;
    if (k == 0) *lo = 0; /* exactly, as nnfi_analysis: rounding leaves 1e-17 off */
    if (k >= n) *hi = 1;
}

static uint64_t point_trials(const nnfi_experiment_cfg *x, double population)
{
    if (x->trials) return *x->trials;
    if (x->budget)
        return nnfi_leveugle_sample_size(x->budget->margin, x->budget->confidence,
                                         x->budget->p ? *x->budget->p : 0.5, population);
    return x->stop->max;
}

nnfi_status nnfi_plan_create(const nnfi_campaign *c, const double *population, nnfi_plan **out)
{
    *out = NULL;
    nnfi_plan *p = calloc(1, sizeof *p);
    if (!p) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    p->campaign = c;
    p->n_experiments = c->experiments_count;
    p->experiments = calloc(c->experiments_count, sizeof *p->experiments);
    if (!p->experiments) {
        nnfi_plan_free(p);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    uint64_t next = 0;
    for (unsigned e = 0; e < c->experiments_count; e++) {
        const nnfi_experiment_cfg *x = &c->experiments[e];
        nnfi_plan_experiment *pe = &p->experiments[e];
        if (x->search) {
            char path[48];
            snprintf(path, sizeof path, "experiments[%u].search", e);
            nnfi_plan_free(p);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, path,
                                       "experiment '%s' is a critical-bit search, not trials\n  hint: run it with "
                                       "'nnfi search %s', or move it to a campaign of its own",
                                       x->name, c->source_path ? c->source_path : "CAMPAIGN.yaml");
        }
        pe->cfg = x;
        const nnfi_sweep_cfg *s = x->sweep;
        pe->n_points = s ? (s->faults ? s->faults_count : s->rates_count) : 1;
        pe->points = calloc(pe->n_points, sizeof *pe->points);
        if (!pe->points) {
            nnfi_plan_free(p);
            return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        }
        pe->first = next;
        uint64_t trials = point_trials(x, population ? population[e] : 0);
        for (uint32_t i = 0; i < pe->n_points; i++) {
            nnfi_plan_point *pt = &pe->points[i];
            if (s && s->faults) pt->x = (double)s->faults[i];
            if (s && s->rates) {
                pt->x = s->rates[i];
                pt->is_rate = 1;
            }
            pt->trials = trials;
            pt->first = next;
            if (next > UINT64_MAX - trials) {
                nnfi_plan_free(p);
                return nnfi_campaign_error(c, NNFI_E_CONFIG, "experiments", "more than 2^64 trials");
            }
            next += trials;
        }
        pe->trials = next - pe->first;
    }
    p->total_trials = next;
    *out = p;
    return NNFI_OK;
}

void nnfi_plan_free(nnfi_plan *p)
{
    if (!p) return;
    for (uint32_t e = 0; e < p->n_experiments && p->experiments; e++) free(p->experiments[e].points);
    free(p->experiments);
    free(p);
}

nnfi_status nnfi_plan_locate(const nnfi_plan *p, uint64_t global, uint32_t *experiment,
                             uint32_t *point, uint64_t *trial)
{
    if (global >= p->total_trials)
        return NNFI_FAIL(NNFI_E_INVALID, "trial %llu is outside the plan (0 to %llu)\n  hint: see 'nnfi plan'",
                         (unsigned long long)global, (unsigned long long)p->total_trials);
    uint32_t lo = 0, hi = p->n_experiments - 1;
    while (lo < hi) { /* last experiment starting at or before `global` */
        uint32_t mid = (lo + hi + 1) / 2;
        if (p->experiments[mid].first <= global) lo = mid;
        else hi = mid - 1;
    }
    const nnfi_plan_experiment *pe = &p->experiments[lo];
    uint32_t plo = 0, phi = pe->n_points - 1;
    while (plo < phi) {
        uint32_t mid = (plo + phi + 1) / 2;
        if (pe->points[mid].first <= global) plo = mid;
        else phi = mid - 1;
    }
    *experiment = lo;
    *point = plo;
    *trial = global - pe->points[plo].first;
    return NNFI_OK;
}

nnfi_count_rule nnfi_plan_count_rule(const nnfi_plan *p, unsigned xi, unsigned gi, unsigned pi)
{
    const nnfi_experiment_cfg *x = p->experiments[xi].cfg;
    const nnfi_group_cfg *g = &x->groups[gi];
    nnfi_count_rule r = {0, 0, 0};
    if (g->count) {
        r.count = *g->count;
    } else if (g->rate) {
        r.rate = *g->rate;
    } else {
        const nnfi_plan_point *pt = &p->experiments[xi].points[pi];
        if (pt->is_rate) {
            r.rate = pt->x;
            r.poisson = x->sweep->draw == NNFI_RATE_POISSON;
        } else {
            r.count = (uint64_t)pt->x;
        }
    }
    return r;
}

double nnfi_plan_population(const nnfi_experiment_cfg *x, const nnfi_group_plan *g0)
{
    int single = x->groups_count == 1 && !x->sweep && x->groups[0].count && *x->groups[0].count == 1 &&
                 !g0->fm; /* a fault model's occurrences: an infinite population */
    if (!single) return 0;
    uint64_t bits = 0;
    for (int d = 0; d < NNFI_DT_COUNT; d++)
        if (g0->candidates[d]) bits = (uint64_t)__builtin_popcountll(g0->candidates[d]);
    double masks = 1; /* distinct masks: C(bits, k), or 1 for 'all' */
    for (uint32_t k = 0; k < g0->bit_count && k < bits; k++) masks = masks * (double)(bits - k) / (double)(k + 1);
    return (double)g0->total * masks;
}
