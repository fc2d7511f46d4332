/* trial_pack.c - cross-trial packing (see trial_pack.h): items (trial,
 * sample) are placed at their sample's row of a forward call of their
 * batch's shape, grouped by where the forward can start (input or a cut of
 * the golden cache); each packed call arms the faults of its rows with
 * `when` renamed to the row, runs once, and hands each row's logits back to
 * its trial, whose outcome is folded with nnfi_outcome_sparse. */
#include "nnfi/trial_pack.h"

#include <stdlib.h>
#include <string.h>

int nnfi_shortcut_sabotage(const char *what)
{
    const char *e = getenv("NNFI_SABOTAGE");
    return e && strstr(e, what) != NULL;
}

int nnfi_fault_packs(const nnfi_fault *f, const nnfi_site *sites)
{
    nnfi_site_kind k = sites[f->site].kind;
    return f->transient && f->scope == NNFI_SCOPE_SAMPLE && f->when >= 0 && k != NNFI_SITE_PARAM &&
           k != NNFI_SITE_BUFFER;
}

/* One (trial, sample) that must be evaluated. */
typedef struct item {
    uint32_t trial;
    uint32_t from;  /* 0: from the input; c + 1: from cut c */
    uint64_t sample;
    uint32_t shape; /* 0: a full batch; 1: the last, shorter one */
    uint32_t row;   /* sample % batch */
    uint32_t call;  /* packed call within its (from, shape) group */
} item;

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sort key for placing items: (from, shape, row, trial). */
static int cmp_place(const void *pa, const void *pb)
{
    const item *a = *(item *const *)pa, *b = *(item *const *)pb;
    if (a->from != b->from) return a->from < b->from ? -1 : 1;
    if (a->shape != b->shape) return a->shape < b->shape ? -1 : 1;
    if (a->row != b->row) return a->row < b->row ? -1 : 1;
    return a->trial < b->trial ? -1 : a->trial > b->trial;
}

/* Sort key for running: (from, shape, call, row). */
static int cmp_run(const void *pa, const void *pb)
{
    const item *a = *(item *const *)pa, *b = *(item *const *)pb;
    if (a->from != b->from) return a->from < b->from ? -1 : 1;
    if (a->shape != b->shape) return a->shape < b->shape ? -1 : 1;
    if (a->call != b->call) return a->call < b->call ? -1 : 1;
    return a->row < b->row ? -1 : a->row > b->row;
}

typedef struct hook_ctx {
    const nnfi_inject_backend *be;
    nnfi_injector *inj;
} hook_ctx;

static nnfi_status pack_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    (void)rows;
    hook_ctx *h = user;
    return h->be->on_site(h->inj, site, data, t);
}

static uint32_t site_from(const nnfi_pass_model *m, uint32_t site)
{
    return m->cache && m->cache->site_from ? m->cache->site_from[site] : 0;
}

/* Row size of a packed call's input: fp32 inputs, or a cut's live values. */
static uint64_t row_bytes(const nnfi_pass_model *m, uint32_t from)
{
    return from ? m->cache->bytes[from - 1] : m->numel * sizeof(float);
}

static const char *row_source(const nnfi_pass_model *m, uint32_t from, uint64_t sample)
{
    if (from) return (const char *)m->cache->live[from - 1] + sample * m->cache->bytes[from - 1];
    return (const char *)(m->inputs + sample * m->numel);
}

static nnfi_status forward_rows(const nnfi_pass_model *m, uint32_t from, const void *in, uint64_t rows)
{
    if (from) return m->host->forward_from(m->model, from - 1, in, rows, m->logits);
    return m->host->forward(m->model, in, rows, m->logits);
}

