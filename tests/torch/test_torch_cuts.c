/* test_torch_cuts.c - prefix reuse ("cuts") of the torch host on the model
 * zoo (cnn, snn, qcnn, pcnn in MODELS_DIR, written by campaigns/models). For
 * each model that is there: prints its cuts (bytes per sample) and each
 * site's cut, then checks, on a deterministic batch of 8,
 *   - forward_capture's logits equal forward()'s bit for bit, the hook set is
 *     not called, and asking for one cut only writes the same bytes; an
 *     unusable cut (cut_bytes 0) is refused by forward_capture and forward_from;
 *   - for every usable cut, forward_from(captured live values) gives forward()'s
 *     logits bit for bit; with the rows reversed, the logits of the reversed
 *     batch (rows are independent, the live values are used);
 *   - with a hook that flips one bit of an activation/state site at or after
 *     the cut, forward_from's logits equal forward()'s with the same hook, and
 *     the hook is called for exactly forward()'s calls at sites whose cut is
 *     at or after it (same order, same t): never for the input or an earlier
 *     site;
 *   - cnn: fc2.weight's cut is later than conv1.weight's, its live value is
 *     fc1's relu output (320 floats); a bit flipped in fc2.weight through the
 *     site's memory gives the same logits from that cut as a whole forward,
 *     one in conv1.weight does not reach the logits from there (the prefix is
 *     not rerun); restoring gives the golden logits again;
 *   - site_value_cut (printed per site): a site with one is an activation
 *     site, the cut is its own (site_cut) with cut_bytes == its numel x dtype
 *     size, and the bytes the hook receives for it in a plain forward() equal
 *     forward_capture's bytes of that cut, row for row, bit for bit; a hook
 *     that returns NNFI_STOP there ends forward() / forward_from() with
 *     NNFI_STOP and the next forward is golden again. cnn: conv1.conv2d#0 ...
 *     fc2.linear#0 all have one; snn, qcnn: none (states, quantized tensors).
 *
 * Usage: test_torch_cuts MODELS_DIR   (exit 77 = skip when a model is missing;
 * the models that are there are tested first)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host_torch.h"
#include "nnfi/config.h"
#include "nnfi/model_host.h"

#define ROWS 8
#define MAX_CALLS 4096

static const char *g_dir = ".";
static const char *const g_models[] = {"cnn", "snn", "qcnn", "pcnn"};
#define N_MODELS (sizeof g_models / sizeof g_models[0])

/* ---- helpers ---------------------------------------------------------- */

static const nnfi_model_host *H(void) { return nnfi_host_torch(); }

static int model_present(const char *name)
{
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s.pt", g_dir, name);
    return stat(path, &sb) == 0;
}

static nnfi_model *open_model(const char *name)
{
    char file[64];
    snprintf(file, sizeof file, "%s.pt", name);
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = (char *)name;
    cfg.host = NNFI_HOST_TORCH;
    cfg.path = file;
    cfg.device = NNFI_DEVICE_CPU; /* the hooks below edit host memory */
    cfg.threads = 1;
    nnfi_model *m = NULL;
    if (H()->open(&cfg, g_dir, 42, &m) != NNFI_OK) fail_msg("open %s: %s", file, nnfi_error_message());
    assert_non_null(m);
    return m;
}

static int site_index(nnfi_model *m, const char *name)
{
    const nnfi_site *s = H()->sites(m);
    for (size_t i = 0; i < H()->n_sites(m); i++)
        if (strcmp(s[i].name, name) == 0) return (int)i;
    return -1;
}

/* deterministic inputs in [0, 1), like images */
static float *make_input(uint64_t numel, uint32_t salt)
{
    float *x = malloc(sizeof(float) * ROWS * numel);
    assert_non_null(x);
    for (uint64_t i = 0; i < ROWS * numel; i++)
        x[i] = (float)((((uint32_t)i * 2246822519u + salt * 374761393u) >> 9) & 0xffff) / 65536.0f;
    return x;
}

