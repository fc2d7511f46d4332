/* cmd_search.c - `nnfi search CAMPAIGN.yaml -o OUT.h5`: the critical-bit
 * search (nnfi/search.h) of every experiment with a `search:` block, unit by
 * unit (one site of one experiment), as one process or under mpirun/srun:
 * in rounds, rank r searches the round's r-th unit, rank 0 gathers the
 * units, appends them to the journal (OUT.h5.units) and writes the file at
 * the end. A signal (SIGTERM, SIGUSR1, Ctrl-C) or --units K ends the search
 * after the round with the file written as a checkpoint; --resume completes
 * it; --shard I/N searches a contiguous share of the units into its own file
 * (`nnfi merge` joins them). The file does not depend on the rank count, the
 * shards or the interruptions. Prints per experiment the evaluations, the
 * ratio to exhaustive, and the recall and precision against the exhaustive
 * check. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nnfi/comm.h"
#include "nnfi/h5_results.h"
#include "nnfi/registry.h"
#include "nnfi/search.h"
#include "nnfi/worker.h"
#include "search_file.h"

static const char *usage = "nnfi search CAMPAIGN.yaml [-o OUT.h5] [--resume | --force] [--shard I/N] [--units K] "
                           "[--full-eval] [--quiet]";

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void print_result(const nnfi_campaign *c, const nnfi_search_result *r)
{
    const nnfi_experiment_cfg *x = &c->experiments[r->experiment];
    double per_el = r->elements ? (double)r->evals_search / (double)r->elements : 0;
    double exh_el = r->elements ? (double)r->bits / (double)r->elements : 0;
    printf("experiment %u '%s'  model '%s'  criterion %s: %llu elements of %u site(s) (%llu pilot), %llu bits\n",
           r->experiment, x->name, x->model, nnfi_watch_name(x->search->criterion),
           (unsigned long long)r->elements, r->sites, (unsigned long long)r->pilot_elements,
           (unsigned long long)r->bits);
    printf("  search: %llu evaluations (%.3f per element; exhaustive: %.1f per element -> %.1fx fewer), %llu labels "
           "predicted, %u site(s) searched flip by flip (not monotone in the pilot, or integer), %u without pools "
           "(masking, or under 64 draws)\n",
           (unsigned long long)r->evals_search, per_el, exh_el, per_el > 0 ? exh_el / per_el : 0,
           (unsigned long long)r->predicted, r->nonmonotone_sites, r->unpooled_sites);
    uint64_t crit = 0;
    for (uint64_t i = 0; i < r->n_strata; i++) crit += r->strata[i].critical;
    printf("  critical bits found: %llu (%.4f of the bits)\n", (unsigned long long)crit,
           r->bits ? (double)crit / (double)r->bits : 0);
    if (r->checked)
        printf("  exhaustive check on %llu elements: recall %.4f, precision %.4f (tp %llu, fp %llu, fn %llu); "
               "evaluations there: search %llu, exhaustive %llu (%.1fx)\n",
               (unsigned long long)r->checked, r->recall, r->precision, (unsigned long long)r->tp,
               (unsigned long long)r->fp, (unsigned long long)r->fn, (unsigned long long)r->evals_search_checked,
               (unsigned long long)r->evals_exhaustive,
               r->evals_search_checked ? (double)r->evals_exhaustive / (double)r->evals_search_checked : 0);
    if (r->strata_sampled)
        printf("  stratified estimator: %llu (site, bit) strata, %llu evaluations (intervals at most %g wide, at "
               "most %llu draws each)\n",
               (unsigned long long)r->n_strata, (unsigned long long)r->evals_strata, x->search->strata_width,
               (unsigned long long)x->search->strata_max);
}

typedef struct search_opts {
    const char *campaign, *out;
    int force, resume, full_eval, quiet;
    unsigned shard_index, shard_count;
    uint64_t max_units; /* 0: all */
} search_opts;

