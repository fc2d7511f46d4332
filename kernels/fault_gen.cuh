/* fault_gen.cuh - faults generated on the device by the same code as the CPU
 * sampler (nnfi/sampler_core.h), bit-identical to nnfi_sampler_faults.
 *
 * Lifecycle: nnfi_cuda_plan_upload(host plan) copies a resolved group plan and
 * its arrays to the current device (the caller owns the result and frees it
 * with nnfi_cuda_plan_free); nnfi_cuda_generate fills a device array with
 * faults k0 .. k0+n-1 of a stream, asynchronously on `stream` (a cudaStream_t
 * as void*; NULL = the legacy default stream). Counts (nnfi_sampler_count)
 * stay on the host: they are one draw per trial.
 */
#ifndef NNFI_KERNELS_FAULT_GEN_CUH
#define NNFI_KERNELS_FAULT_GEN_CUH

#include <stdint.h>

#include "nnfi/sampler.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_cuda_plan nnfi_cuda_plan;

nnfi_status nnfi_cuda_plan_upload(const nnfi_group_plan *g, nnfi_cuda_plan **out);
void nnfi_cuda_plan_free(nnfi_cuda_plan *p);

/* faults k0 .. k0+n-1 of stream `id` into d_out (device memory, n faults) */
nnfi_status nnfi_cuda_generate(const nnfi_cuda_plan *p, nnfi_fault_id id, uint64_t k0, uint64_t n, nnfi_fault *d_out,
                               void *stream);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_KERNELS_FAULT_GEN_CUH */
