/* fm_types.c - the fault model's names and enums, which parameters each
 * pattern kind takes, and the model's lifecycle: nnfi_fm_new,
 * nnfi_fm_alloc_sets, nnfi_fm_finalize (checks, normalises every weight and
 * turns it into the integer thresholds nnfi_fm_draw compares against) and
 * nnfi_fm_free. See include/nnfi/fault_model.h for the model itself.
 */
#include "fm_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FM_NAME_(c, name, ...) name,
const char *const fm_kind_names[NNFI_FM_KIND_COUNT] = {NNFI_FM_KINDS(FM_NAME_)};
const char *const fm_class_names[NNFI_FM_CLASS_COUNT] = {NNFI_FM_CLASSES(FM_NAME_)};
const char *const fm_param_names[NNFI_FMP_COUNT] = {NNFI_FM_PARAMS(FM_NAME_)};
const char *const fm_scope_names[NNFI_FM_SCOPE_COUNT] = {NNFI_FM_SCOPES(FM_NAME_)};
#define FM_PCT_(c, name, pct) pct,
static const unsigned char param_pct[NNFI_FMP_COUNT] = {NNFI_FM_PARAMS(FM_PCT_)};

static const char *name_at(const char *const *names, int n, int i) { return i >= 0 && i < n ? names[i] : "?"; }
static int index_of(const char *const *names, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(names[i], s) == 0) return i;
    return -1;
}

const char *nnfi_fm_kind_name(nnfi_fm_kind k) { return name_at(fm_kind_names, NNFI_FM_KIND_COUNT, (int)k); }
const char *nnfi_fm_class_name(nnfi_fm_class c) { return name_at(fm_class_names, NNFI_FM_CLASS_COUNT, (int)c); }
const char *nnfi_fm_param_name(nnfi_fm_param p) { return name_at(fm_param_names, NNFI_FMP_COUNT, (int)p); }
const char *nnfi_fm_scope_name(nnfi_fm_scope s) { return name_at(fm_scope_names, NNFI_FM_SCOPE_COUNT, (int)s); }
int nnfi_fm_kind_of(const char *name) { return index_of(fm_kind_names, NNFI_FM_KIND_COUNT, name); }
int nnfi_fm_class_of(const char *name) { return index_of(fm_class_names, NNFI_FM_CLASS_COUNT, name); }
int nnfi_fm_param_of(const char *name) { return index_of(fm_param_names, NNFI_FMP_COUNT, name); }
int nnfi_fm_scope_of(const char *name) { return index_of(fm_scope_names, NNFI_FM_SCOPE_COUNT, name); }
int nnfi_fm_param_is_pct(nnfi_fm_param p) { return (int)p >= 0 && p < NNFI_FMP_COUNT && param_pct[p]; }

#define B(p) (1u << (p))
#define P_CHANNELS                                                                                        \
    (B(NNFI_FMP_CHANNELS) | B(NNFI_FMP_CHANNELS_PCT) | B(NNFI_FMP_MIN_CHANNELS) | B(NNFI_FMP_MAX_CHANNELS) | \
     B(NNFI_FMP_SKIP) | B(NNFI_FMP_MIN_SKIP) | B(NNFI_FMP_MAX_SKIP))
#define P_LENGTH (B(NNFI_FMP_LENGTH) | B(NNFI_FMP_LENGTH_PCT) | B(NNFI_FMP_MIN_LENGTH) | B(NNFI_FMP_MAX_LENGTH))
#define P_STEP (B(NNFI_FMP_STEP) | B(NNFI_FMP_MIN_STEP) | B(NNFI_FMP_MAX_STEP))
#define P_FILL B(NNFI_FMP_FILL_PCT)
#define P_BOX (B(NNFI_FMP_HEIGHT) | B(NNFI_FMP_WIDTH))