static void reverse_rows(const void *src, void *dst, uint64_t rows, size_t row_bytes)
{
    for (uint64_t r = 0; r < rows; r++)
        memcpy((char *)dst + r * row_bytes, (const char *)src + (rows - 1 - r) * row_bytes, row_bytes);
}

static void forward_ok(nnfi_model *m, const float *x, float *logits)
{
    if (H()->forward(m, x, ROWS, logits) != NNFI_OK) fail_msg("forward: %s", nnfi_error_message());
}

static void from_ok(nnfi_model *m, uint32_t c, const void *live, float *logits)
{
    if (H()->forward_from(m, c, live, ROWS, logits) != NNFI_OK)
        fail_msg("forward_from cut %u: %s", c, nnfi_error_message());
}

static void assert_same(const float *a, const float *b, size_t n, const char *what)
{
    if (memcmp(a, b, n * sizeof(float)) == 0) return;
    for (size_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float)) != 0)
            fail_msg("%s: logit %zu differs: %.9g vs %.9g", what, i, (double)a[i], (double)b[i]);
}

/* ---- the hook: records calls, flips one bit at (site, t, element 0 of row 0) ---- */

typedef struct recorder {
    int n;
    uint32_t site[MAX_CALLS], t[MAX_CALLS];
    int flip_site;
    uint32_t flip_t;
    int flips;
    const nnfi_site *sites;
} recorder;

static nnfi_status record_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    recorder *r = user;
    (void)rows;
    if (r->n < MAX_CALLS) {
        r->site[r->n] = site;
        r->t[r->n] = t;
        r->n++;
    }
    if ((int)site == r->flip_site && t == r->flip_t) {
        unsigned bits = r->sites[site].dtype == NNFI_DT_F32 ? 32 : r->sites[site].dtype == NNFI_DT_I32 ? 32 : 8;
        unsigned bit = bits == 32 ? 30 : 6;
        if (bits == 32) ((uint32_t *)data)[0] ^= 1u << bit;
        else ((uint8_t *)data)[0] ^= (uint8_t)(1u << bit);
        r->flips++;
    }
    return NNFI_OK;
}

static void recorder_init(recorder *r, nnfi_model *m, int flip_site)
{
    memset(r, 0, sizeof *r);
    r->flip_site = flip_site;
    r->sites = H()->sites(m);
}

/* ---- one model -------------------------------------------------------- */

static void print_cuts(nnfi_model *m)
{
    const nnfi_site *s = H()->sites(m);
    uint32_t n = H()->n_cuts(m);
    printf("  info: %s\n  %u cuts:", nnfi_host_torch_info(m), n);
    for (uint32_t c = 0; c < n; c++) printf(" %u:%llu", c, (unsigned long long)H()->cut_bytes(m, c));
    printf(" (bytes per sample)\n");
    for (size_t i = 0; i < H()->n_sites(m); i++)
        printf("    site %2zu %-10s cut %3d  value cut %3d  %s\n", i, nnfi_site_kind_name(s[i].kind),
               H()->site_cut(m, (uint32_t)i), H()->site_value_cut(m, (uint32_t)i), s[i].name);
}

typedef struct captured {
    uint32_t n;
    void **live; /* per cut, NULL when unusable */
} captured;

static captured capture_all(nnfi_model *m, const float *x, float *logits)
{
    captured k;
    k.n = H()->n_cuts(m);
    k.live = calloc(k.n ? k.n : 1, sizeof(void *));
    assert_non_null(k.live);
    for (uint32_t c = 0; c < k.n; c++) {
        uint64_t b = H()->cut_bytes(m, c);
        if (b) k.live[c] = malloc(b * ROWS);
    }
    if (H()->forward_capture(m, x, ROWS, logits, k.live) != NNFI_OK)
        fail_msg("forward_capture: %s", nnfi_error_message());
    return k;
}

static void captured_free(captured *k)
{
    for (uint32_t c = 0; c < k->n; c++) free(k->live[c]);
    free(k->live);
}

