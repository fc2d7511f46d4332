/* coordinator.c - rank 0's loop and the other ranks' loop of a campaign run
 * (see coordinator.h).
 *
 * Rank 0 is coordinator, writer and worker at once: between its own trials it
 * drains the reports that other ranks sent (rows of finished trials), buffers
 * the rows for the result file, and answers requests for work with the next
 * range of not-yet-done trial indices. Range sizes are guided (remaining /
 * (2 x ranks), so early ranges are large and the last ones small), which
 * keeps fast ranks busy and lets no slow rank hold the end of the campaign.
 * Rank 0 serves between windows of its own trials (32 while other ranks
 * wait for it, 256 alone; a window's trials are evaluated together so their
 * forward calls can be shared, see trial_pack.h) rather than from a second
 * thread: MPI stays single-threaded and nothing in the worker needs locking.
 *
 * Stopping: the caller's stop flag (set by the CLI's signal handlers). A rank
 * that sees it finishes its current trial, reports its rows with STOPPING,
 * and leaves when rank 0 answers with an empty range; rank 0 stops handing
 * out work, collects what is in flight, writes a checkpoint and returns.
 */
#include "coordinator.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_RANGE 65536u /* rows a worker buffers (the dispatcher's largest range) */
#define REPORT_EVERY_S 1.0
/* Trials a worker evaluates together (packing shares forward calls among
 * them): rank 0 takes fewer while other ranks wait for its answers. */
#define WINDOW 256u
#define WINDOW_RANK0_SERVING 32u
#define MIN_RANGE_RANKS 64u /* the shortest range handed out when several ranks share the work */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ----------------------------------------------------------------- rank 0 -- */

struct nnfi_coordinator {
    nnfi_coordinator_args a; /* the caller's: comm, campaign, plan, worker, file, dispatcher, stop flag... */
    nnfi_run_progress pg;
    double start;
    int stopping;
    int failed_rank;
    int *waiting;  /* ranks whose request waits for a stopping rule's prefix */
    int n_waiting;
    char *gone;    /* [rank]: 1 once the rank left (got its empty range, or failed) */
    double max_trial_s;
};
typedef nnfi_coordinator coordinator;

static void report_progress(coordinator *co, int final)
{
    if (!co->a.on_progress) return;
    co->pg.total = nnfi_dispatch_expected(co->a.d);
    co->pg.elapsed_s = now_s() - co->start;
    co->pg.final = final;
    co->a.on_progress(co->a.progress_user, &co->pg);
}

static nnfi_status take_rows(coordinator *co, const nnfi_trial_row *rows, size_t n)
{
    NNFI_TRY(nnfi_h5_put_rows(co->a.h5, rows, n));
    for (size_t i = 0; i < n; i++) {
        nnfi_dispatch_finished(co->a.d, &rows[i]);
        co->pg.done++;
        if (rows[i].wall_s > co->max_trial_s) co->max_trial_s = rows[i].wall_s;
        if (rows[i].n_faults <= co->a.c->output->faults_max_n) {
            const nnfi_fault *f;
            uint64_t nf;
            NNFI_TRY(nnfi_worker_faults(co->a.worker, rows[i].trial, &f, &nf));
            NNFI_TRY(nnfi_h5_put_faults(co->a.h5, rows[i].trial, f, nf));
        }
    }
    return NNFI_OK;
}

/* Answer rank src: the next range, an empty range (no more work: it
 * leaves), or nothing yet (it waits while a stopping rule needs rows). */
