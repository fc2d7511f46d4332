/* bench_overhead.c - run-time overhead of fault injection on the model zoo:
 * the time of a pass over the eval set with N concurrent permanent faults vs
 * the fault-free pass (hook NULL, nothing armed), same model, same data, same
 * process, alternating, for N = 1 .. 1,000,000 single-bit flips in the
 * weights or in the activations.
 *
 * Faults come from the real path of `nnfi run`: a campaign (made in memory,
 * YAML text) loaded by the config loader, groups resolved against the
 * model's sites (nnfi_group_resolve), counts from the plan, faults from the
 * sampler; a faulty pass is the worker's own trial pass (nnfi_trial_pass,
 * src/engine/trial_pass.c): arm -> site hook (activation faults only) ->
 * begin_call + forward + outcome per batch -> hook NULL -> disarm. Fault
 * generation is timed separately. After every faulty pass the next
 * fault-free pass must give the golden logits bit for bit (exit 1 if not).
 *
 * Usage: bench_overhead MODELS_DIR [options]
 *   --samples S    eval images (the first S of the test set; default 1024)
 *   --batch B      batch size of a forward call (default 256)
 *   --reps R       fault-free/faulty pairs per point (default 5)
 *   --slow-s X     a point whose first faulty pass takes more than X s runs
 *                  min(R, 3) pairs (default 20)
 *   --threads T    intra-op threads (default 1)
 *   --device D     cpu (default) or cuda: the model's device; the injection
 *                  backend follows it (cuda: the GPU backend, faults made on
 *                  the device by arm_generated as in `nnfi run`; read the wall
 *                  columns, CPU time does not see the GPU)
 *   --faults LIST  comma-separated N (default 1,10,100,1000,10000,100000,1000000)
 *   --models LIST  zoo models (default cnn,snn)
 *   --kinds LIST   weight,activation,activation_sample,activation_folded
 *                  (default weight,activation; see kind_group and fold_*)
 *   --csv FILE     machine-readable rows (also printed as a table)
 *   --ftz 1        diagnostic only: flush denormals to zero (x86 MXCSR FTZ+DAZ)
 *                  in both passes, to show how much of a faulty pass's extra
 *                  time is the model's arithmetic on denormal faulty values
 * Times are per pass over the S images, both wall (CLOCK_MONOTONIC) and CPU
 * time of the process (CLOCK_PROCESS_CPUTIME_ID, which load from other
 * processes perturbs least); overhead = median faulty / median fault-free - 1
 * (the CSV's paired_cpu is the median over the pairs of faulty / fault-free
 * - 1, robust to drifts in the machine's load; run_all reports that one).
 * "inject ms" is the time spent inside the injector (arm + site calls +
 * disarm) during a faulty pass, and (ratio) that over the fault-free pass:
 * the tool's own share of the overhead (see g_inj_s).
 * Memory: peak RSS (getrusage) after each point, and the bytes the injector
 * keeps for a trial (malloc'd bytes held after arm(), measured with
 * mallinfo2 on a fresh injector), plus the fault list (48 bytes a fault).
 */
#define _GNU_SOURCE
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#define HAVE_MXCSR 1
#endif

#include "nnfi/config.h"
#include "nnfi/registry.h"
#include "nnfi/trial_pass.h"
#include "nnfi/eval_set.h"
#include "nnfi/inject.h"
#include "nnfi/model_host.h"
#include "nnfi/outcome.h"
#include "nnfi/plan.h"
#include "nnfi/sampler.h"

#define SEED 2026u
#define MAX_LIST 32

typedef struct opts {
    const char *dir;
    uint64_t samples, batch;
    int reps, threads;
    double slow_s;
    uint64_t faults[MAX_LIST];
    int n_faults;
    char models[MAX_LIST][32];
    int n_models;
    char kinds[4][24];
    int n_kinds;
    const char *csv;
    int ftz;
    const char *device;
} opts;

