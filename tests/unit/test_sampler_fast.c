/* test_sampler_fast.c - the block sampler (nnfi_sampler_faults, src/base/plan/
 * sampler.c) against the definition of a fault, nnfi_sampler_fault_at
 * (sampler_core.h, the scalar code the CUDA generator also runs), bit for bit:
 *   - nnfi_philox4x32_10_batch on every code path this CPU has (plain C,
 *     AVX2, AVX-512F) against nnfi_philox4x32_10, lengths not a multiple of
 *     the block;
 *   - hundreds of random groups covering every knob of a plan: 1..300 sites
 *     of every dtype and skewed sizes (empty sites, one-element sites, sites
 *     of 2^40 elements), candidate masks (presets, random, empty, all 64
 *     bits), bit counts 0..6 and "all", every op, SET values, transient per
 *     call and per sample (counts 0, small, >= 2^32), time windows and
 *     durations, explicit elements, distinct groups, index maps; random
 *     seeds and ids, k0 near the 2^32 wrap of the counter word; in all a few
 *     million faults;
 *   - thread splits: 1, 2, 3, 5 and 8 threads over 300,000 faults give the
 *     same faults, and NNFI_DRAW_THREADS is read (set before the first draw).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h" /* nnfi_transient_scope */
#include "nnfi/sampler.h"
#include "nnfi/sampler_core.h"
#include "nnfi_test.h"

static uint64_t rng = 20261126;

static uint64_t rnd(uint64_t n) { return n ? nnfi_splitmix64(&rng) % n : nnfi_splitmix64(&rng); }

static void test_philox_batch(void **state)
{
    (void)state;
    enum { N = 1000 + 77 };
    static uint32_t in[4][N], w[4][N];
    int paths = 0;
    for (int isa = 0; isa <= 2; isa++) {
        for (int rep = 0; rep < 20; rep++) {
            nnfi_philox_key key = {{(uint32_t)rnd(0), (uint32_t)rnd(0)}};
            size_t n = rep == 0 ? N : (size_t)rnd(N + 1);
            for (size_t i = 0; i < n; i++)
                for (int j = 0; j < 4; j++) in[j][i] = w[j][i] = rep % 2 ? (uint32_t)rnd(0) : (uint32_t)(i * j);
            int got = nnfi_philox4x32_10_batch_isa(isa, w[0], w[1], w[2], w[3], n, key);
            if (got < 0) break; /* this CPU lacks the path */
            assert_int_equal(got, isa);
            for (size_t i = 0; i < n; i++) {
                nnfi_philox_ctr c = {{in[0][i], in[1][i], in[2][i], in[3][i]}};
                nnfi_philox_ctr r = nnfi_philox4x32_10(c, key);
                for (int j = 0; j < 4; j++) assert_int_equal(w[j][i], r.v[j]);
            }
            if (rep == 0) paths++;
        }
    }
    assert_true(paths >= 1);
    /* the dispatching entry point */
    nnfi_philox_key key = {{1, 2}};
    for (size_t i = 0; i < 300; i++) in[0][i] = w[0][i] = (uint32_t)i, in[1][i] = w[1][i] = 7, in[2][i] = w[2][i] = 0,
                                      in[3][i] = w[3][i] = 0xFFFFFFFFu;
    nnfi_philox4x32_10_batch(w[0], w[1], w[2], w[3], 300, key);
    for (size_t i = 0; i < 300; i++) {
        nnfi_philox_ctr r = nnfi_philox4x32_10((nnfi_philox_ctr){{in[0][i], in[1][i], in[2][i], in[3][i]}}, key);
        assert_memory_equal(&r.v[0], &w[0][i], 4);
        assert_memory_equal(&r.v[3], &w[3][i], 4);
    }
}

/* A random group over its own arrays. */
typedef struct rgroup {
    nnfi_group_plan g;
    uint32_t *site_ids;
    uint64_t *prefix;
    uint8_t *site_dtype;
    uint64_t *index_map;
} rgroup;

