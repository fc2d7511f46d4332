/* cmd_faults.c - `nnfi faults CAMPAIGN.yaml --trial K`: regenerate and print
 * the faults of one trial (they are a pure function of the seed and indices,
 * so this is exactly what a run injects: it asks the run's own worker). Opens
 * the model to name sites and show each parameter element's value before and
 * after the fault. */
#include "cli.h"

#include "nnfi/results.h"
#include "nnfi/worker.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "nnfi faults CAMPAIGN.yaml (--trial K [--experiment E] [--point P] | --global G)\n"
    "                          [--format table|csv|json] [--limit N]";

static void print_help(void)
{
    printf("%s\n\n"
           "Print the faults of one trial, regenerated from the campaign seed.\n\n"
           "  --experiment E   experiment name or index (default: the first)\n"
           "  --point P        point index within the experiment's sweep (default 0)\n"
           "  --trial K        trial index within the point\n"
           "  --global G       global trial index instead (see 'nnfi plan')\n"
           "  --format F       table (default), csv or json\n"
           "  --limit N        print at most N faults per group (default: all)\n",
           usage);
}

/* "3,17" style multi-index of a flat element in a site's shape. */
static void element_index(const nnfi_site *s, uint64_t e, char *out, size_t n)
{
    uint64_t idx[NNFI_SITE_MAX_DIMS];
    for (int d = s->ndim - 1; d >= 0; d--) {
        uint64_t dim = s->shape[d] > 0 ? (uint64_t)s->shape[d] : 1;
        idx[d] = e % dim;
        e /= dim;
    }
    size_t used = 0;
    out[0] = '\0';
    for (int d = 0; d < s->ndim && used < n; d++)
        used += (size_t)snprintf(out + used, n - used, "%s%" PRIu64, d ? ";" : "", idx[d]);
}

static void bit_list(uint64_t mask, char *out, size_t n)
{
    size_t used = 0;
    out[0] = '\0';
    for (int b = 63; b >= 0 && used < n; b--)
        if (mask >> b & 1) used += (size_t)snprintf(out + used, n - used, "%s%d", used ? ";" : "", b);
}

static void fmt_number(double v, char *out, size_t n)
{
    if (isnan(v)) snprintf(out, n, "nan");
    else if (isinf(v)) snprintf(out, n, v > 0 ? "inf" : "-inf");
    else snprintf(out, n, "%.9g", v);
}

typedef struct row_ctx {
    cli_format fmt;
    int first_json;
} row_ctx;

