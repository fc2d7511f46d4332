/* fm_load_classes.c - import of a CLASSES error-model JSON file
 * (D4De/classes, models/<operator>.json; Bolchini et al., IEEE TC 2022) into
 * an nnfi_fault_model. Written from the format, not from CLASSES' code. The
 * JSON is read with libyaml (JSON is YAML flow syntax), so every refusal
 * carries FILE:LINE:COL, the key path and a hint. The mapping of pattern,
 * value-class and parameter names is documented in
 * include/nnfi/fault_model.h; anything outside it is refused, never dropped.
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

static const struct {
    const char *name;
    nnfi_fm_kind kind;
    uint32_t min_channels; /* 0: none */
} classes_patterns[] = {
    {"single", NNFI_FM_SINGLE, 0},
    {"same_row", NNFI_FM_SAME_ROW, 0},
    {"same_column", NNFI_FM_SAME_COLUMN, 0},
    {"bullet_wake", NNFI_FM_BULLET_WAKE, 0},
    {"single_block", NNFI_FM_SINGLE_BLOCK, 0},
    {"multi_channel_block", NNFI_FM_MULTI_CHANNEL_BLOCK, 0},
    {"multiple_channels_multi_block", NNFI_FM_MULTI_CHANNEL_BLOCK, 0},
    {"full_channels", NNFI_FM_FULL_CHANNELS, 0},
    {"shattered_channel", NNFI_FM_SHATTERED_CHANNEL, 0},
    {"quasi_shattered_channel", NNFI_FM_SHATTERED_CHANNEL, 2},
    {"skip_4", NNFI_FM_SKIP_K, 0},
    {"rectangles", NNFI_FM_RECTANGLES, 0},
};

static const struct {
    const char *name;
    nnfi_fm_param param;
} classes_params[] = {
    {"affected_channels_pct", NNFI_FMP_CHANNELS_PCT},
    {"max_corrupted_channels", NNFI_FMP_MAX_CHANNELS},
    {"min_channel_skip", NNFI_FMP_MIN_SKIP},
    {"max_channel_skip", NNFI_FMP_MAX_SKIP},
    {"skip_amount", NNFI_FMP_K},
    {"unique_channel_indexes", NNFI_FMP_POSITIONS},
    {"indexes_corruption_pct", NNFI_FMP_FILL_PCT},
    {"avg_block_corruption_pct", NNFI_FMP_FILL_PCT},
    {"block_corruption_pct", NNFI_FMP_FILL_PCT},
    {"avg_channel_corruption_pct", NNFI_FMP_FILL_PCT},
    {"avg_span_corruption_pct", NNFI_FMP_FILL_PCT},
    {"block_size", NNFI_FMP_LENGTH},
    {"min_span_width", NNFI_FMP_MIN_LENGTH},
    {"max_span_width", NNFI_FMP_MAX_LENGTH},
    {"row_corruption_pct", NNFI_FMP_LENGTH_PCT},
    {"col_corruption_pct", NNFI_FMP_LENGTH_PCT},
    {"max_cardinality", NNFI_FMP_MAX_LENGTH},
    {"min_value_skip", NNFI_FMP_MIN_STEP},
    {"max_value_skip", NNFI_FMP_MAX_STEP},
    {"rectangle_width", NNFI_FMP_WIDTH},
    {"rectangle_height", NNFI_FMP_HEIGHT},
};

static const struct {
    const char *name;
    nnfi_fm_class cls;
} classes_values[] = {
    {"in_range", NNFI_FM_RANDOM_IN_RANGE}, {"out_of_range", NNFI_FM_OUT_OF_RANGE}, {"zero", NNFI_FM_ZERO},
    {"nan", NNFI_FM_NAN},                  {"flip", NNFI_FM_OUT_OF_RANGE},
};

static const char *const pattern_keys[] = {"count", "frequency", "categories_count", "domain_classes", "parameters"};
static const char *const domain_keys[] = {"count", "frequency", "random", "values",
                                          "in_range", "out_of_range", "zero", "nan", "flip"};
static const char *const set_keys[] = {"keys", "stats", "conditional_frequency", "overall_frequency", "count"};

#define NAMES_OF(table, out, cnt)                                               \
    do {                                                                        \
        cnt = 0;                                                                \
        for (size_t i_ = 0; i_ < FM_N_OF(table); i_++) out[cnt++] = table[i_].name; \
    } while (0)

static int index_in(const char *const *names, size_t n, const char *s)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0) return (int)i;
    return -1;
}

