/* fm_load_yaml.c - the native fault-model file (format in
 * include/nnfi/fault_model.h): text -> libyaml tree (fm_yaml_nodes.c) -> a
 * checked walk that fills an nnfi_fault_model -> nnfi_fm_finalize().
 * Every refusal names FILE:LINE:COL, the field path (patterns[1].params[0].k)
 * and a hint; unknown keys get the valid ones and a did-you-mean.
 */
#include "fm_internal.h"

/* field paths ("patterns[3].params[1].k") are cut at their buffer's size on
 * purpose: a message with a shortened path beats no message */
#if defined(__GNUC__) && !defined(__clang__) /* clang has no -Wformat-truncation */
#pragma GCC diagnostic ignored "-Wformat-truncation"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const top_keys[] = {"name", "scope", "patterns"};
static const char *const pattern_keys[] = {"kind", "frequency", "params", "values", "bits"};

static nnfi_status unknown_key(const fm_doc *d, const yaml_node_t *k, const char *path, const char *const *names,
                               size_t count, const char *what_names)
{
    char what[200], hint[900];
    const char *ks = fm_scalar(k);
    snprintf(what, sizeof what, "unknown key '%.60s'", ks ? ks : "?");
    fm_names_hint(names, count, ks, what_names, hint, sizeof hint);
    return fm_fail(d, k, path, what, hint);
}

static int key_in(const char *s, const char *const *names, size_t count)
{
    for (size_t i = 0; s && i < count; i++)
        if (strcmp(s, names[i]) == 0) return 1;
    return 0;
}

/* Refuse a repeated key (libyaml keeps both). */
static nnfi_status no_duplicates(const fm_doc *d, const yaml_node_t *map, const char *path)
{
    for (yaml_node_pair_t *a = map->data.mapping.pairs.start; a < map->data.mapping.pairs.top; a++)
        for (yaml_node_pair_t *b = map->data.mapping.pairs.start; b < a; b++) {
            const char *sa = fm_scalar(fm_node(d, a->key)), *sb = fm_scalar(fm_node(d, b->key));
            if (sa && sb && strcmp(sa, sb) == 0) {
                char what[160];
                snprintf(what, sizeof what, "key '%.60s' given twice", sa);
                return fm_fail(d, fm_node(d, a->key), path, what, "keep one of them");
            }
        }
    return NNFI_OK;
}

static nnfi_status read_bits(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_pattern *pt)
{
    const char *hint = "write bits: uniform, or a mapping of bit positions 0..63 to weights, e.g. {30: 1, 23: 2}";
    const char *s = fm_scalar(n);
    if (s) {
        if (strcmp(s, "uniform") == 0) {
            pt->bit_uniform = 1;
            return NNFI_OK;
        }
        return fm_fail(d, n, path, "expected 'uniform' or a mapping", hint);
    }
    if (n->type != YAML_MAPPING_NODE) return fm_fail(d, n, path, "expected 'uniform' or a mapping", hint);
    NNFI_TRY(no_duplicates(d, n, path));
    int any = 0, uniform = 0;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        char p2[320];
        snprintf(p2, sizeof p2, "%s.%s", path, ks ? ks : "?");
        if (ks && strcmp(ks, "uniform") == 0) {
            const char *vs = fm_scalar(v);
            if (!vs || strcmp(vs, "true") != 0) return fm_fail(d, v, p2, "expected true", hint);
            uniform = 1;
            continue;
        }
        unsigned long bit;
        NNFI_TRY(fm_uint(d, k, p2, 0, NNFI_FM_MAX_BITS - 1, &bit));
        NNFI_TRY(fm_weight(d, v, p2, &pt->bit_weight[bit]));
        any = 1;
    }
    if (uniform && any) return fm_fail(d, n, path, "both 'uniform' and bit weights", hint);
    if (!uniform && !any) return fm_fail(d, n, path, "no bits", hint);
    pt->bit_uniform = uniform;
    if (any) {
        double sum = 0;
        for (int b = 0; b < NNFI_FM_MAX_BITS; b++) sum += pt->bit_weight[b];
        if (!(sum > 0)) return fm_fail(d, n, path, "all bit weights are 0", hint);
    }
    return NNFI_OK;
}

