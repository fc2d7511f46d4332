/* test_gpu_backend.c - the `cuda` backend through the backend table against
 * the `cpu` backend, on a real device: for every dtype, 1,000,000 random
 * faults (repeated elements and every op mixed) on parameters leave the
 * device tensor bit-identical to the host tensor, and disarm restores the
 * original bytes; activation faults (permanent, transient by call and by
 * sample, time windows) give identical rows; faults generated on the device
 * equal the CPU sampler's, and arm_generated equals arm() of those faults.
 * Exits 77 (skip) without a device. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_gen.cuh"
#include "nnfi/registry.h"
#include "inject_apply.cuh"
#include "nnfi/config.h"
#include "nnfi/registry.h"
#include "nnfi/inject.h"
#include "nnfi/sampler.h"
#include "nnfi_test.h"

/* A permanent fault on site 0: random element, bits, op and value. */
static nnfi_fault random_fault(uint64_t *seed, nnfi_dtype dt, uint64_t numel)
{
    nnfi_fault f;
    memset(&f, 0, sizeof f);
    f.element = nnfi_splitmix64(seed) % numel;
    f.mask = (nnfi_splitmix64(seed) & nnfi_low_mask(nnfi_dtype_bits(dt))) | 1;
    f.value = nnfi_splitmix64(seed);
    f.op = (uint8_t)(nnfi_splitmix64(seed) % NNFI_OP_COUNT);
    f.when = -1;
    f.t_last = UINT32_MAX;
    return f;
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
    for (size_t i = 0; i < bytes; i++) host[i] = (unsigned char)nnfi_splitmix64(&seed);
    memcpy(orig, host, bytes);
    for (uint64_t i = 0; i < nf; i++) f[i] = random_fault(&seed, dt, numel); /* ~1e6 over 1M elements: many repeats */
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
        CHECK(cpu->disarm(ic) == NNFI_OK);
        CHECK(gpu->disarm(ig) == NNFI_OK);
        CHECK(gpu->applied(ig) == cpu->applied(ic)); /* the cuda count is read back at disarm */
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
        f[i] = random_fault(&seed, dt, numel);
        switch (nnfi_splitmix64(&seed) % 4) {
        case 1: f[i].transient = 1, f[i].scope = NNFI_SCOPE_CALL, f[i].when = (int64_t)(nnfi_splitmix64(&seed) % calls); break;
        case 2: f[i].transient = 1, f[i].scope = NNFI_SCOPE_SAMPLE, f[i].when = (int64_t)(nnfi_splitmix64(&seed) % (calls * rows)); break;
        case 3: f[i].t_first = (uint32_t)(nnfi_splitmix64(&seed) % 3), f[i].t_last = f[i].t_first + 1; break;
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
            for (size_t i = 0; i < bytes; i++) a[i] = (unsigned char)nnfi_splitmix64(&seed);
            CHECK(cudaMemcpy(d, a, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
            CHECK(cpu->on_site(ic, 0, a, t) == NNFI_OK);
            CHECK(gpu->on_site(ig, 0, d, t) == NNFI_OK);
            CHECK(cudaMemcpy(b, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
            CHECK(memcmp(a, b, bytes) == 0);
        }
    }
    CHECK(cpu->disarm(ic) == NNFI_OK && gpu->disarm(ig) == NNFI_OK);
    CHECK(gpu->applied(ig) == cpu->applied(ic));
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

/* arm_generated (faults made on the device) == arm() of the CPU sampler's
 * faults, on two parameter tensors of different dtypes, 1e6 faults in two groups. */
static int generated_arm(void)
{
    const uint64_t n0 = 1u << 20, n1 = 3u << 18;
    size_t b0 = n0 * 4, b1 = n1 * 2;
    unsigned char *h0 = malloc(b0), *h1 = malloc(b1), *o0 = malloc(b0), *o1 = malloc(b1), *back = malloc(b0);
    CHECK(h0 && h1 && o0 && o1 && back);
    uint64_t seed = 5;
    for (size_t i = 0; i < b0; i++) h0[i] = (unsigned char)nnfi_splitmix64(&seed);
    for (size_t i = 0; i < b1; i++) h1[i] = (unsigned char)nnfi_splitmix64(&seed);
    memcpy(o0, h0, b0);
    memcpy(o1, h1, b1);
    void *d0 = NULL, *d1 = NULL;
    CHECK(cudaMalloc(&d0, b0) == cudaSuccess && cudaMalloc(&d1, b1) == cudaSuccess);
    CHECK(cudaMemcpy(d0, o0, b0, cudaMemcpyHostToDevice) == cudaSuccess);
    CHECK(cudaMemcpy(d1, o1, b1, cudaMemcpyHostToDevice) == cudaSuccess);
    nnfi_site hs[2] = {param_site("a", NNFI_DT_F32, n0, h0, -1), param_site("b", NNFI_DT_BF16, n1, h1, -1)};
    nnfi_site ds[2] = {param_site("a", NNFI_DT_F32, n0, d0, 0), param_site("b", NNFI_DT_BF16, n1, d1, 0)};
    uint32_t ids_a[2] = {0, 1}, ids_b[1] = {1};
    uint64_t pre_a[3] = {0, n0, n0 + n1}, pre_b[2] = {0, n1};
    uint8_t dt_a[2] = {NNFI_DT_F32, NNFI_DT_BF16}, dt_b[1] = {NNFI_DT_BF16};
    nnfi_group_plan g[2];
    memset(g, 0, sizeof g);
    g[0].n_sites = 2, g[0].site_ids = ids_a, g[0].prefix = pre_a, g[0].site_dtype = dt_a, g[0].total = n0 + n1;
    g[1].n_sites = 1, g[1].site_ids = ids_b, g[1].prefix = pre_b, g[1].site_dtype = dt_b, g[1].total = n1;
    for (int k = 0; k < 2; k++) {
        for (int dt = 0; dt < NNFI_DT_COUNT; dt++) g[k].candidates[dt] = nnfi_preset_mask((nnfi_dtype)dt, NNFI_BITS_ALL);
        g[k].bit_count = 1;
        g[k].element = -1;
        g[k].t_to = UINT32_MAX;
    }
    g[0].op = NNFI_OP_FLIP;
    g[1].op = NNFI_OP_STUCK1;
    const nnfi_group_plan *gp[2] = {&g[0], &g[1]};
    nnfi_fault_id id[2] = {{9, 1, 0, 2, 7}, {9, 1, 1, 2, 7}};
    uint64_t counts[2] = {700000, 300000};
    nnfi_fault *f = malloc((counts[0] + counts[1]) * sizeof *f);
    CHECK(f);
    nnfi_sampler_faults(&g[0], id[0], 0, counts[0], f);
    nnfi_sampler_faults(&g[1], id[1], 0, counts[1], f + counts[0]);
    const nnfi_inject_backend *cpu = nnfi_inject_cpu(), *gpu = nnfi_inject_cuda();
    CHECK(nnfi_inject_has_arm_generated(gpu) && !nnfi_inject_has_arm_generated(cpu));
    nnfi_injector *ic = NULL, *ig = NULL;
    CHECK(cpu->create(hs, 2, &ic) == NNFI_OK && gpu->create(ds, 2, &ig) == NNFI_OK);
    CHECK(cpu->arm(ic, f, counts[0] + counts[1]) == NNFI_OK);
    CHECK(gpu->arm_generated(ig, gp, id, counts, 2) == NNFI_OK);
    CHECK(cudaMemcpy(back, d0, b0, cudaMemcpyDeviceToHost) == cudaSuccess && memcmp(back, h0, b0) == 0);
    CHECK(cudaMemcpy(back, d1, b1, cudaMemcpyDeviceToHost) == cudaSuccess && memcmp(back, h1, b1) == 0);
    CHECK(cpu->disarm(ic) == NNFI_OK && gpu->disarm(ig) == NNFI_OK);
    CHECK(gpu->applied(ig) == cpu->applied(ic));
    CHECK(cudaMemcpy(back, d0, b0, cudaMemcpyDeviceToHost) == cudaSuccess && memcmp(back, o0, b0) == 0);
    CHECK(cudaMemcpy(back, d1, b1, cudaMemcpyDeviceToHost) == cudaSuccess && memcmp(back, o1, b1) == 0);
    cpu->destroy(ic);
    gpu->destroy(ig);
    cudaFree(d0), cudaFree(d1);
    free(h0), free(h1), free(o0), free(o1), free(back), free(f);
    printf("ok arm_generated: 1e6 faults made on the device == cpu backend on the sampler's faults\n");
    return 0;
}

int main(void)
{
    if (nnfi_cuda_device_count() <= 0) return nnfi_test_skip("no CUDA device");
    for (int dt = 0; dt < NNFI_DT_COUNT; dt++)
        if (params_dtype((nnfi_dtype)dt)) return 1;
    if (activations(NNFI_DT_F32) || activations(NNFI_DT_BF16)) return 1;
    if (generation(0) || generation(1)) return 1;
    if (generated_arm()) return 1;
    return 0;
}
