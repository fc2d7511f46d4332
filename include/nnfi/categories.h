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
    NNFI_CAT_COUNT
} nnfi_category;

#endif /* NNFI_CATEGORIES_H */
