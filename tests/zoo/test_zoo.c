/* test_zoo.c - the model zoo (campaigns/models: cnn, snn, qcnn, pcnn) through
 * the torch host, on the Fashion-MNIST test set the zoo driver writes.
 * Checks:
 *   - every model loads; its sites, n_classes, input size and host facts;
 *   - the golden accuracy computed here (nnfi_eval_load + nnfi_outcome over
 *     all 10,000 test images) equals the <name>.json accuracy within 0.1
 *     percentage point, and the logits of image 0 match the .json's;
 *   - cnn: flipping bit 30 of a weight (CPU injector, hook NULL, as the
 *     worker does) changes the logits; disarm gives bit-identical logits;
 *   - snn: every state site is called with t = 0..T-1 on every forward
 *     (T from snn.json);
 *   - qcnn: a fault on an int8 packed weight changes that value and nothing
 *     else (all parameter and buffer sites read back from the model), changes
 *     the logits, and restores exactly, with one repack per faulted tensor;
 *     the same for a bias and quantization metadata (weight scale and zero
 *     point, output scale and zero point, the input quantizer's zero point);
 *     values QNNPACK refuses (negative scales) fail the forward with a clear
 *     error and the restore is still exact;
 *   - pcnn: >= 80 % zeros among its conv/linear weights, seen through sites;
 *   - the worker refuses an eval set of another shape with a clear error and
 *     runs qcnn trials repeatably (a trial rerun after others gives the same
 *     row: every fault was restored).
 *
 * Usage: test_zoo MODELS_DIR FIXTURE_DIR   (what tests/zoo/zoo_fixture.py wrote)
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

#include "host_torch.h"
#include "nnfi/config.h"
#include "nnfi/eval_set.h"
#include "nnfi/inject.h"
#include "nnfi/model_host.h"
#include "nnfi/outcome.h"
#include "nnfi/plan.h"
#include "nnfi/worker.h"

#define CLASSES 10
#define PIXELS 784
#define BATCH 256
#define MAX_SITES 64

static const char *g_models = ".";
static const char *g_fixtures = ".";
static nnfi_eval_set g_eval; /* fashion_mnist_test.h5, all samples */

/* ---- helpers ---------------------------------------------------------- */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    if (s && fread(s, 1, (size_t)n, f) != (size_t)n) {
        free(s);
        s = NULL;
    }
    if (s) s[n] = '\0';
    fclose(f);
    return s;
}

/* The first number after "key": in MODELS_DIR/<model>.json (n of them when
 * the value is an array). Enough JSON for the driver's flat facts files. */
static void json_numbers(const char *model, const char *key, double *out, int n)
{
    char path[1024], pat[128];
    snprintf(path, sizeof path, "%s/%s.json", g_models, model);
    char *s = slurp(path);
    if (!s) fail_msg("cannot read %s (run the zoo_build test first)", path);
    snprintf(pat, sizeof pat, "\"%s\":", key);
    char *p = strstr(s, pat);
    if (!p) {
        free(s);
        fail_msg("%s has no key %s", path, key);
    }
    p += strlen(pat);
    for (int i = 0; i < n; i++) {
        while (*p == ' ' || *p == '\n' || *p == '[' || *p == ',') p++;
        char *end;
        out[i] = strtod(p, &end);
        if (end == p) {
            free(s);
            fail_msg("%s: %s[%d] is not a number", path, key, i);
        }
        p = end;
    }
    free(s);
}

static double json_number(const char *model, const char *key)
{
    double v;
    json_numbers(model, key, &v, 1);
    return v;
}

static nnfi_model *open_model(const char *name)
{
    char file[64];
    snprintf(file, sizeof file, "%s.pt", name);
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = (char *)name;
    cfg.host = NNFI_HOST_TORCH;
    cfg.path = file; /* relative to g_models */
    cfg.threads = 1;
    nnfi_model *m = NULL;
    nnfi_status st = nnfi_host_torch()->open(&cfg, g_models, 42, &m);
    if (st != NNFI_OK) fail_msg("open %s/%s: %s", g_models, file, nnfi_error_message());
    assert_non_null(m);
    return m;
}

static int site_index(nnfi_model *m, const char *name)
{
    const nnfi_model_host *h = nnfi_host_torch();
    const nnfi_site *s = h->sites(m);
    for (size_t i = 0; i < h->n_sites(m); i++)
        if (strcmp(s[i].name, name) == 0) return (int)i;
    fail_msg("no site %s", name);
    return -1;
}

