/* test_sampler.c - the fault sampler (src/plan/sampler.c) on a hand-built
 * group plan over a synthetic five-site table: faults are a pure function of
 * (seed, experiment, group, point, trial, k) independent of call order and
 * chunking; the counter layout of nnfi_sampler_draw; element choice uniform by
 * element count; distinct groups (a permutation); bit picks; op values;
 * transient `when` and time-step windows; and nnfi_sampler_count (fixed,
 * rounded rate, Poisson). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h" /* nnfi_transient_scope */
#include "nnfi/sampler.h"
#include "nnfi_test.h"

/* The synthetic site table: selected sites (by index into a larger model
 * table, deliberately not 0..4) with their dtypes and sizes. */
#define N_SITES 5
static const uint32_t site_ids[N_SITES] = {3, 0, 7, 2, 9};
static const uint8_t site_dtype[N_SITES] = {NNFI_DT_F32, NNFI_DT_F16, NNFI_DT_I8, NNFI_DT_BF16, NNFI_DT_F64};
static const uint64_t site_numel[N_SITES] = {1000, 37, 4096, 1, 513};
static uint64_t site_prefix[N_SITES + 1];
#define TOTAL (1000 + 37 + 4096 + 1 + 513)

/* A permanent one-random-bit flip over the five sites; candidate sets differ
 * per dtype so mask checks can tell the dtypes apart. */
static nnfi_group_plan base_plan(void)
{
    site_prefix[0] = 0;
    for (int i = 0; i < N_SITES; i++) site_prefix[i + 1] = site_prefix[i] + site_numel[i];
    nnfi_group_plan g;
    memset(&g, 0, sizeof g);
    g.n_sites = N_SITES;
    g.site_ids = site_ids;
    g.prefix = site_prefix;
    g.site_dtype = site_dtype;
    g.total = site_prefix[N_SITES];
    g.candidates[NNFI_DT_F32] = nnfi_preset_mask(NNFI_DT_F32, NNFI_BITS_ALL);
    g.candidates[NNFI_DT_F16] = nnfi_preset_mask(NNFI_DT_F16, NNFI_BITS_EXPONENT);
    g.candidates[NNFI_DT_I8] = nnfi_preset_mask(NNFI_DT_I8, NNFI_BITS_ALL);
    g.candidates[NNFI_DT_BF16] = nnfi_preset_mask(NNFI_DT_BF16, NNFI_BITS_MANTISSA);
    g.candidates[NNFI_DT_F64] = nnfi_preset_mask(NNFI_DT_F64, NNFI_BITS_ALL);
    g.bit_count = 1;
    g.op = NNFI_OP_FLIP;
    g.set_value = 0;
    g.transient = 0;
    g.scope = 0;
    g.calls = 0;
    g.samples = 0;
    g.t_from = 0;
    g.t_to = UINT32_MAX;
    g.duration = 1;
    g.distinct = 0;
    g.element = -1;
    return g;
}

static nnfi_fault_id base_id(void)
{
    nnfi_fault_id id = {0x0123456789abcdefull, 5, 2, 300, 7};
    return id;
}

/* Index of a site id within the selection (-1 if not selected). */
static int local_site(uint32_t site)
{
    for (int i = 0; i < N_SITES; i++)
        if (site_ids[i] == site) return i;
    return -1;
}

/* Basic validity of one fault against the plan. Returns its global element. */
static uint64_t check_fault(const nnfi_group_plan *g, const nnfi_fault *f, const nnfi_fault_id *id)
{
    int i = -1;
    for (uint32_t j = 0; j < g->n_sites; j++)
        if (g->site_ids[j] == f->site) i = (int)j;
    assert_true(i >= 0);
    assert_true(f->element < g->prefix[i + 1] - g->prefix[i]);
    nnfi_dtype dt = (nnfi_dtype)g->site_dtype[i];
    assert_true((f->mask & ~g->candidates[dt]) == 0);
    assert_true(f->mask != 0);
    assert_int_equal(f->op, g->op);
    assert_int_equal(f->group, id->group);
    assert_int_equal(f->transient, g->transient);
    return g->prefix[i] + f->element;
}

