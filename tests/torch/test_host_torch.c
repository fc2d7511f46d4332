/* test_host_torch.c - the torch model host on the fixtures of make_fixtures.py:
 * a 2-conv CNN, a scripted LIF SNN (T = 4 time steps) and the CNN quantized
 * (qnnpack). Checks: sites (parameters, input, activations in call order,
 * SNN states once per time step), logits equal to python's, a weight bit flip
 * through a site's pointer changes the logits and restoring the word gives
 * identical logits, hooks that edit activations/states/quantized activations
 * change the logits, a no-op hook changes nothing, hook errors propagate, the
 * CPU injector end to end through the engine's trial pass (nnfi_trial_pass,
 * nnfi_golden_pass), the quantized CNN's packed int8 weights and quantization
 * metadata as sites (fault, read back, exact restore), and clear errors for
 * missing/corrupt files.
 *
 * Usage: test_host_torch FIXTURE_DIR   (the directory make_fixtures.py wrote)
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
#include <unistd.h>

#include "host_torch.h"
#include "nnfi/inject.h"
#include "nnfi/model_host.h"
#include "nnfi/outcome.h"
#include "nnfi/trial_pass.h"

#define ROWS 8 /* make_fixtures.py ROWS */
#define T_STEPS 4
#define CLASSES 10
#define PIXELS 784
#define MAX_CALLS 256

static const char *g_dir = ".";
static float g_input[ROWS * PIXELS];

static void read_floats(const char *name, float *out, size_t n)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot open fixture %s (run make_fixtures.py first)", path);
    size_t got = fread(out, sizeof(float), n, f);
    fclose(f);
    assert_int_equal(got, n);
}

static nnfi_model *open_model(const char *file, const char *qengine)
{
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "fixture";
    cfg.host = NNFI_HOST_TORCH;
    cfg.path = (char *)file; /* relative to g_dir */
    cfg.threads = 1;
    cfg.qengine = (char *)qengine;
    nnfi_model *m = NULL;
    nnfi_status st = nnfi_host_torch()->open(&cfg, g_dir, 42, &m);
    if (st != NNFI_OK) fail_msg("open %s: %s", file, nnfi_error_message());
    assert_non_null(m);
    return m;
}

static int site_index(nnfi_model *m, const char *name)
{
    const nnfi_model_host *h = nnfi_host_torch();
    const nnfi_site *s = h->sites(m);
    for (size_t i = 0; i < h->n_sites(m); i++)
        if (strcmp(s[i].name, name) == 0) return (int)i;
    return -1;
}

static void print_sites(nnfi_model *m)
{
    const nnfi_model_host *h = nnfi_host_torch();
    const nnfi_site *s = h->sites(m);
    for (size_t i = 0; i < h->n_sites(m); i++)
        printf("  site %2zu %-11s %-4s numel %-6llu %s\n", i, nnfi_site_kind_name(s[i].kind),
               nnfi_dtype_name(s[i].dtype), (unsigned long long)s[i].numel, s[i].name);
    printf("  info: %s\n", nnfi_host_torch_info(m));
}

static void forward_ok(nnfi_model *m, float *out)
{
    nnfi_status st = nnfi_host_torch()->forward(m, g_input, ROWS, out);
    if (st != NNFI_OK) fail_msg("forward: %s", nnfi_error_message());
}

static void assert_close(const float *a, const float *b, size_t n, float tol)
{
    for (size_t i = 0; i < n; i++)
        if (!(fabsf(a[i] - b[i]) <= tol)) fail_msg("logit %zu: %.9g vs %.9g (tolerance %g)", i, a[i], b[i], tol);
}

/* ---- hooks ------------------------------------------------------------ */

typedef struct recorder {
    int n;
    uint32_t site[MAX_CALLS];
    uint32_t t[MAX_CALLS];
    uint64_t rows[MAX_CALLS];
    /* edit: when site == edit_site and t == edit_t, write edit_value (f32) or
     * edit_byte (8-bit sites) into elements [0, edit_n) of every sample */
    int edit_site;
    uint32_t edit_t;
    uint64_t edit_n;
    float edit_value;
    uint8_t edit_byte;
    const nnfi_site *sites;
    int edits;
    nnfi_status fail_with; /* returned at the first call when != OK */
} recorder;

