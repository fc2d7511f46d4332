/* host_torch.h - the `torch` model host (TorchScript models through libtorch,
 * behind the C ABI of nnfi/model_host.h). Built as the static library
 * nnfi_torch_host (C programs that link it are linked by the C++ driver);
 * host_torch.cpp documents the behaviour and maps the other files
 * (torch_graph.cpp, torch_params.cpp, torch_quant.cpp, torch_cuts.cpp,
 * torch_facts.cpp, torch_device.cpp) that document their parts.
 *
 * Usage alone (C11):
 *   const nnfi_model_host *h = nnfi_host_torch();
 *   nnfi_model_cfg cfg = {0}; cfg.path = "cnn.pt"; cfg.threads = 1;
 *   nnfi_model *m; if (h->open(&cfg, "dir/of/campaign", seed, &m) != NNFI_OK) ...
 *   h->forward(m, input, rows, logits); h->close(m);
 */
#ifndef NNFI_HOST_TORCH_H
#define NNFI_HOST_TORCH_H

#include "nnfi/model_host.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The host table (static storage). Loading the library registers the
 * TorchScript operator nnfi::site(Tensor x, int id) -> Tensor. */
const nnfi_model_host *nnfi_host_torch(void);

/* One line for provenance and logs, e.g.
 * "libtorch 1.13.0 cpu, qengine qnnpack, threads 1, sites: 6 param, 0 buffer,
 *  5 activation, 0 state, 1 input; skipped: ...; quantized packed weights: 4
 *  (conv1, conv2, fc1, fc2); cuts: 10 (1 usable), cuts 1,2,...: why". Borrowed,
 *  valid until close. */
const char *nnfi_host_torch_info(const nnfi_model *m);

/* What the golden run should record about the numerics of this process: a
 * NULL-terminated list of "key=value" strings, keys in this order:
 *   torch_version      libtorch's version (TORCH_VERSION)
 *   device             cpu, or cuda:N (the GPU the module was placed on)
 *   cuda_available     yes / no (torch::cuda::is_available)
 *   cuda_devices       the number of visible CUDA devices
 *   qengine            the quantized engine pinned at load ("none" if none)
 *   qengines           the engines this libtorch has, comma-separated
 *   intra_op_threads   the pinned intra-op thread count
 *   inter_op_threads   at::get_num_interop_threads()
 *   parallel_backend   ATen's (OpenMP, native, TBB)
 *   cpu_capability     the vector ISA ATen dispatches to (AVX2, AVX512, DEFAULT)
 *   blas_info          BLAS_INFO of libtorch's build configuration
 *   lapack_info        LAPACK_INFO of the same
 *   blas_library       the BLAS shared library mapped into this process, symlinks
 *                      resolved (Debian's alternatives pick it), or "none"
 *   blas_threads       OpenBLAS's thread count (pinned to intra_op_threads), or
 *                      "n/a" for a BLAS without threads of its own
 *   quantized_modules  packed quantized weights exposed as sites
 * Borrowed, valid until close. */
const char *const *nnfi_host_torch_facts(const nnfi_model *m);

/* Counters of the quantized-weight shadows (see torch_quant.cpp). */
typedef struct nnfi_host_torch_stats {
    uint64_t forwards; /* forwards run (discovery included) */
    uint64_t repacks;  /* packed objects rebuilt from faulty values */
    uint64_t restores; /* saved packed objects re-set (bit-exact restore) */
    uint64_t writes;   /* attribute / int64 zero-point writes */
    uint64_t rebuilds; /* packed objects rebuilt from their saved state after a failed forward */
    double sync_s;     /* seconds in the start-of-forward synchronisation, all of it */
    double repack_s;   /* of which in repacks (the engine's lazy packing at the next
                          forward is not included) */
} nnfi_host_torch_stats;

void nnfi_host_torch_get_stats(const nnfi_model *m, nnfi_host_torch_stats *out);

/* The value the model computes with for PARAM/BUFFER site `site`, read back
 * from the model itself (for a packed quantized weight: __getstate__ of the
 * packed object installed now; for an attribute: the attribute), written to
 * `out` (sites[site].numel elements of its dtype). Diagnostics and tests: it
 * shows that a fault reached the model and nothing else changed. Call between
 * forwards: shadows are synchronised at the start of a forward, so an edit
 * made since the last forward is not visible yet. */
nnfi_status nnfi_host_torch_read_live(const nnfi_model *m, uint32_t site, void *out);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_HOST_TORCH_H */
