/* fault_model.h - hardware fault models as data: a weighted mixture of spatial
 * error patterns with parameter distributions and value classes, loaded from a
 * native YAML file or imported from a CLASSES error-model JSON file, and drawn
 * one occurrence at a time as a pure function of a Philox counter.
 *
 * What it is for: one corrupted thread, warp or MAC unit corrupts a *pattern*
 * of an operator's output (a row, a block of channels, every k-th channel, the
 * same position in many channels), with values that are in range, out of
 * range, zero or NaN. A fault model says how often each pattern happens, with
 * which parameters, and which values the corrupted elements get. Standalone
 * use (no engine, no model):
 *
 *   nnfi_fault_model *fm;
 *   if (nnfi_fm_load("gpu-conv.yaml", &fm) != NNFI_OK)      // or nnfi_fm_load_classes()
 *       { fprintf(stderr, "%s\n", nnfi_error_message()); ... }
 *   nnfi_fm_shape shape = {.c = 64, .h = 28, .w = 28, .dtype = NNFI_DT_F32};
 *   uint64_t elems[4096], words[4096]; uint8_t cls[4096];
 *   nnfi_fm_occurrence occ = {.elems = elems, .classes = cls, .words = words, .cap = 4096};
 *   nnfi_philox_ctr ctr = {{0, fault, trial, group}};       // v[0] belongs to the draw
 *   if (nnfi_fm_draw(fm, key, ctr, &shape, &occ) == NNFI_OK)
 *       for (uint64_t i = 0; i < occ.n; i++)
 *           apply(occ.elems[i], cls[i] == NNFI_FM_BITFLIP ? words[i]  // XOR mask
 *                 : nnfi_fm_value(cls[i], words[i], golden_min, golden_max));
 *   nnfi_fm_free(fm);
 *
 * Lifecycle and ownership: a model is created by nnfi_fm_load() /
 * nnfi_fm_load_text() / nnfi_fm_load_classes() (or by hand: fill the structs,
 * then nnfi_fm_finalize()), is read-only afterwards (any number of threads may
 * draw from it at once), and is destroyed by nnfi_fm_free(), which frees the
 * pattern array and the model. The struct fields are public plain data so
 * tests and the results writer can read the mixture; do not change a model
 * after finalize (the integer thresholds the draw uses are derived from the
 * weights there). nnfi_fm_draw() allocates nothing: the caller owns the
 * occurrence's element/class/word arrays and says their capacity.
 *
 * ---------------------------------------------------------------------------
 * The tensor views
 *   Activation kinds see the output of ONE sample as [C, H, W] (a 2-D tensor
 *   [H, W] is {c=1}, a 1-D tensor [W] is {c=1, h=1}); element index
 *   = (c * H + h) * W + w. Weight kinds (weight_row, weight_col, weight_tile)
 *   see a parameter tensor as the matrix [R, K] with R = c * h and K = w
 *   (a linear weight [out, in] is {c=1, h=out, w=in}; a convolution weight
 *   [out, in, kh, kw] is {c=1, h=out, w=in*kh*kw}); index = r * K + k.
 *   Element indices of an occurrence are sorted ascending and unique.
 *
 * Pattern kinds and their parameters (P = H * W, the positions of one channel)
 *   single             one element, uniform over the tensor.  No parameters.
 *   same_row           one channel, one row h: `length` elements w0, w0+step, ...
 *   same_column        one channel, one column w: `length` elements h0, h0+step, ...
 *   bullet_wake        one position (h, w) in each of the selected channels.
 *   single_block       `length` consecutive elements of the flat tensor, any start.
 *   multi_channel_block  one block of `length` positions, aligned to a multiple
 *                      of `length` within the channel (a last partial block
 *                      counts when it holds at least length/2 positions), in
 *                      each selected channel.
 *   full_channels      every position of each selected channel.
 *   shattered_channel  one span of `length` consecutive positions (any start)
 *                      in each selected channel; with fill_pct < 100 each
 *                      channel keeps a different subset of it.
 *   skip_k             `positions` positions p0, p0+k, p0+2k, ... in each
 *                      selected channel; the channels are k apart unless a
 *                      skip parameter is given ("stride k over channels").
 *   rectangles         a height x width box (top-left uniform) in each selected channel.
 *   weight_row         one row r: `length` consecutive columns (default: all K).
 *   weight_col         one column k: `length` consecutive rows (default: all R).
 *   weight_tile        a height x width tile aligned to the tile grid
 *                      (clipped at the matrix edge).
 *
 *   Channel selection (bullet_wake, multi_channel_block, full_channels,
 *   shattered_channel, skip_k, rectangles): n channels c0, c0+s, ..., where
 *     n  = `channels`, or round(C * channels_pct / 100) (half up), capped by
 *          `max_channels`, by C and by what fits at the smallest stride, and
 *          at least `min_channels` (default 1);
 *     s  = `skip`, or uniform in [min_skip, max_skip] (default 1; skip_k: k),
 *          reduced so that the n channels fit in C;
 *     c0 = uniform over the starts that fit.
 *   CLASSES draws each gap between channels separately; nnfi draws one stride
 *   per occurrence (same stride range, compact and GPU-friendly).
 *   Lengths: `length`, else round(axis * length_pct / 100), else uniform in
 *   [min_length, max_length]; then capped by max_length and by the axis.
 *   Steps (same_row, same_column): `step`, or uniform in [min_step,
 *   max_step] (default 1); like channels, the length is first capped by
 *   what fits at the smallest step, then the step is reduced to fit.
 *   fill_pct (default 100): in each channel of the pattern only
 *   round(n_g * fill_pct / 100) (at least 1) of the n_g candidate positions
 *   are corrupted, a uniform subset (selection sampling, counter-based).
 *
 * Parameter values: every parameter is a distribution over integers (or over
 * percentages, kept in basis points: 12.5 % = 1250): a number `4`, a range
 * `[lo, hi]` (uniform), or a choice `{one_of: [4, 8, [16, 32]]}` (CLASSES
 * spells it `{"RANDOM": [...]}`): one entry uniformly, then uniform in it.
 * When both min_X and max_X are drawn and max < min, max becomes min.
 *
 * Value model (per pattern): a list of value mixes with weights (CLASSES'
 * "domain classes"); an occurrence draws one mix, then each element draws its
 * class independently from the mix's proportions. A mix may give ONE class a
 * share range [lo, hi] percent: the share is drawn per occurrence and the
 * other classes split the rest by their weights (CLASSES' two-class ranges).
 *   bitflip          XOR with one bit, drawn from the pattern's bit
 *                    distribution (bit -> weight, or uniform over the dtype's
 *                    bits); the word is the mask.
 *   random_in_range  min + (max - min) * u, u in [0, 1) from 52 bits.
 *   out_of_range     sign * A * 2^e * (1 + f), A = max(|min|, |max|) (1 if 0),
 *                    e uniform in 0..7, f in (0, 1] from 52 bits: magnitude in
 *                    (A, 256 A], random sign: always outside [min, max]. (CLASSES writes a random 32-bit
 *                    pattern, pushed outside [min, max] by 2..600 x (max - min)
 *                    when it falls inside; ours is bounded, finite and the
 *                    same on every device.)
 *   zero, nan (quiet NaN), inf (random sign).
 *
 * Frequencies and weights anywhere in a model are normalised: they need not
 * sum to 1, must be >= 0 and not all 0.
 *
 * Temporal scope (stored for the engine): per_call, per_sample, per_step, permanent.
 *
 * ---------------------------------------------------------------------------
 * Native YAML format (nnfi_fm_load):
 *
 *   name: my-gpu-conv            # optional (default: the file's base name)
 *   scope: per_call              # optional (default per_call)
 *   patterns:
 *     - kind: bullet_wake
 *       frequency: 0.4
 *       params:                  # parameter sets, `weight` = conditional frequency (default 1)
 *         - {weight: 0.7, channels: 4}
 *         - {weight: 0.3, channels_pct: [10, 20], max_skip: 2}
 *       values: {bitflip: 0.5, random_in_range: 0.3, zero: 0.1, nan: 0.1,
 *                bits: {30: 1, 23: 1}}       # or bits: uniform (the default)
 *     - kind: skip_k
 *       frequency: 0.6
 *       params: [{weight: 1, k: 4, channels: 8}]
 *       values:                  # or a list of mixes
 *         - {weight: 0.8, out_of_range: 1}
 *         - {weight: 0.2, zero: [20, 40], random_in_range: 1}   # zero: 20-40 %
 *
 * `params` may be left out for kinds that need none (single); a kind that
 * needs a parameter refuses a set without it, and every kind refuses the
 * parameters it does not take. Unknown keys, unknown kinds, negative or all-zero
 * weights, bits outside 0..63 are refused with FILE:LINE:COL, the field path
 * and a hint.
 *
 * ---------------------------------------------------------------------------
 * CLASSES import (nnfi_fm_load_classes): the JSON files of D4De/classes
 * (models/<operator>.json). Top level: one key per pattern, plus metadata keys
 * starting with '_' (ignored, as CLASSES ignores them). Per pattern:
 * `frequency` (used), `count`, `categories_count` (statistics, ignored),
 * `domain_classes` (value mixes: `frequency` + one class [100,100], two classes
 * with percentage ranges (the first listed is the ranged one, as in CLASSES),
 * or `random` with per-class `values`), `parameters` (sets: `keys` and `stats`
 * merged, `conditional_frequency` used, `overall_frequency`/`count` ignored).
 * Pattern names: skip_4 -> skip_k, multi_channel_block and
 * multiple_channels_multi_block -> multi_channel_block, quasi_shattered_channel
 * -> shattered_channel (min_channels 2, as CLASSES draws it), the rest by the
 * same name. Value classes: in_range -> random_in_range, out_of_range,
 * zero, nan, and flip -> out_of_range (CLASSES draws a "flip" as a random bit
 * pattern, i.e. out of range). Parameter names:
 *   affected_channels_pct -> channels_pct   max_corrupted_channels -> max_channels
 *   min_channel_skip -> min_skip            max_channel_skip -> max_skip
 *   skip_amount -> k                        unique_channel_indexes -> positions
 *   indexes_corruption_pct, avg_block_corruption_pct, block_corruption_pct,
 *   avg_channel_corruption_pct, avg_span_corruption_pct -> fill_pct
 *   block_size -> length                    min_span_width -> min_length
 *   max_span_width -> max_length            row_corruption_pct,
 *   col_corruption_pct -> length_pct        max_cardinality -> max_length
 *   min_value_skip -> min_step              max_value_skip -> max_step
 *   rectangle_width -> width                rectangle_height -> height
 * Anything else (other patterns such as single_channel_alternate_blocks, other
 * keys, a domain class with three ranged classes) is refused with the file,
 * line:column, the key and a hint; nothing is silently dropped.
 */