static void random_group(rgroup *r)
{
    memset(r, 0, sizeof *r);
    uint32_t n_sites = (uint32_t)(rnd(4) == 0 ? 1 : 1 + rnd(rnd(2) ? 300 : 12));
    r->site_ids = malloc(n_sites * sizeof *r->site_ids);
    r->prefix = malloc((n_sites + 1) * sizeof *r->prefix);
    r->site_dtype = malloc(n_sites);
    int small = rnd(3) == 0; /* small totals: index maps and distinct groups */
    r->prefix[0] = 0;
    for (uint32_t i = 0; i < n_sites; i++) {
        r->site_ids[i] = (uint32_t)rnd(100000);
        r->site_dtype[i] = (uint8_t)rnd(NNFI_DT_COUNT);
        uint64_t numel;
        switch (rnd(8)) {
        case 0: numel = 0; break;
        case 1: numel = 1; break;
        case 2: numel = small ? rnd(3000) : (uint64_t)1 << (20 + rnd(21)); break; /* up to 2^40 */
        default: numel = small ? 1 + rnd(500) : 1 + rnd((uint64_t)1 << (1 + rnd(24))); break;
        }
        r->prefix[i + 1] = r->prefix[i] + numel;
    }
    if (r->prefix[n_sites] == 0) r->prefix[n_sites] = 1 + rnd(9); /* a non-empty group */
    nnfi_group_plan *g = &r->g;
    g->n_sites = n_sites;
    g->site_ids = r->site_ids;
    g->prefix = r->prefix;
    g->site_dtype = r->site_dtype;
    g->total = r->prefix[n_sites];
    for (int dt = 0; dt < NNFI_DT_COUNT; dt++) {
        uint64_t full = nnfi_low_mask(nnfi_dtype_bits((nnfi_dtype)dt));
        switch (rnd(6)) {
        case 0: g->candidates[dt] = 0; break;
        case 1: g->candidates[dt] = full; break;
        case 2: g->candidates[dt] = rnd(0) & full; break;
        case 3: g->candidates[dt] = (uint64_t)1 << rnd(nnfi_dtype_bits((nnfi_dtype)dt)); break;
        default: g->candidates[dt] = nnfi_preset_mask((nnfi_dtype)dt, (nnfi_bit_preset)rnd(NNFI_BITS_PRESET_COUNT)); break;
        }
    }
    if (rnd(5) == 0) g->candidates[NNFI_DT_F64] = ~(uint64_t)0;
    static const uint32_t counts[] = {0, 1, 1, 1, 2, 2, 3, 4, 5, 6, 64, 1000};
    g->bit_count = counts[rnd(sizeof counts / sizeof counts[0])];
    g->op = (uint8_t)rnd(NNFI_OP_COUNT);
    static const double values[] = {0.0, 1.0, -2.5, 1e30, -1e-8, 255.5, 3.14159};
    g->set_value = values[rnd(7)];
    g->transient = rnd(2) ? 1 : 0;
    g->scope = (uint8_t)(rnd(2) ? NNFI_SCOPE_SAMPLE : NNFI_SCOPE_CALL);
    static const uint64_t ranges[] = {0, 1, 7, 10000, 60000, (uint64_t)1 << 32, ((uint64_t)1 << 32) + 5, 123456789012ull};
    g->calls = ranges[rnd(8)];
    g->samples = ranges[rnd(8)];
    g->duration = 1;
    g->t_from = 0;
    g->t_to = UINT32_MAX;
    if (rnd(2)) {
        g->t_from = (uint32_t)rnd(20);
        g->t_to = g->t_from + (uint32_t)rnd(30);
        g->duration = 1 + (uint32_t)rnd(g->t_to - g->t_from + 1);
    }
    g->element = -1;
    g->distinct = 0;
    switch (rnd(8)) {
    case 0: g->element = (int64_t)rnd(g->total); break;
    case 1:
        if (g->total <= 2000000) g->distinct = 1;
        break;
    case 2:
        if (g->total <= 2000000) {
            r->index_map = malloc(g->total * sizeof *r->index_map);
            for (uint64_t x = 0; x < g->total; x++) r->index_map[x] = rnd(0) >> rnd(64);
            g->index_map = r->index_map;
        }
        break;
    default: break;
    }
}

static void free_group(rgroup *r)
{
    free(r->site_ids), free(r->prefix), free(r->site_dtype), free(r->index_map);
}

static uint64_t compared;

/* Faults k0 .. k0+n-1 of g drawn by the block sampler on `threads` threads
 * against nnfi_sampler_fault_at, every byte (the struct has no padding). */
static void check_range(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t k0, uint64_t n, unsigned threads,
                        nnfi_fault *ref, nnfi_fault *got, int have_ref)
{
    if (!have_ref) {
        memset(ref, 0xA5, n * sizeof *ref);
        for (uint64_t i = 0; i < n; i++) nnfi_sampler_fault_at(g, id, k0 + i, &ref[i]);
    }
    memset(got, 0x5A, n * sizeof *got);
    nnfi_sampler_faults_threads(g, id, k0, n, got, threads);
    for (uint64_t i = 0; i < n; i++) {
        if (memcmp(&ref[i], &got[i], sizeof *got)) {
            print_error("fault %llu (k0 %llu, n %llu, threads %u, sites %u, total %llu, op %u, bits %u, "
                        "transient %u, distinct %u, element %lld, map %d): element %llu/%llu mask %llx/%llx "
                        "value %llx/%llx site %u/%u when %lld/%lld t %u/%u-%u/%u\n",
                        (unsigned long long)i, (unsigned long long)k0, (unsigned long long)n, threads, g->n_sites,
                        (unsigned long long)g->total, g->op, g->bit_count, g->transient, g->distinct,
                        (long long)g->element, g->index_map != NULL, (unsigned long long)ref[i].element,
                        (unsigned long long)got[i].element, (unsigned long long)ref[i].mask,
                        (unsigned long long)got[i].mask, (unsigned long long)ref[i].value,
                        (unsigned long long)got[i].value, ref[i].site, got[i].site, (long long)ref[i].when,
                        (long long)got[i].when, ref[i].t_first, got[i].t_first, ref[i].t_last, got[i].t_last);
            fail();
        }
    }
    compared += n;
}

