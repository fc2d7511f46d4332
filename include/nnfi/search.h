/* search.h - the critical-bit search (`nnfi search`, an experiment's
 * `search:` block): which bits of which parameter elements break the model.
 *
 * For experiment e (one flip group on parameter or buffer sites), `elements`
 * elements are drawn without repeats through the group's sampler (counter-
 * based: the same elements for any run), and every candidate bit of each is
 * labelled critical or not, where a bit is critical when flipping it alone
 * meets the criterion over the eval set (sdc: some sample's top-1 changes,
 * or a logit is NaN/Inf; critical_sdc; accuracy_drop above a threshold;
 * due). Methods:
 *
 *  - exhaustive: every bit flipped and evaluated (the truth).
 *  - search: per site, the last `pilot` drawn elements are classified
 *    exhaustively; they decide whether the site is monotone (on each side of
 *    the value, a flip that changes the element by more is never less
 *    critical than one that changes it by less) and give the site's evidence:
 *    the smallest change found critical and the largest found harmless. Every
 *    other element then gets, for each bit: critical without evaluation when
 *    the flip makes the value NaN, Inf or at least 2^64 in magnitude;
 *    harmless without evaluation when its change is below the site's
 *    smallest critical change / safety; critical without evaluation when
 *    above the site's largest harmless change x safety; and, in between, a
 *    binary search over the element's flips on each side sorted by change
 *    (monotone sites), or every flip evaluated (sites whose pilot broke
 *    monotonicity: the rule is verified per site, not assumed).
 *
 * The first `exhaustive_check` drawn elements are also classified
 * exhaustively; recall and precision of the search against them, and the
 * evaluations of both, are in the result. An evaluation is one single-bit
 * configuration evaluated over the eval set (however the engine shortened
 * it); a label predicted without evaluating counts zero.
 *
 * Lifecycle: nnfi_search_run fills a result the caller frees with
 * nnfi_search_result_free. Single-threaded; deterministic: the same campaign
 * gives the same labels and counts.
 */
#ifndef NNFI_SEARCH_H
#define NNFI_SEARCH_H

#include <stdint.h>

#include "nnfi/categories.h"
#include "nnfi/config.h"
#include "nnfi/status.h"
#include "nnfi/worker.h"

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
    uint8_t evaluations; /* 1: this configuration was evaluated; 0: predicted */
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
    double seconds;
} nnfi_search_result;

nnfi_status nnfi_search_run(nnfi_worker *w, const nnfi_campaign *c, unsigned e, nnfi_search_result *out);
void nnfi_search_result_free(nnfi_search_result *r);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_SEARCH_H */
