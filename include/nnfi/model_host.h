/* model_host.h - model hosts: the plug-in point that opens a model, reports
 * its sites and runs forwards, calling back at every activation/input/state
 * site so faults can be applied as tensors are produced.
 *
 * A host is a versioned table of function pointers; the registry
 * (src/registry/registry.c, nnfi_host_lookup) hands out the one a model's
 * `host` (models[].host) names. Two hosts:
 *   null   plain C, always built: a synthetic, deterministic MLP (fp32
 *          parameter, input and activation sites; a built-in eval set) for
 *          testing and benchmarking the campaign machinery without a
 *          framework; src/plugins/host_null/host_null.c, also the documented
 *          template for new hosts.
 *   torch  TorchScript models through libtorch (C++17 behind this C ABI), in
 *          builds with NNFI_WITH_TORCH: parameter, buffer, input, activation
 *          and loop-state sites, int8 quantized weights exposed through host
 *          shadows, CPU or CUDA placement, facts for the golden run; needs an
 *          eval file (no builtin_eval). src/plugins/host_torch/ (host_torch.h
 *          for its extra exports, host_torch.cpp for the file map).
 *
 * Lifecycle of one model:
 *   open(cfg)  -> sites() / n_classes() / positions() / input_numel() (borrowed, valid until close)
 *              -> set_hook(fn) (NULL: the fault-free path, no callbacks at all)
 *              -> forward(input, rows, logits) any number of times
 *              -> close()
 * A model is used by one thread at a time.
 */
#ifndef NNFI_MODEL_HOST_H
#define NNFI_MODEL_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/config.h"
#include "nnfi/plugin.h" /* NNFI_HAS_SLOT */
#include "nnfi/site.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_MODEL_HOST_ABI 1

typedef struct nnfi_model nnfi_model;

/* Called by forward() for every activation, input and state site as its
 * tensor is produced: `data` holds `rows` samples of sites[site].numel
 * elements, `t` counts this site's calls within the current forward (the time
 * step of an SNN; 0 for a feed-forward layer). May modify data in place. */
typedef nnfi_status (*nnfi_site_hook)(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t);

