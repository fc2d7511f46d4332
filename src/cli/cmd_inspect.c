/* cmd_inspect.c - `nnfi inspect OUT.h5 [--format table|json]`: what a result
 * file holds. The root provenance (nnfi version, git sha, seed, config hash,
 * world size, created), progress, and per experiment and point: trials done /
 * planned, mean accuracy and mean accuracy drop with the half-width of a 95%
 * Student-t interval, the SDC rate (trials with sdc > 0) and the DUE rate
 * (trials with due != 0) with 95% Wilson intervals, and the mean critical SDC
 * samples per trial. Only rows whose `done` is set count. The file is read
 * through the reader API (nnfi/h5_reader.h; this file only computes and
 * prints); it may be one a run is still writing, since the writer keeps it
 * closed between checkpoints. */
#include "cli.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nnfi/h5_reader.h"
#include "inspect_patterns.h"
#include "inspect_search.h"

static const char *usage = "nnfi inspect OUT.h5 [--format table|json] [--verify]";

#define BLOCK 65536u

typedef struct point_stats {
    uint32_t experiment, point;
    double x;
    int is_rate;
    uint64_t first, planned;
    uint64_t n;                  /* done trials */
    double acc_mean, acc_m2;     /* Welford */
    double drop_mean, drop_m2;
    uint64_t k_sdc, k_due;
    double crit_sum;
} point_stats;

typedef struct experiment_info {
    char *name, *model;
    uint64_t first, trials, done;
    uint32_t n_points;
} experiment_info;

typedef struct inspect {
    const char *path;
    nnfi_h5_file *f;
    char nnfi_version[64], git_sha[64], created[64], config_path[1024], campaign[256], last_checkpoint[64];
    char slurm_job[64], slurm_array_job[64], slurm_array_task[64];
    int32_t schema, world_size;
    uint64_t seed, hash, total, progress_done, checkpoints, journal_checkpoints, journal_rows;
    size_t n_exp, n_pts;
    experiment_info *exp;
    point_stats *pts;
} inspect;

/* ---------------------------------------------------------------- reading -- */

static nnfi_status bad_file(const char *path, const char *what)
{
    return NNFI_FAIL(NNFI_E_IO, "%s: %s\n  hint: the file is damaged or was not written by this nnfi; 'h5ls -r %s' "
                                "shows what it holds",
                     path, what, path);
}

#define COPY_TEXT(buf, s) snprintf(buf, sizeof buf, "%s", (s) ? (s) : "")

static nnfi_status read_meta(inspect *in)
{
    const nnfi_h5_file_info *info = nnfi_h5_file_info_of(in->f);
    in->schema = info->schema_version;
    in->hash = info->config_hash;
    in->seed = info->seed;
    in->world_size = info->world_size >= 0 ? info->world_size : 0;
    COPY_TEXT(in->nnfi_version, info->nnfi_version);
    COPY_TEXT(in->git_sha, info->git_sha);
    COPY_TEXT(in->created, info->created);
    COPY_TEXT(in->config_path, info->config_path);
    COPY_TEXT(in->campaign, info->campaign);
    COPY_TEXT(in->slurm_job, info->slurm_job_id);
    COPY_TEXT(in->slurm_array_job, info->slurm_array_job_id);
    COPY_TEXT(in->slurm_array_task, info->slurm_array_task_id);
    COPY_TEXT(in->last_checkpoint, info->last_checkpoint);
    in->progress_done = info->progress_done;
    in->checkpoints = info->checkpoints;
    in->journal_checkpoints = info->journal_checkpoints;
    in->journal_rows = info->journal_rows;
    in->total = info->trials;

    nnfi_h5_plan_tables t;
    nnfi_status st = nnfi_h5_read_plan_tables(in->f, &t);
    if (st != NNFI_OK) goto out;
    in->n_exp = t.n_experiments;
    in->n_pts = t.n_points;
    in->exp = calloc(in->n_exp ? in->n_exp : 1, sizeof *in->exp);
    in->pts = calloc(in->n_pts ? in->n_pts : 1, sizeof *in->pts);
    if (!in->exp || !in->pts) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", in->path);
        goto out;
    }
    for (size_t e = 0; e < in->n_exp; e++) {
        nnfi_h5_experiment_row *x = &t.experiments[e];
        in->exp[e].name = x->name;
        in->exp[e].model = x->model;
        x->name = x->model = NULL;
        in->exp[e].first = x->first_trial;
        in->exp[e].trials = x->trials;
        in->exp[e].n_points = x->n_points;
    }
    for (size_t q = 0; q < in->n_pts; q++) {
        const nnfi_h5_point_row *r = &t.points[q];
        point_stats *p = &in->pts[q];
        p->experiment = r->experiment;
        p->point = r->point;
        p->x = r->x;
        p->is_rate = r->is_rate;
        p->first = r->first_trial;
        p->planned = r->trials;
        if (p->experiment >= in->n_exp || p->first > in->total || p->planned > in->total - p->first) {
            st = bad_file(in->path, "/points names trials outside /trials");
            goto out;
        }
    }
