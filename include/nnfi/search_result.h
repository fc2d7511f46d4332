/* search_result.h - what a critical-bit search (search.h, `nnfi search`)
 * produces: its labels, strata and summary, as plain data. The engine fills
 * it (nnfi_search_run); the HDF5 module writes it (nnfi_h5_write_search).
 * Arrays are malloc'd and owned by the result (nnfi_search_result_free, in
 * the engine). */
#ifndef NNFI_SEARCH_RESULT_H
#define NNFI_SEARCH_RESULT_H

#include <stdint.h>

#include "nnfi/categories.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nnfi_method { NNFI_METHOD_VALUES(NNFI_ENUM_MEMBER) } nnfi_method;

/* One row of /critical_bits: one bit of one element, by one method. */
typedef struct nnfi_bit_label {
    uint64_t element;    /* element index within the site */
    uint32_t site;       /* index into the model's site table */
    uint8_t bit;         /* bit position (0 = least significant) */
    uint8_t critical;    /* 1: flipping it meets the criterion */
    uint8_t method;      /* nnfi_method */
    uint8_t evaluations; /* configurations charged to this (element, bit): 0 = predicted */
} nnfi_bit_label;

/* One (site, bit) stratum: the fraction of the site's elements whose bit
 * is critical, with a Wilson interval: from the stratified estimator's
 * sampled evaluations (search_cfg.strata_width > 0: unbiased), else tallied
 * from the search's labels of the drawn elements (predictions included). */
typedef struct nnfi_search_stratum {
    uint32_t site;
    uint8_t bit;
    uint64_t elements, critical;
    double fraction, lo, hi;
} nnfi_search_stratum;

typedef struct nnfi_search_result {
    unsigned experiment;
    nnfi_bit_label *labels; /* every drawn element's bits by search, then the checked ones' by exhaustive */
    uint64_t n_labels;
    nnfi_search_stratum *strata;
    uint64_t n_strata;
    double confidence; /* of the strata's intervals (0.95) */
    uint64_t elements, checked, pilot_elements;
    uint64_t bits;                 /* candidate bits over all drawn elements (the exhaustive cost of all) */
    uint64_t evals_search;         /* evaluations of the search, all elements (pilot included) */
    uint64_t evals_search_checked; /* of those, on the checked elements */
    uint64_t evals_exhaustive;     /* evaluations of the exhaustive check */
    uint64_t predicted;            /* search labels given without evaluation */
    int strata_sampled;            /* strata from the stratified estimator (strata_width), else tallies of the labels */
    uint64_t evals_strata;         /* evaluations of the stratified estimator */
    uint64_t tp, fp, fn;           /* checked elements: search vs exhaustive labels */
    double recall, precision;      /* tp / (tp + fn), tp / (tp + fp); 1 when the denominator is 0 */
    uint32_t sites, nonmonotone_sites;
    uint32_t unpooled_sites; /* sites searched without pools: masking in the pilot, or under 64 draws */
    double seconds;
} nnfi_search_result;

void nnfi_search_result_free(nnfi_search_result *r);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_SEARCH_RESULT_H */