uint32_t nnfi_fm_kind_params(nnfi_fm_kind k)
{
    switch (k) {
    case NNFI_FM_SINGLE: return 0;
    case NNFI_FM_SAME_ROW:
    case NNFI_FM_SAME_COLUMN: return P_LENGTH | P_STEP | P_FILL;
    case NNFI_FM_BULLET_WAKE: return P_CHANNELS;
    case NNFI_FM_SINGLE_BLOCK: return P_LENGTH | P_FILL;
    case NNFI_FM_MULTI_CHANNEL_BLOCK: return P_CHANNELS | B(NNFI_FMP_LENGTH) | P_FILL;
    case NNFI_FM_FULL_CHANNELS: return P_CHANNELS | P_FILL;
    case NNFI_FM_SHATTERED_CHANNEL: return P_CHANNELS | P_LENGTH | P_FILL;
    case NNFI_FM_SKIP_K: return P_CHANNELS | B(NNFI_FMP_K) | B(NNFI_FMP_POSITIONS) | P_FILL;
    case NNFI_FM_RECTANGLES: return P_CHANNELS | P_BOX | P_FILL;
    case NNFI_FM_WEIGHT_ROW:
    case NNFI_FM_WEIGHT_COL: return P_LENGTH | P_FILL;
    case NNFI_FM_WEIGHT_TILE: return P_BOX | P_FILL;
    default: return 0;
    }
}

void fm_kind_param_list(nnfi_fm_kind kind, char *out, size_t n)
{
    uint32_t m = nnfi_fm_kind_params(kind);
    size_t used = 0;
    out[0] = '\0';
    for (int p = 0; p < NNFI_FMP_COUNT && used < n; p++)
        if (m & B(p)) {
            int w = snprintf(out + used, n - used, "%s%s", used ? ", " : "", fm_param_names[p]);
            if (w > 0) used += (size_t)w;
        }
    if (!m) snprintf(out, n, "none");
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 40 || lb > 40) return 99;
    size_t d[41][41];
    for (size_t i = 0; i <= la; i++) d[i][0] = i;
    for (size_t j = 0; j <= lb; j++) d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
            d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
    return d[la][lb];
}

void fm_names_hint(const char *const *names, size_t count, const char *got, const char *what, char *out, size_t n)
{
    const char *best = NULL;
    size_t bestd = 3, used = 0;
    int w = snprintf(out, n, "valid %s: ", what);
    if (w > 0) used = (size_t)w;
    for (size_t i = 0; i < count && used < n; i++) {
        size_t dist = got ? edit_distance(got, names[i]) : 99;
        if (dist < bestd) {
            bestd = dist;
            best = names[i];
        }
        w = snprintf(out + used, n - used, "%s%s", i ? ", " : "", names[i]);
        if (w > 0) used += (size_t)w;
    }
    if (best && used < n) snprintf(out + used, n - used, " (did you mean '%s'?)", best);
}

/* Every count parameter must be >= 1 where 0 makes no pattern. */
static int zero_allowed(nnfi_fm_param p)
{
    return p == NNFI_FMP_CHANNELS_PCT || p == NNFI_FMP_LENGTH_PCT || p == NNFI_FMP_MIN_CHANNELS;
}