static void forward_ok(nnfi_model *m, uint64_t first, uint64_t rows, float *logits)
{
    nnfi_status st = nnfi_host_torch()->forward(m, g_eval.inputs + first * g_eval.numel, rows, logits);
    if (st != NNFI_OK) fail_msg("forward: %s", nnfi_error_message());
}

static size_t site_bytes(const nnfi_site *s) { return (size_t)s->numel * (nnfi_dtype_bits(s->dtype) / 8); }

static int is_stored(const nnfi_site *s) { return s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER; }

static void print_summary(nnfi_model *m, const char *name)
{
    const nnfi_model_host *h = nnfi_host_torch();
    const nnfi_site *s = h->sites(m);
    printf("  %s: %s\n", name, nnfi_host_torch_info(m));
    for (size_t i = 0; i < h->n_sites(m); i++)
        printf("    site %2zu %-10s %-5s numel %-8llu %s\n", i, nnfi_site_kind_name(s[i].kind),
               nnfi_dtype_name(s[i].dtype), (unsigned long long)s[i].numel, s[i].name);
}

/* Golden accuracy over the whole eval set (fault-free, hook NULL). */
static double eval_accuracy(nnfi_model *m, float *logits0)
{
    float *logits = malloc((size_t)BATCH * CLASSES * sizeof(float));
    assert_non_null(logits);
    nnfi_outcome o;
    nnfi_outcome_init(&o);
    for (uint64_t s = 0; s < g_eval.samples; s += BATCH) {
        uint64_t rows = g_eval.samples - s < BATCH ? g_eval.samples - s : BATCH;
        forward_ok(m, s, rows, logits);
        if (s == 0 && logits0) memcpy(logits0, logits, CLASSES * sizeof(float));
        nnfi_outcome_add(&o, logits, logits, g_eval.labels + s, rows, CLASSES);
    }
    nnfi_outcome_finish(&o);
    free(logits);
    assert_int_equal(o.samples, g_eval.samples);
    assert_int_equal(o.nonfinite, 0);
    return o.accuracy;
}

/* The CPU injector, as the worker drives it for parameter faults (hook NULL). */
typedef struct injector {
    const nnfi_inject_backend *be;
    nnfi_injector *inj;
} injector;

static void injector_create(injector *j, nnfi_model *m)
{
    j->be = nnfi_inject_cpu();
    assert_int_equal(j->be->create(nnfi_host_torch()->sites(m), nnfi_host_torch()->n_sites(m), &j->inj), NNFI_OK);
}

static nnfi_fault flip_fault(uint32_t site, uint64_t element, uint64_t mask)
{
    nnfi_fault f;
    memset(&f, 0, sizeof f);
    f.site = site;
    f.element = element;
    f.mask = mask;
    f.op = NNFI_OP_FLIP;
    f.when = -1;
    f.t_last = UINT32_MAX;
    return f;
}

/* arm -> begin_call 0 -> forward of the first BATCH samples (hook NULL) */
static void faulty_forward(injector *j, nnfi_model *m, const nnfi_fault *f, size_t n, float *logits)
{
    assert_int_equal(j->be->arm(j->inj, f, n), NNFI_OK);
    assert_int_equal(j->be->begin_call(j->inj, 0, 0, BATCH), NNFI_OK);
    forward_ok(m, 0, BATCH, logits);
}

/* ---- every model loads ------------------------------------------------ */

static void test_models_load(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    const char *names[] = {"cnn", "snn", "qcnn", "pcnn"};
    for (int i = 0; i < 4; i++) {
        nnfi_model *m = open_model(names[i]);
        print_summary(m, names[i]);
        assert_int_equal(h->n_classes(m), CLASSES);
        assert_int_equal(h->input_numel(m), PIXELS);
        const nnfi_site *s = h->sites(m);
        assert_string_equal(s[0].name, "input");
        int weights = 0;
        for (size_t k = 0; k < h->n_sites(m); k++) {
            if (is_stored(&s[k])) assert_non_null(s[k].data);
            weights += s[k].kind == NNFI_SITE_PARAM && strstr(s[k].name, "weight") != NULL;
        }
        assert_true(weights >= 2);
        const char *const *facts = nnfi_host_torch_facts(m);
        int have_qengine = 0, have_blas = 0, have_version = 0, n = 0;
        for (; facts[n]; n++) {
            printf("    fact %s\n", facts[n]);
            assert_non_null(strchr(facts[n], '='));
            have_qengine += strcmp(facts[n], "qengine=qnnpack") == 0;
            have_blas += strncmp(facts[n], "blas_library=", 13) == 0;
            have_version += strncmp(facts[n], "torch_version=1.13", 18) == 0;
        }
        assert_true(n >= 10);
        assert_int_equal(have_qengine, 1);
        assert_int_equal(have_blas, 1);
        assert_int_equal(have_version, 1);
        h->close(m);
    }
}