static void print_fault(row_ctx *rc, const cli_model *m, const char *group, uint64_t k, const nnfi_fault *f)
{
    const nnfi_site *s = &m->sites[f->site];
    char idx[128], bits[256], before[48] = "", after[48] = "", when[32] = "-", steps[48] = "all";
    element_index(s, f->element, idx, sizeof idx);
    bit_list(f->mask, bits, sizeof bits);
    if (s->data) {
        uint64_t w = nnfi_elem_load(s->data, s->dtype, f->element);
        fmt_number(nnfi_value_decode(w, s->dtype), before, sizeof before);
        fmt_number(nnfi_value_decode(nnfi_bits_apply(w, (nnfi_op)f->op, f->mask, f->value), s->dtype), after,
                   sizeof after);
    } else if (f->op == NNFI_OP_SET) {
        fmt_number(nnfi_value_decode(f->value, s->dtype), after, sizeof after);
    }
    if (f->transient) {
        size_t n_scopes = 0;
        const char *const *scopes = nnfi_category_names(NNFI_CAT_SCOPE, &n_scopes);
        snprintf(when, sizeof when, "%s %" PRId64, f->scope < n_scopes ? scopes[f->scope] : "?", f->when);
    }
    if (!(f->t_first == 0 && f->t_last == UINT32_MAX))
        snprintf(steps, sizeof steps, "%u..%u", f->t_first, f->t_last);
    unsigned hexw = nnfi_dtype_bits(s->dtype) / 4;
    switch (rc->fmt) {
    case CLI_TABLE:
        printf("%-6s %8" PRIu64 "  %-24s %12" PRIu64 "  %-14s %-5s %-7s %-14s 0x%0*" PRIx64 "  %14s -> %-14s %-12s %s\n",
               group, k, s->name, f->element, idx, nnfi_dtype_name(s->dtype), nnfi_op_name((nnfi_op)f->op), bits,
               (int)hexw, f->mask, before[0] ? before : "-", after[0] ? after : "-", when, steps);
        break;
    case CLI_CSV:
        printf("%s,%" PRIu64 ",%s,%" PRIu64 ",%s,%s,%s,%s,0x%0*" PRIx64 ",0x%0*" PRIx64 ",%s,%s,%s,%s\n", group, k,
               s->name, f->element, idx, nnfi_dtype_name(s->dtype), nnfi_op_name((nnfi_op)f->op), bits, (int)hexw,
               f->mask, (int)hexw, f->value, before, after, when, steps);
        break;
    case CLI_JSON:
        printf("%s\n    {\"group\": ", rc->first_json ? "" : ",");
        rc->first_json = 0;
        cli_json_string(stdout, group);
        printf(", \"k\": %" PRIu64 ", \"site\": ", k);
        cli_json_string(stdout, s->name);
        printf(", \"element\": %" PRIu64 ", \"index\": \"%s\", \"dtype\": \"%s\", \"op\": \"%s\", "
               "\"mask\": %" PRIu64 ", \"value\": %" PRIu64 ", \"transient\": %s, \"scope\": \"%s\", "
               "\"when\": %" PRId64 ", \"t_first\": %u, \"t_last\": %u",
               f->element, idx, nnfi_dtype_name(s->dtype), nnfi_op_name((nnfi_op)f->op), f->mask, f->value,
               f->transient ? "true" : "false", nnfi_scope_name((nnfi_transient_scope)f->scope), f->when,
               f->t_first, f->t_last);
        if (before[0]) printf(", \"before\": \"%s\", \"after\": \"%s\"", before, after);
        printf("}");
        break;
    }
}

