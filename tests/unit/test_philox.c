/* test_philox.c - Philox4x32-10 (include/nnfi/philox.h) against the Random123
 * known-answer vectors, nnfi_mulhi64 against a portable schoolbook reference,
 * and nnfi_unit_double's range and resolution. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>

#include "nnfi/philox.h"

/* philox_portable.c: nnfi_mulhi64 built without unsigned __int128 */
uint64_t test_portable_mulhi64(uint64_t a, uint64_t b);

static void check_kat(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1,
                      uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3)
{
    nnfi_philox_ctr c = {{c0, c1, c2, c3}};
    nnfi_philox_key k = {{k0, k1}};
    nnfi_philox_ctr r = nnfi_philox4x32_10(c, k);
    assert_int_equal(r.v[0], r0);
    assert_int_equal(r.v[1], r1);
    assert_int_equal(r.v[2], r2);
    assert_int_equal(r.v[3], r3);
}

static void test_kat_zero(void **state)
{
    (void)state;
    check_kat(0, 0, 0, 0, 0, 0, 0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u);
}

static void test_kat_ones(void **state)
{
    (void)state;
    check_kat(0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu,
              0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu);
}

static void test_kat_pi(void **state)
{
    (void)state;
    check_kat(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u,
              0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u);
}

/* The generator is a pure function: the arguments are taken by value and the
 * same input gives the same output; a one-bit change of counter or key changes
 * the output. */
static void test_pure_and_sensitive(void **state)
{
    (void)state;
    nnfi_philox_ctr c = {{1, 2, 3, 4}};
    nnfi_philox_key k = {{5, 6}};
    nnfi_philox_ctr a = nnfi_philox4x32_10(c, k);
    nnfi_philox_ctr b = nnfi_philox4x32_10(c, k);
    assert_memory_equal(&a, &b, sizeof a);
    assert_int_equal(c.v[0], 1);
    assert_int_equal(k.v[0], 5);
    for (int w = 0; w < 4; w++) {
        for (int bit = 0; bit < 32; bit += 7) {
            nnfi_philox_ctr c2 = c;
            c2.v[w] ^= 1u << bit;
            nnfi_philox_ctr d = nnfi_philox4x32_10(c2, k);
            assert_memory_not_equal(&a, &d, sizeof a);
        }
    }
    for (int w = 0; w < 2; w++) {
        nnfi_philox_key k2 = k;
        k2.v[w] ^= 0x80000000u;
        nnfi_philox_ctr d = nnfi_philox4x32_10(c, k2);
        assert_memory_not_equal(&a, &d, sizeof a);
    }
}

/* Schoolbook 32x32 partial products, independent of __int128. */
static uint64_t ref_mulhi64(uint64_t a, uint64_t b)
{
    uint64_t a0 = a & 0xffffffffu, a1 = a >> 32, b0 = b & 0xffffffffu, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffu) + (p10 & 0xffffffffu);
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

/* Both branches of nnfi_mulhi64 (the one this compiler takes, and the portable
 * one) against the reference, and against a 128-bit product where there is one. */
static void check_mulhi(uint64_t a, uint64_t b)
{
    uint64_t want = ref_mulhi64(a, b);
    assert_true(nnfi_mulhi64(a, b) == want);
    assert_true(test_portable_mulhi64(a, b) == want);
#if defined(__SIZEOF_INT128__)
    __extension__ typedef unsigned __int128 u128;
    assert_true((uint64_t)(((u128)a * b) >> 64) == want);
#endif
}