static void test_random_groups(void **state)
{
    (void)state;
    enum { MAX_N = 40000 };
    nnfi_fault *ref = malloc(MAX_N * sizeof *ref), *got = malloc(MAX_N * sizeof *got);
    assert_non_null(ref);
    assert_non_null(got);
    compared = 0;
    for (int rep = 0; rep < 600; rep++) {
        rgroup r;
        random_group(&r);
        nnfi_fault_id id = {rnd(0), (uint32_t)rnd(4096), (uint32_t)rnd(16), (uint32_t)rnd(65536), (uint32_t)rnd(0)};
        uint64_t n = rnd(4) == 0 ? rnd(300) : rnd(MAX_N);
        uint64_t k0;
        if (r.g.distinct) {
            if (n > r.g.total) n = r.g.total;
            k0 = rnd(r.g.total - n + 1);
        } else {
            switch (rnd(4)) {
            case 0: k0 = 0; break;
            case 1: k0 = ((uint64_t)1 << 32) - rnd(2 * n + 1); break; /* the counter word wraps */
            case 2: k0 = rnd(0); break;
            default: k0 = rnd(1000000); break;
            }
        }
        check_range(&r.g, id, k0, n, 1, ref, got, 0);
        /* the first faults alone, and one fault in the middle, must agree too */
        if (n > 3) {
            check_range(&r.g, id, k0 + n / 2, 1, 1, ref + n / 2, got, 1);
            check_range(&r.g, id, k0, 3, 1, ref, got, 1);
        }
        free_group(&r);
    }
    print_message("compared %llu faults\n", (unsigned long long)compared);
    assert_true(compared > 5000000);
    free(ref), free(got);
}

/* The common campaign shapes, many faults: one random bit of one exponent, a
 * few bits, op random over many sites, and transients in a window. */
static void test_common_shapes(void **state)
{
    (void)state;
    enum { N = 1000000 };
    nnfi_fault *ref = malloc(N * sizeof *ref), *got = malloc(N * sizeof *got);
    assert_non_null(ref);
    assert_non_null(got);
    for (int shape = 0; shape < 4; shape++) {
        rgroup r;
        random_group(&r);
        nnfi_group_plan *g = &r.g;
        g->element = -1, g->distinct = 0, g->index_map = NULL;
        for (int dt = 0; dt < NNFI_DT_COUNT; dt++)
            g->candidates[dt] = nnfi_preset_mask((nnfi_dtype)dt, shape == 0 ? NNFI_BITS_EXPONENT : NNFI_BITS_ALL);
        g->bit_count = shape == 0 ? 1 : (uint32_t)shape;
        g->op = shape == 1 ? NNFI_OP_RANDOM : shape == 2 ? NNFI_OP_SET : NNFI_OP_FLIP;
        g->transient = shape == 3;
        nnfi_fault_id id = {0x123456789ABCDEFull + (uint64_t)shape, 5, (uint32_t)shape, 17, 3};
        check_range(g, id, 0, N, 1, ref, got, 0);
        free_group(&r);
    }
    free(ref), free(got);
}

static void test_thread_splits(void **state)
{
    (void)state;
    /* read once per process: set before any draw in this test program (the
     * tests before this one call nnfi_sampler_faults_threads with a count) */
    setenv("NNFI_DRAW_THREADS", "3", 1);
    assert_int_equal(nnfi_sampler_draw_threads(), 3);
    enum { N = 300000 };
    nnfi_fault *ref = malloc(N * sizeof *ref), *got = malloc(N * sizeof *got);
    assert_non_null(ref);
    assert_non_null(got);
    for (int rep = 0; rep < 6; rep++) {
        rgroup r;
        random_group(&r);
        if (rep < 4) r.g.distinct = 0; /* the block path; then two of any kind */
        nnfi_fault_id id = {rnd(0), 9, 2, 33, (uint32_t)rep};
        uint64_t n = r.g.distinct && r.g.total < N ? r.g.total : N;
        uint64_t k0 = r.g.distinct ? 0 : rep == 1 ? ((uint64_t)1 << 32) - 150000 : rnd(1u << 20);
        check_range(&r.g, id, k0, n, 1, ref, got, 0);
        static const unsigned threads[] = {2, 3, 5, 8, 0};
        for (int t = 0; t < 5; t++) check_range(&r.g, id, k0, n, threads[t], ref, got, 1);
        memset(got, 0, n * sizeof *got);
        nnfi_sampler_faults(&r.g, id, k0, n, got); /* NNFI_DRAW_THREADS=3 */
        assert_memory_equal(ref, got, n * sizeof *got);
        free_group(&r);
    }
    free(ref), free(got);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_thread_splits), /* first: it sets NNFI_DRAW_THREADS */
        cmocka_unit_test(test_philox_batch),
        cmocka_unit_test(test_random_groups),
        cmocka_unit_test(test_common_shapes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
