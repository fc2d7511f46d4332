/* cmd_plan.c - `nnfi plan CAMPAIGN.yaml`: what a run would do, before it runs:
 * experiments, their groups resolved against the model (sites, elements,
 * bits), points, trials per point (fixed, Leveugle sample size, or a stopping
 * rule's cap), global trial ranges, and a time estimate from one fault-free
 * eval pass measured now. */
#include "cli.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *usage = "nnfi plan CAMPAIGN.yaml [--no-timing]";

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Seconds for one fault-free pass over the eval set (the work of one trial,
 * before injection costs). */
static nnfi_status time_eval_pass(const nnfi_campaign *c, cli_model *m, double *secs)
{
    *secs = 0;
    if (!m->host->builtin_eval) return NNFI_OK; /* data-file eval sets are timed by 'nnfi run' */
    float *in = NULL, *logits = NULL;
    int32_t *labels = NULL;
    NNFI_TRY(m->host->builtin_eval(m->model, m->samples, &in, &labels));
    uint64_t batch = c->eval->batch, numel = m->host->input_numel(m->model);
    logits = malloc(batch * m->host->n_classes(m->model) * sizeof(float));
    nnfi_status st = logits ? NNFI_OK : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    double t0 = now_s();
    for (uint64_t s = 0; st == NNFI_OK && s < m->samples; s += batch) {
        uint64_t rows = m->samples - s < batch ? m->samples - s : batch;
        st = m->host->forward(m->model, in + s * numel, rows, logits);
    }
    *secs = now_s() - t0;
    free(in);
    free(labels);
    free(logits);
    return st;
}

static void fmt_duration(double s, char *out, size_t n)
{
    if (s < 120) snprintf(out, n, "%.1f s", s);
    else if (s < 7200) snprintf(out, n, "%.1f min", s / 60);
    else if (s < 2 * 86400) snprintf(out, n, "%.1f h", s / 3600);
    else snprintf(out, n, "%.1f days", s / 86400);
}