static nnfi_status refuse_key(const fm_doc *d, const yaml_node_t *k, const char *path, const char *const *names,
                              size_t n, const char *what_names, const char *extra)
{
    char what[200], hint[1200];
    const char *ks = fm_scalar(k);
    snprintf(what, sizeof what, "unsupported key '%.60s'", ks ? ks : "?");
    fm_names_hint(names, n, ks, what_names, hint, sizeof hint);
    if (extra) {
        size_t u = strlen(hint);
        snprintf(hint + u, sizeof hint - u, "; %s", extra);
    }
    return fm_fail(d, k, path, what, hint);
}

static int value_class(const char *s)
{
    for (size_t i = 0; s && i < FM_N_OF(classes_values); i++)
        if (strcmp(classes_values[i].name, s) == 0) return (int)classes_values[i].cls;
    return -1;
}

static nnfi_status read_domain(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_mix *mx)
{
    if (n->type != YAML_MAPPING_NODE)
        return fm_fail(d, n, path, "expected a mapping (one domain class)",
                       "e.g. {\"in_range\": [100.0, 100.0], \"count\": 3, \"frequency\": 0.5}");
    const yaml_node_t *freq = NULL, *random = NULL, *values = NULL;
    const yaml_node_t *cls_key[2] = {0}, *cls_val[2] = {0};
    int ncls = 0;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        if (index_in(domain_keys, FM_N_OF(domain_keys), ks) < 0)
            return refuse_key(d, k, path, domain_keys, FM_N_OF(domain_keys), "keys of a domain class", NULL);
        if (strcmp(ks, "frequency") == 0) freq = v;
        else if (strcmp(ks, "random") == 0) random = k;
        else if (strcmp(ks, "values") == 0) values = v;
        else if (strcmp(ks, "count") == 0) continue;
        else {
            if (ncls == 2) {
                char p2[320];
                snprintf(p2, sizeof p2, "%s.%s", path, ks);
                return fm_fail(d, k, p2, "a domain class with more than two value classes",
                               "CLASSES itself refuses these; write it as \"random\" with per-class \"values\"");
            }
            cls_key[ncls] = k;
            cls_val[ncls++] = v;
        }
    }
    char p2[320];
    if (!freq) return fm_fail(d, n, path, "missing \"frequency\"", "each domain class has its frequency");
    snprintf(p2, sizeof p2, "%s.frequency", path);
    NNFI_TRY(fm_weight(d, freq, p2, &mx->weight));
    mx->ranged = -1;
    if (random) {
        if (ncls) {
            snprintf(p2, sizeof p2, "%s.%s", path, fm_scalar(cls_key[0]));
            return fm_fail(d, cls_key[0], p2, "a \"random\" domain class with a value-class range",
                           "a random class lists its proportions under \"values\" only");
        }
        if (!values) return fm_fail(d, random, path, "\"random\" without \"values\"",
                                    "give the per-class proportions: \"values\": {\"in_range\": 0.5, ...}");
        snprintf(p2, sizeof p2, "%s.values", path);
        if (values->type != YAML_MAPPING_NODE)
            return fm_fail(d, values, p2, "expected a mapping of value classes", "e.g. {\"zero\": 0.2, \"nan\": 0.8}");
        double sum = 0;
        for (yaml_node_pair_t *pr = values->data.mapping.pairs.start; pr < values->data.mapping.pairs.top; pr++) {
            const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
            int c = value_class(fm_scalar(k));
            if (c < 0) {
                const char *names[FM_N_OF(classes_values)];
                size_t cnt;
                NAMES_OF(classes_values, names, cnt);
                return refuse_key(d, k, p2, names, cnt, "value classes", NULL);
            }
            char p3[340];
            snprintf(p3, sizeof p3, "%s.%s", p2, fm_scalar(k));
            double w;
            NNFI_TRY(fm_weight(d, v, p3, &w));
            mx->share[c] += w; /* flip and out_of_range land in one class */
            sum += w;
        }
        if (!(sum > 0)) return fm_fail(d, values, p2, "all value proportions are 0", "give one class a share > 0");
        return NNFI_OK;
    }
    if (values) {
        snprintf(p2, sizeof p2, "%s.values", path);
        return fm_fail(d, values, p2, "\"values\" without \"random\"", "per-class values belong to a \"random\" class");
    }
    if (ncls == 0)
        return fm_fail(d, n, path, "a domain class without value classes",
                       "give one class ([100.0, 100.0]), two with percentage ranges, or \"random\" with \"values\"");
    int c0 = value_class(fm_scalar(cls_key[0]));
    snprintf(p2, sizeof p2, "%s.%s", path, fm_scalar(cls_key[0]));
    nnfi_fm_pdist r0;
    NNFI_TRY(fm_pdist(d, cls_val[0], p2, NNFI_FMP_FILL_PCT, "RANDOM", &r0));
    if (r0.n != 1 || cls_val[0]->type != YAML_SEQUENCE_NODE)
        return fm_fail(d, cls_val[0], p2, "expected a percentage range [lo, hi]", "e.g. [87.5, 100.0]");
    if (ncls == 1) { /* one class: every element gets it, whatever its range says */
        mx->share[c0] = 1;
        return NNFI_OK;
    }
    int c1 = value_class(fm_scalar(cls_key[1]));
    char p3[320];
    snprintf(p3, sizeof p3, "%s.%s", path, fm_scalar(cls_key[1]));
    nnfi_fm_pdist r1;
    NNFI_TRY(fm_pdist(d, cls_val[1], p3, NNFI_FMP_FILL_PCT, "RANDOM", &r1));
    if (c0 == c1) return fm_fail(d, cls_key[1], p3, "flip and out_of_range are one class in nnfi",
                                 "merge the two ranges into one class");
    /* CLASSES draws the first class's share in its range; the second takes the rest */
    mx->ranged = c0;
    mx->ranged_lo_bp = r0.lo[0];
    mx->ranged_hi_bp = r0.hi[0];
    mx->share[c1] = 1;
    return NNFI_OK;
}

