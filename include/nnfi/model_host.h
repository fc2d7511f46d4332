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
 *   open(cfg)  -> sites() / n_classes() / input_numel() (borrowed, valid until close)
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
    /* input: rows x input_numel fp32; logits: rows x n_classes fp32 (written) */
    nnfi_status (*forward)(nnfi_model *m, const float *input, uint64_t rows, float *logits);
    void (*close)(nnfi_model *m);
    /* optional (NULL when the host has none): a built-in eval set, for hosts
     * without a data file. The caller frees *inputs and *labels. */
    nnfi_status (*builtin_eval)(nnfi_model *m, uint64_t samples, float **inputs, int32_t **labels);
    /* optional (may be NULL): NULL-terminated "key=value" strings on this
     * model's numerics (versions, threads, BLAS, qengine), fixed at open and
     * recorded with the golden run. Borrowed until close. */
    const char *const *(*facts)(const nnfi_model *m);
} nnfi_model_host;

/* A host's facts, or NULL when its table predates the slot or leaves it empty. */
static inline const char *const *nnfi_host_facts(const nnfi_model_host *h, const nnfi_model *m)
{
    return NNFI_HAS_SLOT(nnfi_model_host, h, facts) ? h->facts(m) : NULL;
}

/* The null host (src/plugins/host_null), always built. */
const nnfi_model_host *nnfi_host_null(void);

/* The libtorch host (src/plugins/host_torch), in builds with NNFI_WITH_TORCH. */
const nnfi_model_host *nnfi_host_torch(void);


#ifdef __cplusplus
}
#endif
#endif /* NNFI_MODEL_HOST_H */
