/* config_checks.c - pass 3 of the campaign loader: semantic validation.
 *
 * Runs on the structs libcyaml loaded (every key and type already checked by
 * config_walk.c): value ranges, cross-field rules (count or rate, op 'set' and
 * 'value', scope and duration of permanent faults, sweeps, trial budgets,
 * unique names, models that exist, regex size) and the defaults the public
 * structs promise (config.h). Every error is located through the index
 * (config_index.c) at the field it names.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup */
#endif
#include "config_internal.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
    return s ? strdup(s) : NULL;
}

static int target_is_param(nnfi_target t)
{
    return t == NNFI_TARGET_WEIGHT || t == NNFI_TARGET_BIAS || t == NNFI_TARGET_PARAM;
}

/* Semantic errors share this: locate `path`, print the message and a hint. */
static nnfi_status fail_path(const nnfi_campaign *c, const char *path, const char *hint,
                             const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static nnfi_status fail_path(const nnfi_campaign *c, const char *path, const char *hint,
                             const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int line = 1, col = 1;
    nnfi_cfg_index_find(c->index, path, &line, &col);
    return nnfi_cfg_fail_at(c->source_path, line, col, path, msg, hint);
}

/* How many atoms a POSIX extended regex becomes once bounded repetitions are
 * expanded: glibc's regcomp copies the repeated part m..n times, so nested
 * repeats multiply ("(((a{100}){100}){100}){100}" is 10^8 copies and gigabytes
 * of memory in regcomp). An estimate that errs high: {m,n} counts max(m, n)
 * copies, '*', '+', '?' none extra; syntax errors are left to regcomp. */
static double regex_size(const char *re)
{
    enum { CAP = NNFI_CONFIG_MAX_PATTERN + 2 };
    double sum[CAP], last[CAP]; /* per open group: atoms so far, size of the last atom */
    size_t d = 0;
    sum[0] = last[0] = 0;
    for (const char *p = re; *p; p++) {
        double atom = 1;
        switch (*p) {
        case '\\':
            if (p[1]) p++;
            break;
        case '[': { /* a bracket expression is one atom: skip to its closing ']' */
            const char *q = p + 1;
            if (*q == '^') q++;
            if (*q == ']') q++;
            while (*q && *q != ']') {
                if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
                    const char *e = q + 2;
                    while (*e && !(e[0] == q[1] && e[1] == ']')) e++;
                    q = *e ? e + 2 : e;
                } else {
                    q++;
                }
            }
            p = *q ? q : q - 1;
            break;
        }
        case '(':
            if (d + 1 >= CAP) return INFINITY;
            d++;
            sum[d] = last[d] = 0;
            continue;
        case ')':
            if (d > 0) atom = sum[d--];
            break;
        case '|':
            last[d] = 0; /* alternatives add up in sum[d] */
            continue;
        case '*':
        case '+':
        case '?':
            continue;
        case '{': {
            if (!isdigit((unsigned char)p[1])) break; /* not a bound: a literal '{' */
            char *end = NULL;
            unsigned long m = strtoul(p + 1, &end, 10), n = m;
            if (*end == ',') {
                if (isdigit((unsigned char)end[1])) {
                    n = strtoul(end + 1, &end, 10);
                } else {
                    n = m + 1; /* {m,}: at least one copy more */
                    end++;
                }
            }
            if (*end != '}') break;
            double rep = (double)(m > n ? m : n);
            sum[d] += last[d] * (rep - 1);
            last[d] *= rep;
            p = end;
            continue;
        }
        default: break;
        }
        sum[d] += atom;
        last[d] = atom;
    }
    while (d > 0) {
        double inner = sum[d--];
        sum[d] += inner;
    }
    return sum[0];
}