/* One value mix from a mapping {class: weight | [lo, hi], weight: w, bits: ...}. */
static nnfi_status read_mix(const fm_doc *d, const yaml_node_t *n, const char *path, int in_list, nnfi_fm_pattern *pt,
                            nnfi_fm_mix *mx, const yaml_node_t **bits_node)
{
    const char *hint_classes = "e.g. {bitflip: 0.5, zero: 0.25, nan: 0.25}; one class may take a share range "
                               "in percent, e.g. zero: [20, 40]";
    if (n->type != YAML_MAPPING_NODE) return fm_fail(d, n, path, "expected a mapping of value classes", hint_classes);
    NNFI_TRY(no_duplicates(d, n, path));
    mx->ranged = -1;
    mx->weight = in_list ? -1 : 1;
    double sum = 0;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        char p2[320];
        snprintf(p2, sizeof p2, "%s.%s", path, ks ? ks : "?");
        if (ks && strcmp(ks, "weight") == 0 && in_list) {
            NNFI_TRY(fm_weight(d, v, p2, &mx->weight));
            continue;
        }
        if (ks && strcmp(ks, "bits") == 0 && !in_list) {
            *bits_node = v;
            NNFI_TRY(read_bits(d, v, p2, pt));
            continue;
        }
        int c = nnfi_fm_class_of(ks);
        if (c < 0) {
            const char *names[NNFI_FM_CLASS_COUNT + 2];
            size_t cnt = 0;
            for (int i = 0; i < NNFI_FM_CLASS_COUNT; i++) names[cnt++] = fm_class_names[i];
            names[cnt++] = in_list ? "weight" : "bits";
            return unknown_key(d, k, path, names, cnt, "keys");
        }
        if (v->type == YAML_SEQUENCE_NODE) {
            if (mx->ranged >= 0)
                return fm_fail(d, k, p2, "a second class with a share range",
                               "only one class of a mix may take a [lo, hi] range; give the others weights");
            nnfi_fm_pdist tmp;
            NNFI_TRY(fm_pdist(d, v, p2, NNFI_FMP_FILL_PCT, "one_of", &tmp)); /* any percent parameter */
            mx->ranged = c;
            mx->ranged_lo_bp = tmp.lo[0];
            mx->ranged_hi_bp = tmp.hi[0];
            mx->share[c] = 0;
            continue;
        }
        NNFI_TRY(fm_weight(d, v, p2, &mx->share[c]));
        sum += mx->share[c];
    }
    if (in_list && mx->weight < 0)
        return fm_fail(d, n, path, "a mix in a list needs 'weight'", "e.g. - {weight: 0.8, out_of_range: 1}");
    if (mx->ranged < 0 && !(sum > 0))
        return fm_fail(d, n, path, "the value-class proportions are all 0 (or none given)", hint_classes);
    if (mx->ranged >= 0 && !(sum > 0) && mx->ranged_lo_bp != 10000)
        return fm_fail(d, n, path, "a class with a share range but no other class to take the rest", hint_classes);
    return NNFI_OK;
}