/* nnfi_fault must have no padding: faults are compared and copied as bytes. */
static void test_fault_layout(void **state)
{
    (void)state;
    nnfi_fault f;
    size_t fields = sizeof f.element + sizeof f.mask + sizeof f.value + sizeof f.site + sizeof f.op +
                    sizeof f.transient + sizeof f.scope + sizeof f.group + sizeof f.when + sizeof f.t_first +
                    sizeof f.t_last;
    assert_int_equal(sizeof(nnfi_fault), fields);
}

/* The documented counter layout (draw, k, trial, e << 20 | g << 16 | p),
 * key = seed, which the CUDA generator must reproduce. */
static void test_draw_layout(void **state)
{
    (void)state;
    nnfi_fault_id id = {0xfedcba9876543210ull, 4095, 15, 65535, 123456};
    for (uint32_t draw = 0; draw < 4; draw++) {
        for (uint32_t k = 0; k < 1000; k += 37) {
            nnfi_philox_ctr c = {{draw, k, 123456, (4095u << 20) | (15u << 16) | 65535u}};
            nnfi_philox_key key = {{0x76543210u, 0xfedcba98u}};
            nnfi_philox_ctr want = nnfi_philox4x32_10(c, key);
            nnfi_philox_ctr got = nnfi_sampler_draw(id, draw, k);
            assert_memory_equal(&want, &got, sizeof want);
        }
    }
    /* a non-distinct fault's element comes from words 0,1 of draw 0 */
    nnfi_group_plan g = base_plan();
    nnfi_fault_id bid = base_id();
    for (uint32_t k = 0; k < 2000; k++) {
        nnfi_fault f;
        nnfi_sampler_fault(&g, bid, k, &f);
        nnfi_philox_ctr d0 = nnfi_sampler_draw(bid, 0, k);
        uint64_t x = nnfi_mulhi64(nnfi_u64_of(d0.v[0], d0.v[1]), g.total);
        assert_true(check_fault(&g, &f, &bid) == x);
    }
}

static void fill_garbage(nnfi_fault *f, size_t n, int byte)
{
    memset(f, byte, n * sizeof *f);
}

static void check_pure(const nnfi_group_plan *g, uint64_t n)
{
    nnfi_fault_id id = base_id();
    nnfi_fault *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(c);
    fill_garbage(a, n, 0xa5);
    fill_garbage(b, n, 0x5a);
    fill_garbage(c, n, 0x00);
    nnfi_sampler_faults(g, id, 0, n, a);
    for (uint64_t k = n; k-- > 0;) nnfi_sampler_fault(g, id, k, &b[k]);
    uint64_t s = 31337;
    for (uint64_t k0 = 0; k0 < n;) {
        uint64_t len = 1 + nnfi_splitmix64(&s) % 700;
        if (len > n - k0) len = n - k0;
        nnfi_sampler_faults(g, id, k0, len, c + k0);
        k0 += len;
    }
    assert_memory_equal(a, b, n * sizeof *a);
    assert_memory_equal(a, c, n * sizeof *a);
    /* and a second full call over a different garbage gives the same bytes */
    fill_garbage(b, n, 0xff);
    nnfi_sampler_faults(g, id, 0, n, b);
    assert_memory_equal(a, b, n * sizeof *a);
    for (uint64_t k = 0; k < n; k++) check_fault(g, &a[k], &id);
    free(a);
    free(b);
    free(c);
}

