/* bench_h5.c - append rate of the HDF5 result writer (src/plugins/results_h5/).
 *
 * Puts ROWS result rows in trial order in batches of BATCH with a checkpoint
 * every EVERY rows (the file is reopened, written and closed each time, as in
 * a run), and reports rows/s for the whole thing: create (which also writes
 * the trial dimension scale), the puts, every checkpoint and the final close.
 * Once with the default filters (shuffle + deflate 1) and once without any.
 * Target: >= 1,000,000 rows/s with the default filters. Not a test: run by hand,
 *   build/tests/bench/bench_h5 [rows] [batch] [every] [dir]
 * (defaults 1000000 4096 250000 /tmp) and record the output in
 * tests/bench/RESULTS.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nnfi/h5_results.h"
#include "nnfi_test.h"

/* the writer's filter knob (h5_results.c): 1 shuffle + deflate 1, 0 none */
extern int nnfi_h5_filters;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_h5: %s: %s\n", what, nnfi_error_message());
    return 1;
}

static int run_case(const char *label, int filters, const char *path, const nnfi_campaign *c, const nnfi_plan *p,
                    uint64_t rows, uint64_t batch, uint64_t every)
{
    nnfi_trial_row *buf = calloc(batch, sizeof *buf);
    if (!buf) return fail("out of memory");
    nnfi_h5_filters = filters;
    nnfi_h5_provenance prov = {1, NULL, NULL, NULL, 0, 1};
    nnfi_h5_results *r = NULL;
    double t0 = now_s();
    if (nnfi_h5_create(path, 1, c, p, &prov, &r) != NNFI_OK) return fail("create");
    double t_create = now_s() - t0, t_ckpt = 0;
    uint64_t since = 0;
    for (uint64_t at = 0; at < rows; at += batch) {
        uint64_t n = rows - at < batch ? rows - at : batch;
        for (uint64_t i = 0; i < n; i++) { /* plausible values: small counts, noisy floats */
            uint64_t t = at + i, state = t, h = nnfi_splitmix64(&state); /* a hash of the trial */
            double u = (double)(h >> 11) * 0x1.0p-53; /* uniform [0, 1) */
            nnfi_trial_row *row = &buf[i];
            row->trial = t;
            row->done = 1;
            row->experiment = 0;
            row->point = 0;
            row->trial_in_point = t;
            row->n_faults = 10;
            row->sdc = h % 50 < 40 ? 0 : h % 1000; /* most trials masked */
            row->critical_sdc = row->sdc / 3;
            row->due_samples = h % 97 == 0 ? 10000 : 0;
            row->due = row->due_samples != 0;
            row->accuracy = (9000.0 - (double)row->critical_sdc) / 10000.0; /* k / 10000 eval samples */
            row->accuracy_drop = 0.9 - row->accuracy;
            row->max_abs_err = row->sdc ? 10.0 * u : 1e-3 * u;
            row->mean_abs_err = row->max_abs_err * 0.01 * u;
            row->status = 0;
            row->rank = (int32_t)(t % 4);
            row->device = -1;
            row->wall_s = 0.05 + 0.01 * u;
        }
        if (nnfi_h5_put_rows(r, buf, n) != NNFI_OK) return fail("put_rows");
        since += n;
        if (since >= every) {
            double c0 = now_s();
            if (nnfi_h5_checkpoint(r) != NNFI_OK) return fail("checkpoint");
            t_ckpt += now_s() - c0;
            since = 0;
        }
    }
    double c0 = now_s();
    if (nnfi_h5_close(r) != NNFI_OK) return fail("close");
    t_ckpt += now_s() - c0;
    double total = now_s() - t0;
    struct stat sb;
    double mib = stat(path, &sb) == 0 ? (double)sb.st_size / (1 << 20) : 0;
    printf("%-16s rows %llu  batch %llu  checkpoint every %llu: %.3f s, %.0f rows/s (create %.3f s, checkpoints "
           "%.3f s), file %.1f MiB\n",
           label, (unsigned long long)rows, (unsigned long long)batch, (unsigned long long)every, total,
           (double)rows / total, t_create, t_ckpt, mib);
    free(buf);
    unlink(path);
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 1000000;
    uint64_t batch = argc > 2 ? strtoull(argv[2], NULL, 10) : 4096;
    uint64_t every = argc > 3 ? strtoull(argv[3], NULL, 10) : 250000;
    const char *dir = argc > 4 ? argv[4] : "/tmp";
    if (!rows || !batch || !every) {
        fprintf(stderr, "usage: bench_h5 [rows] [batch] [every] [dir]\n");
        return 2;
    }
    char text[512], path[4096];
    snprintf(text, sizeof text,
             "name: bench\nseed: 1\nmodels:\n  - name: m\n    host: null\nexperiments:\n  - name: e\n    model: m\n"
             "    groups:\n      - target: weight\n        count: 10\n    trials: %llu\n",
             (unsigned long long)rows);
    snprintf(path, sizeof path, "%s/bench_h5_%ld.h5", dir, (long)getpid());
    nnfi_campaign *c = NULL;
    nnfi_plan *p = NULL;
    if (nnfi_campaign_load_text(text, strlen(text), "bench.yaml", &c) != NNFI_OK) return fail("campaign");
    if (nnfi_plan_create(c, NULL, &p) != NNFI_OK) return fail("plan");
    int rc = run_case("shuffle+deflate1", 1, path, c, p, rows, batch, every);
    if (!rc) rc = run_case("no filters", 0, path, c, p, rows, batch, every);

    nnfi_h5_filters = 1;
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
    return rc;
}