/* ---- golden accuracy = the zoo's ---------------------------------------- */

static void test_accuracy(void **state)
{
    const char *name = *state;
    nnfi_model *m = open_model(name);
    float logits0[CLASSES];
    double acc = eval_accuracy(m, logits0);
    double want = json_number(name, "test_accuracy");
    double want0[CLASSES];
    json_numbers(name, "logits_image0", want0, CLASSES);
    double max0 = 0;
    for (int k = 0; k < CLASSES; k++) max0 = fmax(max0, fabs((double)logits0[k] - want0[k]));
    printf("  %s: accuracy in C %.4f, %s.json %.4f (difference %+.2f points); image 0 logits max |diff| %.3g\n", name,
           acc, name, want, 100.0 * (acc - want), max0);
    assert_true(fabs(acc - want) <= 0.001 + 1e-9);
    assert_true(max0 <= 1e-3);
    nnfi_host_torch()->close(m);
}

/* ---- cnn: bit 30 of a weight ------------------------------------------ */

static void test_cnn_weight_bit30(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("cnn");
    const nnfi_site *s = h->sites(m);
    static float golden[BATCH * CLASSES], out[BATCH * CLASSES];
    forward_ok(m, 0, BATCH, golden);
    injector j;
    injector_create(&j, m);
    const char *targets[] = {"conv1.weight", "fc2.weight"};
    for (int t = 0; t < 2; t++) {
        int k = site_index(m, targets[t]);
        assert_int_equal(s[k].kind, NNFI_SITE_PARAM);
        assert_int_equal(s[k].dtype, NNFI_DT_F32);
        uint32_t *w = s[k].data;
        uint64_t e = 5;
        uint32_t saved = w[e];
        nnfi_fault f = flip_fault((uint32_t)k, e, 1u << 30);
        faulty_forward(&j, m, &f, 1, out);
        assert_int_equal(w[e], saved ^ (1u << 30));
        assert_memory_not_equal(out, golden, sizeof out);
        assert_int_equal(j.be->disarm(j.inj), NNFI_OK);
        assert_int_equal(w[e], saved);
        forward_ok(m, 0, BATCH, out);
        assert_memory_equal(out, golden, sizeof out);
    }
    j.be->destroy(j.inj);
    h->close(m);
}

/* ---- snn: states once per time step ----------------------------------- */

#define MAX_CALLS 1024
typedef struct recorder {
    int n;
    uint32_t site[MAX_CALLS], t[MAX_CALLS];
    uint64_t rows[MAX_CALLS];
} recorder;

static nnfi_status record_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    (void)data;
    recorder *r = user;
    if (r->n < MAX_CALLS) {
        r->site[r->n] = site;
        r->t[r->n] = t;
        r->rows[r->n] = rows;
        r->n++;
    }
    return NNFI_OK;
}

