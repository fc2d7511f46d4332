/* outcome.h - classifying a faulty evaluation against the golden one.
 *
 * The golden run (fault-free) is done once per model and eval set; its logits
 * and the labels are kept. Each trial's logits are compared with them, sample
 * by sample, and folded into one nnfi_outcome. Pure functions of their inputs;
 * batches can be accumulated in any split (sums and maxima only).
 *
 * Lifecycle: nnfi_outcome_init -> nnfi_outcome_add (per batch) ->
 * nnfi_outcome_finish. No allocation; the caller owns every array.
 */
#ifndef NNFI_OUTCOME_H
#define NNFI_OUTCOME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_outcome {
    uint64_t samples;        /* compared so far */
    uint64_t correct;        /* faulty top-1 == label */
    uint64_t golden_correct; /* golden top-1 == label */
    uint64_t mismatches;     /* faulty top-1 != golden top-1 (SDC) */
    uint64_t critical;       /* golden right, faulty wrong (critical SDC) */
    uint64_t nonfinite;      /* samples with any NaN/Inf logit (DUE) */
    double max_abs_err;      /* over finite logit pairs */
    double sum_abs_err;      /* over finite logit pairs */
    uint64_t n_err;          /* finite logit pairs summed */
    /* derived by nnfi_outcome_finish */
    double accuracy, golden_accuracy, accuracy_drop, mean_abs_err;
} nnfi_outcome;

void nnfi_outcome_init(nnfi_outcome *o);

/* Argmax of one row of logits; the first maximum wins; NaN never wins (a row
 * of NaN gives 0). */
uint32_t nnfi_top1(const float *row, uint32_t classes);

/* Fold `rows` rows: golden and faulty logits (rows x classes) and labels
 * (one per row). Outputs with a class per position ([N, T, C]) are folded as
 * N x T rows: every (sample, position) is one compared row. */
void nnfi_outcome_add(nnfi_outcome *o, const float *golden, const float *faulty, const int32_t *labels,
                      uint64_t rows, uint32_t classes);

void nnfi_outcome_finish(nnfi_outcome *o);

/* The outcome of an evaluation in which only samples idx[0..n) (increasing)
 * may differ from the golden run, with logits faulty (n x positions x
 * classes); every other sample's logits are the golden ones. A sample has
 * `positions` rows of `classes` logits and `positions` labels (1 for [N, C]
 * outputs; T for a class per position, [N, T, C]: every (sample, position)
 * counts as one compared row). golden_self is nnfi_outcome_add(golden,
 * golden) over all rows (not finished). Bit-identical to nnfi_outcome_add
 * over all rows with the golden ones filled in, at O(n) cost. Not finished. */
void nnfi_outcome_sparse(nnfi_outcome *o, const nnfi_outcome *golden_self, const float *golden, const int32_t *labels,
                         uint32_t classes, uint32_t positions, const uint64_t *idx, const float *faulty, uint64_t n);

/* The same from accumulated parts: golden_rows = nnfi_outcome_add(golden,
 * golden) and faulty_rows = nnfi_outcome_add(golden, faulty) over the same
 * samples, in increasing order (not finished). */
void nnfi_outcome_replace(nnfi_outcome *o, const nnfi_outcome *golden_self, const nnfi_outcome *golden_rows,
                          const nnfi_outcome *faulty_rows);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_OUTCOME_H */