static void test_mulhi64(void **state)
{
    (void)state;
    /* hand-checked values */
    assert_true(nnfi_mulhi64(0, 0) == 0);
    assert_true(test_portable_mulhi64(UINT64_MAX, UINT64_MAX) == UINT64_MAX - 1);
    assert_true(test_portable_mulhi64(UINT64_MAX, 1000) == 999);
    assert_true(nnfi_mulhi64(UINT64_MAX, 1) == 0);
    assert_true(nnfi_mulhi64(UINT64_MAX, 2) == 1);
    assert_true(nnfi_mulhi64((uint64_t)1 << 32, (uint64_t)1 << 32) == 1);
    assert_true(nnfi_mulhi64((uint64_t)1 << 63, 10) == 5);
    assert_true(nnfi_mulhi64(UINT64_MAX, UINT64_MAX) == UINT64_MAX - 1);
    assert_true(nnfi_mulhi64(0x8000000000000000ull, 0x8000000000000000ull) == 0x4000000000000000ull);
    /* 0xffffffffffffffff * 1000 >> 64 = 999 */
    assert_true(nnfi_mulhi64(UINT64_MAX, 1000) == 999);
    const uint64_t vals[] = {0, 1, 2, 3, 0xffffffffull, 0x100000000ull, 0x123456789abcdef0ull,
                             0xfedcba9876543210ull, 0x8000000000000001ull, UINT64_MAX,
                             0x00000000deadbeefull, 0xdeadbeef00000000ull, 0x5555555555555555ull,
                             0xaaaaaaaaaaaaaaaaull};
    size_t n = sizeof vals / sizeof vals[0];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            check_mulhi(vals[i], vals[j]);
    /* and pseudo-random operands from Philox itself */
    for (uint32_t i = 0; i < 10000; i++) {
        nnfi_philox_ctr c = {{i, 0, 0, 0}};
        nnfi_philox_key k = {{7, 11}};
        nnfi_philox_ctr r = nnfi_philox4x32_10(c, k);
        uint64_t a = nnfi_u64_of(r.v[0], r.v[1]), b = nnfi_u64_of(r.v[2], r.v[3]);
        check_mulhi(a, b);
        assert_true(nnfi_mulhi64(a, b) == nnfi_mulhi64(b, a));
        /* mapping onto [0, n) stays below n */
        uint64_t bound = (b % 1000003) + 1;
        assert_true(nnfi_mulhi64(a, bound) < bound);
    }
}

static void test_u64_of(void **state)
{
    (void)state;
    assert_true(nnfi_u64_of(0x89abcdefu, 0x01234567u) == 0x0123456789abcdefull);
    assert_true(nnfi_u64_of(0xffffffffu, 0) == 0xffffffffull);
    assert_true(nnfi_u64_of(0, 0xffffffffu) == 0xffffffff00000000ull);
}

static void test_unit_double(void **state)
{
    (void)state;
    assert_true(nnfi_unit_double(0) == 0.0);
    double top = nnfi_unit_double(UINT64_MAX);
    assert_true(top < 1.0);
    assert_true(top == 1.0 - DBL_EPSILON / 2); /* 1 - 2^-53 */
    assert_true(nnfi_unit_double((uint64_t)1 << 63) == 0.5);
    assert_true(nnfi_unit_double((uint64_t)1 << 11) == 1.0 / 9007199254740992.0);
    /* the low 11 bits are dropped */
    assert_true(nnfi_unit_double(0x7ff) == 0.0);
    double sum = 0;
    const uint32_t n = 100000;
    for (uint32_t i = 0; i < n; i++) {
        nnfi_philox_ctr c = {{i, 1, 2, 3}};
        nnfi_philox_key k = {{42, 0}};
        nnfi_philox_ctr r = nnfi_philox4x32_10(c, k);
        double u = nnfi_unit_double(nnfi_u64_of(r.v[0], r.v[1]));
        assert_true(u >= 0.0 && u < 1.0);
        sum += u;
    }
    /* mean of U(0,1): sd of the mean is 1/sqrt(12 n) ~ 0.0009; 5 sigma */
    double mean = sum / n;
    assert_true(mean > 0.5 - 0.0046 && mean < 0.5 + 0.0046);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kat_zero),
        cmocka_unit_test(test_kat_ones),
        cmocka_unit_test(test_kat_pi),
        cmocka_unit_test(test_pure_and_sensitive),
        cmocka_unit_test(test_mulhi64),
        cmocka_unit_test(test_u64_of),
        cmocka_unit_test(test_unit_double),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
