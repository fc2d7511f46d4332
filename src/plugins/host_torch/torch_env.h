/* torch_env.h - private to src/plugins/host_torch: the process-wide side of
 * the torch host, declared without heavy torch headers (only c10's QEngine),
 * so that torch_facts.cpp and torch_device.cpp compile in a fraction of the
 * time of a TU that includes torch_internal.h (the model, the JIT).
 *
 *   torch_facts.cpp   quantized engine names and choice, thread pinning
 *                     (ATen's intra-op pool, QNNPACK's pthreadpool, OpenBLAS),
 *                     the facts recorded with the golden run
 *   torch_device.cpp  placement: device auto/cpu/cuda, deterministic cuDNN
 */
#ifndef NNFI_TORCH_ENV_H
#define NNFI_TORCH_ENV_H

#include <c10/core/QEngine.h>

#include "nnfi/config.h"
#include "nnfi/status.h"

#include <cstdint>
#include <string>
#include <vector>

namespace nnfi_torch {

/* ---- torch_facts.cpp -------------------------------------------------- */

/* "qnnpack", "onednn", "fbgemm", "x86", "none" */
std::string qengine_name(c10::QEngine e);

/* The name of the quantized engine in use now. */
std::string qengine_now();

/* The engine to pin for a model: `requested` (cfg->qengine; NULL: qnnpack when
 * this libtorch has it, else none pinned). *pin says whether to pin *engine.
 * An unknown or unavailable engine is NNFI_E_UNSUPPORTED naming model `mname`
 * and the engines this libtorch has. */
nnfi_status choose_qengine(const char *requested, const char *mname, bool *pin, c10::QEngine *engine);

/* Threads and quantized engine are process-wide: pin a model's settings
 * (intra-op threads, OpenBLAS threads when the process has OpenBLAS, the
 * engine if `pin_qengine`). `force` at open; otherwise only what differs. */
void pin_settings(uint32_t threads, bool pin_qengine, c10::QEngine qengine, bool force);

/* The "key=value" facts of nnfi_host_torch_facts (host_torch.h lists the keys):
 * `device` the CUDA ordinal or -1, `threads` the pinned intra-op count,
 * `quantized_modules` the packed modules' paths joined by ',' (empty: none). */
std::vector<std::string> build_facts(int device, uint32_t threads, const std::string &quantized_modules);

/* ---- torch_device.cpp ------------------------------------------------- */

/* Before load: device cuda on a libtorch without CUDA or without a visible
 * GPU is NNFI_E_UNSUPPORTED naming model `mname`; OK otherwise. */
nnfi_status check_device_request(const nnfi_model_cfg *cfg, const char *mname);

/* After load, before any site exists: the CUDA ordinal the model goes to in
 * *device, or -1 for the CPU (device cpu; no GPU visible; auto with a
 * `quantized` model). device cuda with a quantized model is
 * NNFI_E_UNSUPPORTED. Choosing a GPU logs it once per rank and makes cuDNN
 * and cuBLAS deterministic (no benchmark autotuning, no TF32). */
nnfi_status choose_device(const nnfi_model_cfg *cfg, const char *mname, bool quantized, int *device);

} // namespace nnfi_torch

#endif /* NNFI_TORCH_ENV_H */
