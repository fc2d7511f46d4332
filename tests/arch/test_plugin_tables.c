/* test_plugin_tables.c - plug-in tables are checked once and the same way:
 * nnfi_plugin_check refuses a wrong ABI, a short table and an empty required
 * slot with a message naming the plug-in and the slot; NNFI_HAS_SLOT sees an
 * optional slot only when the table's size covers it and it is set; the
 * registry hands out only tables that pass; the comm wrapper refuses a bad
 * table before calling any of it. Also the one trial pass: the null host's
 * trial through nnfi_trial_pass restores the golden logits bit for bit and a
 * weight fault changes them. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "nnfi/comm.h"
#include "nnfi/plugin.h"
#include "nnfi/registry.h"
#include "nnfi/trial_pass.h"

static nnfi_status dummy_open(const nnfi_model_cfg *c, const char *d, uint64_t s, nnfi_model **o)
{
    (void)c, (void)d, (void)s, (void)o;
    return NNFI_OK;
}

static void test_check_refuses_bad_headers(void **state)
{
    (void)state;
    const void *slots[2] = {(const void *)dummy_open, NULL};
    const char *names[2] = {"open", "forward"};
    assert_int_equal(nnfi_plugin_check("model host", "x", 2, 64, 1, 32, slots, names, 1), NNFI_E_UNSUPPORTED);
    assert_non_null(strstr(nnfi_error_message(), "ABI 2"));
    assert_int_equal(nnfi_plugin_check("model host", "x", 1, 16, 1, 32, slots, names, 1), NNFI_E_UNSUPPORTED);
    assert_non_null(strstr(nnfi_error_message(), "16 bytes"));
    assert_int_equal(nnfi_plugin_check("model host", "x", 1, 64, 1, 32, slots, names, 2), NNFI_E_UNSUPPORTED);
    assert_non_null(strstr(nnfi_error_message(), "'forward'"));
    assert_non_null(strstr(nnfi_error_message(), "hint:"));
    assert_int_equal(nnfi_plugin_check("model host", "x", 1, 64, 1, 32, slots, names, 1), NNFI_OK);
}

static void test_optional_slot_needs_size_and_pointer(void **state)
{
    (void)state;
    nnfi_model_host h;
    memset(&h, 0, sizeof h);
    h.abi = NNFI_MODEL_HOST_ABI;
    h.size = sizeof h;
    assert_false(NNFI_HAS_SLOT(nnfi_model_host, &h, facts)); /* NULL */
    h.facts = (const char *const *(*)(const nnfi_model *))(void (*)(void))dummy_open;
    assert_true(NNFI_HAS_SLOT(nnfi_model_host, &h, facts));
    h.size = (uint32_t)offsetof(nnfi_model_host, facts); /* built before the slot existed */
    assert_false(NNFI_HAS_SLOT(nnfi_model_host, &h, facts));
}

static void test_registry_hands_out_checked_tables(void **state)
{
    (void)state;
    const nnfi_model_host *h = NULL;
    assert_int_equal(nnfi_host_lookup(NNFI_HOST_NULL, &h), NNFI_OK);
    assert_non_null(h);
    assert_string_equal(h->name, "null");
    assert_int_equal(nnfi_host_lookup((nnfi_host_kind)99, &h), NNFI_E_INVALID);
    assert_null(h);
    nnfi_site s;
    memset(&s, 0, sizeof s);
    s.device = -1;
    const nnfi_inject_backend *b = NULL;
    assert_int_equal(nnfi_inject_for_sites(&s, 1, &b), NNFI_OK);
    assert_string_equal(b->name, "cpu");
    const nnfi_comm_backend *c = nnfi_registry_comm();
    assert_non_null(c);
    assert_int_equal(c->abi, NNFI_COMM_ABI);
    char text[512];
    nnfi_registry_describe(text, sizeof text);
    assert_non_null(strstr(text, "model hosts: null"));
}

static void test_comm_refuses_bad_table(void **state)
{
    (void)state;
    nnfi_comm_backend bad = *nnfi_registry_comm();
    bad.poll_report = NULL;
    nnfi_comm *c = (nnfi_comm *)&bad; /* must stay untouched */
    assert_int_equal(nnfi_comm_init(&bad, NULL, NULL, &c), NNFI_E_UNSUPPORTED);
    assert_null(c);
    assert_non_null(strstr(nnfi_error_message(), "'poll_report'"));
    bad = *nnfi_registry_comm();
    bad.abi = NNFI_COMM_ABI + 1;
    assert_int_equal(nnfi_comm_init(&bad, NULL, NULL, &c), NNFI_E_UNSUPPORTED);
}

