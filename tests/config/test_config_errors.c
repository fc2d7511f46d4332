/* test_config_errors.c - campaign-file loader: error messages and defaults.
 *
 * One run checks one file (CTest runs it once per file, see CMakeLists.txt):
 *
 *   test_config_errors FILE.yaml      a good or a bad campaign file
 *   test_config_errors --api GOODDIR  API-level checks (missing file, hashes)
 *
 * A bad file starts with
 *   # expect: <the exact start of the error message>
 * optionally followed by lines
 *   # hint: <text the hint must contain>
 * The loader names the file as given on the command line; the runner removes
 * the directory part of that path from the front of the message before it
 * compares, so the expectation starts with the file's basename, e.g.
 *   # expect: 05_unknown_nested_key.yaml:11:9: experiments[0].groups[0].bitz: unknown key 'bitz'
 * For a bad file the status must be NNFI_E_CONFIG, nothing may be returned,
 * the message must start with the expectation and contain "\n  hint: ", and
 * nnfi_campaign_load_text() on the same text must give the same message.
 *
 * Any other file must load (NNFI_OK); good/minimal.yaml and good/full.yaml
 * also have their values and defaults checked field by field.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/config.h"

#define EXPECT_TAG "# expect: "
#define HINT_TAG "# hint: "
#define MAX_HINTS 8

static const char *g_path;    /* the file under test, as given */
static const char *g_api_dir; /* --api: directory with minimal.yaml and full.yaml */

/* ------------------------------------------------------------ helpers -- */

/* Whole file into a NUL-terminated buffer (caller frees); NULL if unreadable. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) break;
        if (n + 1 == cap) {
            char *nb = realloc(buf, 2 * cap);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static char *dup_str(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    assert_non_null(d);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* The message with the directory part of `path` removed from its front. */
