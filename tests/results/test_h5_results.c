/* test_h5_results.c - the HDF5 result writer: rows put out of order in
 * several batches with checkpoints in between, a row put twice (the last
 * wins), fault lists (long ones ignored), sites and golden; resume() gives
 * back the done mask and continues; resume refuses another config, a missing
 * file, a non-HDF5 file and a non-nnfi HDF5 file; create() refuses an
 * existing file unless forced. The reader API (nnfi/h5_reader.h) reads the
 * file back and refuses what is not a result file.
 *
 * The chunk paths of checkpoint() are driven on a 70000-trial plan (two
 * chunks): whole chunks, the padded edge chunk, partial chunks merged with
 * the stored ones, an unfiltered file and a column of a foreign layout.
 *
 * Usage: test_h5_results DIR. Leaves DIR/results.h5 (final state: trial t is
 * done iff t % 5 != 3, values from h5_test_common.h), DIR/big.h5,
 * DIR/schema.json and DIR/empty.h5 for check_h5.py. */
#define _DEFAULT_SOURCE /* flock */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "h5_test_common.h"
#include "nnfi/h5_reader.h"
#include "nnfi/results.h"

static const char *dir;

static void path_of(char *buf, size_t n, const char *name) { snprintf(buf, n, "%s/%s", dir, name); }

typedef struct fixture {
    nnfi_campaign *c;
    nnfi_plan *p;
} fixture;

static void load(fixture *fx, const char *text)
{
    nnfi_status st = nnfi_campaign_load_text(text, strlen(text), "h5test.yaml", &fx->c);
    if (st != NNFI_OK) fail_msg("campaign: %s", nnfi_error_message());
    st = nnfi_plan_create(fx->c, NULL, &fx->p);
    if (st != NNFI_OK) fail_msg("plan: %s", nnfi_error_message());
    assert_int_equal(fx->p->total_trials, H5_TEST_TRIALS);
}

static void unload(fixture *fx)
{
    nnfi_plan_free(fx->p);
    nnfi_campaign_free(fx->c);
}

static void expect_msg(nnfi_status st, nnfi_status want, const char *text)
{
    assert_int_equal(st, want);
    if (!strstr(nnfi_error_message(), text) || !strstr(nnfi_error_message(), "\n  hint: "))
        fail_msg("message lacks '%s' or a hint:\n%s", text, nnfi_error_message());
}

static void make_sites(nnfi_site *s)
{
    memset(s, 0, 3 * sizeof *s);
    strcpy(s[0].name, "fc1.weight");
    s[0].kind = NNFI_SITE_PARAM;
    s[0].dtype = NNFI_DT_F32;
    s[0].ndim = 2;
    s[0].shape[0] = 128;
    s[0].shape[1] = 64;
    s[0].numel = 128 * 64;
    strcpy(s[1].name, "fc1.bias");
    s[1].kind = NNFI_SITE_PARAM;
    s[1].dtype = NNFI_DT_F32;
    s[1].ndim = 1;
    s[1].shape[0] = 128;
    s[1].numel = 128;
    strcpy(s[2].name, "fc1.out");
    s[2].kind = NNFI_SITE_ACTIVATION;
    s[2].dtype = NNFI_DT_F16;
    s[2].ndim = 1;
    s[2].shape[0] = 128;
    s[2].numel = 128;
    for (int i = 0; i < 3; i++) s[i].device = -1;
}

static float golden_logits[4 * 3] = {0.5f, 1.5f, -1.0f, 2.0f, 0.0f, 1.0f, -0.5f, 0.25f, 3.0f, 1.0f, 1.0f, 0.0f};
static int32_t golden_labels[4] = {1, 0, 2, 1};
static const char *const golden_facts[] = {"threads=1", "qengine=none", "host=null", NULL};

static void add_model(nnfi_h5_results *r)
{
    nnfi_site s[3];
    make_sites(s);
    assert_int_equal(nnfi_h5_add_sites(r, "mlp", s, 3), NNFI_OK);
    assert_int_equal(nnfi_h5_add_golden(r, "mlp", golden_logits, golden_labels, 4, 3, 1, 0.75, golden_facts), NNFI_OK);
}

static int phase1(uint64_t t) { return t % 5 == 0 || t % 5 == 2 || t % 5 == 4; }

