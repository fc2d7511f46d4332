/* worker.c - trial execution on one rank (see worker.h). */
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

/* A trial packs with others when all its faults pack and it has at most
 * this many (more faults reach more samples: little left to share). */
#define PACK_MAX_FAULTS 64

typedef struct model_state {
    int open, ready;
    const nnfi_eval_cfg *ecfg; /* this model's eval set (models[].eval, else the campaign's) */
    char efield[48];           /* where the campaign names it: "eval", "models[1].eval", ... */
    const nnfi_model_host *host;
    nnfi_model *model;
    const nnfi_site *sites;
    size_t n_sites;
    nnfi_eval_set eval;
    uint32_t classes;   /* logits per sample: positions x nclass */
    uint32_t nclass;    /* the model's classes (per position) */
    uint32_t positions; /* output positions per sample: 1 ([N, C]) or T ([N, T, C]) */
    float *golden;   /* samples x classes */
    float *logits;   /* batch x classes scratch */
    double golden_accuracy, golden_seconds;
    const nnfi_inject_backend *backend;
    nnfi_injector *inj;
    int device; /* CUDA ordinal of the model's tensors, -1 host */
    nnfi_pass_model pass; /* all of the above, as the trial pass takes it */
    /* the shortcuts (after the golden logits are final) */
    int shortcuts_ready;
    int shortcuts_ok; /* this rank's forwards reproduce the golden logits with other rows beside them */
    nnfi_outcome golden_self;
    golden_cache_store cache;
    /* eval.drop_nonfinite: samples left out, and the facts stored beside
     * the golden run (the host's + "dropped_nonfinite=N") */
    uint64_t dropped;
    char dropped_fact[48];
    const char *facts[64];
} model_state;

typedef struct experiment_state {
    int resolved;
    unsigned model;
    nnfi_group_plan groups[NNFI_MAX_GROUPS];
} experiment_state;

