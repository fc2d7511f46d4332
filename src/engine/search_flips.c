/* search_flips.c - an element's single-bit flips for the critical-bit
 * search (search_internal.h): the change each makes, their order, the
 * monotonicity of a side's labels, and their evaluation (alone or as a
 * group) under the experiment's criterion. */
#include "search_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HUGE_VALUE 18446744073709551616.0 /* 2^64 */
#define GROUP_MAX NNFI_SEARCH_POOL_MAX

double flip_change(const elem *x, unsigned b, double *after)
{
    double v0 = nnfi_value_decode(x->word, x->dt);
    *after = nnfi_value_decode(x->word ^ (UINT64_C(1) << b), x->dt);
    return *after - v0;
}

int certain_critical(const elem *x, unsigned b)
{
    double after;
    flip_change(x, b, &after);
    return nnfi_dtype_is_float(x->dt) && (!isfinite(after) || fabs(after) >= HUGE_VALUE);
}

int flip_side(const elem *x, unsigned b)
{
    double after;
    return flip_change(x, b, &after) > 0 ? 1 : -1;
}

void sort_by_change(const elem *x, unsigned *flips, unsigned n)
{
    double after, mag[64];
    for (unsigned i = 0; i < n; i++) mag[i] = fabs(flip_change(x, flips[i], &after));
    for (unsigned i = 1; i < n; i++) {
        unsigned b = flips[i], j = i;
        double m = mag[i];
        while (j > 0 && mag[j - 1] > m) {
            flips[j] = flips[j - 1];
            mag[j] = mag[j - 1];
            j--;
        }
        flips[j] = b;
        mag[j] = m;
    }
}

int side_monotone(const elem *x, const uint8_t lab[64], int side)
{
    unsigned order[64], n = 0;
    for (unsigned b = 0; b < 64; b++)
        if ((x->mask >> b & 1) && !certain_critical(x, b) && flip_side(x, b) == side) order[n++] = b;
    sort_by_change(x, order, n);
    for (unsigned i = 1; i < n; i++)
        if (lab[order[i - 1]] && !lab[order[i]]) return 0;
    return 1;
}

static int meets(const search_ctx *sc, const nnfi_outcome *o, int failed)
{
    if (failed || o->nonfinite > 0) return 1;
    switch (sc->s->criterion) {
    case NNFI_WATCH_SDC: return o->mismatches > 0;
    case NNFI_WATCH_CRITICAL_SDC: return o->critical > 0;
    case NNFI_WATCH_ACCURACY_DROP: return o->golden_accuracy - o->accuracy > sc->s->threshold;
    case NNFI_WATCH_DUE: return 0;
    }
    return 0;
}

static nnfi_fault flip_fault(const elem *x, unsigned b)
{
    nnfi_fault f;
    memset(&f, 0, sizeof f);
    f.element = x->element;
    f.mask = UINT64_C(1) << b;
    f.site = x->site;
    f.op = NNFI_OP_FLIP;
    f.when = -1;
    f.t_last = UINT32_MAX;
    return f;
}

nnfi_status eval_group(search_ctx *sc, elem *const *xs, const unsigned *bits, unsigned n, int *critical)
{
    nnfi_fault f[GROUP_MAX];
    if (n > GROUP_MAX) return NNFI_FAIL(NNFI_E_INVALID, "a group of %u flips (at most %u)", n, GROUP_MAX);
    for (unsigned i = 0; i < n; i++) f[i] = flip_fault(xs[i], bits[i]);
    nnfi_outcome o;
    int failed = 0;
    NNFI_TRY(nnfi_worker_eval_faults(sc->w, sc->e, f, n, &o, &failed));
    *critical = meets(sc, &o, failed);
    return NNFI_OK;
}

nnfi_status eval_single(search_ctx *sc, elem *x, unsigned b, int *critical)
{
    uint64_t bit = UINT64_C(1) << b;
    if (!(x->known & bit)) {
        int c;
        NNFI_TRY(eval_group(sc, &x, &b, 1, &c));
        x->known |= bit;
        if (c) x->crit |= bit;
    }
    *critical = (x->crit & bit) != 0;
    return NNFI_OK;
}
