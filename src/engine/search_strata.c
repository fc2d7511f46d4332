/* search_strata.c - the stratified estimator of the critical-bit search
 * (search.h, `strata_width`): for every (site, bit) stratum of the searched
 * sites, elements of the site drawn uniformly with replacement (Philox,
 * keyed by the campaign seed: the same draws every run) have that bit
 * flipped and evaluated alone, until the stratum's Wilson interval is at
 * most `strata_width` wide (or `strata_max` draws). Unlike the search's own
 * labels, which include predictions, every sample here is an evaluation: the
 * estimate is unbiased for the fraction of the site's elements whose bit is
 * critical, and its interval covers it at about its nominal rate. */
#include "search_internal.h"

#include <stdlib.h>
#include <string.h>

#include "nnfi/philox.h"
#include "nnfi/plan.h"

#define STRATA_MIN 8 /* draws before the width is looked at */

/* Draw j of stratum (site i of the group, bit b): an element of that site. */
static uint64_t draw_element(const nnfi_group_plan *gp, uint32_t i, unsigned b, uint64_t j, uint64_t seed, unsigned e)
{
    nnfi_philox_ctr c = {{(uint32_t)j, (uint32_t)(j >> 32), (uint32_t)b | (i << 8), 0x5eac0000u | e}};
    nnfi_philox_key k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    nnfi_philox_ctr r = nnfi_philox4x32_10(c, k);
    uint64_t n = gp->prefix[i + 1] - gp->prefix[i];
    uint64_t ord = gp->prefix[i] + nnfi_mulhi64(nnfi_u64_of(r.v[0], r.v[1]), n);
    return gp->index_map ? gp->index_map[ord] : ord - gp->prefix[i];
}

nnfi_status search_strata(search_ctx *sc, const nnfi_site *sites, const nnfi_group_plan *gp, const uint8_t *searched,
                          uint64_t seed, nnfi_search_result *out)
{
    const nnfi_search_cfg *s = sc->s;
    uint64_t cap_strata = 0;
    for (uint32_t i = 0; i < gp->n_sites; i++)
        if (searched[gp->site_ids[i]]) cap_strata += 64;
    out->strata = calloc(cap_strata ? cap_strata : 1, sizeof *out->strata);
    if (!out->strata) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    out->confidence = 0.95;
    out->strata_sampled = 1;
    for (uint32_t i = 0; i < gp->n_sites; i++) {
        uint32_t site = gp->site_ids[i];
        if (!searched[site]) continue;
        const nnfi_site *st = &sites[site];
        uint64_t mask = gp->candidates[st->dtype];
        for (unsigned b = 0; b < 64; b++) {
            if (!(mask >> b & 1)) continue;
            nnfi_search_stratum *z = &out->strata[out->n_strata++];
            z->site = site;
            z->bit = (uint8_t)b;
            for (uint64_t j = 0; j < s->strata_max; j++) {
                uint64_t el = draw_element(gp, i, b, j, seed, sc->e);
                elem x = {site, el, st->dtype, nnfi_elem_load(st->data, st->dtype, el), mask, 0, 0};
                int c;
                NNFI_TRY(eval_single(sc, &x, b, &c));
                out->evals_strata++;
                z->elements++;
                z->critical += (uint64_t)c;
                if (z->elements >= STRATA_MIN) {
                    nnfi_wilson_interval(z->critical, z->elements, out->confidence, &z->lo, &z->hi);
                    if (z->hi - z->lo <= s->strata_width) break;
                }
            }
            z->fraction = (double)z->critical / (double)z->elements;
            nnfi_wilson_interval(z->critical, z->elements, out->confidence, &z->lo, &z->hi);
        }
    }
    return NNFI_OK;
}
