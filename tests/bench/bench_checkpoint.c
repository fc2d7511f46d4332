/* bench_checkpoint.c - what a checkpoint costs as a result file grows
 * (issue 19: checkpoints in O(new rows)).
 *
 * Writes ROWS result rows of a null-model campaign of ROWS trials in trial
 * order through the result writer, a checkpoint every EVERY rows (about what
 * rank 0 collects in 10 s at 100,000 trials/s), and prints, at every
 * power of ten of rows done, the wall time and bytes of the latest
 * checkpoints (the journal appends), the folds so far (journal into file:
 * O(file) each, geometrically rarer) and the file size. Then the same
 * campaign with NNFI_FOLD_MB=0 (every checkpoint folds: the cost of the
 * copy-per-checkpoint scheme) up to COPY_ROWS rows, for the ratio.
 *
 * Not a test: run by hand (the smoke test runs it small),
 *   build/tests/bench/bench_checkpoint [rows] [every] [copy_rows] [dir]
 * (defaults 100000000 1000000 10000000 /tmp) and record the output in
 * tests/bench/RESULTS.md. Needs free disk for about three times the final
 * file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nnfi/h5_results.h"
#include "nnfi_test.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_checkpoint: %s: %s\n", what, nnfi_error_message());
    return 1;
}

static void fill(nnfi_trial_row *row, uint64_t t)
{
    uint64_t state = t, h = nnfi_splitmix64(&state);
    double u = (double)(h >> 11) * 0x1.0p-53;
    memset(row, 0, sizeof *row);
    row->trial = t;
    row->done = 1;
    row->trial_in_point = t;
    row->n_faults = 1;
    row->sdc = h % 50 < 40 ? 0 : h % 1000;
    row->critical_sdc = row->sdc / 3;
    row->accuracy = (9000.0 - (double)row->critical_sdc) / 10000.0;
    row->accuracy_drop = 0.9 - row->accuracy;
    row->max_abs_err = row->sdc ? 10.0 * u : 1e-3 * u;
    row->mean_abs_err = row->max_abs_err * 0.01 * u;
    row->rank = (int32_t)(t % 4);
    row->device = -1;
    row->wall_s = 1e-5 + 1e-6 * u;
}

static int run_case(const char *label, const char *path, const nnfi_campaign *c, const nnfi_plan *p, uint64_t rows,
                    uint64_t every)
{
    const uint64_t batch = 4096;
    nnfi_trial_row *buf = calloc(batch, sizeof *buf);
    if (!buf) return fail("out of memory");
    nnfi_h5_provenance prov = {1, NULL, NULL, NULL, 0, 1};
    nnfi_h5_results *r = NULL;
    double t0 = now_s(), t_puts = 0;
    if (nnfi_h5_create(path, 1, c, p, &prov, &r) != NNFI_OK) return fail("create");
    printf("%s: %llu rows, a checkpoint every %llu rows\n", label, (unsigned long long)rows,
           (unsigned long long)every);
    printf("  %12s %14s %14s %10s %10s %12s %10s\n", "rows done", "ckpt ms (last)", "ckpt KiB", "ckpts", "folds",
           "fold s (all)", "file MiB");
    uint64_t since = 0, next_report = 100000 < rows ? 100000 : rows;
    for (uint64_t at = 0; at < rows; at += batch) {
        uint64_t n = rows - at < batch ? rows - at : batch;
        double p0 = now_s();
        for (uint64_t i = 0; i < n; i++) fill(&buf[i], at + i);
        if (nnfi_h5_put_rows(r, buf, n) != NNFI_OK) return fail("put_rows");
        t_puts += now_s() - p0;
        since += n;
        if (since >= every || at + n == rows) {
            if (nnfi_h5_checkpoint(r) != NNFI_OK) return fail("checkpoint");
            since = 0;
        }
        if (at + n >= next_report) {
            const nnfi_h5_checkpoint_stats *s = nnfi_h5_stats(r);
            struct stat sb;
            double mib = stat(path, &sb) == 0 ? (double)sb.st_size / (1 << 20) : 0;
            printf("  %12llu %14.2f %14.1f %10llu %10llu %12.2f %10.1f\n", (unsigned long long)(at + n),
                   1e3 * s->last_checkpoint_s, s->last_checkpoint_bytes / 1024.0, (unsigned long long)s->checkpoints,
                   (unsigned long long)s->folds, s->fold_s, mib);
            fflush(stdout);
            next_report *= 10;
            if (next_report > rows && at + n < rows) next_report = rows;
        }
    }
    nnfi_h5_checkpoint_stats s = *nnfi_h5_stats(r);
    double c0 = now_s();
    if (nnfi_h5_close(r) != NNFI_OK) return fail("close");
    double t_close = now_s() - c0, total = now_s() - t0;
    struct stat sb;
    double mib = stat(path, &sb) == 0 ? (double)sb.st_size / (1 << 20) : 0;
    printf("  total %.1f s: journal appends %.2f s (%llu, %.1f MiB, mean %.2f ms), folds %.2f s (%llu), "
           "final close (last fold) %.2f s, puts %.1f s; file %.1f MiB\n",
           total, s.append_s, (unsigned long long)s.checkpoints, s.journal_bytes / 1048576.0,
           s.checkpoints ? 1e3 * s.append_s / (double)s.checkpoints : 0.0, s.fold_s,
           (unsigned long long)s.folds, t_close, t_puts, mib);
    free(buf);
    unlink(path);
    return 0;
}

static int campaign(uint64_t rows, nnfi_campaign **c, nnfi_plan **p)
{
    char text[512];
    snprintf(text, sizeof text,
             "name: bench\nseed: 1\nmodels:\n  - name: m\n    host: null\nexperiments:\n  - name: e\n    model: m\n"
             "    groups:\n      - target: weight\n        count: 1\n    trials: %llu\n",
             (unsigned long long)rows);
    if (nnfi_campaign_load_text(text, strlen(text), "bench.yaml", c) != NNFI_OK) return fail("campaign");
    if (nnfi_plan_create(*c, NULL, p) != NNFI_OK) return fail("plan");
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t rows = argc > 1 ? strtoull(argv[1], NULL, 10) : 100000000;
    uint64_t every = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    uint64_t copy_rows = argc > 3 ? strtoull(argv[3], NULL, 10) : 10000000;
    const char *dir = argc > 4 ? argv[4] : "/tmp";
    if (!rows || !every) {
        fprintf(stderr, "usage: bench_checkpoint [rows] [every] [copy_rows] [dir]\n");
        return 2;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/bench_checkpoint_%ld.h5", dir, (long)getpid());
    nnfi_campaign *c = NULL;
    nnfi_plan *p = NULL;
    unsetenv("NNFI_FOLD_MB");
    int rc = campaign(rows, &c, &p);
    if (!rc) rc = run_case("journal (default)", path, c, p, rows, every);
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
    c = NULL;
    p = NULL;
    if (!rc && copy_rows) {
        setenv("NNFI_FOLD_MB", "0", 1);
        rc = campaign(copy_rows, &c, &p);
        if (!rc) rc = run_case("copy per checkpoint (NNFI_FOLD_MB=0)", path, c, p, copy_rows, every);
        unsetenv("NNFI_FOLD_MB");
        nnfi_plan_free(p);
        nnfi_campaign_free(c);
    }
    return rc;
}
