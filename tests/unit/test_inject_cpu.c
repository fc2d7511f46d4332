/* test_inject_cpu.c - the `cpu` injection backend
 * (src/plugins/inject_cpu/inject_cpu.c) behind the order guard
 * (src/base/inject_guard.c), as the registry hands it out: arm applies
 * parameter faults in list order (duplicates and mixed ops included) and
 * disarm restores every buffer bit-exactly; transient parameter faults are
 * swapped in and out by begin_call; on_site applies activation faults to every
 * row, to one sample, or to one time step; and the illegal calls (arm twice
 * and use while disarmed: the guard; bad site or element: the backend) are
 * rejected without touching memory. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h" /* nnfi_transient_scope */
#include "nnfi/inject.h"
#include "nnfi_test.h"

/* The model: parameters and buffers of every dtype, and per-sample sites. */
enum {
    S_W32, S_W16, S_WBF16, S_W64, S_Q8, S_U8, S_B32, /* PARAM/BUFFER */
    S_ACT,   /* ACTIVATION fp32, 16 per sample */
    S_STATE, /* STATE fp16, 8 per sample */
    N_SITES
};
#define N_PARAM_SITES 7
#define ACT_NUMEL 16
#define STATE_NUMEL 8

typedef struct fixture {
    nnfi_site sites[N_SITES];
    void *orig[N_SITES]; /* copies of the parameter buffers as created */
    const nnfi_inject_backend *be;
    nnfi_injector *inj;
} fixture;

static size_t site_bytes(const nnfi_site *s) { return (size_t)s->numel * (nnfi_dtype_bits(s->dtype) / 8); }

static void add_site(fixture *fx, int i, const char *name, nnfi_site_kind kind, nnfi_dtype dt, uint64_t numel,
                     uint64_t *seed)
{
    nnfi_site *s = &fx->sites[i];
    memset(s, 0, sizeof *s);
    strncpy(s->name, name, NNFI_SITE_NAME_MAX - 1);
    s->kind = kind;
    s->dtype = dt;
    s->ndim = 1;
    s->shape[0] = (int64_t)numel;
    s->numel = numel;
    s->device = -1;
    if (kind == NNFI_SITE_PARAM || kind == NNFI_SITE_BUFFER) {
        size_t n = site_bytes(s);
        unsigned char *p = malloc(n);
        assert_non_null(p);
        for (size_t b = 0; b < n; b++) p[b] = (unsigned char)nnfi_splitmix64(seed);
        s->data = p;
        fx->orig[i] = malloc(n);
        assert_non_null(fx->orig[i]);
        memcpy(fx->orig[i], p, n);
    }
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx) return -1;
    uint64_t seed = 2024;
    add_site(fx, S_W32, "fc1.weight", NNFI_SITE_PARAM, NNFI_DT_F32, 1000, &seed);
    add_site(fx, S_W16, "fc2.weight", NNFI_SITE_PARAM, NNFI_DT_F16, 333, &seed);
    add_site(fx, S_WBF16, "fc3.weight", NNFI_SITE_PARAM, NNFI_DT_BF16, 5, &seed);
    add_site(fx, S_W64, "fc4.weight", NNFI_SITE_PARAM, NNFI_DT_F64, 77, &seed);
    add_site(fx, S_Q8, "q.weight", NNFI_SITE_BUFFER, NNFI_DT_I8, 4096, &seed);
    add_site(fx, S_U8, "q.zero_point", NNFI_SITE_BUFFER, NNFI_DT_U8, 100, &seed);
    add_site(fx, S_B32, "fc1.index", NNFI_SITE_PARAM, NNFI_DT_I32, 64, &seed);
    add_site(fx, S_ACT, "fc1.out", NNFI_SITE_ACTIVATION, NNFI_DT_F32, ACT_NUMEL, &seed);
    add_site(fx, S_STATE, "lif1.mem", NNFI_SITE_STATE, NNFI_DT_F16, STATE_NUMEL, &seed);
    fx->be = nnfi_inject_guarded(nnfi_inject_cpu()); /* the order checks live in the guard */
    if (!fx->be || fx->be->create(fx->sites, N_SITES, &fx->inj) != NNFI_OK) return -1;
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    fx->be->destroy(fx->inj);
    for (int i = 0; i < N_SITES; i++) {
        free(fx->sites[i].data);
        free(fx->orig[i]);
    }
    free(fx);
    return 0;
}