static void test_snn_states_per_step(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    uint32_t T = (uint32_t)json_number("snn", "time_steps");
    assert_true(T >= 2);
    nnfi_model *m = open_model("snn");
    const nnfi_site *s = h->sites(m);
    size_t n_sites = h->n_sites(m);
    int n_states = 0;
    for (size_t i = 0; i < n_sites; i++) n_states += s[i].kind == NNFI_SITE_STATE;
    printf("  snn: T = %u, %d state sites\n", T, n_states);
    assert_true(n_states >= 2); /* mem1, mem2 (and the accumulator) */
    int mem1 = site_index(m, "loop0.mem1");
    assert_int_equal(s[mem1].kind, NNFI_SITE_STATE);
    assert_int_equal(s[mem1].numel, 256);
    static float golden[64 * CLASSES], out[64 * CLASSES];
    forward_ok(m, 0, 64, golden);
    static recorder r;
    assert_int_equal(h->set_hook(m, record_hook, &r), NNFI_OK);
    for (int pass = 0; pass < 3; pass++) {
        r.n = 0;
        uint64_t rows = pass == 2 ? 17 : 64;
        forward_ok(m, 0, rows, out);
        assert_true(r.n < MAX_CALLS);
        if (pass < 2) assert_memory_equal(out, golden, sizeof out); /* a hook that edits nothing */
        for (size_t i = 0; i < n_sites; i++) {
            if (s[i].kind != NNFI_SITE_STATE) continue;
            uint32_t next = 0;
            for (int c = 0; c < r.n; c++) {
                if (r.site[c] != i) continue;
                assert_int_equal(r.t[c], next); /* strictly in step order */
                assert_int_equal(r.rows[c], rows);
                next++;
            }
            if (next != T) fail_msg("state %s: %u calls in a forward, want T = %u", s[i].name, next, T);
        }
    }
    assert_int_equal(h->set_hook(m, NULL, NULL), NNFI_OK);
    h->close(m);
}

/* ---- qcnn: packed int8 weights and quantization metadata -------------- */

typedef struct snapshot {
    size_t n;
    void *v[MAX_SITES]; /* live values of PARAM/BUFFER sites (NULL for others) */
} snapshot;

static void take_snapshot(nnfi_model *m, snapshot *sn)
{
    const nnfi_model_host *h = nnfi_host_torch();
    const nnfi_site *s = h->sites(m);
    sn->n = h->n_sites(m);
    assert_true(sn->n <= MAX_SITES);
    for (size_t i = 0; i < sn->n; i++) {
        sn->v[i] = NULL;
        if (!is_stored(&s[i])) continue;
        sn->v[i] = malloc(site_bytes(&s[i]));
        assert_non_null(sn->v[i]);
        nnfi_status st = nnfi_host_torch_read_live(m, (uint32_t)i, sn->v[i]);
        if (st != NNFI_OK) fail_msg("read_live %s: %s", s[i].name, nnfi_error_message());
    }
}

static void free_snapshot(snapshot *sn)
{
    for (size_t i = 0; i < sn->n; i++) free(sn->v[i]);
    sn->n = 0;
}

/* The model's live values equal `base` except element `element` of site
 * `site`, which must have changed by exactly `mask` (a flip); site = -1:
 * equal everywhere. The site memory (the injector's view) must equal the
 * live values too. */
static void expect_live(nnfi_model *m, const snapshot *base, int site, uint64_t element, uint64_t mask)
{
    const nnfi_site *s = nnfi_host_torch()->sites(m);
    snapshot now;
    take_snapshot(m, &now);
    for (size_t i = 0; i < base->n; i++) {
        if (!base->v[i]) continue;
        size_t esz = nnfi_dtype_bits(s[i].dtype) / 8;
        assert_memory_equal(now.v[i], s[i].data, site_bytes(&s[i])); /* the model holds what the site holds */
        for (uint64_t e = 0; e < s[i].numel; e++) {
            const unsigned char *a = (const unsigned char *)base->v[i] + e * esz;
            const unsigned char *b = (const unsigned char *)now.v[i] + e * esz;
            uint64_t wa = 0, wb = 0;
            memcpy(&wa, a, esz);
            memcpy(&wb, b, esz);
            uint64_t want = (int)i == site && e == element ? wa ^ mask : wa;
            if (wb != want)
                fail_msg("site %s element %llu: live 0x%llx, want 0x%llx", s[i].name, (unsigned long long)e,
                         (unsigned long long)wb, (unsigned long long)want);
        }
    }
    free_snapshot(&now);
}

/* One flip through the injector: the live model changes in that element
 * only, the logits change, and disarm restores the model and logits exactly.
 * Returns 0 when the logits of the first batch did not change (the model is
 * still checked and restored). */