typedef struct timing {
    double wall, cpu;
} timing;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static timing now(void)
{
    timing t = {clock_s(CLOCK_MONOTONIC), clock_s(CLOCK_PROCESS_CPUTIME_ID)};
    return t;
}

static timing since(timing t0)
{
    timing t = now();
    t.wall -= t0.wall;
    t.cpu -= t0.cpu;
    return t;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* median, min, max of v[0..n) (v is sorted in place) */
static void stats(double *v, int n, double *med, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    *med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    *lo = v[0];
    *hi = v[n - 1];
}

static void die(const char *what)
{
    fprintf(stderr, "bench_overhead: %s: %s\n", what, nnfi_error_message());
    exit(1);
}

static long maxrss_kb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int split(const char *s, char out[][32], int max)
{
    int n = 0;
    while (*s && n < max) {
        size_t k = strcspn(s, ",");
        if (k >= 32) k = 31;
        memcpy(out[n], s, k);
        out[n][k] = 0;
        n++;
        s += strcspn(s, ",");
        if (*s == ',') s++;
    }
    return n;
}

/* The fault group of each kind, as a campaign file writes it. `weight`:
 * every .weight parameter (conv and linear weights, 99.9% of the
 * parameters); `activation`: every activation site, permanent, so a fault
 * hits its element in every eval sample (and every time step of an SNN);
 * `activation_sample`: every activation site, transient with scope sample,
 * so a fault hits its element in one eval sample (every time step). */
static const char *kind_group(const char *kind)
{
    if (!strcmp(kind, "weight")) return "{target: weight, op: flip, persistence: permanent}";
    if (!strcmp(kind, "activation")) return "{target: activation, op: flip, persistence: permanent}";
    if (!strcmp(kind, "activation_folded")) /* same faults; applied by the prototype below */
        return "{target: activation, op: flip, persistence: permanent}";
    if (!strcmp(kind, "activation_sample"))
        return "{target: activation, op: flip, persistence: transient, scope: sample}";
    return NULL;
}

static void parse(int argc, char **argv, opts *o)
{
    static const uint64_t def_faults[] = {1, 10, 100, 1000, 10000, 100000, 1000000};
    memset(o, 0, sizeof *o);
    o->samples = 1024;
    o->batch = 256;
    o->reps = 5;
    o->threads = 1;
    o->slow_s = 20;
    o->device = "cpu";
    o->n_faults = (int)(sizeof def_faults / sizeof def_faults[0]);
    memcpy(o->faults, def_faults, sizeof def_faults);
    o->n_models = split("cnn,snn", o->models, MAX_LIST);
    strcpy(o->kinds[0], "weight");
    strcpy(o->kinds[1], "activation");
    o->n_kinds = 2;
    if (argc < 2 || argv[1][0] == '-') {
        fprintf(stderr, "usage: bench_overhead MODELS_DIR [--samples S] [--batch B] [--reps R] [--slow-s X] [--threads T]\n"
                        "                      [--faults 1,10,...] [--models cnn,snn] [--kinds weight,activation] [--csv FILE]\n");
        exit(2);
    }
    static char dir[4096];
    if (!realpath(argv[1], dir)) { /* the campaign text names files by absolute path */
        perror(argv[1]);
        exit(2);
    }
    o->dir = dir;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "bench_overhead: %s needs a value\n", a);
            exit(2);
        }
        i++;
        if (!strcmp(a, "--ftz")) {
            o->ftz = atoi(v);
            continue;
        }
        if (!strcmp(a, "--samples")) o->samples = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--batch")) o->batch = strtoull(v, NULL, 10);
        else if (!strcmp(a, "--reps")) o->reps = atoi(v);
        else if (!strcmp(a, "--slow-s")) o->slow_s = atof(v);
        else if (!strcmp(a, "--threads")) o->threads = atoi(v);
        else if (!strcmp(a, "--csv")) o->csv = v;
        else if (!strcmp(a, "--device")) o->device = v;
        else if (!strcmp(a, "--models")) o->n_models = split(v, o->models, MAX_LIST);
        else if (!strcmp(a, "--kinds")) {
            char k[MAX_LIST][32];
            int n = split(v, k, MAX_LIST);
            o->n_kinds = 0;
            for (int j = 0; j < n && o->n_kinds < 4; j++) {
                if (!kind_group(k[j])) {
                    fprintf(stderr, "bench_overhead: kind '%s': use weight, activation, activation_sample or activation_folded\n", k[j]);
                    exit(2);
                }
                strcpy(o->kinds[o->n_kinds++], k[j]);
            }
        } else if (!strcmp(a, "--faults")) {
            char f[MAX_LIST][32];
            o->n_faults = split(v, f, MAX_LIST);
            for (int j = 0; j < o->n_faults; j++) o->faults[j] = (uint64_t)strtod(f[j], NULL);
        } else {
            fprintf(stderr, "bench_overhead: unknown option %s\n", a);
            exit(2);
        }
    }
    for (int k = 0; k < o->n_kinds; k++)
        if (strcmp(o->device, "cpu") != 0 && !strcmp(o->kinds[k], "activation_folded")) {
            fprintf(stderr, "bench_overhead: kind activation_folded is a CPU prototype; drop it with --device %s\n", o->device);
            exit(2);
        }
    if (o->reps < 1 || o->batch < 1 || o->samples < 1 || o->threads < 1 || o->n_kinds < 1 || o->n_faults < 1) {
        fprintf(stderr, "bench_overhead: reps, batch, samples, threads, kinds and faults must be >= 1\n");
        exit(2);
    }
}