static nnfi_status read_values(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_pattern *pt,
                               const yaml_node_t **bits_node)
{
    if (n->type == YAML_MAPPING_NODE) {
        pt->n_mixes = 1;
        return read_mix(d, n, path, 0, pt, &pt->mixes[0], bits_node);
    }
    if (n->type != YAML_SEQUENCE_NODE)
        return fm_fail(d, n, path, "expected a mapping of value classes or a list of mixes",
                       "e.g. values: {bitflip: 1} or values: [{weight: 1, zero: 1}]");
    yaml_node_item_t *it = n->data.sequence.items.start;
    size_t cnt = (size_t)(n->data.sequence.items.top - it);
    if (cnt == 0 || cnt > NNFI_FM_MAX_MIXES)
        return fm_fail(d, n, path, "expected 1..64 value mixes", "list at least one mix");
    for (size_t i = 0; i < cnt; i++) {
        char p2[320];
        snprintf(p2, sizeof p2, "%s[%zu]", path, i);
        NNFI_TRY(read_mix(d, fm_node(d, it[i]), p2, 1, pt, &pt->mixes[i], bits_node));
    }
    pt->n_mixes = (uint32_t)cnt;
    double sum = 0;
    for (uint32_t i = 0; i < pt->n_mixes; i++) sum += pt->mixes[i].weight;
    if (!(sum > 0)) return fm_fail(d, n, path, "all mix weights are 0", "give at least one mix a weight > 0");
    return NNFI_OK;
}

static nnfi_status read_set(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_kind kind,
                            nnfi_fm_pset *set)
{
    char list[512], hint[700];
    fm_kind_param_list(kind, list, sizeof list);
    if (n->type != YAML_MAPPING_NODE) {
        snprintf(hint, sizeof hint, "e.g. {weight: 1, ...}; parameters of %s: %s", fm_kind_names[kind], list);
        return fm_fail(d, n, path, "expected a mapping (one parameter set)", hint);
    }
    NNFI_TRY(no_duplicates(d, n, path));
    set->weight = -1;
    const yaml_node_t *key_of[NNFI_FMP_COUNT] = {0};
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        char p2[320];
        snprintf(p2, sizeof p2, "%s.%s", path, ks ? ks : "?");
        if (ks && strcmp(ks, "weight") == 0) {
            NNFI_TRY(fm_weight(d, v, p2, &set->weight));
            continue;
        }
        int p = nnfi_fm_param_of(ks);
        if (p < 0) {
            /* did-you-mean over what this kind takes, plus weight */
            const char *names[NNFI_FMP_COUNT + 1];
            size_t cnt = 0;
            names[cnt++] = "weight";
            for (int i = 0; i < NNFI_FMP_COUNT; i++)
                if (nnfi_fm_kind_params(kind) & (1u << i)) names[cnt++] = fm_param_names[i];
            char what[200];
            snprintf(what, sizeof what, "unknown key '%.60s'", ks ? ks : "?");
            fm_names_hint(names, cnt, ks, "keys here", hint, sizeof hint);
            return fm_fail(d, k, path, what, hint);
        }
        key_of[p] = k;
        NNFI_TRY(fm_pdist(d, v, p2, (nnfi_fm_param)p, "one_of", &set->p[p]));
    }
    if (set->weight < 0) set->weight = 1; /* no weight: an equal share */
    char what[512];
    int param;
    if (fm_set_problem(kind, set, &param, what, sizeof what, hint, sizeof hint)) {
        if (param >= 0 && key_of[param]) {
            char p2[320];
            snprintf(p2, sizeof p2, "%s.%s", path, fm_param_names[param]);
            return fm_fail(d, key_of[param], p2, what, hint);
        }
        return fm_fail(d, n, path, what, hint);
    }
    return NNFI_OK;
}