/* Every parameter buffer equals its original copy. */
static void assert_params_pristine(const fixture *fx)
{
    for (int i = 0; i < N_PARAM_SITES; i++)
        assert_memory_equal(fx->sites[i].data, fx->orig[i], site_bytes(&fx->sites[i]));
}

static int params_differ(const fixture *fx)
{
    int n = 0;
    for (int i = 0; i < N_PARAM_SITES; i++) n += memcmp(fx->sites[i].data, fx->orig[i], site_bytes(&fx->sites[i])) != 0;
    return n;
}

static nnfi_fault make_fault(uint32_t site, uint64_t element, nnfi_op op, uint64_t mask, uint64_t value)
{
    nnfi_fault f;
    memset(&f, 0, sizeof f);
    f.site = site;
    f.element = element;
    f.op = (uint8_t)op;
    f.mask = mask;
    f.value = value;
    f.when = -1;
    f.t_first = 0;
    f.t_last = UINT32_MAX;
    return f;
}

/* n random permanent parameter faults, ~1 in 5 on an element already hit. */
static nnfi_fault *random_param_faults(const fixture *fx, size_t n, uint64_t *seed)
{
    nnfi_fault *f = malloc(n * sizeof *f);
    assert_non_null(f);
    for (size_t i = 0; i < n; i++) {
        uint32_t site;
        uint64_t element;
        if (i > 0 && nnfi_splitmix64(seed) % 5 == 0) {
            const nnfi_fault *prev = &f[nnfi_splitmix64(seed) % i];
            site = prev->site;
            element = prev->element;
        } else {
            site = (uint32_t)(nnfi_splitmix64(seed) % N_PARAM_SITES);
            element = nnfi_splitmix64(seed) % fx->sites[site].numel;
        }
        uint64_t width = nnfi_low_mask(nnfi_dtype_bits(fx->sites[site].dtype));
        uint64_t mask = nnfi_splitmix64(seed) & width;
        if (!mask) mask = 1;
        nnfi_op op = (nnfi_op)(nnfi_splitmix64(seed) % NNFI_OP_COUNT);
        f[i] = make_fault(site, element, op, mask, op >= NNFI_OP_RANDOM ? nnfi_splitmix64(seed) & width : 0);
    }
    return f;
}

/* The buffers a list of permanent parameter faults should produce, applied in
 * list order to copies of the originals. */
static void **expected_after(const fixture *fx, const nnfi_fault *f, size_t n)
{
    void **exp = calloc(N_PARAM_SITES, sizeof *exp);
    assert_non_null(exp);
    for (int i = 0; i < N_PARAM_SITES; i++) {
        exp[i] = malloc(site_bytes(&fx->sites[i]));
        assert_non_null(exp[i]);
        memcpy(exp[i], fx->orig[i], site_bytes(&fx->sites[i]));
    }
    for (size_t k = 0; k < n; k++) {
        if (f[k].site >= N_PARAM_SITES || f[k].transient) continue;
        nnfi_dtype dt = fx->sites[f[k].site].dtype;
        uint64_t w = nnfi_elem_load(exp[f[k].site], dt, f[k].element);
        nnfi_elem_store(exp[f[k].site], dt, f[k].element, nnfi_bits_apply(w, (nnfi_op)f[k].op, f[k].mask, f[k].value));
    }
    return exp;
}

static void free_expected(void **exp)
{
    for (int i = 0; i < N_PARAM_SITES; i++) free(exp[i]);
    free(exp);
}

static void assert_params_equal(const fixture *fx, void **exp)
{
    for (int i = 0; i < N_PARAM_SITES; i++)
        assert_memory_equal(fx->sites[i].data, exp[i], site_bytes(&fx->sites[i]));
}

static void test_backend_table(void **state)
{
    (void)state;
    const nnfi_inject_backend *be = nnfi_inject_cpu();
    assert_non_null(be);
    assert_ptr_equal(be, nnfi_inject_cpu());
    assert_int_equal(be->abi, NNFI_INJECT_ABI);
    assert_int_equal(be->size, sizeof(nnfi_inject_backend));
    assert_string_equal(be->name, "cpu");
    assert_non_null(be->create);
    assert_non_null(be->arm);
    assert_false(nnfi_inject_has_arm_generated(be));
    assert_true(nnfi_inject_has_applied(be));
    assert_non_null(be->begin_call);
    assert_non_null(be->on_site);
    assert_non_null(be->disarm);
    assert_non_null(be->destroy);
}