/* The items of every trial, trial by trial, samples increasing. */
static nnfi_status make_items(const nnfi_pass_model *m, const nnfi_pack_trial *trials, size_t n, item **out,
                              size_t *n_out)
{
    uint64_t total = 0, most = 0;
    for (size_t i = 0; i < n; i++) {
        total += trials[i].n;
        if (trials[i].n > most) most = trials[i].n;
    }
    item *it = malloc((total ? total : 1) * sizeof *it);
    uint64_t *key = malloc((most ? most : 1) * sizeof *key);
    if (!it || !key) {
        free(it);
        free(key);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory for packing %llu faults", (unsigned long long)total);
    }
    uint64_t calls = (m->samples + m->batch - 1) / m->batch;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const nnfi_pack_trial *t = &trials[i];
        for (uint64_t j = 0; j < t->n; j++) key[j] = (uint64_t)t->faults[j].when;
        qsort(key, t->n, sizeof *key, cmp_u64);
        for (uint64_t j = 0; j < t->n; j++) {
            if (j && key[j] == key[j - 1]) continue;
            item *x = &it[k++];
            memset(x, 0, sizeof *x);
            x->trial = (uint32_t)i;
            x->sample = key[j];
            x->from = UINT32_MAX;
            x->row = (uint32_t)(x->sample % m->batch);
            x->shape = x->sample / m->batch == calls - 1 && m->samples % m->batch != 0;
        }
        /* where this trial's forward of each sample can start: the earliest of its faults' sites */
        for (uint64_t j = 0; j < t->n; j++) {
            const nnfi_fault *f = &t->faults[j];
            for (size_t q = k; q-- > 0 && it[q].trial == i;)
                if (it[q].sample == (uint64_t)f->when) {
                    uint32_t fr = site_from(m, f->site);
                    if (fr < it[q].from) it[q].from = fr;
                    break;
                }
        }
    }
    free(key);
    *out = it;
    *n_out = k;
    return NNFI_OK;
}

/* Run one packed call: items x[0..k) share (from, shape, call). Their logits
 * go to logits + index * classes (index into `it`). *ok = 0 when the call
 * failed (its trials are redone one by one). */
static nnfi_status run_packed(const nnfi_pass_model *m, const nnfi_pack_trial *trials, const item *it,
                              item *const *x, size_t k, char *in, nnfi_fault *fl, float *logits, int *ok)
{
    uint32_t from = x[0]->from;
    uint64_t calls = (m->samples + m->batch - 1) / m->batch;
    uint64_t base = x[0]->shape ? calls - 1 : 0; /* a batch of this shape: the rows nobody needs */
    uint64_t first = base * m->batch, rows = m->samples - first < m->batch ? m->samples - first : m->batch;
    uint64_t rb = row_bytes(m, from);
    memcpy(in, row_source(m, from, first), rows * rb);
    uint64_t nf = 0, shift = nnfi_shortcut_sabotage("pack") ? 1 : 0;
    for (size_t i = 0; i < k; i++) {
        memcpy(in + x[i]->row * rb, row_source(m, from, x[i]->sample), rb);
        const nnfi_pack_trial *t = &trials[x[i]->trial];
        for (uint64_t j = 0; j < t->n; j++)
            if ((uint64_t)t->faults[j].when == x[i]->sample) {
                fl[nf] = t->faults[j];
                fl[nf++].when = (int64_t)((x[i]->row + shift) % rows);
            }
    }
    const nnfi_inject_backend *be = m->backend;
    NNFI_TRY(be->arm(m->inj, fl, nf));
    hook_ctx hc = {be, m->inj};
    nnfi_status st = m->host->set_hook(m->model, pack_hook, &hc);
    if (st == NNFI_OK) st = be->begin_call(m->inj, base, 0, rows);
    if (st == NNFI_OK) st = forward_rows(m, from, in, rows);
    m->host->set_hook(m->model, NULL, NULL);
    nnfi_status rs = be->disarm(m->inj);
    if (rs != NNFI_OK && rs != NNFI_E_TIMEOUT) return rs;
    *ok = st == NNFI_OK && rs == NNFI_OK;
    if (*ok)
        for (size_t i = 0; i < k; i++)
            memcpy(logits + (size_t)(x[i] - it) * m->classes, m->logits + x[i]->row * m->classes,
                   m->classes * sizeof(float));
    return NNFI_OK;
}

/* A trial whose packed call failed, on its own: its calls, from its earliest start. */
static nnfi_status redo_alone(const nnfi_pass_model *m, nnfi_pack_trial *t, const item *first, size_t k)
{
    uint64_t *calls = malloc((k ? k : 1) * sizeof *calls), nc = 0;
    if (!calls) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    uint32_t from = UINT32_MAX;
    for (size_t i = 0; i < k; i++) {
        uint64_t c = first[i].sample / m->batch;
        if (!nc || calls[nc - 1] != c) calls[nc++] = c;
        if (first[i].from < from) from = first[i].from;
    }
    nnfi_pass_faults pf;
    memset(&pf, 0, sizeof pf);
    pf.list = t->faults;
    pf.n = t->n;
    pf.calls = calls;
    pf.n_calls = nc;
    pf.from_cut = from == UINT32_MAX ? 0 : from;
    nnfi_status st = nnfi_trial_pass(m, &pf, NULL, &t->result);
    free(calls);
    return st;
}

