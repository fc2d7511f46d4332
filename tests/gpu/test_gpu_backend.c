/* test_gpu_backend.c - the `cuda` backend through the backend table against
 * the `cpu` backend, on a real device: for every dtype, 1,000,000 random
 * faults (repeated elements and every op mixed) on parameters leave the
 * device tensor bit-identical to the host tensor, and disarm restores the
 * original bytes; activation faults (permanent, transient by call and by
 * sample, time windows) give identical rows; faults generated on the device
 * equal the CPU sampler's. Exits 77 (skip) without a device. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_gen.cuh"
#include "inject_apply.cuh"
#include "nnfi/config.h"
#include "nnfi/inject.h"
#include "nnfi/sampler.h"

#define CHECK(c)                                                                                               \
    do {                                                                                                       \
        if (!(c)) {                                                                                            \
            fprintf(stderr, "FAIL %s:%d: %s (%s)\n", __FILE__, __LINE__, #c, nnfi_error_message());             \
            return 1;                                                                                          \
        }                                                                                                      \
    } while (0)

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static nnfi_site param_site(const char *name, nnfi_dtype dt, uint64_t numel, void *data, int device)
{
    nnfi_site s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.kind = NNFI_SITE_PARAM;
    s.dtype = dt;
    s.ndim = 1;
    s.shape[0] = (int64_t)numel;
    s.numel = numel;
    s.data = data;
    s.device = device;
    return s;
}

/* 1e6 faults on one parameter of dtype dt: cpu (host copy) vs cuda (device copy). */
static int params_dtype(nnfi_dtype dt)
{
    const uint64_t numel = 1u << 20, nf = 1000000;
    size_t bytes = numel * nnfi_dtype_bits(dt) / 8;
    unsigned char *host = malloc(bytes), *orig = malloc(bytes), *back = malloc(bytes);
    nnfi_fault *f = malloc(nf * sizeof *f);
    CHECK(host && orig && back && f);
    uint64_t seed = 1234 + dt;
    for (size_t i = 0; i < bytes; i++) host[i] = (unsigned char)rng(&seed);
    memcpy(orig, host, bytes);
    for (uint64_t i = 0; i < nf; i++) { /* ~1e6 over 1M elements: many repeats */
        memset(&f[i], 0, sizeof f[i]);
        f[i].element = rng(&seed) % numel;
        f[i].mask = (rng(&seed) & nnfi_low_mask(nnfi_dtype_bits(dt))) | 1;
        f[i].value = rng(&seed);
        f[i].op = (uint8_t)(rng(&seed) % NNFI_OP_COUNT);
        f[i].when = -1;
        f[i].t_last = UINT32_MAX;
    }
    void *d = NULL;
    CHECK(cudaMalloc(&d, bytes) == cudaSuccess);
    CHECK(cudaMemcpy(d, orig, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
    nnfi_site hs = param_site("w", dt, numel, host, -1), ds = param_site("w", dt, numel, d, 0);
    const nnfi_inject_backend *cpu = nnfi_inject_cpu(), *gpu = NULL;
    CHECK(nnfi_inject_for_sites(&ds, 1, &gpu) == NNFI_OK && gpu && strcmp(gpu->name, "cuda") == 0);
    nnfi_injector *ic = NULL, *ig = NULL;
    CHECK(cpu->create(&hs, 1, &ic) == NNFI_OK);
    CHECK(gpu->create(&ds, 1, &ig) == NNFI_OK);
    for (int round = 0; round < 2; round++) { /* twice: buffers reused */
        CHECK(cpu->arm(ic, f, nf) == NNFI_OK);
        CHECK(gpu->arm(ig, f, nf) == NNFI_OK);
        CHECK(cudaMemcpy(back, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
        CHECK(memcmp(back, host, bytes) == 0);
        CHECK(memcmp(back, orig, bytes) != 0);
        CHECK(gpu->applied(ig) == cpu->applied(ic));
        CHECK(cpu->disarm(ic) == NNFI_OK);
        CHECK(gpu->disarm(ig) == NNFI_OK);
        CHECK(cudaMemcpy(back, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
        CHECK(memcmp(back, orig, bytes) == 0);
        CHECK(memcmp(host, orig, bytes) == 0);
    }
    cpu->destroy(ic);
    gpu->destroy(ig);
    cudaFree(d);
    free(host), free(orig), free(back), free(f);
    printf("ok params %s: 1e6 faults, cuda == cpu, restore exact\n", nnfi_dtype_name(dt));
    return 0;
}

/* Activation faults on a site of 4096 fp32/bf16 elements per sample, 3 calls of 64 rows, 4 steps. */
static int activations(nnfi_dtype dt)
{
    const uint64_t numel = 4096, rows = 64, calls = 3, nf = 200000;
    size_t bytes = rows * numel * nnfi_dtype_bits(dt) / 8;
    nnfi_site s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "act");
    s.kind = NNFI_SITE_ACTIVATION;
    s.dtype = dt;
    s.ndim = 1;
    s.shape[0] = (int64_t)numel;
    s.numel = numel;
    nnfi_site sd = s;
    s.device = -1;
    sd.device = 0;
    nnfi_fault *f = malloc(nf * sizeof *f);
    unsigned char *a = malloc(bytes), *b = malloc(bytes);
    CHECK(f && a && b);
    uint64_t seed = 99 + dt;
    for (uint64_t i = 0; i < nf; i++) {
        memset(&f[i], 0, sizeof f[i]);
        f[i].element = rng(&seed) % numel;
        f[i].mask = (rng(&seed) & nnfi_low_mask(nnfi_dtype_bits(dt))) | 1;
        f[i].value = rng(&seed);
        f[i].op = (uint8_t)(rng(&seed) % NNFI_OP_COUNT);
        f[i].when = -1;
        f[i].t_last = UINT32_MAX;
        switch (rng(&seed) % 4) {
        case 1: f[i].transient = 1, f[i].scope = NNFI_SCOPE_CALL, f[i].when = (int64_t)(rng(&seed) % calls); break;
        case 2: f[i].transient = 1, f[i].scope = NNFI_SCOPE_SAMPLE, f[i].when = (int64_t)(rng(&seed) % (calls * rows)); break;
        case 3: f[i].t_first = (uint32_t)(rng(&seed) % 3), f[i].t_last = f[i].t_first + 1; break;
        default: break;
        }
    }
    void *d = NULL;
    CHECK(cudaMalloc(&d, bytes) == cudaSuccess);
    const nnfi_inject_backend *cpu = nnfi_inject_cpu(), *gpu = nnfi_inject_cuda();
    nnfi_injector *ic = NULL, *ig = NULL;
    CHECK(cpu->create(&s, 1, &ic) == NNFI_OK && gpu->create(&sd, 1, &ig) == NNFI_OK);
    CHECK(cpu->arm(ic, f, nf) == NNFI_OK && gpu->arm(ig, f, nf) == NNFI_OK);
    for (uint64_t c = 0; c < calls; c++) {
        CHECK(cpu->begin_call(ic, c, c * rows, rows) == NNFI_OK && gpu->begin_call(ig, c, c * rows, rows) == NNFI_OK);
        for (uint32_t t = 0; t < 4; t++) {
            for (size_t i = 0; i < bytes; i++) a[i] = (unsigned char)rng(&seed);
            CHECK(cudaMemcpy(d, a, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
            CHECK(cpu->on_site(ic, 0, a, t) == NNFI_OK);
            CHECK(gpu->on_site(ig, 0, d, t) == NNFI_OK);
            CHECK(cudaMemcpy(b, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
            CHECK(memcmp(a, b, bytes) == 0);
        }
    }
    CHECK(gpu->applied(ig) == cpu->applied(ic));
    CHECK(cpu->disarm(ic) == NNFI_OK && gpu->disarm(ig) == NNFI_OK);
    cpu->destroy(ic);
    gpu->destroy(ig);
    cudaFree(d);
    free(f), free(a), free(b);
    printf("ok activations %s: 2e5 faults x 3 calls x 4 steps, cuda == cpu\n", nnfi_dtype_name(dt));
    return 0;
}

/* Faults generated on the device equal the CPU sampler's (distinct and not). */
static int generation(int distinct)
{
    const uint64_t nf = 1000000;
    uint32_t ids[3] = {2, 5, 9};
    uint64_t prefix[4] = {0, 300000, 1300000, 1700000};
    uint8_t dts[3] = {NNFI_DT_F32, NNFI_DT_BF16, NNFI_DT_I8};
    nnfi_group_plan g;
    memset(&g, 0, sizeof g);
    g.n_sites = 3;
    g.site_ids = ids;
    g.prefix = prefix;
    g.site_dtype = dts;
    g.total = prefix[3];
    for (int dt = 0; dt < NNFI_DT_COUNT; dt++) g.candidates[dt] = nnfi_preset_mask((nnfi_dtype)dt, NNFI_BITS_ALL);
    g.bit_count = 2;
    g.op = NNFI_OP_RANDOM;
    g.distinct = (uint8_t)distinct;
    g.element = -1;
    g.transient = 1;
    g.calls = 7;
    g.t_from = 1;
    g.t_to = 6;
    g.duration = 2;
    nnfi_fault_id id = {77, 3, 1, 4, 11};
    nnfi_fault *h = malloc(nf * sizeof *h), *back = malloc(nf * sizeof *back);
    CHECK(h && back);
    nnfi_sampler_faults(&g, id, 0, nf, h);
    nnfi_cuda_plan *p = NULL;
    CHECK(nnfi_cuda_plan_upload(&g, &p) == NNFI_OK);
    nnfi_fault *d = NULL;
    CHECK(cudaMalloc((void **)&d, nf * sizeof *d) == cudaSuccess);
    CHECK(nnfi_cuda_generate(p, id, 0, nf, d, NULL) == NNFI_OK);
    CHECK(cudaMemcpy(back, d, nf * sizeof *d, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(memcmp(back, h, nf * sizeof *h) == 0);
    nnfi_cuda_plan_free(p);
    cudaFree(d);
    free(h), free(back);
    printf("ok generation%s: 1e6 faults, device == host\n", distinct ? " (distinct)" : "");
    return 0;
}

int main(void)
{
    if (nnfi_cuda_device_count() <= 0) {
        printf("no CUDA device: skipped\n");
        return 77;
    }
    for (int dt = 0; dt < NNFI_DT_COUNT; dt++)
        if (params_dtype((nnfi_dtype)dt)) return 1;
    if (activations(NNFI_DT_F32) || activations(NNFI_DT_BF16)) return 1;
    if (generation(0) || generation(1)) return 1;
    return 0;
}
