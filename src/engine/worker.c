/* worker.c - trial execution on one rank (see worker.h): experiments
 * resolved against their models, faults generated, trials run (packed,
 * shortened, or whole) into result rows. The models, eval sets and golden
 * runs are worker_model.c's; the shared state is worker_internal.h. */
#include "nnfi/worker.h"
#include "nnfi/registry.h"

#include "golden_cache.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnfi/eval_set.h"
#include "nnfi/fm_sampler.h"
#include "nnfi/inject.h"
#include "nnfi/model_host.h"
#include "nnfi/outcome.h"
#include "nnfi/trial_pack.h"
#include "nnfi/trial_pass.h"

#include "worker_internal.h"


nnfi_status nnfi_worker_create(const nnfi_campaign *c, const nnfi_plan *p, int rank, nnfi_worker **out)
{
    *out = NULL;
    nnfi_worker *w = calloc(1, sizeof *w);
    if (!w) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    w->c = c;
    w->p = p;
    w->rank = rank;
    w->models = calloc(c->models_count, sizeof *w->models);
    w->experiments = calloc(c->experiments_count, sizeof *w->experiments);
    if (!w->models || !w->experiments) {
        nnfi_worker_destroy(w);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    for (unsigned i = 0; i < c->models_count; i++) { /* each model's eval set (config: never NULL) */
        w->models[i].ecfg = c->models[i].eval ? c->models[i].eval : c->eval;
        nnfi_model_eval_field(c, i, w->models[i].efield, sizeof w->models[i].efield);
    }
    *out = w;
    return NNFI_OK;
}



static nnfi_status prepare_experiment(nnfi_worker *w, unsigned e)
{
    experiment_state *x = &w->experiments[e];
    if (x->resolved) return NNFI_OK;
    const nnfi_experiment_cfg *xc = &w->c->experiments[e];
    unsigned mi = 0;
    while (strcmp(w->c->models[mi].name, xc->model) != 0) mi++; /* the loader checked it exists */
    /* with eval.drop_nonfinite the golden run decides how many samples the
     * eval set keeps: run it before the groups are resolved against them */
    model_state *m = &w->models[mi];
    if (m->ecfg->drop_nonfinite) NNFI_TRY(worker_ensure_golden(w, mi));
    NNFI_TRY(worker_open_model(w, mi));
    uint64_t calls = (m->eval.samples + m->ecfg->batch - 1) / m->ecfg->batch;
    for (unsigned g = 0; g < xc->groups_count; g++) {
        nnfi_status st = nnfi_group_resolve(w->c, e, g, m->sites, m->n_sites, calls, m->eval.samples, &x->groups[g]);
        if (st != NNFI_OK) {
            for (unsigned k = 0; k < g; k++) nnfi_group_plan_free(&x->groups[k]);
            return st;
        }
    }
    x->model = mi;
    x->resolved = 1;
    return NNFI_OK;
}

/* The fault count of each group of a trial (and their sum). */
static nnfi_status trial_counts(nnfi_worker *w, uint32_t e, uint32_t p, uint64_t t, uint64_t counts[NNFI_MAX_GROUPS],
                                uint64_t *total)
{
    experiment_state *x = &w->experiments[e];
    const nnfi_experiment_cfg *xc = &w->c->experiments[e];
    *total = 0;
    for (unsigned g = 0; g < xc->groups_count; g++) {
        nnfi_fault_id id = {w->c->seed, e, g, p, (uint32_t)t};
        counts[g] = nnfi_sampler_count(&x->groups[g], nnfi_plan_count_rule(w->p, e, g, p), id);
        if (x->groups[g].distinct && counts[g] > x->groups[g].total) {
            char path[96];
            snprintf(path, sizeof path, "experiments[%u].groups[%u].distinct", e, g);
            return nnfi_campaign_error(w->c, NNFI_E_CONFIG, path,
                                       "%llu distinct faults asked of %llu selected elements\n  hint: lower the count or drop 'distinct'",
                                       (unsigned long long)counts[g], (unsigned long long)x->groups[g].total);
        }
        *total += counts[g];
    }
    return NNFI_OK;
}

/* Generate all faults of a trial into w->faults. */
static nnfi_status generate(nnfi_worker *w, uint32_t e, uint32_t p, uint64_t t, uint64_t *n_out)
{
    experiment_state *x = &w->experiments[e];
    const nnfi_experiment_cfg *xc = &w->c->experiments[e];
    uint64_t counts[NNFI_MAX_GROUPS], total = 0;
    NNFI_TRY(trial_counts(w, e, p, t, counts, &total));
    if (total > w->cap_faults) {
        nnfi_fault *nf = realloc(w->faults, total * sizeof *nf);
        if (!nf) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu faults", (unsigned long long)total);
        w->faults = nf;
        w->cap_faults = total;
    }
    uint64_t at = 0;
    int kind = -1;
    for (unsigned g = 0; g < xc->groups_count; g++) {
        nnfi_fault_id id = {w->c->seed, e, g, p, (uint32_t)t};
        if (x->groups[g].fm) { /* counts[g] pattern occurrences, each any number of faults (fm_sampler.h) */
            NNFI_TRY(nnfi_fm_group_faults(&x->groups[g], id, counts[g], &w->faults, &w->cap_faults, &at, &kind));
            continue;
        }
        NNFI_TRY(nnfi_fm_reserve(&w->faults, &w->cap_faults, at + counts[g]));
        nnfi_sampler_faults(&x->groups[g], id, 0, counts[g], w->faults + at);
        at += counts[g];
    }
    w->pattern = (uint8_t)(kind + 1); /* NNFI_PATTERN_NONE without a fault model */
    *n_out = at;
    return NNFI_OK;
}

/* The faults of trial (e, p, t) as the trial pass takes them: made by the
 * backend where it can (the cuda backend: on the device, so the list never
 * crosses the bus), else generated here. *n gets the fault count. */
typedef struct trial_faults {
    nnfi_pass_faults f;
    uint64_t counts[NNFI_MAX_GROUPS];
    const nnfi_group_plan *groups[NNFI_MAX_GROUPS];
    nnfi_fault_id ids[NNFI_MAX_GROUPS];
} trial_faults;

static nnfi_status trial_faults_of(nnfi_worker *w, model_state *m, uint32_t e, uint32_t p, uint64_t t, trial_faults *tf,
                                   uint64_t *n)
{
    experiment_state *x = &w->experiments[e];
    const nnfi_experiment_cfg *xc = &w->c->experiments[e];
    memset(&tf->f, 0, sizeof tf->f);
    int fm = 0; /* fault-model groups are expanded here, never on the device */
    for (unsigned g = 0; g < xc->groups_count; g++) fm |= x->groups[g].fm != NULL;
    if (nnfi_inject_has_arm_generated(m->backend) && !fm) {
        NNFI_TRY(trial_counts(w, e, p, t, tf->counts, n));
        for (unsigned g = 0; g < xc->groups_count; g++) {
            tf->groups[g] = &x->groups[g];
            tf->ids[g] = (nnfi_fault_id){w->c->seed, e, g, p, (uint32_t)t};
        }
        tf->f.groups = tf->groups;
        tf->f.ids = tf->ids;
        tf->f.counts = tf->counts;
        tf->f.n_groups = xc->groups_count;
        return NNFI_OK;
    }
    NNFI_TRY(generate(w, e, p, t, n));
    tf->f.list = w->faults;
    tf->f.n = *n;
    return NNFI_OK;
}

nnfi_status nnfi_worker_faults(nnfi_worker *w, uint64_t trial, const nnfi_fault **faults, uint64_t *n)
{
    uint32_t e, p;
    uint64_t t;
    NNFI_TRY(nnfi_plan_locate(w->p, trial, &e, &p, &t));
    NNFI_TRY(prepare_experiment(w, e));
    NNFI_TRY(generate(w, e, p, t, n));
    *faults = w->faults;
    return NNFI_OK;
}

/* The shortcuts of model mi (once its golden logits are final): the golden
 * rows' own outcome, the check that rows are independent and that this
 * rank's forwards reproduce the golden logits, and the golden cache. */
static nnfi_status ensure_shortcuts(nnfi_worker *w, unsigned mi)
{
    model_state *m = &w->models[mi];
    if (m->shortcuts_ready || w->full_eval) return NNFI_OK;
    nnfi_outcome_init(&m->golden_self);
    nnfi_outcome_add(&m->golden_self, m->golden, m->golden, m->eval.labels, m->eval.samples * m->positions,
                     m->nclass);
    m->pass.golden_self = &m->golden_self;
    int ok = 0;
    NNFI_TRY(nnfi_pack_rows_independent(&m->pass, &ok));
    m->shortcuts_ok = ok;
    if (ok) {
        NNFI_TRY(golden_cache_build(&m->pass, m->n_sites, (uint64_t)m->ecfg->cache_mb << 20, &m->cache));
        m->pass.cache = &m->cache.view;
    }
    m->shortcuts_ready = 1;
    return NNFI_OK;
}

/* A trial's result row from its pass. */
static nnfi_status finish_row(nnfi_worker *w, const model_state *m, uint64_t trial, const nnfi_pass_result *r,
                              nnfi_trial_row *row)
{
    /* a restore that failed leaves the model unknown: stop. One that passed the
     * watchdog's deadline is still queued ahead of the next trial's work on the
     * device's stream, so the run goes on. */
    nnfi_status st = r->forward_status, rs = r->restore_status;
    if (rs != NNFI_OK && rs != NNFI_E_TIMEOUT) return rs;
    if (st == NNFI_OK) st = rs;
    const nnfi_outcome o = r->outcome;
    if (st != NNFI_OK) {
        int timeout = st == NNFI_E_TIMEOUT;
        fprintf(stderr, "nnfi: rank %d trial %llu %s (counted as DUE): %s\n", w->rank, (unsigned long long)trial,
                timeout ? "timed out" : "failed", nnfi_error_message());
        row->status = timeout ? NNFI_TRIAL_TIMEOUT : NNFI_TRIAL_FAILED;
        row->due = 1;
    } else {
        row->status = NNFI_TRIAL_OK;
        row->due = o.nonfinite > 0;
    }
    row->accuracy = o.accuracy;
    row->accuracy_drop = m->golden_accuracy - o.accuracy;
    row->sdc = o.mismatches;
    row->critical_sdc = o.critical;
    row->due_samples = o.nonfinite;
    row->max_abs_err = o.max_abs_err;
    row->mean_abs_err = o.mean_abs_err;
    row->done = 1;
    return NNFI_OK;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Where trial faults of experiment e with these group counts let the forward
 * start: the earliest start among the selected sites of groups that fault. */
static uint32_t groups_from(const nnfi_worker *w, const model_state *m, uint32_t e, const uint64_t *counts)
{
    const experiment_state *x = &w->experiments[e];
    uint32_t from = UINT32_MAX;
    for (unsigned g = 0; g < w->c->experiments[e].groups_count; g++)
        for (uint32_t i = 0; counts[g] && i < x->groups[g].n_sites; i++) {
            uint32_t f = m->cache.view.site_from ? m->cache.site_from[x->groups[g].site_ids[i]] : 0;
            if (f < from) from = f;
        }
    return from == UINT32_MAX ? 0 : from;
}

/* Where faults[0..n) let the forward start: the earliest start of their sites. */
static uint32_t list_from(const model_state *m, const nnfi_fault *faults, uint64_t n)
{
    const uint32_t *sf = m->cache.site_from;
    if (!sf) return 0;
    uint32_t from = UINT32_MAX;
    for (uint64_t i = 0; i < n && from; i++)
        if (sf[faults[i].site] < from) from = sf[faults[i].site];
    return from == UINT32_MAX ? 0 : from;
}

/* Fault dropping for faults[0..n): the earliest site with a value cut after
 * every faulted site (0: none). Only for faults on hooked sites (a
 * parameter may be read again after any site) of a model in host memory. */
static uint32_t drop_at(const model_state *m, const nnfi_fault *faults, uint64_t n)
{
    const golden_cache_store *c = &m->cache;
    if (!c->n_drop || !n) return 0;
    int32_t last = -1;
    for (uint64_t i = 0; i < n; i++) {
        nnfi_site_kind k = m->sites[faults[i].site].kind;
        if (k == NNFI_SITE_PARAM || k == NNFI_SITE_BUFFER) return 0;
        if (c->host_cut[faults[i].site] > last) last = c->host_cut[faults[i].site];
    }
    int early = nnfi_shortcut_sabotage("drop"); /* tests only: a site before the faults */
    for (uint32_t k = 0; k < c->n_drop; k++)
        if (early || c->host_cut[c->drop[k]] > last) return c->drop[k] + 1;
    return 0;
}

/* NNFI_SABOTAGE=cut (tests only): the last kept cut instead of `from`. */
static uint32_t sabotaged_from(const model_state *m, uint32_t from)
{
    if (!nnfi_shortcut_sabotage("cut")) return from;
    for (uint32_t c = m->cache.view.n_cuts; c-- > 0;)
        if (m->cache.live[c]) return c + 1;
    return from;
}

/* Evaluate the pending packed trials and fill their rows. */
static nnfi_status flush_pack(nnfi_worker *w, nnfi_trial_row *rows)
{
    if (!w->n_pack) return NNFI_OK;
    model_state *m = &w->models[w->pack_model];
    double t0 = worker_now_s();
    nnfi_status st = nnfi_pack_pass(&m->pass, w->pack, w->n_pack);
    double each = (worker_now_s() - t0) / (double)w->n_pack;
    for (size_t i = 0; st == NNFI_OK && i < w->n_pack; i++) {
        nnfi_trial_row *row = &rows[w->pack_trial[i]];
        st = finish_row(w, m, row->trial, &w->pack[i].result, row);
        row->wall_s += each;
    }
    w->n_pack = 0;
    return st;
}

/* Queue a trial whose faults (in w->faults) all pack. */
static nnfi_status queue_pack(nnfi_worker *w, unsigned mi, uint64_t slot, uint64_t n, nnfi_trial_row *rows)
{
    if (w->n_pack && w->pack_model != mi) NNFI_TRY(flush_pack(w, rows));
    if (w->n_pack == w->cap_pack) {
        size_t cap = w->cap_pack ? 2 * w->cap_pack : 64;
        nnfi_pack_trial *p = realloc(w->pack, cap * sizeof *p);
        if (p) w->pack = p;
        uint64_t *t = realloc(w->pack_trial, cap * sizeof *t);
        if (t) w->pack_trial = t;
        nnfi_fault *f = realloc(w->pack_faults, cap * PACK_MAX_FAULTS * sizeof *f);
        if (f) w->pack_faults = f;
        if (!p || !t || !f) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for packing trials");
        w->cap_pack = cap;
        for (size_t i = 0; i < w->n_pack; i++) w->pack[i].faults = w->pack_faults + i * PACK_MAX_FAULTS;
    }
    nnfi_pack_trial *p = &w->pack[w->n_pack];
    memcpy(w->pack_faults + w->n_pack * PACK_MAX_FAULTS, w->faults, n * sizeof *w->faults);
    p->faults = w->pack_faults + w->n_pack * PACK_MAX_FAULTS;
    p->n = n;
    w->pack_trial[w->n_pack++] = slot;
    w->pack_model = mi;
    return NNFI_OK;
}

/* How trial (e, p, t) is evaluated: *pack when it joins the packed trials,
 * else tf (its faults, with the shortcuts that apply) for one trial pass. */
static nnfi_status plan_trial(nnfi_worker *w, model_state *m, uint32_t e, uint32_t p, uint64_t t, trial_faults *tf,
                              uint64_t *n, int *pack, uint64_t **calls)
{
    *pack = 0;
    const nnfi_experiment_cfg *xc = &w->c->experiments[e];
    if (w->full_eval || !m->shortcuts_ok) return trial_faults_of(w, m, e, p, t, tf, n);
    uint64_t counts[NNFI_MAX_GROUPS], total = 0;
    NNFI_TRY(trial_counts(w, e, p, t, counts, &total));
    int transient = 1;
    for (unsigned g = 0; g < xc->groups_count; g++)
        if (counts[g] && !w->experiments[e].groups[g].transient) transient = 0;
    if (!transient) { /* every call changes: evaluate them all, from the latest cut before the faulted sites */
        NNFI_TRY(trial_faults_of(w, m, e, p, t, tf, n));
        /* from the faults themselves where the list is here (one pass over
         * it); from their groups' sites where the backend makes them */
        tf->f.from_cut = sabotaged_from(m, tf->f.list ? list_from(m, tf->f.list, *n) : groups_from(w, m, e, counts));
        if (tf->f.list) tf->f.drop_at = drop_at(m, tf->f.list, *n);
        return NNFI_OK;
    }
    /* transient faults only: the list, here (a few faults), to see which calls and rows they reach */
    NNFI_TRY(generate(w, e, p, t, n));
    memset(&tf->f, 0, sizeof tf->f);
    tf->f.list = w->faults;
    tf->f.n = *n;
    int packs = *n <= PACK_MAX_FAULTS;
    for (uint64_t i = 0; i < *n && packs; i++) packs = nnfi_fault_packs(&w->faults[i], m->sites);
    if (packs) {
        *pack = 1;
        return NNFI_OK;
    }
    uint64_t *c = realloc(*calls, (*n ? *n : 1) * sizeof *c), nc = 0;
    if (!c) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    *calls = c;
    for (uint64_t i = 0; i < *n; i++) { /* a one-sample fault's `when` is a sample, the others' a call */
        const nnfi_fault *f = &w->faults[i];
        c[i] = nnfi_fault_packs(f, m->sites) ? (uint64_t)f->when / m->ecfg->batch : (uint64_t)f->when;
    }
    qsort(c, *n, sizeof *c, cmp_u64);
    for (uint64_t i = 0; i < *n; i++)
        if (!nc || c[nc - 1] != c[i]) c[nc++] = c[i];
    if (nc && nnfi_shortcut_sabotage("calls")) nc--;
    tf->f.calls = c;
    tf->f.n_calls = nc;
    tf->f.from_cut = sabotaged_from(m, list_from(m, w->faults, *n));
    tf->f.drop_at = drop_at(m, w->faults, *n);
    return NNFI_OK;
}

nnfi_status nnfi_worker_eval_faults(nnfi_worker *w, unsigned e, const nnfi_fault *faults, uint64_t n, nnfi_outcome *o,
                                    int *failed)
{
    NNFI_TRY(prepare_experiment(w, e));
    unsigned mi = w->experiments[e].model;
    NNFI_TRY(worker_ensure_golden(w, mi));
    NNFI_TRY(ensure_shortcuts(w, mi));
    model_state *m = &w->models[mi];
    nnfi_pass_faults f;
    memset(&f, 0, sizeof f);
    f.list = faults;
    f.n = n;
    if (!w->full_eval && m->shortcuts_ok) f.from_cut = sabotaged_from(m, list_from(m, faults, n));
    nnfi_pass_result r;
    NNFI_TRY(nnfi_trial_pass(&m->pass, &f, NULL, &r));
    if (r.restore_status != NNFI_OK && r.restore_status != NNFI_E_TIMEOUT) return r.restore_status;
    *o = r.outcome;
    *failed = r.forward_status != NNFI_OK || r.restore_status != NNFI_OK;
    return NNFI_OK;
}

nnfi_status nnfi_worker_run_trials(nnfi_worker *w, uint64_t lo, uint64_t hi, double budget_s,
                                   const volatile sig_atomic_t *stop, nnfi_trial_row *rows, uint64_t *done)
{
    uint64_t *calls = NULL, trial = lo;
    nnfi_status st = NNFI_OK;
    w->n_pack = 0;
    double start = worker_now_s();
    for (; st == NNFI_OK && trial < hi; trial++) {
        if (trial > lo && ((stop && *stop) || (budget_s > 0 && worker_now_s() - start >= budget_s)))
            break; /* the caller's rows stay fresh, its signals answered */
        double t0 = worker_now_s();
        nnfi_trial_row *row = &rows[trial - lo];
        memset(row, 0, sizeof *row);
        uint32_t e, p;
        uint64_t t;
        if ((st = nnfi_plan_locate(w->p, trial, &e, &p, &t)) != NNFI_OK) break;
        if ((st = prepare_experiment(w, e)) != NNFI_OK) break;
        unsigned mi = w->experiments[e].model;
        if ((st = worker_ensure_golden(w, mi)) != NNFI_OK || (st = ensure_shortcuts(w, mi)) != NNFI_OK) break;
        model_state *m = &w->models[mi];
        uint64_t n = 0;
        trial_faults tf;
        int pack = 0;
        w->pattern = 0;
        if ((st = plan_trial(w, m, e, p, t, &tf, &n, &pack, &calls)) != NNFI_OK) break;
        row->pattern = w->pattern;
        row->trial = trial;
        row->experiment = e;
        row->point = p;
        row->trial_in_point = t;
        row->n_faults = n;
        row->rank = w->rank;
        row->device = m->device;
        if (pack) {
            st = queue_pack(w, mi, trial - lo, n, rows);
            row->wall_s = worker_now_s() - t0;
            continue;
        }
        nnfi_pass_result r;
        if ((st = nnfi_trial_pass(&m->pass, &tf.f, NULL, &r)) != NNFI_OK) break;
        st = finish_row(w, m, trial, &r, row);
        row->wall_s = worker_now_s() - t0;
    }
    if (st == NNFI_OK) st = flush_pack(w, rows);
    w->n_pack = 0;
    free(calls);
    *done = st == NNFI_OK ? trial - lo : 0;
    return st;
}

nnfi_status nnfi_worker_run_trial(nnfi_worker *w, uint64_t trial, nnfi_trial_row *row)
{
    uint64_t done;
    return nnfi_worker_run_trials(w, trial, trial + 1, 0, NULL, row, &done);
}

void nnfi_worker_set_full_eval(nnfi_worker *w, int on) { w->full_eval = on; }

nnfi_status nnfi_worker_shortcuts(nnfi_worker *w, unsigned mi, nnfi_shortcut_info *out)
{
    memset(out, 0, sizeof *out);
    if (mi >= w->c->models_count) return NNFI_FAIL(NNFI_E_INVALID, "no model %u", mi);
    NNFI_TRY(worker_ensure_golden(w, mi));
    NNFI_TRY(ensure_shortcuts(w, mi));
    const model_state *m = &w->models[mi];
    out->full_eval = w->full_eval;
    out->rows_ok = m->shortcuts_ok;
    out->cuts = nnfi_host_has_cuts(m->host) ? m->host->n_cuts(m->model) : 0;
    out->kept = m->cache.kept;
    out->over_budget = m->cache.over_budget;
    out->failed = m->cache.failed;
    out->too_slow = m->cache.too_slow;
    out->cache_bytes = m->cache.used;
    return NNFI_OK;
}

nnfi_status nnfi_worker_plan(nnfi_worker *w, nnfi_plan **out)
{
    *out = NULL;
    const nnfi_campaign *c = w->c;
    double *pop = calloc(c->experiments_count, sizeof *pop);
    if (!pop) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = NNFI_OK;
    for (unsigned e = 0; e < c->experiments_count && st == NNFI_OK; e++) {
        st = prepare_experiment(w, e); /* resolve every group now: selector errors before anything runs */
        if (st == NNFI_OK && c->experiments[e].budget)
            pop[e] = nnfi_plan_population(&c->experiments[e], &w->experiments[e].groups[0]);
    }
    if (st == NNFI_OK) st = nnfi_plan_create(c, pop, out);
    free(pop);
    if (st == NNFI_OK) w->p = *out;
    return st;
}

nnfi_status nnfi_worker_sites(nnfi_worker *w, unsigned e, const nnfi_site **sites, size_t *n)
{
    NNFI_TRY(prepare_experiment(w, e));
    const model_state *m = &w->models[w->experiments[e].model];
    *sites = m->sites;
    *n = m->n_sites;
    return NNFI_OK;
}

nnfi_status nnfi_worker_group_plan(nnfi_worker *w, unsigned e, unsigned gi, const nnfi_group_plan **out)
{
    *out = NULL;
    NNFI_TRY(prepare_experiment(w, e));
    *out = &w->experiments[e].groups[gi];
    return NNFI_OK;
}

void nnfi_worker_destroy(nnfi_worker *w)
{
    if (!w) return;
    for (unsigned e = 0; w->experiments && e < w->c->experiments_count; e++)
        if (w->experiments[e].resolved)
            for (unsigned g = 0; g < w->c->experiments[e].groups_count; g++) nnfi_group_plan_free(&w->experiments[e].groups[g]);
    for (unsigned i = 0; w->models && i < w->c->models_count; i++) {
        model_state *m = &w->models[i];
        if (m->inj) m->backend->destroy(m->inj);
        if (m->open) m->host->close(m->model);
        nnfi_eval_free(&m->eval);
        golden_cache_free(&m->cache);
        free(m->golden);
        free(m->logits);
    }
    free(w->models);
    free(w->experiments);
    free(w->faults);
    free(w->pack);
    free(w->pack_trial);
    free(w->pack_faults);
    free(w);
}
