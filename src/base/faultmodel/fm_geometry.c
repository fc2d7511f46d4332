/* fm_geometry.c - a pattern's geometry: a parameter set and counter-based
 * draws -> a realized site (nnfi_fm_realize), and a site -> its candidate
 * element indices (nnfi_fm_site_candidate) and how many of them each channel
 * keeps. The rules per kind are in include/nnfi/fault_model.h; everything here
 * is integer arithmetic on the shape, with no allocation, so the same code can
 * later run in a CUDA kernel.
 *
 * Draws (counter word 0): parameter slot s uses draw FM_DRAW_PARAM0 + s/2,
 * words 2(s%2) (which choice) and 2(s%2)+1 (the value in it); placement word
 * j (a 64-bit uniform) is draw FM_DRAW_PLACE + j/2, words 2(j%2), 2(j%2)+1.
 */
#include "fm_internal.h"

#include <string.h>

enum { PL_STRIDE, PL_C0, PL_POS, PL_POS2, PL_STEP, PL_LEN, PL_TILE_R, PL_TILE_C };

static nnfi_philox_ctr at(nnfi_philox_ctr ctr, uint32_t draw)
{
    ctr.v[0] = draw;
    return ctr;
}

static uint64_t place_word(nnfi_philox_key key, nnfi_philox_ctr ctr, uint32_t j)
{
    nnfi_philox_ctr w = nnfi_philox4x32_10(at(ctr, FM_DRAW_PLACE + j / 2), key);
    return nnfi_u64_of(w.v[2 * (j % 2)], w.v[2 * (j % 2) + 1]);
}

/* Uniform integer in [lo, hi] from placement word j. */
static uint64_t uniform(nnfi_philox_key key, nnfi_philox_ctr ctr, uint32_t j, uint64_t lo, uint64_t hi)
{
    if (hi <= lo) return lo;
    return lo + nnfi_mulhi64(place_word(key, ctr, j), hi - lo + 1);
}

/* The drawn value of parameter p (0 when not given). */
static uint64_t pval(const nnfi_fm_pset *set, nnfi_fm_param p, nnfi_philox_key key, nnfi_philox_ctr ctr)
{
    const nnfi_fm_pdist *d = &set->p[p];
    if (d->n == 0) return 0;
    nnfi_philox_ctr w = nnfi_philox4x32_10(at(ctr, FM_DRAW_PARAM0 + (uint32_t)p / 2), key);
    uint32_t wc = w.v[2 * (p % 2)], wv = w.v[2 * (p % 2) + 1];
    uint32_t i = d->n == 1 ? 0 : (uint32_t)(((uint64_t)wc * d->n) >> 32);
    uint64_t span = (uint64_t)d->hi[i] - d->lo[i] + 1;
    return d->lo[i] + (((uint64_t)wv * span) >> 32);
}

static int has(const nnfi_fm_pset *set, nnfi_fm_param p) { return set->p[p].n != 0; }

/* round(n * bp / 10000), half up */
static uint64_t pct_of(uint64_t n, uint64_t bp) { return (n * bp + 5000) / 10000; }

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static uint64_t max64(uint64_t a, uint64_t b) { return a > b ? a : b; }

/* A stride from `fixed` or [min_p, max_p] (default def), and a count n of
 * items at that stride that must fit in `axis`: n is first capped by what fits
 * at the smallest stride, raised to `at_least`, then the stride is reduced
 * until the n items fit. */