typedef struct nnfi_model_host {
    uint32_t abi;  /* NNFI_MODEL_HOST_ABI */
    uint32_t size; /* sizeof(nnfi_model_host) */
    const char *name;
    /* base_dir: directory relative paths in cfg are relative to; seed: campaign seed */
    nnfi_status (*open)(const nnfi_model_cfg *cfg, const char *base_dir, uint64_t seed, nnfi_model **out);
    size_t (*n_sites)(const nnfi_model *m);
    const nnfi_site *(*sites)(const nnfi_model *m);
    uint32_t (*n_classes)(const nnfi_model *m);
    uint64_t (*input_numel)(const nnfi_model *m); /* fp32 elements per input sample */
    nnfi_status (*set_hook)(nnfi_model *m, nnfi_site_hook hook, void *user);
    /* input: rows x input_numel fp32 (a model that takes another dtype gets
     * the values converted: fp16/bf16 or integer token ids, all exact in
     * fp32, see nnfi_model_cfg.input_dtype); logits: rows x positions x
     * n_classes fp32 (written) */
    nnfi_status (*forward)(nnfi_model *m, const float *input, uint64_t rows, float *logits);
    void (*close)(nnfi_model *m);
    /* optional (NULL when the host has none): a built-in eval set, for hosts
     * without a data file. The caller frees *inputs and *labels. */
    nnfi_status (*builtin_eval)(nnfi_model *m, uint64_t samples, float **inputs, int32_t **labels);
    /* optional (may be NULL): NULL-terminated "key=value" strings on this
     * model's numerics (versions, threads, BLAS, qengine), fixed at open and
     * recorded with the golden run. Borrowed until close. */
    const char *const *(*facts)(const nnfi_model *m);

    /* ---- prefix reuse (optional: all five NULL when the host has none) ----
     * A cut splits the forward into a prefix and a suffix such that the
     * suffix depends on the input only through the values live across the
     * cut: `cut_bytes(c)` bytes per sample, in a layout of the host's choice
     * (rows are independent: row r's values only ever come from sample r).
     * Cuts are numbered 0 .. n_cuts-1 in forward order and fixed at open.
     * The engine keeps the golden run's live values of some cuts (its golden
     * cache, eval.cache_mb) and starts a trial's forward at the latest cut
     * before everything its faults can change; it checks at golden time that
     * a resumed forward reproduces the golden logits bit for bit and drops a
     * cut that does not. */
    uint32_t (*n_cuts)(const nnfi_model *m);
    /* bytes per sample live across cut c; 0: the cut cannot be used */
    uint64_t (*cut_bytes)(const nnfi_model *m, uint32_t c);
    /* The latest cut c such that nothing before c reads site `site`'s values
     * (parameter, buffer) or calls the hook for it (activation, state); -1
     * when the forward must start at the input (the input site, or unknown). */
    int32_t (*site_cut)(const nnfi_model *m, uint32_t site);
    /* A fault-free forward (the hook is not called) of `rows` samples that
     * also writes, for every cut c with out[c] != NULL, the values live
     * across c into out[c] (rows x cut_bytes(c)). logits as forward(). */
    nnfi_status (*forward_capture)(nnfi_model *m, const float *input, uint64_t rows, float *logits, void *const *out);
    /* The forward resumed at cut c from `live` (rows x cut_bytes(c), as
     * forward_capture wrote it), with the hook as set (called for the sites
     * after the cut only, with their usual t). logits as forward(). */
    nnfi_status (*forward_from)(nnfi_model *m, uint32_t c, const void *live, uint64_t rows, float *logits);
    /* optional (NULL: none): the cut whose live values are exactly what the
     * hook receives for site `site` (its tensor before its faults, in the
     * hook's layout: contiguous, cut_bytes(c) == the site's numel x dtype
     * size per sample), or -1. The engine compares a faulty forward's tensor
     * there with the golden cache to stop a forward whose faults were masked
     * (the hook returns NNFI_STOP: forward must return it as it returns any
     * hook status). */
    int32_t (*site_value_cut)(const nnfi_model *m, uint32_t site);
    /* optional (NULL: 1): output positions per sample. A model whose forward
     * returns [N, T, C] (a class per position, e.g. a language model's next
     * token) has T positions and n_classes() == C; forward, forward_capture
     * and forward_from then write rows x T x C logits, and the eval set holds
     * T labels per sample. Fixed at open. */
    uint32_t (*positions)(const nnfi_model *m);
} nnfi_model_host;

/* Output positions per sample of an open model (1 for [N, C] outputs). */
static inline uint32_t nnfi_host_positions(const nnfi_model_host *h, const nnfi_model *m)
{
    return NNFI_HAS_SLOT(nnfi_model_host, h, positions) && h->positions ? h->positions(m) : 1;
}

/* Does host h have prefix reuse (all five cut slots)? */
static inline int nnfi_host_has_cuts(const nnfi_model_host *h)
{
    return NNFI_HAS_SLOT(nnfi_model_host, h, forward_from) && h->n_cuts && h->cut_bytes && h->site_cut &&
           h->forward_capture && h->forward_from;
}

/* A host's facts, or NULL when its table predates the slot or leaves it empty. */
static inline const char *const *nnfi_host_facts(const nnfi_model_host *h, const nnfi_model *m)
{
    return NNFI_HAS_SLOT(nnfi_model_host, h, facts) ? h->facts(m) : NULL;
}

/* Does host h have site_value_cut (fault dropping)? */
static inline int nnfi_host_has_value_cuts(const nnfi_model_host *h)
{
    return nnfi_host_has_cuts(h) && NNFI_HAS_SLOT(nnfi_model_host, h, site_value_cut) && h->site_value_cut;
}

/* The null host (src/plugins/host_null), always built. */
const nnfi_model_host *nnfi_host_null(void);

/* The libtorch host (src/plugins/host_torch), in builds with NNFI_WITH_TORCH. */
const nnfi_model_host *nnfi_host_torch(void);


#ifdef __cplusplus
}
#endif
#endif /* NNFI_MODEL_HOST_H */