static nnfi_status read_pattern(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_pattern *pt)
{
    if (n->type != YAML_MAPPING_NODE)
        return fm_fail(d, n, path, "expected a mapping (one pattern)",
                       "e.g. - {kind: single, frequency: 1, values: {bitflip: 1}}");
    NNFI_TRY(no_duplicates(d, n, path));
    const yaml_node_t *kind = NULL, *freq = NULL, *params = NULL, *values = NULL, *bits = NULL;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        if (!key_in(ks, pattern_keys, FM_N_OF(pattern_keys)))
            return unknown_key(d, k, path, pattern_keys, FM_N_OF(pattern_keys), "keys of a pattern");
        if (strcmp(ks, "kind") == 0) kind = v;
        else if (strcmp(ks, "frequency") == 0) freq = v;
        else if (strcmp(ks, "params") == 0) params = v;
        else if (strcmp(ks, "values") == 0) values = v;
        else bits = v;
    }
    char p2[320], hint[900];
    snprintf(p2, sizeof p2, "%s.kind", path);
    if (!kind) {
        fm_names_hint(fm_kind_names, NNFI_FM_KIND_COUNT, NULL, "kinds", hint, sizeof hint);
        return fm_fail(d, n, path, "missing 'kind'", hint);
    }
    int k = nnfi_fm_kind_of(fm_scalar(kind));
    if (k < 0) {
        char what[160];
        snprintf(what, sizeof what, "unknown pattern kind '%.60s'", fm_scalar(kind) ? fm_scalar(kind) : "?");
        fm_names_hint(fm_kind_names, NNFI_FM_KIND_COUNT, fm_scalar(kind), "kinds", hint, sizeof hint);
        return fm_fail(d, kind, p2, what, hint);
    }
    pt->kind = (nnfi_fm_kind)k;
    if (!freq) return fm_fail(d, n, path, "missing 'frequency'", "give the pattern's share, e.g. frequency: 0.4");
    snprintf(p2, sizeof p2, "%s.frequency", path);
    NNFI_TRY(fm_weight(d, freq, p2, &pt->frequency));
    if (!values)
        return fm_fail(d, n, path, "missing 'values'", "e.g. values: {bitflip: 0.5, random_in_range: 0.5}");
    const yaml_node_t *bits_in_values = NULL;
    snprintf(p2, sizeof p2, "%s.values", path);
    NNFI_TRY(read_values(d, values, p2, pt, &bits_in_values));
    if (bits) {
        snprintf(p2, sizeof p2, "%s.bits", path);
        if (bits_in_values) return fm_fail(d, bits, p2, "bits given twice", "give bits here or in values, not both");
        NNFI_TRY(read_bits(d, bits, p2, pt));
    }
    if (!params) {
        nnfi_fm_pset empty;
        memset(&empty, 0, sizeof empty);
        char what[512];
        int param;
        if (fm_set_problem(pt->kind, &empty, &param, what, sizeof what, hint, sizeof hint))
            return fm_fail(d, n, path, "missing 'params'", hint);
        return NNFI_OK; /* finalize makes the one empty set */
    }
    snprintf(p2, sizeof p2, "%s.params", path);
    if (params->type != YAML_SEQUENCE_NODE)
        return fm_fail(d, params, p2, "expected a list of parameter sets", "e.g. params: [{weight: 1, channels: 4}]");
    yaml_node_item_t *it = params->data.sequence.items.start;
    size_t cnt = (size_t)(params->data.sequence.items.top - it);
    if (cnt == 0 || cnt > NNFI_FM_MAX_SETS)
        return fm_fail(d, params, p2, "expected 1..64 parameter sets", "list at least one set");
    if (nnfi_fm_alloc_sets(pt, (uint32_t)cnt) != NNFI_OK) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    double sum = 0;
    for (size_t i = 0; i < cnt; i++) {
        char p3[340];
        snprintf(p3, sizeof p3, "%s[%zu]", p2, i);
        NNFI_TRY(read_set(d, fm_node(d, it[i]), p3, pt->kind, &pt->sets[i]));
        sum += pt->sets[i].weight;
    }
    if (!(sum > 0)) return fm_fail(d, params, p2, "all parameter-set weights are 0", "give one set a weight > 0");
    return NNFI_OK;
}

