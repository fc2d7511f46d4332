/* host_null.c - the `null` model host: a synthetic, deterministic multilayer
 * perceptron in plain C, and the template for writing a new host.
 *
 * Why it exists: the campaign machinery (sampler, injectors, coordinator,
 * results) must be testable and benchmarkable without libtorch or a GPU. The
 * null model is small but real: fp32 parameters in host memory that faults
 * really change, activations passed through the site hook, logits computed
 * from both. Everything is a pure function of (shape, seed):
 *   weights  ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)) from Philox(seed)
 *   eval set inputs ~ U(0, 1); labels = the clean model's argmax for 90% of
 *            samples and a random class for the rest (golden accuracy ~90%).
 *
 * Sites, in call order of a forward:
 *   input         INPUT       [inputs]
 *   fc<i>.weight  PARAM       [out, in]    fc<i>.bias PARAM [out]
 *   fc<i>.out     ACTIVATION  [out]        (after ReLU for hidden layers)
 * with i = 1 .. layers+1 (the last layer gives the logits).
 *
 * To write a new host: copy this file, keep the table at the bottom, and fill
 * open/sites/forward/close for your framework; set_hook must make forward()
 * call the hook for every activation/input/state site as the tensor is made,
 * and must cost nothing when the hook is NULL.
 */
#include "nnfi/model_host.h"
#include "nnfi/philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nnfi_model {
    uint32_t inputs, hidden, layers, classes;
    uint64_t seed;
    uint32_t n_fc;       /* layers + 1 */
    uint32_t *fan_in, *fan_out;
    float **weight, **bias;
    nnfi_site *sites;
    size_t n_sites;
    uint32_t *act_site;  /* site index of fc<i>.out */
    nnfi_site_hook hook;
    void *hook_user;
    float *buf_a, *buf_b, *in_copy; /* scratch, grown to the largest batch */
    uint64_t buf_rows;
};

static float unit_float(uint64_t seed, uint32_t stream, uint32_t a, uint32_t b)
{
    nnfi_philox_ctr c = {{a, b, stream, 0x6e756c6cu /* "null" */}};
    nnfi_philox_key k = {{(uint32_t)seed, (uint32_t)(seed >> 32)}};
    nnfi_philox_ctr r = nnfi_philox4x32_10(c, k);
    return (float)((r.v[0] >> 8) * (1.0 / 16777216.0));
}

static void add_site(nnfi_model *m, const char *name, nnfi_site_kind kind, int ndim, int64_t d0,
                     int64_t d1, void *data)
{
    nnfi_site *s = &m->sites[m->n_sites++];
    memset(s, 0, sizeof *s);
    snprintf(s->name, sizeof s->name, "%s", name);
    s->kind = kind;
    s->dtype = NNFI_DT_F32;
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->numel = (uint64_t)d0 * (uint64_t)(ndim > 1 ? d1 : 1);
    s->data = data;
    s->device = -1;
}

static void null_close(nnfi_model *m)
{
    if (!m) return;
    for (uint32_t i = 0; m->weight && i < m->n_fc; i++) {
        free(m->weight[i]);
        free(m->bias[i]);
    }
    free(m->weight);
    free(m->bias);
    free(m->fan_in);
    free(m->fan_out);
    free(m->sites);
    free(m->act_site);
    free(m->buf_a);
    free(m->buf_b);
    free(m->in_copy);
    free(m);
}