/* The null host's MLP through the one trial pass. */
static void test_trial_pass_restores_and_faults(void **state)
{
    (void)state;
    enum { ROWS = 48, BATCH = 16 };
    nnfi_null_model_cfg shape = {16, 24, 2, 5};
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "mlp";
    cfg.null_model = &shape;
    const nnfi_model_host *h = NULL;
    assert_int_equal(nnfi_host_lookup(NNFI_HOST_NULL, &h), NNFI_OK);
    nnfi_model *m = NULL;
    assert_int_equal(h->open(&cfg, ".", 5, &m), NNFI_OK);
    float *in = NULL;
    int32_t *labels = NULL;
    assert_int_equal(h->builtin_eval(m, ROWS, &in, &labels), NNFI_OK);
    uint32_t classes = h->n_classes(m);
    const nnfi_site *sites = h->sites(m);
    size_t n_sites = h->n_sites(m);
    const nnfi_inject_backend *be = NULL;
    assert_int_equal(nnfi_inject_for_sites(sites, n_sites, &be), NNFI_OK);
    nnfi_injector *inj = NULL;
    assert_int_equal(be->create(sites, n_sites, &inj), NNFI_OK);
    float *golden = malloc(ROWS * classes * sizeof(float)), *again = malloc(ROWS * classes * sizeof(float));
    float *scratch = malloc(BATCH * classes * sizeof(float)), *faulty = malloc(ROWS * classes * sizeof(float));
    nnfi_pass_model pm = {h, m, sites, in, labels, h->input_numel(m), ROWS, BATCH, classes, NULL, scratch, be, inj, NULL, NULL, 1};
    assert_int_equal(nnfi_golden_pass(&pm, golden), NNFI_OK);
    pm.golden = golden;

    /* the first parameter site's element 0, sign and top exponent bit flipped */
    size_t w = 0;
    while (w < n_sites && sites[w].kind != NNFI_SITE_PARAM) w++;
    assert_true(w < n_sites);
    nnfi_fault f;
    memset(&f, 0, sizeof f);
    f.site = (uint32_t)w;
    f.mask = 0xC0000000u;
    f.op = NNFI_OP_FLIP;
    f.when = -1;
    f.t_last = UINT32_MAX;
    nnfi_pass_faults pf = {&f, 1, NULL, NULL, NULL, 0, NULL, 0, 0, 0};
    nnfi_pass_probe probe = {0, 0, 0, faulty, 0};
    nnfi_pass_result r;
    assert_int_equal(nnfi_trial_pass(&pm, &pf, &probe, &r), NNFI_OK);
    assert_int_equal(r.forward_status, NNFI_OK);
    assert_int_equal(r.restore_status, NNFI_OK);
    assert_int_equal(r.outcome.samples, ROWS);
    assert_true(memcmp(faulty, golden, ROWS * classes * sizeof(float)) != 0); /* the fault reached the logits */
    assert_int_equal(nnfi_golden_pass(&pm, again), NNFI_OK);
    assert_memory_equal(again, golden, ROWS * classes * sizeof(float)); /* restored bit for bit */

    /* no faults: the outcome is the golden one */
    nnfi_pass_faults none = {NULL, 0, NULL, NULL, NULL, 0, NULL, 0, 0, 0};
    assert_int_equal(nnfi_trial_pass(&pm, &none, NULL, &r), NNFI_OK);
    assert_int_equal(r.outcome.mismatches, 0);
    assert_true(r.outcome.max_abs_err == 0.0);

    be->destroy(inj);
    h->close(m);
    free(in);
    free(labels);
    free(golden);
    free(again);
    free(scratch);
    free(faulty);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_check_refuses_bad_headers),
        cmocka_unit_test(test_optional_slot_needs_size_and_pointer),
        cmocka_unit_test(test_registry_hands_out_checked_tables),
        cmocka_unit_test(test_comm_refuses_bad_table),
        cmocka_unit_test(test_trial_pass_restores_and_faults),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