static nnfi_status record_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    recorder *r = user;
    if (r->fail_with != NNFI_OK) return NNFI_FAIL(r->fail_with, "test hook refuses site %u\n  hint: none", site);
    if (r->n < MAX_CALLS) {
        r->site[r->n] = site;
        r->t[r->n] = t;
        r->rows[r->n] = rows;
        r->n++;
    }
    if ((int)site == r->edit_site && t == r->edit_t) {
        const nnfi_site *s = &r->sites[site];
        for (uint64_t row = 0; row < rows; row++)
            for (uint64_t i = 0; i < r->edit_n; i++) {
                if (s->dtype == NNFI_DT_F32) ((float *)data)[row * s->numel + i] = r->edit_value;
                else ((uint8_t *)data)[row * s->numel + i] = r->edit_byte;
            }
        r->edits++;
    }
    return NNFI_OK;
}

static void recorder_init(recorder *r, nnfi_model *m)
{
    memset(r, 0, sizeof *r);
    r->edit_site = -1;
    r->sites = nnfi_host_torch()->sites(m);
}

/* ---- CNN -------------------------------------------------------------- */

static void test_cnn_sites(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    assert_int_equal(h->abi, NNFI_MODEL_HOST_ABI);
    assert_int_equal(h->size, sizeof(nnfi_model_host));
    assert_string_equal(h->name, "torch");
    nnfi_model *m = open_model("cnn.pt", NULL);
    print_sites(m);
    assert_int_equal(h->n_classes(m), CLASSES);
    assert_int_equal(h->input_numel(m), PIXELS);
    const nnfi_site *s = h->sites(m);
    assert_string_equal(s[0].name, "input");
    assert_int_equal(s[0].kind, NNFI_SITE_INPUT);
    assert_int_equal(s[0].numel, PIXELS);
    assert_int_equal(s[0].ndim, 3);
    struct {
        const char *name;
        uint64_t numel;
        int ndim;
        int64_t d0;
    } params[] = {{"conv1.weight", 4 * 1 * 3 * 3, 4, 4}, {"conv1.bias", 4, 1, 4},
                  {"conv2.weight", 8 * 4 * 3 * 3, 4, 8}, {"conv2.bias", 8, 1, 8},
                  {"fc.weight", 10 * 392, 2, 10},        {"fc.bias", 10, 1, 10}};
    int n_params = 0;
    for (size_t i = 0; i < h->n_sites(m); i++) n_params += s[i].kind == NNFI_SITE_PARAM;
    assert_int_equal(n_params, 6);
    for (size_t i = 0; i < sizeof params / sizeof params[0]; i++) {
        int k = site_index(m, params[i].name);
        assert_true(k > 0);
        assert_int_equal(s[k].kind, NNFI_SITE_PARAM);
        assert_int_equal(s[k].dtype, NNFI_DT_F32);
        assert_int_equal(s[k].numel, params[i].numel);
        assert_int_equal(s[k].ndim, params[i].ndim);
        assert_int_equal(s[k].shape[0], params[i].d0);
        assert_non_null(s[k].data);
        assert_int_equal(s[k].device, -1);
    }
    /* activations: per-sample shapes */
    struct {
        const char *name;
        uint64_t numel;
    } acts[] = {{"conv1.conv2d#0", 4 * 28 * 28}, {"relu#0", 4 * 28 * 28}, {"conv2.conv2d#0", 8 * 14 * 14},
                {"relu#1", 8 * 14 * 14},          {"fc.linear#0", 10}};
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        int k = site_index(m, acts[i].name);
        if (k < 0) fail_msg("no activation site %s", acts[i].name);
        assert_int_equal(s[k].kind, NNFI_SITE_ACTIVATION);
        assert_int_equal(s[k].dtype, NNFI_DT_F32);
        assert_int_equal(s[k].numel, acts[i].numel);
        assert_null(s[k].data);
    }
    assert_int_equal(s[site_index(m, "conv2.conv2d#0")].ndim, 3);
    assert_int_equal(s[site_index(m, "conv2.conv2d#0")].shape[0], 8);
    h->close(m);
}

