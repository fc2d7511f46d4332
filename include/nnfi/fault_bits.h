/* fault_bits.h - the bit-level fault primitives shared by the CPU engine and
 * the CUDA kernels (one header, C11 and CUDA C).
 *
 * Everything here is a pure, header-only function of its arguments, marked
 * __host__ __device__ when compiled by nvcc, so the CPU backend and the GPU
 * kernels compute bit-identical results. Tensor elements are handled as raw
 * words ("element views"): an element of any dtype is loaded into the low bits
 * of a uint64_t, changed with a mask, and stored back. Type punning goes
 * through memcpy, which compilers lower to a single load/store.
 *
 * Ops, on the bits selected by `mask` (the other bits never change):
 *   FLIP    w ^ mask            (twice is the identity)
 *   STUCK0  w & ~mask           (idempotent)
 *   STUCK1  w | mask            (idempotent)
 *   RANDOM  (w & ~mask) | (value & mask), value = random word from the sampler
 *   SET     (w & ~mask) | (value & mask), value = a number encoded in the dtype
 */
#ifndef NNFI_FAULT_BITS_H
#define NNFI_FAULT_BITS_H

#include <stdint.h>
#include <string.h>

#include "nnfi/categories.h"

#if defined(__CUDACC__)
#define NNFI_HD static inline __host__ __device__
#else
#define NNFI_HD static inline
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Element types a site can have. Quantized tensors are faulted through their
 * integer representation (int8/uint8), int32 covers biases and indices,
 * int64 the token ids a language model takes as input. */
typedef enum nnfi_dtype {
    NNFI_DT_F32 = 0,
    NNFI_DT_F16 = 1,
    NNFI_DT_BF16 = 2,
    NNFI_DT_F64 = 3,
    NNFI_DT_I8 = 4,
    NNFI_DT_U8 = 5,
    NNFI_DT_I32 = 6,
    NNFI_DT_I64 = 7,
    NNFI_DT_COUNT = 8
} nnfi_dtype;

/* the operations (categories.h) */
typedef enum nnfi_op { NNFI_OP_VALUES(NNFI_ENUM_MEMBER) NNFI_OP_COUNT } nnfi_op;

/* dtype-aware bit fields */
typedef enum nnfi_bit_preset {
    NNFI_BITS_ALL = 0,      /* every bit of the element */
    NNFI_BITS_SIGN = 1,     /* the sign bit (floats and signed integers) */
    NNFI_BITS_EXPONENT = 2, /* floats only */
    NNFI_BITS_MANTISSA = 3, /* floats only (the stored fraction) */
    NNFI_BITS_PRESET_COUNT = 4
} nnfi_bit_preset;

/* Width of an element in bits (8, 16, 32 or 64). */
NNFI_HD unsigned nnfi_dtype_bits(nnfi_dtype dt)
{
    switch (dt) {
    case NNFI_DT_F32: return 32;
    case NNFI_DT_F16: return 16;
    case NNFI_DT_BF16: return 16;
    case NNFI_DT_F64: return 64;
    case NNFI_DT_I8: return 8;
    case NNFI_DT_U8: return 8;
    case NNFI_DT_I32: return 32;
    case NNFI_DT_I64: return 64;
    default: return 0;
    }
}

NNFI_HD int nnfi_dtype_is_float(nnfi_dtype dt)
{
    return dt == NNFI_DT_F32 || dt == NNFI_DT_F16 || dt == NNFI_DT_BF16 ||
           dt == NNFI_DT_F64;
}

/* Exponent and stored-mantissa widths of the float dtypes (0 for integers). */
NNFI_HD unsigned nnfi_dtype_exp_bits(nnfi_dtype dt)
{
    switch (dt) {
    case NNFI_DT_F32: return 8;
    case NNFI_DT_F16: return 5;
    case NNFI_DT_BF16: return 8;
    case NNFI_DT_F64: return 11;
    default: return 0;
    }
}

NNFI_HD unsigned nnfi_dtype_man_bits(nnfi_dtype dt)
{
    switch (dt) {
    case NNFI_DT_F32: return 23;
    case NNFI_DT_F16: return 10;
    case NNFI_DT_BF16: return 7;
    case NNFI_DT_F64: return 52;
    default: return 0;
    }
}

