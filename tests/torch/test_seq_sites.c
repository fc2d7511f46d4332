/* test_seq_sites.c - activation sites on any operator, multi-output operators
 * and fused fast paths of the torch host, on the fixtures of
 * make_seq_fixtures.py (a 2-layer nn.TransformerEncoder classifier, a 2-layer
 * time-major nn.LSTM, a batch-first nn.GRU). Checks:
 *   - sites inside every encoder layer (linears, relu, layer norms; with
 *     ops softmax and bmm also attention's [heads, L, S] tensors), one site
 *     per fused layer with fused = true, output/h/c sites of the LSTM
 *     ([T, N, H] and [layers, N, H] tensors: the batch is dim 1) and GRU;
 *   - the host's logits equal Python's (bit for bit where the machine's
 *     kernels agree, else within 2e-6, see expect_python): unfused = PyTorch
 *     with grad enabled, fused = under torch.no_grad(); fused equals unfused;
 *   - a fault on sample s changes only row s: for every activation site a
 *     hook that rewrites sample s's elements leaves every other row's logits
 *     bit for bit golden (and changes row s for most sites);
 *   - rows are independent (other rows' inputs do not change a row's logits:
 *     printed bit for bit, asserted within 1e-5);
 *   - an unknown operator name is refused naming it.
 *
 * Usage: test_seq_sites FIXTURE_DIR   (the directory make_seq_fixtures.py wrote)
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
#include "nnfi/model_host.h"

#define ROWS 8       /* of the fixture's 64 samples, the first 8 (16 for the independence check) */
#define CLASSES 10
#define PIXELS 784
#define FIXTURE_ROWS 64

static const char *g_dir = ".";
static float g_input[FIXTURE_ROWS * PIXELS];

static void read_floats(const char *name, float *out, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open fixture %s (run make_seq_fixtures.py first)", path);
    size_t got = fread(out, sizeof(float), n, f);
    fclose(f);
    assert_int_equal(got, n);
}

static nnfi_model *open_model(const char *file, const char *ops_csv, int fused)
{
    char buf[256], *ops[16];
    unsigned n = 0;
    if (ops_csv) {
        snprintf(buf, sizeof buf, "%s", ops_csv);
        for (char *p = strtok(buf, ","); p && n < 16; p = strtok(NULL, ",")) ops[n++] = p;
    }
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "fixture";
    cfg.host = NNFI_HOST_TORCH;
    cfg.path = (char *)file;
    cfg.threads = 1;
    cfg.ops = n ? ops : NULL;
    cfg.ops_count = n;
    cfg.fused = fused != 0;
    nnfi_model *m = NULL;
    nnfi_status st = nnfi_host_torch()->open(&cfg, g_dir, 42, &m);
    if (st != NNFI_OK) fail_msg("open %s: %s", file, nnfi_error_message());
    printf("# %s: %s\n", file, nnfi_host_torch_info(m));
    return m;
}

static const nnfi_site *find_site(nnfi_model *m, const char *name)
{
    const nnfi_model_host *h = nnfi_host_torch();
    const nnfi_site *s = h->sites(m);
    for (size_t i = 0; i < h->n_sites(m); i++)
        if (strcmp(s[i].name, name) == 0) return &s[i];
    return NULL;
}

static void expect_site(nnfi_model *m, const char *name, int ndim, const int64_t *shape)
{
    const nnfi_site *s = find_site(m, name);
    if (!s) fail_msg("no site '%s'", name);
    assert_int_equal(s->kind, NNFI_SITE_ACTIVATION);
    if (ndim < 0) return;
    assert_int_equal(s->ndim, ndim);
    for (int d = 0; d < ndim; d++)
        if (s->shape[d] != shape[d]) fail_msg("site '%s' dim %d: %lld, expected %lld", name, d, (long long)s->shape[d], (long long)shape[d]);
}

static void forward_ok(nnfi_model *m, const float *in, uint64_t rows, float *out)
{
    nnfi_status st = nnfi_host_torch()->forward(m, in, rows, out);
    if (st != NNFI_OK) fail_msg("forward: %s", nnfi_error_message());
}

/* Python's logits (the first `rows`): bit for bit on the machines CI has
 * run on; on a 2-core AVX2 VM without AVX-512 the host's rewritten graph
 * and Python's differ in the last bits of these sequence models (at the
 * commit before this check was relaxed too: 4e-8 to 2.4e-7), so anything
 * within 2e-6 (about 16 ulp at these magnitudes) passes, said as such, and
 * a real error (a wrong operator, a lost site's output: differences of
 * 1e-3 and more) still fails. */
