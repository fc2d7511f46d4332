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
 *    elements (a sixteenth of its draws, 1 to `pilot`, counted in 32-bit
 *    elements: an int8 element costs a quarter, so four times as many) are
 *    classified exhaustively. A float site whose pilot elements are all
 *    monotone (on a side of the value, a flip changing it more is never
 *    harmless where one changing it less is critical) is searched with that
 *    rule: each side's largest flip bounds the side; these side tops are
 *    group-tested (several elements' flips in one configuration; pools of
 *    about 1/sqrt(p), p the fraction of tops found critical so far, at most
 *    `pool`; binary splitting of critical pools), a harmless top makes its
 *    whole side harmless, and below a critical top a binary search over the
 *    side's flips sorted by change finds the first critical one. Any other
 *    site (a pilot element not monotone, or an integer dtype: quantized
 *    rounding and clamps make criticality non-monotone) is searched flip by
 *    flip: every flip decided by group tests of one bit position across
 *    elements (pools per bit from the pilot's labels; a dense bit, whose
 *    pools would hold fewer than 16 flips, has each flip evaluated alone).
 *    The rule is verified
 *    per site, not assumed (`pilot: 0` assumes monotonicity everywhere, as
 *    BinFI). Group tests are verified too: before the search, the pilot's
 *    own flips are pooled as the search would pool them, and a group that
 *    holds a known critical flip but tests harmless (masking) turns the
 *    site's pools off; so do fewer than 64 draws from the site.
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
 * gives the same labels and counts, whether searched whole or unit by unit
 * (one site at a time, on any rank: `nnfi search` under mpirun, --shard,
 * --resume).
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
 * model: every site (only_site < 0), or one site only (a unit: the
 * elements drawn from that site, its pilot, search, check and strata);
 * *out is filled in canonical order (nnfi_search_result_finish; freed with
 * nnfi_search_result_free, also on error). */
nnfi_status nnfi_search_run(nnfi_worker *w, const nnfi_campaign *c, unsigned e, int64_t only_site,
                            nnfi_search_result *out);

/* Units (search_units.c). The units of an experiment are its sites; the
 * results of disjoint units of one experiment add up (add, then finish) to
 * the whole search's, bit for bit: labels sorted by (method, site, element,
 * bit), strata by (site, bit), recall and precision from the sums. */
nnfi_status nnfi_search_result_add(nnfi_search_result *dst, const nnfi_search_result *src);
nnfi_status nnfi_search_result_finish(nnfi_search_result *r);

/* One searched unit as it travels between ranks, to the journal and into the
 * result file: experiment e's site `site` (of n_sites) named site_name
 * (owned, malloc'd) and its result (owned). */
typedef struct nnfi_search_unit {
    uint32_t experiment, site, n_sites;
    char *site_name;
    nnfi_search_result result;
} nnfi_search_unit;

/* Pack u into a malloc'd record (*buf, *len; the caller frees it); unpack
 * one record from buf[0..len) into *u (owned; *used: its bytes), refusing a
 * truncated or foreign record. Records are in native byte order. */
nnfi_status nnfi_search_unit_pack(const nnfi_search_unit *u, uint8_t **buf, size_t *len);
nnfi_status nnfi_search_unit_unpack(const uint8_t *buf, size_t len, nnfi_search_unit *u, size_t *used);
void nnfi_search_unit_free(nnfi_search_unit *u);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_SEARCH_H */