nnfi_status nnfi_pack_pass(const nnfi_pass_model *m, nnfi_pack_trial *trials, size_t n)
{
    item *it = NULL;
    size_t ni = 0;
    NNFI_TRY(make_items(m, trials, n, &it, &ni));
    uint64_t most_faults = 0, rb = m->numel * sizeof(float);
    for (size_t i = 0; i < n; i++)
        if (trials[i].n > most_faults) most_faults = trials[i].n;
    for (uint32_t c = 0; m->cache && c < m->cache->n_cuts; c++)
        if (m->cache->live[c] && m->cache->bytes[c] > rb) rb = m->cache->bytes[c];
    uint64_t cap_faults = most_faults * (m->batch < n ? m->batch : n);
    item **ord = malloc((ni ? ni : 1) * sizeof *ord);
    char *in = malloc(m->batch * rb);
    nnfi_fault *fl = malloc((cap_faults ? cap_faults : 1) * sizeof *fl);
    float *logits = malloc((ni ? ni : 1) * m->classes * sizeof *logits);
    unsigned char *failed = calloc(n ? n : 1, 1);
    nnfi_status st = NNFI_OK;
    if (!ord || !in || !fl || !logits || !failed) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory for packing");
    if (st == NNFI_OK) {
        /* place: the j-th item at one (from, shape, row) goes to packed call j */
        for (size_t i = 0; i < ni; i++) ord[i] = &it[i];
        qsort(ord, ni, sizeof *ord, cmp_place);
        for (size_t i = 0; i < ni; i++) {
            const item *p = i ? ord[i - 1] : NULL;
            int same = p && p->from == ord[i]->from && p->shape == ord[i]->shape && p->row == ord[i]->row;
            ord[i]->call = same ? p->call + 1 : 0;
        }
        qsort(ord, ni, sizeof *ord, cmp_run);
    }
    for (size_t i = 0; st == NNFI_OK && i < ni;) {
        size_t j = i + 1;
        while (j < ni && ord[j]->from == ord[i]->from && ord[j]->shape == ord[i]->shape && ord[j]->call == ord[i]->call)
            j++;
        int ok = 1;
        st = run_packed(m, trials, it, ord + i, j - i, in, fl, logits, &ok);
        for (size_t q = i; !ok && q < j; q++) failed[ord[q]->trial] = 1;
        i = j;
    }
    /* fold each trial's rows (items are trial by trial, samples increasing) */
    uint64_t *idx = st == NNFI_OK ? malloc((ni ? ni : 1) * sizeof *idx) : NULL;
    if (st == NNFI_OK && !idx) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    for (size_t i = 0, t = 0; st == NNFI_OK && t < n; t++) {
        size_t j = i;
        while (j < ni && it[j].trial == t) j++;
        nnfi_pack_trial *tr = &trials[t];
        memset(&tr->result, 0, sizeof tr->result);
        if (failed[t]) {
            st = redo_alone(m, tr, it + i, j - i);
        } else {
            for (size_t q = i; q < j; q++) idx[q - i] = it[q].sample;
            nnfi_outcome_sparse(&tr->result.outcome, m->golden_self, m->golden, m->labels,
                                m->classes / nnfi_pass_positions(m), nnfi_pass_positions(m), idx,
                                logits + i * m->classes, j - i);
            nnfi_outcome_finish(&tr->result.outcome);
        }
        i = j;
    }
    free(idx);
    free(failed);
    free(logits);
    free(fl);
    free(in);
    free(ord);
    free(it);
    return st;
}

nnfi_status nnfi_pack_rows_independent(const nnfi_pass_model *m, int *ok)
{
    *ok = 1;
    uint64_t rows = m->batch < m->samples ? m->batch : m->samples;
    if (rows < 2) return NNFI_OK; /* one row per call: nothing shares a call */
    float *in = malloc(rows * m->numel * sizeof *in);
    if (!in) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = m->host->set_hook(m->model, NULL, NULL);
    for (unsigned parity = 0; st == NNFI_OK && parity < 2 && *ok; parity++) {
        for (uint64_t r = 0; r < rows; r++) {
            /* kept rows: the first batch's own samples; the others: other samples */
            uint64_t s = r % 2 == parity ? r : m->samples >= 2 * rows ? rows + r : (r + 1) % rows;
            memcpy(in + r * m->numel, m->inputs + s * m->numel, m->numel * sizeof *in);
        }
        st = m->host->forward(m->model, in, rows, m->logits);
        for (uint64_t r = parity; st == NNFI_OK && r < rows; r += 2)
            if (memcmp(m->logits + r * m->classes, m->golden + r * m->classes, m->classes * sizeof(float)) != 0)
                *ok = 0;
    }
    free(in);
    return st;
}
