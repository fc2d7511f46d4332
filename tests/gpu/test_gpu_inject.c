/* test_gpu_inject.c - the CUDA apply/restore kernels give bit-identical
 * tensors to the CPU engine for 1,000,000 random faults on every dtype, and
 * restore gives back the original bytes. Exits 77 (skip) without a device. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject_apply.cuh"
#include "nnfi/inject.h"
#include "nnfi/sampler.h"
#include "nnfi_test.h"

static int run_dtype(nnfi_dtype dt)
{
    const uint64_t numel = 4u << 20, nf = 1000000;
    size_t bytes = numel * nnfi_dtype_bits(dt) / 8;
    unsigned char *host = malloc(bytes), *orig = malloc(bytes), *back = malloc(bytes);
    nnfi_fault *f = malloc(nf * sizeof *f);
    CHECK(host && orig && back && f);
    for (size_t i = 0; i < bytes; i++) host[i] = (unsigned char)(i * 2654435761u >> 13);
    memcpy(orig, host, bytes);
    /* distinct elements: the sampler's permutation */
    uint32_t site = 0;
    uint64_t prefix[2] = {0, numel};
    uint8_t dts[1] = {(uint8_t)dt};
    nnfi_group_plan g = {0};
    g.n_sites = 1;
    g.site_ids = &site;
    g.prefix = prefix;
    g.site_dtype = dts;
    g.total = numel;
    g.candidates[dt] = nnfi_preset_mask(dt, NNFI_BITS_ALL);
    g.bit_count = 2;
    g.op = NNFI_OP_RANDOM;
    g.distinct = 1;
    g.element = -1;
    g.t_to = UINT32_MAX;
    nnfi_fault_id id = {42, 1, 0, 3, (uint32_t)dt};
    nnfi_sampler_faults(&g, id, 0, nf, f);
    for (uint64_t i = 0; i < nf; i++) f[i].op = (uint8_t)(i % NNFI_OP_COUNT);

    nnfi_site s = {0};
    strcpy(s.name, "t");
    s.kind = NNFI_SITE_PARAM;
    s.dtype = dt;
    s.numel = numel;
    s.data = host;
    s.device = -1;
    const nnfi_inject_backend *cpu = nnfi_inject_cpu();
    nnfi_injector *inj = NULL;
    CHECK(cpu->create(&s, 1, &inj) == NNFI_OK);
    CHECK(cpu->arm(inj, f, nf) == NNFI_OK);

    void *d_data = NULL, *d_f = NULL, *d_saved = NULL;
    CHECK(cudaMalloc(&d_data, bytes) == cudaSuccess);
    CHECK(cudaMalloc(&d_f, nf * sizeof *f) == cudaSuccess);
    CHECK(cudaMalloc(&d_saved, nf * 8) == cudaSuccess);
    CHECK(cudaMemcpy(d_data, orig, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(d_f, f, nf * sizeof *f, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(nnfi_cuda_apply(d_data, dt, numel, d_f, nf, d_saved, 0, NULL) == NNFI_OK);
    CHECK(cudaMemcpy(back, d_data, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(memcmp(back, host, bytes) == 0); /* faulted: GPU == CPU */
    CHECK(memcmp(back, orig, bytes) != 0);
    CHECK(nnfi_cuda_restore(d_data, dt, numel, d_f, nf, d_saved, 0, NULL) == NNFI_OK);
    CHECK(cudaMemcpy(back, d_data, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(memcmp(back, orig, bytes) == 0);
    CHECK(cpu->disarm(inj) == NNFI_OK);
    CHECK(memcmp(host, orig, bytes) == 0);
    cpu->destroy(inj);
    cudaFree(d_data);
    cudaFree(d_f);
    cudaFree(d_saved);
    free(host);
    free(orig);
    free(back);
    free(f);
    printf("ok dtype %d: 1e6 faults, GPU == CPU, restore exact\n", (int)dt);
    return 0;
}

int main(void)
{
    if (nnfi_cuda_device_count() <= 0) return nnfi_test_skip("no CUDA device");
    for (int dt = 0; dt < NNFI_DT_COUNT; dt++)
        if (run_dtype((nnfi_dtype)dt)) return 1;
    return 0;
}