struct nnfi_worker {
    const nnfi_campaign *c;
    const nnfi_plan *p;
    int rank;
    model_state *models;
    experiment_state *experiments;
    nnfi_fault *faults;
    uint64_t cap_faults;
    int full_eval;
    uint8_t pattern; /* /trials/pattern of the trial generate() made last (fault-model groups) */
    /* trials waiting to be packed (one model at a time) */
    nnfi_pack_trial *pack;
    uint64_t *pack_trial; /* their index into the caller's rows */
    nnfi_fault *pack_faults; /* PACK_MAX_FAULTS per pending trial */
    size_t n_pack, cap_pack;
    unsigned pack_model;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

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



static int is_abs(const char *p) { return p[0] == '/'; }

/* Where eval-set errors point in the campaign: the eval file's entry, or the
 * eval block for a host's built-in set. */
static const char *eval_field(const model_state *m) { return m->efield; }

/* "the eval set FILE" or "the built-in eval set of host H", for messages. */
static void eval_name(const nnfi_campaign *c, const model_state *m, char *buf, size_t n)
{
    const nnfi_eval_cfg *e = m->ecfg;
    if (e->path)
        snprintf(buf, n, "the eval set %s%s%s", is_abs(e->path) ? "" : c->source_dir, is_abs(e->path) ? "" : "/", e->path);
    else
        snprintf(buf, n, "the built-in eval set of host '%s'", m->host->name);
}

/* Labels are class indices of this model: [0, classes), one per output
 * position. */
static nnfi_status check_labels(const nnfi_campaign *c, const model_state *m, const char *model)
{
    uint64_t bad = 0, first = 0, n = m->eval.samples * m->positions;
    uint32_t eval_pos = m->eval.positions ? m->eval.positions : 1;
    if (eval_pos != m->positions) {
        char what[4200];
        eval_name(c, m, what, sizeof what);
        return nnfi_campaign_error(c, NNFI_E_CONFIG, eval_field(m),
                                   "%s: dataset '%s' holds %u label%s per sample, model '%s' outputs %u position%s "
                                   "per sample (%s)\n  hint: a model that returns [N, C] takes labels [N]; one that "
                                   "returns [N, T, C] (a class per position) takes labels [N, T]",
                                   what, m->ecfg->path ? m->ecfg->labels : "labels", eval_pos, eval_pos == 1 ? "" : "s",
                                   model, m->positions, m->positions == 1 ? "" : "s",
                                   m->positions == 1 ? "[N, classes]" : "[N, T, classes]");
    }
    for (uint64_t i = 0; i < n; i++)
        if (m->eval.labels[i] < 0 || (uint32_t)m->eval.labels[i] >= m->nclass) {
            if (!bad) first = i;
            bad++;
        }
    if (!bad) return NNFI_OK;
    char what[4200];
    eval_name(c, m, what, sizeof what);
    return nnfi_campaign_error(c, NNFI_E_CONFIG, eval_field(m),
                               "%s: label %llu (dataset '%s') is %d, not a class of model '%s' (%u classes: 0 .. %u); "
                               "%llu of %llu labels are out of range\n  hint: labels must be class indices in [0, classes): "
                               "is this the eval set of another model, or are its labels 1-based or placeholders (-1)?",
                               what, (unsigned long long)first, m->ecfg->path ? m->ecfg->labels : "labels",
                               (int)m->eval.labels[first], model, m->nclass,
                               m->nclass ? m->nclass - 1 : 0, (unsigned long long)bad, (unsigned long long)n);
}

static nnfi_status load_eval(const nnfi_campaign *c, model_state *m, const char *model)
{
    const nnfi_eval_cfg *e = m->ecfg;
    uint64_t want = m->host->input_numel(m->model);
    if (e->path) {
        char path[4096];
        snprintf(path, sizeof path, "%s%s%s", is_abs(e->path) ? "" : c->source_dir, is_abs(e->path) ? "" : "/", e->path);
        nnfi_status st = nnfi_eval_load(path, e->images, e->labels, e->samples, &m->eval);
        if (st != NNFI_OK) { /* the loader names the file and dataset; add where the campaign names it */
            char msg[3000];
            snprintf(msg, sizeof msg, "%s", nnfi_error_message());
            return nnfi_campaign_error(c, st, m->efield, "%s", msg);
        }
        if (m->eval.numel != want) {
            /* name the dataset and both shapes: [samples, ...] as stored, and
             * the model's input site's shape (else its size) */
            char have[160], expect[160];
            size_t u = (size_t)snprintf(have, sizeof have, "[%llu", (unsigned long long)m->eval.samples);
            for (int d = 0; d < m->eval.ndim && u < sizeof have; d++)
                u += (size_t)snprintf(have + u, sizeof have - u, ", %lld", (long long)m->eval.shape[d]);
            if (u < sizeof have) snprintf(have + u, sizeof have - u, "]");
            snprintf(expect, sizeof expect, "%llu values per sample", (unsigned long long)want);
            for (size_t i = 0; i < m->n_sites; i++)
                if (m->sites[i].kind == NNFI_SITE_INPUT) {
                    u = (size_t)snprintf(expect, sizeof expect, "[N");
                    for (int d = 0; d < m->sites[i].ndim && u < sizeof expect; d++)
                        u += (size_t)snprintf(expect + u, sizeof expect - u, ", %lld", (long long)m->sites[i].shape[d]);
                    if (u < sizeof expect)
                        snprintf(expect + u, sizeof expect - u, "] (%llu values per sample)", (unsigned long long)want);
                    break;
                }
            nnfi_eval_free(&m->eval);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, m->efield,
                                       "the eval set %s: dataset '%s' has shape %s, the model expects %s\n  hint: this eval set does not belong to this model (eval.images names the dataset)",
                                       path, e->images, have, expect);
        }
        return check_labels(c, m, model);
    }
    if (!NNFI_HAS_SLOT(nnfi_model_host, m->host, builtin_eval))
        return nnfi_campaign_error(c, NNFI_E_CONFIG, m->efield, "host '%s' has no built-in eval set\n  hint: set eval.path to an HDF5 file with images and labels",
                                   m->host->name);
    uint64_t samples = e->samples ? e->samples : 512;
    NNFI_TRY(m->host->builtin_eval(m->model, samples, &m->eval.inputs, &m->eval.labels));
    m->eval.samples = samples;
    m->eval.numel = want;
    m->eval.ndim = 1;
    m->eval.shape[0] = (int64_t)want;
    return check_labels(c, m, model);
}

/* Open model mi and load its eval set (once). A failure part way leaves
 * `ready` unset, so a later call reports the problem again instead of using
 * a half-open model; destroy() frees whatever was made. */