/* The campaign `nnfi run` would read for this measurement: one experiment
 * per fault kind, the fault counts as its sweep, one random bit flipped per
 * fault (no `bits`: any of the element's 32 bits). */
static char *campaign_text(const opts *o, const char *model)
{
    size_t cap = 8192;
    char *t = malloc(cap), list[512] = "";
    if (!t) exit(1);
    for (int i = 0; i < o->n_faults; i++)
        snprintf(list + strlen(list), sizeof list - strlen(list), "%s%llu", i ? ", " : "", (unsigned long long)o->faults[i]);
    int n = snprintf(t, cap,
                     "name: overhead\nseed: %u\n"
                     "models:\n  - {name: %s, host: torch, path: \"%s/%s.pt\", threads: %d, device: %s}\n"
                     "eval:\n  path: \"%s/fashion_mnist_test.h5\"\n  samples: %llu\n  batch: %llu\n"
                     "experiments:\n",
                     SEED, model, o->dir, model, o->threads, o->device, o->dir, (unsigned long long)o->samples,
                     (unsigned long long)o->batch);
    for (int k = 0; k < o->n_kinds; k++)
        n += snprintf(t + n, cap - (size_t)n,
                      "  - name: %s\n    model: %s\n    groups:\n      - %s\n"
                      "    sweep: {faults: [%s]}\n    trials: 1\n",
                      o->kinds[k], model, kind_group(o->kinds[k]), list);
    return t;
}

typedef struct bench_model {
    const nnfi_model_host *host;
    nnfi_model *model;
    const nnfi_site *sites;
    size_t n_sites;
    uint32_t classes;
    nnfi_eval_set eval;
    float *golden, *logits;
    uint64_t batch;
} bench_model;

/* The model as the trial pass takes it (backend and injector filled in later). */
static nnfi_pass_model pass_model(const bench_model *m, const nnfi_inject_backend *be, nnfi_injector *inj)
{
    nnfi_pass_model pm = {m->host, m->model, m->sites, m->eval.inputs, m->eval.labels, m->eval.numel,
                          m->eval.samples, m->batch, m->classes, m->golden, m->logits, be, inj, NULL, NULL, 1};
    return pm;
}

/* A fault-free pass: hook NULL, nothing armed (the worker's golden pass). */
static timing pass_free(bench_model *m, float *out)
{
    nnfi_pass_model pm = pass_model(m, NULL, NULL);
    timing t0 = now();
    if (nnfi_golden_pass(&pm, out) != NNFI_OK) die("forward");
    return since(t0);
}