static nnfi_status read_params(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_kind kind,
                               const yaml_node_t **key_of, nnfi_fm_pset *set)
{
    if (n->type != YAML_MAPPING_NODE) return fm_fail(d, n, path, "expected a mapping of parameters", "e.g. {\"block_size\": 16}");
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        int p = -1;
        for (size_t i = 0; ks && i < FM_N_OF(classes_params); i++)
            if (strcmp(classes_params[i].name, ks) == 0) p = (int)classes_params[i].param;
        char p2[320];
        snprintf(p2, sizeof p2, "%s.%s", path, ks ? ks : "?");
        if (p < 0) {
            const char *names[FM_N_OF(classes_params)];
            size_t cnt;
            NAMES_OF(classes_params, names, cnt);
            return refuse_key(d, k, path, names, cnt, "CLASSES parameters",
                              "see the mapping in include/nnfi/fault_model.h");
        }
        if (key_of[p]) {
            char what[200];
            snprintf(what, sizeof what, "'%s' sets nnfi's '%s', which '%s' already set", ks, fm_param_names[p],
                     fm_scalar(key_of[p]));
            return fm_fail(d, k, p2, what, "keep one of the two keys");
        }
        if (!(nnfi_fm_kind_params(kind) & (1u << p))) {
            char what[200], hint[600], list[500];
            fm_kind_param_list(kind, list, sizeof list);
            snprintf(what, sizeof what, "parameter '%s' (nnfi '%s') does not apply to pattern kind '%s'", ks,
                     fm_param_names[p], fm_kind_names[kind]);
            snprintf(hint, sizeof hint, "nnfi's %s takes: %s", fm_kind_names[kind], list);
            return fm_fail(d, k, p2, what, hint);
        }
        key_of[p] = k;
        NNFI_TRY(fm_pdist(d, v, p2, (nnfi_fm_param)p, "RANDOM", &set->p[p]));
    }
    return NNFI_OK;
}

static nnfi_status read_set(const fm_doc *d, const yaml_node_t *n, const char *path, nnfi_fm_kind kind,
                            uint32_t min_channels, nnfi_fm_pset *set)
{
    if (n->type != YAML_MAPPING_NODE)
        return fm_fail(d, n, path, "expected a mapping (one parameter set)",
                       "e.g. {\"keys\": {...}, \"stats\": {...}, \"conditional_frequency\": 0.5}");
    const yaml_node_t *key_of[NNFI_FMP_COUNT] = {0};
    const yaml_node_t *cf = NULL;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        if (index_in(set_keys, FM_N_OF(set_keys), ks) < 0)
            return refuse_key(d, k, path, set_keys, FM_N_OF(set_keys), "keys of a parameter set", NULL);
        char p2[320];
        snprintf(p2, sizeof p2, "%s.%s", path, ks);
        if (strcmp(ks, "keys") == 0 || strcmp(ks, "stats") == 0) NNFI_TRY(read_params(d, v, p2, kind, key_of, set));
        else if (strcmp(ks, "conditional_frequency") == 0) cf = v;
    }
    if (!cf) return fm_fail(d, n, path, "missing \"conditional_frequency\"", "each parameter set has its conditional frequency");
    char p2[320];
    snprintf(p2, sizeof p2, "%s.conditional_frequency", path);
    NNFI_TRY(fm_weight(d, cf, p2, &set->weight));
    if (min_channels && !set->p[NNFI_FMP_MIN_CHANNELS].n) {
        set->p[NNFI_FMP_MIN_CHANNELS].n = 1;
        set->p[NNFI_FMP_MIN_CHANNELS].lo[0] = set->p[NNFI_FMP_MIN_CHANNELS].hi[0] = min_channels;
    }
    char what[512], hint[700];
    int param;
    if (fm_set_problem(kind, set, &param, what, sizeof what, hint, sizeof hint)) {
        const yaml_node_t *at = param >= 0 && key_of[param] ? key_of[param] : n;
        return fm_fail(d, at, path, what, hint);
    }
    return NNFI_OK;
}

