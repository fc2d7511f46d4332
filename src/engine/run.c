/* run.c - a campaign run across ranks (see run.h).
 *
 * Rank 0 is coordinator, writer and worker at once: between its own trials it
 * drains the reports that other ranks sent (rows of finished trials), buffers
 * the rows for the result file, and answers requests for work with the next
 * range of not-yet-done trial indices. Range sizes are guided (remaining /
 * (2 x ranks), so early ranges are large and the last ones small), which
 * keeps fast ranks busy and lets no slow rank hold the end of the campaign.
 * Rank 0 serves between trials rather than from a second thread: a trial is
 * the unit of latency (milliseconds to seconds), MPI stays single-threaded,
 * and nothing in the worker needs locking.
 *
 * Results do not depend on the number of ranks: rows are written at their
 * trial index and every trial's faults come from (seed, indices) alone.
 *
 * Stopping: SIGTERM, SIGUSR1 and SIGINT set a flag. A rank that sees it
 * finishes its current trial, reports its rows with STOPPING, and leaves
 * when rank 0 answers with an empty range; rank 0 stops handing out work,
 * collects what is in flight, writes a checkpoint and returns INTERRUPTED.
 */
#include "nnfi/run.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nnfi/comm.h"
#include "nnfi/dispatch.h"
#include "nnfi/golden_sync.h"
#include "nnfi/build_info.h"
#include "nnfi/config.h"
#include "nnfi/h5_results.h"
#include "nnfi/plan.h"
#include "nnfi/topology.h"
#include "nnfi/worker.h"

#define MAX_RANGE 65536u /* rows a worker buffers (the dispatcher's largest range) */
#define REPORT_EVERY_S 1.0

/* The caller's stop flag (nnfi_run_options.stop): the signal number once a
 * stop was asked for, else 0. The CLI's signal handlers set it. */
static const volatile sig_atomic_t *stop_flag;
static const volatile sig_atomic_t no_stop;
#define stop_signal (*stop_flag)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ progress -- */

typedef struct progress {
    int mode; /* 0 off, 1 bar, 2 lines */
    double start, last;
    uint64_t total, done_before, done;
} progress;

static void progress_show(progress *pg, int final)
{
    double t = now_s();
    if (pg->mode == 0 || (!final && t - pg->last < (pg->mode == 1 ? 0.2 : 10.0))) return;
    pg->last = t;
    uint64_t ran = pg->done - pg->done_before;
    double rate = t > pg->start ? (double)ran / (t - pg->start) : 0;
    double left = rate > 0 ? (double)(pg->total - pg->done) / rate : 0;
    double frac = pg->total ? (double)pg->done / (double)pg->total : 1;
    if (pg->mode == 1) {
        char bar[31];
        int fill = (int)(frac * 30);
        for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        fprintf(stderr, "\r[%s] %5.1f%%  %llu/%llu trials  %.1f trials/s  ETA %02d:%02d:%02d ", bar, 100 * frac,
                (unsigned long long)pg->done, (unsigned long long)pg->total, rate, (int)(left / 3600),
                (int)(left / 60) % 60, (int)left % 60);
        if (final) fputc('\n', stderr);
    } else {
        fprintf(stderr, "nnfi: %llu/%llu trials (%.1f%%), %.1f trials/s, ETA %.0f s\n", (unsigned long long)pg->done,
                (unsigned long long)pg->total, 100 * frac, rate, left);
    }
    fflush(stderr);
}

/* ----------------------------------------------------------------- rank 0 -- */

typedef struct coordinator {
    nnfi_comm *comm;
    const nnfi_campaign *c;
    const nnfi_plan *plan;
    nnfi_worker *worker;
    nnfi_h5_results *h5;
    nnfi_dispatch *d;
    progress pg;
    int stopping;
    int failed_rank;
    int *waiting;  /* ranks whose request waits for a stopping rule's prefix */
    int n_waiting;
    char *gone;    /* [rank]: 1 once the rank left (got its empty range, or failed) */
    double max_trial_s;
    const char *campaign_path, *out; /* for the resume hints */
} coordinator;

