/* test_fm_sampler.c - fault-model groups drawn as ordinary faults
 * (include/nnfi/fm_sampler.h), on a hand-built group plan (no engine, no
 * model):
 *   - every occurrence's faults are exactly the library's occurrence
 *     (nnfi_fm_draw with counter {0, 2o, trial, e<<20|g<<16|p} on the chosen
 *     site's view), expanded by the documented rule (bitflip -> flip with the
 *     mask, other classes -> set of nnfi_fm_value in the site's range);
 *   - occurrence o does not depend on how many occurrences are drawn;
 *   - sites are picked in proportion to their element counts;
 *   - transient `when` stays in range and identical between calls.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/fm_sampler.h"

#ifndef FM_CAMPAIGN_DIR
#error "FM_CAMPAIGN_DIR must name tests/campaign/fm"
#endif

typedef struct fixture {
    nnfi_fault_model *fm;
    nnfi_group_plan g;
    uint32_t ids[2];
    uint64_t prefix[3];
    uint8_t dts[2];
    nnfi_fm_shape shape[2];
    double range[4];
} fixture;

static void setup_plan(fixture *x, int transient)
{
    assert_int_equal(nnfi_fm_load(FM_CAMPAIGN_DIR "/native.yaml", &x->fm), NNFI_OK);
    memset(&x->g, 0, sizeof x->g);
    x->ids[0] = 3, x->ids[1] = 7; /* site table indices */
    x->prefix[0] = 0, x->prefix[1] = 100, x->prefix[2] = 400; /* 100 and 300 elements */
    x->dts[0] = x->dts[1] = NNFI_DT_F32;
    x->shape[0] = (nnfi_fm_shape){1, 10, 10, NNFI_DT_F32};
    x->shape[1] = (nnfi_fm_shape){1, 20, 15, NNFI_DT_F32};
    x->range[0] = -1, x->range[1] = 2, x->range[2] = -0.5, x->range[3] = 0.25;
    x->g.n_sites = 2;
    x->g.site_ids = x->ids;
    x->g.prefix = x->prefix;
    x->g.site_dtype = x->dts;
    x->g.total = 400;
    x->g.element = -1;
    x->g.transient = (uint8_t)transient;
    x->g.calls = 5;
    x->g.samples = 300;
    x->g.t_from = 0, x->g.t_to = UINT32_MAX, x->g.duration = 1;
    x->g.fm = x->fm;
    x->g.fm_shape = x->shape;
    x->g.fm_range = x->range;
}