/* Seconds spent inside the injector during the current faulty pass (arm,
 * every site call, disarm): the tool's own cost. The rest of a faulty pass's
 * extra time is the model computing on faulty values (for example denormal
 * or NaN operands, which x86 arithmetic handles slowly), which any injector
 * of the same faults would pay. */
static double g_inj_s, g_arm_s, g_disarm_s; /* all, and the arm and disarm parts */
/* CPU time of the calling thread, which runs the forwards and the hooks
 * (1 intra-op thread), like the CPU times of the passes */
#define INJ_CLOCK CLOCK_THREAD_CPUTIME_ID

/* A faulty pass, as nnfi_worker_run_trial runs a trial (less generation). */
/* the group and stream of the current point, for backends with arm_generated */
static const nnfi_group_plan *g_gen_plan;
static nnfi_fault_id g_gen_id;

static timing pass_faulty(bench_model *m, const nnfi_inject_backend *be, nnfi_injector *inj, const nnfi_fault *f,
                          uint64_t n, nnfi_outcome *o, float *all)
{
    nnfi_pass_model pm = pass_model(m, be, inj);
    nnfi_pass_faults pf = {f, n, NULL, NULL, NULL, 0, NULL, 0, 0, 0};
    if (g_gen_plan) { /* as the worker does: faults made by the backend where it can */
        pf.groups = &g_gen_plan;
        pf.ids = &g_gen_id;
        pf.counts = &n;
        pf.n_groups = 1;
    }
    nnfi_pass_probe probe = {0, 0, 0, all, 0};
    nnfi_pass_result r;
    timing t0 = now();
    if (nnfi_trial_pass(&pm, &pf, &probe, &r) != NNFI_OK) die("arm");
    timing t = since(t0);
    if (r.forward_status != NNFI_OK) die("forward");
    if (r.restore_status != NNFI_OK) die("disarm");
    g_arm_s = probe.arm_s;
    g_disarm_s = probe.disarm_s;
    g_inj_s = probe.arm_s + probe.site_s + probe.disarm_s;
    *o = r.outcome;
    return t;
}

/* ---- Prototype of the fix proposed in RESULTS.md for permanent activation
 * faults (kind activation_folded), to measure what it would buy; the product
 * path is src/plugins/inject_cpu/inject_cpu.c. Every op is w -> (w & A) ^ X (flip: A = ~0,
 * X = mask; stuck-at-0: A = ~mask, X = 0; stuck-at-1: A = ~mask, X = mask;
 * set/random: A = ~mask, X = value & mask), and these maps compose, so all the
 * faults of a site fold at arm() into one (A, X) pair per element in O(N);
 * a call then edits each touched element once per row, rows outer and
 * elements in increasing order, or runs a dense masked loop over the whole
 * row when most elements are touched. Applied in list order per element, so
 * the logits must equal the backend's bit for bit (checked). fp32 sites,
 * permanent faults over every time step only. */
typedef struct fold_site {
    uint64_t numel;
    int used, dense;
    uint32_t *a, *x;        /* numel each: the folded map per element */
    uint32_t *ci, *ca, *cx; /* the touched elements, compacted, increasing */
    uint64_t n_touched;
} fold_site;

typedef struct fold_inj {
    fold_site *fs;
    size_t n_sites;
} fold_inj;

static void fold_create(fold_inj *F, const nnfi_site *sites, size_t n_sites)
{
    F->n_sites = n_sites;
    F->fs = calloc(n_sites, sizeof *F->fs);
    if (!F->fs) exit(1);
    for (size_t i = 0; i < n_sites; i++) {
        if (sites[i].kind == NNFI_SITE_PARAM || sites[i].kind == NNFI_SITE_BUFFER || sites[i].dtype != NNFI_DT_F32)
            continue;
        fold_site *f = &F->fs[i];
        f->numel = sites[i].numel;
        f->a = malloc(f->numel * 4);
        f->x = malloc(f->numel * 4);
        f->ci = malloc(f->numel * 4);
        f->ca = malloc(f->numel * 4);
        f->cx = malloc(f->numel * 4);
        if (!f->a || !f->x || !f->ci || !f->ca || !f->cx) exit(1);
    }
}