static nnfi_status open_model(nnfi_worker *w, unsigned mi)
{
    model_state *m = &w->models[mi];
    if (m->ready) return NNFI_OK;
    if (m->open) return NNFI_FAIL(NNFI_E_INVALID, "model '%s' failed to open earlier", w->c->models[mi].name);
    const nnfi_model_cfg *mc = &w->c->models[mi];
    NNFI_TRY(nnfi_host_lookup(mc->host, &m->host));
    nnfi_model_cfg with_input; /* the eval set's per-sample shape: the model needs no input_shape attribute */
    nnfi_eval_model_cfg(w->c, mc, &with_input);
    nnfi_status st = m->host->open(&with_input, w->c->source_dir, w->c->seed, &m->model);
    if (st == NNFI_E_BACKEND && with_input.input_ndim) {
        /* the model's forward does not take the eval set's shape: open it with its own
         * (attribute or host default), so that load_eval reports the eval
         * set that does not fit, with both shapes, at the eval entry */
        char first[3000];
        snprintf(first, sizeof first, "%s", nnfi_error_message());
        with_input.input_ndim = 0;
        if (m->host->open(&with_input, w->c->source_dir, w->c->seed, &m->model) == NNFI_OK) st = NNFI_OK;
        else NNFI_FAIL(st, "%s", first);
    }
    if (st != NNFI_OK) { /* the host names the file; add where the campaign names the model */
        char msg[3000], field[64];
        snprintf(msg, sizeof msg, "%s", nnfi_error_message());
        snprintf(field, sizeof field, "models[%u]", mi);
        return nnfi_campaign_error(w->c, st, field, "%s", msg);
    }
    m->open = 1;
    m->sites = m->host->sites(m->model);
    m->n_sites = m->host->n_sites(m->model);
    m->nclass = m->host->n_classes(m->model);
    m->positions = nnfi_host_positions(m->host, m->model);
    m->classes = m->nclass * m->positions;
    NNFI_TRY(load_eval(w->c, m, mc->name));
    uint64_t batch = m->ecfg->batch, n = m->eval.samples;
    m->logits = malloc((batch < n ? batch : n) * m->classes * sizeof(float));
    if (!m->logits) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for logits");
    NNFI_TRY(nnfi_inject_for_sites(m->sites, m->n_sites, &m->backend)); /* cuda when the model is on a GPU */
    NNFI_TRY(m->backend->create(m->sites, m->n_sites, &m->inj));
    m->device = -1;
    for (size_t i = 0; i < m->n_sites && m->device < 0; i++) m->device = m->sites[i].device;
    m->pass = (nnfi_pass_model){m->host, m->model, m->sites, m->eval.inputs, m->eval.labels, m->eval.numel,
                                m->eval.samples, batch, m->classes, NULL, m->logits, m->backend, m->inj, NULL, NULL,
                                m->positions};
    m->ready = 1;
    return NNFI_OK;
}

/* The samples whose golden logits are not all finite: their count, and the
 * first NNFI_SHOW_BAD indices as "12, 40, 977" (", ..." when there are more). */
#define NNFI_SHOW_BAD 8
static uint64_t nonfinite_samples(const float *golden, uint64_t n, uint32_t classes, uint8_t *bad, char *list,
                                  size_t len)
{
    uint64_t count = 0;
    size_t u = 0;
    list[0] = '\0';
    for (uint64_t i = 0; i < n; i++) {
        int ok = 1;
        for (uint32_t k = 0; k < classes && ok; k++) {
            ok = isfinite(golden[i * classes + k]);
        }
        if (bad) bad[i] = !ok;
        if (ok) continue;
        if (count < NNFI_SHOW_BAD && u < len)
            u += (size_t)snprintf(list + u, len - u, "%s%llu", count ? ", " : "", (unsigned long long)i);
        else if (count == NNFI_SHOW_BAD && u < len)
            u += (size_t)snprintf(list + u, len - u, ", ...");
        count++;
    }
    return count;
}

/* Golden logits that are not finite make every trial an SDC and a DUE (a
 * healthy model shows 100% failures): refused, naming the samples; or, with
 * eval.drop_nonfinite, those samples leave the eval set (inputs, labels and
 * golden rows compacted in place) before anything uses it. */
