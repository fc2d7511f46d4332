/* trial_pass.c - the one trial pass and the fault-free pass (see
 * trial_pass.h). */
#include "nnfi/trial_pass.h"

#include <string.h>
#include <time.h>

static double thread_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int on_hooked_site(const nnfi_site *sites, uint32_t site)
{
    nnfi_site_kind k = sites[site].kind;
    return k != NNFI_SITE_PARAM && k != NNFI_SITE_BUFFER;
}

/* Does any fault land on an activation, input or state site (applied through
 * the hook)? Without one, the forward runs with no hook at all. */
static int needs_hook(const nnfi_pass_model *m, const nnfi_pass_faults *f, int generated)
{
    if (generated) {
        for (unsigned g = 0; g < f->n_groups; g++)
            for (uint32_t i = 0; f->counts[g] && i < f->groups[g]->n_sites; i++)
                if (on_hooked_site(m->sites, f->groups[g]->site_ids[i])) return 1;
        return 0;
    }
    for (uint64_t i = 0; i < f->n; i++)
        if (on_hooked_site(m->sites, f->list[i].site)) return 1;
    return 0;
}

typedef struct hook_ctx {
    const nnfi_inject_backend *be;
    nnfi_injector *inj;
    nnfi_pass_probe *probe;
    const nnfi_pass_model *m;
    uint32_t drop_site;    /* UINT32_MAX: none */
    uint64_t first_sample; /* of the running call */
} hook_ctx;

/* Fault dropping: does the drop site's tensor hold the golden values of every row? */
static int masked(const hook_ctx *h, const void *data, uint64_t rows)
{
    const nnfi_golden_cache *c = h->m->cache;
    int32_t cut = c->value_cut[h->drop_site];
    uint64_t b = c->bytes[cut];
    return memcmp(data, (const char *)c->live[cut] + h->first_sample * b, rows * b) == 0;
}

static nnfi_status site_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    hook_ctx *h = user;
    if (site == h->drop_site && t == 0 && masked(h, data, rows)) return NNFI_STOP;
    if (!h->probe) return h->be->on_site(h->inj, site, data, t);
    double t0 = thread_cpu_s();
    nnfi_status st = h->be->on_site(h->inj, site, data, t);
    h->probe->site_s += thread_cpu_s() - t0;
    return st;
}

nnfi_status nnfi_trial_pass(const nnfi_pass_model *m, const nnfi_pass_faults *f, nnfi_pass_probe *probe,
                            nnfi_pass_result *r)
{
    memset(r, 0, sizeof *r);
    const nnfi_inject_backend *be = m->backend;
    int generated = f->groups && nnfi_inject_has_arm_generated(be);
    int hooked = needs_hook(m, f, generated);
    double t0 = probe ? thread_cpu_s() : 0;
    if (probe) probe->site_s = 0;
    if (generated) NNFI_TRY(be->arm_generated(m->inj, f->groups, f->ids, f->counts, f->n_groups));
    else NNFI_TRY(be->arm(m->inj, f->list, f->n));
    if (probe) probe->arm_s = thread_cpu_s() - t0;

    hook_ctx hc = {be, m->inj, probe, m, f->drop_at ? f->drop_at - 1 : UINT32_MAX, 0};
    if (probe) probe->dropped = 0;
    nnfi_status st = m->host->set_hook(m->model, hooked ? site_hook : NULL, &hc);
    nnfi_outcome_init(&r->outcome);
    nnfi_outcome golden_rows, faulty_rows; /* the evaluated calls' rows, for nnfi_outcome_replace */
    nnfi_outcome_init(&golden_rows);
    nnfi_outcome_init(&faulty_rows);
    uint64_t n_calls = f->calls ? f->n_calls : (m->samples + m->batch - 1) / m->batch;
    for (uint64_t i = 0; st == NNFI_OK && i < n_calls; i++) {
        uint64_t call = f->calls ? f->calls[i] : i, s = call * m->batch;
        uint64_t rows = m->samples - s < m->batch ? m->samples - s : m->batch;
        st = be->begin_call(m->inj, call, s, rows);
        if (st != NNFI_OK) break;
        hc.first_sample = s;
        if (f->from_cut) {
            uint32_t c = f->from_cut - 1;
            const char *live = (const char *)m->cache->live[c] + s * m->cache->bytes[c];
            st = m->host->forward_from(m->model, c, live, rows, m->logits);
        } else {
            st = m->host->forward(m->model, m->inputs + s * m->numel, rows, m->logits);
        }
        const float *golden = m->golden + s * m->classes;
        if (st == NNFI_STOP) { /* masked: this call's logits are the golden ones */
            st = NNFI_OK;
            if (probe) probe->dropped++;
            if (!f->calls) nnfi_pass_outcome_add(&r->outcome, m, golden, s, rows);
            if (probe && probe->all_logits)
                memcpy(probe->all_logits + s * m->classes, golden, rows * m->classes * sizeof(float));
            continue;
        }
        if (st != NNFI_OK) break;
        if (f->calls) {
            nnfi_pass_outcome_add(&faulty_rows, m, m->logits, s, rows);
            nnfi_pass_outcome_add(&golden_rows, m, golden, s, rows);
        } else {
            nnfi_pass_outcome_add(&r->outcome, m, m->logits, s, rows);
        }
        if (probe && probe->all_logits)
            memcpy(probe->all_logits + s * m->classes, m->logits, rows * m->classes * sizeof(float));
    }
    if (f->calls) nnfi_outcome_replace(&r->outcome, m->golden_self, &golden_rows, &faulty_rows);
    m->host->set_hook(m->model, NULL, NULL);
    double t1 = probe ? thread_cpu_s() : 0;
    r->restore_status = be->disarm(m->inj);
    if (probe) probe->disarm_s = thread_cpu_s() - t1;
    r->forward_status = st;
    nnfi_outcome_finish(&r->outcome);
    return NNFI_OK;
}

void nnfi_pass_outcome_add(nnfi_outcome *o, const nnfi_pass_model *m, const float *faulty, uint64_t s, uint64_t rows)
{
    uint32_t P = nnfi_pass_positions(m);
    nnfi_outcome_add(o, m->golden + s * m->classes, faulty, m->labels + s * P, rows * P, m->classes / P);
}

nnfi_status nnfi_golden_pass(const nnfi_pass_model *m, float *out)
{
    NNFI_TRY(m->host->set_hook(m->model, NULL, NULL));
    for (uint64_t s = 0; s < m->samples; s += m->batch) {
        uint64_t rows = m->samples - s < m->batch ? m->samples - s : m->batch;
        NNFI_TRY(m->host->forward(m->model, m->inputs + s * m->numel, rows, out + s * m->classes));
    }
    return NNFI_OK;
}