static void test_cnn_logits_match_python(void **state)
{
    (void)state;
    float want[ROWS * CLASSES], got[ROWS * CLASSES];
    read_floats("cnn_logits.bin", want, ROWS * CLASSES);
    nnfi_model *m = open_model("cnn.pt", NULL);
    forward_ok(m, got);
    assert_close(got, want, ROWS * CLASSES, 1e-5f);
    /* deterministic: a second forward is bit-identical */
    float again[ROWS * CLASSES];
    forward_ok(m, again);
    assert_memory_equal(again, got, sizeof got);
    nnfi_host_torch()->close(m);
}

/* threads = 2 (process-wide, pinned at open): same logits within tolerance */
static void test_cnn_two_threads(void **state)
{
    (void)state;
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = "cnn.pt";
    cfg.threads = 2;
    nnfi_model *m = NULL;
    assert_int_equal(nnfi_host_torch()->open(&cfg, g_dir, 1, &m), NNFI_OK);
    assert_non_null(strstr(nnfi_host_torch_info(m), "threads 2"));
    float want[ROWS * CLASSES], got[ROWS * CLASSES];
    read_floats("cnn_logits.bin", want, ROWS * CLASSES);
    forward_ok(m, got);
    assert_close(got, want, ROWS * CLASSES, 1e-5f);
    nnfi_host_torch()->close(m);
}

static void test_cnn_weight_flip_and_restore(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("cnn.pt", NULL);
    float golden[ROWS * CLASSES], out[ROWS * CLASSES];
    forward_ok(m, golden);
    const nnfi_site *s = h->sites(m);
    int k = site_index(m, "conv1.weight");
    uint32_t *w = (uint32_t *)s[k].data;
    uint32_t saved = w[0];
    w[0] ^= 1u << 30; /* top exponent bit */
    forward_ok(m, out);
    assert_memory_not_equal(out, golden, sizeof out);
    w[0] = saved;
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    h->close(m);
}

static void test_cnn_activation_order(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("cnn.pt", NULL);
    const nnfi_site *s = h->sites(m);
    float golden[ROWS * CLASSES], out[ROWS * CLASSES];
    forward_ok(m, golden);
    recorder r;
    recorder_init(&r, m);
    assert_int_equal(h->set_hook(m, record_hook, &r), NNFI_OK);
    forward_ok(m, out);
    const char *want[] = {"input", "conv1.conv2d#0", "relu#0", "conv2.conv2d#0", "relu#1", "fc.linear#0"};
    assert_int_equal(r.n, 6);
    for (int i = 0; i < r.n; i++) {
        assert_string_equal(s[r.site[i]].name, want[i]);
        assert_int_equal(r.t[i], 0);
        assert_int_equal(r.rows[i], ROWS);
        if (i > 0) assert_true(r.site[i] > r.site[i - 1]); /* site table is in call order */
    }
    /* every activation/input site was called, and nothing else */
    size_t dynamic = 0;
    for (size_t i = 0; i < h->n_sites(m); i++) dynamic += s[i].kind >= NNFI_SITE_ACTIVATION;
    assert_int_equal(dynamic, 6);
    /* a hook that edits nothing changes nothing */
    assert_memory_equal(out, golden, sizeof out);
    /* the counters restart at every forward */
    r.n = 0;
    forward_ok(m, out);
    assert_int_equal(r.n, 6);
    for (int i = 0; i < r.n; i++) assert_int_equal(r.t[i], 0);
    /* hook NULL again: no calls */
    assert_int_equal(h->set_hook(m, NULL, NULL), NNFI_OK);
    r.n = 0;
    forward_ok(m, out);
    assert_int_equal(r.n, 0);
    assert_memory_equal(out, golden, sizeof out);
    h->close(m);
}