/* 10000 permanent faults: applied in list order, restored exactly; the
 * injector is reused across trials of different sizes. */
static void test_arm_disarm_restores(void **state)
{
    fixture *fx = *state;
    uint64_t seed = 1;
    const size_t sizes[] = {10000, 3, 10000, 20000, 1};
    for (size_t t = 0; t < sizeof sizes / sizeof sizes[0]; t++) {
        size_t n = sizes[t];
        nnfi_fault *f = random_param_faults(fx, n, &seed);
        void **exp = expected_after(fx, f, n);
        assert_int_equal(fx->be->arm(fx->inj, f, n), NNFI_OK);
        if (n >= 10000) assert_true(params_differ(fx) == N_PARAM_SITES);
        assert_params_equal(fx, exp);
        if (fx->be->applied) assert_int_equal(fx->be->applied(fx->inj), n);
        assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
        assert_params_pristine(fx);
        /* disarm again: a no-op */
        assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
        assert_params_pristine(fx);
        free_expected(exp);
        free(f);
    }
    /* an empty trial */
    assert_int_equal(fx->be->arm(fx->inj, NULL, 0), NNFI_OK);
    assert_int_equal(fx->be->begin_call(fx->inj, 0, 0, 4), NNFI_OK);
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_params_pristine(fx);
}

/* The same, with transient parameter faults and activation faults in the list
 * (the bucketing path of arm), and several forward calls in between. */
static void test_mixed_list_restores(void **state)
{
    fixture *fx = *state;
    uint64_t seed = 2;
    size_t n = 10000;
    nnfi_fault *f = random_param_faults(fx, n, &seed);
    for (size_t i = 0; i < n; i += 3) {
        if (i % 2) {
            f[i].transient = 1;
            f[i].scope = NNFI_SCOPE_CALL;
            f[i].when = (int64_t)(nnfi_splitmix64(&seed) % 4);
        } else {
            f[i].site = S_ACT;
            f[i].element = nnfi_splitmix64(&seed) % ACT_NUMEL;
            f[i].mask &= 0xffffffffu;
            if (!f[i].mask) f[i].mask = 1;
            f[i].value &= 0xffffffffu;
        }
    }
    void **exp = expected_after(fx, f, n); /* the permanent parameter faults only */
    assert_int_equal(fx->be->arm(fx->inj, f, n), NNFI_OK);
    assert_params_equal(fx, exp);
    float act[4 * ACT_NUMEL];
    const uint64_t calls[] = {0, 1, 2, 3, 4, 5, 2, 2, 0};
    for (size_t ci = 0; ci < sizeof calls / sizeof calls[0]; ci++) {
        uint64_t c = calls[ci];
        assert_int_equal(fx->be->begin_call(fx->inj, c, c * 4, 4), NNFI_OK);
        memset(act, 0, sizeof act);
        assert_int_equal(fx->be->on_site(fx->inj, S_ACT, act, 0), NNFI_OK);
        /* the permanent faults, then call c's transient ones in list order */
        nnfi_fault *tc = malloc(n * sizeof *tc);
        assert_non_null(tc);
        size_t m = 0;
        for (size_t i = 0; i < n; i++)
            if (f[i].site < N_PARAM_SITES && !f[i].transient) tc[m++] = f[i];
        size_t n_perm = m;
        for (size_t i = 0; i < n; i++)
            if (f[i].site < N_PARAM_SITES && f[i].transient && f[i].when == (int64_t)c) {
                tc[m] = f[i];
                tc[m++].transient = 0;
            }
        void **expc = expected_after(fx, tc, m);
        assert_params_equal(fx, expc);
        if (c < 4) assert_true(m > n_perm + 100);
        free_expected(expc);
        free(tc);
    }
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_params_pristine(fx);
    free_expected(exp);
    free(f);
}

