/* test_outcome.c - outcome classification: accuracy, SDC, critical SDC, DUE
 * and logit errors on hand-made logits, and invariance to batch splits. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "nnfi/outcome.h"

static void test_top1(void **state)
{
    (void)state;
    float a[4] = {0.1f, 0.9f, 0.9f, -1};
    assert_int_equal(nnfi_top1(a, 4), 1); /* first maximum wins */
    float b[3] = {NAN, 2, 1};
    assert_int_equal(nnfi_top1(b, 3), 1); /* NaN never wins */
    float c[2] = {NAN, NAN};
    assert_int_equal(nnfi_top1(c, 2), 0);
    float d[3] = {1, INFINITY, 2};
    assert_int_equal(nnfi_top1(d, 3), 1);
}

/* 4 samples, 3 classes. labels 0,1,2,0. golden predicts 0,1,1,0 (3 right).
 * faulty: s0 -> 2 (critical), s1 -> 1 (same), s2 -> 2 (fixes a wrong one:
 * mismatch, not critical), s3 has a NaN (DUE, critical). */
static const float golden[12] = {3, 1, 0, 0, 2, 1, 0, 5, 1, 4, 0, 0};
static const float faulty[12] = {3, 1, 9, 0, 2, 1, 0, 1, 5, 4, NAN, 0};
static const int32_t labels[4] = {0, 1, 2, 0};

static void test_counts(void **state)
{
    (void)state;
    nnfi_outcome o;
    nnfi_outcome_init(&o);
    nnfi_outcome_add(&o, golden, faulty, labels, 4, 3);
    nnfi_outcome_finish(&o);
    assert_int_equal(o.samples, 4);
    assert_int_equal(o.golden_correct, 3);
    assert_int_equal(o.correct, 2);     /* s1, s2 */
    assert_int_equal(o.mismatches, 3);  /* s0, s2, s3 */
    assert_int_equal(o.critical, 2);    /* s0, s3 */
    assert_int_equal(o.nonfinite, 1);
    assert_true(fabs(o.accuracy - 0.5) < 1e-12);
    assert_true(fabs(o.golden_accuracy - 0.75) < 1e-12);
    assert_true(fabs(o.accuracy_drop - 0.25) < 1e-12);
    assert_true(fabs(o.max_abs_err - 9.0) < 1e-12);
    /* finite pairs: 11; errors 0,0,9, 0,0,0, 0,4,4, 0,-,0 -> 17/11 */
    assert_int_equal(o.n_err, 11);
    assert_true(fabs(o.mean_abs_err - 17.0 / 11.0) < 1e-12);
}

static void test_split_invariant(void **state)
{
    (void)state;
    nnfi_outcome a, b;
    nnfi_outcome_init(&a);
    nnfi_outcome_init(&b);
    nnfi_outcome_add(&a, golden, faulty, labels, 4, 3);
    nnfi_outcome_add(&b, golden, faulty, labels, 1, 3);
    nnfi_outcome_add(&b, golden + 3, faulty + 3, labels + 1, 3, 3);
    nnfi_outcome_finish(&a);
    nnfi_outcome_finish(&b);
    assert_memory_equal(&a, &b, sizeof a);
    /* golden vs itself: no SDC, no error */
    nnfi_outcome_init(&a);
    nnfi_outcome_add(&a, golden, golden, labels, 4, 3);
    nnfi_outcome_finish(&a);
    assert_int_equal(a.mismatches, 0);
    assert_int_equal(a.critical, 0);
    assert_true(a.max_abs_err == 0 && a.accuracy_drop == 0);
}

/* nnfi_outcome_sparse == nnfi_outcome_add over every row with the golden
 * rows filled in, bit for bit, for random logits with NaN/Inf on both sides;
 * with one row per sample ([N, C]) and with 3 positions per sample ([N, T, C]:
 * a changed sample changes some of its positions). */
static void test_sparse_equals_full(void **state)
{
    (void)state;
    enum { R = 99, C = 7 }; /* rows = samples x positions */
    static float g[R * C], full[R * C], rows[R * C];
    static int32_t lab[R];
    static uint64_t idx[R];
    uint64_t x = 12345;
    for (uint32_t P = 1; P <= 3; P += 2) {
        uint64_t S = R / P;
        for (int round = 0; round < 50; round++) {
            for (int i = 0; i < R * C; i++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                g[i] = (float)((int)(x >> 40) % 2000 - 1000) / 97.0f;
                if ((x >> 20) % 211 == 0) g[i] = (x & 1) ? NAN : INFINITY;
            }
            for (int r = 0; r < R; r++) lab[r] = (int32_t)((uint64_t)r * 2654435761u % C);
            memcpy(full, g, sizeof g);
            uint64_t n = 0;
            for (uint64_t s = 0; s < S; s++) {
                x = x * 6364136223846793005ull + 1442695040888963407ull;
                if ((x >> 33) % 4 != 0) continue;
                idx[n] = s;
                for (uint32_t k = 0; k < P * C; k++) {
                    float v = g[s * P * C + k];
                    if ((x >> (10 + k % 20)) & 1) v = v * 1.5f + 0.25f;
                    if ((x >> 50) % 17 == 0 && k == 3) v = NAN;
                    rows[n * P * C + k] = full[s * P * C + k] = v;
                }
                n++;
            }
            nnfi_outcome gs, want, got;
            nnfi_outcome_init(&gs);
            nnfi_outcome_add(&gs, g, g, lab, S * P, C);
            nnfi_outcome_init(&want);
            nnfi_outcome_add(&want, g, full, lab, S * P, C);
            nnfi_outcome_sparse(&got, &gs, g, lab, C, P, idx, rows, n);
            nnfi_outcome_finish(&want);
            nnfi_outcome_finish(&got);
            assert_int_equal(want.samples, S * P);
            assert_memory_equal(&want, &got, sizeof want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top1),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_split_invariant),
        cmocka_unit_test(test_sparse_equals_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