/* Mask with the low n bits set (n in 0..64). */
NNFI_HD uint64_t nnfi_low_mask(unsigned n)
{
    return n >= 64 ? ~(uint64_t)0 : (((uint64_t)1 << n) - 1);
}

/* The bits of a preset for a dtype; 0 when the preset does not exist for it
 * (exponent/mantissa of an integer, sign of uint8). */
NNFI_HD uint64_t nnfi_preset_mask(nnfi_dtype dt, nnfi_bit_preset p)
{
    unsigned w = nnfi_dtype_bits(dt);
    unsigned m = nnfi_dtype_man_bits(dt);
    unsigned e = nnfi_dtype_exp_bits(dt);
    switch (p) {
    case NNFI_BITS_ALL: return nnfi_low_mask(w);
    case NNFI_BITS_SIGN: return dt == NNFI_DT_U8 ? 0 : (uint64_t)1 << (w - 1);
    case NNFI_BITS_EXPONENT: return nnfi_low_mask(e) << m;
    case NNFI_BITS_MANTISSA: return nnfi_low_mask(m);
    default: return 0;
    }
}

/* Load element i of a tensor as a raw word in the low bits. */
NNFI_HD uint64_t nnfi_elem_load(const void *base, nnfi_dtype dt, uint64_t i)
{
    const unsigned char *p = (const unsigned char *)base;
    switch (nnfi_dtype_bits(dt)) {
    case 8: return p[i];
    case 16: { uint16_t v; memcpy(&v, p + 2 * i, 2); return v; }
    case 32: { uint32_t v; memcpy(&v, p + 4 * i, 4); return v; }
    default: { uint64_t v; memcpy(&v, p + 8 * i, 8); return v; }
    }
}

/* Store the low bits of a raw word into element i. */
NNFI_HD void nnfi_elem_store(void *base, nnfi_dtype dt, uint64_t i, uint64_t w)
{
    unsigned char *p = (unsigned char *)base;
    switch (nnfi_dtype_bits(dt)) {
    case 8: p[i] = (unsigned char)w; break;
    case 16: { uint16_t v = (uint16_t)w; memcpy(p + 2 * i, &v, 2); break; }
    case 32: { uint32_t v = (uint32_t)w; memcpy(p + 4 * i, &v, 4); break; }
    default: memcpy(p + 8 * i, &w, 8); break;
    }
}

/* The op applied to one word. The result keeps the bits outside `mask`. */
NNFI_HD uint64_t nnfi_bits_apply(uint64_t w, nnfi_op op, uint64_t mask, uint64_t value)
{
    switch (op) {
    case NNFI_OP_FLIP: return w ^ mask;
    case NNFI_OP_STUCK0: return w & ~mask;
    case NNFI_OP_STUCK1: return w | mask;
    case NNFI_OP_RANDOM:
    case NNFI_OP_SET: return (w & ~mask) | (value & mask);
    default: return w;
    }
}

/* Round-to-nearest-even encoding of a double into an IEEE binary format with
 * `eb` exponent and `mb` mantissa bits (eb < 11: fp16, bf16, fp32). NaN stays
 * a quiet NaN, overflow gives infinity, tiny values give signed subnormals or
 * zero. */
NNFI_HD uint64_t nnfi_fp_encode(double v, unsigned eb, unsigned mb)
{
    uint64_t x;
    memcpy(&x, &v, 8);
    uint64_t sign = (x >> 63) << (eb + mb);
    int exp = (int)((x >> 52) & 0x7ff);
    uint64_t man = x & nnfi_low_mask(52);
    uint64_t expmax = nnfi_low_mask(eb);
    if (exp == 0x7ff)
        return sign | (expmax << mb) | (man ? ((uint64_t)1 << (mb - 1)) | (man >> (52 - mb)) : 0);
    if (exp == 0) return sign; /* double subnormals are far below every target's range */
    int bias = (1 << (eb - 1)) - 1;
    int e = exp - 1023 + bias;
    if (e >= (int)expmax) return sign | (expmax << mb);
    uint64_t full, base;
    unsigned shift;
    if (e <= 0) {
        int s = 53 - (int)mb - e;
        if (s > 63) return sign;
        shift = (unsigned)s;
        full = man | ((uint64_t)1 << 52);
        base = 0;
    } else {
        shift = 52 - mb;
        full = man;
        base = (uint64_t)e << mb;
    }
    uint64_t r = base | (full >> shift);
    uint64_t rem = full & nnfi_low_mask(shift);
    uint64_t half = (uint64_t)1 << (shift - 1);
    if (rem > half || (rem == half && (r & 1))) r++; /* a carry rolls into the exponent: correct */
    return sign | r;
}