/* Faults drawn by the sampler over the parameter sites. */
static void test_sampler_faults_restore(void **state)
{
    fixture *fx = *state;
    uint32_t ids[N_PARAM_SITES];
    uint64_t prefix[N_PARAM_SITES + 1];
    uint8_t dts[N_PARAM_SITES];
    nnfi_group_plan g;
    memset(&g, 0, sizeof g);
    prefix[0] = 0;
    for (uint32_t i = 0; i < N_PARAM_SITES; i++) {
        ids[i] = i;
        dts[i] = (uint8_t)fx->sites[i].dtype;
        prefix[i + 1] = prefix[i] + fx->sites[i].numel;
        g.candidates[dts[i]] = nnfi_preset_mask(fx->sites[i].dtype, NNFI_BITS_ALL);
    }
    g.n_sites = N_PARAM_SITES;
    g.site_ids = ids;
    g.prefix = prefix;
    g.site_dtype = dts;
    g.total = prefix[N_PARAM_SITES];
    g.t_to = UINT32_MAX;
    g.duration = 1;
    g.element = -1;
    nnfi_fault_id id = {99, 0, 0, 0, 0};
    enum { N = 10000 };
    nnfi_fault *f = malloc(N * sizeof *f);
    assert_non_null(f);
    for (int op = 0; op < NNFI_OP_COUNT; op++) {
        g.op = (uint8_t)op;
        g.bit_count = (uint32_t)op + 1;
        g.set_value = 3.5;
        id.trial = (uint32_t)op;
        nnfi_sampler_faults(&g, id, 0, N, f);
        void **exp = expected_after(fx, f, N);
        assert_int_equal(fx->be->arm(fx->inj, f, N), NNFI_OK);
        assert_true(params_differ(fx) > 0);
        assert_params_equal(fx, exp);
        assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
        assert_params_pristine(fx);
        free_expected(exp);
    }
    free(f);
}

static uint64_t load(const fixture *fx, int site, uint64_t e)
{
    return nnfi_elem_load(fx->sites[site].data, fx->sites[site].dtype, e);
}

static uint64_t orig_word(const fixture *fx, int site, uint64_t e)
{
    return nnfi_elem_load(fx->orig[site], fx->sites[site].dtype, e);
}