static int qcnn_fault_roundtrip(nnfi_model *m, injector *j, const snapshot *base, const float *golden, int site,
                                uint64_t element, uint64_t mask)
{
    static float out[BATCH * CLASSES];
    const nnfi_site *s = nnfi_host_torch()->sites(m);
    nnfi_host_torch_stats st0, st1;
    nnfi_host_torch_get_stats(m, &st0);
    nnfi_fault f = flip_fault((uint32_t)site, element, mask);
    faulty_forward(j, m, &f, 1, out);
    int changed = memcmp(out, golden, sizeof out) != 0;
    expect_live(m, base, site, element, mask);
    /* further forwards of the same trial: no further repack */
    nnfi_host_torch_get_stats(m, &st1);
    uint64_t repacks = st1.repacks - st0.repacks, writes = st1.writes - st0.writes;
    forward_ok(m, BATCH, 16, out);
    nnfi_host_torch_get_stats(m, &st1);
    assert_int_equal(st1.repacks - st0.repacks, repacks);
    assert_int_equal(st1.writes - st0.writes, writes);
    assert_int_equal(j->be->disarm(j->inj), NNFI_OK);
    forward_ok(m, 0, BATCH, out);
    if (memcmp(out, golden, sizeof out) != 0) fail_msg("%s: logits after disarm differ from golden", s[site].name);
    expect_live(m, base, -1, 0, 0);
    nnfi_host_torch_get_stats(m, &st1);
    printf("  qcnn %-24s element %-7llu mask 0x%-3llx logits %s; repacks %llu, restores %llu, writes %llu\n",
           s[site].name, (unsigned long long)element, (unsigned long long)mask, changed ? "changed" : "unchanged",
           (unsigned long long)(st1.repacks - st0.repacks), (unsigned long long)(st1.restores - st0.restores),
           (unsigned long long)(st1.writes - st0.writes));
    if (s[site].kind == NNFI_SITE_PARAM || strstr(s[site].name, ".weight.")) { /* packed: one repack, one restore */
        assert_int_equal(st1.repacks - st0.repacks, 1);
        assert_int_equal(st1.restores - st0.restores, 1);
    } else { /* attribute / int64 buffer: written twice (fault, restore) */
        assert_int_equal(st1.writes - st0.writes, 2);
    }
    return changed;
}