static void test_cnn_activation_edit(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("cnn.pt", NULL);
    float golden[ROWS * CLASSES], out[ROWS * CLASSES];
    forward_ok(m, golden);
    const char *targets[] = {"input", "relu#0", "conv2.conv2d#0", "fc.linear#0"};
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        recorder r;
        recorder_init(&r, m);
        r.edit_site = site_index(m, targets[i]);
        assert_true(r.edit_site >= 0);
        r.edit_n = 1 + r.sites[r.edit_site].numel / 4;
        r.edit_value = 1000.0f;
        assert_int_equal(h->set_hook(m, record_hook, &r), NNFI_OK);
        forward_ok(m, out);
        assert_int_equal(r.edits, 1);
        for (int row = 0; row < ROWS; row++) /* every sample was edited */
            assert_memory_not_equal(&out[row * CLASSES], &golden[row * CLASSES], CLASSES * sizeof(float));
        assert_int_equal(h->set_hook(m, NULL, NULL), NNFI_OK);
        forward_ok(m, out);
        assert_memory_equal(out, golden, sizeof out); /* the edit did not outlive the forward */
    }
    /* the caller's input is never edited */
    float in_copy[ROWS * PIXELS];
    read_floats("input.bin", in_copy, ROWS * PIXELS);
    assert_memory_equal(in_copy, g_input, sizeof in_copy);
    h->close(m);
}

/* A failing hook at the input site (called from C++ before the graph runs). */
static void test_cnn_hook_error(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("cnn.pt", NULL);
    float out[ROWS * CLASSES], golden[ROWS * CLASSES];
    forward_ok(m, golden);
    recorder r;
    recorder_init(&r, m);
    r.fail_with = NNFI_E_INVALID;
    assert_int_equal(h->set_hook(m, record_hook, &r), NNFI_OK);
    assert_int_equal(h->forward(m, g_input, ROWS, out), NNFI_E_INVALID);
    assert_non_null(strstr(nnfi_error_message(), "test hook refuses site 0"));
    r.fail_with = NNFI_OK;
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    h->close(m);
}

/* A failing hook at an activation site, inside the TorchScript interpreter:
 * forward returns the hook's status and message, the model stays usable. */
static int fail_at;
static nnfi_status fail_third(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    (void)user, (void)data, (void)rows, (void)t;
    if (--fail_at == 0) return NNFI_FAIL(NNFI_E_NOTFOUND, "fail_third at site %u\n  hint: none", site);
    return NNFI_OK;
}

static void test_cnn_hook_error_inside_graph(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("cnn.pt", NULL);
    float out[ROWS * CLASSES], golden[ROWS * CLASSES];
    forward_ok(m, golden);
    fail_at = 3;
    assert_int_equal(h->set_hook(m, fail_third, NULL), NNFI_OK);
    assert_int_equal(h->forward(m, g_input, ROWS, out), NNFI_E_NOTFOUND);
    char want[64];
    snprintf(want, sizeof want, "fail_third at site %d", site_index(m, "relu#0"));
    assert_non_null(strstr(nnfi_error_message(), want));
    /* the model still works afterwards */
    assert_int_equal(h->set_hook(m, NULL, NULL), NNFI_OK);
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    h->close(m);
}

/* The CPU injector driving the torch host through the engine's one trial pass
 * (nnfi_trial_pass, as a campaign worker does), in two batches of ROWS / 2. */
static nnfi_pass_result trial(const nnfi_pass_model *pm, const nnfi_fault *f, uint64_t n, float *all_logits)
{
    nnfi_pass_faults pf;
    memset(&pf, 0, sizeof pf);
    pf.list = f;
    pf.n = n;
    nnfi_pass_probe probe;
    memset(&probe, 0, sizeof probe);
    probe.all_logits = all_logits;
    nnfi_pass_result r;
    assert_int_equal(nnfi_trial_pass(pm, &pf, &probe, &r), NNFI_OK);
    if (r.forward_status != NNFI_OK) fail_msg("trial pass forward: %s", nnfi_error_message());
    assert_int_equal(r.restore_status, NNFI_OK);
    assert_int_equal(r.outcome.samples, ROWS);
    return r;
}