static const char *strip_dir(const char *msg, const char *path)
{
    size_t dir = (size_t)(base_name(path) - path);
    if (dir > 0 && strncmp(msg, path, dir) == 0) return msg + dir;
    return msg;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void expect_double(double got, double want, const char *what)
{
    if (!(fabs(got - want) <= 1e-12 * fabs(want))) fail_msg("%s: got %.17g, expected %.17g", what, got, want);
}

#define assert_double(got, want) expect_double((got), (want), #got)
#define assert_str(got, want)                                                                   \
    do {                                                                                        \
        assert_non_null(got);                                                                   \
        assert_string_equal((got), (want));                                                     \
    } while (0)

/* `# expect:` and `# hint:` lines at the top of a bad file. */
typedef struct expectation {
    char *expect;
    char *hints[MAX_HINTS];
    int n_hints;
} expectation;

/* Returns 0 when the text has no `# expect:` first line (a good file). */
static int parse_expectation(const char *text, expectation *e)
{
    memset(e, 0, sizeof *e);
    if (!starts_with(text, EXPECT_TAG)) return 0;
    const char *line = text;
    int first = 1;
    while (*line) {
        size_t n = strcspn(line, "\n");
        size_t m = n;
        if (m > 0 && line[m - 1] == '\r') m--;
        if (first) {
            e->expect = dup_str(line + strlen(EXPECT_TAG), m - strlen(EXPECT_TAG));
            first = 0;
        } else if (m >= strlen(HINT_TAG) && starts_with(line, HINT_TAG)) {
            if (e->n_hints == MAX_HINTS) fail_msg("more than %d '# hint:' lines", MAX_HINTS);
            e->hints[e->n_hints++] = dup_str(line + strlen(HINT_TAG), m - strlen(HINT_TAG));
        } else {
            break;
        }
        line += n + (line[n] == '\n');
    }
    return 1;
}

static void free_expectation(expectation *e)
{
    free(e->expect);
    for (int i = 0; i < e->n_hints; i++) free(e->hints[i]);
}

/* The expectation itself must look like "BASENAME:LINE:COL: PATH: ..." so a
 * sloppy `# expect:` line cannot make a test pass by matching too little. */
static void check_expectation_form(const char *expect, const char *base)
{
    size_t nb = strlen(base);
    if (strncmp(expect, base, nb) != 0 || expect[nb] != ':')
        fail_msg("'# expect:' must start with the file name '%s:', got '%s'", base, expect);
    unsigned line = 0, col = 0;
    int used = 0;
    if (sscanf(expect + nb, ":%u:%u: %n", &line, &col, &used) != 2 || used == 0 || line == 0 ||
        col == 0)
        fail_msg("'# expect:' must continue with ':LINE:COL: ', got '%s'", expect);
    const char *rest = expect + nb + used;
    if (!strstr(rest, ": ")) fail_msg("'# expect:' must name the field path and the problem: '%s'", expect);
}

/* --------------------------------------------------------- bad files -- */

static void check_bad(const char *text, size_t len)
{
    expectation e;
    assert_true(parse_expectation(text, &e));
    const char *base = base_name(g_path);
    check_expectation_form(e.expect, base);

    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1;
    nnfi_error_clear();
    nnfi_status st = nnfi_campaign_load(g_path, &c);
    const char *full = nnfi_error_message();
    const char *msg = strip_dir(full, g_path);
    if (st != NNFI_E_CONFIG)
        fail_msg("status '%s', expected 'config'; message:\n%s", nnfi_status_name(st), full);
    assert_null(c);
    if (!starts_with(msg, e.expect))
        fail_msg("message does not start with the expectation\n  expected: %s\n  got:      %s", e.expect,
                 msg);
    const char *hint = strstr(msg, "\n  hint: ");
    if (!hint) fail_msg("message has no '\\n  hint: ' line:\n%s", msg);
    hint += strlen("\n  hint: ");
    if (hint[0] == '\0' || hint[0] == '\n') fail_msg("empty hint:\n%s", msg);
    for (int i = 0; i < e.n_hints; i++)
        if (!strstr(hint, e.hints[i]))
            fail_msg("hint does not contain '%s':\n%s", e.hints[i], msg);

    /* The in-memory entry point reports the same thing. */
    char *copy = dup_str(full, strlen(full));
    c = (nnfi_campaign *)(uintptr_t)1;
    st = nnfi_campaign_load_text(text, len, g_path, &c);
    assert_int_equal(st, NNFI_E_CONFIG);
    assert_null(c);
    assert_string_equal(nnfi_error_message(), copy);
    free(copy);
    free_expectation(&e);
}

/* -------------------------------------------------------- good files -- */

static void check_defaults_common(const nnfi_campaign *c)
{
    assert_non_null(c->name);
    assert_non_null(c->eval);
    assert_non_null(c->eval->images);
    assert_non_null(c->eval->labels);
    assert_true(c->eval->batch >= 1);
    assert_non_null(c->output);
    assert_non_null(c->output->path);
    assert_true(c->hash != 0);
    assert_non_null(c->index);
    assert_str(c->source_path, g_path);
    for (unsigned i = 0; i < c->models_count; i++)
        if (c->models[i].host == NNFI_HOST_NULL) assert_non_null(c->models[i].null_model);
    for (unsigned x = 0; x < c->experiments_count; x++) {
        const nnfi_experiment_cfg *e = &c->experiments[x];
        assert_int_equal(!!e->trials + !!e->budget + !!e->stop, 1);
        for (unsigned g = 0; g < e->groups_count; g++) {
            const nnfi_group_cfg *gr = &e->groups[g];
            assert_non_null(gr->name);
            assert_non_null(gr->bits);
            assert_true(gr->duration >= 1);
        }
    }
}

static void check_minimal(const nnfi_campaign *c)
{
    assert_str(c->name, "minimal"); /* default: the file name up to the first '.' */
    assert_int_equal(c->seed, 1);
    assert_int_equal(c->models_count, 1);
    const nnfi_model_cfg *m = &c->models[0];
    assert_str(m->name, "m");
    assert_int_equal(m->host, NNFI_HOST_NULL);
    assert_null(m->path);
    assert_int_equal(m->device, NNFI_DEVICE_AUTO);
    assert_int_equal(m->threads, 0);
    assert_null(m->qengine);
    assert_non_null(m->null_model);
    assert_int_equal(m->null_model->inputs, 64);
    assert_int_equal(m->null_model->hidden, 128);
    assert_int_equal(m->null_model->layers, 2);
    assert_int_equal(m->null_model->classes, 10);

    assert_null(c->eval->path);
    assert_str(c->eval->images, "images");
    assert_str(c->eval->labels, "labels");
    assert_int_equal(c->eval->samples, 0);
    assert_int_equal(c->eval->batch, 256);

    assert_int_equal(c->experiments_count, 1);
    const nnfi_experiment_cfg *x = &c->experiments[0];
    assert_str(x->name, "e");
    assert_str(x->model, "m");
    assert_null(x->sweep);
    assert_non_null(x->trials);
    assert_int_equal(*x->trials, 10);
    assert_null(x->budget);
    assert_null(x->stop);
    assert_int_equal(x->groups_count, 1);
    const nnfi_group_cfg *g = &x->groups[0];
    assert_str(g->name, "g0");
    assert_int_equal(g->target, NNFI_TARGET_WEIGHT);
    assert_null(g->sites);
    assert_int_equal(g->sites_count, 0);
    assert_null(g->regex);
    assert_null(g->element);
    assert_non_null(g->bits); /* default: one random bit of the whole element */
    assert_int_equal(g->bits->preset, NNFI_BITS_ALL);
    assert_null(g->bits->list);
    assert_null(g->bits->range);
    assert_int_equal(g->bits->count, 1);
    assert_false(g->bits->all);
    assert_int_equal(g->op, NNFI_OP_FLIP);
    assert_null(g->value);
    assert_int_equal(g->persistence, NNFI_PERMANENT);
    assert_int_equal(g->scope, NNFI_SCOPE_CALL);
    assert_null(g->time_steps);
    assert_int_equal(g->duration, 1);
    assert_false(g->distinct);
    assert_non_null(g->count);
    assert_int_equal(*g->count, 1);
    assert_null(g->rate);

    assert_str(c->output->path, "minimal.h5");
    assert_int_equal(c->output->faults_max_n, 1000);
}

static void check_full(const nnfi_campaign *c)
{
    assert_str(c->name, "full_campaign");
    assert_int_equal(c->seed, 20240611);

    assert_int_equal(c->models_count, 2);
    const nnfi_model_cfg *m = &c->models[0];
    assert_str(m->name, "mlp");
    assert_int_equal(m->host, NNFI_HOST_NULL);
    assert_int_equal(m->device, NNFI_DEVICE_CPU);
    assert_int_equal(m->threads, 2);
    assert_non_null(m->null_model);
    assert_int_equal(m->null_model->inputs, 32);
    assert_int_equal(m->null_model->hidden, 48);
    assert_int_equal(m->null_model->layers, 3);
    assert_int_equal(m->null_model->classes, 8);
    m = &c->models[1];
    assert_str(m->name, "resnet");
    assert_int_equal(m->host, NNFI_HOST_TORCH);
    assert_str(m->path, "models/resnet18_q.pt");
    assert_int_equal(m->device, NNFI_DEVICE_CUDA);
    assert_str(m->qengine, "fbgemm");
    assert_null(m->null_model);

    assert_str(c->eval->path, "data/eval.h5");
    assert_str(c->eval->images, "x");
    assert_str(c->eval->labels, "y");
    assert_int_equal(c->eval->samples, 1024);
    assert_int_equal(c->eval->batch, 128);

    assert_int_equal(c->experiments_count, 4);

    /* weights_sweep: permanent, globs, bit list, fault-count sweep, trials */
    const nnfi_experiment_cfg *x = &c->experiments[0];
    assert_str(x->name, "weights_sweep");
    assert_str(x->model, "mlp");
    assert_int_equal(x->groups_count, 1);
    const nnfi_group_cfg *g = &x->groups[0];
    assert_str(g->name, "w");
    assert_int_equal(g->target, NNFI_TARGET_WEIGHT);
    assert_int_equal(g->sites_count, 2);
    assert_str(g->sites[0], "fc*.weight");
    assert_str(g->sites[1], "out.weight");
    assert_int_equal(g->bits->list_count, 3);
    assert_int_equal(g->bits->list[0], 31);
    assert_int_equal(g->bits->list[1], 30);
    assert_int_equal(g->bits->list[2], 23);
    assert_int_equal(g->bits->count, 1); /* default */
    assert_int_equal(g->op, NNFI_OP_FLIP);
    assert_int_equal(g->persistence, NNFI_PERMANENT);
    assert_true(g->distinct);
    assert_null(g->count);
    assert_null(g->rate);
    assert_non_null(x->sweep);
    assert_int_equal(x->sweep->faults_count, 4);
    assert_int_equal(x->sweep->faults[0], 1);
    assert_int_equal(x->sweep->faults[3], 8);
    assert_null(x->sweep->rates);
    assert_int_equal(x->sweep->draw, NNFI_RATE_FIXED);
    assert_non_null(x->trials);
    assert_int_equal(*x->trials, 100);

    /* act_transient: default group names, regex, range, set, transient, budget */
    x = &c->experiments[1];
    assert_str(x->name, "act_transient");
    assert_int_equal(x->groups_count, 2);
    g = &x->groups[0];
    assert_str(g->name, "g0");
    assert_int_equal(g->target, NNFI_TARGET_ACTIVATION);
    assert_str(g->regex, "^fc[0-9]+$");
    assert_int_equal(g->bits->range_count, 2);
    assert_int_equal(g->bits->range[0], 23);
    assert_int_equal(g->bits->range[1], 30);
    assert_int_equal(g->bits->count, 2);
    assert_int_equal(g->op, NNFI_OP_SET);
    assert_non_null(g->value);
    assert_double(*g->value, -1500.0);
    assert_int_equal(g->persistence, NNFI_TRANSIENT);
    assert_int_equal(g->scope, NNFI_SCOPE_SAMPLE);
    assert_non_null(g->time_steps);
    assert_int_equal(g->time_steps->from, 2);
    assert_int_equal(g->time_steps->to, 9);
    assert_int_equal(g->duration, 3);
    assert_non_null(g->count);
    assert_int_equal(*g->count, 5);
    g = &x->groups[1];
    assert_str(g->name, "g1");
    assert_int_equal(g->target, NNFI_TARGET_INPUT);
    assert_int_equal(g->bits->preset, NNFI_BITS_EXPONENT);
    assert_true(g->bits->all);
    assert_int_equal(g->op, NNFI_OP_STUCK1);
    assert_int_equal(g->scope, NNFI_SCOPE_CALL);
    assert_int_equal(g->duration, 1); /* default */
    assert_null(g->count);
    assert_non_null(g->rate);
    assert_double(*g->rate, 1.0e-4);
    assert_null(x->sweep);
    assert_null(x->trials);
    assert_non_null(x->budget);
    assert_double(x->budget->margin, 0.01);
    assert_double(x->budget->confidence, 0.99);
    assert_non_null(x->budget->p);
    assert_double(*x->budget->p, 0.3);

    /* rate_sweep: element, preset + count, Poisson rate sweep, stop rule */
    x = &c->experiments[2];
    assert_str(x->name, "rate_sweep");
    assert_str(x->model, "resnet");
    g = &x->groups[0];
    assert_str(g->name, "one");
    assert_int_equal(g->target, NNFI_TARGET_BIAS);
    assert_non_null(g->element);
    assert_int_equal(*g->element, 3);
    assert_int_equal(g->op, NNFI_OP_STUCK0);
    g = &x->groups[1];
    assert_str(g->name, "swept");
    assert_int_equal(g->target, NNFI_TARGET_PARAM);
    assert_int_equal(g->bits->preset, NNFI_BITS_MANTISSA);
    assert_int_equal(g->bits->count, 3);
    assert_int_equal(g->op, NNFI_OP_RANDOM);
    assert_null(g->count);
    assert_null(g->rate);
    assert_non_null(x->sweep);
    assert_int_equal(x->sweep->rates_count, 3);
    assert_double(x->sweep->rates[0], 1e-7);
    assert_double(x->sweep->rates[2], 0.5);
    assert_null(x->sweep->faults);
    assert_int_equal(x->sweep->draw, NNFI_RATE_POISSON);
    assert_non_null(x->stop);
    assert_int_equal(x->stop->watch, NNFI_WATCH_ACCURACY_DROP);
    assert_double(x->stop->threshold, 0.4);
    assert_double(x->stop->width, 0.05);
    assert_double(x->stop->confidence, 0.9);
    assert_int_equal(x->stop->min, 50);
    assert_int_equal(x->stop->max, 5000);

    /* state_sdc: stop rule defaults */
    x = &c->experiments[3];
    assert_str(x->name, "state_sdc");
    assert_int_equal(x->groups[0].target, NNFI_TARGET_STATE);
    assert_int_equal(x->groups[0].bits->preset, NNFI_BITS_SIGN);
    assert_int_equal(x->stop->watch, NNFI_WATCH_SDC);
    assert_double(x->stop->confidence, 0.95);
    assert_int_equal(x->stop->min, 30);
    assert_int_equal(x->stop->max, 400);

    /* a relative output.path is taken from the campaign file's directory */
    size_t lp = strlen(c->output->path);
    assert_true(lp > 16 && strcmp(c->output->path + lp - 16, "/results/full.h5") == 0);
    assert_true(strncmp(c->output->path, c->source_dir, strlen(c->source_dir)) == 0);
    assert_int_equal(c->output->faults_max_n, 250);
}

static void check_good(const char *text, size_t len)
{
    nnfi_campaign *c = NULL;
    nnfi_error_clear();
    nnfi_status st = nnfi_campaign_load(g_path, &c);
    if (st != NNFI_OK) fail_msg("status '%s', expected 'ok':\n%s", nnfi_status_name(st), nnfi_error_message());
    assert_non_null(c);
    check_defaults_common(c);
    assert_non_null(c->source_text);
    assert_memory_equal(c->source_text, text, len);
    assert_int_equal(strlen(c->source_text), len);

    const char *base = base_name(g_path);
    if (strcmp(base, "minimal.yaml") == 0) check_minimal(c);
    if (strcmp(base, "full.yaml") == 0) check_full(c);
    if (strcmp(base, "anchors.yaml") == 0) {
        /* aliases expand to copies of their anchor's value */
        assert_int_equal(c->models_count, 2);
        assert_non_null(c->models[1].null_model);
        assert_int_equal(c->models[1].null_model->inputs, 16);
        assert_int_equal(c->models[1].null_model->classes, 4);
        assert_int_equal(c->experiments_count, 2);
        const nnfi_group_cfg *g = &c->experiments[1].groups[0];
        assert_int_equal(g->target, NNFI_TARGET_WEIGHT);
        assert_non_null(g->count);
        assert_int_equal(*g->count, 2);
        assert_int_equal(g->bits->preset, NNFI_BITS_EXPONENT);
        assert_true(g != &c->experiments[0].groups[0]);
    }
    if (strcmp(base, "output_path_only.yaml") == 0) {
        size_t lo = strlen(c->output->path);
        assert_true(lo > 8 && strcmp(c->output->path + lo - 8, "/only.h5") == 0);
        assert_int_equal(c->output->faults_max_n, 1000);
    }

    /* Same text from memory: same hash, whatever name it goes by. */
    nnfi_campaign *d = NULL;
    assert_int_equal(nnfi_campaign_load_text(text, len, "elsewhere/other.yaml", &d), NNFI_OK);
    assert_non_null(d);
    assert_int_equal(d->hash, c->hash);
    nnfi_campaign_free(d);
    nnfi_campaign_free(c);
}

static void test_file(void **state)
{
    (void)state;
    size_t len = 0;
    char *text = read_file(g_path, &len);
    if (!text) fail_msg("cannot read %s", g_path);
    if (starts_with(text, EXPECT_TAG))
        check_bad(text, len);
    else
        check_good(text, len);
    free(text);
}

/* ---------------------------------------------------------- API tests -- */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static void test_missing_file(void **state)
{
    (void)state;
    char *path = join(g_api_dir, "no_such_campaign.yaml");
    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1;
    nnfi_status st = nnfi_campaign_load(path, &c);
    assert_int_equal(st, NNFI_E_IO);
    assert_null(c);
    const char *msg = nnfi_error_message();
    if (!strstr(msg, path)) fail_msg("message does not name '%s':\n%s", path, msg);
    assert_non_null(strstr(msg, "\n  hint: "));
    free(path);
}

static void test_load_text_hash_stable(void **state)
{
    (void)state;
    char *path = join(g_api_dir, "minimal.yaml");
    size_t len = 0;
    char *text = read_file(path, &len);
    assert_non_null(text);
    nnfi_campaign *a = NULL, *b = NULL, *f = NULL;
    assert_int_equal(nnfi_campaign_load_text(text, len, "mem.yaml", &a), NNFI_OK);
    assert_int_equal(nnfi_campaign_load_text(text, len, "mem.yaml", &b), NNFI_OK);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a->hash != 0);
    assert_int_equal(a->hash, b->hash);
    assert_str(a->name, "mem"); /* default name from the name given */
    assert_str(a->output->path, "mem.h5");
    assert_int_equal(nnfi_campaign_load(path, &f), NNFI_OK);
    assert_int_equal(f->hash, a->hash);
    /* One more byte (a trailing comment) is another configuration. */
    char *more = malloc(len + 4);
    assert_non_null(more);
    memcpy(more, text, len);
    memcpy(more + len, "#x\n", 3);
    nnfi_campaign *m = NULL;
    assert_int_equal(nnfi_campaign_load_text(more, len + 3, "mem.yaml", &m), NNFI_OK);
    assert_true(m->hash != a->hash);
    nnfi_campaign_free(m);
    nnfi_campaign_free(f);
    nnfi_campaign_free(b);
    nnfi_campaign_free(a);
    free(more);
    free(text);
    free(path);
}