#ifndef NNFI_FAULT_MODEL_H
#define NNFI_FAULT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/fault_bits.h"
#include "nnfi/philox.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits (a model is a few KB; the inline arrays keep a draw malloc-free). */
#define NNFI_FM_MAX_PATTERNS 64
#define NNFI_FM_MAX_SETS 64    /* parameter sets per pattern */
#define NNFI_FM_MAX_MIXES 64   /* value mixes per pattern */
#define NNFI_FM_MAX_CHOICES 24 /* entries of one one_of/RANDOM list */
#define NNFI_FM_MAX_BITS 64    /* bit positions 0..63 */
#define NNFI_FM_MAX_FILE_BYTES (4u << 20)

/* Pattern kinds: X(constant, name). The order is the file format's order of
 * hints and the categorical code of /trials/pattern later: append only. */
#define NNFI_FM_KINDS(X)                                                            \
    X(NNFI_FM_SINGLE, "single") X(NNFI_FM_SAME_ROW, "same_row")                      \
    X(NNFI_FM_SAME_COLUMN, "same_column") X(NNFI_FM_BULLET_WAKE, "bullet_wake")      \
    X(NNFI_FM_SINGLE_BLOCK, "single_block")                                          \
    X(NNFI_FM_MULTI_CHANNEL_BLOCK, "multi_channel_block")                            \
    X(NNFI_FM_FULL_CHANNELS, "full_channels")                                        \
    X(NNFI_FM_SHATTERED_CHANNEL, "shattered_channel") X(NNFI_FM_SKIP_K, "skip_k")    \
    X(NNFI_FM_RECTANGLES, "rectangles") X(NNFI_FM_WEIGHT_ROW, "weight_row")          \
    X(NNFI_FM_WEIGHT_COL, "weight_col") X(NNFI_FM_WEIGHT_TILE, "weight_tile")