static void put_trials(nnfi_h5_results *r, const nnfi_plan *p, const uint64_t *ts, size_t n, int faults)
{
    nnfi_trial_row rows[H5_TEST_TRIALS + 4];
    assert_true(n <= H5_TEST_TRIALS + 4);
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(h5_test_row(p, ts[i], &rows[i]), 0);
        if (faults) assert_int_equal(h5_test_put_faults(r, &rows[i]), NNFI_OK);
    }
    assert_int_equal(nnfi_h5_put_rows(r, rows, n), NNFI_OK);
}

static void test_write(void **state)
{
    (void)state;
    fixture fx;
    load(&fx, h5_test_campaign);
    char path[4096];
    path_of(path, sizeof path, "results.h5");
    unlink(path);
    nnfi_h5_provenance prov = {3, "12345", NULL, NULL, 0, 1};
    nnfi_h5_results *r = NULL;
    nnfi_status st = nnfi_h5_create(path, 0, fx.c, fx.p, &prov, &r);
    if (st != NNFI_OK) fail_msg("create: %s", nnfi_error_message());
    add_model(r);
    assert_int_equal(nnfi_h5_trials_done(r), 0);

    /* batch A: phase-1 trials >= 14, in reverse order */
    uint64_t ts[H5_TEST_TRIALS + 4];
    size_t n = 0;
    for (uint64_t t = H5_TEST_TRIALS; t-- > 14;)
        if (phase1(t)) ts[n++] = t;
    put_trials(r, fx.p, ts, n, 1);
    uint64_t expect_done = n;
    assert_int_equal(nnfi_h5_trials_done(r), expect_done);
    st = nnfi_h5_checkpoint(r);
    if (st != NNFI_OK) fail_msg("checkpoint: %s", nnfi_error_message());
    assert_int_equal(nnfi_h5_checkpoint(r), NNFI_OK); /* nothing buffered: a no-op */

    /* batch B: phase-1 trials < 14 in a scrambled order, in two calls, with
     * trial 12 first put with wrong values and later with the right ones */
    nnfi_trial_row wrong;
    assert_int_equal(h5_test_row(fx.p, 12, &wrong), 0);
    wrong.accuracy = 0.999;
    wrong.done = 1;
    assert_int_equal(nnfi_h5_put_rows(r, &wrong, 1), NNFI_OK);
    n = 0;
    for (uint64_t i = 0; i < 14; i++) {
        uint64_t t = (i * 5 + 3) % 14;
        if (phase1(t)) ts[n++] = t;
    }
    put_trials(r, fx.p, ts, n / 2, 1);
    put_trials(r, fx.p, ts + n / 2, n - n / 2, 1);
    expect_done += n;
    assert_int_equal(nnfi_h5_trials_done(r), expect_done); /* trial 12 counted once */
    st = nnfi_h5_checkpoint(r);
    if (st != NNFI_OK) fail_msg("checkpoint: %s", nnfi_error_message());

    /* rows for trials outside the plan are refused */
    nnfi_trial_row bad;
    assert_int_equal(h5_test_row(fx.p, 0, &bad), 0);
    bad.trial = H5_TEST_TRIALS;
    expect_msg(nnfi_h5_put_rows(r, &bad, 1), NNFI_E_INVALID, "trial 28");
    nnfi_fault f;
    h5_test_fault(0, 0, &f);
    expect_msg(nnfi_h5_put_faults(r, H5_TEST_TRIALS, &f, 1), NNFI_E_INVALID, "trial 28");
    assert_int_equal(nnfi_h5_trials_done(r), expect_done);

    st = nnfi_h5_close(r);
    if (st != NNFI_OK) fail_msg("close: %s", nnfi_error_message());
    unload(&fx);

    char schema[4096];
    path_of(schema, sizeof schema, "schema.json");
    assert_int_equal(nnfi_write_schema_json(schema), NNFI_OK);
}

static void expect_mask(const uint8_t *done, int (*rule)(uint64_t))
{
    for (uint64_t t = 0; t < H5_TEST_TRIALS; t++)
        if ((done[t] != 0) != (rule(t) != 0)) fail_msg("trial %llu: done %d", (unsigned long long)t, done[t]);
}

static int final_rule(uint64_t t) { return t % 5 != 3; }

