/* test_segment_apply.c - the CUDA backend's kernel bodies
 * (kernels/segment_apply.cuh), run here on the CPU one "thread" at a time over
 * the same stably sorted keys the device sorts (nnfi_seg_key), leave memory
 * bit-identical to the `cpu` backend, and count the same applied faults:
 * permanent and transient parameter faults with many faults on one element
 * and every op mixed, restore to the original bytes, activation faults
 * (permanent, transient by call and by sample, time-step windows) on every
 * row of a call, in one list with the parameter faults; out-of-range faults
 * get the invalid key. Runs everywhere; tests/gpu runs the real kernels. */
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
#include "nnfi_test.h"

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
    f.element = nnfi_splitmix64(seed) % elements;
    unsigned bits = nnfi_dtype_bits(dt);
    f.mask = nnfi_splitmix64(seed) & nnfi_low_mask(bits);
    if (!f.mask) f.mask = 1;
    f.op = (uint8_t)(nnfi_splitmix64(seed) % NNFI_OP_COUNT);
    f.value = nnfi_splitmix64(seed) & nnfi_low_mask(bits);
    f.when = -1;
    f.t_first = 0;
    f.t_last = UINT32_MAX;
    return f;
}

/* A model: NP parameter sites of every dtype, then NA activation sites. */
enum { NP = 7, PNUMEL = 97, NA = 4, ROWS = 9, CALLS = 3, NS = NP + NA };
static const uint64_t act_numel[NA] = {13, 7, 5, 4096}; /* the last: sparse folds */
static const nnfi_dtype act_dt[NA] = {NNFI_DT_F32, NNFI_DT_F16, NNFI_DT_I8, NNFI_DT_BF16};

/* which activation faults a trial draws (the cpu backend sorts elements by
 * what hits them: only permanent faults are folded, only one-sample faults
 * kept by sample, mixes in list order) */
enum { MIX_ALL, MIX_PERMANENT, MIX_SAMPLE };
static int g_mix;

typedef struct model {
    nnfi_site sites[NS];
    void *cpu_mem[NP], *dev_mem[NP], *orig[NP];
    /* the kernels' site table, in host memory */
    void *base[NS];
    uint8_t dtype[NS], is_param[NS];
    uint64_t numel[NS], param_off[NS];
    nnfi_seg_sites seg;
} model;

static size_t pbytes(int i) { return PNUMEL * nnfi_dtype_bits((nnfi_dtype)i) / 8; }

static void model_init(model *m, uint64_t *seed)
{
    memset(m, 0, sizeof *m);
    uint64_t off = 0;
    for (int i = 0; i < NS; i++) {
        nnfi_site *s = &m->sites[i];
        s->device = -1;
        if (i < NP) {
            s->kind = i % 2 ? NNFI_SITE_BUFFER : NNFI_SITE_PARAM;
            s->dtype = (nnfi_dtype)i;
            s->numel = PNUMEL;
            m->cpu_mem[i] = malloc(pbytes(i)), m->dev_mem[i] = malloc(pbytes(i)), m->orig[i] = malloc(pbytes(i));
            for (size_t b = 0; b < pbytes(i); b++) ((unsigned char *)m->orig[i])[b] = (unsigned char)nnfi_splitmix64(seed);
            memcpy(m->cpu_mem[i], m->orig[i], pbytes(i));
            memcpy(m->dev_mem[i], m->orig[i], pbytes(i));
            s->data = m->cpu_mem[i];
            m->base[i] = m->dev_mem[i];
        } else {
            s->kind = i == NP + 1 ? NNFI_SITE_STATE : NNFI_SITE_ACTIVATION;
            s->dtype = act_dt[i - NP];
            s->numel = act_numel[i - NP];
        }
        m->dtype[i] = (uint8_t)s->dtype;
        m->is_param[i] = i < NP;
        m->numel[i] = s->numel;
        m->param_off[i] = off;
        if (i < NP) off += s->numel;
    }
    m->seg = (nnfi_seg_sites){m->base, m->dtype, m->is_param, m->numel, m->param_off, NS};
}