static void fit_stride(const nnfi_fm_pset *set, nnfi_fm_param fixed, nnfi_fm_param min_p, nnfi_fm_param max_p,
                       uint64_t def, uint64_t axis, uint64_t at_least, nnfi_philox_key key, nnfi_philox_ctr ctr,
                       uint64_t *n, uint64_t *stride)
{
    uint64_t lo, hi;
    if (has(set, fixed)) {
        lo = hi = pval(set, fixed, key, ctr);
    } else if (has(set, min_p) || has(set, max_p)) {
        lo = has(set, min_p) ? pval(set, min_p, key, ctr) : 1;
        hi = has(set, max_p) ? pval(set, max_p, key, ctr) : lo;
        if (hi < lo) hi = lo;
    } else {
        lo = hi = def;
    }
    if (lo < 1) lo = 1;
    if (hi < lo) hi = lo;
    uint64_t c = min64(max64(*n, 1), axis);
    c = min64(c, (axis - 1) / lo + 1);
    c = max64(c, min64(at_least, axis));
    uint64_t s = uniform(key, ctr, fixed == NNFI_FMP_SKIP ? PL_STRIDE : PL_STEP, lo, hi);
    if (c > 1 && s > (axis - 1) / (c - 1)) s = (axis - 1) / (c - 1);
    if (c <= 1) s = 1;
    *n = c;
    *stride = s;
}

static void channels(const nnfi_fm_pset *set, uint64_t C, uint64_t def_skip, nnfi_philox_key key,
                     nnfi_philox_ctr ctr, nnfi_fm_site *s)
{
    uint64_t n = has(set, NNFI_FMP_CHANNELS) ? pval(set, NNFI_FMP_CHANNELS, key, ctr)
                                             : pct_of(C, pval(set, NNFI_FMP_CHANNELS_PCT, key, ctr));
    if (has(set, NNFI_FMP_MAX_CHANNELS)) n = min64(n, pval(set, NNFI_FMP_MAX_CHANNELS, key, ctr));
    uint64_t at_least = has(set, NNFI_FMP_MIN_CHANNELS) ? pval(set, NNFI_FMP_MIN_CHANNELS, key, ctr) : 1;
    fit_stride(set, NNFI_FMP_SKIP, NNFI_FMP_MIN_SKIP, NNFI_FMP_MAX_SKIP, def_skip, C, at_least, key, ctr, &n,
               &s->cstride);
    s->nc = n;
    s->c0 = uniform(key, ctr, PL_C0, 0, C - 1 - (n - 1) * s->cstride);
}

/* A length along an axis of `axis` elements (default: the whole axis). */
static uint64_t length(const nnfi_fm_pset *set, uint64_t axis, nnfi_philox_key key, nnfi_philox_ctr ctr)
{
    uint64_t L;
    int capped = 0;
    if (has(set, NNFI_FMP_LENGTH)) {
        L = pval(set, NNFI_FMP_LENGTH, key, ctr);
        capped = 1;
    } else if (has(set, NNFI_FMP_LENGTH_PCT)) {
        L = pct_of(axis, pval(set, NNFI_FMP_LENGTH_PCT, key, ctr));
        capped = 1;
    } else if (has(set, NNFI_FMP_MIN_LENGTH)) {
        uint64_t lo = pval(set, NNFI_FMP_MIN_LENGTH, key, ctr);
        uint64_t hi = has(set, NNFI_FMP_MAX_LENGTH) ? pval(set, NNFI_FMP_MAX_LENGTH, key, ctr) : lo;
        if (hi < lo) hi = lo;
        L = uniform(key, ctr, PL_LEN, lo, hi);
    } else {
        L = axis;
        capped = 1;
    }
    if (capped && has(set, NNFI_FMP_MAX_LENGTH)) L = min64(L, pval(set, NNFI_FMP_MAX_LENGTH, key, ctr));
    return min64(max64(L, 1), axis);
}

