/* golden_cache.c - the golden cache of one model (see golden_cache.h). */
#include "golden_cache.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A kept cut must make the first batch's forward at least this much faster
 * than a plain forward (results are identical either way; this only keeps a
 * trial from paying for a resumed forward that saves nothing). */
#define CUT_MAX_TIME_RATIO 0.85

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void golden_cache_free(golden_cache_store *c)
{
    for (uint32_t i = 0; c->live && i < c->view.n_cuts; i++) free(c->live[i]);
    free(c->live);
    free(c->bytes);
    free(c->site_from);
    free(c->value_cut);
    free(c->host_cut);
    free(c->drop);
    memset(c, 0, sizeof *c);
}

/* Give back kept cut `cut` (samples rows of it). */
static void drop(golden_cache_store *c, uint32_t cut, uint64_t samples)
{
    if (!c->live[cut]) return;
    free(c->live[cut]);
    c->live[cut] = NULL;
    c->used -= c->bytes[cut] * samples;
    c->kept--;
}

static uint64_t rows_of(const nnfi_pass_model *m, uint64_t s)
{
    return m->samples - s < m->batch ? m->samples - s : m->batch;
}

/* Capture every kept cut over the eval set; 0 when the capture's logits
 * differ from the golden ones (then nothing can be trusted). */
static nnfi_status capture(const nnfi_pass_model *m, golden_cache_store *c, int *same)
{
    uint32_t n = c->view.n_cuts;
    void **out = calloc(n, sizeof *out);
    if (!out) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = NNFI_OK;
    *same = 1;
    for (uint64_t s = 0; st == NNFI_OK && *same && s < m->samples; s += m->batch) {
        for (uint32_t i = 0; i < n; i++) out[i] = c->live[i] ? (char *)c->live[i] + s * c->bytes[i] : NULL;
        uint64_t rows = rows_of(m, s);
        st = m->host->forward_capture(m->model, m->inputs + s * m->numel, rows, m->logits, out);
        if (st == NNFI_OK && memcmp(m->logits, m->golden + s * m->classes, rows * m->classes * sizeof(float)) != 0)
            *same = 0;
    }
    free(out);
    return st;
}

/* Does a forward resumed at cut i reproduce the golden logits of the call
 * starting at sample s? *seconds: its wall time. */
static nnfi_status resumes_exactly(const nnfi_pass_model *m, const golden_cache_store *c, uint32_t i, uint64_t s,
                                   int *ok, double *seconds)
{
    uint64_t rows = rows_of(m, s);
    double t0 = now_s();
    nnfi_status st = m->host->forward_from(m->model, i, (const char *)c->live[i] + s * c->bytes[i], rows, m->logits);
    *seconds = now_s() - t0;
    if (st != NNFI_OK) {
        *ok = 0; /* a cut the host cannot resume from is dropped, not an error */
        return NNFI_OK;
    }
    *ok = memcmp(m->logits, m->golden + s * m->classes, rows * m->classes * sizeof(float)) == 0;
    return NNFI_OK;
}

/* The wall time of a plain forward of the first batch (the best of two). */
static nnfi_status plain_seconds(const nnfi_pass_model *m, double *best)
{
    *best = 1e300;
    for (int k = 0; k < 2; k++) {
        double t0 = now_s();
        NNFI_TRY(m->host->forward(m->model, m->inputs, rows_of(m, 0), m->logits));
        double t = now_s() - t0;
        if (t < *best) *best = t;
    }
    return NNFI_OK;
}

