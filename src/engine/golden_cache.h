/* golden_cache.h - private to src/engine: building the golden cache of one
 * model (nnfi_golden_cache in trial_pass.h) within a memory budget, with the
 * self-checks that keep the shortcuts exact. */
#ifndef NNFI_ENGINE_GOLDEN_CACHE_H
#define NNFI_ENGINE_GOLDEN_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/trial_pass.h"

/* Owns what nnfi_golden_cache borrows. */
typedef struct golden_cache_store {
    nnfi_golden_cache view;
    uint64_t *bytes;
    void **live;
    uint32_t *site_from;
    int32_t *value_cut;  /* per site (view.value_cut) */
    int32_t *host_cut;   /* per site: the host's site_cut (every cut, kept or not: their order) */
    uint32_t *drop;      /* sites with a value cut, by host cut (earliest first) */
    uint32_t n_drop;
    uint64_t used;        /* bytes held */
    uint32_t kept;        /* cuts kept */
    uint32_t over_budget; /* usable cuts left out for the budget */
    uint32_t failed;      /* cuts dropped by the self-check */
    uint32_t too_slow;    /* cuts dropped: resuming there saved too little time */
} golden_cache_store;

/* Build the cache of m (golden logits computed, hook off) within
 * budget_bytes: the latest usable cuts first, each captured over the eval
 * set; the capture's logits must equal the golden ones and a forward
 * resumed at each kept cut must reproduce the golden logits of the first and
 * last batch bit for bit, else the cut is dropped; so is a cut whose resumed
 * forward of the first batch is not clearly faster than a plain one. A host without cuts, or a
 * budget of 0, gives an empty cache (site_from all 0). */
nnfi_status golden_cache_build(const nnfi_pass_model *m, size_t n_sites, uint64_t budget_bytes,
                               golden_cache_store *out);

void golden_cache_free(golden_cache_store *c);

#endif /* NNFI_ENGINE_GOLDEN_CACHE_H */