int cmd_faults(int argc, char **argv)
{
    const char *campaign = NULL, *exp_arg = NULL;
    uint64_t point = 0, trial = 0, global = 0, limit = UINT64_MAX;
    int have_trial = 0, have_global = 0, have_point = 0;
    cli_format fmt = CLI_TABLE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help();
            return CLI_OK;
        } else if (strcmp(a, "--experiment") == 0 || strcmp(a, "--point") == 0 || strcmp(a, "--trial") == 0 ||
                   strcmp(a, "--global") == 0 || strcmp(a, "--format") == 0 || strcmp(a, "--limit") == 0) {
            if (!has_val) return cli_usage_error("faults", usage, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--experiment") == 0) exp_arg = v;
            else if (strcmp(a, "--format") == 0) {
                if (cli_parse_format(v, &fmt)) return cli_usage_error("faults", usage, "unknown format '%s' (table, csv, json)", v);
            } else {
                uint64_t n;
                if (cli_parse_u64(v, &n)) return cli_usage_error("faults", usage, "%s wants a whole number >= 0, got '%s'", a, v);
                if (strcmp(a, "--point") == 0) { point = n; have_point = 1; }
                else if (strcmp(a, "--trial") == 0) { trial = n; have_trial = 1; }
                else if (strcmp(a, "--global") == 0) { global = n; have_global = 1; }
                else limit = n;
            }
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("faults", usage, "unknown option '%s'", a);
        } else if (!campaign) {
            campaign = a;
        } else {
            return cli_usage_error("faults", usage, "unexpected argument '%s'", a);
        }
    }
    if (!campaign) return cli_usage_error("faults", usage, "no campaign file given");
    if (have_trial == have_global)
        return cli_usage_error("faults", usage, have_trial ? "give --trial or --global, not both" : "which trial? give --trial K or --global G");
    if (have_global && (exp_arg || have_point))
        return cli_usage_error("faults", usage, "--global already names the experiment and point");

    nnfi_campaign *c = NULL;
    nnfi_status st = nnfi_campaign_load(campaign, &c);
    if (st != NNFI_OK) return cli_fail(st);
    nnfi_plan *plan = NULL;
    nnfi_worker *w = NULL;
    int rc = CLI_FAIL;
    unsigned xi = 0;
    /* the run's own worker: same plan, same resolution, same faults */
    if ((st = nnfi_worker_create(c, NULL, 0, &w)) != NNFI_OK) goto fail;
    if ((st = nnfi_worker_plan(w, &plan)) != NNFI_OK) goto fail;
    if (have_global) {
        uint32_t e32, p32;
        if ((st = nnfi_plan_locate(plan, global, &e32, &p32, &trial)) != NNFI_OK) goto fail;
        xi = e32;
        point = p32;
    } else if (exp_arg && cli_find_experiment(c, exp_arg, &xi)) {
        fprintf(stderr, "nnfi faults: no experiment '%s'\n  hint: experiments:", exp_arg);
        for (unsigned i = 0; i < c->experiments_count; i++) fprintf(stderr, " %s", c->experiments[i].name);
        fprintf(stderr, " (or an index 0..%u)\n", c->experiments_count - 1);
        rc = CLI_USAGE;
        goto out;
    }
    const nnfi_plan_experiment *pe = &plan->experiments[xi];
    if (point >= pe->n_points || trial >= pe->points[point].trials) {
        fprintf(stderr, "nnfi faults: experiment '%s' has %u point(s) (0..%u) of %llu trial(s); point %llu trial %llu does not exist\n"
                        "  hint: 'nnfi plan %s' lists them\n",
                pe->cfg->name, pe->n_points, pe->n_points - 1, (unsigned long long)pe->points[0].trials,
                (unsigned long long)point, (unsigned long long)trial, campaign);
        rc = CLI_USAGE;
        goto out;
    }
    cli_model m;
    memset(&m, 0, sizeof m);
    const nnfi_fault *faults = NULL;
    uint64_t n = 0;
    if ((st = nnfi_worker_sites(w, xi, &m.sites, &m.n_sites)) != NNFI_OK) goto fail;
    if ((st = nnfi_worker_faults(w, pe->points[point].first + trial, &faults, &n)) != NNFI_OK) goto fail;

    if (fmt == CLI_TABLE) {
        printf("# campaign %s  seed %llu  experiment %s (%u)  point %llu  trial %llu  model %s\n", c->name,
               (unsigned long long)c->seed, pe->cfg->name, xi, (unsigned long long)point, (unsigned long long)trial,
               pe->cfg->model);
        printf("%-6s %8s  %-24s %12s  %-14s %-5s %-7s %-14s %-10s  %14s    %-14s %-12s %s\n", "group", "k", "site", "element",
               "index", "dtype", "op", "bits", "mask", "before", "after", "when", "steps");
    } else if (fmt == CLI_CSV) {
        printf("group,k,site,element,index,dtype,op,bits,mask,value,before,after,when,steps\n");
    } else {
        printf("{\"campaign\": ");
        cli_json_string(stdout, c->name);
        printf(", \"seed\": %llu, \"experiment\": ", (unsigned long long)c->seed);
        cli_json_string(stdout, pe->cfg->name);
        printf(", \"point\": %llu, \"trial\": %llu, \"faults\": [", (unsigned long long)point, (unsigned long long)trial);
    }
    row_ctx rcx = {fmt, 1};
    /* faults come group after group; k restarts at 0 in each group */
    for (uint64_t i = 0, k = 0; i < n; i++, k++) {
        if (i > 0 && faults[i].group != faults[i - 1].group) k = 0;
        if (k < limit) print_fault(&rcx, &m, pe->cfg->groups[faults[i].group].name, k, &faults[i]);
        int last_of_group = i + 1 == n || faults[i + 1].group != faults[i].group;
        if (fmt == CLI_TABLE && last_of_group && k + 1 > limit)
            printf("# group %s: %llu more faults not shown (--limit)\n", pe->cfg->groups[faults[i].group].name,
                   (unsigned long long)(k + 1 - limit));
    }
    if (fmt == CLI_JSON) printf("\n]}\n");
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
