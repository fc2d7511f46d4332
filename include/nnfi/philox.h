/* philox.h - Philox4x32-10 counter-based random generator (Salmon et al.,
 * "Parallel random numbers: as easy as 1, 2, 3", SC'11), header-only and
 * __host__ __device__, so CPU and GPU draw identical numbers.
 *
 * A draw is a pure function of a 128-bit counter and a 64-bit key: there is no
 * state to carry, split or checkpoint. nnfi keys it with the campaign seed and
 * puts (draw, fault, trial, experiment|group|point) in the counter; see
 * sampler.h. Checked against the Random123 known-answer vectors in
 * tests/unit/test_philox.c.
 */
#ifndef NNFI_PHILOX_H
#define NNFI_PHILOX_H

#include <stdint.h>

#include "nnfi/fault_bits.h" /* NNFI_HD */

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_philox_ctr { uint32_t v[4]; } nnfi_philox_ctr;
typedef struct nnfi_philox_key { uint32_t v[2]; } nnfi_philox_key;

NNFI_HD void nnfi_mul32(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo)
{
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

/* Philox4x32 with 10 rounds. */
NNFI_HD nnfi_philox_ctr nnfi_philox4x32_10(nnfi_philox_ctr c, nnfi_philox_key k)
{
    const uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;
    const uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;
    for (int r = 0; r < 10; r++) {
        if (r > 0) {
            k.v[0] += W0;
            k.v[1] += W1;
        }
        uint32_t hi0, lo0, hi1, lo1;
        nnfi_mul32(M0, c.v[0], &hi0, &lo0);
        nnfi_mul32(M1, c.v[2], &hi1, &lo1);
        nnfi_philox_ctr n;
        n.v[0] = hi1 ^ c.v[1] ^ k.v[0];
        n.v[1] = lo1;
        n.v[2] = hi0 ^ c.v[3] ^ k.v[1];
        n.v[3] = lo0;
        c = n;
    }
    return c;
}

/* High 64 bits of a 64x64 product: maps a uniform 64-bit word onto [0, n). */
NNFI_HD uint64_t nnfi_mulhi64(uint64_t a, uint64_t b)
{
#if defined(__CUDA_ARCH__)
    return __umul64hi(a, b);
#elif defined(__SIZEOF_INT128__)
    return (uint64_t)(((unsigned __int128)a * b) >> 64);
#else
    uint64_t a0 = (uint32_t)a, a1 = a >> 32, b0 = (uint32_t)b, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (uint32_t)p01 + (uint32_t)p10;
    return p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
#endif
}

/* Two words as one 64-bit word, and 53 of them as a double in [0, 1). */
NNFI_HD uint64_t nnfi_u64_of(uint32_t lo, uint32_t hi) { return ((uint64_t)hi << 32) | lo; }
NNFI_HD double nnfi_unit_double(uint64_t u) { return (double)(u >> 11) * (1.0 / 9007199254740992.0); }

#ifdef __cplusplus
}
#endif
#endif /* NNFI_PHILOX_H */
