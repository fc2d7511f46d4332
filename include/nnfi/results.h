/* results.h - the result schema: one X-macro per HDF5 table.
 *
 * NNFI_TRIAL_COLUMNS (/trials, one row per trial) and NNFI_FAULT_COLUMNS
 * (/faults, one row per stored fault) are the single source of truth for the
 * result tables: they generate the C row struct below, the column tables the
 * HDF5 writer, merger and reader walk (src/plugins/results_h5/), the
 * `flag_values`/`flag_meanings` attributes of categorical columns (their
 * values come from categories.h), the volatile flags, and the JSON schema
 * that `nnfi schema` prints and analysis/ checks files against
 * (src/base/schema.c). Add a column here and everything follows.
 *
 * X(name, c_type, kind, category, vol, unit, description)
 *   kind:     U8 U32 I32 U64 I64 F64 (the HDF5 type)
 *   category: a categories.h list (NNFI_CAT_*), or NNFI_CAT_NONE for numbers
 *   vol:      1 for the volatile columns (rank, device, wall_s): the only ones
 *             allowed to differ between runs of the same campaign
 *
 * Rows of /trials are placed at their global trial index, so a file does not
 * depend on which rank ran what.
 */
#ifndef NNFI_RESULTS_H
#define NNFI_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/categories.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_RESULTS_SCHEMA_VERSION 1

#define NNFI_TRIAL_COLUMNS(X)                                                                              \
    X(done, uint8_t, U8, NNFI_CAT_YESNO, 0, "1", "1 when the row holds a finished trial (0: not run yet / skipped by a stopping rule)") \
    X(experiment, uint32_t, U32, NNFI_CAT_NONE, 0, "1", "experiment index (row of /experiments)")        \
    X(point, uint32_t, U32, NNFI_CAT_NONE, 0, "1", "point index within the experiment's sweep")           \
    X(trial_in_point, uint64_t, U64, NNFI_CAT_NONE, 0, "1", "trial index within the point (the sampler's trial counter)") \
    X(n_faults, uint64_t, U64, NNFI_CAT_NONE, 0, "faults", "faults injected in the trial, all groups")    \
    X(accuracy, double, F64, NNFI_CAT_NONE, 0, "1", "top-1 accuracy of the faulty model over the eval set") \
    X(accuracy_drop, double, F64, NNFI_CAT_NONE, 0, "1", "golden accuracy minus faulty accuracy")          \
    X(sdc, uint64_t, U64, NNFI_CAT_NONE, 0, "samples", "eval samples whose top-1 differs from golden (silent data corruption)") \
    X(critical_sdc, uint64_t, U64, NNFI_CAT_NONE, 0, "samples", "eval samples right under golden and wrong under faults") \
    X(due_samples, uint64_t, U64, NNFI_CAT_NONE, 0, "samples", "eval samples with a NaN or Inf logit")     \
    X(due, uint8_t, U8, NNFI_CAT_YESNO, 0, "1", "1 when any logit was NaN/Inf or the trial failed (detected unrecoverable error)") \
    X(max_abs_err, double, F64, NNFI_CAT_NONE, 0, "logit", "largest |faulty - golden| over finite logits") \
    X(mean_abs_err, double, F64, NNFI_CAT_NONE, 0, "logit", "mean |faulty - golden| over finite logits")   \
    X(status, uint8_t, U8, NNFI_CAT_TRIAL_STATUS, 0, "1", "0 ok, 1 failed (error in the trial), 2 timeout") \
    X(pattern, uint8_t, U8, NNFI_CAT_PATTERN, 0, "1", "hardware fault-model pattern of the trial's first occurrence (0 none: no fault model)") \
    X(rank, int32_t, I32, NNFI_CAT_NONE, 1, "1", "MPI rank that ran the trial (volatile)")                 \
    X(device, int32_t, I32, NNFI_CAT_NONE, 1, "1", "device ordinal, -1 for CPU (volatile)")                \
    X(wall_s, double, F64, NNFI_CAT_NONE, 1, "s", "wall time of the trial (volatile)")

/* /faults: `trial` (the global trial index of the fault's trial) then the
 * fields of nnfi_fault (sampler.h), each a column of that name. */