static void test_pure_function(void **state)
{
    (void)state;
    nnfi_group_plan g = base_plan();
    check_pure(&g, 10000);
    g.bit_count = 3;
    g.op = NNFI_OP_RANDOM;
    check_pure(&g, 10000);
    g.op = NNFI_OP_SET;
    g.set_value = -1.25;
    g.transient = 1;
    g.scope = NNFI_SCOPE_SAMPLE;
    g.samples = 1000;
    g.t_from = 2;
    g.t_to = 9;
    g.duration = 3;
    check_pure(&g, 10000);
    g = base_plan();
    g.distinct = 1;
    check_pure(&g, TOTAL);
}

/* Changing any one index of the stream changes the faults. */
static void test_streams_differ(void **state)
{
    (void)state;
    nnfi_group_plan g = base_plan();
    g.bit_count = 2;
    enum { N = 200 };
    nnfi_fault base[N], other[N];
    nnfi_fault_id id0 = base_id();
    nnfi_sampler_faults(&g, id0, 0, N, base);
    for (int which = 0; which < 6; which++) {
        nnfi_fault_id id = id0;
        switch (which) {
        case 0: id.seed ^= 1; break;
        case 1: id.seed ^= (uint64_t)1 << 40; break; /* the high key word counts too */
        case 2: id.experiment += 1; break;
        case 3: id.group = 3; break;
        case 4: id.point += 1; break;
        default: id.trial += 1; break;
        }
        nnfi_sampler_faults(&g, id, 0, N, other);
        int same = 0;
        for (int k = 0; k < N; k++)
            same += other[k].site == base[k].site && other[k].element == base[k].element &&
                    other[k].mask == base[k].mask;
        /* collisions of (element, bits) happen with p ~ 1e-4 each */
        if (same > 3) fail_msg("index %d: %d of %d faults unchanged", which, same, N);
        if (which == 3)
            for (int k = 0; k < N; k++) assert_int_equal(other[k].group, 3);
    }
    /* and within a stream fault k differs from fault k+1 */
    int same = 0;
    for (int k = 0; k + 1 < N; k++) same += base[k].element == base[k + 1].element && base[k].site == base[k + 1].site;
    assert_true(same <= 3);
}

/* Element choice is uniform over the selected elements: per-site counts within
 * 5 sigma of the binomial expectation, and a chi-square over all elements. */
static void test_uniform_elements(void **state)
{
    (void)state;
    nnfi_group_plan g = base_plan();
    nnfi_fault_id id = base_id();
    const uint64_t n = 200000;
    nnfi_fault *f = malloc(n * sizeof *f);
    uint64_t *per_elem = calloc(TOTAL, sizeof *per_elem);
    assert_non_null(f);
    assert_non_null(per_elem);
    nnfi_sampler_faults(&g, id, 0, n, f);
    uint64_t per_site[N_SITES] = {0};
    for (uint64_t k = 0; k < n; k++) {
        uint64_t x = check_fault(&g, &f[k], &id);
        per_site[local_site(f[k].site)]++;
        per_elem[x]++;
    }
    for (int i = 0; i < N_SITES; i++) {
        double p = (double)site_numel[i] / TOTAL;
        double expect = (double)n * p, sigma = sqrt((double)n * p * (1 - p));
        if (fabs((double)per_site[i] - expect) > 5 * sigma)
            fail_msg("site %d: %llu faults, expected %.1f +- %.1f", i, (unsigned long long)per_site[i], expect, sigma);
    }
    double expect = (double)n / TOTAL, chi2 = 0;
    for (uint64_t x = 0; x < TOTAL; x++) chi2 += ((double)per_elem[x] - expect) * ((double)per_elem[x] - expect) / expect;
    double df = TOTAL - 1, sd = sqrt(2 * df);
    if (fabs(chi2 - df) > 5 * sd) fail_msg("chi-square %.1f over %g degrees of freedom", chi2, df);
    free(f);
    free(per_elem);
}

/* distinct = 1: faults 0..n-1 (n <= total) hit distinct elements, in any
 * generation order; n == total hits each element exactly once. */
