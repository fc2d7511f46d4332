/* run.c - a campaign run across ranks (see run.h): the setup every rank
 * shares (campaign text from rank 0, load, plan, golden logits from rank 0,
 * the result file created or resumed on rank 0), then rank 0's coordinator
 * or the other ranks' work loop (coordinator.c).
 *
 * Results do not depend on the number of ranks: rows are written at their
 * trial index and every trial's faults come from (seed, indices) alone.
 * Every step that can fail on one rank is followed by an agreement, so no
 * rank enters a collective another will never reach.
 */
#include "nnfi/run.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coordinator.h"
#include "nnfi/comm.h"
#include "nnfi/dispatch.h"
#include "nnfi/golden_sync.h"
#include "nnfi/build_info.h"
#include "nnfi/config.h"
#include "nnfi/h5_results.h"
#include "nnfi/plan.h"
#include "nnfi/topology.h"
#include "nnfi/worker.h"

static double run_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The caller's stop flag (nnfi_run_options.stop): the signal number once a
 * stop was asked for, else 0. The CLI's signal handlers set it. */
static const volatile sig_atomic_t *stop_flag;
static const volatile sig_atomic_t no_stop;

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
    nnfi_h5_results *h5 = NULL;
    nnfi_dispatch *d = NULL;

    st = nnfi_campaign_load_text(text, len, opt->campaign_path, &c);
    if (st == NNFI_OK) st = check_slurm(size);
    if (st == NNFI_OK) st = nnfi_worker_create(c, NULL, rank, &w);
    if (st == NNFI_OK) st = nnfi_worker_plan(w, &plan);
    if (st == NNFI_OK) nnfi_worker_set_full_eval(w, opt->full_eval);
    if (!agree(comm, &st)) goto done;
    { /* every rank compares against rank 0's golden logits (golden_sync.h) */
        int on_gpu = 0, device = -1;
        const char *via = "none";
        st = nnfi_golden_prepare(c, w, &on_gpu, &device);
        if (!agree(comm, &st)) goto done;
        st = nnfi_golden_share(comm, c, w, on_gpu, device, &via);
        if (!agree(comm, &st)) goto done;
        res->golden_via = via;
    }

    const char *out = opt->output ? opt->output : c->output->path;
    snprintf(res->output, sizeof res->output, "%s", out);
    if (rank == 0) {
        st = nnfi_dispatch_create(c, plan, size, opt->shard_index, opt->shard_count, &d);
        if (st == NNFI_OK && opt->resume) {
            st = nnfi_h5_resume(out, c, plan, &h5, NULL);
            if (st == NNFI_OK) st = resume_dispatch(h5, plan, d);
        } else if (st == NNFI_OK) {
            nnfi_h5_provenance prov = {size, getenv("SLURM_JOB_ID"), getenv("SLURM_ARRAY_JOB_ID"),
                                       getenv("SLURM_ARRAY_TASK_ID"), opt->shard_index, opt->shard_count};
            st = nnfi_h5_create(out, opt->force, c, plan, &prov, &h5);
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
                if (st == NNFI_OK) st = nnfi_h5_add_sites(h5, f.name, f.sites, f.n_sites);
                if (st == NNFI_OK) {
                    /* the host and its numerics facts (threads, BLAS, qengine) beside the golden logits */
                    const char *facts[64];
                    char host[64];
                    snprintf(host, sizeof host, "host=%s", f.host);
                    size_t nf = 0;
                    facts[nf++] = host;
                    for (size_t i = 0; f.host_facts && f.host_facts[i] && nf < 63; i++) facts[nf++] = f.host_facts[i];
                    facts[nf] = NULL;
                    st = nnfi_h5_add_golden(h5, f.name, f.golden_logits, f.labels, f.samples, f.classes,
                                            f.positions, f.golden_accuracy, facts);
                }
            }
            if (st == NNFI_OK) st = nnfi_h5_checkpoint(h5);
        }
    }
    if (!agree(comm, &st)) goto done;
    if (rank == 0) {
        nnfi_coordinator_args ca = {comm, c, plan, w, h5, d, stop_flag, opt->checkpoint_every, opt->campaign_path,
                                    out, opt->on_progress, opt->progress_user};
        nnfi_coordinator_result cr;
        st = nnfi_coordinate(&ca, &cr);
        double c0 = run_now_s();
        nnfi_h5_checkpoint_stats ck = *nnfi_h5_stats(h5); /* waits for the queued checkpoints */
        double drain_s = run_now_s() - c0;
        c0 = run_now_s();
        nnfi_status cs = nnfi_h5_close(h5);
        double close_s = run_now_s() - c0 + drain_s; /* the last checkpoint and the final fold */
        h5 = NULL;
        res->checkpoints = ck.checkpoints;
        res->folds = ck.folds + 1;
        res->checkpoint_blocked_s = ck.checkpoint_s;
        res->append_s = ck.append_s;
        res->fold_s = ck.fold_s;
        if (st == NNFI_OK) st = cs;
        /* ranks that never answered would hang the comm's finalize: the
         * caller ends the job instead (nnfi_comm_abort, after the message) */
        if (st == NNFI_E_TIMEOUT && size > 1) res->abort_job = 1;
        if (st == NNFI_OK && cr.failed_rank >= 0)
            st = NNFI_FAIL(NNFI_E_BACKEND, "rank %d failed (its message is above); the rows finished so far are saved\n  hint: fix the cause, then continue with: nnfi run %s -o %s --resume",
                           cr.failed_rank, opt->campaign_path, out);
        if (st == NNFI_OK && cr.stopping) *end = NNFI_RUN_INTERRUPTED;
        res->trials_ran = cr.done - cr.done_before;
        res->done = cr.done;
        res->total = cr.total;
        res->seconds = cr.seconds;
        res->close_s = close_s;
    } else {
        st = nnfi_rank_work(comm, w, stop_flag);
        if (*stop_flag) *end = NNFI_RUN_INTERRUPTED;
    }
done:
    if (h5) nnfi_h5_close(h5);
    nnfi_dispatch_destroy(d);
    nnfi_worker_destroy(w);
    nnfi_plan_free(plan);
    nnfi_campaign_free(c);
    free(text);
    return st;
}
