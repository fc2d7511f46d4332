/* resolve.c - a campaign's fault group + a model's site table -> a group plan
 * the sampler can draw from (selected sites, element prefix sums, candidate
 * bits per dtype). All "this selector matches nothing" style errors live here
 * and point back at the campaign field. */
#include "nnfi/plan.h"
#include "nnfi/fm_sampler.h"

#include <fnmatch.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *nnfi_site_kind_name(nnfi_site_kind k)
{
    switch (k) {
    case NNFI_SITE_PARAM: return "param";
    case NNFI_SITE_BUFFER: return "buffer";
    case NNFI_SITE_ACTIVATION: return "activation";
    case NNFI_SITE_INPUT: return "input";
    case NNFI_SITE_STATE: return "state";
    }
    return "?";
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int target_matches(nnfi_target t, const nnfi_site *s)
{
    switch (t) {
    case NNFI_TARGET_WEIGHT: return s->kind == NNFI_SITE_PARAM && ends_with(s->name, "weight");
    case NNFI_TARGET_BIAS: return s->kind == NNFI_SITE_PARAM && ends_with(s->name, "bias");
    case NNFI_TARGET_PARAM: return s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER;
    case NNFI_TARGET_ACTIVATION: return s->kind == NNFI_SITE_ACTIVATION;
    case NNFI_TARGET_INPUT: return s->kind == NNFI_SITE_INPUT;
    case NNFI_TARGET_STATE: return s->kind == NNFI_SITE_STATE;
    }
    return 0;
}

/* "available weight sites: a, b, ..." for hints (at most ~40 names). */
static void list_sites(nnfi_target t, const nnfi_site *sites, size_t n, char *out, size_t cap)
{
    size_t used = (size_t)snprintf(out, cap, "available %s sites:", nnfi_target_name(t));
    size_t shown = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!target_matches(t, &sites[i])) continue;
        total++;
        if (shown < 40 && used + strlen(sites[i].name) + 8 < cap) {
            used += (size_t)snprintf(out + used, cap - used, " %s", sites[i].name);
            shown++;
        }
    }
    if (total == 0) snprintf(out + used, cap - used, " none (this model has no %s sites; see 'nnfi sites')",
                             nnfi_target_name(t));
    else if (shown < total) snprintf(out + used, cap - used, " ... (%zu more; see 'nnfi sites')", total - shown);
}

/* A (non)zero test on the element's value: +0.0 and -0.0 are both zero. */
static int value_selected(const nnfi_site *s, uint64_t e, nnfi_values v)
{
    uint64_t w = nnfi_elem_load(s->data, s->dtype, e);
    int zero = nnfi_value_decode(w, s->dtype) == 0.0;
    return v == NNFI_VALUES_ZERO ? zero : !zero;
}

static uint64_t count_values(const nnfi_site *s, nnfi_values v)
{
    uint64_t k = 0;
    for (uint64_t e = 0; e < s->numel; e++) k += (uint64_t)value_selected(s, e, v);
    return k;
}

static uint64_t candidate_mask(const nnfi_bits_cfg *b, nnfi_dtype dt, int *beyond)
{
    uint64_t width = nnfi_low_mask(nnfi_dtype_bits(dt)), m = 0;
    *beyond = 0;
    if (b->list) {
        for (unsigned i = 0; i < b->list_count; i++) m |= (uint64_t)1 << b->list[i];
    } else if (b->range) {
        m = nnfi_low_mask(b->range[1] + 1) & ~nnfi_low_mask(b->range[0]);
    } else {
        return nnfi_preset_mask(dt, b->preset);
    }
    *beyond = (m & ~width) != 0;
    return m & width;
}

void nnfi_group_plan_free(nnfi_group_plan *g)
{
    if (!g) return;
    free((void *)g->site_ids);
    free((void *)g->prefix);
    free((void *)g->site_dtype);
    free((void *)g->index_map);
    free((void *)g->fm_shape);
    free((void *)g->fm_range);
    memset(g, 0, sizeof *g);
}

