/* torch_device.cpp - where the torch host runs a model: device auto / cpu /
 * cuda, and the settings that make a GPU rerun give the same bits. Includes no
 * model and no JIT header (torch_env.h); open() moves the module.
 *
 * device: `cuda` puts the module on a GPU (an error when this libtorch has no
 * CUDA or no device is visible), `auto` does so when one is available and the
 * model is not quantized (the quantized engines run on the CPU), `cpu` never.
 * The GPU is local rank mod visible devices (topology.h), logged once per
 * rank. On a GPU: cuDNN deterministic, no benchmark autotuning, no TF32, so
 * reruns give the same bits. What changes on a GPU elsewhere: parameter and
 * activation sites hold device pointers (nnfi_site.device >= 0), which makes
 * the worker pick the `cuda` injection backend; forward (host_torch.cpp)
 * copies the input to the device before its site is called and takes the
 * logits back after a wait with the watchdog's deadline
 * (nnfi_device_stream_wait: a hung forward is NNFI_E_TIMEOUT).
 */
#include "torch_env.h"

#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include "nnfi/topology.h"

namespace nnfi_torch {

nnfi_status check_device_request(const nnfi_model_cfg *cfg, const char *mname)
{
    if (cfg->device == NNFI_DEVICE_CUDA && !torch::cuda::is_available())
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: model '%s': device cuda, but this libtorch (%s) %s\n"
                         "  hint: use device: cpu or auto, or build nnfi against a CUDA libtorch (cmake "
                         "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'))",
                         mname, TORCH_VERSION, "has no CUDA or sees no GPU");
    return NNFI_OK;
}

nnfi_status choose_device(const nnfi_model_cfg *cfg, const char *mname, bool quantized, int *device)
{
    *device = -1;
    if (cfg->device == NNFI_DEVICE_CPU) return NNFI_OK;
    int visible = (int)torch::cuda::device_count();
    if (visible <= 0) return NNFI_OK; /* auto on a machine without a GPU; cuda was refused before load */
    if (quantized) {
        if (cfg->device == NNFI_DEVICE_CUDA)
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "torch host: model '%s' is quantized (packed int8 weights): its engines "
                             "run on the CPU only\n  hint: use device: cpu or auto for quantized models", mname);
        return NNFI_OK;
    }
    *device = nnfi_topology_device(visible);
    nnfi_topology_log_once(*device, visible);
    at::globalContext().setDeterministicCuDNN(true);
    at::globalContext().setBenchmarkCuDNN(false);
    at::globalContext().setAllowTF32CuDNN(false);
    at::globalContext().setAllowTF32CuBLAS(false);
    return NNFI_OK;
}

} // namespace nnfi_torch