static void test_good_hashes_differ(void **state)
{
    (void)state;
    char *p1 = join(g_api_dir, "minimal.yaml");
    char *p2 = join(g_api_dir, "full.yaml");
    nnfi_campaign *a = NULL, *b = NULL;
    assert_int_equal(nnfi_campaign_load(p1, &a), NNFI_OK);
    assert_int_equal(nnfi_campaign_load(p2, &b), NNFI_OK);
    assert_true(a->hash != 0 && b->hash != 0);
    assert_true(a->hash != b->hash);
    nnfi_campaign_free(a);
    nnfi_campaign_free(b);
    free(p1);
    free(p2);
}

static void test_load_text_name_in_message(void **state)
{
    (void)state;
    static const char text[] = "seed: 1\nmodelz: []\n";
    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1;
    assert_int_equal(nnfi_campaign_load_text(text, sizeof text - 1, "virtual.yaml", &c), NNFI_E_CONFIG);
    assert_null(c);
    const char *msg = nnfi_error_message();
    if (!starts_with(msg, "virtual.yaml:2:1: modelz: unknown key 'modelz'"))
        fail_msg("unexpected message:\n%s", msg);
    assert_non_null(strstr(msg, "\n  hint: did you mean 'models'?"));
    nnfi_campaign_free(NULL); /* allowed */
}

