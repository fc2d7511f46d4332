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
 *  - exhaustive: every bit flipped and evaluated alone (the truth).
 *  - search: a float flip whose value becomes NaN, Inf or at least 2^64 in
 *    magnitude is critical without evaluation. Per site, the last drawn
 *    elements (a sixteenth of its draws, 1 to `pilot`) are classified
 *    exhaustively; a site where one of them is not monotone (on a side of
 *    the value, a flip changing it more is harmless where one changing it
 *    less is critical) has every flip of its other elements evaluated: the
 *    rule is verified per site, not assumed (`pilot: 0` assumes it, as
 *    BinFI). On monotone sites, each side's largest flip bounds the side:
 *    these side tops are group-tested (several elements' flips in one
 *    configuration; pools of about 1/sqrt(p), p the fraction of tops found
 *    critical so far, at most `pool`; binary splitting of critical pools),
 *    a harmless top makes its whole side harmless, and below a critical top
 *    a binary search over the side's flips sorted by change finds the first
 *    critical one.
 *  - the stratified estimator (`strata_width` > 0, search_strata.c): per
 *    (site, bit), elements drawn with replacement have that bit evaluated
 *    alone until the Wilson interval is narrow enough; /critical_strata
 *    then holds these unbiased estimates instead of tallies of the labels.
 *
 * The first `exhaustive_check` drawn elements are also classified
 * exhaustively; recall and precision of the search against them, and the
 * evaluations of both, are in the result. An evaluation is one
 * configuration evaluated over the eval set (however the engine shortened
 * it): a single flip, or a group test (charged to its first member); a
 * label predicted without evaluating counts zero.
 *
 * Lifecycle: nnfi_search_run fills a result the caller frees with
 * nnfi_search_result_free. Single-threaded; deterministic: the same campaign
 * gives the same labels and counts.
 */
#ifndef NNFI_SEARCH_H
#define NNFI_SEARCH_H

#include <stdint.h>

#include "nnfi/config.h"
#include "nnfi/search_result.h"
#include "nnfi/status.h"
#include "nnfi/worker.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Run the search of experiment e (it has a `search:` block) on worker w's
 * model; *out is filled (freed with nnfi_search_result_free, also on error). */
nnfi_status nnfi_search_run(nnfi_worker *w, const nnfi_campaign *c, unsigned e, nnfi_search_result *out);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_SEARCH_H */
