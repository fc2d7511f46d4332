/* test_fault_bits.c - the bit-level fault primitives of include/nnfi/fault_bits.h:
 * every op on every dtype restores bit-exactly from the saved words, the op
 * algebra (flip is an involution, stuck-at is idempotent, bits outside the
 * mask never change), element load/store without touching neighbours, the
 * dtype presets, and the number <-> word encodings (fp16/bf16 exhaustively,
 * including round-to-nearest-even at every midpoint). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/fault_bits.h"
#include "nnfi_test.h"

#define N_ELEM 257
#define GUARD 16

static void fill_random(unsigned char *p, size_t n, uint64_t *s)
{
    for (size_t i = 0; i < n; i++) p[i] = (unsigned char)nnfi_splitmix64(s);
}

static const nnfi_dtype all_dtypes[] = {NNFI_DT_F32, NNFI_DT_F16, NNFI_DT_BF16, NNFI_DT_F64,
                                        NNFI_DT_I8,  NNFI_DT_U8,  NNFI_DT_I32, NNFI_DT_I64};
#define N_DTYPES (sizeof all_dtypes / sizeof all_dtypes[0])

static void test_dtype_widths(void **state)
{
    (void)state;
    assert_int_equal(N_DTYPES, NNFI_DT_COUNT);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_F32), 32);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_F16), 16);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_BF16), 16);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_F64), 64);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_I8), 8);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_U8), 8);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_I32), 32);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_I64), 64);
    assert_int_equal(nnfi_dtype_bits(NNFI_DT_COUNT), 0);
    for (size_t d = 0; d < N_DTYPES; d++) {
        nnfi_dtype dt = all_dtypes[d];
        assert_int_equal(nnfi_dtype_is_float(dt), dt <= NNFI_DT_F64);
        if (nnfi_dtype_is_float(dt))
            assert_int_equal(1 + nnfi_dtype_exp_bits(dt) + nnfi_dtype_man_bits(dt), nnfi_dtype_bits(dt));
        else
            assert_int_equal(nnfi_dtype_exp_bits(dt) + nnfi_dtype_man_bits(dt), 0);
    }
    assert_true(nnfi_low_mask(0) == 0);
    assert_true(nnfi_low_mask(1) == 1);
    assert_true(nnfi_low_mask(8) == 0xff);
    assert_true(nnfi_low_mask(63) == 0x7fffffffffffffffull);
    assert_true(nnfi_low_mask(64) == UINT64_MAX);
}

/* Every dtype x op: apply to random elements (duplicates included) with random
 * masks, check each application's algebra, then restore the saved words in
 * reverse order and compare the whole buffer. */
static void test_ops_restore_all(void **state)
{
    (void)state;
    uint64_t s = 12345;
    for (size_t d = 0; d < N_DTYPES; d++) {
        nnfi_dtype dt = all_dtypes[d];
        unsigned bytes = nnfi_dtype_bits(dt) / 8;
        uint64_t width = nnfi_low_mask(nnfi_dtype_bits(dt));
        size_t size = (size_t)N_ELEM * bytes;
        unsigned char *buf = malloc(size), *orig = malloc(size);
        assert_non_null(buf);
        assert_non_null(orig);
        for (int op = 0; op < NNFI_OP_COUNT; op++) {
            fill_random(buf, size, &s);
            memcpy(orig, buf, size);
            enum { N_APPLY = 2000 };
            uint64_t idx[N_APPLY], saved[N_APPLY];
            int changed = 0;
            for (int a = 0; a < N_APPLY; a++) {
                uint64_t i = nnfi_splitmix64(&s) % N_ELEM;
                uint64_t mask = nnfi_splitmix64(&s) & width;
                uint64_t value = nnfi_splitmix64(&s) & width;
                uint64_t w = nnfi_elem_load(buf, dt, i);
                assert_true((w & ~width) == 0);
                uint64_t r = nnfi_bits_apply(w, (nnfi_op)op, mask, value);
                assert_true((r & ~width) == 0);            /* stays in the dtype */
                assert_true(((r ^ w) & ~mask) == 0);        /* outside the mask: untouched */
                switch (op) {
                case NNFI_OP_FLIP: assert_true((r & mask) == (~w & mask)); break;
                case NNFI_OP_STUCK0: assert_true((r & mask) == 0); break;
                case NNFI_OP_STUCK1: assert_true((r & mask) == mask); break;
                default: assert_true((r & mask) == (value & mask)); break;
                }
                idx[a] = i;
                saved[a] = w;
                nnfi_elem_store(buf, dt, i, r);
                changed |= r != w;
            }
            assert_true(changed);
            assert_memory_not_equal(buf, orig, size);
            for (int a = N_APPLY - 1; a >= 0; a--) nnfi_elem_store(buf, dt, idx[a], saved[a]);
            assert_memory_equal(buf, orig, size);
        }
        free(buf);
        free(orig);
    }
}

