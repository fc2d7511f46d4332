/* plan.h - the trial index space of a campaign, and fault groups resolved
 * against a model's sites.
 *
 * The plan numbers every trial of the campaign once: experiments in file
 * order, then points in sweep order, then trials. Global trial index ->
 * (experiment, point, trial) is a pure function, so ranks, shards and resume
 * only ever exchange index ranges.
 *
 * Lifecycle: nnfi_plan_create() -> read-only use -> nnfi_plan_free(). The plan
 * borrows the campaign, which must outlive it.
 */
#ifndef NNFI_PLAN_H
#define NNFI_PLAN_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/config.h"
#include "nnfi/sampler.h"
#include "nnfi/site.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_plan_point {
    double x;             /* swept value: fault count or rate (0 when not swept) */
    int is_rate;          /* x is a rate per element */
    uint64_t trials;      /* trials at this point (the cap for a stopping rule) */
    uint64_t first;       /* global index of its first trial */
} nnfi_plan_point;

typedef struct nnfi_plan_experiment {
    const nnfi_experiment_cfg *cfg; /* borrowed from the campaign */
    uint32_t n_points;
    nnfi_plan_point *points;
    uint64_t first;  /* global index of its first trial */
    uint64_t trials; /* all its points */
} nnfi_plan_experiment;

typedef struct nnfi_plan {
    const nnfi_campaign *campaign;
    uint32_t n_experiments;
    nnfi_plan_experiment *experiments;
    uint64_t total_trials;
} nnfi_plan;

/* Build the plan. `population[e]` is the number of distinct single faults of
 * experiment e (elements x candidate bits) for Leveugle's finite-population
 * correction, or 0 for an infinite population; NULL means all infinite. */
nnfi_status nnfi_plan_create(const nnfi_campaign *c, const double *population, nnfi_plan **out);
void nnfi_plan_free(nnfi_plan *p);

/* Global trial index -> (experiment, point, trial within point). */
nnfi_status nnfi_plan_locate(const nnfi_plan *p, uint64_t global, uint32_t *experiment,
                             uint32_t *point, uint64_t *trial);

/* Leveugle et al. (DATE 2009) sample size for margin e, confidence level and
 * proportion p over a population of N (N <= 0: infinite). */
uint64_t nnfi_leveugle_sample_size(double margin, double confidence, double p, double N);

/* Two-sided standard-normal quantile for a confidence level (0.95 -> 1.95996). */
double nnfi_normal_quantile(double confidence);

/* Wilson score interval of k successes in n trials. */
void nnfi_wilson_interval(uint64_t k, uint64_t n, double confidence, double *lo, double *hi);

/* Resolve group gi of experiment xi against a site table. `calls` and
 * `samples` describe one eval pass (for transient faults). On success `out`
 * owns its arrays (free with nnfi_group_plan_free). Errors name the campaign
 * field and list the available sites. */
nnfi_status nnfi_group_resolve(const nnfi_campaign *c, unsigned xi, unsigned gi,
                               const nnfi_site *sites, size_t n_sites, uint64_t calls,
                               uint64_t samples, nnfi_group_plan *out);
void nnfi_group_plan_free(nnfi_group_plan *g);

/* Leveugle's population for experiment x given its first group resolved:
 * elements x distinct bit masks when the experiment injects single faults of
 * one group (count 1, no sweep); 0 (infinite) otherwise. `nnfi plan` and
 * `nnfi run` both size budgets with this, so they agree. */
double nnfi_plan_population(const nnfi_experiment_cfg *x, const nnfi_group_plan *g0);

/* The count rule of group gi at point pi. */
nnfi_count_rule nnfi_plan_count_rule(const nnfi_plan *p, unsigned xi, unsigned gi, unsigned pi);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_PLAN_H */