static nnfi_status take_rows(coordinator *co, const nnfi_trial_row *rows, size_t n)
{
    NNFI_TRY(nnfi_h5_put_rows(co->h5, rows, n));
    for (size_t i = 0; i < n; i++) {
        nnfi_dispatch_finished(co->d, &rows[i]);
        co->pg.done++;
        if (rows[i].wall_s > co->max_trial_s) co->max_trial_s = rows[i].wall_s;
        if (rows[i].n_faults <= co->c->output->faults_max_n) {
            const nnfi_fault *f;
            uint64_t nf;
            NNFI_TRY(nnfi_worker_faults(co->worker, rows[i].trial, &f, &nf));
            NNFI_TRY(nnfi_h5_put_faults(co->h5, rows[i].trial, f, nf));
        }
    }
    return NNFI_OK;
}

/* Answer rank src: the next range, an empty range (no more work: it
 * leaves), or nothing yet (it waits while a stopping rule needs rows). */
static nnfi_status answer(coordinator *co, int src, int *active)
{
    uint64_t lo = 0, hi = 0;
    nnfi_next nx = co->stopping ? NNFI_NEXT_END : nnfi_dispatch_next(co->d, 1, &lo, &hi);
    if (nx == NNFI_NEXT_WAIT) {
        co->waiting[co->n_waiting++] = src;
        return NNFI_OK;
    }
    NNFI_TRY(nnfi_comm_send_range(co->comm, src, lo, hi));
    if (nx == NNFI_NEXT_END) {
        (*active)--;
        co->gone[src] = 1;
    }
    return NNFI_OK;
}

/* Drain every pending report, then retry the ranks that wait; *active
 * counts ranks still working. */
static nnfi_status serve(coordinator *co, int *active)
{
    for (;;) {
        int got = 0, src = 0;
        const nnfi_trial_row *rows = NULL;
        size_t n = 0;
        unsigned flags = 0;
        NNFI_TRY(nnfi_comm_poll_report(co->comm, &got, &src, &rows, &n, &flags));
        if (!got) break;
        NNFI_TRY(take_rows(co, rows, n));
        if (flags & NNFI_REPORT_STOPPING) co->stopping = 1;
        if (flags & NNFI_REPORT_FAILED) {
            co->stopping = 1;
            co->failed_rank = src;
            co->gone[src] = 1;
            (*active)--;
            continue;
        }
        if (flags & NNFI_REPORT_WANTS_WORK) NNFI_TRY(answer(co, src, active));
    }
    int n = co->n_waiting;
    co->n_waiting = 0;
    for (int i = 0; i < n; i++) NNFI_TRY(answer(co, co->waiting[i], active));
    return NNFI_OK;
}

/* How long rank 0 waits, once stopping, for the other ranks to hand in their
 * trials in flight: NNFI_STOP_DEADLINE_S if set (tests), else 60 s plus three
 * times the slowest trial seen. */
static double stop_deadline_s(const coordinator *co)
{
    const char *e = getenv("NNFI_STOP_DEADLINE_S");
    double v = e ? strtod(e, NULL) : 0;
    return v > 0 ? v : 60 + 3 * co->max_trial_s;
}