static void check_distinct(const nnfi_group_plan *g, nnfi_fault_id id, uint64_t n)
{
    nnfi_fault *f = malloc(n * sizeof *f), *r = malloc(n * sizeof *r);
    uint8_t *seen = calloc(g->total, 1);
    assert_non_null(f);
    assert_non_null(r);
    assert_non_null(seen);
    fill_garbage(f, n, 0x11);
    fill_garbage(r, n, 0xee);
    nnfi_sampler_faults(g, id, 0, n, f);
    for (uint64_t k = n; k-- > 0;) nnfi_sampler_fault(g, id, k, &r[k]);
    assert_memory_equal(f, r, n * sizeof *f);
    for (uint64_t k = 0; k < n; k++) {
        uint64_t x = check_fault(g, &f[k], &id);
        if (seen[x]) fail_msg("fault %llu repeats element %llu", (unsigned long long)k, (unsigned long long)x);
        seen[x] = 1;
    }
    if (n == g->total)
        for (uint64_t x = 0; x < g->total; x++) assert_int_equal(seen[x], 1);
    free(f);
    free(r);
    free(seen);
}

static void test_distinct(void **state)
{
    (void)state;
    nnfi_group_plan g = base_plan();
    g.distinct = 1;
    nnfi_fault_id id = base_id();
    check_distinct(&g, id, 4000);
    check_distinct(&g, id, TOTAL);
    id.trial++;
    check_distinct(&g, id, TOTAL);
    /* two trials give different permutations */
    nnfi_fault a[50], b[50];
    nnfi_sampler_faults(&g, base_id(), 0, 50, a);
    nnfi_sampler_faults(&g, id, 0, 50, b);
    int same = 0;
    for (int k = 0; k < 50; k++) same += a[k].site == b[k].site && a[k].element == b[k].element;
    assert_true(same <= 2);
}

/* Distinct over single-site tables of awkward sizes (1, powers of two and
 * their neighbours): always a permutation of [0, total). */
static void test_distinct_sizes(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {1, 2, 3, 4, 5, 7, 16, 17, 63, 64, 65, 255, 256, 257, 1000, 4095, 4096, 4097, 65537};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        uint32_t sid = 11;
        uint8_t dt = NNFI_DT_I32;
        uint64_t prefix[2] = {0, sizes[s]};
        nnfi_group_plan g = base_plan();
        g.n_sites = 1;
        g.site_ids = &sid;
        g.site_dtype = &dt;
        g.prefix = prefix;
        g.total = sizes[s];
        g.candidates[NNFI_DT_I32] = nnfi_preset_mask(NNFI_DT_I32, NNFI_BITS_ALL);
        g.distinct = 1;
        nnfi_fault_id id = base_id();
        id.trial = (uint32_t)s;
        check_distinct(&g, id, sizes[s]);
    }
}