static void test_qcnn_quantized_faults(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("qcnn");
    const nnfi_site *s = h->sites(m);
    /* the sites: int8 weights (PARAM), f32 biases (PARAM), scale f64 / zero point i32 (BUFFER) */
    const char *layers[] = {"conv1", "conv2", "fc1", "fc2"};
    const uint64_t wnumel[] = {32 * 9, 64 * 32 * 9, 320 * 3136, 10 * 320};
    for (int l = 0; l < 4; l++) {
        char name[64];
        snprintf(name, sizeof name, "%s.weight", layers[l]);
        int k = site_index(m, name);
        assert_int_equal(s[k].kind, NNFI_SITE_PARAM);
        assert_int_equal(s[k].dtype, NNFI_DT_I8);
        assert_int_equal(s[k].numel, wnumel[l]);
        snprintf(name, sizeof name, "%s.bias", layers[l]);
        assert_int_equal(s[site_index(m, name)].dtype, NNFI_DT_F32);
        snprintf(name, sizeof name, "%s.weight.scale", layers[l]);
        k = site_index(m, name);
        assert_int_equal(s[k].kind, NNFI_SITE_BUFFER);
        assert_int_equal(s[k].dtype, NNFI_DT_F64);
        snprintf(name, sizeof name, "%s.weight.zero_point", layers[l]);
        assert_int_equal(s[site_index(m, name)].dtype, NNFI_DT_I32);
        snprintf(name, sizeof name, "%s.zero_point", layers[l]);
        assert_int_equal(s[site_index(m, name)].dtype, NNFI_DT_I32);
    }
    /* the scales as the zoo recorded them */
    double conv1_scale = json_number("qcnn", "weight_scale");
    assert_true(((double *)s[site_index(m, "conv1.weight.scale")].data)[0] == conv1_scale);

    static float golden[BATCH * CLASSES];
    forward_ok(m, 0, BATCH, golden);
    snapshot base;
    take_snapshot(m, &base);
    expect_live(m, &base, -1, 0, 0);
    injector j;
    injector_create(&j, m);

    /* an int8 weight of fc1: flip the sign bit; try elements in the centre
     * column of feature map 0 (the image centre is rarely background) until
     * one changes the logits of the first batch */
    int fc1 = site_index(m, "fc1.weight");
    int changed = 0;
    for (uint64_t row = 0; row < 320 && !changed; row += 7)
        changed = qcnn_fault_roundtrip(m, &j, &base, golden, fc1, row * 3136 + 24, 0x80);
    assert_true(changed);
    /* conv2 and fc2 weights: any element */
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "conv2.weight"), 100, 0x80));
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "fc2.weight"), 3, 0x80));
    /* metadata: a weight scale (exponent bit 52: x2 or /2), the weight zero
     * point, a bias, an output zero point, the input quantizer's zero point */
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "fc1.weight.scale"), 0, 1ull << 52));
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "conv2.weight.zero_point"), 0, 1u << 2));
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "fc2.bias"), 0, 1u << 30));
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "conv2.zero_point"), 0, 1u << 3));
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "conv1.scale"), 0, 1ull << 52));
    assert_true(qcnn_fault_roundtrip(m, &j, &base, golden, site_index(m, "quant.zero_point"), 0, 1u << 4));

    /* two faults in one tensor and one in another: one repack each */
    nnfi_fault f[3] = {flip_fault((uint32_t)fc1, 24, 0x80), flip_fault((uint32_t)fc1, 3136 + 24, 0x40),
                       flip_fault((uint32_t)site_index(m, "conv1.weight"), 4, 0x80)};
    nnfi_host_torch_stats st0, st1;
    nnfi_host_torch_get_stats(m, &st0);
    static float out[BATCH * CLASSES];
    faulty_forward(&j, m, f, 3, out);
    nnfi_host_torch_get_stats(m, &st1);
    assert_int_equal(st1.repacks - st0.repacks, 2);
    assert_int_equal(j.be->disarm(j.inj), NNFI_OK);
    forward_ok(m, 0, BATCH, out);
    assert_memory_equal(out, golden, sizeof out);
    nnfi_host_torch_get_stats(m, &st1);
    assert_int_equal(st1.restores - st0.restores, 2);
    expect_live(m, &base, -1, 0, 0);

    /* values the engine refuses (a negative scale: QNNPACK checks the
     * requantization scale) fail the forward with a clear error; a failed
     * quantized op can leave the packed object it ran with changed, so the
     * host rebuilds them all: the restore is still exact */
    const char *refused[] = {"conv1.scale", "fc1.weight.scale", "quant.scale"};
    for (int r = 0; r < 3; r++) {
        int k = site_index(m, refused[r]);
        nnfi_fault neg = flip_fault((uint32_t)k, 0, s[k].dtype == NNFI_DT_F64 ? 1ull << 63 : 1ull << 31);
        nnfi_host_torch_get_stats(m, &st0);
        assert_int_equal(j.be->arm(j.inj, &neg, 1), NNFI_OK);
        nnfi_status st = h->forward(m, g_eval.inputs, BATCH, out);
        const char *msg = nnfi_error_message();
        printf("  qcnn %s negative: %s: %s\n", refused[r], nnfi_status_name(st), msg);
        assert_int_equal(st, NNFI_E_BACKEND);
        assert_non_null(strstr(msg, "requantization scale"));
        assert_non_null(strstr(msg, "hint:"));
        assert_int_equal(j.be->disarm(j.inj), NNFI_OK);
        forward_ok(m, 0, BATCH, out);
        assert_memory_equal(out, golden, sizeof out);
        nnfi_host_torch_get_stats(m, &st1);
        assert_int_equal(st1.rebuilds - st0.rebuilds, 4); /* conv1, conv2, fc1, fc2 */
        expect_live(m, &base, -1, 0, 0);
    }

    nnfi_host_torch_get_stats(m, &st1);
    printf("  qcnn: %llu forwards, %llu repacks, %llu restores, %llu writes, %llu rebuilds; sync %.3f ms in all, "
           "repack %.3f ms\n",
           (unsigned long long)st1.forwards, (unsigned long long)st1.repacks, (unsigned long long)st1.restores,
           (unsigned long long)st1.writes, (unsigned long long)st1.rebuilds, 1e3 * st1.sync_s, 1e3 * st1.repack_s);
    free_snapshot(&base);
    j.be->destroy(j.inj);
    h->close(m);
}

/* ---- pcnn: sparsity through the sites --------------------------------- */

