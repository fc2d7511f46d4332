/* search_internal.h - the pieces of the critical-bit search (search.h)
 * shared by search.c (the driver: draw, pilot, group tests, binary search,
 * check, strata) and search_flips.c (an element's flips and their
 * evaluation). Private to src/engine. */
#ifndef NNFI_SEARCH_INTERNAL_H
#define NNFI_SEARCH_INTERNAL_H

#include <stdint.h>

#include "nnfi/search.h"

#define UNKNOWN 2 /* a label not decided yet */

/* One drawn element and what is known of its flips. */
typedef struct elem {
    uint32_t site;
    uint64_t element;
    nnfi_dtype dt;
    uint64_t word;        /* the element's bits */
    uint64_t mask;        /* candidate bits */
    uint64_t known, crit; /* single flips evaluated so far (either method) and which were critical */
} elem;

typedef struct search_ctx {
    nnfi_worker *w;
    unsigned e;
    const nnfi_search_cfg *s;
} search_ctx;

/* The value after flipping bit b of x minus its value (*after: the value). */
double flip_change(const elem *x, unsigned b, double *after);

/* Does flipping bit b make a float element NaN, Inf or at least 2^64 in
 * magnitude (labelled critical without evaluation)? */
int certain_critical(const elem *x, unsigned b);

/* The side of flip b: +1 when it increases the value, -1 otherwise. */
int flip_side(const elem *x, unsigned b);

/* Sort flips[0..n) of x by increasing |change|. */
void sort_by_change(const elem *x, unsigned *flips, unsigned n);

/* Does a side's sequence of labels (by increasing change, certain flips
 * left out) never go from critical back to harmless? */
int side_monotone(const elem *x, const uint8_t lab[64], int side);

/* Evaluate flip b of x alone (once per run: a repeat reads the cache). */
nnfi_status eval_single(search_ctx *sc, elem *x, unsigned b, int *critical);

/* Evaluate n flips of n distinct elements at once (one configuration:
 * group testing); *critical as for one flip. */
nnfi_status eval_group(search_ctx *sc, elem *const *xs, const unsigned *bits, unsigned n, int *critical);

/* The stratified estimator (search_strata.c): out->strata from sampled
 * single-bit evaluations of the searched sites (searched[site] != 0). */
nnfi_status search_strata(search_ctx *sc, const nnfi_site *sites, const nnfi_group_plan *gp, const uint8_t *searched,
                          uint64_t seed, nnfi_search_result *out);

#endif /* NNFI_SEARCH_INTERNAL_H */
