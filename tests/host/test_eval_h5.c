/* test_eval_h5.c - eval sets from HDF5: values converted to fp32 with the
 * per-sample shape, a sample limit, and clear errors for a mismatched label
 * count, a missing dataset and a file that is not HDF5.
 * Usage: test_eval_h5 DIR (made by make_eval_fixtures.py). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "nnfi/eval_set.h"

static const char *dir;

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

static void test_good(void **state)
{
    (void)state;
    char p[4096];
    path_of(p, sizeof p, "good.h5");
    nnfi_eval_set e;
    assert_int_equal(nnfi_eval_load(p, "images", "labels", 0, &e), NNFI_OK);
    assert_int_equal(e.samples, 5);
    assert_int_equal(e.numel, 12);
    assert_int_equal(e.ndim, 3);
    assert_int_equal(e.shape[0], 1);
    assert_int_equal(e.shape[1], 4);
    assert_int_equal(e.shape[2], 3);
    for (int i = 0; i < 60; i++) assert_true(e.inputs[i] == (float)(i % 251));
    assert_int_equal(e.labels[2], 4);
    nnfi_eval_free(&e);
    assert_int_equal(nnfi_eval_load(p, "images", "labels", 2, &e), NNFI_OK);
    assert_int_equal(e.samples, 2);
    nnfi_eval_free(&e);
}

/* The input dtype comes from the images; labels [N, T] give T positions. */
static void test_dtypes_and_positions(void **state)
{
    (void)state;
    char p[4096];
    nnfi_eval_set e;
    path_of(p, sizeof p, "good.h5"); /* uint8 pixels: fp32 images, one label each */
    assert_int_equal(nnfi_eval_load(p, "images", "labels", 0, &e), NNFI_OK);
    assert_int_equal(e.input_dtype, NNFI_DT_F32);
    assert_int_equal(e.positions, 1);
    nnfi_eval_free(&e);
    path_of(p, sizeof p, "tokens.h5"); /* int64 token ids [4, 6], labels [4, 6] */
    assert_int_equal(nnfi_eval_load(p, "images", "labels", 3, &e), NNFI_OK);
    assert_int_equal(e.input_dtype, NNFI_DT_I64);
    assert_int_equal(e.samples, 3);
    assert_int_equal(e.positions, 6);
    assert_int_equal(e.numel, 6);
    for (int i = 0; i < 18; i++) {
        assert_true(e.inputs[i] == (float)(i * 7 % 97));
        assert_int_equal(e.labels[i], (i * 7 % 97 + 1) % 97);
    }
    nnfi_eval_free(&e);
    path_of(p, sizeof p, "half.h5");
    assert_int_equal(nnfi_eval_load(p, "images", "labels", 0, &e), NNFI_OK);
    assert_int_equal(e.input_dtype, NNFI_DT_F16);
    for (int i = 0; i < 15; i++) /* fp16 values are exact in fp32 */
        assert_true(e.inputs[i] == (float)nnfi_value_decode(nnfi_value_encode(i / 7.0, NNFI_DT_F16), NNFI_DT_F16));
    nnfi_eval_free(&e);
    path_of(p, sizeof p, "bf16_attr.h5");
    assert_int_equal(nnfi_eval_load(p, "images", "labels", 0, &e), NNFI_OK);
    assert_int_equal(e.input_dtype, NNFI_DT_BF16);
    nnfi_eval_free(&e);
}

static void expect_error(const char *file, nnfi_status want, const char *text)
{
    char p[4096];
    path_of(p, sizeof p, file);
    nnfi_eval_set e;
    nnfi_status st = nnfi_eval_load(p, "images", "labels", 0, &e);
    assert_int_equal(st, want);
    if (!strstr(nnfi_error_message(), text) || !strstr(nnfi_error_message(), "hint:"))
        fail_msg("message lacks '%s':\n%s", text, nnfi_error_message());
    assert_null(e.inputs);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("mismatch.h5", NNFI_E_CONFIG, "5 images but 4 labels");
    expect_error("nolabels.h5", NNFI_E_CONFIG, "no dataset 'labels'");
    expect_error("notes.h5", NNFI_E_IO, "cannot open as an HDF5 file");
    expect_error("absent.h5", NNFI_E_IO, "absent.h5");
    expect_error("bad_dtype_attr.h5", NNFI_E_CONFIG, "attribute dtype is 'complex64'");
    expect_error("big_ids.h5", NNFI_E_CONFIG, "token id 15 is 16777219, beyond 2^24");
    expect_error("no_positions.h5", NNFI_E_CONFIG, "no positions per sample");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: test_eval_h5 FIXTURE_DIR\n");
        return 2;
    }
    dir = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_good), cmocka_unit_test(test_dtypes_and_positions),
                                       cmocka_unit_test(test_errors)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