static void test_faults_are_the_library_occurrence(void **state)
{
    (void)state;
    fixture x;
    setup_plan(&x, 0);
    uint64_t cap = 0, elems[4096], words[4096];
    uint8_t cls[4096];
    nnfi_fault *buf = NULL;
    unsigned kinds_seen = 0;
    for (uint32_t t = 0; t < 300; t++) {
        nnfi_fault_id id = {99, 2, 1, 3, t};
        uint64_t at = 0;
        int kind = -1;
        assert_int_equal(nnfi_fm_group_faults(&x.g, id, 3, &buf, &cap, &at, &kind), NNFI_OK);
        uint64_t pos = 0;
        for (uint32_t o = 0; o < 3; o++) {
            assert_true(pos < at);
            uint32_t sel = buf[pos].site == 3 ? 0 : 1;
            assert_true(buf[pos].site == 3 || buf[pos].site == 7);
            nnfi_philox_key key = {{99, 0}};
            nnfi_philox_ctr ctr = {{0, 2 * o, t, (2u << 20) | (1u << 16) | 3u}};
            nnfi_fm_occurrence occ = {.elems = elems, .classes = cls, .words = words, .cap = 4096};
            assert_int_equal(nnfi_fm_draw(x.fm, key, ctr, &x.shape[sel], &occ), NNFI_OK);
            if (o == 0) assert_int_equal(kind, (int)occ.kind);
            kinds_seen |= 1u << occ.kind;
            assert_true(pos + occ.n <= at);
            for (uint64_t i = 0; i < occ.n; i++) {
                const nnfi_fault *f = &buf[pos + i];
                assert_int_equal(f->site, x.ids[sel]);
                assert_int_equal(f->element, elems[i]);
                assert_int_equal(f->group, 1);
                assert_int_equal(f->transient, 0);
                assert_int_equal(f->when, -1);
                if (cls[i] == NNFI_FM_BITFLIP) {
                    assert_int_equal(f->op, NNFI_OP_FLIP);
                    assert_int_equal(f->mask, words[i]);
                } else {
                    assert_int_equal(f->op, NNFI_OP_SET);
                    assert_int_equal(f->mask, 0xFFFFFFFFull);
                    double v = nnfi_fm_value((nnfi_fm_class)cls[i], words[i], x.range[2 * sel], x.range[2 * sel + 1]);
                    assert_int_equal(f->value, nnfi_value_encode(v, NNFI_DT_F32));
                    if (cls[i] == NNFI_FM_RANDOM_IN_RANGE) {
                        float got;
                        uint32_t w32 = (uint32_t)f->value;
                        memcpy(&got, &w32, 4);
                        assert_true(got >= x.range[2 * sel] && got <= x.range[2 * sel + 1]);
                    }
                }
            }
            pos += occ.n;
        }
        assert_int_equal(pos, at);
    }
    /* the three patterns of native.yaml all occur */
    assert_int_equal(kinds_seen, (1u << NNFI_FM_WEIGHT_ROW) | (1u << NNFI_FM_WEIGHT_TILE) | (1u << NNFI_FM_SINGLE));
    free(buf);
    nnfi_fm_free(x.fm);
}

static void test_occurrence_independent_of_count(void **state)
{
    (void)state;
    fixture x;
    setup_plan(&x, 0);
    nnfi_fault *a = NULL, *b = NULL;
    uint64_t ca = 0, cb = 0;
    for (uint32_t t = 0; t < 100; t++) {
        nnfi_fault_id id = {5, 0, 0, 0, t};
        uint64_t na = 0, nb = 0;
        assert_int_equal(nnfi_fm_group_faults(&x.g, id, 1, &a, &ca, &na, NULL), NNFI_OK);
        assert_int_equal(nnfi_fm_group_faults(&x.g, id, 4, &b, &cb, &nb, NULL), NNFI_OK);
        assert_true(na >= 1 && nb >= na);
        assert_memory_equal(a, b, na * sizeof *a);
    }
    free(a);
    free(b);
    nnfi_fm_free(x.fm);
}

static void test_site_shares_and_when(void **state)
{
    (void)state;
    fixture x;
    setup_plan(&x, 1);
    uint64_t hits[2] = {0, 0}, whens[5] = {0};
    for (uint32_t t = 0; t < 8000; t++) {
        nnfi_fm_pick pick;
        uint64_t e[4096], w[4096];
        uint8_t c[4096];
        nnfi_fm_occurrence occ = {.elems = e, .classes = c, .words = w, .cap = 4096};
        nnfi_fault_id id = {1, 0, 0, 0, t};
        assert_int_equal(nnfi_fm_group_occurrence(&x.g, id, 0, &pick, &occ), NNFI_OK);
        hits[pick.sel]++;
        assert_true(pick.when >= 0 && pick.when < 5);
        whens[pick.when]++;
    }
    double share = (double)hits[1] / 8000.0; /* 300 of 400 elements */
    assert_true(fabs(share - 0.75) < 0.02);
    for (int i = 0; i < 5; i++) assert_true(whens[i] > 1400 && whens[i] < 1800);
    nnfi_fm_free(x.fm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_faults_are_the_library_occurrence),
        cmocka_unit_test(test_occurrence_independent_of_count),
        cmocka_unit_test(test_site_shares_and_when),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