int fm_set_problem(nnfi_fm_kind kind, const nnfi_fm_pset *set, int *param, char *what, size_t nwhat, char *hint,
                   size_t nhint)
{
    uint32_t takes = nnfi_fm_kind_params(kind);
    char list[512];
    fm_kind_param_list(kind, list, sizeof list);
    for (int p = 0; p < NNFI_FMP_COUNT; p++) {
        const nnfi_fm_pdist *d = &set->p[p];
        if (!d->n) continue;
        *param = p;
        if (!(takes & B(p))) {
            snprintf(what, nwhat, "pattern kind '%s' does not take parameter '%s'", fm_kind_names[kind],
                     fm_param_names[p]);
            snprintf(hint, nhint, "parameters of %s: %s", fm_kind_names[kind], list);
            return 1;
        }
        for (uint32_t i = 0; i < d->n; i++) {
            if (d->lo[i] > d->hi[i]) {
                snprintf(what, nwhat, "parameter '%s': range [%u, %u] has lo > hi", fm_param_names[p], d->lo[i],
                         d->hi[i]);
                snprintf(hint, nhint, "write [lo, hi] with lo <= hi");
                return 1;
            }
            if (param_pct[p] && d->hi[i] > 10000) {
                snprintf(what, nwhat, "parameter '%s' is a percentage over 100", fm_param_names[p]);
                snprintf(hint, nhint, "percentages are 0..100");
                return 1;
            }
            if (!param_pct[p] && !zero_allowed((nnfi_fm_param)p) && d->lo[i] == 0) {
                snprintf(what, nwhat, "parameter '%s' is 0", fm_param_names[p]);
                snprintf(hint, nhint, "'%s' counts elements, channels or a stride: it must be at least 1",
                         fm_param_names[p]);
                return 1;
            }
        }
    }
    *param = -1;
    const nnfi_fm_pdist *p = set->p;
    int has_ch = p[NNFI_FMP_CHANNELS].n || p[NNFI_FMP_CHANNELS_PCT].n;
    int has_len = p[NNFI_FMP_LENGTH].n || p[NNFI_FMP_LENGTH_PCT].n || p[NNFI_FMP_MIN_LENGTH].n;
    const char *need = NULL;
    switch (kind) {
    case NNFI_FM_SAME_ROW:
    case NNFI_FM_SAME_COLUMN:
    case NNFI_FM_SINGLE_BLOCK:
        if (!has_len) need = "length (or length_pct, or min_length/max_length)";
        break;
    case NNFI_FM_BULLET_WAKE:
    case NNFI_FM_FULL_CHANNELS:
        if (!has_ch) need = "channels (or channels_pct)";
        break;
    case NNFI_FM_MULTI_CHANNEL_BLOCK:
        if (!has_ch) need = "channels (or channels_pct)";
        else if (!p[NNFI_FMP_LENGTH].n) need = "length (the block size)";
        break;
    case NNFI_FM_SHATTERED_CHANNEL:
        if (!has_ch) need = "channels (or channels_pct)";
        else if (!has_len) need = "length (or length_pct, or min_length/max_length: the span)";
        break;
    case NNFI_FM_SKIP_K:
        if (!p[NNFI_FMP_K].n) need = "k (the stride)";
        else if (!has_ch) need = "channels (or channels_pct)";
        break;
    case NNFI_FM_RECTANGLES:
        if (!has_ch) need = "channels (or channels_pct)";
        else if (!p[NNFI_FMP_HEIGHT].n || !p[NNFI_FMP_WIDTH].n) need = "height and width";
        break;
    case NNFI_FM_WEIGHT_TILE:
        if (!p[NNFI_FMP_HEIGHT].n || !p[NNFI_FMP_WIDTH].n) need = "height and width";
        break;
    default: break;
    }
    if (need) {
        snprintf(what, nwhat, "pattern kind '%s' needs %s", fm_kind_names[kind], need);
        snprintf(hint, nhint, "parameters of %s: %s", fm_kind_names[kind], list);
        return 1;
    }
    return 0;
}

nnfi_fault_model *nnfi_fm_new(uint32_t n_patterns)
{
    if (n_patterns > NNFI_FM_MAX_PATTERNS) return NULL;
    nnfi_fault_model *fm = calloc(1, sizeof *fm);
    if (!fm) return NULL;
    fm->patterns = calloc(n_patterns ? n_patterns : 1, sizeof *fm->patterns);
    if (!fm->patterns) {
        free(fm);
        return NULL;
    }
    fm->n_patterns = n_patterns;
    for (uint32_t i = 0; i < n_patterns; i++) {
        fm->patterns[i].bit_uniform = 1;
        fm->patterns[i].max_bit = -1;
        for (uint32_t m = 0; m < NNFI_FM_MAX_MIXES; m++) fm->patterns[i].mixes[m].ranged = -1;
    }
    return fm;
}