static void test_transient_params(void **state)
{
    fixture *fx = *state;
    nnfi_fault f[6];
    f[0] = make_fault(S_W32, 5, NNFI_OP_FLIP, 0x8, 0); /* transient, call 2 */
    f[0].transient = 1;
    f[0].when = 2;
    f[1] = make_fault(S_W32, 5, NNFI_OP_STUCK1, 0x1, 0); /* transient, call 3, same element */
    f[1].transient = 1;
    f[1].when = 3;
    f[2] = make_fault(S_W16, 0, NNFI_OP_FLIP, 0x8000, 0); /* transient, call 2 */
    f[2].transient = 1;
    f[2].when = 2;
    f[3] = make_fault(S_W32, 5, NNFI_OP_FLIP, 0x80000000u, 0); /* permanent, same element */
    f[4] = make_fault(S_W32, 7, NNFI_OP_SET, 0xffffffffu, 0x3f800000u); /* permanent */
    f[5] = make_fault(S_W64, 1, NNFI_OP_FLIP, 0x1, 0); /* transient, call 9 */
    f[5].transient = 1;
    f[5].when = 9;
    uint64_t o5 = orig_word(fx, S_W32, 5), o7 = orig_word(fx, S_W32, 7);
    uint64_t h0 = orig_word(fx, S_W16, 0), d1 = orig_word(fx, S_W64, 1);
    uint64_t p5 = o5 ^ 0x80000000u;

    assert_int_equal(fx->be->arm(fx->inj, f, 6), NNFI_OK);
    /* armed: only the permanent faults */
    assert_true(load(fx, S_W32, 5) == p5);
    assert_true(load(fx, S_W32, 7) == 0x3f800000u);
    assert_true(load(fx, S_W16, 0) == h0);
    assert_true(load(fx, S_W64, 1) == d1);
    if (fx->be->applied) assert_int_equal(fx->be->applied(fx->inj), 2);

    assert_int_equal(fx->be->begin_call(fx->inj, 0, 0, 8), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == p5);
    assert_true(load(fx, S_W16, 0) == h0);
    assert_int_equal(fx->be->begin_call(fx->inj, 1, 8, 8), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == p5);

    assert_int_equal(fx->be->begin_call(fx->inj, 2, 16, 8), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == (p5 ^ 0x8));
    assert_true(load(fx, S_W16, 0) == (h0 ^ 0x8000));
    assert_true(load(fx, S_W64, 1) == d1);
    if (fx->be->applied) assert_int_equal(fx->be->applied(fx->inj), 4);
    /* the same call again must not apply its faults twice (a flip would undo) */
    assert_int_equal(fx->be->begin_call(fx->inj, 2, 16, 8), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == (p5 ^ 0x8));
    assert_true(load(fx, S_W16, 0) == (h0 ^ 0x8000));

    /* call 3: call 2's faults restored, the other fault on element 5 in */
    assert_int_equal(fx->be->begin_call(fx->inj, 3, 24, 8), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == (p5 | 0x1));
    assert_true(load(fx, S_W16, 0) == h0);
    assert_true(load(fx, S_W32, 7) == 0x3f800000u);

    assert_int_equal(fx->be->begin_call(fx->inj, 4, 32, 8), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == p5);
    assert_true(load(fx, S_W16, 0) == h0);
    assert_true(load(fx, S_W32, 7) == 0x3f800000u);

    /* calls can come round again (a second eval pass) */
    assert_int_equal(fx->be->begin_call(fx->inj, 2, 16, 8), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == (p5 ^ 0x8));
    assert_true(load(fx, S_W16, 0) == (h0 ^ 0x8000));

    /* disarm while a transient fault is in: everything back */
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_true(load(fx, S_W32, 5) == o5);
    assert_true(load(fx, S_W32, 7) == o7);
    assert_params_pristine(fx);

    /* a trial whose only fault is transient on a call never begun */
    assert_int_equal(fx->be->arm(fx->inj, &f[5], 1), NNFI_OK);
    assert_params_pristine(fx);
    assert_int_equal(fx->be->begin_call(fx->inj, 9, 0, 1), NNFI_OK);
    assert_true(load(fx, S_W64, 1) == (d1 ^ 1));
    assert_int_equal(fx->be->begin_call(fx->inj, 10, 0, 1), NNFI_OK);
    assert_true(load(fx, S_W64, 1) == d1);
    assert_int_equal(fx->be->begin_call(fx->inj, 9, 0, 1), NNFI_OK);
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_params_pristine(fx);
}

/* Reference for one activation fault on a [rows x numel] tensor. */
static void apply_rows(void *data, nnfi_dtype dt, uint64_t numel, const nnfi_fault *f, uint64_t r0, uint64_t r1)
{
    for (uint64_t r = r0; r < r1; r++) {
        uint64_t e = r * numel + f->element;
        nnfi_elem_store(data, dt, e, nnfi_bits_apply(nnfi_elem_load(data, dt, e), (nnfi_op)f->op, f->mask, f->value));
    }
}

static void fill_floats(float *p, size_t n, uint64_t *seed)
{
    for (size_t i = 0; i < n; i++) p[i] = (float)(nnfi_splitmix64(seed) % 1000) / 7.0f;
}