static nnfi_status coordinate(coordinator *co, double checkpoint_every)
{
    int active = nnfi_comm_size(co->comm) - 1;
    uint64_t own_lo = 0, own_hi = 0;
    double last_ckpt = now_s();
    nnfi_trial_row row;
    nnfi_status failed = NNFI_OK;
    double stop_at = 0;
    for (;;) {
        if (stop_signal) co->stopping = 1;
        if (co->stopping && stop_at == 0) {
            /* Checkpoint now, before waiting for the trials in flight: under
             * mpirun a signal often means the job is being torn down (a lost
             * rank makes mpirun kill the others), and SIGKILL may follow. */
            stop_at = now_s();
            if (stop_signal && !failed && (failed = nnfi_h5_checkpoint(co->h5)) == NNFI_OK && active > 0)
                fprintf(stderr, "nnfi: signal %d: stopping; %llu trials saved in %s; waiting for the trials in flight on "
                                "other ranks\n  if the job ends first, continue with: nnfi run %s -o %s --resume\n",
                        (int)stop_signal, (unsigned long long)co->pg.done, co->out, co->campaign_path, co->out);
        }
        /* Every blocking wait has a deadline: a rank that does not answer a
         * stop (lost, hung or stopped) must not hang the job. */
        double deadline = stop_deadline_s(co);
        if (co->stopping && active > 0 && now_s() - stop_at > deadline) {
            char lost[256] = "";
            size_t used = 0;
            for (int r = 1; r < nnfi_comm_size(co->comm) && used + 16 < sizeof lost; r++)
                if (!co->gone[r]) used += (size_t)snprintf(lost + used, sizeof lost - used, "%s%d", used ? ", " : "", r);
            if (!failed) nnfi_h5_checkpoint(co->h5);
            return NNFI_FAIL(NNFI_E_TIMEOUT, "rank(s) %s did not answer within %.0f s of the stop (lost, hung or "
                                             "stopped); the %llu trials received are saved in %s\n  hint: check "
                                             "those ranks' nodes, then continue with: nnfi run %s -o %s --resume",
                             lost, deadline, (unsigned long long)co->pg.done, co->out, co->campaign_path, co->out);
        }
        NNFI_TRY(serve(co, &active));
        nnfi_next nx = NNFI_NEXT_RANGE;
        if (co->stopping) own_lo = own_hi; /* abandon the rest of the own range */
        else if (own_lo == own_hi) nx = nnfi_dispatch_next(co->d, 4, &own_lo, &own_hi);
        if (own_lo < own_hi) {
            NNFI_TRY(nnfi_worker_run_trial(co->worker, own_lo, &row));
            NNFI_TRY(take_rows(co, &row, 1));
            own_lo++;
        } else if (active == 0 && (co->stopping || nx == NNFI_NEXT_END)) {
            break;
        } else {
            struct timespec nap = {0, 100000}; /* waiting for the other ranks */
            nanosleep(&nap, NULL);
        }
        if (!failed && now_s() - last_ckpt >= checkpoint_every) {
            /* a failed checkpoint (a full disk) keeps the file at the last
             * good one: stop the other ranks the way a signal does instead of
             * leaving them waiting, then report it */
            if ((failed = nnfi_h5_checkpoint(co->h5)) != NNFI_OK) {
                fprintf(stderr, "nnfi: a checkpoint failed: stopping every rank\n");
                co->stopping = 1;
            }
            last_ckpt = now_s();
        }
        co->pg.total = nnfi_dispatch_expected(co->d);
        progress_show(&co->pg, 0);
    }
    co->pg.total = nnfi_dispatch_expected(co->d);
    progress_show(&co->pg, 1);
    return failed;
}

/* ---------------------------------------------------------- other ranks -- */

static nnfi_status work(nnfi_comm *comm, nnfi_worker *w)
{
    nnfi_trial_row *rows = malloc(MAX_RANGE * sizeof *rows);
    if (!rows) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = nnfi_comm_send_report(comm, NULL, 0, NNFI_REPORT_WANTS_WORK);
    while (st == NNFI_OK) {
        uint64_t lo, hi;
        if ((st = nnfi_comm_recv_range(comm, &lo, &hi)) != NNFI_OK || lo == hi) break;
        size_t n = 0;
        double last = now_s();
        unsigned flags = NNFI_REPORT_WANTS_WORK;
        for (uint64_t t = lo; t < hi; t++) {
            if (stop_signal) {
                flags |= NNFI_REPORT_STOPPING;
                break;
            }
            st = nnfi_worker_run_trial(w, t, &rows[n]);
            if (st != NNFI_OK) break;
            n++;
            if (now_s() - last >= REPORT_EVERY_S && t + 1 < hi) { /* stream rows back: fresher checkpoints */
                if ((st = nnfi_comm_send_report(comm, rows, n, 0)) != NNFI_OK) break;
                n = 0;
                last = now_s();
            }
        }
        if (st != NNFI_OK) {
            fprintf(stderr, "nnfi: rank error: %s\n", nnfi_error_message());
            nnfi_comm_send_report(comm, rows, n, NNFI_REPORT_FAILED);
            break;
        }
        st = nnfi_comm_send_report(comm, rows, n, flags);
    }
    free(rows);
    return st;
}