static void test_op_algebra(void **state)
{
    (void)state;
    uint64_t s = 777;
    for (size_t d = 0; d < N_DTYPES; d++) {
        uint64_t width = nnfi_low_mask(nnfi_dtype_bits(all_dtypes[d]));
        for (int n = 0; n < 20000; n++) {
            uint64_t w = nnfi_splitmix64(&s) & width, mask = nnfi_splitmix64(&s) & width, v = nnfi_splitmix64(&s) & width;
            uint64_t f1 = nnfi_bits_apply(w, NNFI_OP_FLIP, mask, v);
            assert_true(nnfi_bits_apply(f1, NNFI_OP_FLIP, mask, v) == w);
            assert_true(f1 == (w ^ mask));
            uint64_t s0 = nnfi_bits_apply(w, NNFI_OP_STUCK0, mask, v);
            assert_true(nnfi_bits_apply(s0, NNFI_OP_STUCK0, mask, v) == s0);
            assert_true(s0 == (w & ~mask));
            uint64_t s1 = nnfi_bits_apply(w, NNFI_OP_STUCK1, mask, v);
            assert_true(nnfi_bits_apply(s1, NNFI_OP_STUCK1, mask, v) == s1);
            assert_true(s1 == (w | mask));
            uint64_t rv = nnfi_bits_apply(w, NNFI_OP_RANDOM, mask, v);
            assert_true(nnfi_bits_apply(rv, NNFI_OP_RANDOM, mask, v) == rv);
            assert_true(rv == ((w & ~mask) | (v & mask)));
            uint64_t sv = nnfi_bits_apply(w, NNFI_OP_SET, mask, v);
            assert_true(sv == rv);
            /* an empty mask changes nothing */
            for (int op = 0; op < NNFI_OP_COUNT; op++)
                assert_true(nnfi_bits_apply(w, (nnfi_op)op, 0, v) == w);
        }
    }
    /* an unknown op leaves the word alone */
    assert_true(nnfi_bits_apply(0x1234, (nnfi_op)NNFI_OP_COUNT, 0xffff, 0) == 0x1234);
}

/* Load/store round trip on every element of a guarded buffer, at an aligned
 * and an odd base address; neighbours and guards never change. */
static void test_load_store(void **state)
{
    (void)state;
    uint64_t s = 99;
    for (size_t d = 0; d < N_DTYPES; d++) {
        nnfi_dtype dt = all_dtypes[d];
        unsigned bytes = nnfi_dtype_bits(dt) / 8;
        uint64_t width = nnfi_low_mask(nnfi_dtype_bits(dt));
        for (size_t misalign = 0; misalign < 2; misalign++) {
            size_t size = 2 * GUARD + (size_t)N_ELEM * bytes + misalign;
            unsigned char *raw = malloc(size), *ref = malloc(size);
            assert_non_null(raw);
            assert_non_null(ref);
            fill_random(raw, size, &s);
            memcpy(ref, raw, size);
            unsigned char *base = raw + GUARD + misalign;
            size_t off = GUARD + misalign;
            /* load reads the little-endian bytes of element i */
            for (uint64_t i = 0; i < N_ELEM; i++) {
                uint64_t want = 0;
                for (unsigned b = 0; b < bytes; b++) want |= (uint64_t)base[i * bytes + b] << (8 * b);
                assert_true(nnfi_elem_load(base, dt, i) == want);
            }
            for (uint64_t i = 0; i < N_ELEM; i++) {
                uint64_t w = nnfi_splitmix64(&s); /* high garbage above the width is dropped */
                nnfi_elem_store(base, dt, i, w);
                assert_true(nnfi_elem_load(base, dt, i) == (w & width));
                for (unsigned b = 0; b < bytes; b++) ref[off + i * bytes + b] = (unsigned char)(w >> (8 * b));
                /* everything else, guards included, is as before */
                assert_memory_equal(raw, ref, size);
            }
            free(raw);
            free(ref);
        }
    }
}