static void test_cnn_with_cpu_injector(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("cnn.pt", NULL);
    float one_batch[ROWS * CLASSES], golden[ROWS * CLASSES], out[ROWS * CLASSES], scratch[ROWS / 2 * CLASSES];
    forward_ok(m, one_batch);
    int32_t labels[ROWS];
    for (int r = 0; r < ROWS; r++) labels[r] = (int32_t)nnfi_top1(one_batch + r * CLASSES, CLASSES);

    nnfi_pass_model pm;
    memset(&pm, 0, sizeof pm);
    pm.host = h;
    pm.model = m;
    pm.sites = h->sites(m);
    pm.inputs = g_input;
    pm.labels = labels;
    pm.numel = PIXELS;
    pm.samples = ROWS;
    pm.batch = ROWS / 2;
    pm.classes = CLASSES;
    pm.logits = scratch;
    pm.backend = nnfi_inject_cpu();
    assert_int_equal(pm.backend->create(pm.sites, h->n_sites(m), &pm.inj), NNFI_OK);

    /* the fault-free pass, in two batches, gives the one-batch logits */
    assert_int_equal(nnfi_golden_pass(&pm, golden), NNFI_OK);
    assert_close(golden, one_batch, ROWS * CLASSES, 1e-5f);
    pm.golden = golden;

    /* permanent: conv2 output element 0 := NaN in every sample -> NaN logits (DUE) */
    nnfi_fault f;
    memset(&f, 0, sizeof f);
    f.site = (uint32_t)site_index(m, "conv2.conv2d#0");
    f.element = 0;
    f.mask = 0xffffffffu;
    f.value = 0x7fc00000u;
    f.op = NNFI_OP_SET;
    f.when = -1;
    f.t_last = UINT32_MAX;
    nnfi_pass_result r = trial(&pm, &f, 1, out);
    for (int row = 0; row < ROWS; row++) {
        int nan = 0;
        for (int k = 0; k < CLASSES; k++) nan |= isnan(out[row * CLASSES + k]);
        assert_true(nan);
    }
    assert_int_equal(r.outcome.nonfinite, ROWS);

    /* permanent weight fault: flip bit 30 of fc.weight elements, then exact restore */
    nnfi_fault fw[10];
    for (int i = 0; i < 10; i++) {
        memset(&fw[i], 0, sizeof fw[i]);
        fw[i].site = (uint32_t)site_index(m, "fc.weight");
        fw[i].element = (uint64_t)i * 392 + 7;
        fw[i].mask = 1u << 30;
        fw[i].op = NNFI_OP_FLIP;
        fw[i].when = -1;
        fw[i].t_last = UINT32_MAX;
    }
    r = trial(&pm, fw, 10, out);
    assert_memory_not_equal(out, golden, sizeof out);
    assert_true(r.outcome.max_abs_err > 0);

    /* no fault after the disarm: the weights are restored bit-exactly */
    r = trial(&pm, NULL, 0, out);
    assert_memory_equal(out, golden, sizeof out);
    assert_int_equal(r.outcome.mismatches, 0);
    assert_int_equal(r.outcome.nonfinite, 0);
    assert_true(r.outcome.max_abs_err == 0);
    assert_int_equal(r.outcome.correct, ROWS);
    forward_ok(m, out); /* and the model, its hook unset, still gives the one-batch logits */
    assert_memory_equal(out, one_batch, sizeof out);
    pm.backend->destroy(pm.inj);
    h->close(m);
}

/* ---- SNN -------------------------------------------------------------- */

