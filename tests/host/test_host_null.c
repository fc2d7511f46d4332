/* test_host_null.c - the null model host driven through the CPU injector, end
 * to end: deterministic weights, sites reported in call order, a weight fault
 * changes the logits and restoring gives bit-identical logits, activation
 * faults reach the logits through the site hook (permanent, per sample). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/inject.h"
#include "nnfi/model_host.h"

#define ROWS 64

typedef struct fixture {
    const nnfi_model_host *h;
    nnfi_model *m;
    float *in, *golden, *out;
    int32_t *labels;
    uint32_t classes;
    const nnfi_inject_backend *be;
    nnfi_injector *inj;
    uint32_t order[64];
    int n_order;
} fixture;

static nnfi_null_model_cfg shape = {32, 48, 2, 10};

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    nnfi_model_cfg cfg = {0};
    cfg.name = "mlp";
    cfg.null_model = &shape;
    fx->h = nnfi_host_null();
    assert_int_equal(fx->h->open(&cfg, ".", 77, &fx->m), NNFI_OK);
    fx->classes = fx->h->n_classes(fx->m);
    assert_int_equal(fx->h->builtin_eval(fx->m, ROWS, &fx->in, &fx->labels), NNFI_OK);
    fx->golden = malloc(ROWS * fx->classes * sizeof(float));
    fx->out = malloc(ROWS * fx->classes * sizeof(float));
    assert_int_equal(fx->h->forward(fx->m, fx->in, ROWS, fx->golden), NNFI_OK);
    fx->be = nnfi_inject_cpu();
    assert_int_equal(fx->be->create(fx->h->sites(fx->m), fx->h->n_sites(fx->m), &fx->inj), NNFI_OK);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    fx->be->destroy(fx->inj);
    fx->h->close(fx->m);
    free(fx->in);
    free(fx->labels);
    free(fx->golden);
    free(fx->out);
    free(fx);
    return 0;
}

static int site_index(fixture *fx, const char *name)
{
    const nnfi_site *s = fx->h->sites(fx->m);
    for (size_t i = 0; i < fx->h->n_sites(fx->m); i++)
        if (strcmp(s[i].name, name) == 0) return (int)i;
    fail_msg("no site %s", name);
    return -1;
}

static nnfi_status hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    fixture *fx = user;
    (void)rows;
    if (fx->n_order < 64) fx->order[fx->n_order++] = site;
    return fx->be->on_site(fx->inj, site, data, t);
}

static void test_deterministic_and_accurate(void **state)
{
    fixture *fx = *state;
    nnfi_model_cfg cfg = {0};
    cfg.null_model = &shape;
    nnfi_model *m2 = NULL, *m3 = NULL;
    assert_int_equal(fx->h->open(&cfg, ".", 77, &m2), NNFI_OK);
    assert_int_equal(fx->h->open(&cfg, ".", 78, &m3), NNFI_OK);
    float *o2 = malloc(ROWS * fx->classes * sizeof(float));
    assert_int_equal(fx->h->forward(m2, fx->in, ROWS, o2), NNFI_OK);
    assert_memory_equal(o2, fx->golden, ROWS * fx->classes * sizeof(float));
    assert_int_equal(fx->h->forward(m3, fx->in, ROWS, o2), NNFI_OK);
    assert_memory_not_equal(o2, fx->golden, ROWS * fx->classes * sizeof(float));
    free(o2);
    fx->h->close(m2);
    fx->h->close(m3);
    int right = 0;
    for (int r = 0; r < ROWS; r++) {
        int best = 0;
        for (uint32_t c = 1; c < fx->classes; c++)
            if (fx->golden[r * fx->classes + c] > fx->golden[r * fx->classes + best]) best = (int)c;
        right += best == fx->labels[r];
    }
    assert_true(right >= ROWS * 7 / 10 && right < ROWS); /* about 90% by construction */
}

static void test_sites_in_call_order(void **state)
{
    fixture *fx = *state;
    const nnfi_site *s = fx->h->sites(fx->m);
    assert_int_equal(fx->h->n_sites(fx->m), 1 + 3 * 3);
    assert_string_equal(s[0].name, "input");
    assert_int_equal(s[0].kind, NNFI_SITE_INPUT);
    assert_int_equal(s[0].numel, 32);
    int w = site_index(fx, "fc2.weight");
    assert_int_equal(s[w].kind, NNFI_SITE_PARAM);
    assert_int_equal(s[w].numel, 48 * 48);
    assert_int_equal(s[w].shape[0], 48);
    assert_non_null(s[w].data);
    fx->n_order = 0;
    assert_int_equal(fx->be->arm(fx->inj, NULL, 0), NNFI_OK);
    assert_int_equal(fx->be->begin_call(fx->inj, 0, 0, ROWS), NNFI_OK);
    assert_int_equal(fx->h->set_hook(fx->m, hook, fx), NNFI_OK);
    assert_int_equal(fx->h->forward(fx->m, fx->in, ROWS, fx->out), NNFI_OK);
    assert_int_equal(fx->h->set_hook(fx->m, NULL, NULL), NNFI_OK);
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_int_equal(fx->n_order, 4);
    assert_int_equal(fx->order[0], 0);
    assert_int_equal(fx->order[1], site_index(fx, "fc1.out"));
    assert_int_equal(fx->order[2], site_index(fx, "fc2.out"));
    assert_int_equal(fx->order[3], site_index(fx, "fc3.out"));
    /* a hook with no faults changes nothing */
    assert_memory_equal(fx->out, fx->golden, ROWS * fx->classes * sizeof(float));
}