static void test_resume(void **state)
{
    (void)state;
    fixture fx;
    load(&fx, h5_test_campaign);
    char path[4096];
    path_of(path, sizeof path, "results.h5");
    nnfi_h5_results *r = NULL;
    uint8_t *done = NULL;
    nnfi_status st = nnfi_h5_resume(path, fx.c, fx.p, &r, &done);
    if (st != NNFI_OK) fail_msg("resume: %s", nnfi_error_message());
    expect_mask(done, phase1);
    uint64_t n1 = 0;
    for (uint64_t t = 0; t < H5_TEST_TRIALS; t++) n1 += phase1(t) != 0;
    assert_int_equal(nnfi_h5_trials_done(r), n1);
    free(done);

    /* the same model again: accepted; another site table or eval set: refused */
    add_model(r);
    nnfi_site s[3];
    make_sites(s);
    strcpy(s[1].name, "fc2.bias");
    expect_msg(nnfi_h5_add_sites(r, "mlp", s, 3), NNFI_E_INVALID, "differ");
    int32_t other_labels[4] = {1, 0, 2, 2};
    expect_msg(nnfi_h5_add_golden(r, "mlp", golden_logits, other_labels, 4, 3, 1, 0.75, NULL), NNFI_E_INVALID, "differs");

    /* phase 2: t % 5 == 1 */
    uint64_t ts[H5_TEST_TRIALS];
    size_t n = 0;
    for (uint64_t t = 0; t < H5_TEST_TRIALS; t++)
        if (t % 5 == 1) ts[n++] = t;
    put_trials(r, fx.p, ts, n, 1);
    assert_int_equal(nnfi_h5_trials_done(r), n1 + n);
    st = nnfi_h5_close(r);
    if (st != NNFI_OK) fail_msg("close: %s", nnfi_error_message());

    /* and once more: the final mask, nothing to write */
    st = nnfi_h5_resume(path, fx.c, fx.p, &r, &done);
    if (st != NNFI_OK) fail_msg("resume: %s", nnfi_error_message());
    expect_mask(done, final_rule);
    free(done);
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);
    unload(&fx);
}

static void test_other_config(void **state)
{
    (void)state;
    fixture ours, other;
    load(&ours, h5_test_campaign);
    char text[sizeof h5_test_campaign];
    memcpy(text, h5_test_campaign, sizeof text);
    char *seed = strstr(text, "seed: 42");
    assert_non_null(seed);
    seed[7] = '3'; /* seed: 43 */
    load(&other, text);
    char path[4096], want[64];
    path_of(path, sizeof path, "results.h5");
    nnfi_h5_results *r = NULL;
    uint8_t *done = NULL;
    nnfi_status st = nnfi_h5_resume(path, other.c, other.p, &r, &done);
    expect_msg(st, NNFI_E_INVALID, "another campaign");
    snprintf(want, sizeof want, "%016llx", (unsigned long long)ours.c->hash);
    expect_msg(st, NNFI_E_INVALID, want);
    snprintf(want, sizeof want, "%016llx", (unsigned long long)other.c->hash);
    expect_msg(st, NNFI_E_INVALID, want);
    expect_msg(st, NNFI_E_INVALID, "use the original campaign file");
    assert_null(r);
    assert_null(done);
    unload(&ours);
    unload(&other);
}

static void test_create_existing(void **state)
{
    (void)state;
    fixture fx;
    load(&fx, h5_test_campaign);
    char path[4096], path2[4096];
    path_of(path, sizeof path, "results.h5");
    path_of(path2, sizeof path2, "force.h5");
    nnfi_h5_results *r = NULL;
    expect_msg(nnfi_h5_create(path, 0, fx.c, fx.p, NULL, &r), NNFI_E_IO, "results.h5 exists");
    expect_msg(nnfi_h5_create(path, 0, fx.c, fx.p, NULL, &r), NNFI_E_IO, "hint: --force to overwrite, --resume to continue it");
    assert_null(r);

    /* force: a second file, written, then overwritten */
    unlink(path2);
    assert_int_equal(nnfi_h5_create(path2, 0, fx.c, fx.p, NULL, &r), NNFI_OK);
    uint64_t ts[3] = {1, 2, 3};
    put_trials(r, fx.p, ts, 3, 0);
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);
    expect_msg(nnfi_h5_create(path2, 0, fx.c, fx.p, NULL, &r), NNFI_E_IO, "exists");
    nnfi_status st = nnfi_h5_create(path2, 1, fx.c, fx.p, NULL, &r);
    if (st != NNFI_OK) fail_msg("create --force: %s", nnfi_error_message());
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);
    uint8_t *done = NULL;
    assert_int_equal(nnfi_h5_resume(path2, fx.c, fx.p, &r, &done), NNFI_OK);
    for (uint64_t t = 0; t < H5_TEST_TRIALS; t++) assert_int_equal(done[t], 0);
    assert_int_equal(nnfi_h5_trials_done(r), 0);
    free(done);
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);
    unlink(path2);
    unload(&fx);
}

