/* test_fault_model.c - the hardware fault-model library (src/base/faultmodel/,
 * include/nnfi/fault_model.h) without an engine or a model:
 *   - geometry: every pattern kind on an [8, 4, 4] activation or a [6, 9]
 *     weight matrix, for each parameter value: the set of distinct element
 *     sets drawn equals the family written out here by hand (nested loops over
 *     the anchors, not the library's formulas), plus a few literal sets;
 *   - fill_pct keeps exactly the right count per channel, a subset, sorted;
 *   - shares: patterns, parameter sets and value classes within 1 percentage
 *     point of the model over 1,000,000 draws (fixed key); bit distributions;
 *   - determinism: same key/counter, same occurrence; v[0] is the draw's own;
 *   - value rules (in range, out of range, zero, NaN, Inf);
 *   - native and CLASSES files: the expected mixture, and malformed or
 *     unsupported files refused with FILE:LINE:COL, the path and a hint.
 * Data files: tests/unit/data/fault_models/ (FM_DATA_DIR).
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

#include "nnfi/fault_model.h"

static const nnfi_philox_key KEY = {{0x1234567u, 0x89abcdefu}};

static nnfi_fault_model *load_text(const char *yaml)
{
    nnfi_fault_model *fm = NULL;
    nnfi_status st = nnfi_fm_load_text(yaml, strlen(yaml), "inline.yaml", &fm);
    if (st != NNFI_OK) fprintf(stderr, "load failed: %s\n", nnfi_error_message());
    assert_int_equal(st, NNFI_OK);
    return fm;
}

/* A one-pattern model of `kind` with one parameter set `params` ("" = none). */
static nnfi_fault_model *one_pattern(const char *kind, const char *params)
{
    char y[1024];
    if (params[0])
        snprintf(y, sizeof y, "patterns:\n  - {kind: %s, frequency: 1, params: [{%s}], values: {zero: 1}}\n", kind,
                 params);
    else
        snprintf(y, sizeof y, "patterns:\n  - {kind: %s, frequency: 1, values: {zero: 1}}\n", kind);
    return load_text(y);
}

/* ------------------------------------------------------ set families -- */

#define MAX_FAM 512
typedef struct family {
    int n;
    char *sets[MAX_FAM];
    int seen[MAX_FAM];
} family;

static char *key_of(const uint64_t *e, uint64_t n)
{
    char *s = malloc(16 * n + 2);
    size_t u = 0;
    s[0] = '\0';
    for (uint64_t i = 0; i < n; i++) u += (size_t)sprintf(s + u, "%llu,", (unsigned long long)e[i]);
    return s;
}

/* Add the set of n elements (any order; sorted here). */
static void fam_add(family *f, uint64_t *e, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++)
        for (uint64_t j = i + 1; j < n; j++)
            if (e[j] < e[i]) {
                uint64_t t = e[i];
                e[i] = e[j];
                e[j] = t;
            }
    char *k = key_of(e, n);
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->sets[i], k) == 0) {
            free(k);
            return;
        }
    assert_true(f->n < MAX_FAM);
    f->sets[f->n] = k;
    f->seen[f->n++] = 0;
}

static void fam_free(family *f)
{
    for (int i = 0; i < f->n; i++) free(f->sets[i]);
    f->n = 0;
}

/* Draw until every member was seen (at most 100 x size + 2000 draws); every
 * drawn set must be a member, sorted and unique. */
static void check_family(const nnfi_fault_model *fm, nnfi_fm_shape shape, family *f, const char *label)
{
    uint64_t elems[256];
    int draws = 100 * f->n + 2000, unseen = f->n;
    for (int t = 0; t < draws && unseen > 0; t++) {
        nnfi_fm_occurrence occ = {.elems = elems, .cap = 256};
        nnfi_philox_ctr ctr = {{0, (uint32_t)t, 77, 5}};
        nnfi_status st = nnfi_fm_draw(fm, KEY, ctr, &shape, &occ);
        if (st != NNFI_OK) fprintf(stderr, "%s: %s\n", label, nnfi_error_message());
        assert_int_equal(st, NNFI_OK);
        for (uint64_t i = 1; i < occ.n; i++) assert_true(elems[i] > elems[i - 1]);
        char *k = key_of(elems, occ.n);
        int hit = -1;
        for (int i = 0; i < f->n; i++)
            if (strcmp(f->sets[i], k) == 0) hit = i;
        if (hit < 0) fprintf(stderr, "%s: drew {%s}, not in the family of %d\n", label, k, f->n);
        free(k);
        assert_true(hit >= 0);
        if (!f->seen[hit]) {
            f->seen[hit] = 1;
            unseen--;
        }
    }
    if (unseen) fprintf(stderr, "%s: %d of %d family members never drawn\n", label, unseen, f->n);
    assert_int_equal(unseen, 0);
    fam_free(f);
}

static const nnfi_fm_shape ACT = {8, 4, 4, NNFI_DT_F32}; /* C=8, H=4, W=4: index c*16 + h*4 + w */
static const nnfi_fm_shape WMAT = {1, 6, 9, NNFI_DT_F32}; /* R=6, K=9: index r*9 + k */
#define IDX(c, h, w) ((uint64_t)(c) * 16 + (uint64_t)(h) * 4 + (uint64_t)(w))

static void test_geometry_single(void **state)
{
    (void)state;
    nnfi_fault_model *fm = one_pattern("single", "");
    family f = {0};
    for (uint64_t i = 0; i < 128; i++) fam_add(&f, &i, 1);
    check_family(fm, ACT, &f, "single");
    nnfi_fm_free(fm);
}

