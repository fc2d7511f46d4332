/* bench_draw.c - fault drawing rate: the scalar sampler vs the block sampler.
 *
 * For N = 1e3, 1e4, 1e5, 1e6 faults (up to MAX_N) of two groups:
 *   weights   one random exponent bit flipped, permanent, element uniform
 *             over 64 fp32 sites of 1k..4M elements (17.8M in all): the
 *             common campaign (site search, one-bit pick);
 *   transient one of 2 random bits of any fp16/fp32/int8 bit, op random,
 *             transient per sample in a time window over 200 sites (draw 0
 *             and draw 1 both used, the bucket table larger);
 * the rates (faults/s) of
 *   old       nnfi_sampler_fault_at per fault (what nnfi_sampler_faults was),
 *   new/1t    nnfi_sampler_faults_threads(..., 1),
 *   new/2t    nnfi_sampler_faults_threads(..., 2),
 * each the median of REPS repetitions, the three interleaved in each
 * repetition so a load change on a shared machine hits all of them, and the
 * ratios new/old. Every new result is compared with the old one (memcmp):
 * a mismatch exits 1. Not a test (besides the smoke run): run by hand,
 *   build/tests/bench/bench_draw [MAX_N] [REPS]
 * and record the output in tests/bench/RESULTS.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnfi/config.h" /* nnfi_transient_scope */
#include "nnfi/sampler.h"
#include "nnfi_test.h"
#include "nnfi/sampler_core.h"


#define MAX_SITES 200
static uint32_t site_ids[MAX_SITES];
static uint64_t prefix[MAX_SITES + 1];
static uint8_t dts[MAX_SITES];

static nnfi_group_plan make_group(int transient)
{
    unsigned n_sites = transient ? 200 : 64;
    uint64_t rng = 12345;
    prefix[0] = 0;
    for (unsigned i = 0; i < n_sites; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        site_ids[i] = i * 2 + 1;
        dts[i] = transient ? (uint8_t)(i % 3 == 0 ? NNFI_DT_F16 : i % 3 == 1 ? NNFI_DT_F32 : NNFI_DT_I8) : NNFI_DT_F32;
        uint64_t numel = (uint64_t)1000 << ((rng >> 33) % 13); /* 1k .. 4M */
        prefix[i + 1] = prefix[i] + numel;
    }
    nnfi_group_plan g;
    memset(&g, 0, sizeof g);
    g.n_sites = n_sites;
    g.site_ids = site_ids;
    g.prefix = prefix;
    g.site_dtype = dts;
    g.total = prefix[n_sites];
    for (int dt = 0; dt < NNFI_DT_COUNT; dt++)
        g.candidates[dt] = nnfi_preset_mask((nnfi_dtype)dt, transient ? NNFI_BITS_ALL : NNFI_BITS_EXPONENT);
    g.bit_count = transient ? 2 : 1;
    g.op = transient ? NNFI_OP_RANDOM : NNFI_OP_FLIP;
    g.t_to = UINT32_MAX;
    g.duration = 1;
    g.element = -1;
    if (transient) {
        g.transient = 1;
        g.scope = NNFI_SCOPE_SAMPLE;
        g.samples = 10000;
        g.t_from = 2, g.t_to = 9, g.duration = 3;
    }
    return g;
}

int main(int argc, char **argv)
{
    uint64_t max_n = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000ull;
    int reps = argc > 2 ? atoi(argv[2]) : 9;
    if (reps < 1 || reps > 99) reps = 9;
    if (max_n < 1000) max_n = 1000;
    nnfi_fault *ref = malloc(max_n * sizeof *ref), *f = malloc(max_n * sizeof *f);
    if (!ref || !f) {
        fprintf(stderr, "bench_draw: out of memory\n");
        return 1;
    }
    printf("bench_draw: faults/s (median of %d), old = nnfi_sampler_fault_at per fault, new = nnfi_sampler_faults_threads\n", reps);
    printf("%-9s %9s %14s %14s %14s %9s %9s\n", "group", "faults", "old", "new/1t", "new/2t", "1t/old", "2t/old");
    int bad = 0;
    for (int kind = 0; kind < 2; kind++) {
        nnfi_group_plan g = make_group(kind);
        nnfi_fault_id id = {2026, 3, 1, 7, 11};
        for (uint64_t n = 1000; n <= max_n; n *= 10) {
            double t_old[99], t_1[99], t_2[99];
            int inner = n < 100000 ? (int)(100000 / n) : 1; /* time >= ~1e5 faults per figure */
            for (int r = 0; r < reps; r++) {
                /* a fresh trial per inner repetition: the same stream
                 * repeated would let the branch predictors learn it */
                double t0 = nnfi_test_now_s();
                for (int q = 0; q < inner; q++) {
                    id.trial = (uint32_t)(r * inner + q);
                    for (uint64_t i = 0; i < n; i++) nnfi_sampler_fault_at(&g, id, i, &ref[i]);
                }
                double t1 = nnfi_test_now_s();
                for (int q = 0; q < inner; q++) {
                    id.trial = (uint32_t)(r * inner + q);
                    nnfi_sampler_faults_threads(&g, id, 0, n, f, 1);
                }
                double t2 = nnfi_test_now_s();
                if (memcmp(ref, f, n * sizeof *f)) bad = 1; /* the last inner repetition's */
                memset(f, 0, n * sizeof *f);
                double t3 = nnfi_test_now_s();
                for (int q = 0; q < inner; q++) {
                    id.trial = (uint32_t)(r * inner + q);
                    nnfi_sampler_faults_threads(&g, id, 0, n, f, 2);
                }
                double t4 = nnfi_test_now_s();
                if (memcmp(ref, f, n * sizeof *f)) bad = 1;
                t_old[r] = (t1 - t0) / inner, t_1[r] = (t2 - t1) / inner, t_2[r] = (t4 - t3) / inner;
            }
            double o = nnfi_test_median(t_old, reps), a = nnfi_test_median(t_1, reps), b = nnfi_test_median(t_2, reps);
            printf("%-9s %9llu %14.0f %14.0f %14.0f %8.2fx %8.2fx\n", kind ? "transient" : "weights",
                   (unsigned long long)n, (double)n / o, (double)n / a, (double)n / b, o / a, o / b);
        }
    }
    if (bad) fprintf(stderr, "bench_draw: the block sampler differs from nnfi_sampler_fault_at\n");
    free(ref), free(f);
    return bad;
}