static void fold_destroy(fold_inj *F)
{
    for (size_t i = 0; i < F->n_sites; i++) {
        free(F->fs[i].a);
        free(F->fs[i].x);
        free(F->fs[i].ci);
        free(F->fs[i].ca);
        free(F->fs[i].cx);
    }
    free(F->fs);
}

static void fold_arm(fold_inj *F, const nnfi_fault *f, uint64_t n)
{
    for (size_t i = 0; i < F->n_sites; i++) F->fs[i].used = 0;
    for (uint64_t k = 0; k < n; k++) {
        fold_site *s = &F->fs[f[k].site];
        if (!s->a || f[k].transient || f[k].t_first != 0 || f[k].t_last != UINT32_MAX) {
            fprintf(stderr, "bench_overhead: the fold prototype takes permanent fp32 activation faults only\n");
            exit(2);
        }
        if (!s->used) {
            memset(s->a, 0xff, s->numel * 4);
            memset(s->x, 0, s->numel * 4);
            s->used = 1;
        }
        uint32_t m = (uint32_t)f[k].mask, A, X;
        switch ((nnfi_op)f[k].op) {
        case NNFI_OP_FLIP: A = ~0u, X = m; break;
        case NNFI_OP_STUCK0: A = ~m, X = 0; break;
        case NNFI_OP_STUCK1: A = ~m, X = m; break;
        default: A = ~m, X = (uint32_t)f[k].value & m; break;
        }
        uint64_t e = f[k].element;
        s->a[e] &= A;
        s->x[e] = (s->x[e] & A) ^ X;
    }
    for (size_t i = 0; i < F->n_sites; i++) {
        fold_site *s = &F->fs[i];
        if (!s->used) continue;
        uint64_t t = 0;
        for (uint64_t e = 0; e < s->numel; e++)
            if (s->a[e] != ~0u || s->x[e] != 0) {
                s->ci[t] = (uint32_t)e;
                s->ca[t] = s->a[e];
                s->cx[t] = s->x[e];
                t++;
            }
        s->n_touched = t;
        s->dense = 4 * t > s->numel; /* over a quarter touched: one streaming pass is cheaper */
    }
}

static nnfi_status fold_hook(void *user, uint32_t site, void *data, uint64_t rows, uint32_t t)
{
    (void)t;
    fold_inj *F = user;
    const fold_site *s = &F->fs[site];
    if (!s->used || !s->n_touched) return NNFI_OK;
    double t0 = clock_s(INJ_CLOCK);
    uint32_t *w = data;
    for (uint64_t r = 0; r < rows; r++, w += s->numel) {
        if (s->dense) {
            uint32_t *restrict wr = w;
            const uint32_t *restrict a = s->a, *restrict x = s->x;
            for (uint64_t e = 0; e < s->numel; e++) wr[e] = (wr[e] & a[e]) ^ x[e];
        } else {
            for (uint64_t k = 0; k < s->n_touched; k++) w[s->ci[k]] = (w[s->ci[k]] & s->ca[k]) ^ s->cx[k];
        }
    }
    g_inj_s += clock_s(INJ_CLOCK) - t0;
    return NNFI_OK;
}