static void test_geometry_same_row_column(void **state)
{
    (void)state;
    char p[128];
    for (int step = 1; step <= 2; step++)
        for (int L = 1; L <= 4; L++) {
            if ((L - 1) * step > 3) continue; /* does not fit: tested below */
            snprintf(p, sizeof p, "length: %d, step: %d", L, step);
            nnfi_fault_model *fm = one_pattern("same_row", p);
            family f = {0};
            for (int c = 0; c < 8; c++)
                for (int h = 0; h < 4; h++)
                    for (int w0 = 0; w0 + (L - 1) * step <= 3; w0++) {
                        uint64_t e[4];
                        for (int i = 0; i < L; i++) e[i] = IDX(c, h, w0 + i * step);
                        fam_add(&f, e, (uint64_t)L);
                    }
            check_family(fm, ACT, &f, "same_row");
            nnfi_fm_free(fm);
            fm = one_pattern("same_column", p);
            for (int c = 0; c < 8; c++)
                for (int w = 0; w < 4; w++)
                    for (int h0 = 0; h0 + (L - 1) * step <= 3; h0++) {
                        uint64_t e[4];
                        for (int i = 0; i < L; i++) e[i] = IDX(c, h0 + i * step, w);
                        fam_add(&f, e, (uint64_t)L);
                    }
            check_family(fm, ACT, &f, "same_column");
            nnfi_fm_free(fm);
        }
    /* length 3 at step 2 does not fit in 4 columns: like channels, the
     * length is capped by what fits at the smallest step: 2 at step 2 */
    nnfi_fault_model *fm = one_pattern("same_row", "length: 3, step: 2");
    family f = {0};
    for (int c = 0; c < 8; c++)
        for (int h = 0; h < 4; h++)
            for (int w0 = 0; w0 <= 1; w0++) {
                uint64_t e[2] = {IDX(c, h, w0), IDX(c, h, w0 + 2)};
                fam_add(&f, e, 2);
            }
    /* with a step range [1, 2] the 3 elements fit at step 1 only */
    check_family(fm, ACT, &f, "same_row length 3 step 2");
    nnfi_fm_free(fm);
    fm = one_pattern("same_row", "length: 3, min_step: 1, max_step: 2");
    for (int c = 0; c < 8; c++)
        for (int h = 0; h < 4; h++)
            for (int w0 = 0; w0 <= 1; w0++) {
                uint64_t e[3] = {IDX(c, h, w0), IDX(c, h, w0 + 1), IDX(c, h, w0 + 2)};
                fam_add(&f, e, 3);
            }
    check_family(fm, ACT, &f, "same_row length 3 step 1-2");
    nnfi_fm_free(fm);
    /* length_pct of the row: 50 % of 4 = 2 */
    fm = one_pattern("same_row", "length_pct: 50");
    for (int c = 0; c < 8; c++)
        for (int h = 0; h < 4; h++)
            for (int w0 = 0; w0 <= 2; w0++) {
                uint64_t e[2] = {IDX(c, h, w0), IDX(c, h, w0 + 1)};
                fam_add(&f, e, 2);
            }
    check_family(fm, ACT, &f, "same_row 50%");
    nnfi_fm_free(fm);
}

/* Channels c0, c0+s, ..., n of them, at one position p. */
static void test_geometry_bullet_wake(void **state)
{
    (void)state;
    char p[128];
    for (int n = 1; n <= 8; n++) {
        snprintf(p, sizeof p, "channels: %d", n);
        nnfi_fault_model *fm = one_pattern("bullet_wake", p);
        family f = {0};
        for (int c0 = 0; c0 + n - 1 <= 7; c0++)
            for (int pos = 0; pos < 16; pos++) {
                uint64_t e[8];
                for (int i = 0; i < n; i++) e[i] = (uint64_t)(c0 + i) * 16 + (uint64_t)pos;
                fam_add(&f, e, (uint64_t)n);
            }
        check_family(fm, ACT, &f, "bullet_wake");
        nnfi_fm_free(fm);
    }
    for (int s = 2; s <= 3; s++) {
        snprintf(p, sizeof p, "channels: 3, skip: %d", s);
        nnfi_fault_model *fm = one_pattern("bullet_wake", p);
        family f = {0};
        for (int c0 = 0; c0 + 2 * s <= 7; c0++)
            for (int pos = 0; pos < 16; pos++) {
                uint64_t e[3] = {(uint64_t)c0 * 16 + (uint64_t)pos, (uint64_t)(c0 + s) * 16 + (uint64_t)pos,
                                 (uint64_t)(c0 + 2 * s) * 16 + (uint64_t)pos};
                fam_add(&f, e, 3);
            }
        check_family(fm, ACT, &f, "bullet_wake skip");
        nnfi_fm_free(fm);
    }
    /* channels_pct 25 % of 8 = 2, stride drawn in [1, 2] */
    nnfi_fault_model *fm = one_pattern("bullet_wake", "channels_pct: 25, min_skip: 1, max_skip: 2");
    family f = {0};
    for (int s = 1; s <= 2; s++)
        for (int c0 = 0; c0 + s <= 7; c0++)
            for (int pos = 0; pos < 16; pos++) {
                uint64_t e[2] = {(uint64_t)c0 * 16 + (uint64_t)pos, (uint64_t)(c0 + s) * 16 + (uint64_t)pos};
                fam_add(&f, e, 2);
            }
    check_family(fm, ACT, &f, "bullet_wake pct");
    nnfi_fm_free(fm);
    /* max_channels caps channels */
    fm = one_pattern("bullet_wake", "channels: 6, max_channels: 1");
    for (uint64_t i = 0; i < 128; i++) fam_add(&f, &i, 1);
    check_family(fm, ACT, &f, "bullet_wake cap");
    nnfi_fm_free(fm);
}

