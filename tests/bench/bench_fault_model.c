/* bench_fault_model.c - what one hardware-pattern occurrence per trial costs,
 * against one single-bit flip, on the same site (issue 17).
 *
 * Two sites, each timed with two fault groups, trial by trial:
 *   act     an fp32 activation [64, 14, 14] (one sample, one forward call);
 *   weight  an fp32 conv weight [64, 32, 3, 3] (the view [64, 288]);
 *   (a) flip   one single-bit flip (any of the 32 bits): nnfi_sampler_faults,
 *              count 1, transient in the call on `act`, permanent on `weight`;
 *   (b) model  one pattern occurrence: nnfi_fm_group_faults, count 1, from
 *              campaigns/fault_models/gpu-conv-classes.json (CLASSES import,
 *              per_call) on `act` and campaigns/fault_models/mac-stuck.yaml
 *              (permanent) on `weight`; group plans built by hand as in
 *              tests/unit/test_fm_sampler.c (value range: the golden min/max).
 * Per trial, timed separately over TRIALS trials:
 *   draw           the faults of the trial into the trial list;
 *   apply+restore  the cpu backend (nnfi_inject_cpu): arm, begin_call, on_site
 *                  of the activation (its faults land there), disarm (the
 *                  weight restored from the undo log); for the activation,
 *                  which a real forward recomputes, the touched elements are
 *                  written back from a golden copy, counted in.
 * For reference, the draw of (a) is also timed through the scalar
 * nnfi_sampler_fault (the block sampler behind nnfi_sampler_faults computes a
 * whole 256-lane Philox block even for one fault).
 * Each repetition runs (a) and (b) of both sites, the order of (a) and (b)
 * alternating between repetitions; the figures are medians over the
 * repetitions, the ratios medians of the per-repetition ratios (the
 * machines this runs on are shared and noisy). The last line puts (b) beside
 * a fault-free forward of the zoo CNN over 1,000 samples (FORWARD_S, default
 * 0.274 s: tests/bench/RESULTS.md "bench_zoo", 2.740 s for 10,000 samples).
 * Exits 1 when a tensor is not restored bit-exactly or the backend applied
 * other than one edit per fault. Not a test: run by hand,
 *   build/tests/bench/bench_fault_model [TRIALS] [REPS] [FORWARD_S]
 * (defaults 20000, 9, 0.274) and record the output in tests/bench/RESULTS.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h" /* NNFI_SCOPE_CALL */
#include "nnfi/fm_sampler.h"
#include "nnfi/inject.h"
#include "nnfi/sampler.h"
#include "nnfi_test.h"

#ifndef FM_MODELS_DIR
#error "FM_MODELS_DIR must name campaigns/fault_models"
#endif

#define ACT_NUMEL (64u * 14u * 14u)
#define W_NUMEL (64u * 32u * 3u * 3u)
#define MAX_REPS 99

/* One site with its two groups and the per-trial fault list. */
typedef struct bcase {
    const char *name, *model_file;
    uint32_t site;
    float *data, *golden;
    uint64_t numel;
    nnfi_group_plan flip, model;
    nnfi_fault_model *fm;
    nnfi_fm_shape shape;
    double range[2];
    uint64_t prefix[2];
    uint8_t dtype;
    /* medians over repetitions: [variant][rep], variant 0 flip, 1 model */
    double draw[2][MAX_REPS], apply[2][MAX_REPS];
    double r_draw[MAX_REPS], r_apply[MAX_REPS], r_total[MAX_REPS];
    double scalar[MAX_REPS], r_scalar[MAX_REPS]; /* draw of (a) through nnfi_sampler_fault, for reference */
    uint64_t faults[2], trials[2];
} bcase;

static nnfi_fault *buf;
static uint64_t cap, *off;
static const nnfi_inject_backend *cpu;
static nnfi_injector *inj;
static int bad;

/* Draw TRIALS trials of variant v (faults into buf, trial k at off[k]..off[k+1]),
 * then apply + restore them one trial at a time; seconds per trial in *d, *a. */
static int run(bcase *c, int v, uint32_t trial0, uint32_t trials, double *d, double *a)
{
    const nnfi_group_plan *g = v ? &c->model : &c->flip;
    double t0 = nnfi_test_now_s();
    uint64_t at = 0;
    for (uint32_t k = 0; k < trials; k++) {
        nnfi_fault_id id = {2026, 0, (uint32_t)v, c->site, trial0 + k};
        off[k] = at;
        if (v) {
            if (nnfi_fm_group_faults(g, id, 1, &buf, &cap, &at, NULL) != NNFI_OK) return 1;
        } else {
            nnfi_sampler_faults(g, id, 0, 1, buf + at);
            at++;
        }
    }
    off[trials] = at;
    double t1 = nnfi_test_now_s();
    const int act = c->site == 0;
    uint64_t applied = 0;
    for (uint32_t k = 0; k < trials; k++) {
        const nnfi_fault *f = buf + off[k];
        size_t n = off[k + 1] - off[k];
        if (cpu->arm(inj, f, n) != NNFI_OK) return 1;
        if (act && (cpu->begin_call(inj, 0, 0, 1) != NNFI_OK || cpu->on_site(inj, 0, c->data, 0) != NNFI_OK))
            return 1;
        applied += cpu->applied(inj);
        cpu->disarm(inj);
        if (act)
            for (size_t i = 0; i < n; i++) c->data[f[i].element] = c->golden[f[i].element];
    }
    double t2 = nnfi_test_now_s();
    if (applied != at) bad = 1; /* every fault must hit (one call, one row) */
    if (memcmp(c->data, c->golden, c->numel * sizeof *c->data) != 0) bad = 1;
    c->faults[v] += at;
    c->trials[v] += trials;
    *d = (t1 - t0) / trials;
    *a = (t2 - t1) / trials;
    return 0;
}

