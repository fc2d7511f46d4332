/* test_resolve.c - fault groups resolved against a site table: pruned-model
 * selections (values: nonzero / zero) hit only such elements, uniformly;
 * selectors and bit selections that match nothing are errors that name the
 * field and list the sites. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "nnfi/plan.h"

static float w1[100], w2[50];
static nnfi_site sites[3];

static void make_sites(void)
{
    for (int i = 0; i < 100; i++) w1[i] = i % 5 == 0 ? 0.5f + (float)i : (i % 2 ? 0.0f : -0.0f); /* 20 nonzero */
    for (int i = 0; i < 50; i++) w2[i] = i < 10 ? 0.0f : 1.0f;                                    /* 40 nonzero */
    memset(sites, 0, sizeof sites);
    snprintf(sites[0].name, sizeof sites[0].name, "fc1.weight");
    snprintf(sites[1].name, sizeof sites[1].name, "fc2.weight");
    snprintf(sites[2].name, sizeof sites[2].name, "fc1.out");
    sites[0].kind = sites[1].kind = NNFI_SITE_PARAM;
    sites[2].kind = NNFI_SITE_ACTIVATION;
    sites[0].numel = 100;
    sites[1].numel = 50;
    sites[2].numel = 7;
    sites[0].data = w1;
    sites[1].data = w2;
    for (int i = 0; i < 3; i++) {
        sites[i].dtype = NNFI_DT_F32;
        sites[i].ndim = 1;
        sites[i].shape[0] = (int64_t)sites[i].numel;
        sites[i].device = -1;
    }
}

static nnfi_campaign *load(const char *groups)
{
    char text[2048];
    snprintf(text, sizeof text,
             "seed: 11\nmodels: [{name: m, host: null}]\nexperiments:\n  - name: e\n    model: m\n    groups:\n%s    trials: 1\n",
             groups);
    nnfi_campaign *c = NULL;
    if (nnfi_campaign_load_text(text, strlen(text), "r.yaml", &c) != NNFI_OK) fail_msg("%s", nnfi_error_message());
    return c;
}

static void check_values(const char *which, int want_zero, uint64_t want_total)
{
    char g[256];
    snprintf(g, sizeof g, "      - {target: weight, values: %s, count: 5000}\n", which);
    nnfi_campaign *c = load(g);
    nnfi_group_plan gp;
    assert_int_equal(nnfi_group_resolve(c, 0, 0, sites, 3, 1, 1, &gp), NNFI_OK);
    assert_int_equal(gp.total, want_total);
    nnfi_fault f[5000];
    nnfi_fault_id id = {11, 0, 0, 0, 0};
    nnfi_sampler_faults(&gp, id, 0, 5000, f);
    uint64_t hits[2] = {0, 0};
    for (int i = 0; i < 5000; i++) {
        const float *w = f[i].site == 0 ? w1 : w2;
        assert_true(f[i].site <= 1);
        assert_int_equal(w[f[i].element] == 0.0f, want_zero);
        hits[f[i].site]++;
    }
    /* weighted by selected elements: nonzero 20 vs 40 -> 1/3, zero 80 vs 10 -> 8/9 */
    double share = (double)hits[0] / 5000, expect = want_zero ? 80.0 / 90 : 20.0 / 60;
    assert_true(share > expect - 0.04 && share < expect + 0.04);
    nnfi_group_plan_free(&gp);
    nnfi_campaign_free(c);
}

static void test_nonzero_and_zero(void **state)
{
    (void)state;
    make_sites();
    check_values("nonzero", 0, 60);
    check_values("zero", 1, 90);
}

static void expect_error(const char *groups, nnfi_status want, const char *text)
{
    nnfi_campaign *c = load(groups);
    nnfi_group_plan gp;
    assert_int_equal(nnfi_group_resolve(c, 0, 0, sites, 3, 1, 1, &gp), want);
    if (!strstr(nnfi_error_message(), text)) fail_msg("wanted '%s' in:\n%s", text, nnfi_error_message());
    nnfi_campaign_free(c);
}

static void test_errors(void **state)
{
    (void)state;
    make_sites();
    expect_error("      - {target: weight, sites: [\"conv*\"], count: 1}\n", NNFI_E_NOTFOUND,
                 "r.yaml:7:26: experiments[0].groups[0].sites: group 'g0' selects no site");
    expect_error("      - {target: weight, sites: [\"conv*\"], count: 1}\n", NNFI_E_NOTFOUND,
                 "available weight sites: fc1.weight fc2.weight");
    expect_error("      - {target: state, count: 1}\n", NNFI_E_NOTFOUND, "this model has no state sites");
    expect_error("      - {target: weight, regex: \"(\", count: 1}\n", NNFI_E_CONFIG, "bad regular expression");
    expect_error("      - {target: weight, bits: {range: [20, 40]}, count: 1}\n", NNFI_E_CONFIG,
                 "names bits beyond the width of dtype fp32");
    expect_error("      - {target: weight, sites: [\"fc1.weight\"], element: 100, count: 1}\n", NNFI_E_CONFIG,
                 "element 100 is outside site 'fc1.weight' (100 elements)");
    w2[10] = 0; /* fc2 keeps 39 nonzero; make everything in fc1 nonzero -> no zeros there */
    for (int i = 0; i < 100; i++) w1[i] = 1;
    expect_error("      - {target: weight, sites: [\"fc1.weight\"], values: zero, count: 1}\n", NNFI_E_NOTFOUND,
                 "have no zero elements");
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_nonzero_and_zero), cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