static void test_geometry_blocks(void **state)
{
    (void)state;
    char p[128];
    const int lens[] = {1, 3, 16, 128};
    for (size_t li = 0; li < 4; li++) {
        int L = lens[li];
        snprintf(p, sizeof p, "length: %d", L);
        nnfi_fault_model *fm = one_pattern("single_block", p);
        family f = {0};
        for (int s = 0; s + L <= 128; s++) {
            uint64_t e[128];
            for (int i = 0; i < L; i++) e[i] = (uint64_t)(s + i);
            fam_add(&f, e, (uint64_t)L);
        }
        check_family(fm, ACT, &f, "single_block");
        nnfi_fm_free(fm);
    }
    /* multi_channel_block, P = 16: blocks aligned to the length; a last
     * partial block counts when it holds >= length/2 positions */
    static const struct {
        int len, nblocks, starts[4], sizes[4];
    } mcb[] = {
        {4, 4, {0, 4, 8, 12}, {4, 4, 4, 4}},
        {5, 3, {0, 5, 10}, {5, 5, 5}},       /* remainder 1 < 2.5: dropped */
        {6, 3, {0, 6, 12}, {6, 6, 4}},       /* remainder 4 >= 3: a block of 4 */
        {16, 1, {0}, {16}},
    };
    for (size_t k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "channels: 2, length: %d", mcb[k].len);
        nnfi_fault_model *fm = one_pattern("multi_channel_block", p);
        family f = {0};
        for (int c0 = 0; c0 <= 6; c0++)
            for (int b = 0; b < mcb[k].nblocks; b++) {
                uint64_t e[32];
                int n = 0;
                for (int c = c0; c <= c0 + 1; c++)
                    for (int i = 0; i < mcb[k].sizes[b]; i++) e[n++] = (uint64_t)c * 16 + (uint64_t)(mcb[k].starts[b] + i);
                fam_add(&f, e, (uint64_t)n);
            }
        check_family(fm, ACT, &f, "multi_channel_block");
        nnfi_fm_free(fm);
    }
    for (int n = 1; n <= 8; n++) {
        snprintf(p, sizeof p, "channels: %d", n);
        nnfi_fault_model *fm = one_pattern("full_channels", p);
        family f = {0};
        for (int c0 = 0; c0 + n <= 8; c0++) {
            uint64_t e[128];
            for (int i = 0; i < n * 16; i++) e[i] = (uint64_t)c0 * 16 + (uint64_t)i;
            fam_add(&f, e, (uint64_t)n * 16);
        }
        check_family(fm, ACT, &f, "full_channels");
        nnfi_fm_free(fm);
    }
    for (int L = 1; L <= 4; L++) {
        snprintf(p, sizeof p, "channels: 2, skip: 3, length: %d", L);
        nnfi_fault_model *fm = one_pattern("shattered_channel", p);
        family f = {0};
        for (int c0 = 0; c0 + 3 <= 7; c0++)
            for (int s = 0; s + L <= 16; s++) {
                uint64_t e[8];
                int n = 0;
                for (int i = 0; i < L; i++) e[n++] = (uint64_t)c0 * 16 + (uint64_t)(s + i);
                for (int i = 0; i < L; i++) e[n++] = (uint64_t)(c0 + 3) * 16 + (uint64_t)(s + i);
                fam_add(&f, e, (uint64_t)n);
            }
        check_family(fm, ACT, &f, "shattered_channel");
        nnfi_fm_free(fm);
    }
}

static void test_geometry_skip_k_rectangles(void **state)
{
    (void)state;
    char p[128];
    for (int k = 1; k <= 3; k++)
        for (int m = 1; m <= 3; m++) {
            /* channels at stride k (the default), m positions at stride k */
            snprintf(p, sizeof p, "k: %d, channels: 3, positions: %d", k, m);
            nnfi_fault_model *fm = one_pattern("skip_k", p);
            family f = {0};
            for (int c0 = 0; c0 + 2 * k <= 7; c0++)
                for (int p0 = 0; p0 + (m - 1) * k <= 15; p0++) {
                    uint64_t e[9];
                    int n = 0;
                    for (int i = 0; i < 3; i++)
                        for (int j = 0; j < m; j++) e[n++] = (uint64_t)(c0 + i * k) * 16 + (uint64_t)(p0 + j * k);
                    fam_add(&f, e, (uint64_t)n);
                }
            check_family(fm, ACT, &f, "skip_k");
            nnfi_fm_free(fm);
        }
    /* an explicit channel stride overrides k */
    nnfi_fault_model *fm = one_pattern("skip_k", "k: 4, channels: 2, skip: 1");
    family f = {0};
    for (int c0 = 0; c0 <= 6; c0++)
        for (int p0 = 0; p0 < 16; p0++) {
            uint64_t e[2] = {(uint64_t)c0 * 16 + (uint64_t)p0, (uint64_t)(c0 + 1) * 16 + (uint64_t)p0};
            fam_add(&f, e, 2);
        }
    check_family(fm, ACT, &f, "skip_k skip 1");
    nnfi_fm_free(fm);
    for (int hh = 1; hh <= 4; hh++)
        for (int ww = 1; ww <= 4; ww += 3) {
            snprintf(p, sizeof p, "channels: 1, height: %d, width: %d", hh, ww);
            fm = one_pattern("rectangles", p);
            for (int c = 0; c < 8; c++)
                for (int h0 = 0; h0 + hh <= 4; h0++)
                    for (int w0 = 0; w0 + ww <= 4; w0++) {
                        uint64_t e[16];
                        int n = 0;
                        for (int r = 0; r < hh; r++)
                            for (int j = 0; j < ww; j++) e[n++] = IDX(c, h0 + r, w0 + j);
                        fam_add(&f, e, (uint64_t)n);
                    }
            check_family(fm, ACT, &f, "rectangles");
            nnfi_fm_free(fm);
        }
}

