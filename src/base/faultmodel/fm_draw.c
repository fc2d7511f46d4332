/* fm_draw.c - one occurrence of a fault model as a pure function of (model,
 * key, counter words 1..3, shape): which pattern, which parameter set, which
 * value mix (draws 0 and 11), the realized geometry (fm_geometry.c), then per
 * candidate element i one Philox draw (32 + i): word 0 decides whether the
 * fill keeps it (selection sampling: exactly the kept count per channel, in
 * ascending order), word 1 its value class, words 2-3 its 64-bit value word
 * (the bit of a bitflip, or the input of nnfi_fm_value). No allocation, no
 * floating point in the draw itself.
 */
#include "fm_internal.h"

#include <string.h>

static nnfi_philox_ctr at(nnfi_philox_ctr ctr, uint32_t draw)
{
    ctr.v[0] = draw;
    return ctr;
}

/* First entry whose threshold is above u (entries `stride` bytes apart);
 * `last` when none is (u at the very top). */
static uint32_t pick64(const uint64_t *thr, size_t stride, uint32_t n, uint64_t u)
{
    for (uint32_t i = 0; i < n; i++)
        if (u < *(const uint64_t *)((const char *)thr + i * stride)) return i;
    /* every threshold of the last positive entry onwards is UINT64_MAX: u == UINT64_MAX */
    for (uint32_t i = 0; i < n; i++)
        if (*(const uint64_t *)((const char *)thr + i * stride) == UINT64_MAX) return i;
    return n - 1;
}

static int can_bitflip(const nnfi_fm_pattern *pt)
{
    for (uint32_t m = 0; m < pt->n_mixes; m++)
        if (pt->mixes[m].share[NNFI_FM_BITFLIP] > 0 || pt->mixes[m].ranged == NNFI_FM_BITFLIP) return 1;
    return 0;
}

/* The class of one element from its class word. */
static uint8_t element_class(const nnfi_fm_mix *mx, uint64_t ranged_t, uint32_t w)
{
    if (mx->ranged >= 0) {
        if (w < ranged_t) return (uint8_t)mx->ranged;
        /* rescale what is left of [ranged_t, 2^32) onto [0, 2^32) */
        w = (uint32_t)((((uint64_t)w - ranged_t) << 32) / (((uint64_t)1 << 32) - ranged_t)); /* here ranged_t <= w < 2^32 */
    }
    for (int c = 0; c < NNFI_FM_CLASS_COUNT; c++)
        if (w < mx->class_thr[c]) return (uint8_t)c;
    for (int c = 0; c < NNFI_FM_CLASS_COUNT; c++)
        if (mx->class_thr[c] == UINT32_MAX) return (uint8_t)c;
    return NNFI_FM_CLASS_COUNT - 1;
}