out:
    nnfi_h5_plan_tables_free(&t);
    return st;
}

/* Accumulate the done rows of every point, a block at a time. */
static nnfi_status read_stats(inspect *in)
{
    uint8_t *done = malloc(BLOCK), *due = malloc(BLOCK);
    double *acc = malloc(BLOCK * sizeof *acc), *drop = malloc(BLOCK * sizeof *drop);
    uint64_t *sdc = malloc(BLOCK * sizeof *sdc), *crit = malloc(BLOCK * sizeof *crit);
    nnfi_status st = NNFI_OK;
    if (!done || !due || !acc || !drop || !sdc || !crit) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", in->path);
        goto out;
    }
    for (size_t q = 0; q < in->n_pts; q++) {
        point_stats *p = &in->pts[q];
        for (uint64_t at = 0; at < p->planned; at += BLOCK) {
            uint64_t start = p->first + at, count = p->planned - at < BLOCK ? p->planned - at : BLOCK;
            if ((st = nnfi_h5_read_trials(in->f, "done", start, count, done)) != NNFI_OK ||
                (st = nnfi_h5_read_trials(in->f, "accuracy", start, count, acc)) != NNFI_OK ||
                (st = nnfi_h5_read_trials(in->f, "accuracy_drop", start, count, drop)) != NNFI_OK ||
                (st = nnfi_h5_read_trials(in->f, "sdc", start, count, sdc)) != NNFI_OK ||
                (st = nnfi_h5_read_trials(in->f, "critical_sdc", start, count, crit)) != NNFI_OK ||
                (st = nnfi_h5_read_trials(in->f, "due", start, count, due)) != NNFI_OK)
                goto out;
            for (uint64_t i = 0; i < count; i++) {
                if (!done[i]) continue;
                p->n++;
                double d = acc[i] - p->acc_mean;
                p->acc_mean += d / (double)p->n;
                p->acc_m2 += d * (acc[i] - p->acc_mean);
                d = drop[i] - p->drop_mean;
                p->drop_mean += d / (double)p->n;
                p->drop_m2 += d * (drop[i] - p->drop_mean);
                p->k_sdc += sdc[i] > 0;
                p->k_due += due[i] != 0;
                p->crit_sum += (double)crit[i];
            }
        }
        if (p->experiment < in->n_exp) in->exp[p->experiment].done += p->n;
    }
out:
    free(done);
    free(due);
    free(acc);
    free(drop);
    free(sdc);
    free(crit);
    return st;
}

/* ------------------------------------------------------------ statistics -- */

/* Two-sided 95% Student-t quantile for df degrees of freedom. */
static double t95(uint64_t df)
{
    static const double table[30] = {
        12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469118, 2.3646243, 2.3060041, 2.2621572, 2.2281389,
        2.2009852,  2.1788128, 2.1603687, 2.1447867, 2.1314495, 2.1199053, 2.1098156, 2.1009220, 2.0930241, 2.0859634,
        2.0796138,  2.0738731, 2.0686576, 2.0638986, 2.0595386, 2.0555294, 2.0518305, 2.0484071, 2.0452296, 2.0422725};
    if (df == 0) return NAN;
    if (df <= 30) return table[df - 1];
    /* Cornish-Fisher expansion around the normal quantile (error < 2e-6 from df 31 on) */
    double z = 1.959963984540054, v = (double)df, z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z;
    return z + (z3 + z) / (4 * v) + (5 * z5 + 16 * z3 + 3 * z) / (96 * v * v) +
           (3 * z7 + 19 * z5 + 17 * z3 - 15 * z) / (384 * v * v * v);
}

static double half_width(double m2, uint64_t n)
{
    if (n < 2) return NAN;
    return t95(n - 1) * sqrt(m2 / (double)(n - 1)) / sqrt((double)n);
}

/* -------------------------------------------------------------- printing -- */