static void test_geometry_weights(void **state)
{
    (void)state;
    char p[128];
    nnfi_fault_model *fm = one_pattern("weight_row", "");
    family f = {0};
    for (int r = 0; r < 6; r++) {
        uint64_t e[9];
        for (int k = 0; k < 9; k++) e[k] = (uint64_t)(r * 9 + k);
        fam_add(&f, e, 9);
    }
    check_family(fm, WMAT, &f, "weight_row");
    nnfi_fm_free(fm);
    for (int L = 1; L <= 9; L += 4) {
        snprintf(p, sizeof p, "length: %d", L);
        fm = one_pattern("weight_row", p);
        for (int r = 0; r < 6; r++)
            for (int k0 = 0; k0 + L <= 9; k0++) {
                uint64_t e[9];
                for (int i = 0; i < L; i++) e[i] = (uint64_t)(r * 9 + k0 + i);
                fam_add(&f, e, (uint64_t)L);
            }
        check_family(fm, WMAT, &f, "weight_row length");
        nnfi_fm_free(fm);
        fm = one_pattern("weight_col", p);
        int LL = L > 6 ? 6 : L; /* capped by the 6 rows */
        for (int k = 0; k < 9; k++)
            for (int r0 = 0; r0 + LL <= 6; r0++) {
                uint64_t e[9];
                for (int i = 0; i < LL; i++) e[i] = (uint64_t)((r0 + i) * 9 + k);
                fam_add(&f, e, (uint64_t)LL);
            }
        check_family(fm, WMAT, &f, "weight_col length");
        nnfi_fm_free(fm);
    }
    /* 4x4 tiles of the 6x9 matrix: tile rows start at 0 and 4 (2 rows
     * there), tile columns at 0, 4 and 8 (1 column there); literal sets */
    fm = one_pattern("weight_tile", "height: 4, width: 4");
    static uint64_t t00[] = {0, 1, 2, 3, 9, 10, 11, 12, 18, 19, 20, 21, 27, 28, 29, 30};
    static uint64_t t04[] = {4, 5, 6, 7, 13, 14, 15, 16, 22, 23, 24, 25, 31, 32, 33, 34};
    static uint64_t t08[] = {8, 17, 26, 35};
    static uint64_t t40[] = {36, 37, 38, 39, 45, 46, 47, 48};
    static uint64_t t44[] = {40, 41, 42, 43, 49, 50, 51, 52};
    static uint64_t t48[] = {44, 53};
    fam_add(&f, t00, 16);
    fam_add(&f, t04, 16);
    fam_add(&f, t08, 4);
    fam_add(&f, t40, 8);
    fam_add(&f, t44, 8);
    fam_add(&f, t48, 2);
    check_family(fm, WMAT, &f, "weight_tile");
    nnfi_fm_free(fm);
    /* a conv weight [4, 2, 1, 3] viewed as [4, 6] = {c=1, h=4, w=6}; also {c=2, h=2, w=6} is R = 4 */
    fm = one_pattern("weight_col", "length: 4");
    for (int k = 0; k < 6; k++) {
        uint64_t e[4] = {(uint64_t)k, (uint64_t)(6 + k), (uint64_t)(12 + k), (uint64_t)(18 + k)};
        fam_add(&f, e, 4);
    }
    nnfi_fm_shape convw = {2, 2, 6, NNFI_DT_F16};
    check_family(fm, convw, &f, "weight_col conv view");
    nnfi_fm_free(fm);
}

/* Literal anchors: one hand-checked occurrence per channel kind, found by
 * drawing until the site's anchor matches. */
static void test_geometry_literal(void **state)
{
    (void)state;
    nnfi_fault_model *fm = one_pattern("bullet_wake", "channels: 3, skip: 2");
    uint64_t e[64];
    int found = 0;
    for (uint32_t t = 0; t < 20000 && !found; t++) {
        nnfi_fm_occurrence occ = {.elems = e, .cap = 64};
        nnfi_philox_ctr ctr = {{0, t, 1, 2}};
        assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &ACT, &occ), NNFI_OK);
        if (occ.site.c0 == 1 && occ.site.p0 == 5) {
            /* channels 1, 3, 5 at (h=1, w=1): 16+5, 48+5, 80+5 */
            assert_int_equal(occ.n, 3);
            assert_int_equal(e[0], 21);
            assert_int_equal(e[1], 53);
            assert_int_equal(e[2], 85);
            found = 1;
        }
    }
    assert_true(found);
    nnfi_fm_free(fm);
}

static void test_fill(void **state)
{
    (void)state;
    nnfi_fault_model *fm = one_pattern("full_channels", "channels: 2, fill_pct: 50");
    uint64_t e[64];
    int hist[16] = {0};
    for (uint32_t t = 0; t < 4000; t++) {
        nnfi_fm_occurrence occ = {.elems = e, .cap = 64};
        nnfi_philox_ctr ctr = {{0, t, 3, 3}};
        assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &ACT, &occ), NNFI_OK);
        assert_int_equal(occ.n, 16); /* 8 of 16 in each of 2 channels */
        uint64_t c0 = occ.site.c0;
        for (int i = 0; i < 16; i++) {
            uint64_t c = e[i] / 16;
            assert_true(c == (i < 8 ? c0 : c0 + 1));
            if (i) assert_true(e[i] > e[i - 1]);
            hist[e[i] % 16]++;
        }
    }
    /* each position kept half the time: 8000 per position expected of 64000 */
    for (int p = 0; p < 16; p++) assert_true(hist[p] > 3600 && hist[p] < 4400);
    nnfi_fm_free(fm);
    /* a fill that rounds to 0 keeps one element per channel */
    fm = one_pattern("full_channels", "channels: 3, fill_pct: 1");
    nnfi_fm_occurrence occ = {.elems = e, .cap = 64};
    nnfi_philox_ctr ctr = {{0, 1, 2, 3}};
    assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &ACT, &occ), NNFI_OK);
    assert_int_equal(occ.n, 3);
    nnfi_fm_free(fm);
}

/* ---------------------------------------------------------- shares -- */

/* Print an observed share next to the model's (the figures RESULTS.md quotes)
 * and check it is within tol. */
static void share_within(const char *what, double observed, double model, double tol)
{
    printf("%s: observed %.5f, model %g\n", what, observed, model);
    fflush(stdout);
    assert_true(fabs(observed - model) < tol);
}