static void expect_python(nnfi_model *m, const char *bin)
{
    static float py[FIXTURE_ROWS * CLASSES], got[FIXTURE_ROWS * CLASSES];
    read_floats(bin, py, FIXTURE_ROWS * CLASSES);
    forward_ok(m, g_input, FIXTURE_ROWS, got);
    double worst = 0;
    for (size_t i = 0; i < FIXTURE_ROWS * CLASSES; i++) worst = fmax(worst, fabs((double)got[i] - py[i]));
    int same = memcmp(got, py, sizeof got) == 0;
    printf("# %s: max |host - python| = %g (%s)\n", bin, worst,
           same ? "bit for bit" : "NOT bit for bit on this machine: last-bit kernel differences");
    if (!same && !(worst <= 2e-6)) fail_msg("%s: host and Python logits differ by %g", bin, worst);
}

/* ---- one sample's fault ------------------------------------------------ */

typedef struct {
    uint32_t site;
    uint64_t sample, numel;
    int dtype_f32;
} sample_fault;

/* rewrites every element of `sample` at `site` (first call only): x -> 3x + 1 */
static nnfi_status sample_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    const sample_fault *f = user;
    if (site != f->site || t != 0 || f->sample >= rows || !f->dtype_f32) return NNFI_OK;
    float *x = (float *)data + f->sample * f->numel;
    for (uint64_t i = 0; i < f->numel; i++) x[i] = 3.0f * x[i] + 1.0f;
    return NNFI_OK;
}

/* every activation site: a fault on sample 3 leaves the other rows golden */
static void expect_rows_isolated(nnfi_model *m)
{
    const nnfi_model_host *h = nnfi_host_torch();
    float golden[ROWS * CLASSES], got[ROWS * CLASSES];
    forward_ok(m, g_input, ROWS, golden);
    const nnfi_site *s = h->sites(m);
    unsigned tried = 0, changed = 0;
    for (uint32_t i = 0; i < h->n_sites(m); i++) {
        if (s[i].kind != NNFI_SITE_ACTIVATION || s[i].dtype != NNFI_DT_F32) continue;
        sample_fault f = {i, 3, s[i].numel, 1};
        assert_int_equal(h->set_hook(m, sample_hook, &f), NNFI_OK);
        forward_ok(m, g_input, ROWS, got);
        assert_int_equal(h->set_hook(m, NULL, NULL), NNFI_OK);
        for (uint64_t r = 0; r < ROWS; r++) {
            if (r == f.sample) continue;
            if (memcmp(got + r * CLASSES, golden + r * CLASSES, CLASSES * sizeof(float)) != 0)
                fail_msg("site '%s': a fault on sample %llu changed row %llu", s[i].name,
                         (unsigned long long)f.sample, (unsigned long long)r);
        }
        tried++;
        if (memcmp(got + f.sample * CLASSES, golden + f.sample * CLASSES, CLASSES * sizeof(float)) != 0) changed++;
        else printf("# site '%s': the fault on sample 3 is masked\n", s[i].name);
    }
    printf("# %u activation sites, a fault on one sample changes only its row; it changes the row at %u\n", tried,
           changed);
    assert_true(tried > 0);
    assert_true(changed * 2 > tried);
}

/* rows are independent: other inputs in the odd rows, the even rows' logits stay */
static void expect_rows_independent(nnfi_model *m, const char *what)
{
    float a[ROWS * CLASSES], b[ROWS * CLASSES], in[ROWS * PIXELS];
    forward_ok(m, g_input, ROWS, a);
    memcpy(in, g_input, sizeof in);
    for (int r = 1; r < ROWS; r += 2) memcpy(in + r * PIXELS, g_input + (ROWS + r) * PIXELS, PIXELS * sizeof(float));
    forward_ok(m, in, ROWS, b);
    int bitwise = 1;
    for (int r = 0; r < ROWS; r += 2) {
        if (memcmp(a + r * CLASSES, b + r * CLASSES, CLASSES * sizeof(float)) != 0) bitwise = 0;
        for (int c = 0; c < CLASSES; c++) assert_true(fabsf(a[r * CLASSES + c] - b[r * CLASSES + c]) <= 1e-5f);
    }
    printf("# %s: rows independent %s\n", what, bitwise ? "bit for bit" : "within 1e-5 only");
}

/* ---- tests -------------------------------------------------------------- */

