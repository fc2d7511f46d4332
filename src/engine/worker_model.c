/* worker_model.c - the worker's models (see worker.h): opening a model with
 * its eval set (input shape and dtype from the data, labels checked against
 * the model's classes and positions), the golden run with its checks
 * (non-finite logits refused or dropped), and what the writer and golden
 * sync read and set (nnfi_worker_model_facts, nnfi_worker_set_golden).
 * worker.c runs the trials; both share worker_internal.h. */
#include "worker_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnfi/eval_set.h"
#include "nnfi/registry.h"


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
nnfi_status worker_open_model(nnfi_worker *w, unsigned mi)
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
nnfi_status worker_ensure_golden(nnfi_worker *w, unsigned mi)
{
    NNFI_TRY(worker_open_model(w, mi));
    model_state *m = &w->models[mi];
    if (m->golden) return NNFI_OK;
    uint64_t n = m->eval.samples;
    float *golden = malloc(n * m->classes * sizeof(float));
    if (!golden) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for golden logits");
    double t0 = worker_now_s();
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
    m->golden_seconds = worker_now_s() - t0;
    nnfi_outcome o;
    nnfi_outcome_init(&o);
    nnfi_outcome_add(&o, golden, golden, m->eval.labels, n * m->positions, m->nclass);
    nnfi_outcome_finish(&o);
    m->golden_accuracy = o.accuracy;
    m->golden = golden;
    m->pass.golden = golden;
    return NNFI_OK;
}

nnfi_status nnfi_worker_model_facts(nnfi_worker *w, unsigned mi, nnfi_model_facts *out)
{
    memset(out, 0, sizeof *out);
    if (mi >= w->c->models_count) return NNFI_FAIL(NNFI_E_INVALID, "no model %u", mi);
    NNFI_TRY(worker_ensure_golden(w, mi));
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
    NNFI_TRY(worker_ensure_golden(w, mi));
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