static int parse(int argc, char **argv, search_opts *o)
{
    memset(o, 0, sizeof *o);
    o->shard_count = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s\n\nClassify the bits of parameter elements as critical or not (experiments with a 'search:' "
                   "block):\na pilot per site, predictions and a binary search over each element's flips, checked "
                   "against an\nexhaustive classification of 'exhaustive_check' elements. Writes /critical_bits, "
                   "/critical_strata,\n/search/<experiment> and /search_units to OUT.h5 (default: the campaign's "
                   "name + \"-search.h5\").\nRuns as one process or under mpirun/srun (the sites are shared out); "
                   "the file is the same.\n"
                   "  --resume     complete OUT.h5 (after a signal, --units, or a kill: OUT.h5.units)\n"
                   "  --force      start over, replacing OUT.h5\n"
                   "  --shard I/N  search only share I of N (0-based) of the sites into OUT.h5; 'nnfi merge' joins\n"
                   "  --units K    stop after K more sites (a checkpoint; --resume continues)\n"
                   "  --full-eval  every evaluation from the input (no golden-cache shortcut)\n",
                   usage);
            return CLI_OK;
        } else if ((strcmp(a, "-o") == 0 || strcmp(a, "--shard") == 0 || strcmp(a, "--units") == 0) &&
                   i + 1 < argc) {
            const char *v = argv[++i];
            char extra;
            unsigned long long k;
            if (a[1] == 'o') {
                o->out = v;
            } else if (strcmp(a, "--shard") == 0) {
                if (sscanf(v, "%u/%u%c", &o->shard_index, &o->shard_count, &extra) != 2 || o->shard_count < 1 ||
                    o->shard_count > 65536 || o->shard_index >= o->shard_count)
                    return cli_usage_error("search", usage, "--shard wants I/N with 0 <= I < N, got '%s'", v);
            } else {
                if (sscanf(v, "%llu%c", &k, &extra) != 1 || k < 1)
                    return cli_usage_error("search", usage, "--units wants a count of at least 1, got '%s'", v);
                o->max_units = k;
            }
        } else if (strcmp(a, "--force") == 0) {
            o->force = 1;
        } else if (strcmp(a, "--resume") == 0) {
            o->resume = 1;
        } else if (strcmp(a, "--full-eval") == 0) {
            o->full_eval = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            o->quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("search", usage, "unknown option '%s'", a);
        } else if (!o->campaign) {
            o->campaign = a;
        } else {
            return cli_usage_error("search", usage, "unexpected argument '%s'", a);
        }
    }
    if (!o->campaign) return cli_usage_error("search", usage, "no campaign file given");
    if (o->resume && o->force)
        return cli_usage_error("search", usage, "--resume continues a file and --force overwrites it: choose one");
    return -1;
}

/* Rank 0, before any unit: the units already searched (--resume: OUT.h5's
 * and the journal's), or the refusals of a fresh start. */
static nnfi_status prior_units(const search_opts *o, const nnfi_campaign *c, search_units *done)
{
    int exists = access(o->out, F_OK) == 0, journal = nnfi_search_journal_exists(o->out);
    if (!o->resume) {
        if (exists && !o->force)
            return NNFI_FAIL(NNFI_E_IO, "%s exists\n  hint: pass --force to replace it, --resume to complete it, or "
                                        "choose another -o", o->out);
        if (journal && !o->force)
            return NNFI_FAIL(NNFI_E_IO, "%s.units holds the units of an unfinished search\n  hint: pass --resume to "
                                        "complete it, or --force to start over", o->out);
        nnfi_search_journal_remove(o->out);
        return NNFI_OK;
    }
    if (exists) {
        nnfi_search_archive a;
        uint8_t *recs = NULL;
        NNFI_TRY(nnfi_h5_read_search_archive(o->out, &a, &recs, NULL));
        nnfi_status st = NNFI_OK;
        if (a.config_hash != c->hash)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s was searched from another campaign text than %s\n  hint: resume with "
                                           "the same campaign file, or start over with --force", o->out, o->campaign);
        else if (a.shard_index != o->shard_index || a.shard_count != o->shard_count)
            st = NNFI_FAIL(NNFI_E_INVALID, "%s is shard %llu/%llu, not %u/%u\n  hint: resume with the --shard it was "
                                           "started with", o->out, (unsigned long long)a.shard_index,
                           (unsigned long long)a.shard_count, o->shard_index, o->shard_count);
        if (st == NNFI_OK) st = search_units_add_records(done, recs, a.bytes, o->out);
        free(recs);
        NNFI_TRY(st);
    } else if (!journal) {
        return NNFI_FAIL(NNFI_E_IO, "%s: nothing to resume (no such file, no %s.units)\n  hint: run without "
                                    "--resume to start", o->out, o->out);
    }
    uint8_t *recs = NULL;
    uint64_t bytes = 0, units = 0;
    NNFI_TRY(nnfi_search_journal_read(o->out, c->hash, &recs, &bytes, &units));
    nnfi_status st = search_units_add_records(done, recs, bytes, o->out);
    free(recs);
    return st;
}