static void test_on_site(void **state)
{
    fixture *fx = *state;
    enum { ROWS = 4 };
    nnfi_fault f[6];
    f[0] = make_fault(S_ACT, 3, NNFI_OP_FLIP, 0x80000000u, 0); /* permanent: every row, every call */
    f[1] = make_fault(S_ACT, 5, NNFI_OP_STUCK1, 0xff, 0);      /* transient, sample 102 */
    f[1].transient = 1;
    f[1].scope = NNFI_SCOPE_SAMPLE;
    f[1].when = 102;
    f[2] = make_fault(S_ACT, 7, NNFI_OP_FLIP, 0x1, 0);          /* permanent, time step 3 only */
    f[2].t_first = 3;
    f[2].t_last = 3;
    f[3] = make_fault(S_ACT, 9, NNFI_OP_SET, 0xffffffffu, 0x40490fdbu); /* transient, call 1 */
    f[3].transient = 1;
    f[3].scope = NNFI_SCOPE_CALL;
    f[3].when = 1;
    f[4] = make_fault(S_STATE, 2, NNFI_OP_STUCK0, 0x7c00, 0);   /* state, steps 1..2 */
    f[4].t_first = 1;
    f[4].t_last = 2;
    f[5] = make_fault(S_ACT, 3, NNFI_OP_FLIP, 0x1, 0);          /* second fault on element 3 */
    assert_int_equal(fx->be->arm(fx->inj, f, 6), NNFI_OK);
    assert_params_pristine(fx); /* no parameter fault */

    uint64_t seed = 5;
    float data[ROWS * ACT_NUMEL], want[ROWS * ACT_NUMEL];
    uint64_t applied0 = fx->be->applied ? fx->be->applied(fx->inj) : 0;

    /* call 0, samples 100..103: f0, f5 on all rows, f1 on row 2; t = 0 */
    assert_int_equal(fx->be->begin_call(fx->inj, 0, 100, ROWS), NNFI_OK);
    fill_floats(data, ROWS * ACT_NUMEL, &seed);
    memcpy(want, data, sizeof data);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[0], 0, ROWS);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[1], 2, 3);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[5], 0, ROWS);
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, data, 0), NNFI_OK);
    assert_memory_equal(data, want, sizeof data);
    assert_true((nnfi_elem_load(data, NNFI_DT_F32, 2 * ACT_NUMEL + 5) & 0xff) == 0xff);
    if (fx->be->applied) assert_int_equal(fx->be->applied(fx->inj) - applied0, 3);

    /* same call, time step 3: f2 joins */
    fill_floats(data, ROWS * ACT_NUMEL, &seed);
    memcpy(want, data, sizeof data);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[0], 0, ROWS);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[1], 2, 3);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[2], 0, ROWS);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[5], 0, ROWS);
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, data, 3), NNFI_OK);
    assert_memory_equal(data, want, sizeof data);

    /* time steps 2 and 4: f2 stays out */
    for (uint32_t t = 2; t <= 4; t += 2) {
        fill_floats(data, ROWS * ACT_NUMEL, &seed);
        memcpy(want, data, sizeof data);
        apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[0], 0, ROWS);
        apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[1], 2, 3);
        apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[5], 0, ROWS);
        assert_int_equal(fx->be->on_site(fx->inj, S_ACT, data, t), NNFI_OK);
        assert_memory_equal(data, want, sizeof data);
    }

    /* call 1, samples 104..107: f1 out of range, f3 in (every row) */
    assert_int_equal(fx->be->begin_call(fx->inj, 1, 104, ROWS), NNFI_OK);
    fill_floats(data, ROWS * ACT_NUMEL, &seed);
    memcpy(want, data, sizeof data);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[0], 0, ROWS);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[3], 0, ROWS);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[5], 0, ROWS);
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, data, 0), NNFI_OK);
    assert_memory_equal(data, want, sizeof data);
    for (int r = 0; r < ROWS; r++) assert_true(nnfi_elem_load(data, NNFI_DT_F32, (uint64_t)r * ACT_NUMEL + 9) == 0x40490fdbu);

    /* call 2 with one row, sample 102 in the last row of a partial batch */
    assert_int_equal(fx->be->begin_call(fx->inj, 2, 99, ROWS), NNFI_OK);
    fill_floats(data, ROWS * ACT_NUMEL, &seed);
    memcpy(want, data, sizeof data);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[0], 0, ROWS);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[1], 3, 4);
    apply_rows(want, NNFI_DT_F32, ACT_NUMEL, &f[5], 0, ROWS);
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, data, 0), NNFI_OK);
    assert_memory_equal(data, want, sizeof data);

    /* the state site: f4 only at steps 1 and 2 */
    uint16_t st[ROWS * STATE_NUMEL], stw[ROWS * STATE_NUMEL];
    for (uint32_t t = 0; t < 4; t++) {
        for (int i = 0; i < ROWS * STATE_NUMEL; i++) st[i] = (uint16_t)nnfi_splitmix64(&seed);
        memcpy(stw, st, sizeof st);
        if (t == 1 || t == 2) apply_rows(stw, NNFI_DT_F16, STATE_NUMEL, &f[4], 0, ROWS);
        assert_int_equal(fx->be->on_site(fx->inj, S_STATE, st, t), NNFI_OK);
        assert_memory_equal(st, stw, sizeof st);
        if (t == 1)
            for (int r = 0; r < ROWS; r++) assert_true((st[r * STATE_NUMEL + 2] & 0x7c00) == 0);
    }

    /* a site with no faults (a parameter site here) is left alone */
    unsigned char junk[64], junkw[64];
    for (int i = 0; i < 64; i++) junk[i] = junkw[i] = (unsigned char)nnfi_splitmix64(&seed);
    assert_int_equal(fx->be->on_site(fx->inj, S_W32, junk, 0), NNFI_OK);
    assert_memory_equal(junk, junkw, sizeof junk);

    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_params_pristine(fx);
}