/* YAML 1.2 numbers: 0o17 is octal, 0x1F hex, .nan/.inf/-.inf floats (a
 * quoted '.nan' stays a string, refused as a number); the text and hash
 * stay the file's own. */
static void test_yaml12_numbers(void **state)
{
    (void)state;
    static const char text[] =
        "seed: 0o17\n"
        "models: [{name: m, host: null}]\n"
        "eval: {batch: 0x10}\n"
        "experiments:\n"
        "  - {name: a, model: m, groups: [{target: weight, op: set, value: .nan, count: 1}], trials: 1}\n"
        "  - {name: b, model: m, groups: [{target: weight, op: set, value: -.inf, count: 1}], trials: 1}\n"
        "  - {name: c, model: m, groups: [{target: weight, op: set, value: .Inf, count: 0o1}], trials: 1}\n";
    nnfi_campaign *c = NULL;
    if (nnfi_campaign_load_text(text, sizeof text - 1, "yaml12.yaml", &c) != NNFI_OK)
        fail_msg("refused: %s", nnfi_error_message());
    assert_int_equal(c->seed, 15);
    assert_int_equal(c->eval->batch, 16);
    assert_true(isnan(*c->experiments[0].groups[0].value));
    assert_true(isinf(*c->experiments[1].groups[0].value) && *c->experiments[1].groups[0].value < 0);
    assert_true(isinf(*c->experiments[2].groups[0].value) && *c->experiments[2].groups[0].value > 0);
    assert_int_equal(*c->experiments[2].groups[0].count, 1);
    assert_string_equal(c->source_text, text); /* the file as written, not as respelled for libcyaml */
    nnfi_campaign_free(c);
    static const char quoted[] = "seed: 1\nmodels: [{name: m, host: null}]\nexperiments:\n"
                                 "  - {name: a, model: m, groups: [{target: weight, op: set, value: '.nan', count: 1}], trials: 1}\n";
    assert_int_equal(nnfi_campaign_load_text(quoted, sizeof quoted - 1, "quoted.yaml", &c), NNFI_E_CONFIG);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--api") == 0) {
        g_api_dir = argv[2];
        const struct CMUnitTest tests[] = {
            cmocka_unit_test(test_missing_file),
            cmocka_unit_test(test_load_text_hash_stable),
            cmocka_unit_test(test_good_hashes_differ),
            cmocka_unit_test(test_load_text_name_in_message),
            cmocka_unit_test(test_yaml12_numbers),
        };
        return cmocka_run_group_tests_name("config_api", tests, NULL, NULL);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE.yaml | --api GOOD_DIR\n", argv[0]);
        return 2;
    }
    g_path = argv[1];
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_file)};
    return cmocka_run_group_tests_name(base_name(g_path), tests, NULL, NULL);
}