static void test_snn_states_per_step(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("snn.pt", NULL);
    print_sites(m);
    const nnfi_site *s = h->sites(m);
    assert_int_equal(h->input_numel(m), PIXELS); /* no input_shape attribute: default [1, 28, 28] */
    assert_int_equal(h->n_classes(m), CLASSES);
    float want[ROWS * CLASSES], golden[ROWS * CLASSES], out[ROWS * CLASSES];
    read_floats("snn_logits.bin", want, ROWS * CLASSES);
    forward_ok(m, golden);
    assert_close(golden, want, ROWS * CLASSES, 1e-5f);

    const char *states[] = {"loop0.acc", "loop0.mem1", "loop0.mem2"};
    const uint64_t numel[] = {10, 32, 10};
    int idx[3];
    for (int i = 0; i < 3; i++) {
        idx[i] = site_index(m, states[i]);
        if (idx[i] < 0) fail_msg("no state site %s", states[i]);
        assert_int_equal(s[idx[i]].kind, NNFI_SITE_STATE);
        assert_int_equal(s[idx[i]].dtype, NNFI_DT_F32);
        assert_int_equal(s[idx[i]].numel, numel[i]);
    }
    int fc2 = site_index(m, "fc2.linear#0");
    assert_true(fc2 >= 0);
    recorder r;
    recorder_init(&r, m);
    assert_int_equal(h->set_hook(m, record_hook, &r), NNFI_OK);
    for (int pass = 0; pass < 2; pass++) { /* t restarts at 0 on every forward */
        r.n = 0;
        forward_ok(m, out);
        assert_memory_equal(out, golden, sizeof out);
        for (int i = 0; i < 3; i++) {
            uint32_t next = 0;
            for (int c = 0; c < r.n; c++)
                if ((int)r.site[c] == idx[i]) {
                    assert_int_equal(r.t[c], next);
                    assert_int_equal(r.rows[c], ROWS);
                    next++;
                }
            assert_int_equal(next, T_STEPS);
        }
        int fc2_calls = 0;
        for (int c = 0; c < r.n; c++) fc2_calls += (int)r.site[c] == fc2;
        assert_int_equal(fc2_calls, T_STEPS);
        /* 1 input + fc1 + T * (3 states + fc2) */
        assert_int_equal(r.n, 2 + T_STEPS * 4);
    }
    /* an edit of the membrane at one step changes the logits; it does not persist */
    r.edit_site = idx[1];
    r.edit_t = 1;
    r.edit_n = 32;
    r.edit_value = 5.0f;
    forward_ok(m, out);
    assert_int_equal(r.edits, 1);
    assert_memory_not_equal(out, golden, sizeof out);
    assert_int_equal(h->set_hook(m, NULL, NULL), NNFI_OK);
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    h->close(m);
}

/* ---- quantized CNN ---------------------------------------------------- */

static void test_qcnn_quantized_activations(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("qcnn.pt", "qnnpack");
    print_sites(m);
    const nnfi_site *s = h->sites(m);
    float want[ROWS * CLASSES], golden[ROWS * CLASSES], out[ROWS * CLASSES];
    read_floats("qcnn_logits.bin", want, ROWS * CLASSES);
    forward_ok(m, golden);
    assert_close(golden, want, ROWS * CLASSES, 1e-5f);
    int k = site_index(m, "conv2.conv2d#0");
    if (k < 0) fail_msg("no quantized activation site conv2.conv2d#0");
    assert_int_equal(s[k].kind, NNFI_SITE_ACTIVATION);
    assert_int_equal(s[k].dtype, NNFI_DT_U8);
    assert_int_equal(s[k].numel, 8 * 14 * 14);
    int u8 = 0;
    for (size_t i = 0; i < h->n_sites(m); i++) u8 += s[i].kind == NNFI_SITE_ACTIVATION && s[i].dtype == NNFI_DT_U8;
    assert_true(u8 >= 5); /* quant, conv1, relu1, conv2, relu2, fc */

    recorder r;
    recorder_init(&r, m);
    assert_int_equal(h->set_hook(m, record_hook, &r), NNFI_OK);
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out); /* strided (channels-last) copy path is exact */
    r.edit_site = k;
    r.edit_n = 8 * 14 * 14 / 2;
    r.edit_byte = 255;
    forward_ok(m, out);
    assert_int_equal(r.edits, 1);
    assert_memory_not_equal(out, golden, sizeof out);
    assert_int_equal(h->set_hook(m, NULL, NULL), NNFI_OK);
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    h->close(m);
}

/* Packed int8 weights as PARAM sites (host-owned copies, one repack per
 * changed tensor at the next forward, the saved packed object re-set on
 * restore), quantization metadata as BUFFER sites, read back from the model. */
