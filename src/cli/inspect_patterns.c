/* inspect_patterns.c - the hardware fault-model part of `nnfi inspect` (table
 * format): per experiment whose trials carry a pattern (/trials/pattern != 0),
 * the trials, SDC, critical-SDC and DUE rates of each pattern with 95% Wilson
 * intervals; and for experiments whose groups carry `fit:` (read from the
 * campaign text stored in the file), the FIT contribution raw FIT x P(outcome)
 * with the Wilson interval scaled by the raw FIT (FIdelity's application FIT),
 * per experiment and summed. An experiment's raw FIT is the sum of its
 * groups' `fit`; P(outcome) is over all its done trials. */
#include "cli.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/h5_reader.h"
#include "nnfi/results.h"
#include "inspect_patterns.h"

#define BLOCK 65536u
#define NPAT 32

typedef struct tally {
    uint64_t n, sdc, crit, due;
} tally;

static void rate(char *buf, size_t n, uint64_t k, uint64_t count, double scale)
{
    if (!count) {
        snprintf(buf, n, "-");
        return;
    }
    double lo, hi;
    nnfi_wilson_interval(k, count, 0.95, &lo, &hi);
    snprintf(buf, n, "%.4g [%.4g, %.4g]", scale * (double)k / (double)count, scale * lo, scale * hi);
}

/* Tallies of rows [first, first + trials) by pattern (all[0..NPAT)) and in
 * total; 0 when the file has no pattern column (an older file). */
static int tally_rows(nnfi_h5_file *f, uint64_t first, uint64_t trials, tally *by, tally *all)
{
    uint8_t *done = malloc(BLOCK), *due = malloc(BLOCK), *pat = malloc(BLOCK);
    uint64_t *sdc = malloc(BLOCK * sizeof *sdc), *crit = malloc(BLOCK * sizeof *crit);
    int ok = done && due && pat && sdc && crit;
    for (uint64_t at = 0; ok && at < trials; at += BLOCK) {
        uint64_t start = first + at, count = trials - at < BLOCK ? trials - at : BLOCK;
        ok = nnfi_h5_read_trials(f, "done", start, count, done) == NNFI_OK &&
             nnfi_h5_read_trials(f, "pattern", start, count, pat) == NNFI_OK &&
             nnfi_h5_read_trials(f, "sdc", start, count, sdc) == NNFI_OK &&
             nnfi_h5_read_trials(f, "critical_sdc", start, count, crit) == NNFI_OK &&
             nnfi_h5_read_trials(f, "due", start, count, due) == NNFI_OK;
        for (uint64_t i = 0; ok && i < count; i++) {
            if (!done[i]) continue;
            tally *t = &by[pat[i] < NPAT ? pat[i] : 0];
            t->n++, all->n++;
            t->sdc += sdc[i] > 0, all->sdc += sdc[i] > 0;
            t->crit += crit[i] > 0, all->crit += crit[i] > 0;
            t->due += due[i] != 0, all->due += due[i] != 0;
        }
    }
    free(done);
    free(due);
    free(pat);
    free(sdc);
    free(crit);
    return ok;
}

void inspect_print_patterns(nnfi_h5_file *f, size_t n_exp, const uint64_t *first, const uint64_t *trials,
                            char *const *names)
{
    size_t n_names = 0;
    const char *const *pname = nnfi_category_names(NNFI_CAT_PATTERN, &n_names);
    /* the campaign as run, for the groups' fit (its fault models must still load) */
    const nnfi_h5_file_info *info = nnfi_h5_file_info_of(f);
    nnfi_campaign *c = NULL;
    int have_c = info->config && nnfi_campaign_load_text(info->config, strlen(info->config),
                                                         info->config_path ? info->config_path : "campaign.yaml",
                                                         &c) == NNFI_OK;
    int any_fit = 0;
    double sum[3] = {0, 0, 0}, sum_lo[3] = {0, 0, 0}, sum_hi[3] = {0, 0, 0};
    for (size_t e = 0; e < n_exp; e++) {
        tally by[NPAT], all;
        memset(by, 0, sizeof by);
        memset(&all, 0, sizeof all);
        if (!tally_rows(f, first[e], trials[e], by, &all)) return;
        double fit = 0;
        int has_fit = 0;
        if (have_c && e < c->experiments_count)
            for (unsigned g = 0; g < c->experiments[e].groups_count; g++)
                if (c->experiments[e].groups[g].fit) fit += *c->experiments[e].groups[g].fit, has_fit = 1;
        if (all.n > by[0].n) {
            printf("\nexperiment %zu '%s': outcomes by fault-model pattern (first occurrence of each trial)\n", e,
                   names[e]);
            printf("  %-20s %-8s %-30s %-30s %s\n", "pattern", "trials", "SDC rate [95% CI]",
                   "critical SDC rate [95% CI]", "DUE rate [95% CI]");
            for (size_t k = 0; k < NPAT; k++) {
                if (!by[k].n) continue;
                char s[64], cr[64], d[64];
                rate(s, sizeof s, by[k].sdc, by[k].n, 1);
                rate(cr, sizeof cr, by[k].crit, by[k].n, 1);
                rate(d, sizeof d, by[k].due, by[k].n, 1);
                printf("  %-20s %-8" PRIu64 " %-30s %-30s %s\n", k < n_names ? pname[k] : "?", by[k].n, s,
                       cr, d);
            }
        }
        if (has_fit && all.n) {
            any_fit = 1;
            char s[64], cr[64], d[64];
            rate(s, sizeof s, all.sdc, all.n, fit);
            rate(cr, sizeof cr, all.crit, all.n, fit);
            rate(d, sizeof d, all.due, all.n, fit);
            printf("\nexperiment %zu '%s': FIT contribution (raw FIT %g x P, 95%% Wilson, %" PRIu64 " trials)\n", e,
                   names[e], fit, all.n);
            printf("  FIT SDC %s  critical SDC %s  DUE %s\n", s, cr, d);
            uint64_t k[3] = {all.sdc, all.crit, all.due};
            for (int i = 0; i < 3; i++) {
                double lo, hi;
                nnfi_wilson_interval(k[i], all.n, 0.95, &lo, &hi);
                sum[i] += fit * (double)k[i] / (double)all.n;
                sum_lo[i] += fit * lo;
                sum_hi[i] += fit * hi;
            }
        }
    }
    if (any_fit)
        printf("\nFIT total (sum over experiments with fit; interval: sum of bounds)\n"
               "  FIT SDC %.4g [%.4g, %.4g]  critical SDC %.4g [%.4g, %.4g]  DUE %.4g [%.4g, %.4g]\n",
               sum[0], sum_lo[0], sum_hi[0], sum[1], sum_lo[1], sum_hi[1], sum[2], sum_lo[2], sum_hi[2]);
    nnfi_campaign_free(c);
}