typedef struct unit_ref {
    uint32_t experiment, site, n_sites;
    const char *name; /* borrowed from the worker */
} unit_ref;

/* Every unit of the campaign: each site of each search experiment. */
static nnfi_status list_units(nnfi_worker *w, const nnfi_campaign *c, unit_ref **out, size_t *n)
{
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    for (unsigned e = 0; e < c->experiments_count; e++) {
        if (!c->experiments[e].search) continue;
        const nnfi_site *sites;
        size_t ns;
        NNFI_TRY(nnfi_worker_sites(w, e, &sites, &ns));
        for (size_t i = 0; i < ns; i++) {
            if (*n == cap) {
                cap = cap ? 2 * cap : 64;
                unit_ref *v = realloc(*out, cap * sizeof *v);
                if (!v) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
                *out = v;
            }
            (*out)[(*n)++] = (unit_ref){e, (uint32_t)i, (uint32_t)ns, sites[i].name};
        }
    }
    return NNFI_OK;
}

/* Search one unit into a packed record (*rec, malloc'd). */
static nnfi_status search_unit(nnfi_worker *w, const nnfi_campaign *c, const unit_ref *u, uint8_t **rec, size_t *len)
{
    nnfi_search_unit su = {u->experiment, u->site, u->n_sites, (char *)u->name, {0}};
    NNFI_TRY(nnfi_search_run(w, c, u->experiment, u->site, &su.result));
    nnfi_status st = nnfi_search_unit_pack(&su, rec, len);
    nnfi_search_result_free(&su.result);
    return st;
}

int cmd_search(int argc, char **argv)
{
    search_opts o;
    int rc = parse(argc, argv, &o);
    if (rc >= 0) return rc;
    double t0 = wall_s();
    nnfi_comm *comm = NULL;
    nnfi_status st = nnfi_comm_init(nnfi_registry_comm(), &argc, &argv, &comm);
    if (st != NNFI_OK) return cli_fail(st);
    volatile sig_atomic_t *stop_signal = cli_stop_signals();
    int rank = nnfi_comm_rank(comm), size = nnfi_comm_size(comm);
    nnfi_campaign *c = NULL;
    nnfi_worker *w = NULL;
    search_units done = {0};
    unit_ref *units = NULL;
    size_t n_units = 0;
    char *done_map = NULL;
    uint64_t done_len = 0, searched = 0, lo = 0, hi = 0;
    int ok = 1, all = 0, interrupted = 0, started = 0;
    char def[1024];
    st = nnfi_campaign_load(o.campaign, &c);
    unsigned n_search = 0;
    for (unsigned e = 0; st == NNFI_OK && e < c->experiments_count; e++) n_search += c->experiments[e].search != NULL;
    if (st == NNFI_OK && n_search == 0)
        st = NNFI_FAIL(NNFI_E_INVALID, "%s has no experiment with a 'search:' block\n  hint: add one, e.g. search: "
                                       "{find: critical_bits, elements: 1024, exhaustive_check: 64}, or run trials "
                                       "with 'nnfi run'", o.campaign);
    if (st == NNFI_OK && !o.out) {
        snprintf(def, sizeof def, "%s-search.h5", c->name);
        o.out = def;
    }
    /* rank 0's view of what is done (or its refusal), shared: a byte per unit */
    if (st == NNFI_OK && rank == 0) st = prior_units(&o, c, &done);
    if (st == NNFI_OK) st = nnfi_worker_create(c, NULL, 0, &w);
    if (st == NNFI_OK) nnfi_worker_set_full_eval(w, o.full_eval);
    if (st == NNFI_OK) st = list_units(w, c, &units, &n_units);
    ok = st == NNFI_OK;
    if (nnfi_comm_all_ok(comm, ok, &all) != NNFI_OK || !all) goto end;
    if (rank == 0) {
        done_len = n_units;
        done_map = calloc(n_units ? n_units : 1, 1);
        if (!done_map) done_len = UINT64_MAX;
        for (size_t i = 0; done_map && i < n_units; i++)
            done_map[i] = (char)search_units_has(&done, units[i].experiment, units[i].site);
    }
    if ((st = nnfi_comm_bcast_bytes(comm, &done_map, &done_len)) != NNFI_OK || done_len != n_units) {
        if (st == NNFI_OK) st = NNFI_FAIL(NNFI_E_INVALID, "ranks disagree on the campaign's units");
        ok = 0;
        goto end;
    }
    started = 1; /* from here on, the file is (re)written at the end with every unit done */
    lo = (uint64_t)n_units * o.shard_index / o.shard_count;
    hi = (uint64_t)n_units * (o.shard_index + 1) / o.shard_count;
    {
        size_t *todo = malloc((hi - lo ? hi - lo : 1) * sizeof *todo), n_todo = 0;
        if (!todo) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            ok = 0;
        }
        for (uint64_t i = lo; todo && i < hi; i++)
            if (!done_map[i]) todo[n_todo++] = (size_t)i;
        /* rounds: rank r takes the round's r-th unit; rank 0 gathers them */
        for (size_t base = 0; ok && base < n_todo; base += (size_t)size) {
            if (o.max_units && searched >= o.max_units) {
                interrupted = 1;
                break;
            }
            uint8_t *rec = NULL, *recs = NULL;
            size_t len = 0;
            uint64_t *lens = calloc((size_t)size, sizeof *lens);
            if (!lens) st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            else if (base + (size_t)rank < n_todo) st = search_unit(w, c, &units[todo[base + (size_t)rank]], &rec, &len);
            int mine = st == NNFI_OK;
            if (nnfi_comm_all_ok(comm, mine, &all) != NNFI_OK || !all) ok = 0;
            if (ok && nnfi_comm_gather_bytes(comm, rec, len, &recs, lens) != NNFI_OK) ok = 0;
            if (ok && rank == 0) {
                uint64_t at = 0;
                for (int r = 0; st == NNFI_OK && r < size; r++) {
                    if (lens[r]) st = nnfi_search_journal_append(o.out, c->hash, recs + at, (size_t)lens[r]);
                    if (st == NNFI_OK && lens[r]) st = search_units_add_records(&done, recs + at, lens[r], "a rank");
                    at += lens[r];
                }
                ok = st == NNFI_OK;
            }
            free(rec);
            free(recs);
            free(lens);
            searched += (uint64_t)size;
            /* every rank goes on, or none (a stop signal, or an error on rank 0 after the gather) */
            if (nnfi_comm_all_ok(comm, ok && !*stop_signal, &all) != NNFI_OK) ok = 0;
            if (!all) {
                interrupted = ok && base + (size_t)size < n_todo;
                break;
            }
        }
        free(todo);
    }