static nnfi_status answer(coordinator *co, int src, int *active)
{
    uint64_t lo = 0, hi = 0;
    nnfi_next nx = co->stopping ? NNFI_NEXT_END : nnfi_dispatch_next(co->a.d, 1, &lo, &hi);
    if (nx == NNFI_NEXT_WAIT) {
        co->waiting[co->n_waiting++] = src;
        return NNFI_OK;
    }
    NNFI_TRY(nnfi_comm_send_range(co->a.comm, src, lo, hi));
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
        NNFI_TRY(nnfi_comm_poll_report(co->a.comm, &got, &src, &rows, &n, &flags));
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

/* Rank 0's loop; rows: a buffer of `window` rows for its own trials. */
static nnfi_status coordinate(coordinator *co, double checkpoint_every, nnfi_trial_row *rows, uint64_t window)
{
    const volatile sig_atomic_t *stop = co->a.stop;
    int active = nnfi_comm_size(co->a.comm) - 1;
    uint64_t own_lo = 0, own_hi = 0;
    double last_ckpt = now_s();
    nnfi_status failed = NNFI_OK;
    double stop_at = 0;
    for (;;) {
        if ((*stop)) co->stopping = 1;
        if (co->stopping && stop_at == 0) {
            /* Checkpoint now, before waiting for the trials in flight: under
             * mpirun a signal often means the job is being torn down (a lost
             * rank makes mpirun kill the others), and SIGKILL may follow. */
            stop_at = now_s();
            if ((*stop) && !failed && (failed = nnfi_h5_checkpoint(co->a.h5)) == NNFI_OK && active > 0)
                fprintf(stderr, "nnfi: signal %d: stopping; %llu trials saved in %s; waiting for the trials in flight on "
                                "other ranks\n  if the job ends first, continue with: nnfi run %s -o %s --resume\n",
                        (int)(*stop), (unsigned long long)co->pg.done, co->a.out, co->a.campaign_path, co->a.out);
        }
        /* Every blocking wait has a deadline: a rank that does not answer a
         * stop (lost, hung or stopped) must not hang the job. */
        double deadline = stop_deadline_s(co);
        if (co->stopping && active > 0 && now_s() - stop_at > deadline) {
            char lost[256] = "";
            size_t used = 0;
            for (int r = 1; r < nnfi_comm_size(co->a.comm) && used + 16 < sizeof lost; r++)
                if (!co->gone[r]) used += (size_t)snprintf(lost + used, sizeof lost - used, "%s%d", used ? ", " : "", r);
            if (!failed) nnfi_h5_checkpoint(co->a.h5);
            return NNFI_FAIL(NNFI_E_TIMEOUT, "rank(s) %s did not answer within %.0f s of the stop (lost, hung or "
                                             "stopped); the %llu trials received are saved in %s\n  hint: check "
                                             "those ranks' nodes, then continue with: nnfi run %s -o %s --resume",
                             lost, deadline, (unsigned long long)co->pg.done, co->a.out, co->a.campaign_path, co->a.out);
        }
        NNFI_TRY(serve(co, &active));
        nnfi_next nx = NNFI_NEXT_RANGE;
        if (co->stopping) own_lo = own_hi; /* abandon the rest of the own range */
        else if (own_lo == own_hi) nx = nnfi_dispatch_next(co->a.d, active > 0 ? 4 : 1, &own_lo, &own_hi);
        if (own_lo < own_hi) {
            uint64_t hi = own_hi - own_lo < window ? own_hi : own_lo + window;
            uint64_t done = 0;
            double budget = checkpoint_every < REPORT_EVERY_S ? checkpoint_every : REPORT_EVERY_S;
            NNFI_TRY(nnfi_worker_run_trials(co->a.worker, own_lo, hi, budget, stop, rows, &done));
            NNFI_TRY(take_rows(co, rows, done));
            own_lo += done;
        } else if (active == 0 && (co->stopping || nx == NNFI_NEXT_END)) {
            break;
        } else {
            struct timespec nap = {0, 100000}; /* waiting for the other ranks */
            nanosleep(&nap, NULL);
        }
        if (!failed && now_s() - last_ckpt >= checkpoint_every) {
            /* the rows go to a background thread that appends them to the
             * journal (nnfi_h5_checkpoint_async): rank 0 goes on at once. A
             * failed checkpoint (a full disk; reported by the next call)
             * keeps the file and journal at the last good one: stop the
             * other ranks the way a signal does instead of leaving them
             * waiting, then report it */
            if ((failed = nnfi_h5_checkpoint_async(co->a.h5)) != NNFI_OK) {
                fprintf(stderr, "nnfi: a checkpoint failed: stopping every rank\n");
                co->stopping = 1;
            }
            last_ckpt = now_s();
        }
        report_progress(co, 0);
    }
    report_progress(co, 1);
    return failed;
}

/* ---------------------------------------------------------- other ranks -- */

nnfi_status nnfi_rank_work(nnfi_comm *comm, nnfi_worker *w, const volatile sig_atomic_t *stop)
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
        for (uint64_t t = lo; t < hi;) {
            if (*stop) {
                flags |= NNFI_REPORT_STOPPING;
                break;
            }
            uint64_t end = hi - t < WINDOW ? hi : t + WINDOW, done = 0;
            st = nnfi_worker_run_trials(w, t, end, REPORT_EVERY_S, stop, &rows[n], &done);
            if (st != NNFI_OK) break;
            n += done;
            t += done;
            if (now_s() - last >= REPORT_EVERY_S && t < hi) { /* stream rows back: fresher checkpoints */
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

nnfi_status nnfi_coordinate(const nnfi_coordinator_args *a, nnfi_coordinator_result *res)
{
    memset(res, 0, sizeof *res);
    coordinator co;
    memset(&co, 0, sizeof co);
    int size = nnfi_comm_size(a->comm);
    co.a = *a;
    co.failed_rank = -1;
    co.gone = calloc((size_t)size, 1);
    co.waiting = calloc((size_t)size, sizeof *co.waiting);
    nnfi_status st = NNFI_OK;
    if (!co.waiting || !co.gone) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    co.start = now_s();
    co.pg.done = nnfi_dispatch_done(co.a.d);
    co.pg.done_before = co.pg.done;
    co.pg.total = nnfi_dispatch_expected(co.a.d);
    uint64_t window = size > 1 ? WINDOW_RANK0_SERVING : WINDOW;
    nnfi_dispatch_set_min_range(a->d, size > 1 ? MIN_RANGE_RANKS : WINDOW);
    nnfi_trial_row *rows = malloc(window * sizeof *rows);
    if (!rows) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    if (st == NNFI_OK) st = coordinate(&co, a->checkpoint_every > 0 ? a->checkpoint_every : 10, rows, window);
    free(rows);
    res->stopping = co.stopping;
    res->failed_rank = co.failed_rank;
    res->done = co.pg.done;
    res->done_before = co.pg.done_before;
    res->total = nnfi_dispatch_expected(co.a.d);
    res->seconds = now_s() - co.start;
    free(co.waiting);
    free(co.gone);
    return st;
}