/* Value classes: X(constant, name). */
#define NNFI_FM_CLASSES(X)                                                          \
    X(NNFI_FM_BITFLIP, "bitflip") X(NNFI_FM_RANDOM_IN_RANGE, "random_in_range")      \
    X(NNFI_FM_OUT_OF_RANGE, "out_of_range") X(NNFI_FM_ZERO, "zero")                  \
    X(NNFI_FM_NAN, "nan") X(NNFI_FM_INF, "inf")

/* Geometry parameters: X(constant, name, is_percent). */
#define NNFI_FM_PARAMS(X)                                                           \
    X(NNFI_FMP_CHANNELS, "channels", 0) X(NNFI_FMP_CHANNELS_PCT, "channels_pct", 1)  \
    X(NNFI_FMP_MIN_CHANNELS, "min_channels", 0)                                      \
    X(NNFI_FMP_MAX_CHANNELS, "max_channels", 0) X(NNFI_FMP_SKIP, "skip", 0)          \
    X(NNFI_FMP_MIN_SKIP, "min_skip", 0) X(NNFI_FMP_MAX_SKIP, "max_skip", 0)          \
    X(NNFI_FMP_LENGTH, "length", 0) X(NNFI_FMP_LENGTH_PCT, "length_pct", 1)          \
    X(NNFI_FMP_MIN_LENGTH, "min_length", 0) X(NNFI_FMP_MAX_LENGTH, "max_length", 0)  \
    X(NNFI_FMP_STEP, "step", 0) X(NNFI_FMP_MIN_STEP, "min_step", 0)                  \
    X(NNFI_FMP_MAX_STEP, "max_step", 0) X(NNFI_FMP_K, "k", 0)                        \
    X(NNFI_FMP_POSITIONS, "positions", 0) X(NNFI_FMP_HEIGHT, "height", 0)            \
    X(NNFI_FMP_WIDTH, "width", 0) X(NNFI_FMP_FILL_PCT, "fill_pct", 1)

