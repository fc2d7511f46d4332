/* config_internal.h - what the campaign loader's files share (private to
 * src/base/config/; nothing else in nnfi includes it).
 *
 * The loader is the only place nnfi reads YAML: campaign file -> nnfi_campaign.
 * Three passes over one file, all driven by the libcyaml schema (the single
 * description of the file format):
 *   1. libyaml parses the text into a node tree (syntax errors with line:col);
 *   2. nnfi_cfg_check_value() walks that tree along the schema and rejects
 *      unknown keys, wrong types, bad enum values, missing fields and bad
 *      sequence lengths, with the exact line:column, the field path and a hint;
 *      it also records where every field sits (nnfi_config_index) for later
 *      errors;
 *   3. libcyaml loads the (now known-good) text into the public structs, and
 *      nnfi_cfg_check_semantics() applies ranges, cross-field rules and defaults.
 * libcyaml's own messages locate errors only roughly, which is why pass 2
 * exists; it accepts a subset of what libcyaml accepts, so pass 3 cannot fail
 * on anything pass 2 let through (if it does, its message is reported).
 *
 * The files, by job:
 *   config_names.c   enum <-> name tables, nnfi_*_name(), library versions
 *   config_schema.c  the libcyaml schema tables
 *   config_index.c   field path -> line:column index, located error messages
 *   config_walk.c    pass 2: the schema walk over the libyaml node tree
 *   config_checks.c  pass 3: semantic validation and defaults
 *   config_torch_ops.c  pass 3 for models[].ops / fused (torch_op_names.inc:
 *                    the operator kinds of torch 1.13, generated)
 *   config_fault_model.c  pass 3 for groups[].fault_model / value_range / fit
 *   config_load.c    the driver: bounded file read, parse, passes, public API
 */
#ifndef NNFI_CONFIG_INTERNAL_H
#define NNFI_CONFIG_INTERNAL_H

#include "nnfi/config.h"

#include <cyaml/cyaml.h>
#include <yaml.h>

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------- config_names.c -- */

/* The words of the loader's own enums, as X(constant, name) lists in the
 * order hints list them (op, persistence and scope come from the
 * X(constant, code, name) lists of nnfi/categories.h). */
#define NNFI_CFG_HOST_WORDS(X) X(NNFI_HOST_NULL, "null") X(NNFI_HOST_TORCH, "torch")
#define NNFI_CFG_DEVICE_WORDS(X) X(NNFI_DEVICE_AUTO, "auto") X(NNFI_DEVICE_CPU, "cpu") X(NNFI_DEVICE_CUDA, "cuda")
#define NNFI_CFG_TARGET_WORDS(X)                                                              \
    X(NNFI_TARGET_WEIGHT, "weight") X(NNFI_TARGET_BIAS, "bias") X(NNFI_TARGET_PARAM, "param") \
    X(NNFI_TARGET_ACTIVATION, "activation") X(NNFI_TARGET_INPUT, "input") X(NNFI_TARGET_STATE, "state")
#define NNFI_CFG_PRESET_WORDS(X)                        \
    X(NNFI_BITS_ALL, "all") X(NNFI_BITS_SIGN, "sign") \
    X(NNFI_BITS_EXPONENT, "exponent") X(NNFI_BITS_MANTISSA, "mantissa")
#define NNFI_CFG_VALUES_WORDS(X) X(NNFI_VALUES_ANY, "any") X(NNFI_VALUES_NONZERO, "nonzero") X(NNFI_VALUES_ZERO, "zero")
#define NNFI_CFG_DRAW_WORDS(X) X(NNFI_RATE_FIXED, "fixed") X(NNFI_RATE_POISSON, "poisson")
#define NNFI_CFG_WATCH_WORDS(X)                                                        \
    X(NNFI_WATCH_ACCURACY_DROP, "accuracy_drop") X(NNFI_WATCH_SDC, "sdc")             \
    X(NNFI_WATCH_CRITICAL_SDC, "critical_sdc") X(NNFI_WATCH_DUE, "due")

/* One cyaml_strval_t per list entry, and the number of entries (a constant
 * expression: the schema's enum fields need their tables' sizes). */
#define NNFI_CFG_WORD(constant, name) {.str = name, .val = constant},
#define NNFI_CFG_WORD_ONE(constant, name) +1
#define NNFI_CFG_CATEGORY_WORD(constant, code, name) NNFI_CFG_WORD(constant, name)
#define NNFI_CFG_CATEGORY_ONE(constant, code, name) +1

#define NNFI_CFG_N_HOST (0 NNFI_CFG_HOST_WORDS(NNFI_CFG_WORD_ONE))
#define NNFI_CFG_N_DEVICE (0 NNFI_CFG_DEVICE_WORDS(NNFI_CFG_WORD_ONE))
#define NNFI_CFG_N_TARGET (0 NNFI_CFG_TARGET_WORDS(NNFI_CFG_WORD_ONE))
#define NNFI_CFG_N_OP (0 NNFI_OP_VALUES(NNFI_CFG_CATEGORY_ONE))
#define NNFI_CFG_N_PRESET (0 NNFI_CFG_PRESET_WORDS(NNFI_CFG_WORD_ONE))
#define NNFI_CFG_N_PERSISTENCE (0 NNFI_PERSISTENCE_VALUES(NNFI_CFG_CATEGORY_ONE))
#define NNFI_CFG_N_SCOPE (0 NNFI_SCOPE_VALUES(NNFI_CFG_CATEGORY_ONE))
#define NNFI_CFG_N_VALUES (0 NNFI_CFG_VALUES_WORDS(NNFI_CFG_WORD_ONE))
#define NNFI_CFG_N_DRAW (0 NNFI_CFG_DRAW_WORDS(NNFI_CFG_WORD_ONE))
#define NNFI_CFG_N_WATCH (0 NNFI_CFG_WATCH_WORDS(NNFI_CFG_WORD_ONE))