/* ------------------------------------------------------------------ setup -- */

/* The campaign text, read with the loader's bounded read (fstat first: no
 * directory, nothing over NNFI_CONFIG_MAX_BYTES read whole). */
static nnfi_status read_file(const char *path, char **text, uint64_t *len)
{
    size_t n = 0;
    *text = NULL;
    NNFI_TRY(nnfi_campaign_read_file(path, text, &n));
    *len = n;
    return NNFI_OK;
}

/* Slurm's task count must match the MPI world (a job launched without srun
 * or with the wrong launcher would silently duplicate or skip work). */
static nnfi_status check_slurm(int size)
{
    const char *ntasks = getenv("SLURM_NTASKS"), *job = getenv("SLURM_JOB_ID");
    if (!ntasks || !job || !*ntasks) return NNFI_OK;
    long n = strtol(ntasks, NULL, 10);
    if (n == size) return NNFI_OK;
    return NNFI_FAIL(NNFI_E_INVALID,
                     "MPI world size %d differs from SLURM_NTASKS=%ld (job %s)\n  hint: launch with 'srun --mpi=pmix nnfi run ...' or 'mpirun nnfi run ...' inside the allocation, one rank per task",
                     size, n, job);
}

/* Feed the dispatcher the trials a previous run finished, with the columns
 * its stopping rules watch. */
static nnfi_status resume_dispatch(nnfi_h5_results *h5, const nnfi_plan *plan, nnfi_dispatch *d)
{
    uint64_t t = plan->total_trials ? plan->total_trials : 1;
    uint8_t *done = malloc(t), *due = malloc(t);
    uint64_t *sdc = malloc(t * sizeof *sdc), *crit = malloc(t * sizeof *crit);
    double *drop = malloc(t * sizeof *drop);
    nnfi_status st = done && due && sdc && crit && drop ? NNFI_OK : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    if (st == NNFI_OK) st = nnfi_h5_read_column(h5, "done", done);
    if (st == NNFI_OK) st = nnfi_h5_read_column(h5, "due", due);
    if (st == NNFI_OK) st = nnfi_h5_read_column(h5, "sdc", sdc);
    if (st == NNFI_OK) st = nnfi_h5_read_column(h5, "critical_sdc", crit);
    if (st == NNFI_OK) st = nnfi_h5_read_column(h5, "accuracy_drop", drop);
    for (uint64_t i = 0; st == NNFI_OK && i < plan->total_trials; i++) {
        if (!done[i]) continue;
        nnfi_trial_row row;
        memset(&row, 0, sizeof row);
        row.trial = i;
        row.done = 1;
        row.due = due[i];
        row.sdc = sdc[i];
        row.critical_sdc = crit[i];
        row.accuracy_drop = drop[i];
        nnfi_dispatch_finished(d, &row);
    }
    free(done);
    free(due);
    free(sdc);
    free(crit);
    free(drop);
    return st;
}

/* Every rank learns whether every rank succeeded; a rank that did fine while
 * another failed gets a status saying so. Returns 1 when all are fine. */
static int agree(nnfi_comm *comm, nnfi_status *st)
{
    int all_ok = 0;
    nnfi_status cs = nnfi_comm_all_ok(comm, *st == NNFI_OK, &all_ok);
    if (*st != NNFI_OK) return 0;
    if (cs != NNFI_OK) {
        *st = cs;
        return 0;
    }
    if (!all_ok) *st = NNFI_FAIL(NNFI_E_BACKEND, "another rank failed (its message is above)\n  hint: fix that error and rerun");
    return all_ok;
}