static nnfi_status null_open(const nnfi_model_cfg *cfg, const char *base_dir, uint64_t seed, nnfi_model **out)
{
    (void)base_dir;
    *out = NULL;
    nnfi_null_model_cfg def = {64, 128, 2, 10};
    const nnfi_null_model_cfg *s = cfg && cfg->null_model ? cfg->null_model : &def;
    nnfi_model *m = calloc(1, sizeof *m);
    if (!m) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    m->inputs = s->inputs;
    m->hidden = s->hidden;
    m->layers = s->layers;
    m->classes = s->classes;
    m->seed = seed;
    m->n_fc = s->layers + 1;
    m->fan_in = calloc(m->n_fc, sizeof *m->fan_in);
    m->fan_out = calloc(m->n_fc, sizeof *m->fan_out);
    m->weight = calloc(m->n_fc, sizeof *m->weight);
    m->bias = calloc(m->n_fc, sizeof *m->bias);
    m->sites = calloc(1 + 3 * (size_t)m->n_fc, sizeof *m->sites);
    m->act_site = calloc(m->n_fc, sizeof *m->act_site);
    if (!m->fan_in || !m->fan_out || !m->weight || !m->bias || !m->sites || !m->act_site) {
        null_close(m);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    add_site(m, "input", NNFI_SITE_INPUT, 1, m->inputs, 0, NULL);
    for (uint32_t i = 0; i < m->n_fc; i++) {
        uint32_t in = i == 0 ? m->inputs : m->hidden;
        uint32_t o = i == m->n_fc - 1 ? m->classes : m->hidden;
        m->fan_in[i] = in;
        m->fan_out[i] = o;
        m->weight[i] = malloc((size_t)in * o * sizeof(float));
        m->bias[i] = malloc((size_t)o * sizeof(float));
        if (!m->weight[i] || !m->bias[i]) {
            null_close(m);
            return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for the null model's %u x %u layer", o, in);
        }
        float scale = 1.0f / sqrtf((float)in);
        for (uint64_t j = 0; j < (uint64_t)in * o; j++)
            m->weight[i][j] = (2 * unit_float(seed, 2 * i, (uint32_t)j, 0) - 1) * scale;
        for (uint32_t j = 0; j < o; j++) m->bias[i][j] = (2 * unit_float(seed, 2 * i + 1, j, 0) - 1) * scale;
        char name[NNFI_SITE_NAME_MAX];
        snprintf(name, sizeof name, "fc%u.weight", i + 1);
        add_site(m, name, NNFI_SITE_PARAM, 2, o, in, m->weight[i]);
        snprintf(name, sizeof name, "fc%u.bias", i + 1);
        add_site(m, name, NNFI_SITE_PARAM, 1, o, 0, m->bias[i]);
        snprintf(name, sizeof name, "fc%u.out", i + 1);
        m->act_site[i] = (uint32_t)m->n_sites;
        add_site(m, name, NNFI_SITE_ACTIVATION, 1, o, 0, NULL);
    }
    *out = m;
    return NNFI_OK;
}

static size_t null_n_sites(const nnfi_model *m) { return m->n_sites; }
static const nnfi_site *null_sites(const nnfi_model *m) { return m->sites; }
static uint32_t null_n_classes(const nnfi_model *m) { return m->classes; }
static uint64_t null_input_numel(const nnfi_model *m) { return m->inputs; }

static nnfi_status null_set_hook(nnfi_model *m, nnfi_site_hook hook, void *user)
{
    m->hook = hook;
    m->hook_user = user;
    return NNFI_OK;
}

static nnfi_status grow_buffers(nnfi_model *m, uint64_t rows)
{
    if (rows <= m->buf_rows) return NNFI_OK;
    uint32_t width = m->hidden > m->classes ? m->hidden : m->classes;
    float *a = realloc(m->buf_a, rows * width * sizeof(float));
    if (a) m->buf_a = a;
    float *b = realloc(m->buf_b, rows * width * sizeof(float));
    if (b) m->buf_b = b;
    float *c = realloc(m->in_copy, rows * m->inputs * sizeof(float));
    if (c) m->in_copy = c;
    if (!a || !b || !c) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for a batch of %llu", (unsigned long long)rows);
    m->buf_rows = rows;
    return NNFI_OK;
}

static nnfi_status null_forward(nnfi_model *m, const float *input, uint64_t rows, float *logits)
{
    NNFI_TRY(grow_buffers(m, rows));
    const float *x = input;
    if (m->hook) { /* the input site may be faulted: work on a copy, never the caller's data */
        memcpy(m->in_copy, input, rows * m->inputs * sizeof(float));
        NNFI_TRY(m->hook(m->hook_user, 0, m->in_copy, rows, 0));
        x = m->in_copy;
    }
    for (uint32_t i = 0; i < m->n_fc; i++) {
        int last = i == m->n_fc - 1;
        uint32_t in = m->fan_in[i], o = m->fan_out[i];
        float *y = last ? logits : (i % 2 ? m->buf_b : m->buf_a);
        const float *w = m->weight[i], *b = m->bias[i];
        for (uint64_t r = 0; r < rows; r++) {
            const float *xr = x + r * in;
            float *yr = y + r * o;
            for (uint32_t j = 0; j < o; j++) {
                const float *wj = w + (uint64_t)j * in;
                float acc = b[j];
                for (uint32_t k = 0; k < in; k++) acc += wj[k] * xr[k];
                /* ReLU that lets NaN through, so a NaN fault reaches the logits (a DUE) */
                yr[j] = (last || !(acc <= 0)) ? acc : 0;
            }
        }
        if (m->hook) NNFI_TRY(m->hook(m->hook_user, m->act_site[i], y, rows, 0));
        x = y;
    }
    return NNFI_OK;
}

static nnfi_status null_builtin_eval(nnfi_model *m, uint64_t samples, float **inputs, int32_t **labels)
{
    *inputs = NULL;
    *labels = NULL;
    if (samples == 0 || samples > UINT32_MAX)
        return NNFI_FAIL(NNFI_E_INVALID, "null host: %llu eval samples\n  hint: set eval.samples to 1 .. 4294967295",
                         (unsigned long long)samples);
    float *in = malloc(samples * m->inputs * sizeof(float));
    int32_t *lab = malloc(samples * sizeof(int32_t));
    float *lg = malloc(samples * m->classes * sizeof(float));
    if (!in || !lab || !lg) {
        free(in);
        free(lab);
        free(lg);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for %llu eval samples", (unsigned long long)samples);
    }
    for (uint64_t s = 0; s < samples; s++)
        for (uint32_t j = 0; j < m->inputs; j++) in[s * m->inputs + j] = unit_float(m->seed, 1000001, (uint32_t)s, j);
    nnfi_site_hook saved = m->hook;
    m->hook = NULL;
    nnfi_status st = null_forward(m, in, samples, lg);
    m->hook = saved;
    if (st != NNFI_OK) {
        free(in);
        free(lab);
        free(lg);
        return st;
    }
    for (uint64_t s = 0; s < samples; s++) {
        uint32_t best = 0;
        for (uint32_t c = 1; c < m->classes; c++)
            if (lg[s * m->classes + c] > lg[s * m->classes + best]) best = c;
        if (unit_float(m->seed, 1000002, (uint32_t)s, 0) < 0.1f)
            best = (uint32_t)(unit_float(m->seed, 1000003, (uint32_t)s, 0) * (float)m->classes) % m->classes;
        lab[s] = (int32_t)best;
    }
    free(lg);
    *inputs = in;
    *labels = lab;
    return NNFI_OK;
}

static const nnfi_model_host null_host = {
    .abi = NNFI_MODEL_HOST_ABI,
    .size = sizeof(nnfi_model_host),
    .name = "null",
    .open = null_open,
    .n_sites = null_n_sites,
    .sites = null_sites,
    .n_classes = null_n_classes,
    .input_numel = null_input_numel,
    .set_hook = null_set_hook,
    .forward = null_forward,
    .close = null_close,
    .builtin_eval = null_builtin_eval,
    .facts = NULL, /* nothing beyond the shape and seed, which the campaign records */
};

const nnfi_model_host *nnfi_host_null(void) { return &null_host; }
