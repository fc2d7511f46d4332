/* test_gpu_fault_model.c - hardware fault models (issue 17) on a real
 * device: the faults nnfi_fm_group_faults draws for a fault-model group
 * (include/nnfi/fm_sampler.h) applied by the `cuda` backend give tensors
 * bit-identical to the `cpu` backend's, trial by trial, on identical tensors:
 *   act      an fp32 activation [64, 14, 14] per sample, 3 forward calls of
 *            4 rows, campaigns/fault_models/gpu-conv-classes.json (CLASSES
 *            import) with value_range [-8, 8]; once as the model's scope
 *            (per_call: transient in one call) and once transient in one
 *            eval sample; rows compared after every on_site;
 *   weight   an fp32 conv weight [64, 32, 3, 3] (the view [64, 288]),
 *            campaigns/fault_models/mac-stuck.yaml (permanent), 2 occurrences
 *            per trial, range the golden min/max; compared after arm (apply)
 *            and after disarm (restore: the original bytes); then all trials'
 *            faults at once (overlapping elements, order matters for `set`).
 * Group plans are built by hand as in tests/unit/test_fm_sampler.c and
 * tests/bench/bench_fault_model.c. Exits 77 (skip) without a device. */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inject_apply.cuh"
#include "nnfi/config.h"
#include "nnfi/fm_sampler.h"
#include "nnfi/inject.h"
#include "nnfi/registry.h"
#include "nnfi/sampler.h"
#include "nnfi_test.h"

#ifndef FM_MODELS_DIR
#error "FM_MODELS_DIR must name campaigns/fault_models"
#endif

#define TRIALS 300u
#define ACT_C 64u
#define ACT_H 14u
#define ACT_W 14u
#define ACT_NUMEL (ACT_C * ACT_H * ACT_W)
#define ROWS 4u
#define CALLS 3u
#define W_OUT 64u
#define W_IN (32u * 3u * 3u)
#define W_NUMEL (W_OUT * W_IN)

static nnfi_site make_site(const char *name, nnfi_site_kind kind, uint64_t numel, void *data, int device)
{
    nnfi_site s;
    memset(&s, 0, sizeof s);
    snprintf(s.name, sizeof s.name, "%s", name);
    s.kind = kind;
    s.dtype = NNFI_DT_F32;
    s.numel = numel;
    if (kind == NNFI_SITE_ACTIVATION) {
        s.ndim = 3, s.shape[0] = ACT_C, s.shape[1] = ACT_H, s.shape[2] = ACT_W;
    } else {
        s.ndim = 4, s.shape[0] = W_OUT, s.shape[1] = 32, s.shape[2] = 3, s.shape[3] = 3;
    }
    s.data = data;
    s.device = device;
    return s;
}

/* One fp32 site in a one-site group with fault model fm (what
 * nnfi_fm_group_resolve sets, by hand). */
typedef struct fm_plan {
    nnfi_group_plan g;
    uint32_t id;
    uint64_t prefix[2];
    uint8_t dtype;
    nnfi_fm_shape shape;
    double range[2];
} fm_plan;

static void plan_init(fm_plan *p, nnfi_fault_model *fm, uint64_t numel, nnfi_fm_shape shape, double lo, double hi)
{
    memset(p, 0, sizeof *p);
    p->id = 0;
    p->prefix[0] = 0, p->prefix[1] = numel;
    p->dtype = NNFI_DT_F32;
    p->shape = shape;
    p->range[0] = lo, p->range[1] = hi;
    nnfi_group_plan *g = &p->g;
    g->n_sites = 1;
    g->site_ids = &p->id;
    g->prefix = p->prefix;
    g->site_dtype = &p->dtype;
    g->total = numel;
    g->element = -1;
    g->op = NNFI_OP_FLIP;
    g->transient = fm->scope != NNFI_FM_PERMANENT;
    g->scope = NNFI_SCOPE_CALL;
    g->calls = CALLS;
    g->samples = (uint64_t)CALLS * ROWS;
    g->t_from = 0, g->t_to = UINT32_MAX, g->duration = 1;
    g->fm = fm;
    g->fm_shape = &p->shape;
    g->fm_range = p->range;
}

static int load_model(const char *file, nnfi_fault_model **fm)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FM_MODELS_DIR, file);
    size_t len = strlen(path);
    nnfi_status st = len > 5 && strcmp(path + len - 5, ".json") == 0 ? nnfi_fm_load_classes(path, fm)
                                                                      : nnfi_fm_load(path, fm);
    if (st != NNFI_OK) fprintf(stderr, "test_gpu_fault_model: %s\n", nnfi_error_message());
    return st != NNFI_OK;
}

