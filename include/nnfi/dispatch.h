/* dispatch.h - which trials to hand out next (rank 0 only).
 *
 * Walks the global trial index space in order, skipping trials already done
 * (resume), and hands out contiguous ranges of guided size. Points with a
 * stopping rule are run in steps of `stop.min` trials: trials past the next
 * check wait until every trial before it is done, then the Wilson interval of
 * the watched proportion over that prefix decides whether the point stops
 * there. Decisions use index-ordered prefixes only, so they, and therefore
 * the result file, do not depend on the number of ranks or on timing.
 *
 * Lifecycle: create -> (finished | next)* -> destroy. Borrows campaign and plan.
 */
#ifndef NNFI_CAMPAIGN_DISPATCH_H
#define NNFI_CAMPAIGN_DISPATCH_H

#include <stdint.h>

#include "nnfi/config.h"
#include "nnfi/plan.h"
#include "nnfi/results.h"
#include "nnfi/status.h"

typedef struct nnfi_dispatch nnfi_dispatch;

typedef enum nnfi_next { NNFI_NEXT_RANGE = 0, NNFI_NEXT_WAIT = 1, NNFI_NEXT_END = 2 } nnfi_next;

/* shard_count > 1: only the trials of shard shard_index (see nnfi_shard_of). */
nnfi_status nnfi_dispatch_create(const nnfi_campaign *c, const nnfi_plan *p, int ranks, unsigned shard_index,
                                 unsigned shard_count, nnfi_dispatch **out);

/* The shard a trial belongs to: contiguous index ranges of equal size, except
 * that a point with a stopping rule belongs wholly to the shard of its first
 * trial (its rule judges index-ordered prefixes, which must be in one file). */
unsigned nnfi_shard_of(const nnfi_plan *p, const nnfi_campaign *c, uint64_t trial, unsigned shard_count);

/* A finished trial (from this run, or from the file on resume). */
void nnfi_dispatch_finished(nnfi_dispatch *d, const nnfi_trial_row *row);

/* The next range for a rank that takes `share` of a guided chunk (1: a full
 * chunk; larger: smaller pieces, for rank 0 which also coordinates). */
nnfi_next nnfi_dispatch_next(nnfi_dispatch *d, unsigned share, uint64_t *lo, uint64_t *hi);

/* Guided ranges shrink towards the end; keep them at least n trials (fewer
 * only where the campaign or a stopping rule's gate ends them), so a worker
 * has trials to pack together. Default 0 (down to 1). */
void nnfi_dispatch_set_min_range(nnfi_dispatch *d, uint64_t n);

/* Trials done so far, and trials the campaign will have when complete
 * (the plan's total minus what stopping rules cut off so far). */
uint64_t nnfi_dispatch_done(const nnfi_dispatch *d);
uint64_t nnfi_dispatch_expected(const nnfi_dispatch *d);

/* Whether the watched event happened in this row (for a stopping rule). */
int nnfi_stop_event(const nnfi_stop_cfg *s, const nnfi_trial_row *row);

void nnfi_dispatch_destroy(nnfi_dispatch *d);

#endif