static void test_resume_errors(void **state)
{
    (void)state;
    fixture fx;
    load(&fx, h5_test_campaign);
    char path[4096];
    nnfi_h5_results *r = NULL;
    uint8_t *done = NULL;

    path_of(path, sizeof path, "absent.h5");
    unlink(path);
    expect_msg(nnfi_h5_resume(path, fx.c, fx.p, &r, &done), NNFI_E_IO, "no such result file");

    path_of(path, sizeof path, "notes.h5");
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("not hdf5\n", f);
    fclose(f);
    expect_msg(nnfi_h5_resume(path, fx.c, fx.p, &r, &done), NNFI_E_IO, "not an HDF5 file");

    path_of(path, sizeof path, "empty.h5"); /* HDF5, but not ours (check_h5.py inspects it too) */
    hid_t h = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    assert_true(h >= 0);
    H5Fclose(h);
    expect_msg(nnfi_h5_resume(path, fx.c, fx.p, &r, &done), NNFI_E_IO, "not an nnfi result file");
    assert_null(r);
    assert_null(done);

    path_of(path, sizeof path, "no/such/dir/out.h5");
    expect_msg(nnfi_h5_create(path, 0, fx.c, fx.p, NULL, &r), NNFI_E_IO, "cannot create");
    unload(&fx);
}

/* ---- the reader API (nnfi/h5_reader.h) on the final results.h5: provenance,
 * plan tables, /trials blocks against h5_test_row, golden; and its refusals. */
