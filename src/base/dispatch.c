/* dispatch.c - guided, resumable, stopping-rule-aware trial dispatch (see
 * dispatch.h). */
#include "nnfi/dispatch.h"

#include <stdlib.h>

#define MAX_RANGE 65536u

typedef struct point_rule {
    const nnfi_stop_cfg *stop; /* NULL: no rule, run every trial */
    uint64_t first, cap;       /* global first trial, trials planned */
    uint64_t checked;          /* prefix length judged "go on" (trials up to checked + min may run) */
    uint64_t cutoff;           /* trials that will run (cap until the rule stops it) */
} point_rule;

struct nnfi_dispatch {
    const nnfi_plan *plan;
    int ranks;
    uint64_t min_range; /* nnfi_dispatch_set_min_range */
    uint8_t *done;   /* per global trial */
    uint8_t *event;  /* per global trial: the stopping rule's watched event */
    uint64_t cursor; /* every trial below was handed out, done or cut off */
    uint64_t n_done;
    point_rule *rules; /* one per point, in global order */
    uint32_t n_rules;
    uint64_t cut;      /* trials removed by stopping rules */
    uint64_t foreign;  /* trials of other shards */
    unsigned shard_index, shard_count;
};

static unsigned range_shard(uint64_t trial, uint64_t total, unsigned n)
{
    /* shard i holds [floor(T*i/n), floor(T*(i+1)/n)) */
    unsigned s = (unsigned)(((unsigned __int128)trial * n) / (total ? total : 1));
    while (s + 1 < n && (uint64_t)(((unsigned __int128)total * (s + 1)) / n) <= trial) s++;
    while (s > 0 && (uint64_t)(((unsigned __int128)total * s) / n) > trial) s--;
    return s;
}

unsigned nnfi_shard_of(const nnfi_plan *p, const nnfi_campaign *c, uint64_t trial, unsigned shard_count)
{
    if (shard_count <= 1) return 0;
    uint32_t e, pt;
    uint64_t t;
    if (nnfi_plan_locate(p, trial, &e, &pt, &t) != NNFI_OK) return 0;
    if (c->experiments[e].stop) trial = p->experiments[e].points[pt].first;
    return range_shard(trial, p->total_trials, shard_count);
}

int nnfi_stop_event(const nnfi_stop_cfg *s, const nnfi_trial_row *row)
{
    switch (s->watch) {
    case NNFI_WATCH_ACCURACY_DROP: return row->accuracy_drop > s->threshold;
    case NNFI_WATCH_SDC: return row->sdc > 0;
    case NNFI_WATCH_CRITICAL_SDC: return row->critical_sdc > 0;
    case NNFI_WATCH_DUE: return row->due != 0;
    }
    return 0;
}

nnfi_status nnfi_dispatch_create(const nnfi_campaign *c, const nnfi_plan *p, int ranks, unsigned shard_index,
                                 unsigned shard_count, nnfi_dispatch **out)
{
    *out = NULL;
    nnfi_dispatch *d = calloc(1, sizeof *d);
    uint64_t t = p->total_trials ? p->total_trials : 1;
    uint32_t n = 0;
    for (uint32_t e = 0; e < p->n_experiments; e++) n += p->experiments[e].n_points;
    if (d) {
        d->done = calloc(t, 1);
        d->event = calloc(t, 1);
        d->rules = calloc(n ? n : 1, sizeof *d->rules);
    }
    if (!d || !d->done || !d->event || !d->rules) {
        nnfi_dispatch_destroy(d);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu trials", (unsigned long long)t);
    }
    d->plan = p;
    d->ranks = ranks;
    d->n_rules = n;
    uint32_t k = 0;
    for (uint32_t e = 0; e < p->n_experiments; e++)
        for (uint32_t i = 0; i < p->experiments[e].n_points; i++, k++) {
            d->rules[k].stop = c->experiments[e].stop;
            d->rules[k].first = p->experiments[e].points[i].first;
            d->rules[k].cap = d->rules[k].cutoff = p->experiments[e].points[i].trials;
        }
    d->shard_index = shard_index;
    d->shard_count = shard_count > 1 ? shard_count : 1;
    if (d->shard_count > 1)
        for (uint64_t i = 0; i < p->total_trials; i++)
            if (nnfi_shard_of(p, c, i, d->shard_count) != shard_index) {
                d->done[i] = 2; /* another shard's: never handed out, never counted */
                d->foreign++;
            }
    *out = d;
    return NNFI_OK;
}