static void test_bit_count(void **state)
{
    (void)state;
    nnfi_group_plan g = base_plan();
    nnfi_fault_id id = base_id();
    enum { N = 20000 };
    nnfi_fault *f = malloc(N * sizeof *f);
    assert_non_null(f);
    /* exactly 3 distinct bits, inside the candidates of the fault's dtype */
    g.bit_count = 3;
    nnfi_sampler_faults(&g, id, 0, N, f);
    uint64_t hits[64] = {0};
    uint64_t n_f64 = 0;
    for (int k = 0; k < N; k++) {
        check_fault(&g, &f[k], &id);
        assert_int_equal(__builtin_popcountll(f[k].mask), 3);
        if (site_dtype[local_site(f[k].site)] == NNFI_DT_F64) {
            n_f64++;
            for (int b = 0; b < 64; b++) hits[b] += (f[k].mask >> b) & 1;
        }
    }
    /* every bit of the fp64 candidates is picked with probability 3/64 */
    assert_true(n_f64 > 1000);
    for (int b = 0; b < 64; b++) {
        double p = 3.0 / 64, e = (double)n_f64 * p, sd = sqrt((double)n_f64 * p * (1 - p));
        if (fabs((double)hits[b] - e) > 5 * sd)
            fail_msg("fp64 bit %d picked %llu times, expected %.1f", b, (unsigned long long)hits[b], e);
    }
    /* the picks are independent: on int8 (8 candidates) every pair (bit_count
     * 2) and every triple (bit_count 3, one pick from draw 2) is equally likely */
    for (uint32_t bc = 2; bc <= 3; bc++) {
        g.bit_count = bc;
        nnfi_sampler_faults(&g, id, 0, N, f);
        uint64_t by_mask[256] = {0}, n_i8 = 0;
        for (int k = 0; k < N; k++) {
            if (site_dtype[local_site(f[k].site)] != NNFI_DT_I8) continue;
            assert_int_equal(__builtin_popcountll(f[k].mask), bc);
            by_mask[f[k].mask & 0xff]++;
            n_i8++;
        }
        double cells = bc == 2 ? 28 : 56, e = (double)n_i8 / cells, chi2 = 0;
        for (int m = 0; m < 256; m++)
            if (__builtin_popcount((unsigned)m) == (int)bc) chi2 += ((double)by_mask[m] - e) * ((double)by_mask[m] - e) / e;
        double df = cells - 1;
        if (chi2 > df + 5 * sqrt(2 * df)) fail_msg("bit_count %u: chi-square %.1f over %g cells", bc, chi2, cells);
    }
    /* many bits use the extra draws (bit picks 2..): still distinct and inside */
    g.bit_count = 20;
    g.candidates[NNFI_DT_F16] = nnfi_preset_mask(NNFI_DT_F16, NNFI_BITS_ALL);
    g.candidates[NNFI_DT_BF16] = nnfi_preset_mask(NNFI_DT_BF16, NNFI_BITS_ALL);
    nnfi_sampler_faults(&g, id, 0, N, f);
    for (int k = 0; k < N; k++) {
        nnfi_dtype dt = (nnfi_dtype)site_dtype[local_site(f[k].site)];
        check_fault(&g, &f[k], &id);
        unsigned want = nnfi_dtype_bits(dt) < 20 ? nnfi_dtype_bits(dt) : 20;
        assert_int_equal(__builtin_popcountll(f[k].mask), want);
    }
    /* 0 = the whole candidate mask; a count >= the candidates also gives all */
    for (uint32_t bc = 0; bc < 2; bc++) {
        g = base_plan();
        g.bit_count = bc == 0 ? 0 : 64;
        nnfi_sampler_faults(&g, id, 0, N, f);
        for (int k = 0; k < N; k++) {
            nnfi_dtype dt = (nnfi_dtype)site_dtype[local_site(f[k].site)];
            assert_true(f[k].mask == g.candidates[dt]);
        }
    }
    /* a single candidate bit */
    g = base_plan();
    g.candidates[NNFI_DT_F32] = nnfi_preset_mask(NNFI_DT_F32, NNFI_BITS_SIGN);
    g.candidates[NNFI_DT_I8] = 0x10;
    nnfi_sampler_faults(&g, id, 0, N, f);
    for (int k = 0; k < N; k++) {
        nnfi_dtype dt = (nnfi_dtype)site_dtype[local_site(f[k].site)];
        if (dt == NNFI_DT_F32) assert_true(f[k].mask == 0x80000000u);
        if (dt == NNFI_DT_I8) assert_true(f[k].mask == 0x10);
    }
    free(f);
}