static nnfi_status check_golden(nnfi_worker *w, unsigned mi, float *golden)
{
    model_state *m = &w->models[mi];
    const nnfi_campaign *c = w->c;
    uint64_t n = m->eval.samples;
    char list[160], what[4200];
    uint64_t bad = nonfinite_samples(golden, n, m->classes, NULL, list, sizeof list);
    if (!bad) return NNFI_OK;
    eval_name(c, m, what, sizeof what);
    const char *model = c->models[mi].name;
    if (!m->ecfg->drop_nonfinite)
        return nnfi_campaign_error(c, NNFI_E_CONFIG, eval_field(m),
                                   "the golden run of model '%s' gives non-finite logits for %llu of %llu eval samples "
                                   "(%s) of %s\n  hint: an image holds NaN/Inf, or the model overflows on it: fix the "
                                   "eval set, or set eval.drop_nonfinite: true to leave these samples out",
                                   model, (unsigned long long)bad, (unsigned long long)n, list, what);
    if (bad == n)
        return nnfi_campaign_error(c, NNFI_E_CONFIG, eval_field(m),
                                   "the golden run of model '%s' gives non-finite logits for all %llu eval samples "
                                   "(%s) of %s: none left with eval.drop_nonfinite\n  hint: the images hold NaN/Inf, "
                                   "or the model overflows on every sample",
                                   model, (unsigned long long)n, list, what);
    uint8_t *flag = malloc(n);
    if (!flag) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nonfinite_samples(golden, n, m->classes, flag, list, sizeof list);
    uint64_t k = 0, numel = m->eval.numel;
    for (uint64_t i = 0; i < n; i++) {
        if (flag[i]) continue;
        if (k != i) {
            memmove(m->eval.inputs + k * numel, m->eval.inputs + i * numel, numel * sizeof(float));
            memmove(golden + k * m->classes, golden + i * m->classes, m->classes * sizeof(float));
            memmove(m->eval.labels + k * m->positions, m->eval.labels + i * m->positions,
                    m->positions * sizeof *m->eval.labels);
        }
        k++;
    }
    free(flag);
    m->eval.samples = k;
    m->pass.samples = k;
    m->dropped = bad;
    if (w->rank == 0)
        fprintf(stderr, "nnfi: model %s: %llu eval samples with non-finite golden logits dropped (%s)\n", model,
                (unsigned long long)bad, list);
    return NNFI_OK;
}

/* The golden (fault-free) logits over the eval set, computed once, timed,
 * and checked (check_golden): the eval set is final once this returns. */
