/* host_null.c - the `null` model host: a synthetic, deterministic multilayer
 * perceptron in plain C, and the documented template for new model hosts.
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
 * ===================================================================
 * WRITING A NEW MODEL HOST (this file is the template)
 * ===================================================================
 *
 * A model host opens one kind of model (a framework's file, a simulator, a
 * hand-written network), says where faults may land (its sites) and runs
 * forwards, calling back at each activation, input and state tensor so the
 * injector can fault it as it is produced. The contract is the table
 * nnfi_model_host of include/nnfi/model_host.h; the injector side is
 * include/nnfi/inject.h, sites are include/nnfi/site.h. Copy this file to
 * src/plugins/host_<name>/host_<name>.c, keep its shape (a private struct
 * nnfi_model, one static function per slot, the table at the bottom, one
 * exported getter), and replace the MLP with your framework.
 *
 * 1. Who calls what, and when (src/engine/worker.c and trial_pass.c)
 *
 *   open(cfg, base_dir, seed)        once per model and worker process, the
 *                                    first time an experiment needs it
 *   n_sites / sites / n_classes /    right after open, once; the results are
 *   input_numel                      kept for the model's life
 *   builtin_eval(samples)            once, only when the campaign gives no
 *                                    eval file (eval.path) for this model
 *   set_hook(NULL) + forward ...     the golden run: the eval set in batches
 *                                    of eval.batch rows, no faults
 *   facts()                          when the golden run is recorded
 *   for each trial:
 *     injector arm (parameter faults written into your parameter memory)
 *     set_hook(hook or NULL)         NULL when no fault of the trial lands on
 *                                    an activation/input/state site
 *     forward(batch) ...             the same batches as the golden run
 *     set_hook(NULL)
 *     injector disarm (parameters restored bit-exactly)
 *   close()                          when the worker ends
 * The engine never calls close() after a failed open(), and always after a
 * successful one (even when something later fails). A model is used by one
 * thread at a time (model_host.h), not necessarily always the same one, and
 * several models of one host may be open at once (a campaign with several
 * models), so keep per-model state in struct nnfi_model and nothing mutable
 * in globals (the torch host re-pins process-wide torch settings at each
 * forward for this reason). Threads of your own inside forward() are fine;
 * the hook is not thread-safe, so call it from one thread at a time.
 *
 * 2. The slots, one by one (required unless marked optional)
 *
 *   abi, size, name   NNFI_MODEL_HOST_ABI, sizeof(nnfi_model_host) and the
 *                     host's name as campaigns spell it ("null"). The table is
 *                     static const: nothing to free.
 *
 *   open(cfg, base_dir, seed, &out)
 *                     Build the model. cfg is the campaign's model block
 *                     (nnfi_model_cfg, include/nnfi/config.h), borrowed for
 *                     this call only: copy what you keep. Relative paths in
 *                     cfg are relative to base_dir (the campaign file's
 *                     directory). seed is the campaign seed: use it for
 *                     anything random (this host draws its weights from it),
 *                     so runs reproduce. Set *out to NULL first; on failure
 *                     free everything built so far (null_close below takes a
 *                     half-built model) and return the status. On success
 *                     *out is yours until close().
 *
 *   n_sites(m), sites(m)
 *                     The site table: an array you own, valid and unchanged
 *                     (same address, same contents) until close(); everyone
 *                     else borrows it. Rules (site.h):
 *                     - names are stable across runs and builds (module path
 *                       plus role, "fc1.weight", "fc1.out"): campaign files
 *                       and results name sites by them;
 *                     - list them in call order (input, then each layer), so
 *                       reports read like the network;
 *                     - PARAM/BUFFER sites: `data` points at the elements in
 *                       memory you own, at a fixed address until close(), and
 *                       forward() must read them from there every call (no
 *                       cached or repacked copy, or re-sync it per forward as
 *                       the torch host does for quantized weights): the
 *                       injector writes faults into that memory between arm
 *                       and disarm and restores it afterwards;
 *                     - ACTIVATION/INPUT/STATE sites: data NULL, `numel` and
 *                       `shape` of ONE sample (no batch dimension);
 *                     - `device` -1 for host memory, else the CUDA ordinal;
 *                       a model with a site on a device gets the cuda
 *                       injection backend (all its sites on one device).
 *
 *   n_classes(m)      Logits per sample.
 *   input_numel(m)    fp32 elements of one input sample (eval files must match).
 *
 *   set_hook(m, hook, user)
 *                     Remember (hook, user); NULL turns the callbacks off.
 *                     With a hook, forward() calls hook(user, site, data,
 *                     rows, t) for every ACTIVATION, INPUT and STATE site, in
 *                     call order, as soon as the tensor exists and before
 *                     anything reads it:
 *                       data  rows x site.numel elements of the site's dtype,
 *                             contiguous, row-major (host memory for device
 *                             -1, device memory otherwise);
 *                       rows  the rows of this forward;
 *                       t     how many times this site was already called in
 *                             this forward (an SNN's time step; 0 here).
 *                     The hook may rewrite data in place, and the rest of the
 *                     forward must use the rewritten values (call it on the
 *                     tensor you go on computing with, never on a copy you
 *                     then discard). Never hand it the caller's input buffer:
 *                     copy the input first (null_forward does). Call it
 *                     before forward() returns. Without a hook the
 *                     forward must cost nothing extra (no copies, no checks
 *                     per element): it is the golden run and the trials with
 *                     parameter faults only.
 *
 *   forward(m, input, rows, logits)
 *                     input: rows x input_numel fp32 (borrowed, read only);
 *                     logits: rows x n_classes fp32, written by you. Must be
 *                     deterministic: the same weights and input give the same
 *                     logits bit for bit, or fault-free trials would count as
 *                     corruptions. rows may change between calls (the last
 *                     batch is short): grow scratch as needed (grow_buffers).
 *                     When the hook returns an error, stop and return that
 *                     status unchanged (NNFI_TRY), keeping its message.
 *
 *   close(m)          Free everything; m may be half-built (from open's error
 *                     path) or NULL. The site table and facts die with it.
 *
 *   builtin_eval(m, samples, &inputs, &labels)     optional (NULL: none)
 *                     An eval set for hosts that can make one (this host's
 *                     synthetic data). Allocate inputs (samples x input_numel
 *                     fp32) and labels (samples int32 in [0, n_classes)) with
 *                     malloc; the caller frees them with free(). Set both to
 *                     NULL first and leave them NULL on failure. A host
 *                     without one leaves the slot NULL and the campaign must
 *                     name an eval file.
 *
 *   facts(m)          optional (NULL: none)
 *                     A NULL-terminated array of "key=value" strings on the
 *                     numerics of this model (library versions, threads, BLAS,
 *                     quantized engine), fixed at open and recorded with the
 *                     golden run; borrowed until close. Callers use it only
 *                     through nnfi_host_facts(), which also handles tables
 *                     built before the slot existed (NNFI_HAS_SLOT).
 *
 *   Optional slots are read through NNFI_HAS_SLOT (include/nnfi/plugin.h):
 *   a slot counts as present when the table's `size` covers it and it is not
 *   NULL, so a host built before a slot was added keeps working. New slots
 *   are only ever added at the end of the table as optional ones.
 *
 * 3. Errors
 *
 *   Return NNFI_OK or a status made with NNFI_FAIL (include/nnfi/status.h),
 *   which records a message for nnfi_error_message() (thread-local):
 *     return NNFI_FAIL(NNFI_E_IO, "model '%s': cannot read %s: %s\n"
 *                      "  hint: paths are relative to the campaign file",
 *                      cfg->name, path, strerror(errno));
 *   One line saying what failed, naming the model, file or site, then lines
 *   "  hint: ..." telling the user what to do. Codes: NNFI_E_INVALID (an
 *   argument or value out of range), NNFI_E_CONFIG (a campaign value this
 *   host cannot use), NNFI_E_IO (files), NNFI_E_NOMEM, NNFI_E_UNSUPPORTED (a
 *   valid request this host cannot do), NNFI_E_BACKEND (your framework
 *   failed: put its own message in yours), NNFI_E_TIMEOUT (a device wait
 *   passed the watchdog's deadline, include/nnfi/watchdog.h). Pass statuses
 *   of nnfi calls and of the hook up unchanged with NNFI_TRY. Never print,
 *   exit or abort: the CLI reports (tests/arch checks there is no exit or
 *   abort in library code), and a failed trial is recorded, not fatal. C++
 *   hosts catch every exception at the table boundary (host_torch.cpp).
 *
 * 4. Registering a new host
 *
 *   a. src/plugins/host_<name>/CMakeLists.txt, one line (plus your
 *      framework's target_link_libraries):
 *        nnfi_plugin(nnfi_host_<name> host_<name>.c)
 *      nnfi_plugin (src/plugins/CMakeLists.txt) makes a static library that
 *      links nnfi_base only. Add add_subdirectory(host_<name>) there, inside
 *      if(NNFI_HAVE_<DEP>) when it needs an optional package (as host_torch).
 *      A plug-in includes include/nnfi/ headers and its own, never the
 *      engine's, the registry's or the CLI's (tests/arch checks).
 *   b. include/nnfi/model_host.h: declare
 *        const nnfi_model_host *nnfi_host_<name>(void);
 *   c. include/nnfi/config.h: a value in nnfi_host_kind; and its spelling
 *      in NNFI_CFG_HOST_WORDS (src/base/config/config_internal.h: the name
 *      table nnfi_cfg_host_strings is generated from it), with any checks of
 *      your model block in src/base/config/config_checks.c (the torch host
 *      requires `path` there).
 *   d. src/registry/registry.c, nnfi_host_lookup: a case returning
 *      nnfi_host_<name>() (behind #ifdef NNFI_HAVE_<DEP>, with an #else that
 *      returns NNFI_E_UNSUPPORTED and a rebuild hint, as torch); list it in
 *      nnfi_registry_describe (--version); and in src/registry/CMakeLists.txt
 *      target_link_libraries(nnfi_registry PUBLIC nnfi_host_<name>) (and the
 *      NNFI_HAVE_<DEP> definition for an optional one). Only the registry
 *      has #ifdefs on optional dependencies. It checks your table once before
 *      handing it out (ABI, size, required slots: check_host), so a missing
 *      slot is an NNFI_E_UNSUPPORTED at lookup, not a crash in a trial.
 *
 * 5. Testing it
 *
 *   tests/host/test_host_null.c is the pattern: a cmocka test registered in
 *   tests/host/CMakeLists.txt with nnfi_unit_test(test_host_<name>
 *   test_host_<name>.c) (label unit; run ctest -L unit). Drive the host
 *   through the cpu injector as the engine does, and check at least:
 *     - open is deterministic: same config and seed, bit-identical logits;
 *       another seed (or model) differs;
 *     - sites come in call order with the right kinds, shapes and numel, and
 *       PARAM/BUFFER sites have data;
 *     - a hook with no faults changes nothing (logits equal the golden run);
 *     - a parameter fault changes the logits and, after disarm, the logits
 *       are bit-identical to the golden run again;
 *     - activation/input faults reach the logits through the hook, on every
 *       row (permanent) and on one sample (transient, scope sample);
 *     - a hook that fails makes forward return its status (the torch host's
 *       test does: tests/torch/test_host_torch.c);
 *     - open's errors (missing file, bad values) return the right code with a
 *       hint, and close() of what they leave is safe.
 *   Then a small campaign with `host: <name>` end to end (tests/campaign),
 *   and the sanitizer and valgrind suites (tests/sanitizers, tests/valgrind)
 *   for leaks on open's error paths.
 */