void nnfi_dispatch_set_min_range(nnfi_dispatch *d, uint64_t n) { d->min_range = n; }

void nnfi_dispatch_destroy(nnfi_dispatch *d)
{
    if (!d) return;
    free(d->done);
    free(d->event);
    free(d->rules);
    free(d);
}

static point_rule *rule_of(nnfi_dispatch *d, uint64_t trial)
{
    uint32_t lo = 0, hi = d->n_rules - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        if (d->rules[mid].first <= trial) lo = mid;
        else hi = mid - 1;
    }
    return &d->rules[lo];
}

void nnfi_dispatch_finished(nnfi_dispatch *d, const nnfi_trial_row *row)
{
    if (row->trial >= d->plan->total_trials || d->done[row->trial]) return;
    d->done[row->trial] = 1;
    d->n_done++;
    point_rule *r = rule_of(d, row->trial);
    if (r->stop) d->event[row->trial] = (uint8_t)nnfi_stop_event(r->stop, row);
}

/* Judge the rule at the next check if its prefix is complete; 1 if it moved. */
static int judge(nnfi_dispatch *d, point_rule *r)
{
    uint64_t step = r->stop->min;
    uint64_t next = r->checked + step < r->cap ? r->checked + step : r->cap;
    uint64_t k = 0;
    for (uint64_t i = 0; i < next; i++) {
        if (!d->done[r->first + i]) return 0;
        k += d->event[r->first + i];
    }
    double lo, hi;
    nnfi_wilson_interval(k, next, r->stop->confidence, &lo, &hi);
    if (hi - lo < r->stop->width || next >= r->cap) {
        d->cut += r->cap - next;
        r->cutoff = next; /* narrow enough (or capped): the point ends here */
    }
    r->checked = next;
    return 1;
}

typedef enum gate { GATE_RUN, GATE_SKIP, GATE_WAIT } gate;

static gate gate_of(nnfi_dispatch *d, uint64_t trial)
{
    if (d->done[trial]) return GATE_SKIP;
    point_rule *r = rule_of(d, trial);
    if (!r->stop) return GATE_RUN;
    for (;;) {
        uint64_t local = trial - r->first;
        if (local >= r->cutoff) return GATE_SKIP;
        if (local < r->checked + r->stop->min) return GATE_RUN; /* within the step after the last "go on" */
        if (!judge(d, r)) return GATE_WAIT;
    }
}

nnfi_next nnfi_dispatch_next(nnfi_dispatch *d, unsigned share, uint64_t *lo, uint64_t *hi)
{
    uint64_t total = d->plan->total_trials;
    gate g = GATE_SKIP;
    while (d->cursor < total && (g = gate_of(d, d->cursor)) == GATE_SKIP) d->cursor++;
    *lo = *hi = d->cursor;
    if (d->cursor >= total) return NNFI_NEXT_END;
    if (g == GATE_WAIT) return NNFI_NEXT_WAIT;
    uint64_t remaining = total - d->cursor;
    uint64_t max = remaining / (2 * (uint64_t)(d->ranks > 0 ? d->ranks : 1) * (share ? share : 1));
    if (max < d->min_range) max = d->min_range;
    if (max < 1) max = 1;
    if (max > MAX_RANGE) max = MAX_RANGE;
    while (*hi < total && *hi - *lo < max && gate_of(d, *hi) == GATE_RUN) (*hi)++;
    d->cursor = *hi;
    return NNFI_NEXT_RANGE;
}

uint64_t nnfi_dispatch_done(const nnfi_dispatch *d) { return d->n_done; }
uint64_t nnfi_dispatch_expected(const nnfi_dispatch *d) { return d->plan->total_trials - d->cut - d->foreign; }