nnfi_status nnfi_fm_alloc_sets(nnfi_fm_pattern *p, uint32_t n)
{
    if (n > NNFI_FM_MAX_SETS)
        return NNFI_FAIL(NNFI_E_INVALID, "%u parameter sets, more than %u\n  hint: merge similar sets", n,
                         NNFI_FM_MAX_SETS);
    nnfi_fm_pset *s = calloc(n ? n : 1, sizeof *s);
    if (!s) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    free(p->sets);
    p->sets = s;
    p->n_sets = n;
    return NNFI_OK;
}

void nnfi_fm_free(nnfi_fault_model *fm)
{
    if (!fm) return;
    for (uint32_t i = 0; fm->patterns && i < fm->n_patterns; i++) free(fm->patterns[i].sets);
    free(fm->patterns);
    free(fm);
}

/* Normalise w[0..n) (stride bytes apart) in place and write cumulative
 * thresholds of `bits` bits: entry i is picked by u < thr[i], first match;
 * the last positive entry (and all after it) reach the maximum so every u
 * lands somewhere. 0 when the weights are not all >= 0 and finite with a
 * positive sum. */
static int thresholds(double *w, size_t wstride, void *thr, size_t tstride, int bits, uint32_t n)
{
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        double x = *(double *)((char *)w + i * wstride);
        if (!(x >= 0) || x > 1e300) return 0;
        sum += x;
    }
    if (!(sum > 0)) return 0;
    int last = -1;
    for (uint32_t i = 0; i < n; i++)
        if (*(double *)((char *)w + i * wstride) > 0) last = (int)i;
    double cum = 0, scale = bits == 64 ? 18446744073709551616.0 : 4294967296.0;
    for (uint32_t i = 0; i < n; i++) {
        double *x = (double *)((char *)w + i * wstride);
        *x /= sum;
        cum += *x;
        double t = cum * scale;
        uint64_t v = (int)i >= last || t >= scale ? (bits == 64 ? UINT64_MAX : UINT32_MAX) : (uint64_t)t;
        if (bits == 64) *(uint64_t *)((char *)thr + i * tstride) = v;
        else *(uint32_t *)((char *)thr + i * tstride) = (uint32_t)v;
    }
    return 1;
}