#include "nnfi/model_host.h"
#include "nnfi/philox.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything of one open model (section 1: per-model state only, no globals). */
struct nnfi_model {
    uint32_t inputs, hidden, layers, classes;
    uint64_t seed;
    uint32_t n_fc;       /* layers + 1 */
    uint32_t *fan_in, *fan_out;
    float **weight, **bias;
    nnfi_site *sites;    /* owned; borrowed by everyone until close */
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

/* slot close: takes NULL and half-built models (open's error paths). */
static void null_close(nnfi_model *m)
{
    if (!m) return;
    for (uint32_t i = 0; i < m->n_fc; i++) {
        if (m->weight) free(m->weight[i]);
        if (m->bias) free(m->bias[i]);
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

/* slot open: cfg is borrowed for this call (the shape is copied out); on
 * failure everything is freed and *out stays NULL. */
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

/* slots n_sites, sites, n_classes, input_numel: fixed at open. */
static size_t null_n_sites(const nnfi_model *m) { return m->n_sites; }
static const nnfi_site *null_sites(const nnfi_model *m) { return m->sites; }
static uint32_t null_n_classes(const nnfi_model *m) { return m->classes; }
static uint64_t null_input_numel(const nnfi_model *m) { return m->inputs; }

/* slot set_hook: just remembered; forward() does the calling. */
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

/* Layers first .. n_fc-1 on x (layer first's input): parameters read from
 * the site memory every call; each layer's output copied into capture[i]
 * when asked (before the hook: the golden cache), then the hook called on it
 * before the next layer reads it; a hook error returned as is. */
static nnfi_status run_layers(nnfi_model *m, const float *x, uint32_t first, uint64_t rows, float *logits,
                              void *const *capture)
{
    for (uint32_t i = first; i < m->n_fc; i++) {
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
        if (capture && capture[i]) memcpy(capture[i], y, rows * o * sizeof(float));
        if (m->hook) NNFI_TRY(m->hook(m->hook_user, m->act_site[i], y, rows, 0));
        x = y;
    }
    return NNFI_OK;
}

/* slot forward: deterministic; the hook called on the input copy and on each
 * layer's output before the next layer reads it. */
static nnfi_status null_forward(nnfi_model *m, const float *input, uint64_t rows, float *logits)
{
    NNFI_TRY(grow_buffers(m, rows));
    const float *x = input;
    if (m->hook) { /* the input site may be faulted: work on a copy, never the caller's data */
        memcpy(m->in_copy, input, rows * m->inputs * sizeof(float));
        NNFI_TRY(m->hook(m->hook_user, 0, m->in_copy, rows, 0));
        x = m->in_copy;
    }
    return run_layers(m, x, 0, rows, logits, NULL);
}

/* Prefix reuse (optional slots): cut i sits after layer i's arithmetic,
 * before its output's hook; its live values are that output (fan_out[i]
 * floats per sample). A fault in fc<i+1>.out starts at cut i, one in layer
 * i's weight or bias at cut i-1 (layer 0's: at the input). */
static uint32_t null_n_cuts(const nnfi_model *m) { return m->n_fc; }

static uint64_t null_cut_bytes(const nnfi_model *m, uint32_t c)
{
    return c < m->n_fc ? (uint64_t)m->fan_out[c] * sizeof(float) : 0;
}

static int32_t null_site_cut(const nnfi_model *m, uint32_t site)
{
    for (uint32_t i = 0; i < m->n_fc; i++) {
        if (site == m->act_site[i]) return (int32_t)i;
        if (m->sites[site].data == m->weight[i] || m->sites[site].data == m->bias[i]) return (int32_t)i - 1;
    }
    return -1; /* the input */
}

static int32_t null_site_value_cut(const nnfi_model *m, uint32_t site)
{
    for (uint32_t i = 0; i < m->n_fc; i++)
        if (site == m->act_site[i]) return (int32_t)i; /* cut i holds layer i's output before its hook */
    return -1;
}

static nnfi_status null_forward_capture(nnfi_model *m, const float *input, uint64_t rows, float *logits,
                                        void *const *out)
{
    NNFI_TRY(grow_buffers(m, rows));
    nnfi_site_hook saved = m->hook;
    m->hook = NULL;
    nnfi_status st = run_layers(m, input, 0, rows, logits, out);
    m->hook = saved;
    return st;
}

static nnfi_status null_forward_from(nnfi_model *m, uint32_t c, const void *live, uint64_t rows, float *logits)
{
    if (c >= m->n_fc) return NNFI_FAIL(NNFI_E_INVALID, "null host: no cut %u", c);
    NNFI_TRY(grow_buffers(m, rows));
    float *y = c == m->n_fc - 1 ? logits : (c % 2 ? m->buf_b : m->buf_a);
    memcpy(y, live, rows * m->fan_out[c] * sizeof(float));
    if (m->hook) NNFI_TRY(m->hook(m->hook_user, m->act_site[c], y, rows, 0));
    return run_layers(m, y, c + 1, rows, logits, NULL);
}

/* optional slot builtin_eval: malloc'd arrays the caller frees; NULL on
 * failure. Runs its own fault-free forward with the hook off. */
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

/* The table (section 2): static, checked once by the registry (check_host). */
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
    .n_cuts = null_n_cuts,
    .cut_bytes = null_cut_bytes,
    .site_cut = null_site_cut,
    .forward_capture = null_forward_capture,
    .forward_from = null_forward_from,
    .site_value_cut = null_site_value_cut,
};

/* The one export, declared in include/nnfi/model_host.h and named only by
 * the registry (src/registry/registry.c: nnfi_host_lookup) and tests. */
const nnfi_model_host *nnfi_host_null(void) { return &null_host; }