static void test_pcnn_sparsity(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("pcnn");
    const nnfi_site *s = h->sites(m);
    uint64_t zeros = 0, total = 0;
    int tensors = 0;
    for (size_t i = 0; i < h->n_sites(m); i++) {
        size_t len = strlen(s[i].name);
        if (s[i].kind != NNFI_SITE_PARAM || len < 6 || strcmp(s[i].name + len - 6, "weight") != 0) continue;
        /* ordinary dense fp32 parameters */
        assert_int_equal(s[i].dtype, NNFI_DT_F32);
        assert_non_null(s[i].data);
        assert_int_equal(s[i].device, -1);
        const float *w = s[i].data;
        uint64_t z = 0;
        for (uint64_t e = 0; e < s[i].numel; e++) z += w[e] == 0.0f;
        printf("  pcnn %-14s %8llu weights, %8llu zeros (%.3f)\n", s[i].name, (unsigned long long)s[i].numel,
               (unsigned long long)z, (double)z / (double)s[i].numel);
        zeros += z;
        total += s[i].numel;
        tensors++;
    }
    double sparsity = (double)zeros / (double)total, want = json_number("pcnn", "sparsity");
    printf("  pcnn: %d weight tensors, sparsity %.4f (pcnn.json %.4f)\n", tensors, sparsity, want);
    assert_int_equal(tensors, 4);
    assert_true(sparsity >= 0.80);
    assert_true(fabs(sparsity - want) < 0.001);
    h->close(m);
}

/* ---- the worker ------------------------------------------------------- */

static nnfi_campaign *load_campaign(const char *text)
{
    nnfi_campaign *c = NULL;
    nnfi_status st = nnfi_campaign_load_text(text, strlen(text), "zoo_test.yaml", &c);
    if (st != NNFI_OK) fail_msg("campaign: %s\n%s", nnfi_error_message(), text);
    return c;
}

static void test_worker_refuses_mismatched_eval(void **state)
{
    (void)state;
    static char text[4096];
    snprintf(text, sizeof text,
             "name: bad_eval\n"
             "seed: 1\n"
             "models:\n"
             "  - name: cnn\n"
             "    host: torch\n"
             "    path: %s/cnn.pt\n"
             "eval:\n"
             "  path: %s/bad_eval_14x14.h5\n"
             "  batch: 8\n"
             "experiments:\n"
             "  - name: w\n"
             "    model: cnn\n"
             "    groups:\n"
             "      - target: weight\n"
             "        bits: {list: [30]}\n"
             "        count: 1\n"
             "    trials: 1\n",
             g_models, g_fixtures);
    nnfi_campaign *c = load_campaign(text);
    nnfi_worker *w = NULL;
    assert_int_equal(nnfi_worker_create(c, NULL, 0, &w), NNFI_OK);
    nnfi_model_facts facts;
    nnfi_status st = nnfi_worker_model_facts(w, 0, &facts);
    const char *msg = nnfi_error_message();
    printf("  worker: %s: %s\n", nnfi_status_name(st), msg);
    assert_int_equal(st, NNFI_E_CONFIG);
    assert_non_null(strstr(msg, "eval.path"));
    assert_non_null(strstr(msg, "bad_eval_14x14.h5"));
    assert_non_null(strstr(msg, "[16, 1, 14, 14]")); /* the file's shape */
    assert_non_null(strstr(msg, "784"));
    assert_non_null(strstr(msg, "hint:"));
    nnfi_worker_destroy(w);
    nnfi_campaign_free(c);
}

static int same_row(const nnfi_trial_row *a, const nnfi_trial_row *b)
{
    return a->status == b->status && a->accuracy == b->accuracy && a->sdc == b->sdc && a->due == b->due &&
           a->max_abs_err == b->max_abs_err && a->mean_abs_err == b->mean_abs_err;
}