static void test_shares_million(void **state)
{
    (void)state;
    nnfi_fault_model *fm = load_text("patterns:\n"
                                     "  - kind: single\n"
                                     "    frequency: 5\n"
                                     "    values: {bitflip: 0.4, random_in_range: 0.3, zero: 0.2, nan: 0.1}\n"
                                     "  - kind: bullet_wake\n"
                                     "    frequency: 3\n"
                                     "    params: [{weight: 0.7, channels: 1}, {weight: 0.3, channels: 2}]\n"
                                     "    values: [{weight: 0.5, out_of_range: 1}, {weight: 0.5, zero: [20, 40], inf: 1}]\n"
                                     "  - kind: single\n"
                                     "    frequency: 2\n"
                                     "    values: {inf: 1}\n");
    const int N = 1000000;
    long pat[3] = {0}, set[2] = {0}, cls0[NNFI_FM_CLASS_COUNT] = {0}, zero_ranged = 0, inf_ranged = 0;
    long n0 = 0, nr = 0;
    uint64_t e[4];
    uint8_t c[4];
    uint64_t w[4];
    nnfi_fm_shape sh = {8, 4, 4, NNFI_DT_F32};
    for (int t = 0; t < N; t++) {
        nnfi_fm_occurrence occ = {.elems = e, .classes = c, .words = w, .cap = 4};
        nnfi_philox_ctr ctr = {{0, (uint32_t)t, 0xfeed, 0}};
        assert_true(nnfi_fm_draw(fm, KEY, ctr, &sh, &occ) == NNFI_OK);
        pat[occ.pattern]++;
        if (occ.pattern == 0) {
            cls0[c[0]]++;
            n0++;
        }
        if (occ.pattern == 1) {
            set[occ.set]++;
            if (occ.mix == 1)
                for (uint64_t i = 0; i < occ.n; i++, nr++) {
                    zero_ranged += c[i] == NNFI_FM_ZERO;
                    inf_ranged += c[i] == NNFI_FM_INF;
                }
        }
    }
    const double tol = 0.01;
    share_within("pattern 0 single", pat[0] / (double)N, 0.5, tol);
    share_within("pattern 1 bullet_wake", pat[1] / (double)N, 0.3, tol);
    share_within("pattern 2 single", pat[2] / (double)N, 0.2, tol);
    share_within("bullet_wake parameter set 0 (channels 1)", set[0] / (double)pat[1], 0.7, tol);
    share_within("bullet_wake parameter set 1 (channels 2)", set[1] / (double)pat[1], 0.3, tol);
    share_within("pattern 0 class bitflip", cls0[NNFI_FM_BITFLIP] / (double)n0, 0.4, tol);
    share_within("pattern 0 class random_in_range", cls0[NNFI_FM_RANDOM_IN_RANGE] / (double)n0, 0.3, tol);
    share_within("pattern 0 class zero", cls0[NNFI_FM_ZERO] / (double)n0, 0.2, tol);
    share_within("pattern 0 class nan", cls0[NNFI_FM_NAN] / (double)n0, 0.1, tol);
    assert_int_equal(cls0[NNFI_FM_OUT_OF_RANGE] + cls0[NNFI_FM_INF], 0);
    /* the ranged zero share is uniform in [20, 40] %: 30 % on average */
    share_within("bullet_wake mix 1 class zero (ranged [20, 40] %)", zero_ranged / (double)nr, 0.3, tol);
    assert_int_equal(zero_ranged + inf_ranged, nr);
    nnfi_fm_free(fm);
}

static void test_bits(void **state)
{
    (void)state;
    nnfi_fault_model *fm = load_text("patterns:\n  - {kind: single, frequency: 1, values: {bitflip: 1, bits: {30: 1, 23: 3}}}\n");
    uint64_t e[1], w[1];
    uint8_t c[1];
    long b30 = 0, b23 = 0;
    nnfi_fm_shape sh = {1, 1, 100, NNFI_DT_F32};
    for (uint32_t t = 0; t < 100000; t++) {
        nnfi_fm_occurrence occ = {.elems = e, .classes = c, .words = w, .cap = 1};
        nnfi_philox_ctr ctr = {{0, t, 9, 9}};
        assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &sh, &occ), NNFI_OK);
        assert_int_equal(c[0], NNFI_FM_BITFLIP);
        assert_true(w[0] == (1u << 30) || w[0] == (1u << 23));
        b30 += w[0] == (1u << 30);
        b23 += w[0] == (1u << 23);
    }
    assert_true(fabs(b23 / 100000.0 - 0.75) < 0.01);
    /* bit 30 does not exist in an int8 element */
    nnfi_fm_shape i8 = {1, 1, 100, NNFI_DT_I8};
    nnfi_fm_occurrence occ = {.elems = e, .classes = c, .words = w, .cap = 1};
    nnfi_philox_ctr ctr = {{0, 1, 9, 9}};
    assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &i8, &occ), NNFI_E_INVALID);
    assert_non_null(strstr(nnfi_error_message(), "flips bit 30"));
    nnfi_fm_free(fm);
    /* uniform: every bit of a 16-bit element, none above */
    fm = load_text("patterns:\n  - {kind: single, frequency: 1, values: {bitflip: 1}}\n");
    uint64_t seen = 0;
    nnfi_fm_shape f16 = {1, 1, 100, NNFI_DT_F16};
    for (uint32_t t = 0; t < 2000; t++) {
        nnfi_fm_occurrence o = {.elems = e, .classes = c, .words = w, .cap = 1};
        nnfi_philox_ctr k = {{0, t, 10, 9}};
        assert_int_equal(nnfi_fm_draw(fm, KEY, k, &f16, &o), NNFI_OK);
        seen |= w[0];
    }
    assert_int_equal(seen, 0xffffu);
    nnfi_fm_free(fm);
}

