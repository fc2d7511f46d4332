/* inject_apply.cu - CUDA kernels applying and restoring fault lists on one
 * tensor (see inject_apply.cuh). Layer 1: bounds-checked __global__ kernels;
 * layer 2: launchers on a stream; layer 3: validating entry points. */
#include "inject_apply.cuh"

#include <cuda_runtime.h>

#include "nnfi/fault_bits.h"
#include "nnfi/watchdog.h"

/* ---- layer 1: kernels ---- */

__global__ void apply_kernel(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t n,
                             uint64_t *saved)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || f[i].element >= numel) return;
    uint64_t w = nnfi_elem_load(data, dt, f[i].element);
    saved[i] = w;
    nnfi_elem_store(data, dt, f[i].element, nnfi_bits_apply(w, (nnfi_op)f[i].op, f[i].mask, f[i].value));
}

__global__ void restore_kernel(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t n,
                               const uint64_t *saved)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n || f[i].element >= numel) return;
    nnfi_elem_store(data, dt, f[i].element, saved[i]);
}

/* Exact list-order semantics when faults may share an element. */
__global__ void apply_serial_kernel(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t n,
                                    uint64_t *saved)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (uint64_t i = 0; i < n; i++) {
        if (f[i].element >= numel) continue;
        uint64_t w = nnfi_elem_load(data, dt, f[i].element);
        saved[i] = w;
        nnfi_elem_store(data, dt, f[i].element, nnfi_bits_apply(w, (nnfi_op)f[i].op, f[i].mask, f[i].value));
    }
}

__global__ void restore_serial_kernel(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t n,
                                      const uint64_t *saved)
{
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (uint64_t i = n; i > 0; i--)
        if (f[i - 1].element < numel) nnfi_elem_store(data, dt, f[i - 1].element, saved[i - 1]);
}

/* ---- layer 2: launchers ---- */

static const unsigned kThreads = 256;

static cudaError_t launch_apply(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t n,
                                uint64_t *saved, int serial, cudaStream_t s)
{
    if (serial) apply_serial_kernel<<<1, 1, 0, s>>>(data, dt, numel, f, n, saved);
    else apply_kernel<<<(unsigned)((n + kThreads - 1) / kThreads), kThreads, 0, s>>>(data, dt, numel, f, n, saved);
    return cudaGetLastError();
}

static cudaError_t launch_restore(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t n,
                                  const uint64_t *saved, int serial, cudaStream_t s)
{
    if (serial) restore_serial_kernel<<<1, 1, 0, s>>>(data, dt, numel, f, n, saved);
    else restore_kernel<<<(unsigned)((n + kThreads - 1) / kThreads), kThreads, 0, s>>>(data, dt, numel, f, n, saved);
    return cudaGetLastError();
}

/* ---- layer 3: entry points ---- */

#define CUDA_CHECK(expr)                                                                              \
    do {                                                                                              \
        cudaError_t e_ = (expr);                                                                      \
        if (e_ != cudaSuccess)                                                                        \
            return NNFI_FAIL(NNFI_E_BACKEND, "CUDA: %s failed: %s\n  hint: check the device with nvidia-smi", \
                             #expr, cudaGetErrorString(e_));                                          \
    } while (0)

static nnfi_status validate(const void *data, nnfi_dtype dt, const nnfi_fault *faults, uint64_t n, const void *saved)
{
    if (n == 0) return NNFI_OK;
    if (!data || !faults || !saved)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_cuda_apply/restore: NULL device pointer");
    if (nnfi_dtype_bits(dt) == 0) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_cuda_apply/restore: bad dtype %d", (int)dt);
    if (n > (uint64_t)0x7fffffff * kThreads) return NNFI_FAIL(NNFI_E_INVALID, "too many faults for one launch");
    return NNFI_OK;
}

extern "C" nnfi_status nnfi_cuda_apply(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *faults,
                                       uint64_t n, uint64_t *saved, int may_repeat, void *stream)
{
    NNFI_TRY(validate(data, dt, faults, n, saved));
    if (n == 0) return NNFI_OK;
    CUDA_CHECK(launch_apply(data, dt, numel, faults, n, saved, may_repeat, (cudaStream_t)stream));
    return NNFI_OK;
}

extern "C" nnfi_status nnfi_cuda_restore(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *faults,
                                         uint64_t n, const uint64_t *saved, int may_repeat, void *stream)
{
    NNFI_TRY(validate(data, dt, faults, n, saved));
    if (n == 0) return NNFI_OK;
    CUDA_CHECK(launch_restore(data, dt, numel, faults, n, saved, may_repeat, (cudaStream_t)stream));
    return NNFI_OK;
}

static int poll_event(void *ctx)
{
    cudaError_t e = cudaEventQuery(*(cudaEvent_t *)ctx);
    if (e == cudaSuccess) return 1;
    if (e == cudaErrorNotReady) return 0;
    cudaGetLastError();
    NNFI_FAIL(NNFI_E_BACKEND, "CUDA: the device reported an error: %s\n"
              "  hint: the trial counts as failed (DUE); a sticky error (illegal address) needs a new process",
              cudaGetErrorString(e));
    return -1;
}

extern "C" nnfi_status nnfi_cuda_stream_wait(void *stream, const char *what)
{
    cudaEvent_t ev;
    CUDA_CHECK(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    cudaError_t e = cudaEventRecord(ev, (cudaStream_t)stream);
    nnfi_status st = e == cudaSuccess ? nnfi_wait_deadline(poll_event, &ev, nnfi_device_timeout_s(), what)
                                      : NNFI_FAIL(NNFI_E_BACKEND, "CUDA: cudaEventRecord failed: %s", cudaGetErrorString(e));
    cudaEventDestroy(ev);
    return st;
}

extern "C" int nnfi_cuda_device_count(void)
{
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        cudaGetLastError(); /* clear the sticky "no driver" error */
        return 0;
    }
    return n;
}