nnfi_status nnfi_fm_draw(const nnfi_fault_model *fm, nnfi_philox_key key, nnfi_philox_ctr ctr,
                         const nnfi_fm_shape *shape, nnfi_fm_occurrence *occ)
{
    if (!fm || !fm->patterns || fm->n_patterns == 0 || !shape || !occ)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_fm_draw: no model, shape or occurrence\n  hint: load a model first");
    if (shape->c < 1 || shape->h < 1 || shape->w < 1 || shape->c > UINT32_MAX || shape->h > UINT32_MAX ||
        shape->w > UINT32_MAX || shape->c * shape->h * shape->w > (uint64_t)UINT32_MAX - FM_DRAW_ELEM0)
        return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: tensor view [%llu, %llu, %llu] is empty or has 2^32 - 32 "
                         "elements or more\n  hint: fault models apply to one sample's tensor; each extent >= 1",
                         fm->name, (unsigned long long)shape->c, (unsigned long long)shape->h,
                         (unsigned long long)shape->w);
    unsigned width = nnfi_dtype_bits(shape->dtype);
    if (width == 0)
        return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: unknown dtype %d\n  hint: an nnfi_dtype", fm->name,
                         (int)shape->dtype);

    nnfi_philox_ctr w0 = nnfi_philox4x32_10(at(ctr, FM_DRAW_SELECT), key);
    uint32_t pi = pick64(&fm->patterns[0].thr, sizeof fm->patterns[0], fm->n_patterns, nnfi_u64_of(w0.v[0], w0.v[1]));
    const nnfi_fm_pattern *pt = &fm->patterns[pi];
    uint32_t si = pick64(&pt->sets[0].thr, sizeof pt->sets[0], pt->n_sets, nnfi_u64_of(w0.v[2], w0.v[3]));
    nnfi_philox_ctr wm = nnfi_philox4x32_10(at(ctr, FM_DRAW_MIX), key);
    uint32_t mi = pick64(&pt->mixes[0].thr, sizeof pt->mixes[0], pt->n_mixes, nnfi_u64_of(wm.v[0], wm.v[1]));
    const nnfi_fm_mix *mx = &pt->mixes[mi];
    uint32_t ranged_bp = 0;
    uint64_t ranged_t = 0;
    if (mx->ranged >= 0) {
        uint64_t span = (uint64_t)mx->ranged_hi_bp - mx->ranged_lo_bp + 1;
        ranged_bp = mx->ranged_lo_bp + (uint32_t)(((uint64_t)wm.v[2] * span) >> 32);
        ranged_t = ((uint64_t)ranged_bp << 32) / 10000; /* 10000 bp: 2^32, every element */
    }
    occ->pattern = pi;
    occ->set = si;
    occ->mix = mi;
    occ->ranged_bp = ranged_bp;
    occ->kind = pt->kind;
    NNFI_TRY(nnfi_fm_realize(pt, si, key, ctr, shape, &occ->site));
    const nnfi_fm_site *s = &occ->site;
    occ->n = nnfi_fm_site_count(s);
    if (!pt->bit_uniform && pt->max_bit >= (int)width && can_bitflip(pt))
        return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u (%s) flips bit %d, but a %s element has %u "
                         "bits\n  hint: give this tensor a model whose bits are below %u",
                         fm->name, pi, nnfi_fm_kind_name(pt->kind), pt->max_bit,
                         shape->dtype == NNFI_DT_F16 || shape->dtype == NNFI_DT_BF16 ? "16-bit" : "narrower",
                         width, width);
    if (occ->n > occ->cap || !occ->elems)
        return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: the occurrence has %llu elements, the array holds %llu\n"
                         "  hint: call again with cap >= occ->n (the draw is the same)", fm->name,
                         (unsigned long long)occ->n, (unsigned long long)occ->cap);

    const uint64_t g = fm_site_group_size(s), keep = fm_site_group_keep(s);
    uint64_t out = 0;
    for (uint64_t ch = 0; ch < s->nc; ch++) {
        uint64_t need = keep, left = g;
        for (uint64_t j = 0; j < g && need > 0; j++, left--) {
            uint64_t i = ch * g + j;
            nnfi_philox_ctr w = nnfi_philox4x32_10(at(ctr, FM_DRAW_ELEM0 + (uint32_t)i), key);
            /* keep with probability need / left: exactly `keep` of the g, uniformly */
            if (need < left && (((uint64_t)w.v[0] * left) >> 32) >= need) continue;
            need--;
            uint8_t cls = element_class(mx, ranged_t, w.v[1]);
            uint64_t word = nnfi_u64_of(w.v[2], w.v[3]);
            if (cls == NNFI_FM_BITFLIP) {
                unsigned bit = pt->bit_uniform ? (unsigned)nnfi_mulhi64(word, width)
                                               : pick64(pt->bit_thr, sizeof pt->bit_thr[0], NNFI_FM_MAX_BITS, word);
                word = (uint64_t)1 << bit;
            }
            occ->elems[out] = nnfi_fm_site_candidate(s, i);
            if (occ->classes) occ->classes[out] = cls;
            if (occ->words) occ->words[out] = word;
            out++;
        }
    }
    occ->n = out;
    return NNFI_OK;
}

/* Multiply with one rounding on every device: nvcc would otherwise contract
 * a * b + c into an FMA on the GPU. */
#if defined(__CUDA_ARCH__)
#define FM_MUL(a, b) __dmul_rn((a), (b))
#define FM_ADD(a, b) __dadd_rn((a), (b))
#else
#define FM_MUL(a, b) ((a) * (b))
#define FM_ADD(a, b) ((a) + (b))
#endif

double nnfi_fm_value(nnfi_fm_class cls, uint64_t word, double min, double max)
{
    switch (cls) {
    case NNFI_FM_RANDOM_IN_RANGE: {
        double f = (double)(word >> 12) * (1.0 / 4503599627370496.0); /* [0, 1), 52 bits */
        double r = FM_ADD(min, FM_MUL(max - min, f));
        return r > max ? max : r;
    }
    case NNFI_FM_OUT_OF_RANGE: {
        double a = min < 0 ? -min : min, b = max < 0 ? -max : max;
        double A = a > b ? a : b;
        if (!(A > 0) || A > 1e300) A = 1; /* an all-zero (or non-finite) golden tensor: scale 1 */
        double f = (double)((word >> 12) + 1) * (1.0 / 4503599627370496.0); /* (0, 1] */
        double m = FM_MUL(A, (1.0 + f) * (double)(1u << (word & 7)));      /* (A, 256 A]; (1+f)*2^e is exact */
        return (word >> 3) & 1 ? -m : m;
    }
    case NNFI_FM_ZERO: return 0.0;
    case NNFI_FM_NAN: {
        uint64_t q = 0x7ff8000000000000ull;
        double d;
        memcpy(&d, &q, sizeof d);
        return d;
    }
    case NNFI_FM_INF: {
        uint64_t q = (word & 1) ? 0xfff0000000000000ull : 0x7ff0000000000000ull;
        double d;
        memcpy(&d, &q, sizeof d);
        return d;
    }
    default: return 0.0; /* bitflip has no value: its word is the mask */
    }
}
