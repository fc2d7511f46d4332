/* fm_internal.h - what the fault-model files share (private to
 * src/base/faultmodel/; nothing else in nnfi includes it).
 *
 * The files, by job:
 *   fm_types.c        names and enums, which parameters each kind takes,
 *                     the model's lifecycle (new, finalize: normalise and
 *                     thresholds, free)
 *   fm_yaml_nodes.c   the libyaml side both loaders share: bounded file read,
 *                     parse with located syntax errors, located failures,
 *                     numbers and parameter distributions from nodes
 *   fm_load_yaml.c    the native YAML format
 *   fm_load_classes.c the CLASSES JSON import
 *   fm_geometry.c     parameters + draws -> a site; a site -> element indices
 *   fm_draw.c         one occurrence: pattern, set, mix, elements, values
 */
#ifndef NNFI_FM_INTERNAL_H
#define NNFI_FM_INTERNAL_H

#include "nnfi/fault_model.h"

#include <yaml.h>

#include <stddef.h>

#define FM_N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Draw slots of an occurrence (counter word 0). */
#define FM_DRAW_SELECT 0u  /* w0,w1 pattern, w2,w3 parameter set (64-bit uniforms) */
#define FM_DRAW_PARAM0 1u  /* params: slot s uses draw 1 + s / 2, words 2 (s % 2) and +1 */
#define FM_DRAW_MIX 11u    /* w0,w1 value mix, w2 the ranged class's share */
#define FM_DRAW_PLACE 16u  /* placement: draws 16..31 */
#define FM_DRAW_ELEM0 32u  /* candidate element i: draw 32 + i */

/* ------------------------------------------------------------ fm_types.c -- */

/* "" when a parameter set suits its kind; else what is wrong (what) and a
 * hint, and *param the offending parameter (-1: a missing one). */
int fm_set_problem(nnfi_fm_kind kind, const nnfi_fm_pset *set, int *param, char *what, size_t nwhat, char *hint,
                   size_t nhint);
/* "a, b, c" of the names of a kind's parameters (or "none"). */
void fm_kind_param_list(nnfi_fm_kind kind, char *out, size_t n);
/* "valid X: a, b, c" plus "did you mean 'x'?" over a NULL-terminated list. */
void fm_names_hint(const char *const *names, size_t count, const char *got, const char *what, char *out, size_t n);
extern const char *const fm_kind_names[NNFI_FM_KIND_COUNT];
extern const char *const fm_class_names[NNFI_FM_CLASS_COUNT];
extern const char *const fm_param_names[NNFI_FMP_COUNT];
extern const char *const fm_scope_names[NNFI_FM_SCOPE_COUNT];

/* ------------------------------------------------------- fm_yaml_nodes.c -- */

typedef struct fm_doc {
    const char *file;
    yaml_document_t doc;
} fm_doc;

nnfi_status fm_read_file(const char *path, const char *what, char **text, size_t *len);
/* Parse one document (bounded depth and size); the caller deletes d->doc. */
nnfi_status fm_parse(const char *text, size_t len, const char *file, const char *kind_of_file, fm_doc *d);
nnfi_status fm_fail(const fm_doc *d, const yaml_node_t *n, const char *path, const char *what, const char *hint);
yaml_node_t *fm_node(const fm_doc *d, int id);
/* The scalar text of n, or NULL when n is not a scalar. */
const char *fm_scalar(const yaml_node_t *n);
/* A finite number >= 0 (weights, frequencies, percentages). */
nnfi_status fm_weight(const fm_doc *d, const yaml_node_t *n, const char *path, double *out);
/* A whole number in [lo, hi]. */
nnfi_status fm_uint(const fm_doc *d, const yaml_node_t *n, const char *path, unsigned long lo, unsigned long hi,
                    unsigned long *out);
/* A percentage 0..100 as basis points (12.5 -> 1250, rounded half up). */
nnfi_status fm_pct(const fm_doc *d, const yaml_node_t *n, const char *path, uint32_t *bp);
/* A parameter's distribution: N, [lo, hi] or {choice_key: [N | [lo, hi], ...]}.
 * Percent parameters in basis points. */
nnfi_status fm_pdist(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_param p,
                     const char *choice_key, nnfi_fm_pdist *out);
/* The default model name: the base name of file without its extension. */
void fm_default_name(const char *file, char *out, size_t n);

/* ---------------------------------------------------------- fm_geometry.c -- */

/* Candidates per channel of a site, and how many of them the fill keeps. */
uint64_t fm_site_group_size(const nnfi_fm_site *s);
uint64_t fm_site_group_keep(const nnfi_fm_site *s);

#endif /* NNFI_FM_INTERNAL_H */