static void test_determinism(void **state)
{
    (void)state;
    nnfi_fault_model *fm = NULL;
    assert_int_equal(nnfi_fm_load(FM_DATA_DIR "/good_native.yaml", &fm), NNFI_OK);
    nnfi_fm_shape sh = {32, 7, 7, NNFI_DT_F32};
    uint64_t e1[2048], e2[2048], w1[2048], w2[2048];
    uint8_t c1[2048], c2[2048];
    int differ = 0;
    for (uint32_t t = 0; t < 300; t++) {
        nnfi_fm_occurrence a = {.elems = e1, .classes = c1, .words = w1, .cap = 2048};
        nnfi_fm_occurrence b = {.elems = e2, .classes = c2, .words = w2, .cap = 2048};
        nnfi_philox_ctr ca = {{0, t, 4, 1}}, cb = {{12345, t, 4, 1}}; /* v[0] is the draw's own */
        assert_int_equal(nnfi_fm_draw(fm, KEY, ca, &sh, &a), NNFI_OK);
        assert_int_equal(nnfi_fm_draw(fm, KEY, cb, &sh, &b), NNFI_OK);
        assert_int_equal(a.n, b.n);
        assert_int_equal(a.pattern, b.pattern);
        assert_int_equal(a.set, b.set);
        assert_memory_equal(e1, e2, a.n * sizeof e1[0]);
        assert_memory_equal(c1, c2, a.n);
        assert_memory_equal(w1, w2, a.n * sizeof w1[0]);
        nnfi_philox_ctr cc = {{0, t, 5, 1}};
        assert_int_equal(nnfi_fm_draw(fm, KEY, cc, &sh, &b), NNFI_OK);
        differ += b.n != a.n || memcmp(e1, e2, a.n * sizeof e1[0]) != 0;
    }
    assert_true(differ > 250);
    /* too small an array: refused, with the size needed, and the same draw */
    nnfi_fm_occurrence small = {.elems = e1, .cap = 0};
    nnfi_philox_ctr ctr = {{0, 3, 4, 1}};
    assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &sh, &small), NNFI_E_INVALID);
    assert_non_null(strstr(nnfi_error_message(), "call again with cap >= occ->n"));
    assert_true(small.n >= 1);
    /* a zero extent is refused */
    nnfi_fm_shape bad = {0, 4, 4, NNFI_DT_F32};
    nnfi_fm_occurrence o = {.elems = e1, .cap = 2048};
    assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &bad, &o), NNFI_E_INVALID);
    nnfi_fm_free(fm);
}

static void test_values(void **state)
{
    (void)state;
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 100000; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        double v = nnfi_fm_value(NNFI_FM_RANDOM_IN_RANGE, s, -2.0, 3.0);
        assert_true(v >= -2.0 && v <= 3.0);
        double o = nnfi_fm_value(NNFI_FM_OUT_OF_RANGE, s, -2.0, 3.0);
        assert_true(fabs(o) > 3.0 && fabs(o) <= 768.0);
        double z = nnfi_fm_value(NNFI_FM_OUT_OF_RANGE, s, 0.0, 0.0);
        assert_true(fabs(z) > 1.0 && fabs(z) <= 256.0);
    }
    assert_true(nnfi_fm_value(NNFI_FM_RANDOM_IN_RANGE, 0, -2.0, 3.0) == -2.0);
    assert_true(nnfi_fm_value(NNFI_FM_ZERO, 77, -2.0, 3.0) == 0.0);
    assert_true(isnan(nnfi_fm_value(NNFI_FM_NAN, 77, -2.0, 3.0)));
    assert_true(isinf(nnfi_fm_value(NNFI_FM_INF, 0, -2.0, 3.0)) && nnfi_fm_value(NNFI_FM_INF, 0, 0, 1) > 0);
    assert_true(nnfi_fm_value(NNFI_FM_INF, 1, 0, 1) < 0);
    /* out of range, exactly: e = 3, sign -, f = 1/2: -(3 * 2^3 * 1.5) */
    uint64_t word = ((uint64_t)((1ull << 51) - 1) << 12) | 8 | 3;
    assert_true(nnfi_fm_value(NNFI_FM_OUT_OF_RANGE, word, -2.0, 3.0) == -36.0);
}

/* ------------------------------------------------------------ files -- */

static void test_native_file(void **state)
{
    (void)state;
    nnfi_fault_model *fm = NULL;
    nnfi_status st = nnfi_fm_load(FM_DATA_DIR "/good_native.yaml", &fm);
    if (st != NNFI_OK) fprintf(stderr, "%s\n", nnfi_error_message());
    assert_int_equal(st, NNFI_OK);
    assert_string_equal(fm->name, "test-gpu-conv");
    assert_int_equal(fm->scope, NNFI_FM_PER_SAMPLE);
    assert_int_equal(fm->n_patterns, 3);
    assert_int_equal(fm->patterns[0].kind, NNFI_FM_BULLET_WAKE);
    assert_true(fabs(fm->patterns[0].frequency - 0.4) < 1e-12);
    assert_true(fabs(fm->patterns[1].frequency - 0.6) < 1e-12);
    assert_true(fm->patterns[2].frequency == 0);
    assert_int_equal(fm->patterns[0].n_sets, 2);
    assert_int_equal(fm->patterns[0].sets[1].p[NNFI_FMP_CHANNELS_PCT].lo[0], 1000);
    assert_int_equal(fm->patterns[0].sets[1].p[NNFI_FMP_CHANNELS_PCT].hi[0], 2000);
    assert_int_equal(fm->patterns[0].bit_uniform, 0);
    assert_true(fabs(fm->patterns[0].bit_weight[23] - 0.75) < 1e-12);
    assert_int_equal(fm->patterns[0].max_bit, 30);
    const nnfi_fm_pdist *ch = &fm->patterns[1].sets[0].p[NNFI_FMP_CHANNELS];
    assert_int_equal(ch->n, 2);
    assert_int_equal(ch->lo[0], 2);
    assert_int_equal(ch->hi[0], 2);
    assert_int_equal(ch->lo[1], 4);
    assert_int_equal(ch->hi[1], 6);
    assert_int_equal(fm->patterns[1].n_mixes, 2);
    assert_int_equal(fm->patterns[1].mixes[1].ranged, NNFI_FM_ZERO);
    assert_int_equal(fm->patterns[1].mixes[1].ranged_lo_bp, 2000);
    assert_int_equal(fm->patterns[1].mixes[1].ranged_hi_bp, 4000);
    assert_int_equal(fm->patterns[2].n_sets, 1); /* single: the one empty set */
    nnfi_fm_free(fm);
}