/* The tables (defined in config_names.c from the same lists). */
extern const cyaml_strval_t nnfi_cfg_host_strings[NNFI_CFG_N_HOST];
extern const cyaml_strval_t nnfi_cfg_device_strings[NNFI_CFG_N_DEVICE];
extern const cyaml_strval_t nnfi_cfg_target_strings[NNFI_CFG_N_TARGET];
extern const cyaml_strval_t nnfi_cfg_op_strings[NNFI_CFG_N_OP];
extern const cyaml_strval_t nnfi_cfg_preset_strings[NNFI_CFG_N_PRESET];
extern const cyaml_strval_t nnfi_cfg_persistence_strings[NNFI_CFG_N_PERSISTENCE];
extern const cyaml_strval_t nnfi_cfg_scope_strings[NNFI_CFG_N_SCOPE];
extern const cyaml_strval_t nnfi_cfg_values_strings[NNFI_CFG_N_VALUES];
extern const cyaml_strval_t nnfi_cfg_draw_strings[NNFI_CFG_N_DRAW];
extern const cyaml_strval_t nnfi_cfg_watch_strings[NNFI_CFG_N_WATCH];

/* --------------------------------------------------- config_schema.c -- */

/* The whole campaign file: a mapping loaded into a new nnfi_campaign. */
extern const cyaml_schema_value_t nnfi_cfg_campaign_schema;

/* ---------------------------------------------------- config_index.c -- */

/* 1-based line and column of a libyaml mark (saturated at INT_MAX). */
static inline int nnfi_cfg_mark_line(yaml_mark_t m) { return m.line < INT_MAX ? (int)m.line + 1 : INT_MAX; }
static inline int nnfi_cfg_mark_col(yaml_mark_t m) { return m.column < INT_MAX ? (int)m.column + 1 : INT_MAX; }

/* FNV-1a of n bytes (the index's hash, and the campaign's text hash). */
uint64_t nnfi_cfg_fnv1a(const char *s, size_t n);

/* Record where `path` sits (the first record of a path wins). */
nnfi_status nnfi_cfg_index_add(struct nnfi_config_index *ix, const char *path, yaml_mark_t m);
/* Free an index and its entries. NULL is fine. */
void nnfi_cfg_index_free(struct nnfi_config_index *ix);
/* Position of a path, or of its nearest recorded ancestor (1:1 if none). */
void nnfi_cfg_index_find(const struct nnfi_config_index *ix, const char *path, int *line, int *col);
/* Whether the file spelled out this field (to tell an explicit 0 from absent). */
int nnfi_cfg_index_has(const struct nnfi_config_index *ix, const char *path);
/* A new, empty index whose messages name `file`; NULL when out of memory. */
struct nnfi_config_index *nnfi_cfg_index_new(const char *file);

/* NNFI_E_CONFIG, "FILE:LINE:COL: PATH: what\n  hint: hint" ("(top level)" for
 * an empty path). */
nnfi_status nnfi_cfg_fail_at(const char *file, int line, int col, const char *path,
                             const char *what, const char *hint);

/* ------------------------------------------------ config_torch_ops.c -- */

/* Is "NS::NAME" an operator kind of torch_op_names.inc (aten, quantized)? */
int nnfi_torch_op_known(const char *qualified);
/* models[mi].ops and .fused: spelling, known names, duplicates, torch only. */
nnfi_status nnfi_cfg_check_torch_ops(const nnfi_campaign *c, unsigned mi);

/* ---------------------------------------------- config_fault_model.c -- */

/* A group's fault_model / value_range / fit: replaced keys refused, the
 * model loaded into g->fm (count defaults to 1 occurrence). */
nnfi_status nnfi_cfg_check_fault_model(nnfi_campaign *c, const nnfi_experiment_cfg *x, nnfi_group_cfg *g,
                                       const char *gp);
/* Free every group's loaded model (nnfi_campaign_free). */
void nnfi_cfg_free_fault_models(nnfi_campaign *c);

/* ----------------------------------------------------- config_walk.c -- */

typedef struct nnfi_cfg_walk {
    const char *file;
    yaml_document_t *doc;
    struct nnfi_config_index *ix;
    size_t visits; /* values walked, aliases expanded (bounded: "billion laughs") */
    /* a copy of the text libcyaml loads, in which the walk respells YAML 1.2
     * numbers libcyaml's strtod/strtoll would misread, in place and at the
     * same length (".nan" -> " nan", "-.inf" -> " -inf", "0o17" -> "0017") */
    char *patched;
} nnfi_cfg_walk;

/* Pass 2: check `node` against `sv`, recording positions in ctx->ix. */
nnfi_status nnfi_cfg_check_value(nnfi_cfg_walk *ctx, yaml_node_t *node,
                                 const cyaml_schema_value_t *sv, const char *path);

/* --------------------------------------------------- config_checks.c -- */

/* Pass 3: ranges, cross-field rules and defaults, on a loaded campaign whose
 * index, source path and directory are set. */
nnfi_status nnfi_cfg_check_semantics(nnfi_campaign *c);

#endif /* NNFI_CONFIG_INTERNAL_H */