static void model_free(model *m)
{
    for (int i = 0; i < NP; i++) free(m->cpu_mem[i]), free(m->dev_mem[i]), free(m->orig[i]);
}

static void assert_params(const model *m, int faulty)
{
    for (int i = 0; i < NP; i++) {
        assert_memory_equal(m->dev_mem[i], m->cpu_mem[i], pbytes(i));
        if (!faulty) assert_memory_equal(m->dev_mem[i], m->orig[i], pbytes(i));
    }
}

/* The device's arm: keys, stable sort; then what the kernels do, thread by thread. */
static void sort_faults(const model *m, const nnfi_fault *f, size_t n, uint64_t *keys, uint32_t *idx)
{
    keyed *k = malloc(n * sizeof *k);
    for (uint32_t i = 0; i < n; i++) k[i].key = nnfi_seg_key(&m->seg, &f[i]), k[i].idx = i;
    sort_keys(k, n, keys, idx);
    free(k);
}

static uint64_t apply_class(model *m, const nnfi_fault *f, const uint64_t *keys, const uint32_t *idx, size_t n,
                            uint32_t cls, uint64_t call, uint64_t *saved)
{
    uint64_t applied = 0;
    for (uint64_t t = 0; t < n + 3; t++) applied += nnfi_seg_apply_param(&m->seg, f, keys, idx, n, t, cls, call, saved);
    return applied;
}

static void restore_class(model *m, const nnfi_fault *f, const uint64_t *keys, const uint32_t *idx, size_t n,
                          uint32_t cls, uint64_t call, const uint64_t *saved)
{
    for (uint64_t t = n + 3; t-- > 0;) nnfi_seg_restore_param(&m->seg, f, keys, idx, n, t, cls, call, saved);
}

static void test_trial_matches_cpu(void **state)
{
    (void)state;
    enum { NF = 4000 };
    uint64_t seed = 11;
    model m;
    model_init(&m, &seed);
    nnfi_fault *f = malloc(NF * sizeof *f);
    for (int i = 0; i < NF; i++) {
        uint32_t s = (uint32_t)(nnfi_splitmix64(&seed) % NS);
        f[i] = random_fault(&seed, s, m.sites[s].dtype, m.sites[s].numel);
        uint64_t kind = nnfi_splitmix64(&seed) % 4;
        if (s >= NP && g_mix == MIX_PERMANENT) kind = 0;
        if (s >= NP && g_mix == MIX_SAMPLE) kind = 2;
        switch (kind) {
        case 0: break; /* permanent, every step */
        case 1: f[i].transient = 1, f[i].scope = NNFI_SCOPE_CALL, f[i].when = (int64_t)(nnfi_splitmix64(&seed) % CALLS); break;
        case 2:
            if (s >= NP) f[i].transient = 1, f[i].scope = NNFI_SCOPE_SAMPLE, f[i].when = (int64_t)(nnfi_splitmix64(&seed) % (CALLS * ROWS));
            break;
        default: f[i].t_first = (uint32_t)(nnfi_splitmix64(&seed) % 3), f[i].t_last = f[i].t_first + 1; break;
        }
    }
    uint64_t *keys = malloc(NF * sizeof *keys), *saved = malloc(NF * sizeof *saved), *saved_t = malloc(NF * sizeof *saved_t);
    uint32_t *idx = malloc(NF * sizeof *idx);
    sort_faults(&m, f, NF, keys, idx);
    for (size_t i = 0; i < NF; i++) assert_true(nnfi_seg_class(keys[i]) < 3);

    const nnfi_inject_backend *cpu = nnfi_inject_cpu();
    nnfi_injector *inj = NULL;
    assert_int_equal(cpu->create(m.sites, NS, &inj), NNFI_OK);
    assert_int_equal(cpu->arm(inj, f, NF), NNFI_OK);
    uint64_t applied = apply_class(&m, f, keys, idx, NF, 0, 0, saved);
    assert_params(&m, 1);
    int64_t cur = -1;
    for (uint64_t call = 0; call < CALLS; call++) {
        assert_int_equal(cpu->begin_call(inj, call, call * ROWS, ROWS), NNFI_OK);
        if (cur >= 0) restore_class(&m, f, keys, idx, NF, 1, (uint64_t)cur, saved_t);
        applied += apply_class(&m, f, keys, idx, NF, 1, call, saved_t);
        cur = (int64_t)call;
        assert_params(&m, 1);
        for (uint32_t t = 0; t < 4; t++)
            for (uint32_t s = NP; s < NS; s++) {
                size_t bytes = ROWS * m.sites[s].numel * nnfi_dtype_bits(m.sites[s].dtype) / 8;
                unsigned char *a = malloc(bytes), *b = malloc(bytes);
                for (size_t i = 0; i < bytes; i++) a[i] = (unsigned char)nnfi_splitmix64(&seed);
                memcpy(b, a, bytes);
                assert_int_equal(cpu->on_site(inj, s, a, t), NNFI_OK);
                nnfi_seg_call c = {call, call * ROWS, ROWS, m.sites[s].numel, s, t, (uint8_t)m.sites[s].dtype};
                for (uint64_t i = 0; i < NF; i++) {
                    applied += nnfi_seg_site_count(f, keys, idx, NF, i, &c);
                    for (uint64_t r = 0; r < ROWS; r++) nnfi_seg_apply_site(b, f, keys, idx, NF, i, r, &c);
                }
                assert_memory_equal(a, b, bytes);
                free(a), free(b);
            }
    }
    assert_true(applied == cpu->applied(inj));
    restore_class(&m, f, keys, idx, NF, 1, (uint64_t)cur, saved_t);
    restore_class(&m, f, keys, idx, NF, 0, 0, saved);
    assert_int_equal(cpu->disarm(inj), NNFI_OK);
    assert_params(&m, 0);
    cpu->destroy(inj);
    model_free(&m);
    free(f), free(keys), free(saved), free(saved_t), free(idx);
}