#define NNFI_FM_SCOPES(X)                                                           \
    X(NNFI_FM_PER_CALL, "per_call") X(NNFI_FM_PER_SAMPLE, "per_sample")              \
    X(NNFI_FM_PER_STEP, "per_step") X(NNFI_FM_PERMANENT, "permanent")

#define NNFI_FM_ENUM_(c, ...) c,
typedef enum nnfi_fm_kind { NNFI_FM_KINDS(NNFI_FM_ENUM_) NNFI_FM_KIND_COUNT } nnfi_fm_kind;
typedef enum nnfi_fm_class { NNFI_FM_CLASSES(NNFI_FM_ENUM_) NNFI_FM_CLASS_COUNT } nnfi_fm_class;
typedef enum nnfi_fm_param { NNFI_FM_PARAMS(NNFI_FM_ENUM_) NNFI_FMP_COUNT } nnfi_fm_param;
typedef enum nnfi_fm_scope { NNFI_FM_SCOPES(NNFI_FM_ENUM_) NNFI_FM_SCOPE_COUNT } nnfi_fm_scope;

/* Names (static storage; "?" out of range) and their inverses (-1: unknown). */
const char *nnfi_fm_kind_name(nnfi_fm_kind k);
const char *nnfi_fm_class_name(nnfi_fm_class c);
const char *nnfi_fm_param_name(nnfi_fm_param p);
const char *nnfi_fm_scope_name(nnfi_fm_scope s);
int nnfi_fm_kind_of(const char *name);
int nnfi_fm_class_of(const char *name);
int nnfi_fm_param_of(const char *name);
int nnfi_fm_scope_of(const char *name);
/* 1 when parameter p is a percentage (values in basis points). */
int nnfi_fm_param_is_pct(nnfi_fm_param p);
/* Bit mask (1 << param) of the parameters kind k takes. */
uint32_t nnfi_fm_kind_params(nnfi_fm_kind k);

