/* fm_resolve.c - the fault-model part of resolving a group against a model's
 * sites (fm_sampler.h): each selected site's tensor view, its value range
 * (golden min/max of a parameter in host memory, else the group's
 * value_range), and the mapping of the model's scope onto the group plan's
 * persistence fields. Errors point at the campaign field. */
#include "nnfi/fm_sampler.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void view_of(const nnfi_site *s, nnfi_fm_shape *v)
{
    uint64_t n = s->numel ? s->numel : 1;
    v->dtype = s->dtype;
    v->c = 1, v->h = 1, v->w = n;
    int param = s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER;
    if (param) {
        if (s->ndim >= 2 && s->shape[0] > 0) v->h = (uint64_t)s->shape[0], v->w = n / v->h;
    } else if (s->ndim >= 3 && s->shape[0] > 0 && s->shape[1] > 0) {
        v->c = (uint64_t)s->shape[0], v->h = (uint64_t)s->shape[1], v->w = n / (v->c * v->h);
    } else if (s->ndim == 2 && s->shape[0] > 0) {
        v->h = (uint64_t)s->shape[0], v->w = n / v->h;
    }
}

/* Does any pattern of the model ever need a value range? */
static int needs_range(const nnfi_fault_model *fm)
{
    for (uint32_t p = 0; p < fm->n_patterns; p++) {
        const nnfi_fm_pattern *pat = &fm->patterns[p];
        if (pat->frequency <= 0) continue;
        for (uint32_t m = 0; m < pat->n_mixes; m++) {
            const nnfi_fm_mix *x = &pat->mixes[m];
            if (x->weight <= 0) continue;
            if (x->share[NNFI_FM_RANDOM_IN_RANGE] > 0 || x->share[NNFI_FM_OUT_OF_RANGE] > 0 ||
                x->ranged == NNFI_FM_RANDOM_IN_RANGE || x->ranged == NNFI_FM_OUT_OF_RANGE)
                return 1;
        }
    }
    return 0;
}

/* Highest bit a bitflip of the model can name (-1: uniform over the dtype). */
static int max_bit(const nnfi_fault_model *fm)
{
    int mb = -1;
    for (uint32_t p = 0; p < fm->n_patterns; p++)
        if (!fm->patterns[p].bit_uniform && fm->patterns[p].max_bit > mb) mb = fm->patterns[p].max_bit;
    return mb;
}

nnfi_status nnfi_fm_group_resolve(const nnfi_campaign *c, unsigned xi, unsigned gi, const nnfi_site *sites,
                                  nnfi_group_plan *out)
{
    const nnfi_group_cfg *g = &c->experiments[xi].groups[gi];
    char path[128];
    nnfi_fm_shape *shape = calloc(out->n_sites, sizeof *shape);
    double *range = calloc(2 * (size_t)out->n_sites, sizeof *range);
    if (!shape || !range) {
        free(shape);
        free(range);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    out->fm_shape = shape;
    out->fm_range = range; /* owned by the plan from here: nnfi_group_plan_free */
    int need = needs_range(g->fm), mb = max_bit(g->fm);
    for (uint32_t i = 0; i < out->n_sites; i++) {
        const nnfi_site *s = &sites[out->site_ids[i]];
        view_of(s, &shape[i]);
        if (s->numel >= 0xFFFFFFE0ull) {
            snprintf(path, sizeof path, "experiments[%u].groups[%u].fault_model", xi, gi);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, path,
                                       "site '%s' has %llu elements per sample; a fault model draws on tensors "
                                       "below 2^32 - 32 elements\n  hint: select smaller sites with 'sites'",
                                       s->name, (unsigned long long)s->numel);
        }
        if (mb >= (int)nnfi_dtype_bits(s->dtype)) {
            snprintf(path, sizeof path, "experiments[%u].groups[%u].fault_model", xi, gi);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, path,
                                       "the model flips bit %d, beyond the %u bits of site '%s' (%s)\n  hint: "
                                       "select sites of a wider dtype, or give the model's bits for this dtype",
                                       mb, nnfi_dtype_bits(s->dtype), s->name, nnfi_dtype_name(s->dtype));
        }
        int param = s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER;
        if (param && s->data && s->device < 0) {
            double lo = INFINITY, hi = -INFINITY;
            for (uint64_t e = 0; e < s->numel; e++) {
                double v = nnfi_value_decode(nnfi_elem_load(s->data, s->dtype, e), s->dtype);
                if (!isfinite(v)) continue;
                if (v < lo) lo = v;
                if (v > hi) hi = v;
            }
            if (lo > hi) lo = hi = 0; /* no finite value */
            range[2 * i] = lo, range[2 * i + 1] = hi;
        } else if (g->value_range) {
            range[2 * i] = g->value_range[0], range[2 * i + 1] = g->value_range[1];
        } else if (need) {
            snprintf(path, sizeof path, "experiments[%u].groups[%u]", xi, gi);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, path,
                                       "the fault model draws values in or out of range, and site '%s' (%s) has "
                                       "no golden values to take the range from\n  hint: add 'value_range: [lo, "
                                       "hi]' to the group (e.g. the site's fault-free range)",
                                       s->name, nnfi_site_kind_name(s->kind));
        }
    }
    out->fm = g->fm;
    /* the model's scope -> persistence / scope (fm_sampler.h) */
    out->transient = g->fm->scope != NNFI_FM_PERMANENT;
    out->scope = NNFI_SCOPE_CALL;
    int any_param = 0;
    for (uint32_t i = 0; i < out->n_sites; i++) {
        nnfi_site_kind k = sites[out->site_ids[i]].kind;
        any_param |= k == NNFI_SITE_PARAM || k == NNFI_SITE_BUFFER;
    }
    if (g->fm->scope == NNFI_FM_PER_SAMPLE && !any_param) out->scope = NNFI_SCOPE_SAMPLE;
    /* per_step: one step of the time_steps window; per_call / per_sample: the
     * whole window (the group's duration is the config default 1 otherwise,
     * which would make them one step too) */
    if (g->fm->scope == NNFI_FM_PER_STEP) out->duration = 1;
    else if (out->transient && out->t_to != UINT32_MAX) out->duration = out->t_to - out->t_from + 1;
    if (!out->transient) out->t_from = 0, out->t_to = UINT32_MAX;
    return NNFI_OK;
}