/* A faulty pass with the prototype: fold at arm, nothing to restore. */
static timing pass_folded(bench_model *m, fold_inj *F, const nnfi_fault *f, uint64_t n, nnfi_outcome *o, float *all)
{
    timing t0 = now();
    double ta = clock_s(INJ_CLOCK);
    fold_arm(F, f, n);
    g_inj_s = g_arm_s = clock_s(INJ_CLOCK) - ta;
    g_disarm_s = 0;
    if (m->host->set_hook(m->model, fold_hook, F) != NNFI_OK) die("set_hook");
    nnfi_outcome_init(o);
    for (uint64_t s = 0; s < m->eval.samples; s += m->batch) {
        uint64_t rows = m->eval.samples - s < m->batch ? m->eval.samples - s : m->batch;
        if (m->host->forward(m->model, m->eval.inputs + s * m->eval.numel, rows, m->logits) != NNFI_OK) die("forward");
        nnfi_outcome_add(o, m->golden + s * m->classes, m->logits, m->eval.labels + s, rows, m->classes);
        if (all) memcpy(all + s * m->classes, m->logits, rows * m->classes * sizeof(float));
    }
    m->host->set_hook(m->model, NULL, NULL);
    nnfi_outcome_finish(o);
    return since(t0);
}

int main(int argc, char **argv)
{
    opts o;
    parse(argc, argv, &o);
    if (o.ftz) {
#ifdef HAVE_MXCSR
        _mm_setcsr(_mm_getcsr() | 0x8040); /* FTZ | DAZ; this thread runs the forwards (1 intra-op thread) */
#else
        fprintf(stderr, "bench_overhead: --ftz needs x86\n");
        return 2;
#endif
    }
    FILE *csv = NULL;
    if (o.csv) {
        csv = fopen(o.csv, "w");
        if (!csv) {
            perror(o.csv);
            return 1;
        }
        fprintf(csv, "model,kind,faults,reps,gen_s,free_wall_s,free_wall_min,free_wall_max,faulty_wall_s,faulty_wall_min,"
                     "faulty_wall_max,overhead_wall,free_cpu_s,free_cpu_min,free_cpu_max,faulty_cpu_s,faulty_cpu_min,"
                     "faulty_cpu_max,overhead_cpu,paired_cpu,sdc,accuracy,golden_accuracy,injector_bytes,fault_list_bytes,"
                     "maxrss_kb,samples,batch,threads,inject_s,inject_ratio,arm_s,disarm_s\n");
    }
    printf("bench_overhead: %llu images, batch %llu, %d thread(s), %d fault-free/faulty pairs per point, seed %u%s\n",
           (unsigned long long)o.samples, (unsigned long long)o.batch, o.threads, o.reps, SEED,
           o.ftz ? ", denormals flushed to zero (diagnostic)" : "");
    printf("%-5s %-17s %8s %4s %9s %11s %11s %9s %9s %9s %9s %11s %8s\n", "model", "kind", "faults", "reps", "gen ms",
           "free ms", "faulty ms", "overhead", "(wall)", "inject ms", "(ratio)", "inj bytes", "rss MB");
    int bad = 0;
    for (int mi = 0; mi < o.n_models; mi++) {
        const char *name = o.models[mi];
        char *text = campaign_text(&o, name);
        nnfi_campaign *c = NULL;
        if (nnfi_campaign_load_text(text, strlen(text), "bench_overhead.yaml", &c) != NNFI_OK) die("campaign");
        free(text);
        nnfi_plan *plan = NULL;
        if (nnfi_plan_create(c, NULL, &plan) != NNFI_OK) die("plan");
        bench_model m;
        memset(&m, 0, sizeof m);
        m.batch = o.batch;
        if (nnfi_host_lookup(c->models[0].host, &m.host) != NNFI_OK) die("host");
        if (m.host->open(&c->models[0], c->source_dir, c->seed, &m.model) != NNFI_OK) die("open");
        m.sites = m.host->sites(m.model);
        m.n_sites = m.host->n_sites(m.model);
        m.classes = m.host->n_classes(m.model);
        if (nnfi_eval_load(c->eval->path, c->eval->images, c->eval->labels, c->eval->samples, &m.eval) != NNFI_OK)
            die("eval set");
        if (m.eval.numel != m.host->input_numel(m.model)) {
            fprintf(stderr, "bench_overhead: %s: eval set does not fit the model\n", name);
            return 1;
        }
        uint64_t n_s = m.eval.samples;
        m.golden = malloc(n_s * m.classes * sizeof(float));
        float *check = malloc(n_s * m.classes * sizeof(float));
        m.logits = malloc(o.batch * m.classes * sizeof(float));
        if (!m.golden || !check || !m.logits) return 1;
        pass_free(&m, m.golden); /* warm-up, and the golden logits */
        pass_free(&m, check);
        if (memcmp(check, m.golden, n_s * m.classes * sizeof(float)) != 0) {
            fprintf(stderr, "bench_overhead: %s: two fault-free passes differ (non-deterministic kernels?)\n", name);
            return 1;
        }
        const char *const *facts = nnfi_host_facts(m.host, m.model);
        printf("# %s: %zu sites;", name, m.n_sites);
        for (int i = 0; facts && facts[i]; i++) printf(" %s", facts[i]);
        printf("\n");
        const nnfi_inject_backend *be = NULL;
        if (nnfi_inject_for_sites(m.sites, m.n_sites, &be) != NNFI_OK) die("backend"); /* cuda when the model is on a GPU */
        uint64_t calls = (n_s + o.batch - 1) / o.batch;
        nnfi_fault *faults = NULL;
        for (unsigned e = 0; e < c->experiments_count; e++) {
            nnfi_group_plan g;
            if (nnfi_group_resolve(c, e, 0, m.sites, m.n_sites, calls, n_s, &g) != NNFI_OK) die("resolve");
            for (unsigned p = 0; p < plan->experiments[e].n_points; p++) {
                nnfi_fault_id id = {c->seed, e, 0, p, 0};
                uint64_t n = nnfi_sampler_count(&g, nnfi_plan_count_rule(plan, e, 0, p), id);
                free(faults);
                faults = malloc((n ? n : 1) * sizeof *faults);
                if (!faults) return 1;
                /* the worker draws into a buffer it keeps from trial to trial:
                 * time the draw, not the first touch of fresh pages */
                memset(faults, 0, (n ? n : 1) * sizeof *faults);
                timing tg = now();
                nnfi_sampler_faults(&g, id, 0, n, faults);
                double gen_s = since(tg).wall;
                g_gen_plan = &g;
                g_gen_id = id;
                /* what the injector keeps for this trial: a fresh one, armed once */
                nnfi_injector *inj = NULL;
                struct mallinfo2 a0 = mallinfo2();
                if (be->create(m.sites, m.n_sites, &inj) != NNFI_OK) die("create");
                if (be->arm(inj, faults, n) != NNFI_OK) die("arm");
                struct mallinfo2 a1 = mallinfo2();
                long long inj_bytes = (long long)a1.uordblks + (long long)a1.hblkhd - (long long)a0.uordblks - (long long)a0.hblkhd;
                if (be->disarm(inj) != NNFI_OK) die("disarm");
                int folded = !strcmp(o.kinds[e], "activation_folded");
                fold_inj F = {NULL, 0};
                if (folded) {
                    /* the prototype must give the backend's logits bit for bit */
                    float *ref = malloc(n_s * m.classes * sizeof(float)), *got = malloc(n_s * m.classes * sizeof(float));
                    if (!ref || !got) return 1;
                    fold_create(&F, m.sites, m.n_sites);
                    nnfi_outcome tmp;
                    pass_faulty(&m, be, inj, faults, n, &tmp, ref);
                    pass_folded(&m, &F, faults, n, &tmp, got);
                    if (memcmp(ref, got, n_s * m.classes * sizeof(float)) != 0) {
                        fprintf(stderr, "bench_overhead: %s N=%llu: the fold prototype's logits differ from the backend's\n",
                                name, (unsigned long long)n);
                        bad = 1;
                    }
                    free(ref);
                    free(got);
                }
                double fw[64], fc[64], qw[64], qc[64], pc[64], ij[64], ar[64], da[64];
                nnfi_outcome out;
                int reps = o.reps > 64 ? 64 : o.reps;
                for (int r = 0; r < reps; r++) {
                    timing tf, tq;
                    if (r % 2 == 0) { /* ABBA order cancels slow drift */
                        tf = pass_free(&m, check);
                        tq = folded ? pass_folded(&m, &F, faults, n, &out, NULL) : pass_faulty(&m, be, inj, faults, n, &out, NULL);
                    } else {
                        tq = folded ? pass_folded(&m, &F, faults, n, &out, NULL) : pass_faulty(&m, be, inj, faults, n, &out, NULL);
                        tf = pass_free(&m, check);
                    }
                    if (memcmp(check, m.golden, n_s * m.classes * sizeof(float)) != 0) {
                        fprintf(stderr, "bench_overhead: %s %s N=%llu: fault-free logits differ from golden after a trial "
                                        "(restore not bit-exact)\n",
                                name, o.kinds[e], (unsigned long long)n);
                        bad = 1;
                    }
                    ij[r] = g_inj_s;
                    ar[r] = g_arm_s;
                    da[r] = g_disarm_s;
                    fw[r] = tf.wall;
                    fc[r] = tf.cpu;
                    qw[r] = tq.wall;
                    qc[r] = tq.cpu;
                    pc[r] = tq.cpu / tf.cpu;
                    if (r == 0 && tq.wall > o.slow_s && reps > 3) reps = 3;
                }
                be->destroy(inj);
                if (folded) fold_destroy(&F);
                double fwm, fwl, fwh, fcm, fcl, fch, qwm, qwl, qwh, qcm, qcl, qch, pcm, pcl, pch;
                stats(fw, reps, &fwm, &fwl, &fwh);
                stats(fc, reps, &fcm, &fcl, &fch);
                stats(qw, reps, &qwm, &qwl, &qwh);
                stats(qc, reps, &qcm, &qcl, &qch);
                stats(pc, reps, &pcm, &pcl, &pch);
                double ijm, ijl, ijh, arm_, arl, arh, dam, dal, dah;
                stats(ij, reps, &ijm, &ijl, &ijh);
                stats(ar, reps, &arm_, &arl, &arh);
                stats(da, reps, &dam, &dal, &dah);
                long rss = maxrss_kb();
                printf("%-5s %-17s %8llu %4d %9.2f %11.2f %11.2f %8.2f%% %8.2f%% %9.2f %8.2f%% %11lld %8.1f\n", name,
                       o.kinds[e], (unsigned long long)n, reps, 1e3 * gen_s, 1e3 * fcm, 1e3 * qcm, 100 * (qcm / fcm - 1),
                       100 * (qwm / fwm - 1), 1e3 * ijm, 100 * ijm / fcm, inj_bytes, rss / 1024.0);
                fflush(stdout);
                if (csv)
                    fprintf(csv,
                            "%s,%s,%llu,%d,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,%.6g,"
                            "%llu,%.6f,%.6f,%lld,%llu,%ld,%llu,%llu,%d,%.6g,%.6g,%.6g,%.6g\n",
                            name, o.kinds[e], (unsigned long long)n, reps, gen_s, fwm, fwl, fwh, qwm, qwl, qwh,
                            qwm / fwm - 1, fcm, fcl, fch, qcm, qcl, qch, qcm / fcm - 1, pcm - 1,
                            (unsigned long long)out.mismatches, out.accuracy, out.golden_accuracy, inj_bytes,
                            (unsigned long long)(n * sizeof(nnfi_fault)), rss, (unsigned long long)n_s,
                            (unsigned long long)o.batch, o.threads, ijm, ijm / fcm, arm_, dam);
            }
            nnfi_group_plan_free(&g);
        }
        free(faults);
        free(check);
        free(m.golden);
        free(m.logits);
        nnfi_eval_free(&m.eval);
        m.host->close(m.model);
        nnfi_plan_free(plan);
        nnfi_campaign_free(c);
    }
    if (csv) fclose(csv);
    printf("restored bit-exactly after every trial: %s\n", bad ? "NO" : "yes");
    return bad;
}