static void json_num(double v)
{
    if (isfinite(v)) printf("%.10g", v);
    else printf("null");
}

static void json_rate(const char *key, uint64_t k, uint64_t n)
{
    double lo, hi;
    nnfi_wilson_interval(k, n, 0.95, &lo, &hi);
    printf("\"%s\": {\"k\": %" PRIu64 ", \"p\": ", key, k);
    json_num(n ? (double)k / (double)n : NAN);
    printf(", \"lo\": ");
    json_num(n ? lo : NAN);
    printf(", \"hi\": ");
    json_num(n ? hi : NAN);
    printf("}");
}

static void json_opt_str(const char *key, const char *v)
{
    printf(",\n  \"%s\": ", key);
    if (v[0]) cli_json_string(stdout, v);
    else printf("null");
}

static void print_json(const inspect *in)
{
    printf("{\n  \"file\": ");
    cli_json_string(stdout, in->path);
    json_opt_str("campaign", in->campaign);
    json_opt_str("nnfi_version", in->nnfi_version);
    json_opt_str("git_sha", in->git_sha);
    printf(",\n  \"schema_version\": %d,\n  \"seed\": %" PRIu64 ",\n  \"config_hash\": \"%016" PRIx64 "\"", (int)in->schema,
           in->seed, in->hash);
    json_opt_str("config_path", in->config_path);
    printf(",\n  \"world_size\": %d", (int)in->world_size);
    json_opt_str("slurm_job_id", in->slurm_job);
    json_opt_str("slurm_array_job_id", in->slurm_array_job);
    json_opt_str("slurm_array_task_id", in->slurm_array_task);
    json_opt_str("created", in->created);
    json_opt_str("last_checkpoint", in->last_checkpoint);
    uint64_t done = 0;
    for (size_t e = 0; e < in->n_exp; e++) done += in->exp[e].done;
    printf(",\n  \"checkpoints\": %" PRIu64 ",\n  \"journal_checkpoints\": %" PRIu64 ",\n  \"trials_done\": %" PRIu64
           ",\n  \"trials\": %" PRIu64 ",\n  \"experiments\": [",
           in->checkpoints, in->journal_checkpoints, done, in->total);
    for (size_t e = 0; e < in->n_exp; e++) {
        const experiment_info *x = &in->exp[e];
        printf("%s\n    {\"index\": %zu, \"name\": ", e ? "," : "", e);
        cli_json_string(stdout, x->name);
        printf(", \"model\": ");
        cli_json_string(stdout, x->model);
        printf(", \"first_trial\": %" PRIu64 ", \"trials_done\": %" PRIu64 ", \"trials\": %" PRIu64 ", \"points\": [",
               x->first, x->done, x->trials);
        int any = 0;
        for (size_t q = 0; q < in->n_pts; q++) {
            const point_stats *p = &in->pts[q];
            if (p->experiment != e) continue;
            printf("%s\n      {\"point\": %u, \"x\": ", any++ ? "," : "", p->point);
            json_num(p->x);
            printf(", \"is_rate\": %s, \"first_trial\": %" PRIu64 ", \"trials_done\": %" PRIu64 ", \"trials\": %" PRIu64,
                   p->is_rate ? "true" : "false", p->first, p->n, p->planned);
            printf(",\n       \"accuracy\": {\"mean\": ");
            json_num(p->n ? p->acc_mean : NAN);
            printf(", \"half_width\": ");
            json_num(half_width(p->acc_m2, p->n));
            printf("}, \"accuracy_drop\": {\"mean\": ");
            json_num(p->n ? p->drop_mean : NAN);
            printf(", \"half_width\": ");
            json_num(half_width(p->drop_m2, p->n));
            printf("},\n       ");
            json_rate("sdc_rate", p->k_sdc, p->n);
            printf(", ");
            json_rate("due_rate", p->k_due, p->n);
            printf(", \"critical_sdc_per_trial\": ");
            json_num(p->n ? p->crit_sum / (double)p->n : NAN);
            printf("}");
        }
        printf("%s]}", any ? "\n    " : "");
    }
    printf("%s]\n}\n", in->n_exp ? "\n  " : "");
}

static void fmt_mean(char *buf, size_t n, double mean, double hw, uint64_t count)
{
    if (!count) snprintf(buf, n, "-");
    else if (!isfinite(hw)) snprintf(buf, n, "%.4f", mean);
    else snprintf(buf, n, "%.4f ± %.4f", mean, hw);
}