end:
    if (rank == 0 && started) {
        /* the file: complete, or a checkpoint of the units done (also after an error) */
        nnfi_search_archive a = {NULL, 0, 0, hi - lo, n_units, o.shard_index, o.shard_count, c->hash};
        nnfi_search_result *res = NULL;
        nnfi_search_sites *names = NULL;
        size_t n_res = 0;
        nnfi_status wst = NNFI_OK;
        int complete = 0;
        if (ok || done.n) {
            size_t in_share = 0;
            for (size_t i = 0; i < done.n; i++)
                for (uint64_t k = lo; k < hi; k++)
                    if (units[k].experiment == done.v[i].experiment && units[k].site == done.v[i].site) in_share++;
            complete = in_share == hi - lo;
            wst = search_units_write(o.out, c, &done, &a, wall_s() - t0, 1, &res, &names, &n_res);
            if (wst == NNFI_OK) nnfi_search_journal_remove(o.out);
        }
        if (wst != NNFI_OK) {
            if (st == NNFI_OK) st = wst;
            ok = 0;
        } else if (ok && complete && !o.quiet) {
            for (size_t i = 0; i < n_res; i++) print_result(c, &res[i]);
            if (o.shard_count > 1)
                printf("wrote %s (shard %u/%u: %llu of the campaign's %zu units, %.1f s)\n", o.out, o.shard_index,
                       o.shard_count, (unsigned long long)(hi - lo), n_units, wall_s() - t0);
            else
                printf("wrote %s (%.1f s)\n", o.out, wall_s() - t0);
        } else if (ok && !complete) {
            fprintf(stderr, "nnfi: search stopped after %zu of %llu sites%s; checkpoint written to %s\n"
                            "  resume with: nnfi search %s -o %s%s --resume\n",
                    done.n, (unsigned long long)(hi - lo), interrupted && *stop_signal ? " (signal)" : "", o.out,
                    o.campaign, o.out, o.shard_count > 1 ? " --shard I/N" : "");
        }
        search_units_results_free(res, names, n_res);
    }
    if (st != NNFI_OK) rc = cli_fail(st);
    else rc = ok ? CLI_OK : CLI_FAIL;
    free(done_map);
    free(units);
    search_units_free(&done);
    nnfi_worker_destroy(w);
    nnfi_campaign_free(c);
    nnfi_comm_finalize(comm);
    return rc;
}