/* the activation/state site at or after cut c to flip: one whose cut is c, else the first later */
static int site_to_flip(nnfi_model *m, uint32_t c)
{
    const nnfi_site *s = H()->sites(m);
    int best = -1;
    for (size_t i = 0; i < H()->n_sites(m); i++) {
        if (s[i].kind != NNFI_SITE_ACTIVATION && s[i].kind != NNFI_SITE_STATE) continue;
        int32_t sc = H()->site_cut(m, (uint32_t)i);
        if (sc == (int32_t)c) return (int)i;
        if (sc > (int32_t)c && (best < 0 || sc < H()->site_cut(m, (uint32_t)best))) best = (int)i;
    }
    return best;
}

/* ---- site_value_cut: what the hook receives == the cut's captured bytes ---- */

typedef struct value_rec {
    const nnfi_site *sites;
    size_t n_sites;
    void **data;     /* per site: rows x numel x size, NULL when not recorded */
    int *calls;      /* per site */
    int stop_site;   /* the hook returns NNFI_STOP here (-1: never) */
} value_rec;

static size_t dtype_size(nnfi_dtype dt) { return nnfi_dtype_bits(dt) / 8; }

static nnfi_status value_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    value_rec *r = user;
    if (site >= r->n_sites) return NNFI_OK;
    r->calls[site]++;
    if (r->data[site] && t == 0) {
        assert_int_equal(rows, ROWS);
        memcpy(r->data[site], data, (size_t)rows * r->sites[site].numel * dtype_size(r->sites[site].dtype));
    }
    return (int)site == r->stop_site ? NNFI_STOP : NNFI_OK;
}