static void test_presets(void **state)
{
    (void)state;
    struct { nnfi_dtype dt; uint64_t all, sign, exp, man; } t[] = {
        {NNFI_DT_F32, 0xffffffffull, 0x80000000ull, 0x7f800000ull, 0x007fffffull},
        {NNFI_DT_F16, 0xffff, 0x8000, 0x7c00, 0x03ff},
        {NNFI_DT_BF16, 0xffff, 0x8000, 0x7f80, 0x007f},
        {NNFI_DT_F64, UINT64_MAX, 0x8000000000000000ull, 0x7ff0000000000000ull, 0x000fffffffffffffull},
        {NNFI_DT_I8, 0xff, 0x80, 0, 0},
        {NNFI_DT_U8, 0xff, 0, 0, 0},
        {NNFI_DT_I32, 0xffffffffull, 0x80000000ull, 0, 0},
        {NNFI_DT_I64, UINT64_MAX, 0x8000000000000000ull, 0, 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        assert_true(nnfi_preset_mask(t[i].dt, NNFI_BITS_ALL) == t[i].all);
        assert_true(nnfi_preset_mask(t[i].dt, NNFI_BITS_SIGN) == t[i].sign);
        assert_true(nnfi_preset_mask(t[i].dt, NNFI_BITS_EXPONENT) == t[i].exp);
        assert_true(nnfi_preset_mask(t[i].dt, NNFI_BITS_MANTISSA) == t[i].man);
        assert_true(nnfi_preset_mask(t[i].dt, NNFI_BITS_PRESET_COUNT) == 0);
        /* floats: sign | exponent | mantissa is the whole word, disjointly */
        if (nnfi_dtype_is_float(t[i].dt)) {
            assert_true((t[i].sign | t[i].exp | t[i].man) == t[i].all);
            assert_true((t[i].sign & t[i].exp) == 0 && (t[i].exp & t[i].man) == 0 && (t[i].sign & t[i].man) == 0);
        }
    }
}

static void check_encode(double v, nnfi_dtype dt, uint64_t want)
{
    uint64_t got = nnfi_value_encode(v, dt);
    if (got != want) fail_msg("encode(%.17g, dtype %d) = 0x%llx, want 0x%llx", v, (int)dt,
                              (unsigned long long)got, (unsigned long long)want);
}

static void test_encode_f16(void **state)
{
    (void)state;
    check_encode(1.0, NNFI_DT_F16, 0x3c00);
    check_encode(-2.0, NNFI_DT_F16, 0xc000);
    check_encode(0.0, NNFI_DT_F16, 0x0000);
    check_encode(-0.0, NNFI_DT_F16, 0x8000);
    check_encode(0.5, NNFI_DT_F16, 0x3800);
    check_encode(65504.0, NNFI_DT_F16, 0x7bff);   /* largest finite */
    check_encode(65519.0, NNFI_DT_F16, 0x7bff);   /* just below the overflow midpoint */
    check_encode(65520.0, NNFI_DT_F16, 0x7c00);   /* midpoint to 2^16 rounds to even: inf */
    check_encode(-65520.0, NNFI_DT_F16, 0xfc00);
    check_encode(65536.0, NNFI_DT_F16, 0x7c00);   /* 2^16: the first binade above the range */
    check_encode(100000.0, NNFI_DT_F16, 0x7c00);
    check_encode(-131071.0, NNFI_DT_F16, 0xfc00);
    check_encode(1e300, NNFI_DT_F16, 0x7c00);
    check_encode(INFINITY, NNFI_DT_F16, 0x7c00);
    check_encode(-INFINITY, NNFI_DT_F16, 0xfc00);
    check_encode(ldexp(1, -14), NNFI_DT_F16, 0x0400);  /* smallest normal */
    check_encode(ldexp(1, -24), NNFI_DT_F16, 0x0001);  /* smallest subnormal, 5.96e-8 */
    check_encode(6e-8, NNFI_DT_F16, 0x0001);
    check_encode(-6e-8, NNFI_DT_F16, 0x8001);
    check_encode(1e-8, NNFI_DT_F16, 0x0000);
    check_encode(-1e-8, NNFI_DT_F16, 0x8000);
    check_encode(ldexp(1, -25), NNFI_DT_F16, 0x0000);  /* tie between 0 and 1 ulp: even */
    check_encode(ldexp(1, -25) * (1 + DBL_EPSILON), NNFI_DT_F16, 0x0001);
    check_encode(ldexp(3, -25), NNFI_DT_F16, 0x0002);  /* tie between 1 and 2 ulps: even */
    check_encode(ldexp(1023, -24), NNFI_DT_F16, 0x03ff); /* largest subnormal */
    check_encode(ldexp(2047, -25), NNFI_DT_F16, 0x0400); /* rounds up into the normals */
    check_encode(1e-300, NNFI_DT_F16, 0x0000);
    check_encode(4.9406564584124654e-324, NNFI_DT_F16, 0x0000); /* double subnormal */
    check_encode(1.0 + ldexp(1, -11), NNFI_DT_F16, 0x3c00);     /* tie, even */
    check_encode(1.0 + ldexp(3, -11), NNFI_DT_F16, 0x3c02);     /* tie, even (up) */
    check_encode(3.140625, NNFI_DT_F16, 0x4248);
    uint64_t nan = nnfi_value_encode(NAN, NNFI_DT_F16);
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x03ff) != 0);
    assert_true(isnan(nnfi_value_decode(nan, NNFI_DT_F16)));
    assert_true(isnan(nnfi_value_decode(0x7e00, NNFI_DT_F16)));
    assert_true(isnan(nnfi_value_decode(0xfc01, NNFI_DT_F16)));
    assert_true(nnfi_value_decode(0x7c00, NNFI_DT_F16) == INFINITY);
    assert_true(nnfi_value_decode(0xfc00, NNFI_DT_F16) == -INFINITY);
    assert_true(nnfi_value_decode(0x7bff, NNFI_DT_F16) == 65504.0);
    assert_true(nnfi_value_decode(0x0001, NNFI_DT_F16) == ldexp(1, -24));
    assert_true(nnfi_value_decode(0x8000, NNFI_DT_F16) == 0.0 && signbit(nnfi_value_decode(0x8000, NNFI_DT_F16)));
    assert_true(nnfi_value_decode(0xc000, NNFI_DT_F16) == -2.0);
}