/* Loading `file` fails with NNFI_E_CONFIG and a message that starts with
 * "PATH:LINE:COL: FIELD" and contains `what` and `hint`. */
static void refused(int classes, const char *file, const char *where, const char *what, const char *hint)
{
    char path[512], lead[600];
    snprintf(path, sizeof path, "%s/%s", FM_DATA_DIR, file);
    nnfi_fault_model *fm = (nnfi_fault_model *)1;
    nnfi_status st = classes ? nnfi_fm_load_classes(path, &fm) : nnfi_fm_load(path, &fm);
    const char *msg = nnfi_error_message();
    snprintf(lead, sizeof lead, "%s:%s", path, where);
    int ok = st == NNFI_E_CONFIG && fm == NULL && strncmp(msg, lead, strlen(lead)) == 0 && strstr(msg, what) &&
             strstr(msg, "\n  hint: ") && strstr(strstr(msg, "\n  hint: "), hint);
    if (!ok) fprintf(stderr, "%s: status %d, message:\n%s\nexpected to start with '%s', with '%s' and hint '%s'\n",
                     file, (int)st, msg, lead, what, hint);
    assert_true(ok);
}

static void test_native_refusals(void **state)
{
    (void)state;
    refused(0, "bad_unknown_key.yaml", "4:5: patterns[0]: ", "unknown key 'frequncy'", "did you mean 'frequency'?");
    refused(0, "bad_kind.yaml", "2:11: patterns[0].kind: ", "unknown pattern kind 'bullet_wak'",
            "did you mean 'bullet_wake'?");
    refused(0, "bad_negative.yaml", "3:31: patterns[1].frequency: ", "negative value -0.5", ">= 0");
    refused(0, "bad_all_zero.yaml", "2:3: patterns: ", "all pattern frequencies are 0", "normalised to sum 1");
    refused(0, "bad_param_not_taken.yaml", "5:21: patterns[0].params[0].channels: ",
            "pattern kind 'single' does not take parameter 'channels'", "parameters of single: none");
    refused(0, "bad_param_missing.yaml", "5:9: patterns[0].params[0]: ", "pattern kind 'bullet_wake' needs channels",
            "parameters of bullet_wake: channels, channels_pct");
    refused(0, "bad_bits.yaml", "4:40: patterns[0].values.bits.64: ", "64 is out of range", "0..63");
    refused(0, "bad_syntax.yaml", "5:1: (top level): ", "syntax error", "check brackets");
    refused(0, "bad_scope.yaml", "1:8: scope: ", "unknown scope 'per_samples'", "did you mean 'per_sample'?");
    /* a file that is not there, and in-memory text */
    nnfi_fault_model *fm = NULL;
    assert_int_equal(nnfi_fm_load(FM_DATA_DIR "/no_such_file.yaml", &fm), NNFI_E_IO);
    const char *t = "patterns: []\n";
    assert_int_equal(nnfi_fm_load_text(t, strlen(t), "empty.yaml", &fm), NNFI_E_CONFIG);
    assert_non_null(strstr(nnfi_error_message(), "empty.yaml:1:11: patterns: expected 1..64 patterns"));
    t = "patterns:\n  - {kind: rectangles, frequency: 1, params: [{channels: 2, height: 0, width: 2}], values: {zero: 1}}\n";
    assert_int_equal(nnfi_fm_load_text(t, strlen(t), "zero.yaml", &fm), NNFI_E_CONFIG);
    assert_non_null(strstr(nnfi_error_message(), "zero.yaml:2:61: patterns[0].params[0].height: parameter 'height' is 0"));
    t = "patterns:\n  - {kind: single, frequency: 1, values: {zero: 0, nan: 0}}\n";
    assert_int_equal(nnfi_fm_load_text(t, strlen(t), "zeros.yaml", &fm), NNFI_E_CONFIG);
    assert_non_null(strstr(nnfi_error_message(), "zeros.yaml:2:42: patterns[0].values: the value-class proportions are all 0"));
    t = "patterns:\n  - {kind: single, frequency: 1, values: {zero: 1, nul: 1}}\n";
    assert_int_equal(nnfi_fm_load_text(t, strlen(t), "cls.yaml", &fm), NNFI_E_CONFIG);
    assert_non_null(strstr(nnfi_error_message(), "did you mean 'nan'?"));
}

