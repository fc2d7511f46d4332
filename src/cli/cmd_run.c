/* cmd_run.c - `nnfi run CAMPAIGN.yaml [-o OUT.h5] [--resume] [--force]`: the
 * campaign engine's command line (a plain process, or one rank of mpirun /
 * srun). Exit 0 when the campaign completed or was stopped by a signal with
 * its checkpoint written; 1 on errors; 2 on usage errors. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nnfi/registry.h"
#include "nnfi/run.h"

static const char *usage =
    "nnfi run CAMPAIGN.yaml [-o OUT.h5] [--resume | --force] [--checkpoint-every S] [--progress bar|lines|off] [--quiet] [--shard I/N] [--full-eval]";

static void print_help(void)
{
    printf("%s\n\n"
           "Run a campaign: every trial of 'nnfi plan', rows into one HDF5 file.\n"
           "Runs as one process, or under 'mpirun -np K' / 'srun --mpi=pmix' (rank 0 coordinates and writes).\n\n"
           "  -o, --output OUT.h5     result file (default: the campaign's output.path)\n"
           "  --resume                continue an interrupted result file (same campaign file only)\n"
           "  --force                 overwrite an existing result file\n"
           "  --checkpoint-every S    seconds between checkpoints (default 10)\n"
           "  --progress MODE         bar (terminal default), lines (default otherwise) or off\n"
           "  --quiet                 no summary at the end\n"
           "  --shard I/N             run only shard I of N (0-based) into its own file; 'nnfi merge' joins them\n"
           "  --full-eval             no shortcuts: every trial over every sample and layer on its own (the\n"
           "                          reference the default path equals bit for bit; slower)\n\n"
           "SIGTERM, SIGUSR1 or Ctrl-C: finish the current trials, write a checkpoint, exit 0;\n"
           "then 'nnfi run CAMPAIGN.yaml -o OUT.h5 --resume' completes the campaign.\n",
           usage);
}

/* ------------------------------------------------------------ progress -- */

typedef struct progress {
    int mode; /* 0 off, 1 bar, 2 lines */
    double last;
} progress;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* rank 0's progress: a bar on a terminal (every 0.2 s), log lines otherwise
 * (every 10 s) */
static void show_progress(void *user, const nnfi_run_progress *p)
{
    progress *pg = user;
    double t = now_s();
    if (pg->mode == 0 || (!p->final && t - pg->last < (pg->mode == 1 ? 0.2 : 10.0))) return;
    pg->last = t;
    uint64_t ran = p->done - p->done_before;
    double rate = p->elapsed_s > 0 ? (double)ran / p->elapsed_s : 0;
    double left = rate > 0 ? (double)(p->total - p->done) / rate : 0;
    double frac = p->total ? (double)p->done / (double)p->total : 1;
    if (pg->mode == 1) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %5.1f%%  %llu/%llu trials  %.1f trials/s  ETA %02d:%02d:%02d ", bar, 100 * frac,
                (unsigned long long)p->done, (unsigned long long)p->total, rate, (int)(left / 3600),
                (int)(left / 60) % 60, (int)left % 60);
        if (p->final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "nnfi: %llu/%llu trials (%.1f%%), %.1f trials/s, ETA %.0f s\n", (unsigned long long)p->done,
                (unsigned long long)p->total, 100 * frac, rate, left);
    }
    fflush(stderr);
}