nnfi_status nnfi_fm_realize(const nnfi_fm_pattern *pat, uint32_t set_i, nnfi_philox_key key, nnfi_philox_ctr ctr,
                            const nnfi_fm_shape *shape, nnfi_fm_site *s)
{
    if (!pat || !shape || !s || set_i >= pat->n_sets)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_fm_realize: bad arguments\n  hint: a finalized model's pattern and set");
    if (shape->c < 1 || shape->h < 1 || shape->w < 1)
        return NNFI_FAIL(NNFI_E_INVALID, "fault model: tensor view [%llu, %llu, %llu] has a zero extent\n  hint: "
                         "view a 1-D tensor as {c=1, h=1, w=n}", (unsigned long long)shape->c,
                         (unsigned long long)shape->h, (unsigned long long)shape->w);
    const nnfi_fm_pset *set = &pat->sets[set_i];
    const uint64_t C = shape->c, H = shape->h, W = shape->w, P = H * W, N = C * P;
    memset(s, 0, sizeof *s);
    s->c0 = 0;
    s->nc = 1;
    s->cstride = 1;
    s->plane = P;
    s->nrows = 1;
    s->rstride = 1;
    s->np = 1;
    s->pstride = 1;
    s->fill_bp = has(set, NNFI_FMP_FILL_PCT) ? (uint32_t)pval(set, NNFI_FMP_FILL_PCT, key, ctr) : 10000;
    uint64_t L, step;
    switch (pat->kind) {
    case NNFI_FM_SINGLE:
        s->plane = N;
        s->p0 = uniform(key, ctr, PL_POS, 0, N - 1);
        break;
    case NNFI_FM_SAME_ROW: {
        s->c0 = uniform(key, ctr, PL_C0, 0, C - 1);
        uint64_t h = uniform(key, ctr, PL_POS, 0, H - 1);
        L = length(set, W, key, ctr);
        fit_stride(set, NNFI_FMP_STEP, NNFI_FMP_MIN_STEP, NNFI_FMP_MAX_STEP, 1, W, 1, key, ctr, &L, &step);
        s->p0 = h * W + uniform(key, ctr, PL_POS2, 0, W - 1 - (L - 1) * step);
        s->np = L;
        s->pstride = step;
        break;
    }
    case NNFI_FM_SAME_COLUMN: {
        s->c0 = uniform(key, ctr, PL_C0, 0, C - 1);
        uint64_t w = uniform(key, ctr, PL_POS, 0, W - 1);
        L = length(set, H, key, ctr);
        fit_stride(set, NNFI_FMP_STEP, NNFI_FMP_MIN_STEP, NNFI_FMP_MAX_STEP, 1, H, 1, key, ctr, &L, &step);
        s->p0 = uniform(key, ctr, PL_POS2, 0, H - 1 - (L - 1) * step) * W + w;
        s->nrows = L;
        s->rstride = step * W;
        break;
    }
    case NNFI_FM_BULLET_WAKE:
        channels(set, C, 1, key, ctr, s);
        s->p0 = uniform(key, ctr, PL_POS, 0, P - 1);
        break;
    case NNFI_FM_SINGLE_BLOCK:
        s->plane = N;
        L = length(set, N, key, ctr);
        s->p0 = uniform(key, ctr, PL_POS, 0, N - L);
        s->np = L;
        break;
    case NNFI_FM_MULTI_CHANNEL_BLOCK: {
        channels(set, C, 1, key, ctr, s);
        L = min64(max64(pval(set, NNFI_FMP_LENGTH, key, ctr), 1), P);
        uint64_t nb = P / L, rem = P % L;
        if (rem > 0 && 2 * rem >= L) nb++; /* a last partial block of at least half a block counts */
        uint64_t b = uniform(key, ctr, PL_POS, 0, nb - 1);
        s->p0 = b * L;
        s->np = min64(L, P - s->p0);
        break;
    }
    case NNFI_FM_FULL_CHANNELS:
        channels(set, C, 1, key, ctr, s);
        s->np = P;
        break;
    case NNFI_FM_SHATTERED_CHANNEL:
        channels(set, C, 1, key, ctr, s);
        L = length(set, P, key, ctr);
        s->p0 = uniform(key, ctr, PL_POS, 0, P - L);
        s->np = L;
        break;
    case NNFI_FM_SKIP_K: {
        uint64_t k = max64(pval(set, NNFI_FMP_K, key, ctr), 1);
        channels(set, C, k, key, ctr, s);
        uint64_t m = has(set, NNFI_FMP_POSITIONS) ? pval(set, NNFI_FMP_POSITIONS, key, ctr) : 1;
        m = min64(max64(m, 1), (P - 1) / k + 1);
        s->p0 = uniform(key, ctr, PL_POS, 0, P - 1 - (m - 1) * k);
        s->np = m;
        s->pstride = k;
        break;
    }
    case NNFI_FM_RECTANGLES: {
        channels(set, C, 1, key, ctr, s);
        uint64_t hh = min64(max64(pval(set, NNFI_FMP_HEIGHT, key, ctr), 1), H);
        uint64_t ww = min64(max64(pval(set, NNFI_FMP_WIDTH, key, ctr), 1), W);
        s->p0 = uniform(key, ctr, PL_POS, 0, H - hh) * W + uniform(key, ctr, PL_POS2, 0, W - ww);
        s->nrows = hh;
        s->rstride = W;
        s->np = ww;
        break;
    }
    case NNFI_FM_WEIGHT_ROW: {
        const uint64_t R = C * H, K = W;
        s->plane = R * K;
        uint64_t r = uniform(key, ctr, PL_POS, 0, R - 1);
        L = length(set, K, key, ctr);
        s->p0 = r * K + uniform(key, ctr, PL_POS2, 0, K - L);
        s->np = L;
        break;
    }
    case NNFI_FM_WEIGHT_COL: {
        const uint64_t R = C * H, K = W;
        s->plane = R * K;
        uint64_t k = uniform(key, ctr, PL_POS, 0, K - 1);
        L = length(set, R, key, ctr);
        s->p0 = uniform(key, ctr, PL_POS2, 0, R - L) * K + k;
        s->nrows = L;
        s->rstride = K;
        break;
    }
    case NNFI_FM_WEIGHT_TILE: {
        const uint64_t R = C * H, K = W;
        s->plane = R * K;
        uint64_t th = min64(max64(pval(set, NNFI_FMP_HEIGHT, key, ctr), 1), R);
        uint64_t tw = min64(max64(pval(set, NNFI_FMP_WIDTH, key, ctr), 1), K);
        uint64_t r0 = uniform(key, ctr, PL_TILE_R, 0, (R + th - 1) / th - 1) * th;
        uint64_t k0 = uniform(key, ctr, PL_TILE_C, 0, (K + tw - 1) / tw - 1) * tw;
        s->p0 = r0 * K + k0;
        s->nrows = min64(th, R - r0);
        s->rstride = K;
        s->np = min64(tw, K - k0);
        break;
    }
    default:
        return NNFI_FAIL(NNFI_E_INVALID, "fault model: unknown pattern kind %d\n  hint: a finalized model has "
                         "only known kinds", (int)pat->kind);
    }
    return NNFI_OK;
}

uint64_t fm_site_group_size(const nnfi_fm_site *s) { return s->nrows * s->np; }

uint64_t fm_site_group_keep(const nnfi_fm_site *s)
{
    uint64_t g = fm_site_group_size(s);
    uint64_t m = (g * s->fill_bp + 5000) / 10000;
    return m < 1 ? 1 : (m > g ? g : m);
}

uint64_t nnfi_fm_site_count(const nnfi_fm_site *s) { return s->nc * fm_site_group_keep(s); }

uint64_t nnfi_fm_site_candidate(const nnfi_fm_site *s, uint64_t i)
{
    uint64_t g = fm_site_group_size(s);
    uint64_t ch = i / g, r = (i % g) / s->np, j = i % s->np;
    return (s->c0 + ch * s->cstride) * s->plane + s->p0 + r * s->rstride + j * s->pstride;
}