int cmd_plan(int argc, char **argv)
{
    const char *campaign = NULL;
    int timing = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\n\nList experiments, points and trial counts of a campaign, and estimate its run time.\n\n"
                   "  --no-timing   skip the timed fault-free eval pass\n", usage);
            return CLI_OK;
        } else if (strcmp(argv[i], "--no-timing") == 0) {
            timing = 0;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("plan", usage, "unknown option '%s'", argv[i]);
        } else if (!campaign) {
            campaign = argv[i];
        } else {
            return cli_usage_error("plan", usage, "unexpected argument '%s'", argv[i]);
        }
    }
    if (!campaign) return cli_usage_error("plan", usage, "no campaign file given");

    nnfi_campaign *c = NULL;
    nnfi_status st = nnfi_campaign_load(campaign, &c);
    if (st != NNFI_OK) return cli_fail(st);
    double *population = calloc(c->experiments_count, sizeof *population);
    double *pass_s = calloc(c->experiments_count, sizeof *pass_s);
    nnfi_group_plan *groups = calloc((size_t)c->experiments_count * NNFI_MAX_GROUPS, sizeof *groups);
    cli_model *models = calloc(c->experiments_count, sizeof *models);
    nnfi_plan *plan = NULL;
    int rc = CLI_FAIL;
    if (!population || !pass_s || !groups || !models) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto fail;
    }
    for (unsigned e = 0; e < c->experiments_count; e++) {
        const nnfi_experiment_cfg *x = &c->experiments[e];
        if ((st = cli_model_open(c, x->model, &models[e])) != NNFI_OK) goto fail;
        if ((st = cli_resolve_groups(c, e, &models[e], &groups[(size_t)e * NNFI_MAX_GROUPS])) != NNFI_OK) {
            cli_model_close(&models[e]);
            goto fail;
        }
        population[e] = nnfi_plan_population(x, &groups[(size_t)e * NNFI_MAX_GROUPS]);
        if (timing && (st = time_eval_pass(c, &models[e], &pass_s[e])) != NNFI_OK) goto fail;
    }
    if ((st = nnfi_plan_create(c, population, &plan)) != NNFI_OK) goto fail;

    printf("campaign %s  (%s)  seed %llu  config hash %016llx\n", c->name, c->source_path,
           (unsigned long long)c->seed, (unsigned long long)c->hash);
    double total_s = 0;
    for (unsigned e = 0; e < plan->n_experiments; e++) {
        const nnfi_plan_experiment *pe = &plan->experiments[e];
        const nnfi_experiment_cfg *x = pe->cfg;
        const cli_model *m = &models[e];
        printf("\nexperiment %u '%s'  model '%s' (%s host, %zu sites, eval %llu samples in %llu calls)\n", e, x->name,
               x->model, m->host->name, m->n_sites, (unsigned long long)m->samples, (unsigned long long)m->calls);
        for (unsigned g = 0; g < x->groups_count; g++) {
            const nnfi_group_cfg *gc = &x->groups[g];
            const nnfi_group_plan *gp = &groups[(size_t)e * NNFI_MAX_GROUPS + g];
            printf("  group %-10s target %-10s %u site(s), %llu elements; op %s; bits %s%s x%u; %s%s\n", gc->name,
                   nnfi_target_name(gc->target), gp->n_sites, (unsigned long long)gp->total, nnfi_op_name(gc->op),
                   gc->bits->list ? "list" : gc->bits->range ? "range" : nnfi_preset_name(gc->bits->preset),
                   gc->bits->all ? " (all)" : "", gc->bits->all ? 0 : gc->bits->count,
                   nnfi_persistence_name(gc->persistence),
                   gc->persistence == NNFI_TRANSIENT ? (gc->scope == NNFI_SCOPE_SAMPLE ? " per sample" : " per call") : "");
        }
        const char *how = x->trials ? "fixed" : x->budget ? "Leveugle sample size" : "stopping-rule cap";
        if (x->budget)
            printf("  budget: margin %g at %g confidence, p = %g, population %s -> %llu trials per point\n",
                   x->budget->margin, x->budget->confidence, x->budget->p ? *x->budget->p : 0.5,
                   population[e] > 0 ? "finite" : "infinite", (unsigned long long)pe->points[0].trials);
        if (x->stop)
            printf("  stop: when the %g-confidence Wilson interval of P[%s%s] is narrower than %g (after %llu, at most %llu trials)\n",
                   x->stop->confidence, nnfi_watch_name(x->stop->watch),
                   x->stop->watch == NNFI_WATCH_ACCURACY_DROP ? " > threshold" : "", x->stop->width,
                   (unsigned long long)x->stop->min, (unsigned long long)x->stop->max);
        printf("  %-6s %-14s %-18s %-12s %s\n", "point", "swept", "faults/trial", "trials", "global trials");
        for (uint32_t p = 0; p < pe->n_points; p++) {
            const nnfi_plan_point *pt = &pe->points[p];
            char swept[32] = "-", nf[48] = "";
            if (x->sweep) snprintf(swept, sizeof swept, pt->is_rate ? "rate %g" : "N %.0f", pt->x);
            size_t used = 0;
            for (unsigned g = 0; g < x->groups_count && used < sizeof nf; g++) {
                nnfi_count_rule r = nnfi_plan_count_rule(plan, e, g, p);
                const nnfi_group_plan *gp = &groups[(size_t)e * NNFI_MAX_GROUPS + g];
                if (r.rate > 0)
                    used += (size_t)snprintf(nf + used, sizeof nf - used, "%s%s%.3g", g ? "+" : "", r.poisson ? "~" : "",
                                             r.rate * (double)gp->total);
                else
                    used += (size_t)snprintf(nf + used, sizeof nf - used, "%s%llu", g ? "+" : "", (unsigned long long)r.count);
            }
            printf("  %-6u %-14s %-18s %-12llu [%llu, %llu)\n", p, swept, nf, (unsigned long long)pt->trials,
                   (unsigned long long)pt->first, (unsigned long long)(pt->first + pt->trials));
        }
        printf("  %llu trials (%s)\n", (unsigned long long)pe->trials, how);
        total_s += pass_s[e] * (double)pe->trials;
    }
    printf("\ntotal: %llu trials over %u experiment(s)\n", (unsigned long long)plan->total_trials, plan->n_experiments);
    if (timing) {
        char d[32];
        fmt_duration(total_s, d, sizeof d);
        printf("estimated time on 1 rank: %s (trials x one fault-free eval pass measured now; injection adds little)\n", d);
    }
    rc = CLI_OK;
    goto out;
fail:
    rc = cli_fail(st);
out:
    if (groups && models)
        for (unsigned e = 0; e < c->experiments_count; e++) {
            if (models[e].model) cli_free_groups(&groups[(size_t)e * NNFI_MAX_GROUPS], c->experiments[e].groups_count);
            cli_model_close(&models[e]);
        }
    nnfi_plan_free(plan);
    free(population);
    free(pass_s);
    free(groups);
    free(models);
    nnfi_campaign_free(c);
    return rc;
}