static void test_errors(void **state)
{
    fixture *fx = *state;
    float act[ACT_NUMEL];
    memset(act, 0, sizeof act);
    /* use while disarmed */
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, act, 0), NNFI_E_INVALID);
    assert_true(strlen(nnfi_error_message()) > 0);
    assert_int_equal(fx->be->begin_call(fx->inj, 0, 0, 1), NNFI_E_INVALID);
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);

    /* a bad fault anywhere in the list: rejected, nothing applied, still disarmed */
    nnfi_fault f[3];
    f[0] = make_fault(S_W32, 0, NNFI_OP_FLIP, 0xffffffffu, 0);
    f[1] = make_fault(S_W16, 1, NNFI_OP_FLIP, 0xffff, 0);
    f[2] = make_fault(N_SITES, 0, NNFI_OP_FLIP, 1, 0);
    nnfi_error_clear();
    assert_int_equal(fx->be->arm(fx->inj, f, 3), NNFI_E_INVALID);
    assert_true(strlen(nnfi_error_message()) > 0);
    assert_params_pristine(fx);
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, act, 0), NNFI_E_INVALID);
    f[2] = make_fault(S_W16, 333, NNFI_OP_FLIP, 1, 0); /* numel is 333 */
    assert_int_equal(fx->be->arm(fx->inj, f, 3), NNFI_E_INVALID);
    assert_params_pristine(fx);
    f[2] = make_fault(S_Q8, UINT64_MAX, NNFI_OP_FLIP, 1, 0);
    assert_int_equal(fx->be->arm(fx->inj, f, 3), NNFI_E_INVALID);
    assert_params_pristine(fx);
    f[2] = make_fault(S_ACT, ACT_NUMEL, NNFI_OP_FLIP, 1, 0); /* per-sample numel */
    assert_int_equal(fx->be->arm(fx->inj, f, 3), NNFI_E_INVALID);
    f[2] = make_fault(S_STATE, STATE_NUMEL, NNFI_OP_FLIP, 1, 0);
    assert_int_equal(fx->be->arm(fx->inj, f, 3), NNFI_E_INVALID);
    assert_params_pristine(fx);
    assert_int_equal(fx->be->begin_call(fx->inj, 0, 0, 1), NNFI_E_INVALID);

    /* a good list arms; arming again is an error and changes nothing */
    f[2] = make_fault(S_ACT, ACT_NUMEL - 1, NNFI_OP_FLIP, 1, 0);
    assert_int_equal(fx->be->arm(fx->inj, f, 3), NNFI_OK);
    assert_true(load(fx, S_W32, 0) == (orig_word(fx, S_W32, 0) ^ 0xffffffffu));
    nnfi_fault g = make_fault(S_W32, 0, NNFI_OP_FLIP, 0xffffffffu, 0);
    assert_int_equal(fx->be->arm(fx->inj, &g, 1), NNFI_E_INVALID);
    assert_true(load(fx, S_W32, 0) == (orig_word(fx, S_W32, 0) ^ 0xffffffffu));
    /* the first arm is still in force: its activation fault applies */
    assert_int_equal(fx->be->begin_call(fx->inj, 0, 0, 1), NNFI_OK);
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, act, 0), NNFI_OK);
    assert_true(nnfi_elem_load(act, NNFI_DT_F32, ACT_NUMEL - 1) == 1);
    /* on_site for a site the model does not have */
    assert_int_equal(fx->be->on_site(fx->inj, N_SITES, act, 0), NNFI_E_INVALID);
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_params_pristine(fx);
    /* and after disarm, use is rejected again */
    assert_int_equal(fx->be->on_site(fx->inj, S_ACT, act, 0), NNFI_E_INVALID);
    assert_int_equal(fx->be->begin_call(fx->inj, 1, 0, 1), NNFI_E_INVALID);
}

