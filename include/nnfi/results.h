/* results.h - the result schema (one row per trial) and the result sinks.
 *
 * NNFI_TRIAL_COLUMNS is the single source of truth for the per-trial columns:
 * it generates the C row struct below, the HDF5 datasets under /trials (with
 * their unit and description attributes, src/results/h5_sink.c) and the schema
 * file that analysis/ reads (`nnfi schema`, written to analysis/). Add a column
 * here and everything follows.
 *
 * X(name, c_type, kind, unit, description)
 *   kind: U8 U32 I32 U64 F64 (the HDF5 type; categorical columns are U8 with
 *         flag values documented in the description and in NNFI_STATUS_FLAGS)
 *
 * Rows are placed at their global trial index, so a file does not depend on
 * which rank ran what. Columns marked "volatile" (rank, device, wall_s) are the
 * only ones allowed to differ between runs of the same campaign.
 */
#ifndef NNFI_RESULTS_H
#define NNFI_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_RESULTS_SCHEMA_VERSION 1

#define NNFI_TRIAL_COLUMNS(X)                                                                              \
    X(done, uint8_t, U8, "1", "1 when the row holds a finished trial (0: not run yet / skipped by a stopping rule)") \
    X(experiment, uint32_t, U32, "1", "experiment index (row of /experiments)")                          \
    X(point, uint32_t, U32, "1", "point index within the experiment's sweep")                             \
    X(trial_in_point, uint64_t, U64, "1", "trial index within the point (the sampler's trial counter)")    \
    X(n_faults, uint64_t, U64, "faults", "faults injected in the trial, all groups")                      \
    X(accuracy, double, F64, "1", "top-1 accuracy of the faulty model over the eval set")                \
    X(accuracy_drop, double, F64, "1", "golden accuracy minus faulty accuracy")                            \
    X(sdc, uint64_t, U64, "samples", "eval samples whose top-1 differs from golden (silent data corruption)") \
    X(critical_sdc, uint64_t, U64, "samples", "eval samples right under golden and wrong under faults")    \
    X(due_samples, uint64_t, U64, "samples", "eval samples with a NaN or Inf logit")                       \
    X(due, uint8_t, U8, "1", "1 when any logit was NaN/Inf or the trial failed (detected unrecoverable error)") \
    X(max_abs_err, double, F64, "logit", "largest |faulty - golden| over finite logits")                   \
    X(mean_abs_err, double, F64, "logit", "mean |faulty - golden| over finite logits")                     \
    X(status, uint8_t, U8, "1", "0 ok, 1 failed (error in the trial), 2 timeout")                          \
    X(rank, int32_t, I32, "1", "MPI rank that ran the trial (volatile)")                                   \
    X(device, int32_t, I32, "1", "device ordinal, -1 for CPU (volatile)")                                  \
    X(wall_s, double, F64, "s", "wall time of the trial (volatile)")

typedef struct nnfi_trial_row {
    uint64_t trial; /* global trial index: the row's position, not a column */
#define NNFI_ROW_FIELD(name, ctype, kind, unit, desc) ctype name;
    NNFI_TRIAL_COLUMNS(NNFI_ROW_FIELD)
#undef NNFI_ROW_FIELD
} nnfi_trial_row;

typedef enum nnfi_trial_status { NNFI_TRIAL_OK = 0, NNFI_TRIAL_FAILED = 1, NNFI_TRIAL_TIMEOUT = 2 } nnfi_trial_status;

/* Column metadata, generated from NNFI_TRIAL_COLUMNS. */
typedef enum nnfi_column_kind { NNFI_COL_U8, NNFI_COL_U32, NNFI_COL_I32, NNFI_COL_U64, NNFI_COL_F64 } nnfi_column_kind;

typedef struct nnfi_column_info {
    const char *name;
    nnfi_column_kind kind;
    size_t offset; /* in nnfi_trial_row */
    size_t size;
    const char *unit;
    const char *description;
    int is_volatile; /* rank, device, wall_s */
} nnfi_column_info;

/* The columns in schema order (static storage); *n receives the count. */
const nnfi_column_info *nnfi_trial_columns(size_t *n);

/* Write the schema as JSON (columns, kinds, units, descriptions, schema
 * version) to path, for analysis/. */
nnfi_status nnfi_write_schema_json(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_RESULTS_H */