nnfi_status golden_cache_build(const nnfi_pass_model *m, size_t n_sites, uint64_t budget_bytes,
                               golden_cache_store *out)
{
    memset(out, 0, sizeof *out);
    golden_cache_store *c = out;
    size_t ns = n_sites ? n_sites : 1;
    c->site_from = calloc(ns, sizeof *c->site_from);
    c->value_cut = malloc(ns * sizeof *c->value_cut);
    c->host_cut = malloc(ns * sizeof *c->host_cut);
    c->drop = malloc(ns * sizeof *c->drop);
    if (!c->site_from || !c->value_cut || !c->host_cut || !c->drop) {
        golden_cache_free(c);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    for (size_t s = 0; s < n_sites; s++) c->value_cut[s] = c->host_cut[s] = -1;
    c->view.site_from = c->site_from;
    c->view.value_cut = c->value_cut;
    if (!nnfi_host_has_cuts(m->host) || budget_bytes == 0 || m->samples == 0) return NNFI_OK;
    uint32_t n = m->host->n_cuts(m->model);
    if (n == 0) return NNFI_OK;
    c->bytes = calloc(n, sizeof *c->bytes);
    c->live = calloc(n, sizeof *c->live);
    if (!c->bytes || !c->live) {
        golden_cache_free(c);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    c->view.n_cuts = n;
    c->view.bytes = c->bytes;
    c->view.live = c->live;
    /* the latest cuts first: they serve the most sites and are the smallest */
    for (uint32_t i = n; i-- > 0;) {
        c->bytes[i] = m->host->cut_bytes(m->model, i);
        if (c->bytes[i] == 0) continue;
        uint64_t need = c->bytes[i] * m->samples;
        if (c->used + need > budget_bytes || !(c->live[i] = malloc(need))) {
            c->over_budget++; /* never an out-of-memory: a cut that does not fit is skipped */
            continue;
        }
        c->used += need;
        c->kept++;
    }
    nnfi_status st = m->host->set_hook(m->model, NULL, NULL);
    int same = 0;
    if (st == NNFI_OK && c->kept) st = capture(m, c, &same);
    double plain = 0;
    if (st == NNFI_OK && c->kept) st = plain_seconds(m, &plain);
    for (uint32_t i = 0; st == NNFI_OK && i < n; i++) {
        if (!c->live[i]) continue;
        int ok = same, ok2 = 1;
        double t = 0, t2 = 0, t_last = 0;
        uint64_t last = (m->samples - 1) / m->batch * m->batch;
        if (ok) st = resumes_exactly(m, c, i, 0, &ok, &t);
        if (st == NNFI_OK && ok) st = resumes_exactly(m, c, i, 0, &ok2, &t2); /* the best of two, as the plain one */
        ok = ok && ok2;
        if (st == NNFI_OK && ok && last != 0) st = resumes_exactly(m, c, i, last, &ok, &t_last);
        if (st != NNFI_OK) break;
        if (!ok || (t < t2 ? t : t2) > CUT_MAX_TIME_RATIO * plain) {
            drop(c, i, m->samples);
            if (!ok) c->failed++;
            else c->too_slow++;
        }
    }
    if (st != NNFI_OK) {
        golden_cache_free(c);
        return st;
    }
    int values = nnfi_host_has_value_cuts(m->host);
    for (size_t s = 0; s < n_sites; s++) {
        int32_t hc = m->host->site_cut(m->model, (uint32_t)s);
        c->host_cut[s] = hc;
        int32_t vc = values ? m->host->site_value_cut(m->model, (uint32_t)s) : -1;
        if (vc >= 0 && (uint32_t)vc < n && c->live[vc] && c->bytes[vc] &&
            m->sites[s].kind == NNFI_SITE_ACTIVATION && m->sites[s].device < 0 &&
            c->bytes[vc] == m->sites[s].numel * (nnfi_dtype_bits((nnfi_dtype)m->sites[s].dtype) / 8)) {
            c->value_cut[s] = vc;
            uint32_t k = c->n_drop++; /* insertion by host cut */
            while (k > 0 && c->host_cut[c->drop[k - 1]] > hc) {
                c->drop[k] = c->drop[k - 1];
                k--;
            }
            c->drop[k] = (uint32_t)s;
        }
        for (int32_t i = hc < (int32_t)n ? hc : (int32_t)n - 1; i >= 0; i--)
            if (c->live[i]) {
                c->site_from[s] = (uint32_t)i + 1;
                break;
            }
    }
    return NNFI_OK;
}