#define NNFI_FAULT_COLUMNS(X)                                                                              \
    X(trial, uint64_t, U64, NNFI_CAT_NONE, 0, "1", "global trial index (row of /trials)")                 \
    X(group, uint8_t, U8, NNFI_CAT_NONE, 0, "1", "fault group within the experiment")                     \
    X(site, uint32_t, U32, NNFI_CAT_NONE, 0, "1", "site index (row of /sites/<model>)")                   \
    X(element, uint64_t, U64, NNFI_CAT_NONE, 0, "1", "element index within the site (per sample for activations)") \
    X(mask, uint64_t, U64, NNFI_CAT_NONE, 0, "1", "bits changed, within the dtype's width")               \
    X(value, uint64_t, U64, NNFI_CAT_NONE, 0, "1", "random/set: the bits written under mask")             \
    X(op, uint8_t, U8, NNFI_CAT_OP, 0, "1", "0 flip, 1 stuck0, 2 stuck1, 3 random, 4 set")                 \
    X(transient, uint8_t, U8, NNFI_CAT_PERSISTENCE, 0, "1", "0 permanent, 1 transient")                    \
    X(scope, uint8_t, U8, NNFI_CAT_SCOPE, 0, "1", "transient: 0 a forward call, 1 one eval sample")        \
    X(when, int64_t, I64, NNFI_CAT_NONE, 0, "1", "transient: forward-call or eval-sample index; -1 permanent") \
    X(t_first, uint32_t, U32, NNFI_CAT_NONE, 0, "step", "first time step hit (inclusive)")                 \
    X(t_last, uint32_t, U32, NNFI_CAT_NONE, 0, "step", "last time step hit (inclusive; 4294967295 = every step)")

typedef struct nnfi_trial_row {
    uint64_t trial; /* global trial index: the row's position, not a column */
#define NNFI_ROW_FIELD(name, ctype, kind, cat, vol, unit, desc) ctype name;
    NNFI_TRIAL_COLUMNS(NNFI_ROW_FIELD)
#undef NNFI_ROW_FIELD
} nnfi_trial_row;

typedef enum nnfi_trial_status { NNFI_TRIAL_STATUS_VALUES(NNFI_ENUM_MEMBER) } nnfi_trial_status;

/* One row of /faults as the writer buffers it: the fault and its trial.
 * NNFI_FAULT_COLUMNS' offsets point into this struct. */
typedef struct nnfi_fault_row {
    uint64_t trial;
    uint8_t group;
    uint32_t site;
    uint64_t element, mask, value;
    uint8_t op, transient, scope;
    int64_t when;
    uint32_t t_first, t_last;
} nnfi_fault_row;

/* Column metadata, generated from the X-macros above. */
typedef enum nnfi_column_kind {
    NNFI_COL_U8,
    NNFI_COL_U32,
    NNFI_COL_I32,
    NNFI_COL_U64,
    NNFI_COL_I64,
    NNFI_COL_F64
} nnfi_column_kind;

typedef struct nnfi_column_info {
    const char *name;
    nnfi_column_kind kind;
    size_t offset; /* in nnfi_trial_row (/trials) or nnfi_fault_row (/faults) */
    size_t size;
    const char *unit;
    const char *description;
    int is_volatile;       /* rank, device, wall_s */
    nnfi_category category; /* NNFI_CAT_NONE: a number */
} nnfi_column_info;

/* The columns of /trials and of /faults in schema order (static storage);
 * *n receives the count. */
const nnfi_column_info *nnfi_trial_columns(size_t *n);
const nnfi_column_info *nnfi_fault_columns(size_t *n);

/* The names of a categorical list, indexed by code (static storage); *n
 * receives the count (0 and NULL for NNFI_CAT_NONE). */
const char *const *nnfi_category_names(nnfi_category cat, size_t *n);

/* A categorical list's names joined by spaces ("ok failed timeout"), the
 * CF-style `flag_meanings` attribute; NULL for NNFI_CAT_NONE. Static storage. */
const char *nnfi_category_meanings(nnfi_category cat);

struct nnfi_fault; /* sampler.h */

/* The fault as a /faults row. */
nnfi_fault_row nnfi_fault_row_of(uint64_t trial, const struct nnfi_fault *f);

/* Write the schema as JSON (both tables: columns, kinds, units,
 * descriptions, volatile flags, categorical values; schema version) to path,
 * for analysis/. */
nnfi_status nnfi_write_schema_json(const char *path);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_RESULTS_H */