static void test_encode_bf16(void **state)
{
    (void)state;
    check_encode(1.0, NNFI_DT_BF16, 0x3f80);
    check_encode(-1.0, NNFI_DT_BF16, 0xbf80);
    check_encode(3.140625, NNFI_DT_BF16, 0x4049);
    assert_true(nnfi_value_decode(0x4049, NNFI_DT_BF16) == 3.140625);
    check_encode(3.14159265358979, NNFI_DT_BF16, 0x4049);
    check_encode(1.0 + ldexp(1, -8), NNFI_DT_BF16, 0x3f80); /* tie, even */
    check_encode(1.0 + ldexp(3, -8), NNFI_DT_BF16, 0x3f82); /* tie, even (up) */
    check_encode(1e39, NNFI_DT_BF16, 0x7f80);               /* beyond fp32 max: inf */
    check_encode(-1e39, NNFI_DT_BF16, 0xff80);
    check_encode(ldexp(1.5, 128), NNFI_DT_BF16, 0x7f80);
    check_encode(ldexp(1, -133), NNFI_DT_BF16, 0x0001);     /* smallest subnormal */
    check_encode(ldexp(1, -134), NNFI_DT_BF16, 0x0000);     /* tie: even */
    check_encode(-0.0, NNFI_DT_BF16, 0x8000);
    uint64_t nan = nnfi_value_encode(-NAN, NNFI_DT_BF16);
    assert_true((nan & 0x7f80) == 0x7f80 && (nan & 0x007f) != 0);
    assert_true(isnan(nnfi_value_decode(nan, NNFI_DT_BF16)));
}

/* Every NaN stays a NaN, whatever its payload (a payload only in the low bits
 * must not collapse to infinity), and keeps its sign. */
