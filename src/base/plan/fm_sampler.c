/* fm_sampler.c - pattern occurrences of a fault-model group as ordinary
 * faults (the counter layout and the expansion rules are in fm_sampler.h). */
#include "nnfi/fm_sampler.h"
#include "nnfi/sampler_core.h"
#include "nnfi/categories.h"

#include <stdlib.h>
#include <string.h>

/* /trials/pattern stores kind + 1 (0: no fault model): the lists must agree. */
#define FM_COUNT_ONE(...) +1
#define CAT_COUNT_ONE(c, code, name) +1
_Static_assert((0 NNFI_PATTERN_VALUES(CAT_COUNT_ONE)) == NNFI_FM_KIND_COUNT + 1,
               "NNFI_PATTERN_VALUES must list 'none' and every NNFI_FM_KINDS entry");

nnfi_status nnfi_fm_group_occurrence(const nnfi_group_plan *g, nnfi_fault_id id, uint32_t o, nnfi_fm_pick *pick,
                                     nnfi_fm_occurrence *occ)
{
    nnfi_philox_ctr d = nnfi_sampler_draw(id, 0, 2 * o + 1);
    uint64_t x = nnfi_mulhi64(nnfi_u64_of(d.v[0], d.v[1]), g->total);
    uint32_t lo = 0, hi = g->n_sites - 1; /* the site of element x: last i with prefix[i] <= x */
    while (lo < hi) {
        uint32_t mid = (lo + hi + 1) / 2;
        if (g->prefix[mid] <= x) lo = mid;
        else hi = mid - 1;
    }
    pick->sel = lo;
    pick->when = -1;
    pick->t_first = g->t_from;
    pick->t_last = g->t_to;
    if (g->transient) {
        uint64_t range = g->scope == NNFI_SCOPE_SAMPLE ? g->samples : g->calls;
        pick->when = (int64_t)nnfi_mulhi32(d.v[2], (uint32_t)(range ? range : 1));
        if (g->t_to != UINT32_MAX) {
            uint32_t starts = g->t_to - g->t_from + 1 - (g->duration - 1);
            pick->t_first = g->t_from + nnfi_mulhi32(d.v[3], starts);
            pick->t_last = pick->t_first + g->duration - 1;
        }
    }
    nnfi_philox_key key = {{(uint32_t)id.seed, (uint32_t)(id.seed >> 32)}};
    nnfi_philox_ctr ctr = {{0, 2 * o, id.trial, (id.experiment << 20) | (id.group << 16) | id.point}};
    return nnfi_fm_draw(g->fm, key, ctr, &g->fm_shape[lo], occ);
}

static nnfi_status grow(void **p, uint64_t n, size_t each)
{
    void *q = realloc(*p, (size_t)n * each);
    if (!q) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu fault-model elements", (unsigned long long)n);
    *p = q;
    return NNFI_OK;
}

nnfi_status nnfi_fm_reserve(nnfi_fault **buf, uint64_t *cap, uint64_t n)
{
    if (n <= *cap) return NNFI_OK;
    uint64_t ncap = *cap * 2 > n ? *cap * 2 : n;
    NNFI_TRY(grow((void **)buf, ncap, sizeof **buf));
    *cap = ncap;
    return NNFI_OK;
}

nnfi_status nnfi_fm_group_faults(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t n, nnfi_fault **buf,
                                 uint64_t *cap, uint64_t *at, int *first_kind)
{
    uint64_t scap = 256;
    uint64_t *elems = malloc(scap * sizeof *elems), *words = malloc(scap * sizeof *words);
    uint8_t *cls = malloc(scap);
    nnfi_status st = elems && words && cls ? NNFI_OK : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    for (uint64_t o = 0; st == NNFI_OK && o < n; o++) {
        nnfi_fm_pick pick;
        nnfi_fm_occurrence occ = {.elems = elems, .classes = cls, .words = words, .cap = scap};
        st = nnfi_fm_group_occurrence(g, id, (uint32_t)o, &pick, &occ);
        if (st == NNFI_E_INVALID && occ.n > occ.cap) { /* a larger occurrence: again, with room */
            scap = occ.n;
            if ((st = grow((void **)&elems, scap, sizeof *elems)) != NNFI_OK) break;
            if ((st = grow((void **)&words, scap, sizeof *words)) != NNFI_OK) break;
            if ((st = grow((void **)&cls, scap, 1)) != NNFI_OK) break;
            occ = (nnfi_fm_occurrence){.elems = elems, .classes = cls, .words = words, .cap = scap};
            st = nnfi_fm_group_occurrence(g, id, (uint32_t)o, &pick, &occ);
        }
        if (st != NNFI_OK) break;
        if (o == 0 && first_kind && *first_kind < 0) *first_kind = (int)occ.kind;
        if ((st = nnfi_fm_reserve(buf, cap, *at + occ.n)) != NNFI_OK) break;
        const nnfi_fm_shape *v = &g->fm_shape[pick.sel];
        double lo = g->fm_range[2 * pick.sel], hi = g->fm_range[2 * pick.sel + 1];
        uint64_t width = nnfi_low_mask(nnfi_dtype_bits(v->dtype));
        nnfi_fault *f = *buf + *at;
        for (uint64_t i = 0; i < occ.n; i++, f++) {
            f->element = occ.elems[i];
            f->site = g->site_ids[pick.sel];
            f->group = (uint8_t)id.group;
            f->transient = g->transient;
            f->scope = g->scope;
            f->when = pick.when;
            f->t_first = pick.t_first;
            f->t_last = pick.t_last;
            if (occ.classes[i] == NNFI_FM_BITFLIP) {
                f->op = NNFI_OP_FLIP;
                f->mask = occ.words[i];
                f->value = 0;
            } else {
                f->op = NNFI_OP_SET;
                f->mask = width;
                f->value = nnfi_value_encode(nnfi_fm_value((nnfi_fm_class)occ.classes[i], occ.words[i], lo, hi),
                                             v->dtype);
            }
        }
        *at += occ.n;
    }
    free(elems);
    free(words);
    free(cls);
    return st;
}