int cmd_run(int argc, char **argv)
{
    int progress_mode = -1, quiet = 0;
    nnfi_run_options opt;
    memset(&opt, 0, sizeof opt);
    opt.checkpoint_every = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help();
            return CLI_OK;
        } else if (strcmp(a, "--resume") == 0) {
            opt.resume = 1;
        } else if (strcmp(a, "--force") == 0) {
            opt.force = 1;
        } else if (strcmp(a, "--full-eval") == 0) {
            opt.full_eval = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            opt.quiet = quiet = 1;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--checkpoint-every") == 0 ||
                   strcmp(a, "--progress") == 0 || strcmp(a, "--shard") == 0) {
            if (i + 1 >= argc) return cli_usage_error("run", usage, "%s needs a value", a);
            const char *v = argv[++i];
            if (a[1] == 'o' || strcmp(a, "--output") == 0) {
                opt.output = v;
            } else if (strcmp(a, "--shard") == 0) {
                unsigned si = 0, sn = 0;
                char extra;
                if (sscanf(v, "%u/%u%c", &si, &sn, &extra) != 2 || sn < 1 || sn > 65536 || si >= sn)
                    return cli_usage_error("run", usage, "--shard wants I/N with 0 <= I < N, got '%s'", v);
                opt.shard_index = si;
                opt.shard_count = sn;
            } else if (strcmp(a, "--progress") == 0) {
                if (strcmp(v, "bar") == 0) progress_mode = 1;
                else if (strcmp(v, "lines") == 0) progress_mode = 2;
                else if (strcmp(v, "off") == 0) progress_mode = 0;
                else return cli_usage_error("run", usage, "unknown progress mode '%s' (bar, lines, off)", v);
            } else {
                char *end = NULL;
                opt.checkpoint_every = strtod(v, &end);
                if (!*v || *end || !(opt.checkpoint_every > 0 && opt.checkpoint_every <= 86400))
                    return cli_usage_error("run", usage, "--checkpoint-every wants seconds in (0, 86400], got '%s'", v);
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("run", usage, "unknown option '%s'", a);
        } else if (!opt.campaign_path) {
            opt.campaign_path = a;
        } else {
            return cli_usage_error("run", usage, "unexpected argument '%s'", a);
        }
    }
    if (!opt.campaign_path) return cli_usage_error("run", usage, "no campaign file given");
    if (opt.resume && opt.force)
        return cli_usage_error("run", usage, "--resume continues a file and --force overwrites it: choose one");
    /* A file-size limit (ulimit -f) must fail the write (EFBIG), which the
     * writer reports with the file kept at its last checkpoint, instead of
     * killing the process by SIGXFSZ part way through a write. */
    signal(SIGXFSZ, SIG_IGN);
    nnfi_comm *comm = NULL;
    nnfi_status st = nnfi_comm_init(nnfi_registry_comm(), &argc, &argv, &comm);
    if (st != NNFI_OK) return cli_fail(st);
    volatile sig_atomic_t *stop_signal = cli_stop_signals();
    opt.stop = stop_signal;
    progress pg = {progress_mode >= 0 ? progress_mode : (isatty(2) ? 1 : 2), 0};
    opt.on_progress = show_progress;
    opt.progress_user = &pg;
    int rank = nnfi_comm_rank(comm), size = nnfi_comm_size(comm);
    nnfi_run_result res;
    st = nnfi_campaign_run(comm, &opt, &res);
    if (st != NNFI_OK && res.abort_job) {
        /* lost or hung ranks would hang the comm's finalize: end the job */
        int code = cli_fail(st);
        fflush(stdout);
        fflush(stderr);
        nnfi_comm_abort(comm, code);
    }
    nnfi_comm_finalize(comm);
    if (st != NNFI_OK) return cli_fail(st);
    if (rank == 0 && size > 1 && !quiet && res.golden_via)
        fprintf(stderr, "nnfi: rank 0's golden logits shared with %d ranks via %s\n", size, res.golden_via);
    if (rank == 0 && res.end == NNFI_RUN_INTERRUPTED) {
        fprintf(stderr, "nnfi: stopped by a signal after %llu of %llu trials; checkpoint written to %s\n"
                        "  resume with: nnfi run %s -o %s --resume\n",
                (unsigned long long)res.done, (unsigned long long)res.total, res.output, opt.campaign_path, res.output);
    } else if (rank == 0 && !quiet) {
        printf("nnfi run: %llu trials in %.2f s (%.1f trials/s) on %d rank(s); %llu/%llu done -> %s\n",
               (unsigned long long)res.trials_ran, res.seconds, res.seconds > 0 ? (double)res.trials_ran / res.seconds : 0,
               size, (unsigned long long)res.done, (unsigned long long)res.total, res.output);
        double wall = res.seconds + res.close_s;
        printf("nnfi run: result file: %llu checkpoint(s) while running, rank 0 blocked %.3f s in them and %.3f s closing (%.2f%% "
               "of %.2f s); journal appends %.3f s and %llu fold(s) %.3f s in the background\n",
               (unsigned long long)res.checkpoints, res.checkpoint_blocked_s, res.close_s,
               wall > 0 ? 100 * (res.checkpoint_blocked_s + res.close_s) / wall : 0.0, wall, res.append_s,
               (unsigned long long)(res.folds - 1), res.fold_s);
    }
    if (res.rank == 0 && res.end == NNFI_RUN_COMPLETE && !opt.quiet) {
        /* the one-screen summary is the file's own, as 'nnfi inspect' shows it */
        char *iargv[] = {(char *)"inspect", res.output, NULL};
        printf("\n");
        return cmd_inspect(2, iargv);
    }
    return CLI_OK;
}