/* The draw of (a) through the scalar nnfi_sampler_fault (the same fault, bit for
 * bit, by sampler.h): seconds per trial. */
static double run_scalar(bcase *c, uint32_t trial0, uint32_t trials)
{
    double t0 = nnfi_test_now_s();
    for (uint32_t k = 0; k < trials; k++) {
        nnfi_fault_id id = {2026, 0, 0, c->site, trial0 + k};
        nnfi_sampler_fault(&c->flip, id, 0, buf + k);
    }
    return (nnfi_test_now_s() - t0) / trials;
}

static int setup(bcase *c, nnfi_site *s, uint32_t *site_id)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", FM_MODELS_DIR, c->model_file);
    size_t len = strlen(path);
    nnfi_status st = len > 5 && strcmp(path + len - 5, ".json") == 0 ? nnfi_fm_load_classes(path, &c->fm)
                                                                      : nnfi_fm_load(path, &c->fm);
    if (st != NNFI_OK) {
        fprintf(stderr, "bench_fault_model: %s\n", nnfi_error_message());
        return 1;
    }
    c->golden = malloc(c->numel * sizeof *c->golden);
    c->data = malloc(c->numel * sizeof *c->data);
    if (!c->golden || !c->data) return 1;
    uint64_t rng = 17 + c->site;
    float lo = 1e30f, hi = -1e30f;
    for (uint64_t i = 0; i < c->numel; i++) { /* act: ReLU output in [0, 4); weight: [-0.5, 0.5) */
        double u = (double)(nnfi_splitmix64(&rng) >> 11) * 0x1p-53;
        float x = c->site == 0 ? (u < 0.4 ? 0.0f : (float)(u - 0.4) * 6.6f) : (float)u - 0.5f;
        c->golden[i] = x;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
    }
    memcpy(c->data, c->golden, c->numel * sizeof *c->data);
    c->range[0] = lo, c->range[1] = hi; /* the golden min/max (value_range for the activation) */
    s->data = c->site == 0 ? NULL : c->data;

    c->dtype = NNFI_DT_F32;
    c->prefix[0] = 0, c->prefix[1] = c->numel;
    const int transient = c->site == 0; /* act: in the forward call; weight: permanent */
    nnfi_group_plan *g = &c->flip;
    memset(g, 0, sizeof *g);
    g->n_sites = 1;
    g->site_ids = site_id;
    g->prefix = c->prefix;
    g->site_dtype = &c->dtype;
    g->total = c->numel;
    g->candidates[NNFI_DT_F32] = nnfi_preset_mask(NNFI_DT_F32, NNFI_BITS_ALL);
    g->bit_count = 1;
    g->op = NNFI_OP_FLIP;
    g->transient = (uint8_t)transient;
    g->scope = NNFI_SCOPE_CALL;
    g->calls = 1;
    g->samples = 1;
    g->t_to = UINT32_MAX;
    g->duration = 1;
    g->element = -1;
    c->model = *g; /* the same site, then what nnfi_fm_group_resolve sets */
    g = &c->model;
    g->bit_count = 0;
    g->transient = c->fm->scope != NNFI_FM_PERMANENT;
    g->fm = c->fm;
    g->fm_shape = &c->shape;
    g->fm_range = c->range;
    if ((c->site == 0) != (g->transient != 0)) {
        fprintf(stderr, "bench_fault_model: %s: unexpected scope\n", c->model_file);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    uint32_t trials = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 20000;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    double forward_s = argc > 3 ? strtod(argv[3], NULL) : 0.274;
    if (trials < 1 || trials > 10000000) trials = 20000;
    if (reps < 1 || reps > MAX_REPS) reps = 9;
    if (!(forward_s > 0)) forward_s = 0.274;

    static bcase cases[2];
    cases[0] = (bcase){.name = "act", .model_file = "gpu-conv-classes.json", .site = 0, .numel = ACT_NUMEL,
                       .shape = {64, 14, 14, NNFI_DT_F32}};
    cases[1] = (bcase){.name = "weight", .model_file = "mac-stuck.yaml", .site = 1, .numel = W_NUMEL,
                       .shape = {1, 64, 32 * 3 * 3, NNFI_DT_F32}};
    nnfi_site sites[2];
    memset(sites, 0, sizeof sites);
    strcpy(sites[0].name, "conv.out");
    sites[0].kind = NNFI_SITE_ACTIVATION;
    sites[0].ndim = 3, sites[0].shape[0] = 64, sites[0].shape[1] = 14, sites[0].shape[2] = 14;
    strcpy(sites[1].name, "conv.weight");
    sites[1].kind = NNFI_SITE_PARAM;
    sites[1].ndim = 4, sites[1].shape[0] = 64, sites[1].shape[1] = 32, sites[1].shape[2] = 3, sites[1].shape[3] = 3;
    uint32_t site_ids[2] = {0, 1};
    for (int i = 0; i < 2; i++) {
        sites[i].dtype = NNFI_DT_F32;
        sites[i].numel = cases[i].numel;
        sites[i].device = -1;
        if (setup(&cases[i], &sites[i], &site_ids[i])) return 1;
    }
    cpu = nnfi_inject_cpu();
    off = malloc(((size_t)trials + 1) * sizeof *off);
    if (!off || nnfi_fm_reserve(&buf, &cap, (uint64_t)trials * 32) != NNFI_OK || cpu->create(sites, 2, &inj) != NNFI_OK) {
        fprintf(stderr, "bench_fault_model: out of memory\n");
        return 1;
    }

    double d, a;
    for (int i = 0; i < 2; i++) /* warm-up: buffers grown, code and tensors in cache */
        for (int v = 0; v < 2; v++)
            if (run(&cases[i], v, 0xF0000000u, trials < 2000 ? trials : 2000, &d, &a)) goto fail;
    for (int i = 0; i < 2; i++) cases[i].faults[0] = cases[i].faults[1] = cases[i].trials[0] = cases[i].trials[1] = 0;
    for (int r = 0; r < reps; r++)
        for (int i = 0; i < 2; i++) {
            bcase *c = &cases[i];
            for (int j = 0; j < 2; j++) {
                int v = (r & 1) ? 1 - j : j; /* (a) first on even repetitions, (b) first on odd */
                if (run(c, v, (uint32_t)r * trials, trials, &c->draw[v][r], &c->apply[v][r])) goto fail;
            }
            c->scalar[r] = run_scalar(c, (uint32_t)r * trials, trials);
            c->r_scalar[r] = c->draw[1][r] / c->scalar[r];
            c->r_draw[r] = c->draw[1][r] / c->draw[0][r];
            c->r_apply[r] = c->apply[1][r] / c->apply[0][r];
            c->r_total[r] = (c->draw[1][r] + c->apply[1][r]) / (c->draw[0][r] + c->apply[0][r]);
        }

    printf("bench_fault_model: one fault per trial, cpu backend, %u trials x %d reps (median), one core\n", trials,
           reps);
    printf("%-7s %-28s %10s %17s %10s %10s\n", "site", "fault (one per trial)", "draw ns", "apply+restore ns",
           "total ns", "elems/occ");
    double per_trial_b[2];
    for (int i = 0; i < 2; i++) {
        bcase *c = &cases[i];
        double md[2], ma[2];
        for (int v = 0; v < 2; v++) {
            md[v] = nnfi_test_median(c->draw[v], reps);
            ma[v] = nnfi_test_median(c->apply[v], reps);
            printf("%-7s %-28s %10.1f %17.1f %10.1f %10.2f\n", c->name,
                   v ? c->model_file : "(a) single-bit flip", md[v] * 1e9, ma[v] * 1e9, (md[v] + ma[v]) * 1e9,
                   (double)c->faults[v] / (double)c->trials[v]);
        }
        printf("%-7s %-28s %9.2fx %16.2fx %9.2fx\n", c->name, "ratio (b)/(a)", nnfi_test_median(c->r_draw, reps),
               nnfi_test_median(c->r_apply, reps), nnfi_test_median(c->r_total, reps));
        per_trial_b[i] = md[1] + ma[1];
        printf("%-7s %-28s %10.1f   (nnfi_sampler_fault, for reference; draw (b)/this: %.2fx)\n", c->name,
               "(a) draw, scalar", nnfi_test_median(c->scalar, reps) * 1e9, nnfi_test_median(c->r_scalar, reps));
    }
    printf("(b) per trial vs a fault-free forward of the zoo CNN over 1000 samples (%.3f s): act %.2g, weight %.2g\n",
           forward_s, per_trial_b[0] / forward_s, per_trial_b[1] / forward_s);
    printf("tensors restored bit-exactly after every trial, one edit per fault: %s\n", bad ? "NO" : "yes");
    cpu->destroy(inj);
    for (int i = 0; i < 2; i++) free(cases[i].data), free(cases[i].golden), nnfi_fm_free(cases[i].fm);
    free(buf), free(off);
    return bad;
fail:
    fprintf(stderr, "bench_fault_model: %s\n", nnfi_error_message());
    return 1;
}