static void test_reader(void **state)
{
    (void)state;
    fixture fx;
    load(&fx, h5_test_campaign);
    char path[4096];
    path_of(path, sizeof path, "results.h5");
    nnfi_h5_file *f = NULL;
    nnfi_status st = nnfi_h5_open(path, "a test hint", &f);
    if (st != NNFI_OK) fail_msg("open: %s", nnfi_error_message());
    const nnfi_h5_file_info *in = nnfi_h5_file_info_of(f);
    assert_int_equal(in->schema_version, NNFI_RESULTS_SCHEMA_VERSION);
    assert_true(in->config_hash == fx.c->hash);
    assert_int_equal(in->seed, 42);
    assert_int_equal(in->world_size, 3);
    assert_int_equal(in->shard_index, 0);
    assert_int_equal(in->shard_count, 1);
    assert_int_equal(in->trials, H5_TEST_TRIALS);
    assert_string_equal(in->campaign, "h5test");
    assert_string_equal(in->slurm_job_id, "12345");
    assert_null(in->slurm_array_job_id);
    assert_non_null(in->config);
    assert_true(strstr(in->config, "faults_max_n: 10") != NULL);
    assert_non_null(in->nnfi_version);
    assert_non_null(in->last_checkpoint);
    assert_int_equal(in->progress_done, 23);
    assert_int_equal(in->checkpoints, 3);

    nnfi_h5_plan_tables t;
    assert_int_equal(nnfi_h5_read_plan_tables(f, &t), NNFI_OK);
    assert_int_equal(t.n_experiments, 2);
    assert_int_equal(t.n_points, 4);
    assert_string_equal(t.experiments[0].name, "sweep");
    assert_string_equal(t.experiments[1].model, "mlp");
    assert_int_equal(t.experiments[0].n_points, 3);
    assert_int_equal(t.experiments[1].first_trial, 21);
    assert_int_equal(t.points[2].x, 100);
    assert_int_equal(t.points[3].experiment, 1);
    assert_int_equal(t.points[3].first_trial, 21);
    assert_int_equal(t.points[3].trials, 7);
    nnfi_h5_plan_tables_free(&t);

    /* /trials in two blocks (the second from a cached column handle) */
    uint8_t done[H5_TEST_TRIALS];
    double acc[H5_TEST_TRIALS];
    uint64_t sdc[H5_TEST_TRIALS];
    assert_int_equal(nnfi_h5_read_trials(f, "done", 0, 10, done), NNFI_OK);
    assert_int_equal(nnfi_h5_read_trials(f, "done", 10, H5_TEST_TRIALS - 10, done + 10), NNFI_OK);
    assert_int_equal(nnfi_h5_read_trials(f, "accuracy", 0, H5_TEST_TRIALS, acc), NNFI_OK);
    assert_int_equal(nnfi_h5_read_trials(f, "sdc", 0, H5_TEST_TRIALS, sdc), NNFI_OK);
    for (uint64_t k = 0; k < H5_TEST_TRIALS; k++) {
        nnfi_trial_row row;
        assert_int_equal(h5_test_row(fx.p, k, &row), 0);
        assert_int_equal(done[k], final_rule(k) ? 1 : 0);
        if (!final_rule(k)) continue;
        assert_true(acc[k] == row.accuracy);
        assert_int_equal(sdc[k], row.sdc);
    }
    expect_msg(nnfi_h5_read_trials(f, "nope", 0, 1, done), NNFI_E_NOTFOUND, "no result column 'nope'");
    expect_msg(nnfi_h5_read_trials(f, "done", 20, 9, done), NNFI_E_INVALID, "outside");

    char **models = NULL;
    size_t n_models = 0;
    assert_int_equal(nnfi_h5_golden_models(f, &models, &n_models), NNFI_OK);
    assert_int_equal(n_models, 1);
    assert_string_equal(models[0], "mlp");
    nnfi_h5_names_free(models, n_models);
    nnfi_h5_golden_info g;
    assert_int_equal(nnfi_h5_read_golden(f, "mlp", 1, &g), NNFI_OK);
    assert_true(g.accuracy == 0.75);
    assert_int_equal(g.samples, 4);
    assert_int_equal(g.classes, 3);
    assert_memory_equal(g.logits, golden_logits, sizeof golden_logits);
    assert_memory_equal(g.labels, golden_labels, sizeof golden_labels);
    free(g.logits);
    free(g.labels);
    expect_msg(nnfi_h5_read_golden(f, "other", 0, &g), NNFI_E_NOTFOUND, "no golden run of model 'other'");
    nnfi_h5_file_close(f);
    nnfi_h5_file_close(NULL);

    /* refusals (files left by test_resume_errors), each with the caller's hint */
    path_of(path, sizeof path, "absent.h5");
    expect_msg(nnfi_h5_open(path, "a test hint", &f), NNFI_E_IO, "hint: a test hint");
    assert_null(f);
    path_of(path, sizeof path, "notes.h5");
    expect_msg(nnfi_h5_open(path, "a test hint", &f), NNFI_E_IO, "not an HDF5 file");
    path_of(path, sizeof path, "empty.h5");
    expect_msg(nnfi_h5_open(path, "a test hint", &f), NNFI_E_IO, "not an nnfi result file");
    expect_msg(nnfi_h5_open(path, "a test hint", &f), NNFI_E_IO, "hint: a test hint");
    assert_null(f);
    unload(&fx);
}

/* ---- chunk paths: whole chunks, the padded edge chunk, partial chunks read
 * back and merged, an unfiltered file, and a column of another layout (the
 * hyperslab fallback). One point of 70000 trials: chunks [0, 65536) and the
 * edge chunk [65536, 70000). Values: accuracy = t * 1e-5 + round, sdc =
 * 3 t + round, wall_s = t / 2 + round, where round is the checkpoint that
 * last wrote t (see big_round; check_h5.py reads big.h5 with the same rule). */

extern int nnfi_h5_filters; /* src/plugins/results_h5/h5_io.c: 1 shuffle + deflate, 0 none */

#define BIG_TRIALS 70000u
static const char big_campaign[] = "name: big\nseed: 7\nmodels:\n  - name: m\n    host: null\nexperiments:\n"
                                   "  - name: e\n    model: m\n    groups:\n      - target: weight\n        count: 1\n"
                                   "    trials: 70000\n";

