/* outcome.c - golden vs faulty logits -> accuracy, SDC, critical SDC, DUE
 * (non-finite outputs) and logit errors (see outcome.h). */
#include "nnfi/outcome.h"

#include <math.h>
#include <string.h>

void nnfi_outcome_init(nnfi_outcome *o) { memset(o, 0, sizeof *o); }

uint32_t nnfi_top1(const float *row, uint32_t classes)
{
    uint32_t best = 0;
    int have = 0;
    for (uint32_t c = 0; c < classes; c++) {
        float v = row[c];
        if (v != v) continue; /* NaN never wins */
        if (!have || v > row[best]) {
            best = c;
            have = 1;
        }
    }
    return best;
}

void nnfi_outcome_add(nnfi_outcome *o, const float *golden, const float *faulty, const int32_t *labels,
                      uint64_t rows, uint32_t classes)
{
    for (uint64_t r = 0; r < rows; r++) {
        const float *g = golden + r * classes, *f = faulty + r * classes;
        uint32_t tg = nnfi_top1(g, classes), tf = nnfi_top1(f, classes);
        int nonfinite = 0;
        for (uint32_t c = 0; c < classes; c++) {
            if (!isfinite(f[c])) {
                nonfinite = 1;
                continue;
            }
            double e = fabs((double)f[c] - (double)g[c]);
            if (e > o->max_abs_err) o->max_abs_err = e;
            o->sum_abs_err += e;
            o->n_err++;
        }
        /* a non-finite row is a DUE: it counts as wrong and as a mismatch */
        int right = !nonfinite && (int32_t)tf == labels[r];
        int golden_right = (int32_t)tg == labels[r];
        o->samples++;
        o->correct += (uint64_t)right;
        o->golden_correct += (uint64_t)golden_right;
        o->mismatches += (uint64_t)(nonfinite || tf != tg);
        o->critical += (uint64_t)(golden_right && !right);
        o->nonfinite += (uint64_t)nonfinite;
    }
}

void nnfi_outcome_finish(nnfi_outcome *o)
{
    double n = o->samples ? (double)o->samples : 1;
    o->accuracy = (double)o->correct / n;
    o->golden_accuracy = (double)o->golden_correct / n;
    o->accuracy_drop = o->golden_accuracy - o->accuracy;
    o->mean_abs_err = o->n_err ? o->sum_abs_err / (double)o->n_err : 0;
}

void nnfi_outcome_sparse(nnfi_outcome *o, const nnfi_outcome *golden_self, const float *golden, const int32_t *labels,
                         uint32_t classes, uint32_t positions, const uint64_t *idx, const float *faulty, uint64_t n)
{
    nnfi_outcome f, g;
    nnfi_outcome_init(&f);
    nnfi_outcome_init(&g);
    uint64_t width = (uint64_t)classes * positions;
    for (uint64_t i = 0; i < n; i++) {
        const float *gr = golden + idx[i] * width;
        const int32_t *lr = labels + idx[i] * positions;
        nnfi_outcome_add(&f, gr, faulty + i * width, lr, positions, classes);
        nnfi_outcome_add(&g, gr, gr, lr, positions, classes);
    }
    nnfi_outcome_replace(o, golden_self, &g, &f);
}

void nnfi_outcome_replace(nnfi_outcome *o, const nnfi_outcome *golden_self, const nnfi_outcome *golden_rows,
                          const nnfi_outcome *faulty_rows)
{
    /* every other row is golden against golden: it adds 0 to the error sums
     * (x + 0.0 == x), so the sums are the faulty rows', in the same order as
     * a full pass */
    nnfi_outcome gs = *golden_self;
#define SWAP_ROWS(field) gs.field = gs.field - golden_rows->field + faulty_rows->field
    SWAP_ROWS(samples);
    SWAP_ROWS(correct);
    SWAP_ROWS(golden_correct);
    SWAP_ROWS(mismatches);
    SWAP_ROWS(critical);
    SWAP_ROWS(nonfinite);
    SWAP_ROWS(n_err);
#undef SWAP_ROWS
    gs.sum_abs_err = faulty_rows->sum_abs_err;
    gs.max_abs_err = faulty_rows->max_abs_err;
    *o = gs;
}