static void test_op_values(void **state)
{
    (void)state;
    nnfi_group_plan g = base_plan();
    nnfi_fault_id id = base_id();
    enum { N = 20000 };
    nnfi_fault *f = malloc(N * sizeof *f);
    assert_non_null(f);
    g.op = NNFI_OP_RANDOM;
    g.bit_count = 0;
    nnfi_sampler_faults(&g, id, 0, N, f);
    uint64_t or_per_dt[NNFI_DT_COUNT] = {0};
    int distinct_values = 0;
    for (int k = 0; k < N; k++) {
        nnfi_dtype dt = (nnfi_dtype)site_dtype[local_site(f[k].site)];
        assert_int_equal(f[k].op, NNFI_OP_RANDOM);
        assert_true((f[k].value & ~nnfi_low_mask(nnfi_dtype_bits(dt))) == 0);
        or_per_dt[dt] |= f[k].value;
        if (k > 0) distinct_values += f[k].value != f[k - 1].value;
    }
    /* random values cover the whole width of each dtype */
    assert_true(or_per_dt[NNFI_DT_F32] == 0xffffffffu);
    assert_true(or_per_dt[NNFI_DT_I8] == 0xff);
    assert_true(or_per_dt[NNFI_DT_F64] == UINT64_MAX);
    assert_true(or_per_dt[NNFI_DT_F16] == 0xffff);
    assert_true(distinct_values > N * 9 / 10);
    /* SET writes the number encoded in each site's dtype */
    const double vals[] = {300.7, -1.5, 0.1, 1e10, -0.0};
    for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
        g.op = NNFI_OP_SET;
        g.set_value = vals[v];
        nnfi_sampler_faults(&g, id, 0, 2000, f);
        for (int k = 0; k < 2000; k++) {
            nnfi_dtype dt = (nnfi_dtype)site_dtype[local_site(f[k].site)];
            assert_int_equal(f[k].op, NNFI_OP_SET);
            assert_true(f[k].value == nnfi_value_encode(vals[v], dt));
        }
    }
    /* the set value really is per dtype */
    assert_true(nnfi_value_encode(300.7, NNFI_DT_I8) != nnfi_value_encode(300.7, NNFI_DT_F16));
    /* the other ops carry no value */
    for (int op = NNFI_OP_FLIP; op <= NNFI_OP_STUCK1; op++) {
        g.op = (uint8_t)op;
        g.set_value = 5;
        nnfi_sampler_faults(&g, id, 0, 500, f);
        for (int k = 0; k < 500; k++) {
            assert_int_equal(f[k].op, op);
            assert_true(f[k].value == 0);
        }
    }
    free(f);
}