static int big_round(uint64_t t)
{
    if (t >= 65536) return 2;
    if ((t >= 100 && t < 200) || (t >= 65000 && t < 65600)) return 1;
    return 0;
}

static void put_big(nnfi_h5_results *r, uint64_t from, uint64_t to, int round, int reverse)
{
    size_t n = (size_t)(to - from);
    nnfi_trial_row *rows = calloc(n, sizeof *rows);
    assert_non_null(rows);
    for (size_t i = 0; i < n; i++) {
        uint64_t t = reverse ? to - 1 - i : from + i;
        rows[i].trial = t;
        rows[i].done = 1;
        rows[i].trial_in_point = t;
        rows[i].accuracy = (double)t * 1e-5 + round;
        rows[i].sdc = 3 * t + (uint64_t)round;
        rows[i].wall_s = (double)t / 2 + round;
    }
    assert_int_equal(nnfi_h5_put_rows(r, rows, n), NNFI_OK);
    free(rows);
}

static void expect_big(nnfi_h5_results *r, int (*round_of)(uint64_t))
{
    double *acc = malloc(BIG_TRIALS * sizeof *acc), *wall = malloc(BIG_TRIALS * sizeof *wall);
    uint64_t *sdc = malloc(BIG_TRIALS * sizeof *sdc);
    uint8_t *done = malloc(BIG_TRIALS);
    assert_true(acc && wall && sdc && done);
    assert_int_equal(nnfi_h5_read_column(r, "accuracy", acc), NNFI_OK);
    assert_int_equal(nnfi_h5_read_column(r, "wall_s", wall), NNFI_OK);
    assert_int_equal(nnfi_h5_read_column(r, "sdc", sdc), NNFI_OK);
    assert_int_equal(nnfi_h5_read_column(r, "done", done), NNFI_OK);
    for (uint64_t t = 0; t < BIG_TRIALS; t++) {
        int k = round_of(t);
        if (acc[t] != (double)t * 1e-5 + k || sdc[t] != 3 * t + (uint64_t)k || wall[t] != (double)t / 2 + k || done[t] != 1)
            fail_msg("trial %llu: accuracy %g sdc %llu wall_s %g done %d (round %d)", (unsigned long long)t, acc[t],
                     (unsigned long long)sdc[t], wall[t], done[t], k);
    }
    expect_msg(nnfi_h5_read_column(r, "nope", acc), NNFI_E_NOTFOUND, "no result column 'nope'");
    free(acc);
    free(wall);
    free(sdc);
    free(done);
}