static void fmt_rate(char *buf, size_t n, uint64_t k, uint64_t count)
{
    if (!count) {
        snprintf(buf, n, "-");
        return;
    }
    double lo, hi;
    nnfi_wilson_interval(k, count, 0.95, &lo, &hi);
    snprintf(buf, n, "%.3f [%.3f, %.3f]", (double)k / (double)count, lo, hi);
}

/* printf pads by bytes; '±' is two bytes and one column */
static void print_cell(const char *s, int width)
{
    int len = 0;
    for (const char *c = s; *c; c++) len += ((unsigned char)*c & 0xC0) != 0x80;
    printf("%s%*s", s, width > len ? width - len : 0, "");
}

static void print_table(const inspect *in)
{
    uint64_t done = 0;
    for (size_t e = 0; e < in->n_exp; e++) done += in->exp[e].done;
    printf("file        %s\n", in->path);
    printf("campaign    %s  (%s)  config hash %016" PRIx64 "\n", in->campaign[0] ? in->campaign : "?",
           in->config_path[0] ? in->config_path : "?", in->hash);
    printf("nnfi        %s (git %s), schema %d, created %s\n", in->nnfi_version[0] ? in->nnfi_version : "?",
           in->git_sha[0] ? in->git_sha : "?", (int)in->schema, in->created[0] ? in->created : "?");
    printf("seed        %" PRIu64 "  world size %d", in->seed, (int)in->world_size);
    if (in->slurm_job[0]) printf("  slurm job %s", in->slurm_job);
    if (in->slurm_array_job[0]) printf("  array %s_%s", in->slurm_array_job, in->slurm_array_task[0] ? in->slurm_array_task : "?");
    printf("\nprogress    %" PRIu64 " / %" PRIu64 " trials done, %" PRIu64 " checkpoint(s)%s%s\n", done, in->total,
           in->checkpoints, in->last_checkpoint[0] ? ", last " : "", in->last_checkpoint);
    if (in->journal_checkpoints)
        printf("journal     %" PRIu64 " checkpoint(s), %" PRIu64 " rows in %s.journal, not yet folded into the file "
               "(a running or killed campaign; --resume folds them)\n",
               in->journal_checkpoints, in->journal_rows, in->path);
    for (size_t e = 0; e < in->n_exp; e++) {
        const experiment_info *x = &in->exp[e];
        printf("\nexperiment %zu '%s' (model %s): %" PRIu64 " / %" PRIu64 " trials done\n", e, x->name, x->model,
               x->done, x->trials);
        nnfi_h5_golden_info gi;
        if (nnfi_h5_read_golden(in->f, x->model, 0, &gi) == NNFI_OK && gi.positions > 1)
            printf("  outcomes per (sample, position): %" PRIu64 " samples x %u positions = %" PRIu64
                   " compared rows (a class per position)\n",
                   gi.samples, gi.positions, gi.samples * gi.positions);
        printf("  %-6s %-12s %-14s ", "point", "swept", "done/planned");
        print_cell("accuracy ± 95%", 20);
        print_cell("drop ± 95%", 20);
        printf("%-24s %-24s %s\n", "SDC rate [95% CI]", "DUE rate [95% CI]", "crit SDC/trial");
        for (size_t q = 0; q < in->n_pts; q++) {
            const point_stats *p = &in->pts[q];
            if (p->experiment != e) continue;
            char swept[32], dp[48], acc[48], drop[48], sdc[48], due[48], crit[32];
            if (p->is_rate) snprintf(swept, sizeof swept, "rate %g", p->x);
            else if (p->x != 0) snprintf(swept, sizeof swept, "N %.0f", p->x);
            else snprintf(swept, sizeof swept, "-");
            snprintf(dp, sizeof dp, "%" PRIu64 "/%" PRIu64, p->n, p->planned);
            fmt_mean(acc, sizeof acc, p->acc_mean, half_width(p->acc_m2, p->n), p->n);
            fmt_mean(drop, sizeof drop, p->drop_mean, half_width(p->drop_m2, p->n), p->n);
            fmt_rate(sdc, sizeof sdc, p->k_sdc, p->n);
            fmt_rate(due, sizeof due, p->k_due, p->n);
            if (p->n) snprintf(crit, sizeof crit, "%.3f", p->crit_sum / (double)p->n);
            else snprintf(crit, sizeof crit, "-");
            printf("  %-6u %-12s %-14s ", p->point, swept, dp);
            print_cell(acc, 20);
            print_cell(drop, 20);
            printf("%-24s %-24s %s\n", sdc, due, crit);
        }
    }
    /* hardware fault models: outcomes by pattern, FIT contributions */
    uint64_t *first = malloc((in->n_exp ? in->n_exp : 1) * sizeof *first);
    uint64_t *trials = malloc((in->n_exp ? in->n_exp : 1) * sizeof *trials);
    char **names = malloc((in->n_exp ? in->n_exp : 1) * sizeof *names);
    if (first && trials && names) {
        for (size_t e = 0; e < in->n_exp; e++)
            first[e] = in->exp[e].first, trials[e] = in->exp[e].trials, names[e] = in->exp[e].name;
        inspect_print_patterns(in->f, in->n_exp, first, trials, names);
    }
    free(first);
    free(trials);
    free(names);
}