static nnfi_status read_pattern(const fm_doc *d, const yaml_node_t *kname, const yaml_node_t *n, nnfi_fm_pattern *pt)
{
    const char *name = fm_scalar(kname);
    int which = -1;
    for (size_t i = 0; i < FM_N_OF(classes_patterns); i++)
        if (strcmp(classes_patterns[i].name, name) == 0) which = (int)i;
    if (which < 0) {
        const char *names[FM_N_OF(classes_patterns)];
        size_t cnt;
        NAMES_OF(classes_patterns, names, cnt);
        char what[200], hint[1200];
        snprintf(what, sizeof what, "unsupported CLASSES pattern '%.60s'", name);
        fm_names_hint(names, cnt, name, "patterns", hint, sizeof hint);
        size_t u = strlen(hint);
        snprintf(hint + u, sizeof hint - u, "; remove it (and renormalise) or describe it in a native fault model");
        return fm_fail(d, kname, name, what, hint);
    }
    pt->kind = classes_patterns[which].kind;
    if (n->type != YAML_MAPPING_NODE)
        return fm_fail(d, n, name, "expected a mapping (one pattern)",
                       "a pattern has \"frequency\", \"domain_classes\" and \"parameters\"");
    const yaml_node_t *freq = NULL, *dom = NULL, *params = NULL;
    for (yaml_node_pair_t *pr = n->data.mapping.pairs.start; pr < n->data.mapping.pairs.top; pr++) {
        const yaml_node_t *k = fm_node(d, pr->key), *v = fm_node(d, pr->value);
        const char *ks = fm_scalar(k);
        if (index_in(pattern_keys, FM_N_OF(pattern_keys), ks) < 0)
            return refuse_key(d, k, name, pattern_keys, FM_N_OF(pattern_keys), "keys of a pattern", NULL);
        if (strcmp(ks, "frequency") == 0) freq = v;
        else if (strcmp(ks, "domain_classes") == 0) dom = v;
        else if (strcmp(ks, "parameters") == 0) params = v;
    }
    char p2[320];
    if (!freq) return fm_fail(d, n, name, "missing \"frequency\"", "each pattern has its frequency");
    snprintf(p2, sizeof p2, "%s.frequency", name);
    NNFI_TRY(fm_weight(d, freq, p2, &pt->frequency));
    snprintf(p2, sizeof p2, "%s.domain_classes", name);
    if (!dom) return fm_fail(d, n, name, "missing \"domain_classes\"", "each pattern lists its domain classes");
    if (dom->type != YAML_SEQUENCE_NODE || dom->data.sequence.items.top == dom->data.sequence.items.start ||
        dom->data.sequence.items.top - dom->data.sequence.items.start > NNFI_FM_MAX_MIXES)
        return fm_fail(d, dom, p2, "expected a list of 1..64 domain classes", "e.g. [{\"zero\": [100.0, 100.0], \"frequency\": 1.0}]");
    pt->n_mixes = (uint32_t)(dom->data.sequence.items.top - dom->data.sequence.items.start);
    double sum = 0;
    for (uint32_t i = 0; i < pt->n_mixes; i++) {
        char p3[340];
        snprintf(p3, sizeof p3, "%s[%u]", p2, i);
        NNFI_TRY(read_domain(d, fm_node(d, dom->data.sequence.items.start[i]), p3, &pt->mixes[i]));
        sum += pt->mixes[i].weight;
    }
    if (!(sum > 0)) return fm_fail(d, dom, p2, "all domain-class frequencies are 0", "give one a frequency > 0");
    snprintf(p2, sizeof p2, "%s.parameters", name);
    if (!params) return fm_fail(d, n, name, "missing \"parameters\"", "each pattern lists its parameter sets");
    if (params->type != YAML_SEQUENCE_NODE ||
        params->data.sequence.items.top - params->data.sequence.items.start > NNFI_FM_MAX_SETS)
        return fm_fail(d, params, p2, "expected a list of at most 64 parameter sets", "e.g. [{\"keys\": {}, \"stats\": {}, \"conditional_frequency\": 1.0}]");
    uint32_t ns = (uint32_t)(params->data.sequence.items.top - params->data.sequence.items.start);
    if (ns == 0) {
        nnfi_fm_pset empty;
        memset(&empty, 0, sizeof empty);
        char what[512], hint[700];
        int param;
        if (fm_set_problem(pt->kind, &empty, &param, what, sizeof what, hint, sizeof hint))
            return fm_fail(d, params, p2, what, hint);
        return NNFI_OK; /* finalize makes the one empty set */
    }
    if (nnfi_fm_alloc_sets(pt, ns) != NNFI_OK) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    sum = 0;
    for (uint32_t i = 0; i < ns; i++) {
        char p3[340];
        snprintf(p3, sizeof p3, "%s[%u]", p2, i);
        NNFI_TRY(read_set(d, fm_node(d, params->data.sequence.items.start[i]), p3, pt->kind,
                          classes_patterns[which].min_channels, &pt->sets[i]));
        sum += pt->sets[i].weight;
    }
    if (!(sum > 0)) return fm_fail(d, params, p2, "all conditional frequencies are 0", "give one set a frequency > 0");
    return NNFI_OK;
}