nnfi_status nnfi_campaign_run(nnfi_comm *comm, const nnfi_run_options *opt, nnfi_run_result *res)
{
    memset(res, 0, sizeof *res);
    stop_flag = opt->stop ? opt->stop : &no_stop;
    nnfi_run_end *end = &res->end;
    int rank = nnfi_comm_rank(comm), size = nnfi_comm_size(comm);
    res->rank = rank;
    {
        int local = 0;
        const char *source = "none";
        NNFI_TRY(nnfi_comm_local_rank(comm, &local, &source)); /* which GPU this rank drives (topology.h) */
        nnfi_topology_set_local_rank(local, source, rank);
    }
    char *text = NULL;
    uint64_t len = 0;
    nnfi_status st = NNFI_OK, st_all;
    if (rank == 0) {
        st = read_file(opt->campaign_path, &text, &len);
        if (st != NNFI_OK) len = UINT64_MAX; /* tells the others to give up */
    }
    if ((st_all = nnfi_comm_bcast_bytes(comm, &text, &len)) != NNFI_OK || len == UINT64_MAX) {
        free(text);
        return st != NNFI_OK ? st : st_all != NNFI_OK ? st_all : NNFI_FAIL(NNFI_E_IO, "rank 0 could not read the campaign");
    }
    nnfi_campaign *c = NULL;
    nnfi_plan *plan = NULL;
    nnfi_worker *w = NULL;
    coordinator co;
    memset(&co, 0, sizeof co);

    st = nnfi_campaign_load_text(text, len, opt->campaign_path, &c);
    if (st == NNFI_OK) st = check_slurm(size);
    if (st == NNFI_OK) st = nnfi_worker_create(c, NULL, rank, &w);
    if (st == NNFI_OK) st = nnfi_worker_plan(w, &plan);
    if (!agree(comm, &st)) goto done;
    { /* every rank compares against rank 0's golden logits (golden_sync.h) */
        int on_gpu = 0, device = -1;
        const char *via = "none";
        st = nnfi_golden_prepare(c, w, &on_gpu, &device);
        if (!agree(comm, &st)) goto done;
        st = nnfi_golden_share(comm, c, w, on_gpu, device, &via);
        if (!agree(comm, &st)) goto done;
        if (rank == 0 && size > 1 && !opt->quiet) fprintf(stderr, "nnfi: rank 0's golden logits shared with %d ranks via %s\n", size, via);
    }

    const char *out = opt->output ? opt->output : c->output->path;
    snprintf(res->output, sizeof res->output, "%s", out);
    if (rank == 0) {
        st = nnfi_dispatch_create(c, plan, size, opt->shard_index, opt->shard_count, &co.d);
        if (st == NNFI_OK && opt->resume) {
            st = nnfi_h5_resume(out, c, plan, &co.h5, NULL);
            if (st == NNFI_OK) st = resume_dispatch(co.h5, plan, co.d);
        } else if (st == NNFI_OK) {
            nnfi_h5_provenance prov = {size, getenv("SLURM_JOB_ID"), getenv("SLURM_ARRAY_JOB_ID"),
                                       getenv("SLURM_ARRAY_TASK_ID"), opt->shard_index, opt->shard_count};
            st = nnfi_h5_create(out, opt->force, c, plan, &prov, &co.h5);
        }
        /* Sites and golden run, on a resumed file too: a kill between create
         * and here left a file without them, and on a complete one the calls
         * check that the model and eval set are the ones stored. */
        if (st == NNFI_OK) {
            for (unsigned m = 0; st == NNFI_OK && m < c->models_count; m++) {
                int used = 0;
                for (unsigned e = 0; e < c->experiments_count; e++) used |= strcmp(c->experiments[e].model, c->models[m].name) == 0;
                if (!used) continue;
                nnfi_model_facts f;
                st = nnfi_worker_model_facts(w, m, &f);
                if (st == NNFI_OK) st = nnfi_h5_add_sites(co.h5, f.name, f.sites, f.n_sites);
                if (st == NNFI_OK) {
                    /* the host and its numerics facts (threads, BLAS, qengine) beside the golden logits */
                    const char *facts[64];
                    char host[64];
                    snprintf(host, sizeof host, "host=%s", f.host);
                    size_t nf = 0;
                    facts[nf++] = host;
                    for (size_t i = 0; f.host_facts && f.host_facts[i] && nf < 63; i++) facts[nf++] = f.host_facts[i];
                    facts[nf] = NULL;
                    st = nnfi_h5_add_golden(co.h5, f.name, f.golden_logits, f.labels, f.samples, f.classes,
                                            f.golden_accuracy, facts);
                }
            }
            if (st == NNFI_OK) st = nnfi_h5_checkpoint(co.h5);
        }
    }
    if (!agree(comm, &st)) goto done;
    if (rank == 0) {
        co.comm = comm;
        co.c = c;
        co.plan = plan;
        co.worker = w;
        co.failed_rank = -1;
        co.campaign_path = opt->campaign_path;
        co.out = out;
        co.gone = calloc((size_t)size, 1);
        co.waiting = calloc((size_t)size, sizeof *co.waiting);
        if (!co.waiting || !co.gone) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            goto done;
        }
        co.pg.mode = opt->progress >= 0 ? opt->progress : (isatty(2) ? 1 : 2);
        co.pg.start = co.pg.last = now_s();
        co.pg.total = nnfi_dispatch_expected(co.d);
        co.pg.done = nnfi_dispatch_done(co.d);
        co.pg.done_before = co.pg.done;
        double every = opt->checkpoint_every > 0 ? opt->checkpoint_every : 10;
        st = coordinate(&co, every);
        nnfi_status cs = nnfi_h5_close(co.h5);
        co.h5 = NULL;
        if (st == NNFI_OK) st = cs;
        /* ranks that never answered would hang the comm's finalize: the
         * caller ends the job instead (nnfi_comm_abort, after the message) */
        if (st == NNFI_E_TIMEOUT && size > 1) res->abort_job = 1;
        if (st == NNFI_OK && co.failed_rank >= 0)
            st = NNFI_FAIL(NNFI_E_BACKEND, "rank %d failed (its message is above); the rows finished so far are saved\n  hint: fix the cause, then continue with: nnfi run %s -o %s --resume",
                           co.failed_rank, opt->campaign_path, out);
        if (st == NNFI_OK && co.stopping) {
            *end = NNFI_RUN_INTERRUPTED;
            fprintf(stderr, "nnfi: stopped by a signal after %llu of %llu trials; checkpoint written to %s\n"
                            "  resume with: nnfi run %s -o %s --resume\n",
                    (unsigned long long)co.pg.done, (unsigned long long)co.pg.total, out, opt->campaign_path, out);
        } else if (st == NNFI_OK && !opt->quiet) {
            double secs = now_s() - co.pg.start;
            uint64_t ran = co.pg.done - co.pg.done_before;
            printf("nnfi run: %llu trials in %.2f s (%.1f trials/s) on %d rank(s); %llu/%llu done -> %s\n",
                   (unsigned long long)ran, secs, secs > 0 ? (double)ran / secs : 0, size,
                   (unsigned long long)co.pg.done, (unsigned long long)co.pg.total, out);
        }
    } else {
        st = work(comm, w);
        if (stop_signal) *end = NNFI_RUN_INTERRUPTED;
    }
done:
    if (co.h5) nnfi_h5_close(co.h5);
    nnfi_dispatch_destroy(co.d);
    free(co.waiting);
    free(co.gone);
    nnfi_worker_destroy(w);
    nnfi_plan_free(plan);
    nnfi_campaign_free(c);
    free(text);
    return st;
}