static void test_worker_qcnn_trials(void **state)
{
    (void)state;
    static char text[4096];
    snprintf(text, sizeof text,
             "name: qcnn_trials\n"
             "seed: 11\n"
             "models:\n"
             "  - name: qcnn\n"
             "    host: torch\n"
             "    path: %s/qcnn.pt\n"
             "    qengine: qnnpack\n"
             "eval:\n"
             "  path: %s/fashion_mnist_test.h5\n"
             "  samples: 512\n"
             "  batch: 256\n"
             "experiments:\n"
             "  - name: int8\n"
             "    model: qcnn\n"
             "    groups:\n"
             "      - target: weight\n"
             "        bits: {list: [7]}\n"
             "        op: flip\n"
             "        count: 300\n"
             "    trials: 2\n"
             "  - name: scales\n"
             "    model: qcnn\n"
             "    groups:\n"
             "      - target: param\n"
             "        regex: \"^(conv|fc)[0-9]\\\\.(weight\\\\.)?scale$\"\n"
             "        bits: {list: [63]}\n"
             "        op: flip\n"
             "        count: 1\n"
             "    trials: 3\n",
             g_models, g_models);
    nnfi_campaign *c = load_campaign(text);
    nnfi_plan *p = NULL;
    assert_int_equal(nnfi_plan_create(c, NULL, &p), NNFI_OK);
    assert_int_equal(p->total_trials, 5);
    nnfi_worker *w = NULL;
    assert_int_equal(nnfi_worker_create(c, p, 0, &w), NNFI_OK);
    nnfi_model_facts facts;
    if (nnfi_worker_model_facts(w, 0, &facts) != NNFI_OK) fail_msg("model facts: %s", nnfi_error_message());
    printf("  worker: qcnn golden accuracy on 512 samples %.4f\n", facts.golden_accuracy);
    nnfi_trial_row first, row, again;
    memset(&first, 0, sizeof first);
    for (uint64_t t = 0; t < p->total_trials; t++) {
        assert_int_equal(nnfi_worker_run_trial(w, t, &row), NNFI_OK);
        printf("  worker: trial %llu (%s) status %d accuracy %.4f sdc %llu due %d max|err| %.3g\n",
               (unsigned long long)t, t < 2 ? "int8 weights" : "negative scale", (int)row.status, row.accuracy,
               (unsigned long long)row.sdc, (int)row.due, row.max_abs_err);
        if (t == 0) first = row;
        const nnfi_fault *fl;
        uint64_t nf;
        assert_int_equal(nnfi_worker_faults(w, t, &fl, &nf), NNFI_OK);
        for (uint64_t i = 0; i < nf && i < 3; i++)
            printf("    fault %s[%llu] ^= 0x%llx\n", facts.sites[fl[i].site].name, (unsigned long long)fl[i].element,
                   (unsigned long long)fl[i].mask);
        if (t < 2) {
            assert_int_equal(row.status, NNFI_TRIAL_OK);
            assert_true(row.max_abs_err > 0); /* 300 sign flips in int8 weights are seen */
        } else { /* a negative scale: QNNPACK refuses to run, the trial is a DUE */
            assert_int_equal(row.status, NNFI_TRIAL_FAILED);
            assert_int_equal(row.due, 1);
        }
    }
    /* trial 0 again, after the others: every earlier fault was restored */
    assert_int_equal(nnfi_worker_run_trial(w, 0, &again), NNFI_OK);
    assert_true(same_row(&first, &again));
    nnfi_worker_destroy(w);
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
}

int main(int argc, char **argv)
{
    if (argc > 1) g_models = argv[1];
    if (argc > 2) g_fixtures = argv[2];
    char path[1024];
    snprintf(path, sizeof path, "%s/fashion_mnist_test.h5", g_models);
    if (nnfi_eval_load(path, "images", "labels", 0, &g_eval) != NNFI_OK) {
        fprintf(stderr, "test_zoo: %s\n  (run the zoo_build test or build_zoo.py %s first)\n", nnfi_error_message(),
                g_models);
        return 1;
    }
    if (g_eval.numel != PIXELS || g_eval.samples < BATCH * 2) {
        fprintf(stderr, "test_zoo: %s: %llu samples of %llu values, want >= %d of %d\n", path,
                (unsigned long long)g_eval.samples, (unsigned long long)g_eval.numel, BATCH * 2, PIXELS);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_models_load),
        cmocka_unit_test_prestate(test_accuracy, "cnn"),
        cmocka_unit_test_prestate(test_accuracy, "snn"),
        cmocka_unit_test_prestate(test_accuracy, "qcnn"),
        cmocka_unit_test_prestate(test_accuracy, "pcnn"),
        cmocka_unit_test(test_cnn_weight_bit30),
        cmocka_unit_test(test_snn_states_per_step),
        cmocka_unit_test(test_qcnn_quantized_faults),
        cmocka_unit_test(test_pcnn_sparsity),
        cmocka_unit_test(test_worker_refuses_mismatched_eval),
        cmocka_unit_test(test_worker_qcnn_trials),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    nnfi_eval_free(&g_eval);
    return rc;
}
