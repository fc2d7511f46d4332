/* config_fault_model.c - pass 3 for a group's hardware fault model
 * (`fault_model`, `value_range`, `fit`): the keys a fault model replaces are
 * refused at their own line:column, the model file is loaded once here (so
 * `nnfi plan` validates it) and owned by the campaign; errors inside the model
 * file keep the model file's FILE:LINE:COL and are prefixed with the campaign
 * position of the `fault_model` key. See README "Hardware fault models".
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "config_internal.h"

#include "nnfi/fault_model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nnfi_status fail_at_path(const nnfi_campaign *c, const char *path, const char *what, const char *hint)
{
    int line = 1, col = 1;
    nnfi_cfg_index_find(c->index, path, &line, &col);
    return nnfi_cfg_fail_at(c->source_path, line, col, path, what, hint);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The keys a fault model decides (op, bits and values come from its value
 * classes; persistence and scope from its `scope`; the element from its
 * patterns; the count is of occurrences, not a rate). */
static const char *const replaced[] = {"op", "value", "bits", "element", "values", "distinct",
                                       "persistence", "scope", "duration", "rate"};

static nnfi_status load_model(nnfi_campaign *c, nnfi_group_cfg *g, const char *gp)
{
    char at[640], file[NNFI_CONFIG_MAX_PATH * 2 + 2];
    snprintf(at, sizeof at, "%s.fault_model", gp);
    if (g->fault_model[0] == '/' || !c->source_dir || strcmp(c->source_dir, ".") == 0)
        snprintf(file, sizeof file, "%s", g->fault_model);
    else
        snprintf(file, sizeof file, "%s/%s", c->source_dir, g->fault_model);
    int classes = ends_with(g->fault_model, ".json");
    nnfi_fault_model *fm = NULL;
    nnfi_status st = classes ? nnfi_fm_load_classes(file, &fm) : nnfi_fm_load(file, &fm);
    if (st == NNFI_OK) {
        g->fm = fm;
        return NNFI_OK;
    }
    if (st == NNFI_E_NOMEM) return st;
    /* the loader's message, behind the campaign's position */
    size_t n = strlen(nnfi_error_message()) + 1;
    char *inner = malloc(n);
    if (!inner) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    memcpy(inner, nnfi_error_message(), n);
    int line = 1, col = 1;
    nnfi_cfg_index_find(c->index, at, &line, &col);
    if (st == NNFI_E_IO)
        st = NNFI_FAIL(NNFI_E_CONFIG,
                       "%s:%d:%d: %s: cannot read the fault model '%s' (%s)\n  hint: the path is relative to the "
                       "campaign file's directory; '.json' files are read as CLASSES error models, others as "
                       "nnfi's YAML (README \"Hardware fault models\")",
                       c->source_path, line, col, at, g->fault_model, inner);
    else
        st = NNFI_FAIL(NNFI_E_CONFIG, "%s:%d:%d: %s: in the %s fault model: %s", c->source_path, line, col, at,
                       classes ? "CLASSES" : "native", inner);
    free(inner);
    return st;
}

nnfi_status nnfi_cfg_check_fault_model(nnfi_campaign *c, const nnfi_experiment_cfg *x, nnfi_group_cfg *g,
                                       const char *gp)
{
    char p[640], what[256], hint[512];
    if (g->fit && !(isfinite(*g->fit) && *g->fit >= 0)) {
        snprintf(p, sizeof p, "%s.fit", gp);
        return fail_at_path(c, p, "fit must be a finite number >= 0",
                            "the raw FIT rate (failures in 10^9 device-hours) of the unit the group stands for");
    }
    if (g->value_range && !g->fault_model) {
        snprintf(p, sizeof p, "%s.value_range", gp);
        return fail_at_path(c, p, "'value_range' without 'fault_model'",
                            "value_range bounds a fault model's random_in_range / out_of_range values; add "
                            "'fault_model: FILE' or drop it");
    }
    if (!g->fault_model) return NNFI_OK;
    for (size_t i = 0; i < N_OF(replaced); i++) {
        snprintf(p, sizeof p, "%s.%s", gp, replaced[i]);
        if (!nnfi_cfg_index_has(c->index, p)) continue;
        snprintf(what, sizeof what, "'%s' with 'fault_model'", replaced[i]);
        snprintf(hint, sizeof hint,
                 "the fault model decides %s; drop '%s' (a group with fault_model takes target, sites/regex, "
                 "time_steps, count (occurrences per trial), value_range and fit)",
                 strcmp(replaced[i], "persistence") == 0 || strcmp(replaced[i], "scope") == 0 ||
                         strcmp(replaced[i], "duration") == 0
                     ? "the temporal scope (its 'scope' key)"
                 : strcmp(replaced[i], "element") == 0 || strcmp(replaced[i], "values") == 0 ||
                         strcmp(replaced[i], "distinct") == 0
                     ? "which elements are hit (its patterns)"
                 : strcmp(replaced[i], "rate") == 0 ? "how many elements one occurrence hits: give 'count'"
                                                    : "the operation and value of each element (its value classes)",
                 replaced[i]);
        return fail_at_path(c, p, what, hint);
    }
    if (!g->count && x->sweep && x->sweep->rates) {
        snprintf(p, sizeof p, "%s.fault_model", gp);
        return fail_at_path(c, p, "a fault model counts pattern occurrences, the sweep gives rates per element",
                            "give the group 'count: N' (occurrences per trial), or sweep 'faults' instead of 'rates'");
    }
    if (!g->count && !x->sweep) { /* default: one occurrence per trial */
        g->count = malloc(sizeof *g->count);
        if (!g->count) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        *g->count = 1;
    }
    if (g->count && *g->count >= 0x7FFFFFFFull) {
        snprintf(p, sizeof p, "%s.count", gp);
        return fail_at_path(c, p, "too many occurrences", "a fault-model group draws at most 2147483646 occurrences per trial");
    }
    if (g->value_range && !(isfinite(g->value_range[0]) && isfinite(g->value_range[1]) &&
                            g->value_range[0] <= g->value_range[1])) {
        snprintf(p, sizeof p, "%s.value_range", gp);
        return fail_at_path(c, p, "value_range must be [lo, hi], finite, lo <= hi", "e.g. value_range: [0, 6] for ReLU6 outputs");
    }
    return load_model(c, g, gp);
}

void nnfi_cfg_free_fault_models(nnfi_campaign *c)
{
    for (unsigned e = 0; c->experiments && e < c->experiments_count; e++)
        for (unsigned g = 0; c->experiments[e].groups && g < c->experiments[e].groups_count; g++) {
            nnfi_fm_free(c->experiments[e].groups[g].fm);
            c->experiments[e].groups[g].fm = NULL;
        }
}