static void test_encode_nan_payloads(void **state)
{
    (void)state;
    const uint64_t nans[] = {0x7ff8000000000000ull, 0x7ff0000000000001ull, 0x7ff0000000000400ull,
                             0x7ff4000000000000ull, 0xfff0000000000001ull, 0x7fffffffffffffffull};
    for (size_t i = 0; i < sizeof nans / sizeof nans[0]; i++) {
        double v;
        memcpy(&v, &nans[i], 8);
        assert_true(isnan(v));
        uint64_t h = nnfi_value_encode(v, NNFI_DT_F16);
        assert_true((h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0);
        assert_true((h >> 15) == (nans[i] >> 63));
        uint64_t b = nnfi_value_encode(v, NNFI_DT_BF16);
        assert_true((b & 0x7f80) == 0x7f80 && (b & 0x007f) != 0);
        assert_true((b >> 15) == (nans[i] >> 63));
        assert_true(isnan(nnfi_value_decode(nnfi_value_encode(v, NNFI_DT_F32), NNFI_DT_F32)));
        assert_true(nnfi_value_encode(v, NNFI_DT_F64) == nans[i]);
    }
}

static void test_encode_f32_f64(void **state)
{
    (void)state;
    check_encode(1.0, NNFI_DT_F32, 0x3f800000);
    check_encode(-2.5, NNFI_DT_F32, 0xc0200000);
    check_encode(0.1, NNFI_DT_F32, 0x3dcccccd);
    check_encode(1e39, NNFI_DT_F32, 0x7f800000);
    check_encode(-0.0, NNFI_DT_F32, 0x80000000);
    assert_true(nnfi_value_decode(0x3dcccccd, NNFI_DT_F32) == (double)0.1f);
    assert_true(nnfi_value_decode(0xc0200000, NNFI_DT_F32) == -2.5);
    check_encode(1.0, NNFI_DT_F64, 0x3ff0000000000000ull);
    check_encode(-2.0, NNFI_DT_F64, 0xc000000000000000ull);
    check_encode(0.1, NNFI_DT_F64, 0x3fb999999999999aull);
    check_encode(INFINITY, NNFI_DT_F64, 0x7ff0000000000000ull);
    const double vals[] = {0.0, 1.0, -1.5, 3.141592653589793, 1e-310, -1e300, 65504.0, 123456.789};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        assert_true(nnfi_value_decode(nnfi_value_encode(vals[i], NNFI_DT_F64), NNFI_DT_F64) == vals[i]);
        assert_true(nnfi_value_decode(nnfi_value_encode(vals[i], NNFI_DT_F32), NNFI_DT_F32) == (double)(float)vals[i]);
    }
    assert_true(isnan(nnfi_value_decode(nnfi_value_encode(NAN, NNFI_DT_F32), NNFI_DT_F32)));
    assert_true(isnan(nnfi_value_decode(nnfi_value_encode(NAN, NNFI_DT_F64), NNFI_DT_F64)));
}