/* ------------------------------------------------------------------ main -- */

/* --verify: every dataset read back through its checksums. */
static int verify_file(const char *path)
{
    nnfi_h5_file *f = NULL;
    uint64_t datasets = 0, bytes = 0;
    nnfi_status st = nnfi_h5_open(path, "nnfi inspect reads the result files 'nnfi run' writes (.h5)", &f);
    if (st == NNFI_OK) st = nnfi_h5_verify(f, &datasets, &bytes);
    nnfi_h5_file_close(f);
    if (st != NNFI_OK) return cli_fail(st);
    printf("%s: %llu datasets (%.1f MiB) read back, every checksum good\n", path, (unsigned long long)datasets,
           (double)bytes / 1048576.0);
    return CLI_OK;
}

static nnfi_status open_result(inspect *in)
{
    struct stat sb;
    if (stat(in->path, &sb) != 0)
        return NNFI_FAIL(NNFI_E_IO, "%s: no such file\n  hint: give the result file 'nnfi run' wrote (-o, or "
                                    "output.path of the campaign)",
                         in->path);
    NNFI_TRY(nnfi_h5_open(in->path, "nnfi inspect reads the result files 'nnfi run' writes (.h5)", &in->f));
    NNFI_TRY(read_meta(in));
    return read_stats(in);
}

int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL;
    cli_format fmt = CLI_TABLE;
    int verify = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s\n\nSummarise a result file: provenance, progress, and per experiment and point the trials\n"
                   "done/planned, mean accuracy and accuracy drop (± 95%% t-interval half-width), SDC rate\n"
                   "(trials with sdc > 0) and DUE rate (trials with due != 0) with 95%% Wilson intervals, and\n"
                   "the mean critical SDC samples per trial. Works on files a run is still writing.\n\n"
                   "  --format table|json   output format (default table)\n"
                   "  --verify              read every dataset back through its Fletcher-32 checksums instead;\n"
                   "                        exit 1 naming the first damaged dataset\n",
                   usage);
            return CLI_OK;
        } else if (strcmp(a, "--format") == 0 || strncmp(a, "--format=", 9) == 0) {
            const char *v = a[8] == '=' ? a + 9 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) return cli_usage_error("inspect", usage, "--format needs a value (table or json)");
            if (cli_parse_format(v, &fmt) != 0 || fmt == CLI_CSV)
                return cli_usage_error("inspect", usage, "unknown format '%s' (table or json)", v);
        } else if (strcmp(a, "--verify") == 0) {
            verify = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("inspect", usage, "unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return cli_usage_error("inspect", usage, "unexpected argument '%s'", a);
        }
    }
    if (!path) return cli_usage_error("inspect", usage, "no result file given");
    if (verify) return verify_file(path);

    struct stat sb;
    if (stat(path, &sb) == 0) { /* a file of `nnfi search`: its own summary */
        nnfi_search_summary *ss = NULL;
        size_t ns = 0;
        nnfi_status sst = nnfi_h5_search_summaries(path, &ss, &ns);
        if (sst != NNFI_OK) return cli_fail(sst);
        if (ns) {
            inspect_search_print(path, ss, ns, fmt);
            free(ss);
            return CLI_OK;
        }
    }
    inspect in;
    memset(&in, 0, sizeof in);
    in.path = path;
    nnfi_status st = open_result(&in);
    int rc = CLI_OK;
    if (st != NNFI_OK) rc = cli_fail(st);
    else if (fmt == CLI_JSON) print_json(&in);
    else print_table(&in);
    nnfi_h5_file_close(in.f);
    for (size_t e = 0; in.exp && e < in.n_exp; e++) {
        free(in.exp[e].name);
        free(in.exp[e].model);
    }
    free(in.exp);
    free(in.pts);
    return rc;
}