static nnfi_status walk(const fm_doc *d, nnfi_fault_model **out)
{
    const yaml_node_t *root = yaml_document_get_root_node((yaml_document_t *)&d->doc);
    uint32_t n = 0;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; pr < root->data.mapping.pairs.top; pr++) {
        const char *ks = fm_scalar(fm_node(d, pr->key));
        if (!ks) return fm_fail(d, fm_node(d, pr->key), "", "a key that is not a string", "CLASSES keys are pattern names");
        if (ks[0] != '_') n++;
    }
    if (n == 0)
        return fm_fail(d, root, "", "no patterns (only '_' metadata keys)",
                       "a CLASSES model has one key per spatial pattern, e.g. \"bullet_wake\"");
    if (n > NNFI_FM_MAX_PATTERNS) return fm_fail(d, root, "", "more than 64 patterns", "is this a CLASSES model file?");
    nnfi_fault_model *fm = nnfi_fm_new(n);
    if (!fm) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = NNFI_OK;
    uint32_t i = 0;
    double sum = 0;
    for (yaml_node_pair_t *pr = root->data.mapping.pairs.start; st == NNFI_OK && pr < root->data.mapping.pairs.top;
         pr++) {
        const yaml_node_t *k = fm_node(d, pr->key);
        if (fm_scalar(k)[0] == '_') continue; /* CLASSES' own metadata (_tensor_count, ...), ignored as CLASSES does */
        for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < pr; q++)
            if (strcmp(fm_scalar(fm_node(d, q->key)), fm_scalar(k)) == 0) {
                st = fm_fail(d, k, fm_scalar(k), "pattern given twice", "keep one of them");
                break;
            }
        if (st != NNFI_OK) break;
        st = read_pattern(d, k, fm_node(d, pr->value), &fm->patterns[i]);
        sum += fm->patterns[i++].frequency;
    }
    if (st == NNFI_OK && !(sum > 0))
        st = fm_fail(d, root, "", "all pattern frequencies are 0", "give one pattern a frequency > 0");
    if (st == NNFI_OK) {
        fm_default_name(d->file, fm->name, sizeof fm->name);
        snprintf(fm->source, sizeof fm->source, "%s", d->file);
        fm->scope = NNFI_FM_PER_CALL;
        st = nnfi_fm_finalize(fm);
    }
    if (st != NNFI_OK) {
        nnfi_fm_free(fm);
        return st;
    }
    *out = fm;
    return NNFI_OK;
}

nnfi_status nnfi_fm_load_classes_text(const char *text, size_t len, const char *name, nnfi_fault_model **out)
{
    *out = NULL;
    fm_doc d;
    NNFI_TRY(fm_parse(text, len, name, "CLASSES model (JSON object)", &d));
    nnfi_status st = walk(&d, out);
    yaml_document_delete(&d.doc);
    return st;
}

nnfi_status nnfi_fm_load_classes(const char *path, nnfi_fault_model **out)
{
    *out = NULL;
    char *text;
    size_t len;
    NNFI_TRY(fm_read_file(path, "CLASSES model file", &text, &len));
    nnfi_status st = nnfi_fm_load_classes_text(text, len, path, out);
    free(text);
    return st;
}
