/* test_segment_apply.c - the CUDA backend's kernel bodies
 * (kernels/segment_apply.cuh), run here on the CPU one "thread" at a time over
 * the same stably sorted keys the device sorts, leave memory bit-identical to
 * the `cpu` backend: permanent parameter faults with many faults on one
 * element and every op mixed, restore to the original bytes, and activation
 * faults (permanent, transient by call and by sample, time-step windows) on
 * every row of a call. Runs everywhere; tests/gpu runs the real kernels. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h"
#include "nnfi/inject.h"
#include "segment_apply.cuh"

static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct keyed {
    uint64_t key;
    uint32_t idx;
} keyed;

static int cmp_keyed(const void *a, const void *b) /* stable: ties by list position */
{
    const keyed *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static void sort_keys(keyed *k, size_t n, uint64_t *keys, uint32_t *idx)
{
    qsort(k, n, sizeof *k, cmp_keyed);
    for (size_t i = 0; i < n; i++) keys[i] = k[i].key, idx[i] = k[i].idx;
}

static nnfi_fault random_fault(uint64_t *seed, uint32_t site, nnfi_dtype dt, uint64_t elements)
{
    nnfi_fault f;
    memset(&f, 0, sizeof f);
    f.site = site;
    f.element = rng_next(seed) % elements;
    unsigned bits = nnfi_dtype_bits(dt);
    f.mask = rng_next(seed) & nnfi_low_mask(bits);
    if (!f.mask) f.mask = 1;
    f.op = (uint8_t)(rng_next(seed) % NNFI_OP_COUNT);
    f.value = rng_next(seed) & nnfi_low_mask(bits);
    f.when = -1;
    f.t_first = 0;
    f.t_last = UINT32_MAX;
    return f;
}

static void test_params_match_cpu(void **state)
{
    (void)state;
    enum { NS = 7, NUMEL = 97, NF = 3000 };
    uint64_t seed = 11;
    nnfi_site sites[NS];
    void *mem_cpu[NS], *mem_gpu[NS], *orig[NS];
    uint64_t off[NS + 1] = {0};
    for (int i = 0; i < NS; i++) {
        memset(&sites[i], 0, sizeof sites[i]);
        sites[i].kind = i % 2 ? NNFI_SITE_BUFFER : NNFI_SITE_PARAM;
        sites[i].dtype = (nnfi_dtype)i;
        sites[i].numel = NUMEL;
        sites[i].device = -1;
        size_t bytes = NUMEL * nnfi_dtype_bits((nnfi_dtype)i) / 8;
        mem_cpu[i] = malloc(bytes), mem_gpu[i] = malloc(bytes), orig[i] = malloc(bytes);
        for (size_t b = 0; b < bytes; b++) ((unsigned char *)orig[i])[b] = (unsigned char)rng_next(&seed);
        memcpy(mem_cpu[i], orig[i], bytes);
        memcpy(mem_gpu[i], orig[i], bytes);
        sites[i].data = mem_cpu[i];
        off[i + 1] = off[i] + NUMEL;
    }
    nnfi_fault *f = malloc(NF * sizeof *f);
    for (int i = 0; i < NF; i++) { /* ~4 faults per element: collisions everywhere */
        uint32_t s = (uint32_t)(rng_next(&seed) % NS);
        f[i] = random_fault(&seed, s, sites[s].dtype, NUMEL);
    }
    const nnfi_inject_backend *cpu = nnfi_inject_cpu();
    nnfi_injector *inj = NULL;
    assert_int_equal(cpu->create(sites, NS, &inj), NNFI_OK);
    assert_int_equal(cpu->arm(inj, f, NF), NNFI_OK);

    keyed *k = malloc(NF * sizeof *k);
    uint64_t *keys = malloc(NF * sizeof *keys), *saved = malloc(NF * sizeof *saved);
    uint32_t *idx = malloc(NF * sizeof *idx);
    for (uint32_t i = 0; i < NF; i++) k[i].key = off[f[i].site] + f[i].element, k[i].idx = i;
    sort_keys(k, NF, keys, idx);
    uint8_t dts[NS];
    for (int i = 0; i < NS; i++) dts[i] = (uint8_t)sites[i].dtype;
    nnfi_seg_sites ss = {mem_gpu, dts};
    for (uint64_t t = 0; t < NF + 5; t++) nnfi_seg_apply_param(&ss, f, keys, idx, NF, t, saved); /* every thread */
    for (int i = 0; i < NS; i++) {
        size_t bytes = NUMEL * nnfi_dtype_bits((nnfi_dtype)i) / 8;
        assert_memory_equal(mem_gpu[i], mem_cpu[i], bytes); /* faulty: segmented == sequential */
        assert_memory_not_equal(mem_gpu[i], orig[i], bytes);
    }
    for (uint64_t t = NF + 5; t-- > 0;) nnfi_seg_restore_param(&ss, f, keys, idx, NF, t, saved);
    assert_int_equal(cpu->disarm(inj), NNFI_OK);
    for (int i = 0; i < NS; i++) {
        size_t bytes = NUMEL * nnfi_dtype_bits((nnfi_dtype)i) / 8;
        assert_memory_equal(mem_gpu[i], orig[i], bytes);
        assert_memory_equal(mem_cpu[i], orig[i], bytes);
        free(mem_cpu[i]), free(mem_gpu[i]), free(orig[i]);
    }
    cpu->destroy(inj);
    free(f), free(k), free(keys), free(saved), free(idx);
}

static void test_sites_match_cpu(void **state)
{
    (void)state;
    enum { NS = 3, ROWS = 9, NF = 800, CALLS = 3 };
    const uint64_t numel[NS] = {13, 7, 5};
    const nnfi_dtype dt[NS] = {NNFI_DT_F32, NNFI_DT_F16, NNFI_DT_I8};
    uint64_t seed = 5;
    nnfi_site sites[NS];
    for (int i = 0; i < NS; i++) {
        memset(&sites[i], 0, sizeof sites[i]);
        sites[i].kind = i == 1 ? NNFI_SITE_STATE : NNFI_SITE_ACTIVATION;
        sites[i].dtype = dt[i];
        sites[i].numel = numel[i];
        sites[i].device = -1;
    }
    nnfi_fault *f = malloc(NF * sizeof *f);
    for (int i = 0; i < NF; i++) {
        uint32_t s = (uint32_t)(rng_next(&seed) % NS);
        f[i] = random_fault(&seed, s, dt[s], numel[s]);
        switch (rng_next(&seed) % 4) {
        case 0: break; /* permanent, every step */
        case 1: f[i].transient = 1, f[i].scope = NNFI_SCOPE_CALL, f[i].when = (int64_t)(rng_next(&seed) % CALLS); break;
        case 2: f[i].transient = 1, f[i].scope = NNFI_SCOPE_SAMPLE, f[i].when = (int64_t)(rng_next(&seed) % (CALLS * ROWS)); break;
        default: f[i].t_first = (uint32_t)(rng_next(&seed) % 3), f[i].t_last = f[i].t_first + 1; break;
        }
    }
    /* buckets by site (list order), then sorted by (site << 40 | element), stable */
    keyed *k = malloc(NF * sizeof *k);
    uint64_t *keys = malloc(NF * sizeof *keys);
    uint32_t *idx = malloc(NF * sizeof *idx);
    size_t start[NS + 1] = {0};
    for (uint32_t i = 0; i < NF; i++) k[i].key = ((uint64_t)f[i].site << 40) | f[i].element, k[i].idx = i, start[f[i].site + 1]++;
    for (int s = 0; s < NS; s++) start[s + 1] += start[s];
    sort_keys(k, NF, keys, idx);

    const nnfi_inject_backend *cpu = nnfi_inject_cpu();
    nnfi_injector *inj = NULL;
    assert_int_equal(cpu->create(sites, NS, &inj), NNFI_OK);
    assert_int_equal(cpu->arm(inj, f, NF), NNFI_OK);
    for (uint64_t call = 0; call < CALLS; call++) {
        assert_int_equal(cpu->begin_call(inj, call, call * ROWS, ROWS), NNFI_OK);
        for (uint32_t t = 0; t < 4; t++)
            for (uint32_t s = 0; s < NS; s++) {
                size_t bytes = ROWS * numel[s] * nnfi_dtype_bits(dt[s]) / 8;
                unsigned char *a = malloc(bytes), *b = malloc(bytes), *o = malloc(bytes);
                for (size_t i = 0; i < bytes; i++) o[i] = (unsigned char)rng_next(&seed);
                memcpy(a, o, bytes);
                memcpy(b, o, bytes);
                assert_int_equal(cpu->on_site(inj, s, a, t), NNFI_OK);
                nnfi_seg_call c = {call, call * ROWS, ROWS, numel[s], t, (uint8_t)dt[s]};
                for (uint64_t i = start[s]; i < start[s + 1]; i++)
                    for (uint64_t r = 0; r < ROWS; r++) nnfi_seg_apply_site(b, f, keys, idx, start[s], start[s + 1], i, r, &c);
                assert_memory_equal(a, b, bytes);
                free(a), free(b), free(o);
            }
    }
    assert_int_equal(cpu->disarm(inj), NNFI_OK);
    cpu->destroy(inj);
    free(f), free(k), free(keys), free(idx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params_match_cpu),
        cmocka_unit_test(test_sites_match_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