static void test_qcnn_packed_weight_sites(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("qcnn.pt", "qnnpack");
    const nnfi_site *s = h->sites(m);
    struct {
        const char *name;
        nnfi_site_kind kind;
        nnfi_dtype dtype;
        uint64_t numel;
    } want[] = {{"conv1.weight", NNFI_SITE_PARAM, NNFI_DT_I8, 4 * 9},
                {"conv1.bias", NNFI_SITE_PARAM, NNFI_DT_F32, 4},
                {"conv2.weight", NNFI_SITE_PARAM, NNFI_DT_I8, 8 * 4 * 9},
                {"fc.weight", NNFI_SITE_PARAM, NNFI_DT_I8, 10 * 392},
                {"fc.bias", NNFI_SITE_PARAM, NNFI_DT_F32, 10},
                {"conv1.weight.scale", NNFI_SITE_BUFFER, NNFI_DT_F64, 1},
                {"conv1.weight.zero_point", NNFI_SITE_BUFFER, NNFI_DT_I32, 1},
                {"conv1.scale", NNFI_SITE_BUFFER, NNFI_DT_F64, 1},
                {"conv1.zero_point", NNFI_SITE_BUFFER, NNFI_DT_I32, 1},
                {"quant.scale", NNFI_SITE_BUFFER, NNFI_DT_F32, 1},
                {"quant.zero_point", NNFI_SITE_BUFFER, NNFI_DT_I32, 1}};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        int k = site_index(m, want[i].name);
        if (k < 0) fail_msg("no site %s", want[i].name);
        assert_int_equal(s[k].kind, want[i].kind);
        assert_int_equal(s[k].dtype, want[i].dtype);
        assert_int_equal(s[k].numel, want[i].numel);
        assert_non_null(s[k].data);
    }
    assert_non_null(strstr(nnfi_host_torch_info(m), "quantized packed weights: 3 (conv1, conv2, fc)"));
    int qengine = 0;
    for (const char *const *f = nnfi_host_torch_facts(m); *f; f++) qengine += strcmp(*f, "qengine=qnnpack") == 0;
    assert_int_equal(qengine, 1);

    float golden[ROWS * CLASSES], out[ROWS * CLASSES];
    forward_ok(m, golden);
    int k = site_index(m, "conv1.weight");
    int8_t *w = s[k].data, live[4 * 9];
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)k, live), NNFI_OK);
    assert_memory_equal(live, w, sizeof live);
    nnfi_host_torch_stats st0, st1;
    nnfi_host_torch_get_stats(m, &st0);
    int8_t saved = w[0];
    w[0] = (int8_t)(saved ^ 0x80);
    forward_ok(m, out);
    assert_memory_not_equal(out, golden, sizeof out);
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)k, live), NNFI_OK);
    assert_memory_equal(live, w, sizeof live); /* the repacked object holds the faulty value */
    forward_ok(m, out);                         /* no second repack for the same values */
    nnfi_host_torch_get_stats(m, &st1);
    assert_int_equal(st1.repacks - st0.repacks, 1);
    w[0] = saved;
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    nnfi_host_torch_get_stats(m, &st1);
    assert_int_equal(st1.restores - st0.restores, 1);
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)k, live), NNFI_OK);
    assert_memory_equal(live, w, sizeof live);

    /* an output scale (a module attribute): exponent bit 52 doubles or halves it */
    int sc = site_index(m, "fc.scale");
    uint64_t *v = s[sc].data, vsaved = v[0], vlive;
    v[0] = vsaved ^ (1ull << 52);
    forward_ok(m, out);
    assert_memory_not_equal(out, golden, sizeof out);
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)sc, &vlive), NNFI_OK);
    assert_true(vlive == (vsaved ^ (1ull << 52)));
    v[0] = vsaved;
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    /* activation sites have no stored value */
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)site_index(m, "conv2.conv2d#0"), &vlive),
                     NNFI_E_INVALID);
    h->close(m);
}

/* Per-channel weight quantization: scales and zero points are arrays [C]; a
 * fault in one channel's scale changes that element only. */
static void test_qcnn_per_channel_sites(void **state)
{
    (void)state;
    const nnfi_model_host *h = nnfi_host_torch();
    nnfi_model *m = open_model("qcnn_pc.pt", "qnnpack");
    const nnfi_site *s = h->sites(m);
    float want[ROWS * CLASSES], golden[ROWS * CLASSES], out[ROWS * CLASSES];
    read_floats("qcnn_pc_logits.bin", want, ROWS * CLASSES);
    forward_ok(m, golden);
    assert_close(golden, want, ROWS * CLASSES, 1e-5f);
    int k = site_index(m, "conv2.weight.scale");
    assert_true(k > 0);
    assert_int_equal(s[k].kind, NNFI_SITE_BUFFER);
    assert_int_equal(s[k].dtype, NNFI_DT_F64);
    assert_int_equal(s[k].numel, 8); /* one per output channel */
    assert_int_equal(s[site_index(m, "conv2.weight.zero_point")].numel, 8);
    assert_int_equal(s[site_index(m, "fc.weight.scale")].numel, 10);
    double *sc = s[k].data, live[8], before[8];
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)k, before), NNFI_OK);
    assert_memory_equal(before, sc, sizeof before);
    double saved = sc[2];
    sc[2] = saved * 4.0;
    forward_ok(m, out);
    assert_memory_not_equal(out, golden, sizeof out);
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)k, live), NNFI_OK);
    for (int c = 0; c < 8; c++) assert_true(live[c] == (c == 2 ? saved * 4.0 : before[c]));
    sc[2] = saved;
    forward_ok(m, out);
    assert_memory_equal(out, golden, sizeof out);
    assert_int_equal(nnfi_host_torch_read_live(m, (uint32_t)k, live), NNFI_OK);
    assert_memory_equal(live, before, sizeof live);
    h->close(m);
}