static void test_transformer_unfused(void **state)
{
    (void)state;
    nnfi_model *m = open_model("transformer.pt", NULL, 0);
    static const int64_t tok32[] = {28, 32}, tok64[] = {28, 64}, qkv[] = {28, 96};
    for (int layer = 0; layer < 2; layer++) {
        char name[128];
        snprintf(name, sizeof name, "encoder.%d.self_attn.linear#0", layer);
        expect_site(m, name, 2, qkv); /* in_proj on [L, N, 3E]: batch dim 1 */
        snprintf(name, sizeof name, "encoder.%d.norm1.layer_norm#0", layer);
        expect_site(m, name, 2, tok32);
        snprintf(name, sizeof name, "encoder.%d.linear1.linear#0", layer);
        expect_site(m, name, 2, tok64);
        snprintf(name, sizeof name, "encoder.%d.relu#0", layer);
        expect_site(m, name, 2, tok64);
        snprintf(name, sizeof name, "encoder.%d.linear2.linear#0", layer);
        expect_site(m, name, 2, tok32);
        snprintf(name, sizeof name, "encoder.%d.norm2.layer_norm#0", layer);
        expect_site(m, name, 2, tok32);
    }
    assert_non_null(strstr(nnfi_host_torch_info(m), "fused fast paths switched off"));
    expect_python(m, "transformer_logits_unfused.bin");
    expect_python(m, "transformer_logits_fused.bin"); /* the fast path gives the same bits here */
    expect_rows_independent(m, "transformer");
    expect_rows_isolated(m);
    nnfi_host_torch()->close(m);
}

static void test_transformer_attention_ops(void **state)
{
    (void)state;
    nnfi_model *m = open_model("transformer.pt", "default,softmax,aten::bmm", 0);
    static const int64_t scores[] = {2, 28, 28}, ctx[] = {2, 28, 16}; /* [N * heads, ...]: 2 heads per sample */
    for (int layer = 0; layer < 2; layer++) {
        char name[128];
        snprintf(name, sizeof name, "encoder.%d.self_attn.softmax#0", layer);
        expect_site(m, name, 3, scores);
        snprintf(name, sizeof name, "encoder.%d.self_attn.bmm#0", layer);
        expect_site(m, name, 3, scores);
        snprintf(name, sizeof name, "encoder.%d.self_attn.bmm#1", layer);
        expect_site(m, name, 3, ctx);
    }
    expect_python(m, "transformer_logits_unfused.bin");
    expect_rows_isolated(m);
    nnfi_host_torch()->close(m);
}

static void test_transformer_fused(void **state)
{
    (void)state;
    nnfi_model *m = open_model("transformer.pt", NULL, 1);
    static const int64_t tok32[] = {28, 32};
    expect_site(m, "encoder.0._transformer_encoder_layer_fwd#0", 2, tok32);
    expect_site(m, "encoder.1._transformer_encoder_layer_fwd#0", 2, tok32);
    assert_null(find_site(m, "encoder.0.linear1.linear#0"));
    expect_python(m, "transformer_logits_fused.bin");
    expect_rows_isolated(m);
    nnfi_host_torch()->close(m);
}

static void test_lstm(void **state)
{
    (void)state;
    nnfi_model *m = open_model("lstm.pt", NULL, 0);
    static const int64_t out[] = {28, 24}, hc[] = {2, 24};
    expect_site(m, "rnn.lstm#0.out", 2, out); /* [T, N, H]: batch dim 1 */
    expect_site(m, "rnn.lstm#0.h", 2, hc);    /* [layers, N, H] */
    expect_site(m, "rnn.lstm#0.c", 2, hc);
    expect_python(m, "lstm_logits.bin");
    expect_rows_independent(m, "lstm");
    expect_rows_isolated(m);
    nnfi_host_torch()->close(m);
}

static void test_gru(void **state)
{
    (void)state;
    nnfi_model *m = open_model("gru.pt", NULL, 0);
    static const int64_t out[] = {28, 16}, h1[] = {1, 16};
    expect_site(m, "rnn.gru#0.out", 2, out); /* batch_first: [N, T, H] */
    expect_site(m, "rnn.gru#0.h", 2, h1);
    expect_python(m, "gru_logits.bin");
    expect_rows_isolated(m);
    nnfi_host_torch()->close(m);
}

static void test_unknown_op(void **state)
{
    (void)state;
    char *ops[] = {(char *)"default", (char *)"sofmax"};
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "fixture";
    cfg.host = NNFI_HOST_TORCH;
    cfg.path = (char *)"gru.pt";
    cfg.threads = 1;
    cfg.ops = ops;
    cfg.ops_count = 2;
    nnfi_model *m = NULL;
    assert_int_equal(nnfi_host_torch()->open(&cfg, g_dir, 42, &m), NNFI_E_CONFIG);
    assert_null(m);
    assert_non_null(strstr(nnfi_error_message(), "'aten::sofmax'"));
    assert_non_null(strstr(nnfi_error_message(), "hint:"));
}

int main(int argc, char **argv)
{
    if (argc > 1) g_dir = argv[1];
    read_floats("input.bin", g_input, FIXTURE_ROWS * PIXELS);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transformer_unfused), cmocka_unit_test(test_transformer_attention_ops),
        cmocka_unit_test(test_transformer_fused),   cmocka_unit_test(test_lstm),
        cmocka_unit_test(test_gru),                 cmocka_unit_test(test_unknown_op),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