static void test_encode_int(void **state)
{
    (void)state;
    check_encode(0.0, NNFI_DT_I8, 0x00);
    check_encode(1.0, NNFI_DT_I8, 0x01);
    check_encode(-1.0, NNFI_DT_I8, 0xff);
    check_encode(300.0, NNFI_DT_I8, 0x7f);
    check_encode(-300.0, NNFI_DT_I8, 0x80);
    check_encode(127.4, NNFI_DT_I8, 0x7f);
    check_encode(-128.0, NNFI_DT_I8, 0x80);
    check_encode(2.5, NNFI_DT_I8, 0x03);
    check_encode(-2.5, NNFI_DT_I8, 0xfd);
    check_encode(0.4, NNFI_DT_I8, 0x00);
    check_encode(-0.4, NNFI_DT_I8, 0x00);
    check_encode(NAN, NNFI_DT_I8, 0x00);
    check_encode(INFINITY, NNFI_DT_I8, 0x7f);
    check_encode(-INFINITY, NNFI_DT_I8, 0x80);
    check_encode(-5.0, NNFI_DT_U8, 0x00);
    check_encode(255.4, NNFI_DT_U8, 0xff);
    check_encode(300.0, NNFI_DT_U8, 0xff);
    check_encode(128.0, NNFI_DT_U8, 0x80);
    check_encode(0.5, NNFI_DT_U8, 0x01);
    check_encode(2.5, NNFI_DT_I32, 3);
    check_encode(-2.5, NNFI_DT_I32, 0xfffffffdull);
    check_encode(3.49, NNFI_DT_I32, 3);
    check_encode(-1.0, NNFI_DT_I32, 0xffffffffull);
    check_encode(1e20, NNFI_DT_I32, 0x7fffffffull);
    check_encode(-1e20, NNFI_DT_I32, 0x80000000ull);
    check_encode(2147483646.6, NNFI_DT_I32, 0x7fffffffull);
    check_encode(NAN, NNFI_DT_I32, 0);
    check_encode(2.5, NNFI_DT_I64, 3);
    check_encode(-1.0, NNFI_DT_I64, 0xffffffffffffffffull);
    check_encode(4294967296.0, NNFI_DT_I64, 0x100000000ull);
    check_encode(1e30, NNFI_DT_I64, 0x7ffffffffffffc00ull);
    check_encode(-1e30, NNFI_DT_I64, 0x8000000000000000ull);
    assert_true(nnfi_value_decode(0xffffffffffffffffull, NNFI_DT_I64) == -1.0);
    assert_true(nnfi_value_decode(0x100000000ull, NNFI_DT_I64) == 4294967296.0);
    assert_true(nnfi_value_decode(0x80, NNFI_DT_I8) == -128.0);
    assert_true(nnfi_value_decode(0x7f, NNFI_DT_I8) == 127.0);
    assert_true(nnfi_value_decode(0x80, NNFI_DT_U8) == 128.0);
    assert_true(nnfi_value_decode(0xffffffffull, NNFI_DT_I32) == -1.0);
    assert_true(nnfi_value_decode(0x80000000ull, NNFI_DT_I32) == -2147483648.0);
    assert_true(nnfi_value_decode(0, NNFI_DT_COUNT) == 0.0);
    /* integer words round trip exhaustively (int8, uint8) and at the edges (int32) */
    for (uint64_t w = 0; w < 256; w++) {
        assert_true(nnfi_value_encode(nnfi_value_decode(w, NNFI_DT_I8), NNFI_DT_I8) == w);
        assert_true(nnfi_value_encode(nnfi_value_decode(w, NNFI_DT_U8), NNFI_DT_U8) == w);
    }
    const uint64_t w32[] = {0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 0x12345678, 0xdeadbeef};
    for (size_t i = 0; i < sizeof w32 / sizeof w32[0]; i++)
        assert_true(nnfi_value_encode(nnfi_value_decode(w32[i], NNFI_DT_I32), NNFI_DT_I32) == w32[i]);
}

/* Round to NEAREST: the largest double below 0.5 (0.5 - 2^-54) is not a tie
 * and must give 0; v + 0.5 rounds to 1.0 in double, so adding 0.5 and
 * truncating gets it wrong. */
static void test_encode_int_below_half(void **state)
{
    (void)state;
    double v = nextafter(0.5, 0.0);
    assert_true(v == 0.49999999999999994);
    check_encode(v, NNFI_DT_I8, 0x00);
    check_encode(v, NNFI_DT_U8, 0x00);
    check_encode(-v, NNFI_DT_I32, 0x00);
    check_encode(nextafter(1.5, 0.0), NNFI_DT_I32, 0x01);
}

/* Exhaustive over 16-bit words: decode is exact (checked against an
 * independent formula), encode(decode(w)) == w for every non-NaN word, and
 * the midpoint between two neighbouring finite words rounds to the one with an
 * even mantissa while anything off the midpoint goes to the nearer one. */
static double ref_decode16(uint64_t w, unsigned eb, unsigned mb)
{
    int sign = (int)((w >> (eb + mb)) & 1);
    unsigned e = (unsigned)((w >> mb) & nnfi_low_mask(eb));
    double man = (double)(w & nnfi_low_mask(mb));
    int bias = (1 << (eb - 1)) - 1;
    double v;
    if (e == nnfi_low_mask(eb)) v = man != 0 ? NAN : INFINITY;
    else if (e == 0) v = ldexp(man, 1 - bias - (int)mb);
    else v = ldexp(man + ldexp(1, (int)mb), (int)e - bias - (int)mb);
    return sign ? -v : v;
}