/* ---- errors ----------------------------------------------------------- */

static void expect_open_error(const char *file, const char *qengine, nnfi_status want, const char *needle)
{
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = "bad";
    cfg.path = (char *)file;
    cfg.qengine = (char *)qengine;
    nnfi_model *m = (nnfi_model *)&cfg; /* must be reset to NULL */
    nnfi_status st = nnfi_host_torch()->open(&cfg, g_dir, 1, &m);
    printf("  %s: %s: %s\n", file, nnfi_status_name(st), nnfi_error_message());
    assert_int_equal(st, want);
    assert_null(m);
    const char *msg = nnfi_error_message();
    assert_non_null(strstr(msg, needle));
    assert_non_null(strstr(msg, "\n  hint: "));
}

static void test_errors(void **state)
{
    (void)state;
    expect_open_error("no_such_model.pt", NULL, NNFI_E_IO, "no_such_model.pt");
    expect_open_error("corrupt.pt", NULL, NNFI_E_BACKEND, "corrupt.pt");
    expect_open_error("input.bin", NULL, NNFI_E_BACKEND, "input.bin");
    expect_open_error(".", NULL, NNFI_E_IO, "not a regular file");
    expect_open_error("cnn.pt", "fbgemm-nope", NNFI_E_UNSUPPORTED, "fbgemm-nope");
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    nnfi_model *m = NULL;
    assert_int_equal(nnfi_host_torch()->open(&cfg, g_dir, 1, &m), NNFI_E_INVALID);
    cfg.path = "cnn.pt";
    cfg.device = NNFI_DEVICE_CUDA;
    assert_int_equal(nnfi_host_torch()->open(&cfg, g_dir, 1, &m), NNFI_E_UNSUPPORTED);
    assert_non_null(strstr(nnfi_error_message(), "hint:"));
}

static void test_absolute_path(void **state)
{
    (void)state;
    char cwd[4096], abs[8300];
    if (g_dir[0] == '/') {
        snprintf(abs, sizeof abs, "%s/cnn.pt", g_dir);
    } else {
        assert_non_null(getcwd(cwd, sizeof cwd));
        snprintf(abs, sizeof abs, "%s/%s/cnn.pt", cwd, g_dir);
    }
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.path = abs;
    nnfi_model *m = NULL;
    assert_int_equal(nnfi_host_torch()->open(&cfg, "/nonexistent/base", 1, &m), NNFI_OK);
    nnfi_host_torch()->close(m);
}

int main(int argc, char **argv)
{
    if (argc > 1) g_dir = argv[1];
    read_floats("input.bin", g_input, ROWS * PIXELS);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cnn_sites),
        cmocka_unit_test(test_cnn_logits_match_python),
        cmocka_unit_test(test_cnn_two_threads),
        cmocka_unit_test(test_cnn_weight_flip_and_restore),
        cmocka_unit_test(test_cnn_activation_order),
        cmocka_unit_test(test_cnn_activation_edit),
        cmocka_unit_test(test_cnn_hook_error),
        cmocka_unit_test(test_cnn_hook_error_inside_graph),
        cmocka_unit_test(test_cnn_with_cpu_injector),
        cmocka_unit_test(test_snn_states_per_step),
        cmocka_unit_test(test_qcnn_quantized_activations),
        cmocka_unit_test(test_qcnn_packed_weight_sites),
        cmocka_unit_test(test_qcnn_per_channel_sites),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_absolute_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