static void test_trial_permanent_activations(void **state)
{
    g_mix = MIX_PERMANENT;
    test_trial_matches_cpu(state);
    g_mix = MIX_ALL;
}

static void test_trial_sample_activations(void **state)
{
    g_mix = MIX_SAMPLE;
    test_trial_matches_cpu(state);
    g_mix = MIX_ALL;
}

static void test_invalid_keys(void **state)
{
    (void)state;
    uint64_t seed = 3;
    model m;
    model_init(&m, &seed);
    nnfi_fault f = random_fault(&seed, 0, m.sites[0].dtype, PNUMEL);
    assert_int_equal(nnfi_seg_class(nnfi_seg_key(&m.seg, &f)), 0);
    f.element = PNUMEL; /* one past the end */
    assert_true(nnfi_seg_key(&m.seg, &f) == NNFI_SEG_INVALID);
    f.element = 0;
    f.site = NS;
    assert_true(nnfi_seg_key(&m.seg, &f) == NNFI_SEG_INVALID);
    f.site = 2;
    m.base[2] = NULL; /* a parameter in host memory: the cuda backend cannot reach it */
    assert_true(nnfi_seg_key(&m.seg, &f) == NNFI_SEG_INVALID);
    f.site = 0;
    f.transient = 1, f.when = -1;
    assert_true(nnfi_seg_key(&m.seg, &f) == NNFI_SEG_INVALID);
    f.when = 5;
    assert_int_equal(nnfi_seg_class(nnfi_seg_key(&m.seg, &f)), 1);
    assert_true(nnfi_seg_mid(nnfi_seg_key(&m.seg, &f)) == 5);
    f.site = NP + 1, f.element = 6;
    assert_int_equal(nnfi_seg_class(nnfi_seg_key(&m.seg, &f)), 2);
    assert_true(nnfi_seg_mid(nnfi_seg_key(&m.seg, &f)) == NP + 1);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trial_matches_cpu),
        cmocka_unit_test(test_trial_permanent_activations),
        cmocka_unit_test(test_trial_sample_activations),
        cmocka_unit_test(test_invalid_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
