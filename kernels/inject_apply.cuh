/* inject_apply.cuh - the CUDA helpers below the `cuda` backend: apply a
 * fault list to ONE device tensor and restore it, on the caller's CUDA
 * stream, with the same bit primitives as the CPU backend
 * (include/nnfi/fault_bits.h), so the results are bit-identical; and the
 * device wait the watchdog and the registry use.
 *
 * nnfi_cuda_apply/restore: three layers, the bounds-checked kernels
 * (inject_apply.cu), launchers that take a cudaStream_t, and the validating C
 * entry points declared here. Semantics match the cpu backend
 * (src/plugins/inject_cpu/inject_cpu.c) for faults on one tensor: faults are
 * applied in list order and restored in reverse order. The parallel kernels
 * need the faults to hit distinct elements; when they may not (may_repeat !=
 * 0) a single-thread kernel keeps the exact list order (slower). They are a
 * per-tensor primitive (tests/gpu/test_gpu_inject.c checks them against the
 * cpu backend): the backend itself (backend_cuda.cu) handles whole fault
 * lists over many tensors by sorting and segmenting them
 * (segment_apply.cuh), one thread per element, keeping list order.
 */
#ifndef NNFI_KERNELS_INJECT_APPLY_CUH
#define NNFI_KERNELS_INJECT_APPLY_CUH

#include <stddef.h>
#include <stdint.h>

#include "nnfi/sampler.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Apply n device-resident faults to `data` (device memory, dtype dt, numel
 * elements), saving each original word into `saved` (device, n words).
 * Asynchronous on `stream` (a cudaStream_t passed as void*). */
nnfi_status nnfi_cuda_apply(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *faults,
                            uint64_t n, uint64_t *saved, int may_repeat, void *stream);

/* Undo nnfi_cuda_apply with the same arguments. */
nnfi_status nnfi_cuda_restore(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *faults,
                              uint64_t n, const uint64_t *saved, int may_repeat, void *stream);

/* Wait for all work queued on `stream` (NULL: the legacy default stream, where
 * libtorch runs) on the current device, with the watchdog's deadline
 * (nnfi/watchdog.h): NNFI_E_TIMEOUT naming `what` when it passes,
 * NNFI_E_BACKEND when the device reports an error. */
nnfi_status nnfi_cuda_stream_wait(void *stream, const char *what);

/* Number of usable CUDA devices (0 on error or without a driver). */
int nnfi_cuda_device_count(void);

#ifdef __cplusplus
}
#endif
#endif