static void test_transient(void **state)
{
    (void)state;
    nnfi_group_plan g = base_plan();
    nnfi_fault_id id = base_id();
    enum { N = 1000 };
    nnfi_fault f[N];
    /* scope call: when in [0, calls), every call hit */
    g.transient = 1;
    g.scope = NNFI_SCOPE_CALL;
    g.calls = 7;
    g.samples = 1000000;
    nnfi_sampler_faults(&g, id, 0, N, f);
    int seen_call[7] = {0};
    for (int k = 0; k < N; k++) {
        assert_int_equal(f[k].transient, 1);
        assert_int_equal(f[k].scope, NNFI_SCOPE_CALL);
        assert_true(f[k].when >= 0 && f[k].when < 7);
        seen_call[f[k].when]++;
        assert_int_equal(f[k].t_first, 0); /* unbounded window: every step */
        assert_true(f[k].t_last == UINT32_MAX);
    }
    for (int c = 0; c < 7; c++) assert_true(seen_call[c] > 0);
    /* scope sample: when in [0, samples) */
    g.scope = NNFI_SCOPE_SAMPLE;
    g.calls = 7;
    g.samples = 50;
    nnfi_sampler_faults(&g, id, 0, N, f);
    int seen_sample[50] = {0};
    int64_t maxwhen = 0;
    for (int k = 0; k < N; k++) {
        assert_int_equal(f[k].scope, NNFI_SCOPE_SAMPLE);
        assert_true(f[k].when >= 0 && f[k].when < 50);
        seen_sample[f[k].when] = 1;
        if (f[k].when > maxwhen) maxwhen = f[k].when;
    }
    for (int c = 0; c < 50; c++) assert_true(seen_sample[c]);
    assert_true(maxwhen >= 7); /* it used samples, not calls */
    /* a time-step window with a duration: t_first in [from, to - duration + 1] */
    g.scope = NNFI_SCOPE_CALL;
    g.t_from = 2;
    g.t_to = 9;
    g.duration = 3;
    nnfi_sampler_faults(&g, id, 0, N, f);
    int seen_t[10] = {0};
    for (int k = 0; k < N; k++) {
        assert_true(f[k].t_first >= 2 && f[k].t_first <= 7);
        assert_int_equal(f[k].t_last, f[k].t_first + 2);
        seen_t[f[k].t_first] = 1;
    }
    for (int t = 2; t <= 7; t++) assert_true(seen_t[t]);
    /* duration == the window: the whole window */
    g.duration = 8;
    nnfi_sampler_faults(&g, id, 0, 100, f);
    for (int k = 0; k < 100; k++) {
        assert_int_equal(f[k].t_first, 2);
        assert_int_equal(f[k].t_last, 9);
    }
    /* permanent faults: when -1 and the window as given */
    g.transient = 0;
    g.duration = 3;
    nnfi_sampler_faults(&g, id, 0, N, f);
    for (int k = 0; k < N; k++) {
        assert_int_equal(f[k].transient, 0);
        assert_true(f[k].when == -1);
        assert_int_equal(f[k].t_first, 2);
        assert_int_equal(f[k].t_last, 9);
    }
    g.t_from = 0;
    g.t_to = UINT32_MAX;
    nnfi_sampler_faults(&g, id, 0, 10, f);
    for (int k = 0; k < 10; k++) {
        assert_true(f[k].when == -1);
        assert_int_equal(f[k].t_first, 0);
        assert_true(f[k].t_last == UINT32_MAX);
    }
}

/* An explicit element: every fault names it, on the one selected site. */
static void test_explicit_element(void **state)
{
    (void)state;
    uint32_t sid = 4;
    uint8_t dt = NNFI_DT_F32;
    uint64_t prefix[2] = {0, 100};
    nnfi_group_plan g = base_plan();
    g.n_sites = 1;
    g.site_ids = &sid;
    g.site_dtype = &dt;
    g.prefix = prefix;
    g.total = 100;
    g.element = 42;
    nnfi_fault f[200];
    nnfi_sampler_faults(&g, base_id(), 0, 200, f);
    uint64_t masks = 0;
    for (int k = 0; k < 200; k++) {
        assert_int_equal(f[k].site, 4);
        assert_int_equal(f[k].element, 42);
        assert_int_equal(__builtin_popcountll(f[k].mask), 1);
        masks |= f[k].mask;
    }
    assert_true(__builtin_popcountll(masks) > 20); /* the bit is still random */
}

static nnfi_group_plan one_site_plan(uint64_t total, uint64_t *prefix, uint32_t *sid, uint8_t *dt)
{
    *sid = 0;
    *dt = NNFI_DT_F32;
    prefix[0] = 0;
    prefix[1] = total;
    nnfi_group_plan g = base_plan();
    g.n_sites = 1;
    g.site_ids = sid;
    g.site_dtype = dt;
    g.prefix = prefix;
    g.total = total;
    return g;
}

static void check_poisson_mean(const nnfi_group_plan *g, double rate)
{
    double lambda = rate * (double)g->total;
    nnfi_count_rule rule = {0, rate, 1};
    nnfi_fault_id id = base_id();
    const int n = 2000;
    double sum = 0, sum2 = 0;
    for (int t = 0; t < n; t++) {
        id.trial = (uint32_t)t;
        uint64_t c = nnfi_sampler_count(g, rule, id);
        assert_true(c == nnfi_sampler_count(g, rule, id)); /* same id, same count */
        assert_true(c <= g->total);
        sum += (double)c;
        sum2 += (double)c * (double)c;
    }
    double mean = sum / n, var = sum2 / n - mean * mean;
    if (fabs(mean - lambda) > 0.05 * lambda) fail_msg("lambda %g: mean %g", lambda, mean);
    if (fabs(var - lambda) > 0.2 * lambda) fail_msg("lambda %g: variance %g", lambda, var);
}