/* Activation: TRIALS trials of one occurrence each, scope call or sample;
 * every call's rows random, identical on both sides, compared after on_site. */
static int activations(int per_sample)
{
    nnfi_fault_model *fm = NULL;
    CHECK(load_model("gpu-conv-classes.json", &fm) == 0);
    CHECK(fm->scope != NNFI_FM_PERMANENT);
    fm_plan p;
    plan_init(&p, fm, ACT_NUMEL, (nnfi_fm_shape){ACT_C, ACT_H, ACT_W, NNFI_DT_F32}, -8.0, 8.0);
    if (per_sample) p.g.scope = NNFI_SCOPE_SAMPLE;
    const size_t bytes = (size_t)ROWS * ACT_NUMEL * sizeof(float);
    unsigned char *a = malloc(bytes), *b = malloc(bytes), *in = malloc(bytes);
    CHECK(a && b && in);
    void *d = NULL;
    CHECK(cudaMalloc(&d, bytes) == cudaSuccess);
    nnfi_site hs = make_site("conv.out", NNFI_SITE_ACTIVATION, ACT_NUMEL, NULL, -1);
    nnfi_site ds = make_site("conv.out", NNFI_SITE_ACTIVATION, ACT_NUMEL, NULL, 0);
    const nnfi_inject_backend *cpu = nnfi_inject_cpu(), *gpu = nnfi_inject_cuda();
    CHECK(gpu != NULL);
    nnfi_injector *ic = NULL, *ig = NULL;
    CHECK(cpu->create(&hs, 1, &ic) == NNFI_OK && gpu->create(&ds, 1, &ig) == NNFI_OK);
    nnfi_fault *buf = NULL;
    uint64_t cap = 0, faults = 0, applied = 0, changed = 0, seed = 4711 + (uint64_t)per_sample;
    for (uint32_t t = 0; t < TRIALS; t++) {
        nnfi_fault_id id = {1717, 0, 0, 0, t};
        uint64_t at = 0;
        int kind = -1;
        CHECK(nnfi_fm_group_faults(&p.g, id, 1, &buf, &cap, &at, &kind) == NNFI_OK);
        CHECK(at > 0 && kind >= 0 && kind < NNFI_FM_KIND_COUNT);
        faults += at;
        CHECK(cpu->arm(ic, buf, at) == NNFI_OK && gpu->arm(ig, buf, at) == NNFI_OK);
        for (uint64_t c = 0; c < CALLS; c++) {
            CHECK(cpu->begin_call(ic, c, c * ROWS, ROWS) == NNFI_OK);
            CHECK(gpu->begin_call(ig, c, c * ROWS, ROWS) == NNFI_OK);
            for (size_t i = 0; i < bytes; i++) in[i] = (unsigned char)nnfi_splitmix64(&seed);
            memcpy(a, in, bytes);
            CHECK(cudaMemcpy(d, in, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
            CHECK(cpu->on_site(ic, 0, a, 0) == NNFI_OK);
            CHECK(gpu->on_site(ig, 0, d, 0) == NNFI_OK);
            CHECK(cudaMemcpy(b, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
            CHECK(memcmp(a, b, bytes) == 0);
            changed += memcmp(a, in, bytes) != 0;
        }
        CHECK(cpu->disarm(ic) == NNFI_OK && gpu->disarm(ig) == NNFI_OK);
        CHECK(gpu->applied(ig) == cpu->applied(ic));
        applied += cpu->applied(ic);
    }
    CHECK(applied > 0 && changed > 0);
    cpu->destroy(ic);
    gpu->destroy(ig);
    cudaFree(d);
    free(a), free(b), free(in), free(buf);
    nnfi_fm_free(fm);
    printf("ok act %s: %u trials, %llu faults (%llu applied), cuda == cpu after every on_site\n",
           per_sample ? "per sample" : "per call", TRIALS, (unsigned long long)faults, (unsigned long long)applied);
    return 0;
}

/* Weight: TRIALS trials of 2 occurrences each, permanent; apply and restore
 * compared per trial, then every trial's faults armed at once. */
static int weights(void)
{
    nnfi_fault_model *fm = NULL;
    CHECK(load_model("mac-stuck.yaml", &fm) == 0);
    CHECK(fm->scope == NNFI_FM_PERMANENT);
    const size_t bytes = (size_t)W_NUMEL * sizeof(float);
    float *host = malloc(bytes), *orig = malloc(bytes), *back = malloc(bytes);
    CHECK(host && orig && back);
    uint64_t seed = 99;
    float lo = 1e30f, hi = -1e30f;
    for (uint64_t i = 0; i < W_NUMEL; i++) { /* a conv weight in [-0.5, 0.5) */
        float x = (float)((double)(nnfi_splitmix64(&seed) >> 11) * 0x1p-53) - 0.5f;
        orig[i] = x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    memcpy(host, orig, bytes);
    fm_plan p;
    plan_init(&p, fm, W_NUMEL, (nnfi_fm_shape){1, W_OUT, W_IN, NNFI_DT_F32}, lo, hi);
    void *d = NULL;
    CHECK(cudaMalloc(&d, bytes) == cudaSuccess);
    CHECK(cudaMemcpy(d, orig, bytes, cudaMemcpyHostToDevice) == cudaSuccess);
    nnfi_site hs = make_site("conv.weight", NNFI_SITE_PARAM, W_NUMEL, host, -1);
    nnfi_site ds = make_site("conv.weight", NNFI_SITE_PARAM, W_NUMEL, d, 0);
    const nnfi_inject_backend *cpu = nnfi_inject_cpu(), *gpu = NULL;
    CHECK(nnfi_inject_for_sites(&ds, 1, &gpu) == NNFI_OK && gpu && strcmp(gpu->name, "cuda") == 0);
    nnfi_injector *ic = NULL, *ig = NULL;
    CHECK(cpu->create(&hs, 1, &ic) == NNFI_OK && gpu->create(&ds, 1, &ig) == NNFI_OK);
    nnfi_fault *buf = NULL;
    uint64_t cap = 0, at = 0, applied = 0;
    for (uint32_t t = 0; t < TRIALS; t++) {
        nnfi_fault_id id = {1717, 1, 0, 0, t};
        uint64_t from = at;
        CHECK(nnfi_fm_group_faults(&p.g, id, 2, &buf, &cap, &at, NULL) == NNFI_OK);
        CHECK(at > from);
        const nnfi_fault *f = buf + from;
        for (uint64_t i = 0; i < at - from; i++) CHECK(!f[i].transient && f[i].element < W_NUMEL);
        CHECK(cpu->arm(ic, f, at - from) == NNFI_OK && gpu->arm(ig, f, at - from) == NNFI_OK);
        CHECK(cudaMemcpy(back, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
        CHECK(memcmp(back, host, bytes) == 0); /* apply */
        CHECK(cpu->disarm(ic) == NNFI_OK && gpu->disarm(ig) == NNFI_OK);
        CHECK(gpu->applied(ig) == cpu->applied(ic));
        applied += cpu->applied(ic);
        CHECK(cudaMemcpy(back, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
        CHECK(memcmp(back, orig, bytes) == 0 && memcmp(host, orig, bytes) == 0); /* restore */
    }
    CHECK(applied > 0);
    /* all trials at once: many occurrences overlapping */
    CHECK(cpu->arm(ic, buf, at) == NNFI_OK && gpu->arm(ig, buf, at) == NNFI_OK);
    CHECK(cudaMemcpy(back, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(memcmp(back, host, bytes) == 0 && memcmp(host, orig, bytes) != 0);
    CHECK(cpu->disarm(ic) == NNFI_OK && gpu->disarm(ig) == NNFI_OK);
    CHECK(gpu->applied(ig) == cpu->applied(ic));
    CHECK(cudaMemcpy(back, d, bytes, cudaMemcpyDeviceToHost) == cudaSuccess);
    CHECK(memcmp(back, orig, bytes) == 0 && memcmp(host, orig, bytes) == 0);
    cpu->destroy(ic);
    gpu->destroy(ig);
    cudaFree(d);
    free(host), free(orig), free(back), free(buf);
    nnfi_fm_free(fm);
    printf("ok weight: %u trials x 2 occurrences, %llu faults, cuda == cpu after apply and restore, "
           "and all at once\n", TRIALS, (unsigned long long)at);
    return 0;
}

int main(void)
{
    if (nnfi_cuda_device_count() <= 0) return nnfi_test_skip("no CUDA device");
    if (activations(0) || activations(1)) return 1;
    if (weights()) return 1;
    return 0;
}