/* One parameter's distribution: choose one of n intervals uniformly, then an
 * integer uniformly in [lo, hi] of it. n == 0: the parameter is not given.
 * Percentages are in basis points (0..10000). */
typedef struct nnfi_fm_pdist {
    uint32_t n;
    uint32_t lo[NNFI_FM_MAX_CHOICES];
    uint32_t hi[NNFI_FM_MAX_CHOICES];
} nnfi_fm_pdist;

typedef struct nnfi_fm_pset {
    double weight;                   /* conditional frequency (normalised by finalize) */
    uint64_t thr;                    /* cumulative 64-bit threshold (finalize) */
    nnfi_fm_pdist p[NNFI_FMP_COUNT]; /* by nnfi_fm_param */
} nnfi_fm_pset;

typedef struct nnfi_fm_mix {
    double weight;                       /* share of occurrences using this mix (normalised) */
    uint64_t thr;                        /* cumulative threshold (finalize) */
    double share[NNFI_FM_CLASS_COUNT];   /* class weights (normalised over the unranged classes) */
    int ranged;                          /* class with a per-occurrence share range, or -1 */
    uint32_t ranged_lo_bp, ranged_hi_bp; /* its share range, basis points */
    uint32_t class_thr[NNFI_FM_CLASS_COUNT]; /* cumulative 32-bit thresholds of the unranged classes (finalize) */
} nnfi_fm_mix;

typedef struct nnfi_fm_pattern {
    nnfi_fm_kind kind;
    double frequency; /* normalised over the model's patterns by finalize */
    uint64_t thr;     /* cumulative threshold (finalize) */
    uint32_t n_sets, n_mixes;
    nnfi_fm_pset *sets; /* n_sets entries, owned by the model (nnfi_fm_alloc_sets) */
    nnfi_fm_mix mixes[NNFI_FM_MAX_MIXES];
    /* bit distribution of bitflip: bit_uniform (every bit of the dtype), or
     * bit_weight[b] for b < 64 (normalised; cumulative in bit_thr) */
    int bit_uniform;
    double bit_weight[NNFI_FM_MAX_BITS];
    uint64_t bit_thr[NNFI_FM_MAX_BITS];
    int max_bit; /* highest bit with weight > 0 (-1 when uniform) */
} nnfi_fm_pattern;

typedef struct nnfi_fault_model {
    char name[64];
    char source[256]; /* the file it came from ("" when built by hand) */
    nnfi_fm_scope scope;
    uint32_t n_patterns;
    nnfi_fm_pattern *patterns; /* n_patterns entries, owned by the model */
} nnfi_fault_model;

/* Load a native YAML fault model. On success *out is a finalized model the
 * caller frees with nnfi_fm_free(); on failure *out is NULL and the message
 * (FILE:LINE:COL: field: what\n  hint: ...) is in nnfi_error_message().
 * NNFI_E_IO: unreadable file; NNFI_E_CONFIG: malformed or unsupported content. */
nnfi_status nnfi_fm_load(const char *path, nnfi_fault_model **out);
/* The same from text in memory; `name` is the file name used in messages. */
nnfi_status nnfi_fm_load_text(const char *text, size_t len, const char *name, nnfi_fault_model **out);

/* Import a CLASSES error-model JSON file (see the mapping above). Same
 * contract as nnfi_fm_load(). */
nnfi_status nnfi_fm_load_classes(const char *path, nnfi_fault_model **out);
nnfi_status nnfi_fm_load_classes_text(const char *text, size_t len, const char *name, nnfi_fault_model **out);

/* Allocate an empty model with room for n patterns (zeroed, no parameter
 * sets yet; every mix's `ranged` is -1, bit distributions uniform). NULL when out of memory. */
nnfi_fault_model *nnfi_fm_new(uint32_t n_patterns);
/* Give pattern p room for n (<= NNFI_FM_MAX_SETS) zeroed parameter sets,
 * owned by the model (replaces any earlier ones). NNFI_E_NOMEM / NNFI_E_INVALID. */