static nnfi_status check_group(nnfi_campaign *c, const nnfi_experiment_cfg *x, nnfi_group_cfg *g,
                               const char *gp, unsigned gi)
{
    char p[600];
#define AT(field) (snprintf(p, sizeof p, "%s.%s", gp, field), p)
    if (!g->name) {
        char nm[32];
        snprintf(nm, sizeof nm, "g%u", gi);
        g->name = xstrdup(nm);
        if (!g->name) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    NNFI_TRY(nnfi_cfg_check_fault_model(c, x, g, gp));
    if (g->sites && g->regex)
        return fail_path(c, AT("regex"), "keep either 'sites' (globs) or 'regex'",
                         "'sites' and 'regex' both given");
    if (g->regex && !(regex_size(g->regex) <= NNFI_CONFIG_MAX_REGEX_SIZE))
        return fail_path(c, AT("regex"), "site names are short: drop or shrink the {m,n} repeats, or use 'sites' globs",
                         "the regex expands to more than %u atoms ({m,n} repeats multiply)",
                         NNFI_CONFIG_MAX_REGEX_SIZE);
    if (g->count && g->rate)
        return fail_path(c, AT("rate"), "keep 'count' (faults per trial) or 'rate' (per element)",
                         "'count' and 'rate' both given");
    if (g->count && (*g->count < 1 || *g->count > NNFI_MAX_FAULTS_PER_GROUP))
        return fail_path(c, AT("count"), "give 1 to 4000000000 faults", "count %llu out of range",
                         (unsigned long long)*g->count);
    if (g->rate && !(*g->rate > 0 && *g->rate <= 1))
        return fail_path(c, AT("rate"), "a rate per element is in (0, 1], e.g. 7e-7",
                         "rate %g out of range", *g->rate);
    if (g->op == NNFI_OP_SET && !g->value)
        return fail_path(c, AT("op"), "add 'value: <number>' (written in the site's dtype)",
                         "op 'set' needs a value");
    if (g->op != NNFI_OP_SET && g->value)
        return fail_path(c, AT("value"), "use 'op: set' to write a value, or drop 'value'",
                         "'value' is only used by op 'set' (op is '%s')", nnfi_op_name(g->op));
    if (g->values != NNFI_VALUES_ANY && !target_is_param(g->target))
        return fail_path(c, AT("values"), "'values' selects among a parameter's loaded elements: target weight, bias or param",
                         "'values: %s' cannot apply to target '%s'", nnfi_values_name(g->values), nnfi_target_name(g->target));
    if (g->values != NNFI_VALUES_ANY && g->element)
        return fail_path(c, AT("values"), "an explicit element is already chosen; drop 'values' or 'element'",
                         "'values' with 'element'");
    if (g->element && g->distinct)
        return fail_path(c, AT("distinct"), "an explicit element cannot be hit by distinct faults",
                         "'distinct' with 'element'");
    if (g->persistence == NNFI_PERMANENT) {
        if (nnfi_cfg_index_has(c->index, AT("scope")))
            return fail_path(c, AT("scope"), "'scope' applies to transient faults; add 'persistence: transient'",
                             "scope given for a permanent fault");
        if (g->duration)
            return fail_path(c, AT("duration"), "'duration' applies to transient faults; add 'persistence: transient'",
                             "duration given for a permanent fault");
    } else {
        if (g->scope == NNFI_SCOPE_SAMPLE && target_is_param(g->target))
            return fail_path(c, AT("scope"),
                             "a parameter is shared by the whole batch: use 'scope: call' for transient weight faults",
                             "scope 'sample' cannot apply to target '%s'", nnfi_target_name(g->target));
    }
    if (g->time_steps) {
        if (target_is_param(g->target))
            return fail_path(c, AT("time_steps"),
                             "time steps are counted by activation, input and state sites; target one of those",
                             "time_steps cannot apply to target '%s'", nnfi_target_name(g->target));
        if (g->time_steps->from > g->time_steps->to)
            return fail_path(c, AT("time_steps.from"), "write from <= to",
                             "from %u is after to %u", g->time_steps->from, g->time_steps->to);
        if (g->duration && g->duration > (uint64_t)g->time_steps->to - g->time_steps->from + 1)
            return fail_path(c, AT("duration"), "make the window wider or the duration shorter",
                             "duration %u is longer than the time-step window", g->duration);
    }
    if (!g->duration) g->duration = 1;
    if (g->bits) {
        nnfi_bits_cfg *b = g->bits;
        if (b->list && b->range)
            return fail_path(c, AT("bits.range"), "keep 'list' or 'range'", "'list' and 'range' both given");
        for (unsigned i = 0; i < b->list_count; i++) {
            if (b->list[i] > 63) {
                char lp[640];
                snprintf(lp, sizeof lp, "%s.bits.list[%u]", gp, i);
                return fail_path(c, lp, "bit positions are 0 (least significant) to 63",
                                 "bit %u out of range", b->list[i]);
            }
            for (unsigned j = 0; j < i; j++)
                if (b->list[j] == b->list[i]) {
                    char lp[640];
                    snprintf(lp, sizeof lp, "%s.bits.list[%u]", gp, i);
                    return fail_path(c, lp, "list each bit once", "bit %u listed twice", b->list[i]);
                }
        }
        if (b->range && (b->range[0] > b->range[1] || b->range[1] > 63))
            return fail_path(c, AT("bits.range"), "write [lo, hi] with 0 <= lo <= hi <= 63",
                             "bad bit range [%u, %u]", b->range[0], b->range[1]);
        if (b->all && b->count)
            return fail_path(c, AT("bits.count"), "'all: true' hits every candidate bit; drop 'count'",
                             "'count' and 'all' both given");
        if (b->count == 0 && nnfi_cfg_index_has(c->index, AT("bits.count")))
            return fail_path(c, AT("bits.count"), "at least one bit per fault, or 'all: true' for the whole set",
                             "count 0");
        if (!b->all && b->count == 0) b->count = 1;
        if (b->count > 64)
            return fail_path(c, AT("bits.count"), "an element has at most 64 bits",
                             "count %u out of range", b->count);
    } else {
        g->bits = calloc(1, sizeof *g->bits);
        if (!g->bits) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        g->bits->preset = NNFI_BITS_ALL;
        /* default: one random bit; but 'set' writes a whole value */
        if (g->op == NNFI_OP_SET) g->bits->all = true;
        else g->bits->count = 1;
    }
    if (!x->sweep && !x->search && !g->count && !g->rate)
        return fail_path(c, gp, "add 'count: N' or 'rate: R' to the group, or a 'sweep' to the experiment",
                         "no fault count for group '%s'", g->name);
    return NNFI_OK;
#undef AT
}

const char *nnfi_model_eval_field(const nnfi_campaign *c, unsigned mi, char *buf, size_t n)
{
    char own[64], own_path[80];
    snprintf(own, sizeof own, "models[%u].eval", mi);
    snprintf(own_path, sizeof own_path, "models[%u].eval.path", mi);
    if (nnfi_cfg_index_has(c->index, own_path)) snprintf(buf, n, "%s", own_path);
    else if (nnfi_cfg_index_has(c->index, own)) snprintf(buf, n, "%s", own);
    else snprintf(buf, n, "%s", c->eval && c->eval->path ? "eval.path" : "eval");
    return buf;
}

/* models[i].eval: every field the model leaves out is the campaign's
 * (c->eval, defaults filled), so each model ends with its own complete copy. */
static nnfi_status model_eval(nnfi_campaign *c, unsigned i)
{
    nnfi_model_cfg *m = &c->models[i];
    const nnfi_eval_cfg *ce = c->eval;
    if (!m->eval && !(m->eval = calloc(1, sizeof *m->eval))) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_eval_cfg *e = m->eval;
    char key[96];
#define OWN(f) (snprintf(key, sizeof key, "models[%u].eval." f, i), nnfi_cfg_index_has(c->index, key))
    if (!e->path && ce->path) e->path = xstrdup(ce->path);
    if (!e->images) e->images = xstrdup(ce->images);
    if (!e->labels) e->labels = xstrdup(ce->labels);
    if (!OWN("samples")) e->samples = ce->samples;
    if (!OWN("batch")) e->batch = ce->batch;
    if (!OWN("cache_mb")) e->cache_mb = ce->cache_mb;
    if (!OWN("drop_nonfinite")) e->drop_nonfinite = ce->drop_nonfinite;
#undef OWN
    if ((ce->path && !e->path) || !e->images || !e->labels) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    snprintf(key, sizeof key, "models[%u].eval.batch", i);
    if (e->batch == 0 || e->batch > 65536)
        return fail_path(c, key, "a batch of 1 to 65536 samples", "batch %u out of range", e->batch);
    snprintf(key, sizeof key, "models[%u].eval.cache_mb", i);
    if (e->cache_mb > 1048576)
        return fail_path(c, key, "a golden cache of 0 (none) to 1048576 MiB per model and rank",
                         "cache_mb %u out of range", e->cache_mb);
    return NNFI_OK;
}

/* A critical-bit search (nnfi search): one flip group on parameters or
 * buffers, permanent, no sweep; its own defaults. */
static nnfi_status check_search(nnfi_campaign *c, unsigned xi)
{
    nnfi_experiment_cfg *x = &c->experiments[xi];
    nnfi_search_cfg *s = x->search;
    char p[128];
#define SAT(field) (snprintf(p, sizeof p, "experiments[%u].%s", xi, field), p)
    if (strcmp(s->find, "critical_bits") != 0)
        return fail_path(c, SAT("search.find"), "the search finds 'critical_bits'", "unknown search '%s'", s->find);
    if (s->elements < 1 || s->elements > UINT64_C(1) << 32)
        return fail_path(c, SAT("search.elements"), "draw 1 to 4294967296 elements", "elements %llu out of range",
                         (unsigned long long)s->elements);
    if (s->exhaustive_check > s->elements)
        return fail_path(c, SAT("search.exhaustive_check"), "check at most as many elements as are drawn ('elements')",
                         "exhaustive_check %llu is more than elements %llu", (unsigned long long)s->exhaustive_check,
                         (unsigned long long)s->elements);
    if (!nnfi_cfg_index_has(c->index, SAT("search.criterion"))) s->criterion = NNFI_WATCH_SDC;
    if (s->criterion == NNFI_WATCH_ACCURACY_DROP && !(s->threshold > 0 && s->threshold <= 1))
        return fail_path(c, SAT("search.threshold"), "the accuracy drop that makes a bit critical, in (0, 1], e.g. 0.1",
                         "criterion accuracy_drop needs a threshold in (0, 1] (got %g)", s->threshold);
    if (!nnfi_cfg_index_has(c->index, SAT("search.pilot"))) s->pilot = 4;
    if (s->pilot > 100000)
        return fail_path(c, SAT("search.pilot"), "0 to 100000 pilot elements per site", "pilot %llu out of range",
                         (unsigned long long)s->pilot);
    if (!nnfi_cfg_index_has(c->index, SAT("search.pool"))) s->pool = 64;
    if (s->pool < 1 || s->pool > NNFI_SEARCH_POOL_MAX)
        return fail_path(c, SAT("search.pool"), "1 (every flip evaluated alone) to 256 flips per group test (default 64)",
                         "pool %llu out of range", (unsigned long long)s->pool);
    if (!(s->strata_width >= 0 && s->strata_width < 1))
        return fail_path(c, SAT("search.strata_width"), "an interval width in (0, 1), e.g. 0.2 (0: no estimator)",
                         "strata_width %g out of range", s->strata_width);
    if (!nnfi_cfg_index_has(c->index, SAT("search.strata_max"))) s->strata_max = 400;
    if (s->strata_max < 8 || s->strata_max > 1000000)
        return fail_path(c, SAT("search.strata_max"), "8 to 1000000 draws per stratum (default 400)",
                         "strata_max %llu out of range", (unsigned long long)s->strata_max);
    if (x->sweep) return fail_path(c, SAT("sweep"), "a search has no sweep: drop it", "'sweep' with 'search'");
    if (x->groups_count != 1)
        return fail_path(c, SAT("groups"), "a search takes one group: the sites whose bits it classifies",
                         "%u groups with 'search'", x->groups_count);
    const nnfi_group_cfg *g = &x->groups[0];
    if (!target_is_param(g->target) || g->fault_model || g->op != NNFI_OP_FLIP ||
        g->persistence != NNFI_PERMANENT)
        return fail_path(c, SAT("groups[0]"),
                         "a search flips single bits of parameters or buffers: target weight, bias or param, "
                         "op flip, permanent, no fault_model",
                         "this group cannot be searched");
    return NNFI_OK;
#undef SAT
}

static nnfi_status check_experiment(nnfi_campaign *c, unsigned xi)
{
    nnfi_experiment_cfg *x = &c->experiments[xi];
    char xp[64], p[640];
    snprintf(xp, sizeof xp, "experiments[%u]", xi);
#define AT(field) (snprintf(p, sizeof p, "%s.%s", xp, field), p)
    for (unsigned j = 0; j < xi; j++)
        if (strcmp(c->experiments[j].name, x->name) == 0)
            return fail_path(c, AT("name"), "give every experiment its own name",
                             "experiment name '%s' used twice", x->name);
    unsigned mi = 0;
    while (mi < c->models_count && strcmp(c->models[mi].name, x->model) != 0) mi++;
    if (mi == c->models_count) {
        char hint[1024];
        size_t used = (size_t)snprintf(hint, sizeof hint, "models defined:");
        for (unsigned j = 0; j < c->models_count && used < sizeof hint; j++)
            used += (size_t)snprintf(hint + used, sizeof hint - used, " %s", c->models[j].name);
        return fail_path(c, AT("model"), hint, "no model named '%s'", x->model);
    }
    int budgets = !!x->trials + !!x->budget + !!x->stop + !!x->search;
    if (budgets == 0)
        return fail_path(c, xp, "add 'trials: N', 'budget: {margin, confidence}', 'stop: {...}' or 'search: {...}'",
                         "no trial budget for experiment '%s'", x->name);
    if (budgets > 1)
        return fail_path(c, x->search ? AT("search") : x->stop ? AT("stop") : AT("budget"),
                         "keep one of 'trials', 'budget', 'stop' and 'search'", "more than one trial budget");
    if (x->search) NNFI_TRY(check_search(c, xi));
    if (x->trials && (*x->trials < 1 || *x->trials > NNFI_MAX_TRIALS_PER_POINT))
        return fail_path(c, AT("trials"), "give 1 to 4000000000 trials per point",
                         "trials %llu out of range", (unsigned long long)*x->trials);
    if (x->budget) {
        nnfi_budget_cfg *b = x->budget;
        if (!(b->margin > 0 && b->margin < 0.5))
            return fail_path(c, AT("budget.margin"), "a margin of error in (0, 0.5), e.g. 0.01",
                             "margin %g out of range", b->margin);
        if (!(b->confidence > 0 && b->confidence < 1))
            return fail_path(c, AT("budget.confidence"), "a confidence level in (0, 1), e.g. 0.95",
                             "confidence %g out of range", b->confidence);
        if (b->p && !(*b->p > 0 && *b->p < 1))
            return fail_path(c, AT("budget.p"), "an expected proportion in (0, 1); 0.5 is the safe choice",
                             "p %g out of range", *b->p);
    }
    if (x->stop) {
        nnfi_stop_cfg *s = x->stop;
        if (!(s->width > 0 && s->width < 1))
            return fail_path(c, AT("stop.width"), "an interval width in (0, 1), e.g. 0.05",
                             "width %g out of range", s->width);
        if (s->confidence == 0) s->confidence = 0.95;
        if (!(s->confidence > 0 && s->confidence < 1))
            return fail_path(c, AT("stop.confidence"), "a confidence level in (0, 1), e.g. 0.95",
                             "confidence %g out of range", s->confidence);
        if (s->watch == NNFI_WATCH_ACCURACY_DROP && !(s->threshold > 0 && s->threshold <= 1))
            return fail_path(c, AT("stop.threshold"), "the accuracy drop that counts, in (0, 1], e.g. 0.4",
                             "watch 'accuracy_drop' needs a threshold in (0, 1]");
        if (s->min == 0) s->min = 30;
        if (s->max < s->min || s->max > NNFI_MAX_TRIALS_PER_POINT)
            return fail_path(c, AT("stop.max"), "the cap must be at least 'min' (default 30)",
                             "max %llu is below min %llu or too large", (unsigned long long)s->max,
                             (unsigned long long)s->min);
    }
    if (x->sweep) {
        nnfi_sweep_cfg *s = x->sweep;
        if (!!s->faults + !!s->rates != 1)
            return fail_path(c, AT("sweep"), "give 'faults: [1, 10, ...]' or 'rates: [1e-7, ...]'",
                             "a sweep needs exactly one of 'faults' and 'rates'");
        for (unsigned i = 0; i < s->faults_count; i++)
            if (s->faults[i] < 1 || s->faults[i] > NNFI_MAX_FAULTS_PER_GROUP) {
                char lp[700];
                snprintf(lp, sizeof lp, "%s.sweep.faults[%u]", xp, i);
                return fail_path(c, lp, "fault counts are 1 to 4000000000", "fault count %llu out of range",
                                 (unsigned long long)s->faults[i]);
            }
        for (unsigned i = 0; i < s->rates_count; i++)
            if (!(s->rates[i] > 0 && s->rates[i] <= 1)) {
                char lp[700];
                snprintf(lp, sizeof lp, "%s.sweep.rates[%u]", xp, i);
                return fail_path(c, lp, "a rate per element is in (0, 1], e.g. 7e-7", "rate %g out of range",
                                 s->rates[i]);
            }
        if (s->draw != NNFI_RATE_FIXED && !s->rates)
            return fail_path(c, AT("sweep.draw"), "'draw' applies to 'rates' sweeps only",
                             "'draw' without 'rates'");
        int swept = 0;
        for (unsigned gi = 0; gi < x->groups_count; gi++)
            swept += !x->groups[gi].count && !x->groups[gi].rate;
        if (!swept)
            return fail_path(c, AT("sweep"), "drop 'count'/'rate' from the group the sweep should set",
                             "the sweep sets no group: every group has a fixed count or rate");
    }
    for (unsigned gi = 0; gi < x->groups_count; gi++) {
        char gp[128];
        snprintf(gp, sizeof gp, "%s.groups[%u]", xp, gi);
        NNFI_TRY(check_group(c, x, &x->groups[gi], gp, gi));
        for (unsigned gj = 0; gj < gi; gj++)
            if (strcmp(x->groups[gj].name, x->groups[gi].name) == 0)
                return fail_path(c, gp, "give every group of an experiment its own name",
                                 "group name '%s' used twice", x->groups[gi].name);
    }
    return NNFI_OK;
#undef AT
}

nnfi_status nnfi_cfg_check_semantics(nnfi_campaign *c)
{
    char p[128];
    for (unsigned i = 0; i < c->models_count; i++) {
        nnfi_model_cfg *m = &c->models[i];
        for (unsigned j = 0; j < i; j++)
            if (strcmp(c->models[j].name, m->name) == 0) {
                snprintf(p, sizeof p, "models[%u].name", i);
                return fail_path(c, p, "give every model its own name", "model name '%s' used twice", m->name);
            }
        if (m->host == NNFI_HOST_TORCH && !m->path) {
            snprintf(p, sizeof p, "models[%u]", i);
            return fail_path(c, p, "add 'path: <model.pt>' (a TorchScript file, relative to this file)",
                             "torch model '%s' has no path", m->name);
        }
        NNFI_TRY(nnfi_cfg_check_torch_ops(c, i));
        if (m->threads > 1024) {
            snprintf(p, sizeof p, "models[%u].threads", i);
            return fail_path(c, p, "0 (one thread) to 1024", "threads %u out of range", m->threads);
        }
        if (m->host == NNFI_HOST_NULL && !m->null_model) {
            m->null_model = calloc(1, sizeof *m->null_model);
            if (!m->null_model) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        }
        if (m->null_model) {
            nnfi_null_model_cfg *s = m->null_model;
            if (!s->inputs) s->inputs = 64;
            if (!s->hidden) s->hidden = 128;
            if (!s->layers) s->layers = 2;
            if (!s->classes) s->classes = 10;
            if (s->inputs > 65536 || s->hidden > 65536 || s->layers > 64 || s->classes > 65536 ||
                s->classes < 2) {
                snprintf(p, sizeof p, "models[%u].shape", i);
                return fail_path(c, p, "inputs/hidden/classes up to 65536 (classes >= 2), layers up to 64",
                                 "null model shape out of range");
            }
        }
    }
    if (!c->eval) {
        c->eval = calloc(1, sizeof *c->eval);
        if (!c->eval) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    if (!c->eval->images) c->eval->images = xstrdup("images");
    if (!c->eval->labels) c->eval->labels = xstrdup("labels");
    if (!c->eval->batch && nnfi_cfg_index_has(c->index, "eval.batch"))
        return fail_path(c, "eval.batch", "a batch of 1 to 65536 samples", "batch 0");
    if (!c->eval->batch) c->eval->batch = 256;
    if (c->eval->batch > 65536)
        return fail_path(c, "eval.batch", "a batch of 1 to 65536 samples", "batch %u out of range",
                         c->eval->batch);
    if (!nnfi_cfg_index_has(c->index, "eval.cache_mb")) c->eval->cache_mb = 256;
    if (c->eval->cache_mb > 1048576)
        return fail_path(c, "eval.cache_mb", "a golden cache of 0 (none) to 1048576 MiB per model and rank",
                         "cache_mb %u out of range", c->eval->cache_mb);
    for (unsigned i = 0; i < c->models_count; i++) NNFI_TRY(model_eval(c, i));
    for (unsigned i = 0; i < c->experiments_count; i++) NNFI_TRY(check_experiment(c, i));
    if (!c->output) {
        c->output = calloc(1, sizeof *c->output);
        if (!c->output) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    if (!nnfi_cfg_index_has(c->index, "output.faults_max_n")) c->output->faults_max_n = 1000;
    if (!c->output->path) { /* not written in the file: the working directory, like -o */
        char buf[128];
        snprintf(buf, sizeof buf, "%s.h5", c->name);
        c->output->path = xstrdup(buf);
    } else if (c->output->path[0] != '/' && c->source_dir && strcmp(c->source_dir, ".") != 0) {
        /* written in the file: relative to the file, as every path in it */
        size_t n = strlen(c->source_dir) + strlen(c->output->path) + 2;
        char *joined = malloc(n);
        if (!joined) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        snprintf(joined, n, "%s/%s", c->source_dir, c->output->path);
        free(c->output->path);
        c->output->path = joined;
    }
    return NNFI_OK;
}