nnfi_status nnfi_group_resolve(const nnfi_campaign *c, unsigned xi, unsigned gi,
                               const nnfi_site *sites, size_t n_sites, uint64_t calls,
                               uint64_t samples, nnfi_group_plan *out)
{
    memset(out, 0, sizeof *out);
    const nnfi_group_cfg *g = &c->experiments[xi].groups[gi];
    char path[128], hint[4096];
    snprintf(path, sizeof path, "experiments[%u].groups[%u]", xi, gi);
    regex_t re;
    if (g->regex) {
        int rc = regcomp(&re, g->regex, REG_EXTENDED | REG_NOSUB);
        if (rc != 0) {
            char why[256];
            regerror(rc, &re, why, sizeof why);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, strcat(path, ".regex"),
                                       "bad regular expression '%s': %s\n  hint: POSIX extended syntax, e.g. '^conv[0-9]+\\.weight$'",
                                       g->regex, why);
        }
    }
    uint32_t *ids = malloc((n_sites ? n_sites : 1) * sizeof *ids);
    uint64_t *prefix = malloc((n_sites + 1) * sizeof *prefix);
    uint8_t *dts = malloc((n_sites ? n_sites : 1) * sizeof *dts);
    if (!ids || !prefix || !dts) {
        free(ids);
        free(prefix);
        free(dts);
        if (g->regex) regfree(&re);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    uint32_t n = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n_sites; i++) {
        const nnfi_site *s = &sites[i];
        if (!target_matches(g->target, s) || s->numel == 0) continue;
        if (g->values != NNFI_VALUES_ANY && !s->data) continue;
        int ok = 1;
        if (g->sites) {
            ok = 0;
            for (unsigned j = 0; j < g->sites_count && !ok; j++) ok = fnmatch(g->sites[j], s->name, 0) == 0;
        } else if (g->regex) {
            ok = regexec(&re, s->name, 0, NULL, 0) == 0;
        }
        if (!ok) continue;
        ids[n] = (uint32_t)i;
        dts[n] = (uint8_t)s->dtype;
        prefix[n] = total;
        total += g->values == NNFI_VALUES_ANY ? s->numel : count_values(s, g->values);
        n++;
    }
    prefix[n] = total;
    if (g->regex) regfree(&re);
    out->site_ids = ids;
    out->prefix = prefix;
    out->site_dtype = dts;
    out->n_sites = n;
    out->total = total;
    if (n > 0 && total == 0 && g->values != NNFI_VALUES_ANY) {
        nnfi_group_plan_free(out);
        return nnfi_campaign_error(c, NNFI_E_NOTFOUND, strcat(path, ".values"),
                                   "group '%s': the selected sites have no %s elements\n  hint: use 'values: any', or select other sites",
                                   g->name, nnfi_values_name(g->values));
    }
    if (g->values != NNFI_VALUES_ANY && n > 0) {
        uint64_t *map = malloc(total * sizeof *map);
        if (!map) {
            nnfi_group_plan_free(out);
            return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu selected elements", (unsigned long long)total);
        }
        uint64_t k = 0;
        for (uint32_t j = 0; j < n; j++) {
            const nnfi_site *s = &sites[ids[j]];
            for (uint64_t e = 0; e < s->numel; e++)
                if (value_selected(s, e, g->values)) map[k++] = e;
        }
        out->index_map = map;
    }
    if (n == 0) {
        list_sites(g->target, sites, n_sites, hint, sizeof hint);
        nnfi_group_plan_free(out);
        return nnfi_campaign_error(c, NNFI_E_NOTFOUND, g->sites ? strcat(path, ".sites") : g->regex ? strcat(path, ".regex") : strcat(path, ".target"),
                                   "group '%s' selects no site (target %s)\n  hint: %s", g->name,
                                   nnfi_target_name(g->target), hint);
    }
    if (g->element) {
        if (n != 1) {
            list_sites(g->target, sites, n_sites, hint, sizeof hint);
            nnfi_group_plan_free(out);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, strcat(path, ".element"),
                                       "an explicit element needs exactly one site, the selectors match %u\n  hint: narrow 'sites' to one name; %s",
                                       n, hint);
        }
        if (*g->element >= total) {
            const char *site_name = sites[ids[0]].name;
            nnfi_group_plan_free(out);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, strcat(path, ".element"),
                                       "element %llu is outside site '%s' (%llu elements)\n  hint: elements are numbered 0 to %llu",
                                       (unsigned long long)*g->element, site_name,
                                       (unsigned long long)total, (unsigned long long)total - 1);
        }
        out->element = (int64_t)*g->element;
    } else {
        out->element = -1;
    }
    for (uint32_t i = 0; i < n; i++) {
        nnfi_dtype dt = (nnfi_dtype)dts[i];
        if (out->candidates[dt]) continue;
        int beyond = 0;
        uint64_t m = candidate_mask(g->bits, dt, &beyond);
        if (m == 0 || beyond || (g->bits->count && g->bits->count > (uint32_t)__builtin_popcountll(m))) {
            const char *site_name = sites[ids[i]].name;
            const char *why = m == 0 ? "selects no bit of" : beyond ? "names bits beyond the width of" : "asks for more bits than it offers in";
            nnfi_group_plan_free(out);
            return nnfi_campaign_error(c, NNFI_E_CONFIG, strcat(path, ".bits"),
                                       "the bit selection %s dtype %s (%u bits) of site '%s'\n  hint: use a preset (sign, exponent, mantissa, all) or bits 0..%u; narrow the sites to one dtype",
                                       why, nnfi_dtype_name(dt), nnfi_dtype_bits(dt), site_name,
                                       nnfi_dtype_bits(dt) - 1);
        }
        out->candidates[dt] = m;
    }
    out->bit_count = g->bits->all ? 0 : g->bits->count;
    out->op = (uint8_t)g->op;
    out->set_value = g->value ? *g->value : 0;
    out->transient = g->persistence == NNFI_TRANSIENT;
    out->scope = (uint8_t)g->scope;
    out->calls = calls;
    out->samples = samples;
    out->t_from = g->time_steps ? g->time_steps->from : 0;
    out->t_to = g->time_steps ? g->time_steps->to : UINT32_MAX;
    out->duration = g->duration;
    out->distinct = g->distinct;
    if (g->fm) {
        nnfi_status st = nnfi_fm_group_resolve(c, xi, gi, sites, out);
        if (st != NNFI_OK) nnfi_group_plan_free(out);
        return st;
    }
    return NNFI_OK;
}
