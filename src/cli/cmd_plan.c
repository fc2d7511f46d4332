/* cmd_plan.c - `nnfi plan CAMPAIGN.yaml`: what a run would do, before it runs:
 * experiments, their groups resolved against the model (sites, elements,
 * bits), points, trials per point (fixed, Leveugle sample size, or a stopping
 * rule's cap), global trial ranges, and a time estimate from the fault-free
 * eval pass measured now. It uses the same worker as `nnfi run` (same model
 * loading, eval set, resolution and budgets), so the two always agree. */
#include "cli.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/fault_model.h"
#include "nnfi/worker.h"

static const char *usage = "nnfi plan CAMPAIGN.yaml";

static void fmt_duration(double s, char *out, size_t n)
{
    if (s < 120) snprintf(out, n, "%.1f s", s);
    else if (s < 7200) snprintf(out, n, "%.1f min", s / 60);
    else if (s < 2 * 86400) snprintf(out, n, "%.1f h", s / 3600);
    else snprintf(out, n, "%.1f days", s / 86400);
}

static unsigned model_index(const nnfi_campaign *c, const char *name)
{
    unsigned m = 0;
    while (m < c->models_count && strcmp(c->models[m].name, name) != 0) m++;
    return m;
}

static void print_experiment(const nnfi_campaign *c, const nnfi_plan *plan, nnfi_worker *w, unsigned e,
                             const nnfi_model_facts *f)
{
    const nnfi_plan_experiment *pe = &plan->experiments[e];
    const nnfi_experiment_cfg *x = pe->cfg;
    const nnfi_eval_cfg *ev = c->models[model_index(c, x->model)].eval; /* the model's eval set */
    uint64_t calls = (f->samples + ev->batch - 1) / ev->batch;
    printf("\nexperiment %u '%s'  model '%s' (%s host, %zu sites, golden accuracy %.4f, eval %llu samples in %llu calls)\n",
           e, x->name, x->model, f->host, f->n_sites, f->golden_accuracy, (unsigned long long)f->samples,
           (unsigned long long)calls);
    for (unsigned g = 0; g < x->groups_count; g++) {
        const nnfi_group_cfg *gc = &x->groups[g];
        const nnfi_group_plan *gp = NULL;
        nnfi_worker_group_plan(w, e, g, &gp); /* resolved already: cannot fail here */
        if (gp->fm) { /* a fault-model group: no op/bits of its own; its scope as the plan maps it */
            char steps[64] = "";
            if (gp->transient && gp->t_to != UINT32_MAX && gp->duration == gp->t_to - gp->t_from + 1)
                snprintf(steps, sizeof steps, ", every step of %u..%u", gp->t_from, gp->t_to);
            else if (gp->transient && gp->t_to != UINT32_MAX)
                snprintf(steps, sizeof steps, ", %u step(s) of %u..%u", gp->duration, gp->t_from, gp->t_to);
            printf("  group %-10s target %-10s %u site(s), %llu elements; fault model '%s' (%u pattern(s)), "
                   "scope %s: %s%s%s\n",
                   gc->name, nnfi_target_name(gc->target), gp->n_sites, (unsigned long long)gp->total, gp->fm->name,
                   gp->fm->n_patterns, nnfi_fm_scope_name(gp->fm->scope), gp->transient ? "transient" : "permanent",
                   gp->transient ? (gp->scope == NNFI_SCOPE_SAMPLE ? " per sample" : " per call") : "", steps);
            continue;
        }
        printf("  group %-10s target %-10s %u site(s), %llu elements%s%s; op %s; bits %s%s x%u; %s%s\n", gc->name,
               nnfi_target_name(gc->target), gp->n_sites, (unsigned long long)gp->total,
               gc->values != NNFI_VALUES_ANY ? " " : "", gc->values != NNFI_VALUES_ANY ? nnfi_values_name(gc->values) : "",
               nnfi_op_name(gc->op), gc->bits->list ? "list" : gc->bits->range ? "range" : nnfi_preset_name(gc->bits->preset),
               gc->bits->all ? " (all)" : "", gc->bits->all ? 0 : gc->bits->count, nnfi_persistence_name(gc->persistence),
               gc->persistence == NNFI_TRANSIENT ? (gc->scope == NNFI_SCOPE_SAMPLE ? " per sample" : " per call") : "");
    }
    const nnfi_group_plan *gp0 = NULL;
    nnfi_worker_group_plan(w, e, 0, &gp0);
    const char *how = x->trials ? "fixed" : x->budget ? "Leveugle sample size" : "stopping-rule cap";
    if (x->budget)
        printf("  budget: margin %g at %g confidence, p = %g, population %s -> %llu trials per point\n", x->budget->margin,
               x->budget->confidence, x->budget->p ? *x->budget->p : 0.5,
               nnfi_plan_population(x, &(*gp0)) > 0 ? "finite" : "infinite",
               (unsigned long long)pe->points[0].trials);
    if (x->stop)
        printf("  stop: when the %g-confidence Wilson interval of P[%s%s] is narrower than %g (checked every %llu, at most %llu trials)\n",
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
            const nnfi_group_plan *gp = NULL;
            nnfi_worker_group_plan(w, e, g, &gp);
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
}

int cmd_plan(int argc, char **argv)
{
    const char *campaign = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\n\nList experiments, points and trial counts of a campaign, and estimate its run time\n"
                   "(opens each model, loads the eval set and times one fault-free pass over it).\n", usage);
            return CLI_OK;
        } else if (strcmp(argv[i], "--no-timing") == 0) {
            /* accepted for compatibility: the pass is timed anyway (it is the golden run) */
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
    nnfi_worker *w = NULL;
    nnfi_plan *plan = NULL;
    int rc = CLI_FAIL;
    if ((st = nnfi_worker_create(c, NULL, 0, &w)) != NNFI_OK) goto fail;
    if ((st = nnfi_worker_plan(w, &plan)) != NNFI_OK) goto fail;

    printf("campaign %s  (%s)  seed %llu  config hash %016llx\n", c->name, c->source_path, (unsigned long long)c->seed,
           (unsigned long long)c->hash);
    double total_s = 0;
    for (unsigned e = 0; e < plan->n_experiments; e++) {
        nnfi_model_facts f;
        if ((st = nnfi_worker_model_facts(w, model_index(c, c->experiments[e].model), &f)) != NNFI_OK) goto fail;
        print_experiment(c, plan, w, e, &f);
        total_s += f.golden_seconds * (double)plan->experiments[e].trials;
    }
    printf("\ngolden cache (eval.cache_mb: %u MiB per model and rank, unless a model's eval says otherwise) and "
           "shortcuts:\n", c->eval->cache_mb);
    for (unsigned mi = 0; mi < c->models_count; mi++) {
        int used = 0;
        for (unsigned e = 0; e < c->experiments_count; e++) used |= strcmp(c->experiments[e].model, c->models[mi].name) == 0;
        if (!used) continue;
        nnfi_shortcut_info si;
        if ((st = nnfi_worker_shortcuts(w, mi, &si)) != NNFI_OK) goto fail;
        printf("  %-12s %.1f MiB, %u of %u cut(s) kept", c->models[mi].name, (double)si.cache_bytes / 1048576.0, si.kept,
               si.cuts);
        if (si.over_budget) printf(", %u over budget", si.over_budget);
        if (si.failed) printf(", %u failed the self-check", si.failed);
        if (si.too_slow) printf(", %u saved too little time", si.too_slow);
        printf("; %s\n", si.rows_ok ? "sample-sparse calls and packing on"
                                     : "shortcuts off (rows not independent, or this machine's forwards differ from "
                                       "the golden logits)");
    }
    char d[32];
    fmt_duration(total_s, d, sizeof d);
    printf("\ntotal: %llu trials over %u experiment(s)\n", (unsigned long long)plan->total_trials, plan->n_experiments);
    printf("estimated time on 1 rank: %s (trials x one fault-free eval pass measured now; divide by the ranks)\n", d);
    rc = CLI_OK;
    goto out;
fail:
    rc = cli_fail(st);
out:
    nnfi_worker_destroy(w);
    nnfi_plan_free(plan);
    nnfi_campaign_free(c);
    return rc;
}