static void test_count(void **state)
{
    (void)state;
    uint64_t prefix[2];
    uint32_t sid;
    uint8_t dt;
    nnfi_group_plan g = one_site_plan(10000, prefix, &sid, &dt);
    nnfi_fault_id id = base_id();
    /* fixed counts */
    nnfi_count_rule fixed = {17, 0, 0};
    assert_int_equal(nnfi_sampler_count(&g, fixed, id), 17);
    fixed.poisson = 1;
    assert_int_equal(nnfi_sampler_count(&g, fixed, id), 17);
    fixed.count = 0;
    assert_int_equal(nnfi_sampler_count(&g, fixed, id), 0);
    /* rates, rounded */
    nnfi_count_rule r = {999, 1e-3, 0};
    assert_int_equal(nnfi_sampler_count(&g, r, id), 10);
    r.rate = 2.5e-4; /* 2.5 -> 3 */
    assert_int_equal(nnfi_sampler_count(&g, r, id), 3);
    r.rate = 2.4e-4;
    assert_int_equal(nnfi_sampler_count(&g, r, id), 2);
    r.rate = 1e-9;
    assert_int_equal(nnfi_sampler_count(&g, r, id), 0);
    r.rate = 2.0; /* capped at the selected elements */
    assert_int_equal(nnfi_sampler_count(&g, r, id), 10000);
    /* Poisson: mean and variance lambda, both branches of the generator */
    check_poisson_mean(&g, 1e-3);   /* lambda 10: inversion */
    check_poisson_mean(&g, 2.9e-3); /* lambda 29 */
    check_poisson_mean(&g, 3.1e-3); /* lambda 31: PTRS */
    check_poisson_mean(&g, 5e-2);   /* lambda 500 */
    /* different trials draw different counts */
    nnfi_count_rule p = {0, 5e-2, 1};
    int differ = 0;
    uint64_t c0 = nnfi_sampler_count(&g, p, id);
    for (uint32_t t = 1; t < 20; t++) {
        id.trial = t;
        differ += nnfi_sampler_count(&g, p, id) != c0;
    }
    assert_true(differ >= 15);
    /* Poisson counts never exceed the total */
    nnfi_group_plan small = one_site_plan(5, prefix, &sid, &dt);
    nnfi_count_rule big = {0, 1.0, 1}; /* lambda == total: about half the draws are above */
    int at_cap = 0;
    for (uint32_t t = 0; t < 500; t++) {
        id.trial = t;
        uint64_t c = nnfi_sampler_count(&small, big, id);
        assert_true(c <= 5);
        at_cap += c == 5;
    }
    assert_true(at_cap > 100);
    g = one_site_plan(1000, prefix, &sid, &dt);
    big.rate = 1.0; /* lambda 1000, PTRS */
    at_cap = 0;
    for (uint32_t t = 0; t < 500; t++) {
        id.trial = t;
        uint64_t c = nnfi_sampler_count(&g, big, id);
        assert_true(c <= 1000);
        at_cap += c == 1000;
    }
    assert_true(at_cap > 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fault_layout),
        cmocka_unit_test(test_draw_layout),
        cmocka_unit_test(test_pure_function),
        cmocka_unit_test(test_streams_differ),
        cmocka_unit_test(test_uniform_elements),
        cmocka_unit_test(test_distinct),
        cmocka_unit_test(test_distinct_sizes),
        cmocka_unit_test(test_bit_count),
        cmocka_unit_test(test_op_values),
        cmocka_unit_test(test_transient),
        cmocka_unit_test(test_explicit_element),
        cmocka_unit_test(test_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