nnfi_status nnfi_fm_finalize(nnfi_fault_model *fm)
{
    if (!fm || fm->n_patterns == 0)
        return NNFI_FAIL(NNFI_E_INVALID, "fault model %s has no patterns\n  hint: list at least one pattern",
                         fm && fm->name[0] ? fm->name : "");
    if (fm->n_patterns > NNFI_FM_MAX_PATTERNS)
        return NNFI_FAIL(NNFI_E_INVALID, "fault model %s has %u patterns, more than %u\n  hint: merge patterns",
                         fm->name, fm->n_patterns, NNFI_FM_MAX_PATTERNS);
    if ((int)fm->scope < 0 || fm->scope >= NNFI_FM_SCOPE_COUNT)
        return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: bad scope %d\n  hint: per_call, per_sample, per_step or permanent",
                         fm->name, (int)fm->scope);
    nnfi_fm_pattern *pats = fm->patterns;
    if (!thresholds(&pats[0].frequency, sizeof *pats, &pats[0].thr, sizeof *pats, 64, fm->n_patterns))
        return NNFI_FAIL(NNFI_E_INVALID,
                         "fault model %s: pattern frequencies must be >= 0 and not all 0\n  hint: give each "
                         "pattern a frequency (they are normalised to sum 1)",
                         fm->name);
    for (uint32_t i = 0; i < fm->n_patterns; i++) {
        nnfi_fm_pattern *pt = &pats[i];
        const char *kn = nnfi_fm_kind_name(pt->kind);
        if ((int)pt->kind < 0 || pt->kind >= NNFI_FM_KIND_COUNT)
            return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u has an unknown kind %d\n  hint: see "
                             "nnfi/fault_model.h for the kinds", fm->name, i, (int)pt->kind);
        if (pt->n_sets == 0) { /* a kind without parameters needs no set: make the one empty set */
            NNFI_TRY(nnfi_fm_alloc_sets(pt, 1));
            pt->sets[0].weight = 1;
        }
        if (pt->n_sets > NNFI_FM_MAX_SETS || pt->n_mixes == 0 || pt->n_mixes > NNFI_FM_MAX_MIXES)
            return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u (%s) has %u parameter sets and %u value "
                             "mixes\n  hint: 1..%u of each", fm->name, i, kn, pt->n_sets, pt->n_mixes,
                             NNFI_FM_MAX_SETS);
        char what[512], hint[640];
        int param;
        for (uint32_t s = 0; s < pt->n_sets; s++)
            if (fm_set_problem(pt->kind, &pt->sets[s], &param, what, sizeof what, hint, sizeof hint))
                return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u parameter set %u: %s\n  hint: %s",
                                 fm->name, i, s, what, hint);
        if (!thresholds(&pt->sets[0].weight, sizeof *pt->sets, &pt->sets[0].thr, sizeof *pt->sets, 64, pt->n_sets))
            return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u (%s): parameter-set weights must be >= 0 "
                             "and not all 0\n  hint: they are normalised to sum 1", fm->name, i, kn);
        if (!thresholds(&pt->mixes[0].weight, sizeof *pt->mixes, &pt->mixes[0].thr, sizeof *pt->mixes, 64,
                        pt->n_mixes))
            return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u (%s): value-mix weights must be >= 0 and "
                             "not all 0\n  hint: they are normalised to sum 1", fm->name, i, kn);
        for (uint32_t m = 0; m < pt->n_mixes; m++) {
            nnfi_fm_mix *mx = &pt->mixes[m];
            if (mx->ranged >= NNFI_FM_CLASS_COUNT || mx->ranged < -1 || mx->ranged_lo_bp > mx->ranged_hi_bp ||
                mx->ranged_hi_bp > 10000)
                return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u mix %u: bad ranged class\n  hint: a "
                                 "share range [lo, hi] with 0 <= lo <= hi <= 100", fm->name, i, m);
            double saved = 0;
            if (mx->ranged >= 0) {
                saved = mx->share[mx->ranged];
                mx->share[mx->ranged] = 0; /* the others split what the ranged class leaves */
            }
            int ok = thresholds(mx->share, sizeof mx->share[0], mx->class_thr, sizeof mx->class_thr[0], 32,
                                NNFI_FM_CLASS_COUNT);
            if (!ok && mx->ranged >= 0 && mx->ranged_lo_bp == 10000) { /* the ranged class takes everything */
                for (int c = 0; c < NNFI_FM_CLASS_COUNT; c++) mx->class_thr[c] = UINT32_MAX;
                ok = 1;
            }
            if (mx->ranged >= 0) mx->share[mx->ranged] = saved;
            if (!ok)
                return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u (%s) mix %u: value-class proportions "
                                 "must be >= 0 and not all 0\n  hint: e.g. {bitflip: 0.5, zero: 0.5}; with a "
                                 "share range on one class another class must take the rest",
                                 fm->name, i, kn, m);
        }
        if (!pt->bit_uniform) {
            if (!thresholds(pt->bit_weight, sizeof pt->bit_weight[0], pt->bit_thr, sizeof pt->bit_thr[0], 64,
                            NNFI_FM_MAX_BITS))
                return NNFI_FAIL(NNFI_E_INVALID, "fault model %s: pattern %u (%s): bit weights must be >= 0 and "
                                 "not all 0\n  hint: e.g. bits: {30: 1, 23: 1}, or bits: uniform", fm->name, i, kn);
            pt->max_bit = -1;
            for (int b = 0; b < NNFI_FM_MAX_BITS; b++)
                if (pt->bit_weight[b] > 0) pt->max_bit = b;
        } else {
            pt->max_bit = -1;
        }
    }
    return NNFI_OK;
}
