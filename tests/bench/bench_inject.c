/* bench_inject.c - fault generation rate and CPU apply+restore cost per fault.
 *
 * For N = 1e3, 1e5, 1e6 faults on one fp32 tensor of 10M elements (40 MB):
 *   gen      faults/s of nnfi_sampler_faults (one random exponent bit each;
 *            also the distinct-element variant, which walks a permutation)
 *   apply+restore  ns per fault of the cpu backend (arm + disarm), and the
 *            same divided by a plain random read-modify-write loop over as
 *            many random elements, measured in the same run (the memory-bound
 *            floor).
 * Each figure is the median of several repetitions. Not a test: run by hand,
 *   build/tests/bench/bench_inject [elements] [reps]
 * and record the output in tests/bench/RESULTS.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnfi/inject.h"
#include "nnfi/sampler.h"
#include "nnfi_test.h"


int main(int argc, char **argv)
{
    uint64_t numel = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000ull;
    int reps = argc > 2 ? atoi(argv[2]) : 7;
    if (reps < 1 || reps > 99) reps = 7;
    float *t = malloc(numel * sizeof *t);
    float *copy = malloc(numel * sizeof *copy);
    nnfi_fault *f = malloc(1000000 * sizeof *f);
    if (!t || !copy || !f) {
        fprintf(stderr, "bench_inject: out of memory\n");
        return 1;
    }
    for (uint64_t i = 0; i < numel; i++) t[i] = (float)(i % 1000) * 1e-3f - 0.5f;
    memcpy(copy, t, numel * sizeof *t);

    uint32_t site_id = 0;
    uint64_t prefix[2] = {0, numel};
    uint8_t dts[1] = {NNFI_DT_F32};
    nnfi_group_plan g;
    memset(&g, 0, sizeof g);
    g.n_sites = 1;
    g.site_ids = &site_id;
    g.prefix = prefix;
    g.site_dtype = dts;
    g.total = numel;
    g.candidates[NNFI_DT_F32] = nnfi_preset_mask(NNFI_DT_F32, NNFI_BITS_EXPONENT);
    g.bit_count = 1;
    g.op = NNFI_OP_FLIP;
    g.t_to = UINT32_MAX;
    g.element = -1;

    nnfi_site s;
    memset(&s, 0, sizeof s);
    strcpy(s.name, "bench.weight");
    s.kind = NNFI_SITE_PARAM;
    s.dtype = NNFI_DT_F32;
    s.ndim = 1;
    s.shape[0] = (int64_t)numel;
    s.numel = numel;
    s.data = t;
    s.device = -1;
    const nnfi_inject_backend *cpu = nnfi_inject_cpu();
    nnfi_injector *inj = NULL;
    if (cpu->create(&s, 1, &inj) != NNFI_OK) return 1;

    printf("bench_inject: fp32 tensor of %llu elements (%.0f MB), median of %d reps, one core\n",
           (unsigned long long)numel, numel * 4 / 1e6, reps);
    printf("%10s %14s %16s %16s %14s %10s\n", "faults", "gen Mfaults/s", "gen distinct M/s", "apply+restore", "raw rmw floor",
           "ratio");
    const uint64_t ns[3] = {1000, 100000, 1000000};
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        uint64_t n = ns[i];
        double gen[99], gend[99], ar[99], raw[99];
        for (int r = 0; r < reps; r++) {
            nnfi_fault_id id = {12345, 0, 0, (uint32_t)i, (uint32_t)r};
            g.distinct = 1;
            double t0 = nnfi_test_now_s();
            nnfi_sampler_faults(&g, id, 0, n, f);
            gend[r] = (nnfi_test_now_s() - t0) / (double)n;
            g.distinct = 0;
            t0 = nnfi_test_now_s();
            nnfi_sampler_faults(&g, id, 0, n, f);
            gen[r] = (nnfi_test_now_s() - t0) / (double)n;

            t0 = nnfi_test_now_s();
            if (cpu->arm(inj, f, n) != NNFI_OK) return 1;
            cpu->disarm(inj);
            ar[r] = (nnfi_test_now_s() - t0) / (double)n;

            /* the floor: as many random elements (another trial's, so that neither
             * loop finds the other's cache lines warm), read-modify-write twice,
             * no bookkeeping */
            nnfi_fault_id other = {12345, 1, 0, (uint32_t)i, (uint32_t)r};
            nnfi_sampler_faults(&g, other, 0, n, f);
            t0 = nnfi_test_now_s();
            uint32_t *w = (uint32_t *)t;
            for (uint64_t k = 0; k < n; k++) w[f[k].element] ^= (uint32_t)f[k].mask;
            for (uint64_t k = n; k > 0; k--) w[f[k - 1].element] ^= (uint32_t)f[k - 1].mask;
            raw[r] = (nnfi_test_now_s() - t0) / (double)n;
        }
        double mg = nnfi_test_median(gen, reps), mgd = nnfi_test_median(gend, reps), mar = nnfi_test_median(ar, reps), mraw = nnfi_test_median(raw, reps);
        printf("%10llu %14.1f %16.1f %13.1f ns %11.1f ns %10.2f\n", (unsigned long long)n, 1e-6 / mg, 1e-6 / mgd,
               mar * 1e9, mraw * 1e9, mar / mraw);
        if (memcmp(t, copy, numel * sizeof *t) != 0) bad = 1;
    }
    printf("tensor restored bit-exactly after every trial: %s\n", bad ? "NO" : "yes");
    cpu->destroy(inj);
    free(t);
    free(copy);
    free(f);
    return bad;
}