nnfi_status nnfi_fm_alloc_sets(nnfi_fm_pattern *p, uint32_t n);
/* Check a hand-built (or loaded) model, normalise its weights and compute the
 * integer thresholds the draw uses. NNFI_E_INVALID with a message on a bad
 * model (no patterns, all-zero weights, a kind lacking a parameter, ...). */
nnfi_status nnfi_fm_finalize(nnfi_fault_model *fm);
/* Free a model, its patterns and their parameter sets (NULL is fine). */
void nnfi_fm_free(nnfi_fault_model *fm);

/* ---------------------------------------------------------------- draw -- */

/* The tensor an occurrence lands in. */
typedef struct nnfi_fm_shape {
    uint64_t c, h, w;  /* see "The tensor views"; each >= 1 */
    nnfi_dtype dtype; /* bit width of bitflip masks */
} nnfi_fm_shape;

/* A realized pattern: the candidate elements are, for i < nc, r < nrows, j < np,
 *   (c0 + i * cstride) * plane + p0 + r * rstride + j * pstride
 * and in each channel i, fill_bp / 10000 of them (at least one) are kept. */
typedef struct nnfi_fm_site {
    uint64_t c0, nc, cstride, plane;
    uint64_t p0, nrows, rstride, np, pstride;
    uint32_t fill_bp;
} nnfi_fm_site;

/* One drawn occurrence. The caller sets elems/classes/words (arrays of cap
 * entries, owned by the caller; classes and words may be NULL when not
 * wanted); nnfi_fm_draw fills the rest. */
typedef struct nnfi_fm_occurrence {
    uint64_t *elems;  /* element indices, ascending, unique */
    uint8_t *classes; /* nnfi_fm_class per element */
    uint64_t *words;  /* bitflip: the XOR mask; other classes: the 64-bit draw for nnfi_fm_value */
    uint64_t cap;
    /* out */
    uint64_t n;        /* elements of the occurrence (also set when > cap) */
    uint32_t pattern;  /* index into fm->patterns */
    uint32_t set;      /* parameter set index within the pattern */
    uint32_t mix;      /* value mix index within the pattern */
    uint32_t ranged_bp; /* the drawn share of the mix's ranged class (0 if none) */
    nnfi_fm_kind kind;
    nnfi_fm_site site;
} nnfi_fm_occurrence;

/* Counter layout: ctr.v[0] is owned by the draw (the caller's value is
 * ignored): v[0] = 0..31 are the occurrence's own draws, v[0] = 32 + i the
 * draws of candidate element i; put the occurrence's identity (fault, trial,
 * group, ...) in v[1..3]. A pure function of (model, key, ctr.v[1..3],
 * shape): same arguments, same occurrence, on any thread or device.
 * NNFI_E_INVALID: a bad shape (a zero extent, or 2^32 - 32 elements or more),
 * a bit distribution with
 * bits beyond the dtype's width, or occ->n > occ->cap (then occ->n, pattern,
 * set, mix and site are still filled: call again with a larger array). */
nnfi_status nnfi_fm_draw(const nnfi_fault_model *fm, nnfi_philox_key key, nnfi_philox_ctr ctr,
                         const nnfi_fm_shape *shape, nnfi_fm_occurrence *occ);

/* The geometry alone: realize parameter set `set` of pattern `pattern` on a
 * shape into a site (draws v[0] = 1..31 of ctr). Used by nnfi_fm_draw. */
nnfi_status nnfi_fm_realize(const nnfi_fm_pattern *pat, uint32_t set, nnfi_philox_key key, nnfi_philox_ctr ctr,
                            const nnfi_fm_shape *shape, nnfi_fm_site *site);
/* Number of elements a site yields (after fill). */
uint64_t nnfi_fm_site_count(const nnfi_fm_site *site);
/* Candidate i of a site (before fill), i < nc * nrows * np. */
uint64_t nnfi_fm_site_candidate(const nnfi_fm_site *site, uint64_t i);

/* The value of a non-bitflip class from its word and the golden tensor's
 * [min, max] (finite, min <= max): see "Value model" above. Double precision,
 * no transcendental functions: identical on every IEEE-754 device. */
double nnfi_fm_value(nnfi_fm_class cls, uint64_t word, double min, double max);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_FAULT_MODEL_H */
