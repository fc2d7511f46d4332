/* categories.h - every categorical value nnfi reads or writes, in one place.
 *
 * Each list is X(constant, code, name): the C enum constant, its integer code
 * (what the result file stores), and the name used in campaign files, in the
 * `flag_meanings` attribute of HDF5 columns and in `nnfi schema`. The enums
 * (nnfi_op in fault_bits.h, nnfi_persistence and nnfi_transient_scope in
 * config.h, nnfi_trial_status in results.h), the campaign loader's name
 * tables and the writer's flag attributes are all generated from these lists:
 * add a value here and every reader and writer follows.
 *
 * Pure macros, no includes: usable from C11, C++ and CUDA alike.
 */
#ifndef NNFI_CATEGORIES_H
#define NNFI_CATEGORIES_H

/* fault operation (campaign `op:`, /faults/op) */
#define NNFI_OP_VALUES(X)        \
    X(NNFI_OP_FLIP, 0, "flip")   \
    X(NNFI_OP_STUCK0, 1, "stuck0") \
    X(NNFI_OP_STUCK1, 2, "stuck1") \
    X(NNFI_OP_RANDOM, 3, "random") \
    X(NNFI_OP_SET, 4, "set")

/* fault persistence (campaign `persistence:`, /faults/transient) */
#define NNFI_PERSISTENCE_VALUES(X)    \
    X(NNFI_PERMANENT, 0, "permanent") \
    X(NNFI_TRANSIENT, 1, "transient")

/* what a transient fault picks (campaign `scope:`, /faults/scope) */
#define NNFI_SCOPE_VALUES(X)         \
    X(NNFI_SCOPE_CALL, 0, "call")    \
    X(NNFI_SCOPE_SAMPLE, 1, "sample")

/* a trial's end (/trials/status) */
#define NNFI_TRIAL_STATUS_VALUES(X)   \
    X(NNFI_TRIAL_OK, 0, "ok")         \
    X(NNFI_TRIAL_FAILED, 1, "failed") \
    X(NNFI_TRIAL_TIMEOUT, 2, "timeout")

/* flags stored as 0/1 (/trials/done, /trials/due) */
#define NNFI_YESNO_VALUES(X) \
    X(NNFI_NO, 0, "no")      \
    X(NNFI_YES, 1, "yes")

/* a trial's hardware fault-model pattern (/trials/pattern): that of the
 * trial's first occurrence; code = nnfi_fm_kind + 1 (fault_model.h's
 * NNFI_FM_KINDS order, checked at compile time in fm_sampler.c), 0 for
 * trials without a fault model */
#define NNFI_PATTERN_VALUES(X)                                                           \
    X(NNFI_PATTERN_NONE, 0, "none") X(NNFI_PATTERN_SINGLE, 1, "single")                  \
    X(NNFI_PATTERN_SAME_ROW, 2, "same_row") X(NNFI_PATTERN_SAME_COLUMN, 3, "same_column") \
    X(NNFI_PATTERN_BULLET_WAKE, 4, "bullet_wake") X(NNFI_PATTERN_SINGLE_BLOCK, 5, "single_block") \
    X(NNFI_PATTERN_MULTI_CHANNEL_BLOCK, 6, "multi_channel_block")                        \
    X(NNFI_PATTERN_FULL_CHANNELS, 7, "full_channels")                                    \
    X(NNFI_PATTERN_SHATTERED_CHANNEL, 8, "shattered_channel") X(NNFI_PATTERN_SKIP_K, 9, "skip_k") \
    X(NNFI_PATTERN_RECTANGLES, 10, "rectangles") X(NNFI_PATTERN_WEIGHT_ROW, 11, "weight_row") \
    X(NNFI_PATTERN_WEIGHT_COL, 12, "weight_col") X(NNFI_PATTERN_WEIGHT_TILE, 13, "weight_tile")

/* how a critical-bit label was obtained (/critical_bits/method) */
#define NNFI_METHOD_VALUES(X)                 \
    X(NNFI_METHOD_SEARCH, 0, "search")        \
    X(NNFI_METHOD_EXHAUSTIVE, 1, "exhaustive")

/* One enum member: NAME = code, */
#define NNFI_ENUM_MEMBER(constant, code, name) constant = code,

/* The categorical lists above, as identifiers for column tables. */
typedef enum nnfi_category {
    NNFI_CAT_NONE = 0, /* a plain number */
    NNFI_CAT_OP,
    NNFI_CAT_PERSISTENCE,
    NNFI_CAT_SCOPE,
    NNFI_CAT_TRIAL_STATUS,
    NNFI_CAT_YESNO,
    NNFI_CAT_PATTERN,
    NNFI_CAT_METHOD,
    NNFI_CAT_COUNT
} nnfi_category;

#endif /* NNFI_CATEGORIES_H */