static nnfi_status ensure_golden(nnfi_worker *w, unsigned mi)
{
    NNFI_TRY(open_model(w, mi));
    model_state *m = &w->models[mi];
    if (m->golden) return NNFI_OK;
    uint64_t n = m->eval.samples;
    float *golden = malloc(n * m->classes * sizeof(float));
    if (!golden) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for golden logits");
    double t0 = now_s();
    nnfi_status st = nnfi_golden_pass(&m->pass, golden);
    if (st == NNFI_OK) st = check_golden(w, mi, golden);
    /* samples left out: again over the samples kept, batched as every trial
     * will batch them (a forward's rows can differ in the last bit with the
     * batch around them), so that the golden run is what a fault-free trial
     * gives and the statistics equal a run on an eval set of these samples */
    if (st == NNFI_OK && m->dropped) st = nnfi_golden_pass(&m->pass, golden);
    if (st == NNFI_OK && m->dropped) {
        char list[160];
        uint64_t bad = nonfinite_samples(golden, m->eval.samples, m->classes, NULL, list, sizeof list);
        if (bad)
            st = nnfi_campaign_error(w->c, NNFI_E_INVALID, eval_field(m),
                                     "model '%s': %llu of the %llu eval samples kept give non-finite logits (%s) once "
                                     "the others are left out\n  hint: the model's rows are not independent of the "
                                     "batch around them; fix the eval set instead of eval.drop_nonfinite",
                                     w->c->models[mi].name, (unsigned long long)bad,
                                     (unsigned long long)m->eval.samples, list);
    }
    if (st != NNFI_OK) {
        free(golden);
        return st;
    }
    n = m->eval.samples;
    m->golden_seconds = now_s() - t0;
    nnfi_outcome o;
    nnfi_outcome_init(&o);
    nnfi_outcome_add(&o, golden, golden, m->eval.labels, n * m->positions, m->nclass);
    nnfi_outcome_finish(&o);
    m->golden_accuracy = o.accuracy;
    m->golden = golden;
    m->pass.golden = golden;
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
    if (m->ecfg->drop_nonfinite) NNFI_TRY(ensure_golden(w, mi));
    NNFI_TRY(open_model(w, mi));
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
    double t0 = now_s();
    nnfi_status st = nnfi_pack_pass(&m->pass, w->pack, w->n_pack);
    double each = (now_s() - t0) / (double)w->n_pack;
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

nnfi_status nnfi_worker_run_trials(nnfi_worker *w, uint64_t lo, uint64_t hi, double budget_s,
                                   const volatile sig_atomic_t *stop, nnfi_trial_row *rows, uint64_t *done)
{
    uint64_t *calls = NULL, trial = lo;
    nnfi_status st = NNFI_OK;
    w->n_pack = 0;
    double start = now_s();
    for (; st == NNFI_OK && trial < hi; trial++) {
        if (trial > lo && ((stop && *stop) || (budget_s > 0 && now_s() - start >= budget_s)))
            break; /* the caller's rows stay fresh, its signals answered */
        double t0 = now_s();
        nnfi_trial_row *row = &rows[trial - lo];
        memset(row, 0, sizeof *row);
        uint32_t e, p;
        uint64_t t;
        if ((st = nnfi_plan_locate(w->p, trial, &e, &p, &t)) != NNFI_OK) break;
        if ((st = prepare_experiment(w, e)) != NNFI_OK) break;
        unsigned mi = w->experiments[e].model;
        if ((st = ensure_golden(w, mi)) != NNFI_OK || (st = ensure_shortcuts(w, mi)) != NNFI_OK) break;
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
            row->wall_s = now_s() - t0;
            continue;
        }
        nnfi_pass_result r;
        if ((st = nnfi_trial_pass(&m->pass, &tf.f, NULL, &r)) != NNFI_OK) break;
        st = finish_row(w, m, trial, &r, row);
        row->wall_s = now_s() - t0;
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
    NNFI_TRY(ensure_golden(w, mi));
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

nnfi_status nnfi_worker_model_facts(nnfi_worker *w, unsigned mi, nnfi_model_facts *out)
{
    memset(out, 0, sizeof *out);
    if (mi >= w->c->models_count) return NNFI_FAIL(NNFI_E_INVALID, "no model %u", mi);
    NNFI_TRY(ensure_golden(w, mi));
    model_state *m = &w->models[mi];
    out->name = w->c->models[mi].name;
    out->sites = m->sites;
    out->n_sites = m->n_sites;
    out->golden_logits = m->golden;
    out->labels = m->eval.labels;
    out->samples = m->eval.samples;
    out->classes = m->nclass;
    out->positions = m->positions;
    out->golden_accuracy = m->golden_accuracy;
    out->golden_seconds = m->golden_seconds;
    out->host = m->host->name;
    out->host_facts = nnfi_host_facts(m->host, m->model);
    if (m->ecfg->drop_nonfinite) { /* the count left out, stored beside the golden run */
        size_t nf = 0;
        for (const char *const *f = out->host_facts; f && *f && nf < 62; f++) m->facts[nf++] = *f;
        snprintf(m->dropped_fact, sizeof m->dropped_fact, "dropped_nonfinite=%llu", (unsigned long long)m->dropped);
        m->facts[nf++] = m->dropped_fact;
        m->facts[nf] = NULL;
        out->host_facts = m->facts;
    }
    return NNFI_OK;
}

nnfi_status nnfi_worker_set_golden(nnfi_worker *w, unsigned mi, const float *golden)
{
    if (mi >= w->c->models_count) return NNFI_FAIL(NNFI_E_INVALID, "no model %u", mi);
    NNFI_TRY(ensure_golden(w, mi));
    model_state *m = &w->models[mi];
    uint64_t n = m->eval.samples;
    char list[160];
    uint64_t bad = nonfinite_samples(golden, n, m->classes, NULL, list, sizeof list);
    if (bad) /* rank 0 refuses (or drops) these before it shares them: this rank's eval set is not rank 0's */
        return nnfi_campaign_error(w->c, NNFI_E_INVALID, eval_field(m),
                                   "model '%s': rank 0's golden logits are non-finite for %llu of %llu eval samples "
                                   "(%s) of this rank\n  hint: every rank must read the same eval set and compute the "
                                   "same golden run",
                                   w->c->models[mi].name, (unsigned long long)bad, (unsigned long long)n, list);
    memcpy(m->golden, golden, n * m->classes * sizeof(float));
    golden_cache_free(&m->cache); /* built against the old golden logits */
    m->pass.cache = NULL;
    m->shortcuts_ready = 0;
    nnfi_outcome o;
    nnfi_outcome_init(&o);
    nnfi_outcome_add(&o, m->golden, m->golden, m->eval.labels, n * m->positions, m->nclass);
    nnfi_outcome_finish(&o);
    m->golden_accuracy = o.accuracy;
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
