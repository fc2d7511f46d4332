/* fault_gen.cu - the CPU sampler's code run by one thread per fault (see
 * fault_gen.cuh). Layer 1: the kernel; layer 2: its launcher; layer 3: the
 * validating entry points that also own the plan's device copy. */
#include "fault_gen.cuh"

#include <cuda_runtime.h>

#include <new>
#include <stdlib.h>

#include "nnfi/sampler_core.h"

struct nnfi_cuda_plan {
    nnfi_group_plan g; /* array pointers point into `mem` (device) */
    void *mem;
};

/* ---- layer 1 ---- */

__global__ void k_generate(nnfi_group_plan g, nnfi_fault_id id, uint64_t k0, uint64_t n, nnfi_fault *out)
{
    uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) nnfi_sampler_fault_at(&g, id, k0 + i, &out[i]);
}

/* ---- layer 2 ---- */

static cudaError_t launch_generate(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n,
                                   nnfi_fault *out, cudaStream_t s)
{
    const unsigned threads = 128;
    k_generate<<<(unsigned)((n + threads - 1) / threads), threads, 0, s>>>(*g, id, k0, n, out);
    return cudaGetLastError();
}

/* ---- layer 3 ---- */

extern "C" nnfi_status nnfi_cuda_plan_upload(const nnfi_group_plan *g, nnfi_cuda_plan **out)
{
    *out = nullptr;
    if (!g || g->n_sites == 0 || !g->site_ids || !g->prefix || !g->site_dtype)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_cuda_plan_upload: the plan selects no site\n  hint: resolve the group first");
    size_t ns = g->n_sites;
    size_t b_ids = ns * sizeof(uint32_t), b_prefix = (ns + 1) * sizeof(uint64_t), b_dt = ns;
    size_t b_map = g->index_map ? g->total * sizeof(uint64_t) : 0;
    size_t o_prefix = 0, o_map = b_prefix, o_ids = o_map + b_map, o_dt = o_ids + b_ids, total = o_dt + b_dt;
    nnfi_cuda_plan *p = new (std::nothrow) nnfi_cuda_plan();
    if (!p) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    cudaError_t e = cudaMalloc(&p->mem, total);
    char *m = (char *)p->mem;
    if (e == cudaSuccess) e = cudaMemcpy(m + o_prefix, g->prefix, b_prefix, cudaMemcpyHostToDevice);
    if (e == cudaSuccess && b_map) e = cudaMemcpy(m + o_map, g->index_map, b_map, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(m + o_ids, g->site_ids, b_ids, cudaMemcpyHostToDevice);
    if (e == cudaSuccess) e = cudaMemcpy(m + o_dt, g->site_dtype, b_dt, cudaMemcpyHostToDevice);
    if (e != cudaSuccess) {
        nnfi_cuda_plan_free(p);
        return NNFI_FAIL(NNFI_E_BACKEND, "nnfi_cuda_plan_upload: %s\n  hint: check the device (nvidia-smi)",
                         cudaGetErrorString(e));
    }
    p->g = *g;
    p->g.prefix = (const uint64_t *)(m + o_prefix);
    p->g.index_map = b_map ? (const uint64_t *)(m + o_map) : nullptr;
    p->g.site_ids = (const uint32_t *)(m + o_ids);
    p->g.site_dtype = (const uint8_t *)(m + o_dt);
    *out = p;
    return NNFI_OK;
}

extern "C" void nnfi_cuda_plan_free(nnfi_cuda_plan *p)
{
    if (!p) return;
    if (p->mem) cudaFree(p->mem);
    delete p;
}

extern "C" nnfi_status nnfi_cuda_generate(const nnfi_cuda_plan *p, nnfi_fault_id id, uint64_t k0, uint64_t n,
                                          nnfi_fault *d_out, void *stream)
{
    if (n == 0) return NNFI_OK;
    if (!p || !d_out) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_cuda_generate: NULL plan or output");
    if (p->g.distinct && n > p->g.total)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_cuda_generate: %llu distinct faults of %llu elements",
                         (unsigned long long)n, (unsigned long long)p->g.total);
    if (n > (uint64_t)0x7fffffff * 128) return NNFI_FAIL(NNFI_E_INVALID, "nnfi_cuda_generate: too many faults for one launch");
    cudaError_t e = launch_generate(&p->g, id, k0, n, d_out, (cudaStream_t)stream);
    if (e != cudaSuccess)
        return NNFI_FAIL(NNFI_E_BACKEND, "nnfi_cuda_generate: launch failed: %s", cudaGetErrorString(e));
    return NNFI_OK;
}