static nnfi_status walk(const fm_doc *d, nnfi_fault_model **out)
{
    const yaml_node_t *root = yaml_document_get_root_node((yaml_document_t *)&d->doc);
    NNFI_TRY(no_duplicates(d, root, ""));
    const yaml_node_t *name = NULL, *scope = NULL, *patterns = NULL;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        if (!key_in(ks, top_keys, FM_N_OF(top_keys)))
            return unknown_key(d, k, "", top_keys, FM_N_OF(top_keys), "top-level keys");
        if (strcmp(ks, "name") == 0) name = v;
        else if (strcmp(ks, "scope") == 0) scope = v;
        else patterns = v;
    }
    if (!patterns)
        return fm_fail(d, root, "", "missing 'patterns'",
                       "a fault model lists its patterns: patterns: [{kind: single, frequency: 1, values: {bitflip: 1}}]");
    if (patterns->type != YAML_SEQUENCE_NODE)
        return fm_fail(d, patterns, "patterns", "expected a list of patterns", "write patterns: [ ... ] or a - list");
    yaml_node_item_t *it = patterns->data.sequence.items.start;
    size_t cnt = (size_t)(patterns->data.sequence.items.top - it);
    if (cnt == 0 || cnt > NNFI_FM_MAX_PATTERNS)
        return fm_fail(d, patterns, "patterns", "expected 1..64 patterns", "list at least one pattern");
    nnfi_fault_model *fm = nnfi_fm_new((uint32_t)cnt);
    if (!fm) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = NNFI_OK;
    if (name) {
        const char *s = fm_scalar(name);
        if (!s || !*s || strlen(s) >= sizeof fm->name)
            st = fm_fail(d, name, "name", "expected a name of 1..63 characters", "e.g. name: gpu-conv");
        else snprintf(fm->name, sizeof fm->name, "%s", s);
    } else {
        fm_default_name(d->file, fm->name, sizeof fm->name);
    }
    if (st == NNFI_OK && scope) {
        int s = nnfi_fm_scope_of(fm_scalar(scope));
        if (s < 0) {
            char what[160], hint[400];
            snprintf(what, sizeof what, "unknown scope '%.60s'", fm_scalar(scope) ? fm_scalar(scope) : "?");
            fm_names_hint(fm_scope_names, NNFI_FM_SCOPE_COUNT, fm_scalar(scope), "scopes", hint, sizeof hint);
            st = fm_fail(d, scope, "scope", what, hint);
        } else {
            fm->scope = (nnfi_fm_scope)s;
        }
    }
    double sum = 0;
    for (size_t i = 0; st == NNFI_OK && i < cnt; i++) {
        char p[64];
        snprintf(p, sizeof p, "patterns[%zu]", i);
        st = read_pattern(d, fm_node(d, it[i]), p, &fm->patterns[i]);
        sum += fm->patterns[i].frequency;
    }
    if (st == NNFI_OK && !(sum > 0))
        st = fm_fail(d, patterns, "patterns", "all pattern frequencies are 0",
                     "give at least one pattern a frequency > 0 (they are normalised to sum 1)");
    if (st == NNFI_OK) {
        snprintf(fm->source, sizeof fm->source, "%s", d->file);
        st = nnfi_fm_finalize(fm);
    }
    if (st != NNFI_OK) {
        nnfi_fm_free(fm);
        return st;
    }
    *out = fm;
    return NNFI_OK;
}

nnfi_status nnfi_fm_load_text(const char *text, size_t len, const char *name, nnfi_fault_model **out)
{
    *out = NULL;
    fm_doc d;
    NNFI_TRY(fm_parse(text, len, name, "fault-model file", &d));
    nnfi_status st = walk(&d, out);
    yaml_document_delete(&d.doc);
    return st;
}

nnfi_status nnfi_fm_load(const char *path, nnfi_fault_model **out)
{
    *out = NULL;
    char *text;
    size_t len;
    NNFI_TRY(fm_read_file(path, "fault-model file", &text, &len));
    nnfi_status st = nnfi_fm_load_text(text, len, path, out);
    free(text);
    return st;
}