/* Replace /trials/wall_s by a dataset of another chunking (deflate only). */
static void relayout_wall_s(const char *path)
{
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    assert_true(f >= 0);
    assert_true(H5Ldelete(f, "trials/wall_s", H5P_DEFAULT) >= 0);
    hsize_t n = BIG_TRIALS, maxd = H5S_UNLIMITED, chunk = 1000;
    hid_t sp = H5Screate_simple(1, &n, &maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    assert_true(H5Pset_chunk(dcpl, 1, &chunk) >= 0 && H5Pset_deflate(dcpl, 4) >= 0);
    hid_t ds = H5Dcreate2(f, "trials/wall_s", H5T_IEEE_F64LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    assert_true(ds >= 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(sp);
    H5Fclose(f);
}

static int round_zero(uint64_t t)
{
    (void)t;
    return 0;
}

static int round_small(uint64_t t) { return t >= 300 && t < 400 ? 1 : 0; }

static void test_chunks(void **state)
{
    (void)state;
    nnfi_campaign *c = NULL;
    nnfi_plan *p = NULL;
    assert_int_equal(nnfi_campaign_load_text(big_campaign, strlen(big_campaign), "big.yaml", &c), NNFI_OK);
    assert_int_equal(nnfi_plan_create(c, NULL, &p), NNFI_OK);
    assert_int_equal(p->total_trials, BIG_TRIALS);
    char path[4096];
    nnfi_h5_results *r = NULL;

    /* shuffle + deflate (kept for check_h5.py) */
    path_of(path, sizeof path, "big.h5");
    assert_int_equal(nnfi_h5_create(path, 1, c, p, NULL, &r), NNFI_OK);
    relayout_wall_s(path);
    put_big(r, 0, 65636, 0, 1); /* chunk 0 whole (rows reversed), edge chunk in part */
    assert_int_equal(nnfi_h5_checkpoint(r), NNFI_OK);
    put_big(r, 65636, BIG_TRIALS, 0, 0); /* the rest of the edge chunk: read and merged */
    assert_int_equal(nnfi_h5_checkpoint(r), NNFI_OK);
    expect_big(r, round_zero);
    put_big(r, 100, 200, 1, 0); /* chunk 0 in part: our own chunk read back */
    put_big(r, 65000, 65600, 1, 1);
    assert_int_equal(nnfi_h5_checkpoint(r), NNFI_OK);
    put_big(r, 65536, BIG_TRIALS, 2, 0); /* the edge chunk whole: padded */
    assert_int_equal(nnfi_h5_checkpoint(r), NNFI_OK);
    assert_int_equal(nnfi_h5_trials_done(r), BIG_TRIALS);
    expect_big(r, big_round);
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);

    /* no filters: raw chunks, whole and in part */
    path_of(path, sizeof path, "big_raw.h5");
    nnfi_h5_filters = 0;
    nnfi_status st = nnfi_h5_create(path, 1, c, p, NULL, &r);
    nnfi_h5_filters = 1;
    assert_int_equal(st, NNFI_OK);
    put_big(r, 0, BIG_TRIALS, 0, 0);
    assert_int_equal(nnfi_h5_checkpoint(r), NNFI_OK);
    put_big(r, 300, 400, 1, 1);
    assert_int_equal(nnfi_h5_checkpoint(r), NNFI_OK);
    expect_big(r, round_small);
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);
    unlink(path);

    nnfi_plan_free(p);
    nnfi_campaign_free(c);
}

/* A reader holding the file open (a shared lock, as h5py takes) delays a
 * fold of the journal into the file instead of failing it. */
static void test_lock_wait(void **state)
{
    (void)state;
    fixture fx;
    load(&fx, h5_test_campaign);
    char path[4096];
    path_of(path, sizeof path, "lock.h5");
    nnfi_h5_results *r = NULL;
    assert_int_equal(nnfi_h5_create(path, 1, fx.c, fx.p, NULL, &r), NNFI_OK);
    uint64_t ts[2] = {4, 5};
    put_trials(r, fx.p, ts, 2, 1);
    setenv("NNFI_FOLD_MB", "0", 1); /* this checkpoint folds at once: the fold is what takes the lock */
    int pipefd[2];
    assert_int_equal(pipe(pipefd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* the reader: lock for 0.6 s */
        int fd = open(path, O_RDONLY);
        char ok = fd >= 0 && flock(fd, LOCK_SH) == 0 ? 'y' : 'n';
        if (write(pipefd[1], &ok, 1) != 1) _exit(1);
        struct timespec d = {0, 600 * 1000 * 1000};
        nanosleep(&d, NULL);
        _exit(0);
    }
    char ok = 0;
    assert_int_equal(read(pipefd[0], &ok, 1), 1);
    assert_int_equal(ok, 'y');
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    nnfi_status st = nnfi_h5_checkpoint(r);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    unsetenv("NNFI_FOLD_MB");
    if (st != NNFI_OK) fail_msg("checkpoint under a reader's lock: %s", nnfi_error_message());
    double waited = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    if (waited < 0.3) fail_msg("the checkpoint did not wait for the lock (%.3f s)", waited);
    int status = 0;
    waitpid(pid, &status, 0);
    close(pipefd[0]);
    close(pipefd[1]);
    uint8_t *done = NULL;
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);
    assert_int_equal(nnfi_h5_resume(path, fx.c, fx.p, &r, &done), NNFI_OK);
    for (uint64_t t = 0; t < H5_TEST_TRIALS; t++) assert_int_equal(done[t], t == 4 || t == 5);
    free(done);
    assert_int_equal(nnfi_h5_close(r), NNFI_OK);
    unlink(path);
    unload(&fx);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: test_h5_results DIR\n");
        return 2;
    }
    dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_other_config),
        cmocka_unit_test(test_create_existing),
        cmocka_unit_test(test_resume_errors),
        cmocka_unit_test(test_reader),
        cmocka_unit_test(test_chunks),
        cmocka_unit_test(test_lock_wait),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
