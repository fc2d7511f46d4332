/* host_torch.h - the `torch` model host (TorchScript models through libtorch,
 * behind the C ABI of nnfi/model_host.h). Built as the shared library
 * nnfi_torch_host; src/host/torch/host_torch.cpp documents the behaviour.
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
 *  5 activation, 0 state, 1 input; skipped: ...; quantized packed weights: not
 *  exposed". Borrowed, valid until close. */
const char *nnfi_host_torch_info(const nnfi_model *m);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_HOST_TORCH_H */