static void test_classes_import(void **state)
{
    (void)state;
    nnfi_fault_model *fm = NULL;
    nnfi_status st = nnfi_fm_load_classes(FM_DATA_DIR "/classes_conv.json", &fm);
    if (st != NNFI_OK) fprintf(stderr, "%s\n", nnfi_error_message());
    assert_int_equal(st, NNFI_OK);
    assert_string_equal(fm->name, "classes_conv");
    assert_int_equal(fm->n_patterns, 3);
    const nnfi_fm_pattern *bw = &fm->patterns[0], *sk = &fm->patterns[1], *sg = &fm->patterns[2];
    assert_int_equal(bw->kind, NNFI_FM_BULLET_WAKE);
    assert_int_equal(sk->kind, NNFI_FM_SKIP_K);
    assert_int_equal(sg->kind, NNFI_FM_SINGLE);
    assert_true(fabs(bw->frequency - 0.5) < 1e-12 && fabs(sk->frequency - 0.3) < 1e-12 &&
                fabs(sg->frequency - 0.2) < 1e-12);
    /* bullet_wake: two sets 0.75 / 0.25; channels_pct, max_channels, skips */
    assert_int_equal(bw->n_sets, 2);
    assert_true(fabs(bw->sets[0].weight - 0.75) < 1e-12);
    assert_int_equal(bw->sets[0].p[NNFI_FMP_CHANNELS_PCT].n, 1);
    assert_int_equal(bw->sets[0].p[NNFI_FMP_CHANNELS_PCT].lo[0], 2000);
    assert_int_equal(bw->sets[0].p[NNFI_FMP_CHANNELS_PCT].hi[0], 3000);
    assert_int_equal(bw->sets[0].p[NNFI_FMP_MAX_CHANNELS].lo[0], 32);
    assert_int_equal(bw->sets[0].p[NNFI_FMP_MIN_SKIP].lo[0], 1);
    assert_int_equal(bw->sets[0].p[NNFI_FMP_MAX_SKIP].lo[0], 4);
    assert_int_equal(bw->sets[1].p[NNFI_FMP_CHANNELS_PCT].n, 2); /* RANDOM: [[0, 10], [90, 100]] */
    assert_int_equal(bw->sets[1].p[NNFI_FMP_CHANNELS_PCT].hi[0], 1000);
    assert_int_equal(bw->sets[1].p[NNFI_FMP_CHANNELS_PCT].lo[1], 9000);
    assert_int_equal(bw->sets[1].p[NNFI_FMP_MAX_CHANNELS].n, 2);
    assert_int_equal(bw->sets[1].p[NNFI_FMP_MAX_CHANNELS].lo[1], 16);
    /* domain classes: zero 0.6; random 0.4 with flip folded into out_of_range */
    assert_int_equal(bw->n_mixes, 2);
    assert_true(fabs(bw->mixes[0].weight - 0.6) < 1e-12);
    assert_true(bw->mixes[0].share[NNFI_FM_ZERO] == 1.0 && bw->mixes[0].ranged == -1);
    assert_true(fabs(bw->mixes[1].share[NNFI_FM_RANDOM_IN_RANGE] - 0.5) < 1e-12);
    assert_true(fabs(bw->mixes[1].share[NNFI_FM_OUT_OF_RANGE] - 0.375) < 1e-12);
    assert_true(fabs(bw->mixes[1].share[NNFI_FM_NAN] - 0.125) < 1e-12);
    /* skip_4: k, positions, fill, the ranged in_range class */
    assert_int_equal(sk->sets[0].p[NNFI_FMP_K].lo[0], 4);
    assert_int_equal(sk->sets[0].p[NNFI_FMP_POSITIONS].lo[0], 2);
    assert_int_equal(sk->sets[0].p[NNFI_FMP_FILL_PCT].lo[0], 9000);
    assert_int_equal(sk->sets[0].p[NNFI_FMP_FILL_PCT].hi[0], 10000);
    assert_int_equal(sk->mixes[0].ranged, NNFI_FM_RANDOM_IN_RANGE);
    assert_int_equal(sk->mixes[0].ranged_lo_bp, 1250);
    assert_int_equal(sk->mixes[0].ranged_hi_bp, 2500);
    assert_true(sk->mixes[0].share[NNFI_FM_OUT_OF_RANGE] == 1.0);
    assert_int_equal(sg->n_sets, 1);
    /* the drawn mixture: pattern shares within 1 point; skip_4's elements
     * are channels 4 apart and positions 4 apart (k), in range 12.5-25 % */
    nnfi_fm_shape sh = {16, 8, 8, NNFI_DT_F32};
    uint64_t e[2048];
    uint8_t c[2048];
    long pat[3] = {0}, in = 0, tot = 0;
    const int N = 200000;
    for (int t = 0; t < N; t++) {
        nnfi_fm_occurrence occ = {.elems = e, .classes = c, .cap = 2048};
        nnfi_philox_ctr ctr = {{0, (uint32_t)t, 1, 1}};
        assert_int_equal(nnfi_fm_draw(fm, KEY, ctr, &sh, &occ), NNFI_OK);
        pat[occ.pattern]++;
        if (occ.pattern == 1) {
            assert_int_equal(occ.site.cstride, 4);
            assert_int_equal(occ.site.pstride, 4);
            assert_true(occ.site.nc >= 2 && occ.site.nc <= 3); /* 10-20 % of 16, rounded */
            for (uint64_t i = 0; i < occ.n; i++, tot++) in += c[i] == NNFI_FM_RANDOM_IN_RANGE;
        }
    }
    assert_true(fabs(pat[0] / (double)N - 0.5) < 0.01);
    assert_true(fabs(pat[1] / (double)N - 0.3) < 0.01);
    assert_true(fabs(pat[2] / (double)N - 0.2) < 0.01);
    assert_true(fabs(in / (double)tot - 0.1875) < 0.01);
    nnfi_fm_free(fm);
}

static void test_classes_refusals(void **state)
{
    (void)state;
    refused(1, "classes_bad_pattern.json", "6:4: single_channel_alternate_blocks: ",
            "unsupported CLASSES pattern 'single_channel_alternate_blocks'", "valid patterns: single, same_row");
    refused(1, "classes_bad_key.json", "6:59: bullet_wake.parameters[0].keys: ", "unsupported key 'wake_length'",
            "valid CLASSES parameters: affected_channels_pct");
    refused(1, "classes_bad_domain.json", "5:66: single.domain_classes[0].zero: ",
            "a domain class with more than two value classes", "\"random\" with per-class \"values\"");
    refused(1, "classes_bad_param_kind.json", "6:59: bullet_wake.parameters[0].keys.block_size: ",
            "parameter 'block_size' (nnfi 'length') does not apply to pattern kind 'bullet_wake'",
            "nnfi's bullet_wake takes: channels");
    refused(1, "classes_bad_syntax.json", "6:1: (top level): ", "syntax error", "check brackets");
    /* a native file is not a CLASSES file */
    refused(1, "good_native.yaml", "2:1: name: ", "unsupported CLASSES pattern 'name'", "valid patterns");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_geometry_single),
        cmocka_unit_test(test_geometry_same_row_column),
        cmocka_unit_test(test_geometry_bullet_wake),
        cmocka_unit_test(test_geometry_blocks),
        cmocka_unit_test(test_geometry_skip_k_rectangles),
        cmocka_unit_test(test_geometry_weights),
        cmocka_unit_test(test_geometry_literal),
        cmocka_unit_test(test_fill),
        cmocka_unit_test(test_shares_million),
        cmocka_unit_test(test_bits),
        cmocka_unit_test(test_determinism),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_native_file),
        cmocka_unit_test(test_native_refusals),
        cmocka_unit_test(test_classes_import),
        cmocka_unit_test(test_classes_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