/* The guarded table: one per backend, same name and optional slots, and
 * guarding it again changes nothing; its injector wraps the backend's own. */
static void test_guard_table(void **state)
{
    fixture *fx = *state;
    const nnfi_inject_backend *cpu = nnfi_inject_cpu(), *g = nnfi_inject_guarded(cpu);
    assert_non_null(g);
    assert_ptr_not_equal(g, cpu);
    assert_ptr_equal(g, nnfi_inject_guarded(cpu));
    assert_ptr_equal(g, nnfi_inject_guarded(g));
    assert_null(nnfi_inject_guarded(NULL));
    assert_int_equal(g->abi, NNFI_INJECT_ABI);
    assert_int_equal(g->size, sizeof(nnfi_inject_backend));
    assert_string_equal(g->name, "cpu");
    assert_int_equal(nnfi_inject_has_arm_generated(g), nnfi_inject_has_arm_generated(cpu));
    assert_int_equal(nnfi_inject_has_applied(g), nnfi_inject_has_applied(cpu));
    assert_ptr_equal(nnfi_inject_unguarded(cpu, fx->inj), fx->inj);
    nnfi_injector *raw = nnfi_inject_unguarded(g, fx->inj);
    assert_non_null(raw);
    assert_ptr_not_equal(raw, fx->inj);
    /* the raw injector is the one the guarded calls reach */
    nnfi_fault f = make_fault(S_W32, 3, NNFI_OP_FLIP, 1, 0);
    assert_int_equal(g->arm(fx->inj, &f, 1), NNFI_OK);
    assert_int_equal(cpu->applied(raw), 1);
    assert_int_equal(g->applied(fx->inj), 1);
    assert_int_equal(g->disarm(fx->inj), NNFI_OK);
    assert_int_equal(g->disarm(fx->inj), NNFI_OK); /* any time */
    assert_params_pristine(fx);
}

/* A parameter site without host memory cannot take a fault. */
static void test_param_without_data(void **state)
{
    (void)state;
    nnfi_site s;
    memset(&s, 0, sizeof s);
    strcpy(s.name, "ghost.weight");
    s.kind = NNFI_SITE_PARAM;
    s.dtype = NNFI_DT_F32;
    s.ndim = 1;
    s.shape[0] = 10;
    s.numel = 10;
    s.data = NULL;
    s.device = -1;
    const nnfi_inject_backend *be = nnfi_inject_cpu();
    nnfi_injector *inj = NULL;
    assert_int_equal(be->create(&s, 1, &inj), NNFI_OK);
    assert_non_null(inj);
    nnfi_fault f = make_fault(0, 0, NNFI_OP_FLIP, 1, 0);
    assert_int_equal(be->arm(inj, &f, 1), NNFI_E_INVALID);
    assert_int_equal(be->arm(inj, NULL, 0), NNFI_OK);
    assert_int_equal(be->disarm(inj), NNFI_OK);
    be->destroy(inj);
    be->destroy(NULL);
}

/* destroy while armed restores the parameters first. */
static void test_destroy_armed(void **state)
{
    fixture *fx = *state;
    const nnfi_inject_backend *be = nnfi_inject_cpu();
    nnfi_injector *inj = NULL;
    assert_int_equal(be->create(fx->sites, N_SITES, &inj), NNFI_OK);
    uint64_t seed = 77;
    nnfi_fault *f = random_param_faults(fx, 500, &seed);
    f[0].transient = 1;
    f[0].when = 0;
    assert_int_equal(be->arm(inj, f, 500), NNFI_OK);
    assert_int_equal(be->begin_call(inj, 0, 0, 1), NNFI_OK);
    assert_true(params_differ(fx) > 0);
    be->destroy(inj);
    assert_params_pristine(fx);
    free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_table),
        cmocka_unit_test_setup_teardown(test_arm_disarm_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mixed_list_restores, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sampler_faults_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transient_params, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_site, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_guard_table, setup, teardown),
        cmocka_unit_test(test_param_without_data),
        cmocka_unit_test_setup_teardown(test_destroy_armed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