static void check_value_cuts(nnfi_model *m, const char *name, const float *x, const captured *k, const float *ref)
{
    const nnfi_site *s = H()->sites(m);
    size_t n = H()->n_sites(m);
    uint32_t classes = H()->n_classes(m);
    assert_true(nnfi_host_has_value_cuts(H()));
    value_rec r;
    memset(&r, 0, sizeof r);
    r.sites = s;
    r.n_sites = n;
    r.stop_site = -1;
    r.data = calloc(n, sizeof(void *));
    r.calls = calloc(n, sizeof(int));
    assert_true(r.data && r.calls);
    int with = 0, first = -1;
    printf("  value cuts:");
    for (size_t i = 0; i < n; i++) {
        int32_t vc = H()->site_value_cut(m, (uint32_t)i);
        assert_true(vc >= -1 && vc < (int32_t)H()->n_cuts(m));
        if (vc < 0) continue;
        /* the rules the engine relies on */
        assert_int_equal(s[i].kind, NNFI_SITE_ACTIVATION);
        assert_int_equal(vc, H()->site_cut(m, (uint32_t)i));
        assert_int_equal(H()->cut_bytes(m, (uint32_t)vc), s[i].numel * dtype_size(s[i].dtype));
        assert_non_null(k->live[vc]);
        r.data[i] = malloc((size_t)ROWS * s[i].numel * dtype_size(s[i].dtype));
        assert_non_null(r.data[i]);
        printf(" %s->%d", s[i].name, vc);
        if (first < 0) first = (int)i;
        with++;
    }
    printf("%s (%d of %zu sites)\n", with ? "" : " none", with, n);
    for (size_t i = 0; i < n; i++)
        if (s[i].kind != NNFI_SITE_ACTIVATION) assert_int_equal(H()->site_value_cut(m, (uint32_t)i), -1);

    if (strcmp(name, "cnn") == 0) {
        static const char *const want[] = {"conv1.conv2d#0", "relu1.relu#0", "conv2.conv2d#0", "relu2.relu#0",
                                           "fc1.linear#0",   "relu3.relu#0", "fc2.linear#0"};
        for (size_t w = 0; w < sizeof want / sizeof want[0]; w++) {
            int i = site_index(m, want[w]);
            if (i < 0) fail_msg("cnn: no site %s", want[w]);
            if (H()->site_value_cut(m, (uint32_t)i) < 0) fail_msg("cnn: site %s has no value cut", want[w]);
        }
    }
    if (strcmp(name, "snn") == 0 || strcmp(name, "qcnn") == 0)
        for (size_t i = 0; i < n; i++)
            if (s[i].kind == NNFI_SITE_STATE || s[i].dtype != NNFI_DT_F32)
                assert_int_equal(H()->site_value_cut(m, (uint32_t)i), -1);

    if (with) {
        /* a plain forward with the recording hook (it changes nothing): the hook's bytes == the cut's */
        float *logits = malloc(sizeof(float) * ROWS * classes);
        assert_non_null(logits);
        assert_int_equal(H()->set_hook(m, value_hook, &r), NNFI_OK);
        forward_ok(m, x, logits);
        assert_same(ref, logits, (size_t)ROWS * classes, "forward with the recording hook");
        for (size_t i = 0; i < n; i++) {
            if (!r.data[i]) continue;
            int32_t vc = H()->site_value_cut(m, (uint32_t)i);
            size_t row = s[i].numel * dtype_size(s[i].dtype);
            assert_int_equal(r.calls[i], 1); /* a top-level site: one call per forward */
            for (int rr = 0; rr < ROWS; rr++)
                if (memcmp((char *)r.data[i] + rr * row, (char *)k->live[vc] + rr * row, row) != 0) {
                    size_t e = 0;
                    while (memcmp((char *)r.data[i] + rr * row + e, (char *)k->live[vc] + rr * row + e, 1) == 0) e++;
                    fail_msg("site %s, value cut %d: row %d differs from the captured bytes at byte %zu", s[i].name,
                             vc, rr, e);
                }
        }
        /* NNFI_STOP from the hook at the first such site ends the forward with NNFI_STOP */
        int32_t vc = H()->site_value_cut(m, (uint32_t)first);
        r.stop_site = first;
        memset(r.calls, 0, n * sizeof(int));
        assert_int_equal(H()->forward(m, x, ROWS, logits), NNFI_STOP);
        assert_int_equal(r.calls[first], 1);
        assert_int_equal(H()->forward_from(m, (uint32_t)vc, k->live[vc], ROWS, logits), NNFI_STOP);
        r.stop_site = -1;
        forward_ok(m, x, logits);
        assert_same(ref, logits, (size_t)ROWS * classes, "forward after NNFI_STOP");
        assert_int_equal(H()->set_hook(m, NULL, NULL), NNFI_OK);
        printf("  value cuts: the hook's bytes equal the captured cut bytes (%d sites, %d rows); NNFI_STOP at %s "
               "ends the forward\n", with, ROWS, s[first].name);
        free(logits);
    }
    for (size_t i = 0; i < n; i++) free(r.data[i]);
    free(r.data);
    free(r.calls);
}

