/* cmd_search.c - `nnfi search CAMPAIGN.yaml -o OUT.h5`: the critical-bit
 * search (nnfi/search.h) of every experiment with a `search:` block, on one
 * process; prints per experiment the evaluations, the ratio to exhaustive,
 * and the recall and precision against the exhaustive check, and writes the
 * result file (nnfi_h5_write_search). */
#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include "nnfi/h5_results.h"
#include "nnfi/search.h"
#include "nnfi/worker.h"

static const char *usage = "nnfi search CAMPAIGN.yaml [-o OUT.h5] [--force] [--full-eval] [--quiet]";

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
           "predicted, %u non-monotone site(s) searched exhaustively\n",
           (unsigned long long)r->evals_search, per_el, exh_el, per_el > 0 ? exh_el / per_el : 0,
           (unsigned long long)r->predicted, r->nonmonotone_sites);
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
    printf("  %.1f s\n", r->seconds);
}

int cmd_search(int argc, char **argv)
{
    const char *campaign = NULL, *out = NULL;
    int force = 0, full_eval = 0, quiet = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\n\nClassify the bits of parameter elements as critical or not (experiments with a 'search:' "
                   "block):\na pilot per site, predictions and a binary search over each element's flips, checked "
                   "against an\nexhaustive classification of 'exhaustive_check' elements. Writes /critical_bits, "
                   "/critical_strata\nand /search/<experiment> to OUT.h5 (default: the campaign's name + "
                   "\"-search.h5\").\n  --full-eval  every evaluation from the input (no golden-cache shortcut)\n",
                   usage);
            return CLI_OK;
        } else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--force") == 0) {
            force = 1;
        } else if (strcmp(argv[i], "--full-eval") == 0) {
            full_eval = 1;
        } else if (strcmp(argv[i], "--quiet") == 0) {
            quiet = 1;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("search", usage, "unknown option '%s'", argv[i]);
        } else if (!campaign) {
            campaign = argv[i];
        } else {
            return cli_usage_error("search", usage, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!campaign) return cli_usage_error("search", usage, "no campaign file given");
    static const char *const world[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
    for (size_t i = 0; i < sizeof world / sizeof *world; i++) {
        const char *v = getenv(world[i]);
        if (v && atoi(v) > 1) {
            fprintf(stderr, "nnfi: search runs on one process (%s=%s): every rank would write %s\n  hint: run "
                            "'nnfi search' without mpirun/srun; split a large search into experiments with their own "
                            "-o instead\n", world[i], v, out ? out : "the same file");
            return CLI_USAGE;
        }
    }
    nnfi_campaign *c = NULL;
    nnfi_status st = nnfi_campaign_load(campaign, &c);
    if (st != NNFI_OK) return cli_fail(st);
    unsigned n = 0;
    for (unsigned e = 0; e < c->experiments_count; e++) n += c->experiments[e].search != NULL;
    if (n == 0) {
        fprintf(stderr, "nnfi: %s has no experiment with a 'search:' block\n  hint: add one, e.g. search: {find: "
                        "critical_bits, elements: 1024, exhaustive_check: 64}, or run trials with 'nnfi run'\n",
                campaign);
        nnfi_campaign_free(c);
        return CLI_USAGE;
    }
    char def[1024];
    if (!out) {
        snprintf(def, sizeof def, "%s-search.h5", c->name);
        out = def;
    }
    nnfi_worker *w = NULL;
    nnfi_search_result *res = calloc(n, sizeof *res);
    nnfi_search_sites *names = calloc(n, sizeof *names);
    unsigned done = 0;
    int rc = CLI_FAIL;
    if (!res || !names) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = nnfi_worker_create(c, NULL, 0, &w)) != NNFI_OK) goto fail;
    nnfi_worker_set_full_eval(w, full_eval);
    for (unsigned e = 0; e < c->experiments_count; e++) {
        if (!c->experiments[e].search) continue;
        const nnfi_site *sites;
        size_t ns;
        if ((st = nnfi_worker_sites(w, e, &sites, &ns)) != NNFI_OK) goto fail;
        const char **site_names = malloc((ns ? ns : 1) * sizeof *site_names); /* borrowed from the worker */
        if (!site_names) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < ns; i++) site_names[i] = sites[i].name;
        names[done] = (nnfi_search_sites){site_names, ns};
        if ((st = nnfi_search_run(w, c, e, &res[done])) != NNFI_OK) {
            free(site_names);
            goto fail;
        }
        if (!quiet) print_result(c, &res[done]);
        done++;
    }
    if ((st = nnfi_h5_write_search(out, c, res, done, names, force)) != NNFI_OK) goto fail;
    if (!quiet) printf("wrote %s\n", out);
    rc = CLI_OK;
    goto end;
fail:
    rc = cli_fail(st);
end:
    for (unsigned i = 0; i < done; i++) {
        nnfi_search_result_free(&res[i]);
        free((void *)names[i].names);
    }
    free(res);
    free(names);
    nnfi_worker_destroy(w);
    nnfi_campaign_free(c);
    return rc;
}