/* Decode an IEEE binary format word (eb < 11) to double (exact). */
NNFI_HD double nnfi_fp_decode(uint64_t w, unsigned eb, unsigned mb)
{
    uint64_t sign = (w >> (eb + mb)) & 1;
    uint64_t exp = (w >> mb) & nnfi_low_mask(eb);
    uint64_t man = w & nnfi_low_mask(mb);
    int bias = (1 << (eb - 1)) - 1;
    uint64_t x;
    if (exp == nnfi_low_mask(eb)) {
        x = ((uint64_t)0x7ff << 52) | (man << (52 - mb));
    } else if (exp == 0) {
        /* subnormal or zero: man * 2^(1 - bias - mb), exact in double */
        double d = (double)man;
        int k = 1 - bias - (int)mb;
        while (k < 0) { d *= 0.5; k++; }
        return sign ? -d : d;
    } else {
        x = ((uint64_t)((int)exp - bias + 1023) << 52) | (man << (52 - mb));
    }
    x |= sign << 63;
    double d;
    memcpy(&d, &x, 8);
    return d;
}

/* A number encoded as a word of dtype dt (for NNFI_OP_SET). Integers round to
 * nearest and saturate; NaN becomes 0 for integers. */
NNFI_HD uint64_t nnfi_value_encode(double v, nnfi_dtype dt)
{
    switch (dt) {
    case NNFI_DT_F32: { float f = (float)v; uint32_t u; memcpy(&u, &f, 4); return u; }
    case NNFI_DT_F64: { uint64_t u; memcpy(&u, &v, 8); return u; }
    case NNFI_DT_F16: return nnfi_fp_encode(v, 5, 10);
    case NNFI_DT_BF16: return nnfi_fp_encode(v, 8, 7);
    default: break;
    }
    double lo, hi;
    if (dt == NNFI_DT_I8) { lo = -128; hi = 127; }
    else if (dt == NNFI_DT_U8) { lo = 0; hi = 255; }
    else if (dt == NNFI_DT_I64) { lo = -9223372036854775808.0; hi = 9223372036854774784.0; } /* largest double < 2^63 */
    else { lo = -2147483648.0; hi = 2147483647.0; }
    if (!(v == v)) v = 0;
    if (v < lo) v = lo;
    if (v > hi) v = hi;
    int64_t i = (int64_t)v;      /* truncation is exact: |v| < 2^63 */
    double frac = v - (double)i; /* exact too; adding 0.5 first would round 0.49999999999999994 up */
    if (frac >= 0.5) i++;        /* half away from zero */
    else if (frac <= -0.5) i--;
    return (uint64_t)i & nnfi_low_mask(nnfi_dtype_bits(dt));
}

/* The number a word of dtype dt holds (for display and tests). */
NNFI_HD double nnfi_value_decode(uint64_t w, nnfi_dtype dt)
{
    switch (dt) {
    case NNFI_DT_F32: { uint32_t u = (uint32_t)w; float f; memcpy(&f, &u, 4); return f; }
    case NNFI_DT_F64: { double d; memcpy(&d, &w, 8); return d; }
    case NNFI_DT_F16: return nnfi_fp_decode(w, 5, 10);
    case NNFI_DT_BF16: return nnfi_fp_decode(w, 8, 7);
    case NNFI_DT_I8: return (double)(int8_t)(uint8_t)w;
    case NNFI_DT_U8: return (double)(uint8_t)w;
    case NNFI_DT_I32: return (double)(int32_t)(uint32_t)w;
    case NNFI_DT_I64: return (double)(int64_t)w;
    default: return 0;
    }
}

#ifdef __cplusplus
}
#endif
#endif /* NNFI_FAULT_BITS_H */