static void check_model(const char *name)
{
    printf("[ %s ]\n", name);
    nnfi_model *m = open_model(name);
    assert_true(nnfi_host_has_cuts(H()));
    print_cuts(m);
    uint32_t n_cuts = H()->n_cuts(m), classes = H()->n_classes(m);
    uint64_t numel = H()->input_numel(m);
    const nnfi_site *s = H()->sites(m);
    for (size_t i = 0; i < H()->n_sites(m); i++) {
        int32_t sc = H()->site_cut(m, (uint32_t)i);
        assert_true(sc >= -1 && sc < (int32_t)n_cuts);
        if (s[i].kind == NNFI_SITE_INPUT) assert_int_equal(sc, -1);
        if (s[i].kind == NNFI_SITE_ACTIVATION || s[i].kind == NNFI_SITE_STATE) assert_true(sc >= -1);
    }
    assert_int_equal(H()->cut_bytes(m, n_cuts), 0); /* no such cut */

    float *x = make_input(numel, 1), *xr = malloc(sizeof(float) * ROWS * numel);
    float *ref = malloc(sizeof(float) * ROWS * classes), *got = malloc(sizeof(float) * ROWS * classes);
    float *ref_r = malloc(sizeof(float) * ROWS * classes), *hooked = malloc(sizeof(float) * ROWS * classes);
    assert_true(xr && ref && got && ref_r && hooked);
    reverse_rows(x, xr, ROWS, sizeof(float) * numel);
    forward_ok(m, x, ref);
    forward_ok(m, xr, ref_r);

    /* (a) capture: the forward's logits, no hook call; a single cut asked gives the same bytes */
    recorder rec;
    recorder_init(&rec, m, -1);
    assert_int_equal(H()->set_hook(m, record_hook, &rec), NNFI_OK);
    captured k = capture_all(m, x, got);
    assert_int_equal(rec.n, 0);
    assert_int_equal(H()->set_hook(m, NULL, NULL), NNFI_OK);
    assert_same(ref, got, (size_t)ROWS * classes, "forward_capture vs forward");
    uint32_t usable = 0;
    for (uint32_t c = 0; c < n_cuts; c++) {
        if (!k.live[c]) { /* unusable: refused */
            assert_int_equal(H()->forward_from(m, c, x, ROWS, got), NNFI_E_INVALID);
            void **one = calloc(n_cuts, sizeof(void *));
            assert_non_null(one);
            one[c] = got;
            assert_int_equal(H()->forward_capture(m, x, ROWS, got, one), NNFI_E_INVALID);
            free(one);
            continue;
        }
        usable++;
        uint64_t b = H()->cut_bytes(m, c);
        void **one = calloc(n_cuts, sizeof(void *));
        assert_non_null(one);
        one[c] = malloc(b * ROWS);
        assert_int_equal(H()->forward_capture(m, x, ROWS, got, one), NNFI_OK);
        assert_memory_equal(one[c], k.live[c], b * ROWS);
        free(one[c]);
        free(one);
    }
    printf("  %u of %u cuts usable\n", usable, n_cuts);
    check_value_cuts(m, name, x, &k, ref);

    int changed_any = 0;
    for (uint32_t c = 0; c < n_cuts; c++) {
        if (!k.live[c]) continue;
        uint64_t b = H()->cut_bytes(m, c);
        char what[256];
        /* (b) resumed = whole, bit for bit; reversed rows = the reversed batch */
        from_ok(m, c, k.live[c], got);
        snprintf(what, sizeof what, "forward_from cut %u vs forward", c);
        assert_same(ref, got, (size_t)ROWS * classes, what);
        void *rev = malloc(b * ROWS);
        assert_non_null(rev);
        reverse_rows(k.live[c], rev, ROWS, (size_t)b);
        from_ok(m, c, rev, got);
        snprintf(what, sizeof what, "forward_from cut %u, rows reversed", c);
        assert_same(ref_r, got, (size_t)ROWS * classes, what);
        free(rev);

        /* (c) a hook at or after the cut: same logits and calls as the whole forward's */
        int fs = site_to_flip(m, c);
        if (fs < 0) {
            printf("  cut %u: no activation or state site after it\n", c);
            continue;
        }
        recorder whole, part;
        recorder_init(&whole, m, fs);
        H()->set_hook(m, record_hook, &whole);
        forward_ok(m, x, hooked);
        recorder_init(&part, m, fs);
        H()->set_hook(m, record_hook, &part);
        from_ok(m, c, k.live[c], got);
        H()->set_hook(m, NULL, NULL);
        snprintf(what, sizeof what, "cut %u, bit flipped at site %s", c, s[fs].name);
        assert_same(hooked, got, (size_t)ROWS * classes, what);
        assert_int_equal(whole.flips, 1);
        assert_int_equal(part.flips, 1);
        int changed = memcmp(hooked, ref, sizeof(float) * ROWS * classes) != 0;
        changed_any |= changed;
        int j = 0;
        for (int i = 0; i < whole.n; i++) {
            int32_t sc = H()->site_cut(m, whole.site[i]);
            if (sc < 0 || sc < (int32_t)c) continue; /* before the cut (or the input): not rerun */
            if (j >= part.n) fail_msg("cut %u: the resumed forward missed call %d (site %s, t %u)", c, i,
                                      s[whole.site[i]].name, whole.t[i]);
            assert_int_equal(part.site[j], whole.site[i]);
            assert_int_equal(part.t[j], whole.t[i]);
            j++;
        }
        for (int i = 0; i < part.n; i++)
            if (H()->site_cut(m, part.site[i]) < (int32_t)c || H()->site_cut(m, part.site[i]) < 0)
                fail_msg("cut %u: the hook was called for site %s, before the cut", c, s[part.site[i]].name);
        assert_int_equal(j, part.n);
        printf("  cut %u (%llu B/sample): resumed = whole, also with a flip at %s (%d of %d calls; logits %s)\n", c,
               (unsigned long long)b, s[fs].name, part.n, whole.n, changed ? "changed" : "unchanged");
    }
    if (usable) assert_true(changed_any); /* some flip reached the logits: the hook checks mean something */

    /* (d) the CNN: a weight after the cut is read from the model, one before is not */
    if (strcmp(name, "cnn") == 0) {
        int w1 = site_index(m, "conv1.weight"), w2 = site_index(m, "fc2.weight");
        assert_true(w1 >= 0 && w2 >= 0);
        int32_t c1 = H()->site_cut(m, (uint32_t)w1), c2 = H()->site_cut(m, (uint32_t)w2);
        printf("  conv1.weight: cut %d, fc2.weight: cut %d (%llu B/sample)\n", c1, c2,
               (unsigned long long)H()->cut_bytes(m, (uint32_t)c2));
        assert_true(c1 >= 0 && c2 > c1);
        assert_int_equal(H()->cut_bytes(m, (uint32_t)c2), 320 * sizeof(float)); /* fc1's relu output */
        /* fc2.weight[0][j] with fc1's relu output j non-zero in row 0 (from the captured values) */
        const float *relu3 = k.live[c2];
        int j = 0;
        while (j < 320 && relu3[j] == 0.0f) j++;
        assert_true(j < 320);
        uint32_t *w2p = (uint32_t *)s[w2].data + j, *w1p = s[w1].data, saved2 = *w2p, saved1 = w1p[0];
        *w2p ^= 1u << 30;
        forward_ok(m, x, hooked);
        from_ok(m, (uint32_t)c2, k.live[c2], got);
        assert_same(hooked, got, (size_t)ROWS * classes, "fc2.weight flipped: from its cut vs whole");
        assert_true(memcmp(hooked, ref, sizeof(float) * ROWS * classes) != 0);
        *w2p = saved2;
        w1p[0] ^= 1u << 30;
        forward_ok(m, x, hooked);
        from_ok(m, (uint32_t)c2, k.live[c2], got);
        assert_true(memcmp(hooked, ref, sizeof(float) * ROWS * classes) != 0); /* the whole forward sees it */
        assert_same(ref, got, (size_t)ROWS * classes, "conv1.weight flipped: from fc2's cut (prefix not rerun)");
        w1p[0] = saved1;
        forward_ok(m, x, got);
        assert_same(ref, got, (size_t)ROWS * classes, "restored");
    }

    captured_free(&k);
    free(x);
    free(xr);
    free(ref);
    free(got);
    free(ref_r);
    free(hooked);
    H()->close(m);
}

static void test_model(void **state) { check_model((const char *)*state); }

int main(int argc, char **argv)
{
    if (argc > 1) g_dir = argv[1];
    struct CMUnitTest tests[N_MODELS];
    size_t n = 0, missing = 0;
    for (size_t i = 0; i < N_MODELS; i++) {
        if (!model_present(g_models[i])) {
            printf("skip %s: %s/%s.pt is missing (cmake --build <build> --target models)\n", g_models[i], g_dir,
                   g_models[i]);
            missing++;
            continue;
        }
        struct CMUnitTest t = cmocka_unit_test_prestate(test_model, (void *)g_models[i]);
        t.name = g_models[i];
        tests[n++] = t;
    }
    int failed = n ? _cmocka_run_group_tests("torch_cuts", tests, n, NULL, NULL) : 0;
    if (failed) return failed;
    return missing ? 77 : 0;
}