static void test_weight_fault_then_exact_restore(void **state)
{
    fixture *fx = *state;
    nnfi_fault f = {0};
    f.site = (uint32_t)site_index(fx, "fc2.weight");
    f.element = 5;
    f.mask = 1u << 30; /* top exponent bit of fp32 */
    f.op = NNFI_OP_FLIP;
    f.when = -1;
    f.t_last = UINT32_MAX;
    /* make sure element 5 feeds a live unit: flip several elements of the row */
    nnfi_fault fs[48];
    for (int i = 0; i < 48; i++) {
        fs[i] = f;
        fs[i].element = (uint64_t)(5 * 48 + i);
    }
    assert_int_equal(fx->be->arm(fx->inj, fs, 48), NNFI_OK);
    assert_int_equal(fx->h->forward(fx->m, fx->in, ROWS, fx->out), NNFI_OK);
    assert_memory_not_equal(fx->out, fx->golden, ROWS * fx->classes * sizeof(float));
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_int_equal(fx->h->forward(fx->m, fx->in, ROWS, fx->out), NNFI_OK);
    assert_memory_equal(fx->out, fx->golden, ROWS * fx->classes * sizeof(float));
}

static void test_activation_faults(void **state)
{
    fixture *fx = *state;
    nnfi_fault f[2];
    memset(f, 0, sizeof f);
    /* permanent: fc1.out element 3 := NaN in every sample -> every row has NaN logits */
    f[0].site = (uint32_t)site_index(fx, "fc1.out");
    f[0].element = 3;
    f[0].mask = 0xffffffffu;
    f[0].value = 0x7fc00000u;
    f[0].op = NNFI_OP_SET;
    f[0].when = -1;
    f[0].t_last = UINT32_MAX;
    assert_int_equal(fx->be->arm(fx->inj, f, 1), NNFI_OK);
    assert_int_equal(fx->be->begin_call(fx->inj, 0, 0, ROWS), NNFI_OK);
    assert_int_equal(fx->h->set_hook(fx->m, hook, fx), NNFI_OK);
    assert_int_equal(fx->h->forward(fx->m, fx->in, ROWS, fx->out), NNFI_OK);
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    for (int r = 0; r < ROWS; r++) {
        int nan = 0;
        for (uint32_t c = 0; c < fx->classes; c++) nan |= isnan(fx->out[r * fx->classes + c]);
        assert_true(nan);
    }
    /* transient, one sample: the input of eval sample 1000+2 (call starting at 1000) */
    f[1].site = 0;
    f[1].element = 7;
    f[1].mask = 0x7f800000u;
    f[1].op = NNFI_OP_STUCK1;
    f[1].transient = 1;
    f[1].scope = 1;
    f[1].when = 1002;
    f[1].t_last = UINT32_MAX;
    assert_int_equal(fx->be->arm(fx->inj, &f[1], 1), NNFI_OK);
    assert_int_equal(fx->be->begin_call(fx->inj, 3, 1000, ROWS), NNFI_OK);
    assert_int_equal(fx->h->forward(fx->m, fx->in, ROWS, fx->out), NNFI_OK);
    assert_int_equal(fx->be->disarm(fx->inj), NNFI_OK);
    assert_int_equal(fx->h->set_hook(fx->m, NULL, NULL), NNFI_OK);
    for (int r = 0; r < ROWS; r++) {
        int same = memcmp(&fx->out[r * fx->classes], &fx->golden[r * fx->classes], fx->classes * sizeof(float)) == 0;
        assert_int_equal(same, r != 2);
    }
    /* the caller's input was never touched */
    assert_int_equal(fx->h->forward(fx->m, fx->in, ROWS, fx->out), NNFI_OK);
    assert_memory_equal(fx->out, fx->golden, ROWS * fx->classes * sizeof(float));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_and_accurate),
        cmocka_unit_test(test_sites_in_call_order),
        cmocka_unit_test(test_weight_fault_then_exact_restore),
        cmocka_unit_test(test_activation_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