static void check_exhaustive16(nnfi_dtype dt, unsigned eb, unsigned mb)
{
    uint64_t expmask = nnfi_low_mask(eb) << mb;
    uint64_t inf = expmask;
    for (uint64_t w = 0; w < 0x10000; w++) {
        int is_nan = (w & expmask) == expmask && (w & nnfi_low_mask(mb)) != 0;
        double d = nnfi_value_decode(w, dt);
        double r = ref_decode16(w, eb, mb);
        if (is_nan) {
            assert_true(isnan(d));
            uint64_t e = nnfi_value_encode(d, dt);
            assert_true((e & expmask) == expmask && (e & nnfi_low_mask(mb)) != 0);
            continue;
        }
        if (!(d == r && signbit(d) == signbit(r)))
            fail_msg("decode(0x%04llx) = %.17g, want %.17g", (unsigned long long)w, d, r);
        uint64_t back = nnfi_value_encode(d, dt);
        if (back != w)
            fail_msg("encode(decode(0x%04llx)) = 0x%04llx", (unsigned long long)w, (unsigned long long)back);
        /* rounding between w and w+1 (same sign, both finite or w+1 = inf) */
        uint64_t mag = w & (nnfi_low_mask(eb + mb));
        if (mag >= inf) continue;
        uint64_t w1 = w + 1;
        double d1 = nnfi_value_decode(w1, dt);
        if (mag + 1 == inf) {
            /* the overflow threshold: the midpoint to 2^(emax+1) */
            d1 = (d < 0 ? -1 : 1) * ldexp(1, (1 << (eb - 1)));
        }
        double mid = (d + d1) / 2; /* exact: 16-bit formats have few mantissa bits */
        uint64_t even = (w & 1) ? w1 : w;
        check_encode(mid, dt, even);
        double below = nextafter(mid, d), above = nextafter(mid, d1);
        check_encode(below, dt, w);
        check_encode(above, dt, w1);
    }
}

static void test_exhaustive_f16(void **state)
{
    (void)state;
    check_exhaustive16(NNFI_DT_F16, 5, 10);
}

static void test_exhaustive_bf16(void **state)
{
    (void)state;
    check_exhaustive16(NNFI_DT_BF16, 8, 7);
    /* bf16 is the top half of an fp32: decode agrees with the fp32 view */
    for (uint64_t w = 0; w < 0x10000; w++) {
        double d = nnfi_value_decode(w, NNFI_DT_BF16);
        double f = nnfi_value_decode(w << 16, NNFI_DT_F32);
        assert_true((isnan(d) && isnan(f)) || (d == f && signbit(d) == signbit(f)));
    }
}

#if defined(__FLT16_MAX__) && defined(__GNUC__)
/* The compiler's own _Float16 conversions (correctly rounded) as a reference. */
static void test_f16_vs_compiler(void **state)
{
    (void)state;
    for (uint32_t w = 0; w < 0x10000; w++) {
        uint16_t u = (uint16_t)w;
        _Float16 h;
        memcpy(&h, &u, 2);
        double d = (double)h;
        double mine = nnfi_value_decode(w, NNFI_DT_F16);
        assert_true((isnan(d) && isnan(mine)) || (d == mine && signbit(d) == signbit(mine)));
    }
    uint64_t s = 4242;
    for (int n = 0; n < 200000; n++) {
        /* doubles spread over fp16's range and a bit beyond, both signs */
        uint64_t r = nnfi_splitmix64(&s);
        double v = ldexp((double)(r >> 11) / 9007199254740992.0, (int)(r % 60) - 40);
        if (r & 1024) v = -v;
        _Float16 h = (_Float16)v;
        uint16_t u;
        memcpy(&u, &h, 2);
        check_encode(v, NNFI_DT_F16, u);
    }
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype_widths),
        cmocka_unit_test(test_ops_restore_all),
        cmocka_unit_test(test_op_algebra),
        cmocka_unit_test(test_load_store),
        cmocka_unit_test(test_presets),
        cmocka_unit_test(test_encode_f16),
        cmocka_unit_test(test_encode_bf16),
        cmocka_unit_test(test_encode_nan_payloads),
        cmocka_unit_test(test_encode_f32_f64),
        cmocka_unit_test(test_encode_int),
        cmocka_unit_test(test_encode_int_below_half),
        cmocka_unit_test(test_exhaustive_f16),
        cmocka_unit_test(test_exhaustive_bf16),
#if defined(__FLT16_MAX__) && defined(__GNUC__)
        cmocka_unit_test(test_f16_vs_compiler),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
