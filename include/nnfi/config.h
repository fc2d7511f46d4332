/* config.h - the campaign, as plain C structs.
 *
 * A campaign file (YAML, see README "Campaign file reference") is parsed,
 * checked and defaulted by nnfi_campaign_load() into one nnfi_campaign. All
 * YAML handling lives in src/base/config/ (config_internal.h lists its files);
 * nothing else in nnfi sees YAML. Optional scalars whose absence matters are
 * pointers (NULL = absent); sequences are (pointer, count) pairs.
 *
 * Lifecycle: nnfi_campaign_load() -> read-only use -> nnfi_campaign_free().
 * The campaign owns every pointer inside it; callers borrow them.
 */
#ifndef NNFI_CONFIG_H
#define NNFI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nnfi/categories.h"
#include "nnfi/fault_bits.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Limits that follow from the generator's counter layout (see sampler.h). */
#define NNFI_MAX_EXPERIMENTS 4096u
#define NNFI_MAX_GROUPS 16u
#define NNFI_MAX_POINTS 65536u
#define NNFI_MAX_FAULTS_PER_GROUP 4000000000ull
#define NNFI_MAX_TRIALS_PER_POINT 4000000000ull

/* Bounds on a campaign file, so that a hostile or mistaken file is refused
 * quickly, with a position, instead of exhausting memory or time. A real
 * campaign is a few KB, at most six levels deep, with a few hundred values. */
#define NNFI_CONFIG_MAX_BYTES (16u << 20) /* file size: checked with stat() before reading */
#define NNFI_CONFIG_MAX_DEPTH 64u         /* lists and mappings nested in one another */
#define NNFI_CONFIG_MAX_NODES 1000000u    /* values in the document, aliases (*x) expanded */
#define NNFI_CONFIG_MAX_PATH 4096u        /* characters of a file path (model, eval, output) */
#define NNFI_CONFIG_MAX_PATTERN 1024u     /* characters of a site glob or regex */
#define NNFI_CONFIG_MAX_REGEX_SIZE 10000u /* regex atoms once {m,n} repeats are expanded, as
                                             glibc's regcomp does: "(((a{100}){100}){100}){100}"
                                             would take it 2+ GB */

typedef enum nnfi_host_kind { NNFI_HOST_NULL = 0, NNFI_HOST_TORCH = 1 } nnfi_host_kind;
typedef enum nnfi_device_kind { NNFI_DEVICE_AUTO = 0, NNFI_DEVICE_CPU = 1, NNFI_DEVICE_CUDA = 2 } nnfi_device_kind;

/* What a fault group may land on (see site.h for site kinds). */
typedef enum nnfi_target {
    NNFI_TARGET_WEIGHT = 0,     /* parameters whose name ends in "weight" */
    NNFI_TARGET_BIAS = 1,       /* parameters whose name ends in "bias" */
    NNFI_TARGET_PARAM = 2,      /* any parameter or buffer */
    NNFI_TARGET_ACTIVATION = 3, /* layer outputs */
    NNFI_TARGET_INPUT = 4,      /* the model input */
    NNFI_TARGET_STATE = 5       /* recurrent state (SNN membrane potential) */
} nnfi_target;

/* permanent: every forward call of the trial; transient: one forward call or
 * one eval sample (and time steps). Values in categories.h. */
typedef enum nnfi_persistence { NNFI_PERSISTENCE_VALUES(NNFI_ENUM_MEMBER) } nnfi_persistence;

/* What a transient fault picks at random: a forward call (a batch) or one
 * eval sample. */
typedef enum nnfi_transient_scope { NNFI_SCOPE_VALUES(NNFI_ENUM_MEMBER) } nnfi_transient_scope;

/* Which elements of a parameter a group may hit (pruned models). */
typedef enum nnfi_values { NNFI_VALUES_ANY = 0, NNFI_VALUES_NONZERO = 1, NNFI_VALUES_ZERO = 2 } nnfi_values;

/* How a rate per element becomes a fault count: round(rate * elements), or a
 * Poisson draw with that mean per trial (the limit of independent per-element
 * faults). */
typedef enum nnfi_rate_draw { NNFI_RATE_FIXED = 0, NNFI_RATE_POISSON = 1 } nnfi_rate_draw;

/* The proportion a stopping rule watches. */
typedef enum nnfi_watch {
    NNFI_WATCH_ACCURACY_DROP = 0, /* P[golden acc - faulty acc > threshold] */
    NNFI_WATCH_SDC = 1,           /* P[any top-1 mismatch vs golden] */
    NNFI_WATCH_CRITICAL_SDC = 2,  /* P[any golden-right -> faulty-wrong] */
    NNFI_WATCH_DUE = 3            /* P[NaN/Inf or failure] */
} nnfi_watch;

typedef struct nnfi_null_model_cfg {
    uint32_t inputs;  /* input features (default 64) */
    uint32_t hidden;  /* width of each hidden layer (default 128) */
    uint32_t layers;  /* hidden layers (default 2) */
    uint32_t classes; /* outputs (default 10) */
} nnfi_null_model_cfg;

typedef struct nnfi_eval_cfg {
    char *path;      /* HDF5 file with images and labels (NULL: the host's own data) */
    char *images;    /* dataset name (default "images") */
    char *labels;    /* dataset name (default "labels") */
    uint32_t samples; /* how many eval samples (0 = all the file has; null host: 512) */
    uint32_t batch;   /* batch size of one forward call (default 256) */
    uint32_t cache_mb; /* golden cache budget per model and rank, MiB (default 256; 0: none) */
    bool drop_nonfinite; /* leave out the samples whose golden logits are not finite (default false: refuse them) */
} nnfi_eval_cfg;

typedef struct nnfi_model_cfg {
    char *name;
    nnfi_host_kind host;
    char *path;                /* torch: TorchScript file; relative to the campaign file */
    nnfi_device_kind device;
    uint32_t threads;          /* intra-op threads; 0 = 1 */
    char *qengine;             /* quantized engine to pin (torch), NULL = host default */
    nnfi_null_model_cfg *null_model; /* host null: its shape (NULL = defaults) */
    /* torch: operator kinds whose tensor outputs become activation sites, as
     * written ("aten::softmax", "softmax" = aten::softmax, "default" = the
     * built-in list); NULL = the built-in list. Checked by the loader
     * (config_torch_ops.c) and again by the host against its libtorch. */
    char **ops;
    unsigned ops_count;
    /* torch: keep PyTorch's fused inference kernels for nn.TransformerEncoderLayer
     * and nn.MultiheadAttention (one site on the fused output); false (default):
     * the host runs their unfused operators, each a site. */
    bool fused;
    /* models[].eval: this model's eval set. After load never NULL: every
     * field the model does not set is the campaign's `eval` (so a model
     * without `eval` has a copy of the campaign's). */
    nnfi_eval_cfg *eval;
    /* Not read from the campaign: the per-sample input shape of the eval set
     * the model is evaluated on, filled by the engine (nnfi_eval_model_cfg)
     * before open so that a model needs no input_shape attribute.
     * input_ndim 0: unknown, the host decides. */
    int input_ndim;
    int64_t input_shape[8];
    /* Not read from the campaign either: the dtype the model takes its input
     * in (the eval images': fp32 default, fp16, bf16, int64 token ids); the
     * host converts the fp32 values it is handed (all exact) to it. */
    nnfi_dtype input_dtype;
} nnfi_model_cfg;


typedef struct nnfi_bits_cfg {
    nnfi_bit_preset preset; /* candidate set when neither list nor range is given */
    uint32_t *list;         /* explicit bit positions */
    unsigned list_count;
    uint32_t *range;        /* [lo, hi] inclusive */
    unsigned range_count;
    uint32_t count;         /* distinct random bits of the candidate set per fault (default 1) */
    bool all;               /* every candidate bit at once (a fixed multi-bit mask) */
} nnfi_bits_cfg;

typedef struct nnfi_window_cfg {
    uint32_t from; /* first time step (inclusive) */
    uint32_t to;   /* last time step (inclusive) */
} nnfi_window_cfg;

typedef struct nnfi_group_cfg {
    char *name;                  /* default "g<index>" */
    nnfi_target target;
    char **sites;                /* glob patterns on site names (any matches) */
    unsigned sites_count;
    char *regex;                 /* POSIX extended regex on site names */
    uint64_t *element;           /* explicit element index; the selectors must match one site */
    nnfi_values values;          /* parameters: any element, or only the (non)zero ones as loaded */
    nnfi_bits_cfg *bits;         /* NULL = one random bit of the whole element */
    nnfi_op op;
    double *value;               /* NNFI_OP_SET: the number written (in the site's dtype) */
    nnfi_persistence persistence;
    nnfi_transient_scope scope;  /* transient only */
    nnfi_window_cfg *time_steps; /* SNN time-step window (NULL = all steps) */
    uint32_t duration;           /* transient: consecutive time steps hit (default 1) */
    bool distinct;               /* faults of the group hit distinct elements */
    uint64_t *count;             /* fixed fault count (else the swept value); with fault_model:
                                  * pattern occurrences per trial */
    double *rate;                /* fixed rate per element (else the swept value) */
    /* Hardware fault models (README "Hardware fault models"): */
    char *fault_model;           /* model file as written (relative to the campaign; .json = CLASSES) */
    double *value_range;         /* [lo, hi] of random_in_range/out_of_range on activation, input
                                  * and state sites (parameters use their golden min/max) */
    unsigned value_range_count;
    double *fit;                 /* raw FIT rate of the unit the group stands for (reporting only) */
    /* Not read from the campaign: the loaded fault model (NULL without
     * fault_model), owned by the campaign, freed by nnfi_campaign_free(). */
    struct nnfi_fault_model *fm;
} nnfi_group_cfg;

typedef struct nnfi_sweep_cfg {
    uint64_t *faults; /* fault counts per trial, one point each */
    unsigned faults_count;
    double *rates;    /* rates per selected element, one point each */
    unsigned rates_count;
    nnfi_rate_draw draw;
} nnfi_sweep_cfg;

typedef struct nnfi_budget_cfg {
    double margin;     /* e.g. 0.01 */
    double confidence; /* e.g. 0.95 */
    double *p;         /* expected proportion (default 0.5, the worst case) */
} nnfi_budget_cfg;

typedef struct nnfi_stop_cfg {
    nnfi_watch watch;
    double threshold;  /* accuracy_drop: the drop that counts (e.g. 0.4) */
    double width;      /* stop when the Wilson interval is narrower than this */
    double confidence; /* of the interval (default 0.95) */
    uint64_t min;      /* trials before the rule is checked (default 30) */
    uint64_t max;      /* hard cap (required) */
} nnfi_stop_cfg;

#define NNFI_SEARCH_POOL_MAX 256 /* the largest group test of a critical-bit search */

/* A critical-bit search (`nnfi search`, search.h): instead of trials, the
 * experiment's one group selects parameter or buffer sites; `elements` of
 * their elements are drawn (counter-based) and every candidate bit of each
 * is classified critical or not under `criterion`. */
typedef struct nnfi_search_cfg {
    char *find;                /* what to find: "critical_bits" (the only one so far) */
    uint64_t elements;         /* elements to draw and classify (capped at the selection) */
    uint64_t exhaustive_check; /* of those, how many are also classified exhaustively (recall, precision) */
    nnfi_watch criterion;      /* sdc (default), critical_sdc, accuracy_drop (with threshold), due */
    double threshold;          /* accuracy_drop: the drop that counts */
    uint64_t pilot;            /* elements per site classified exhaustively first (default 4; 0: rules assumed) */
    uint64_t pool;             /* largest group test (default 64, at most NNFI_SEARCH_POOL_MAX; 1: every flip alone) */
    double strata_width;       /* > 0: the stratified estimator, each (site, bit) interval at most this wide */
    uint64_t strata_max;       /* its draws per stratum at most (default 400) */
} nnfi_search_cfg;

typedef struct nnfi_experiment_cfg {
    char *name;
    char *model;              /* name of a models[] entry */
    nnfi_group_cfg *groups;
    unsigned groups_count;
    nnfi_sweep_cfg *sweep;    /* NULL: every group has a fixed count or rate (one point) */
    uint64_t *trials;         /* fixed trials per point */
    nnfi_budget_cfg *budget;  /* or a Leveugle sample size */
    nnfi_stop_cfg *stop;      /* or a stopping rule */
    nnfi_search_cfg *search;  /* or a critical-bit search (nnfi search; nnfi run refuses it) */
} nnfi_experiment_cfg;

typedef struct nnfi_output_cfg {
    char *path;           /* result file (default: campaign name + ".h5") */
    uint64_t faults_max_n; /* store fault lists of trials with at most this many faults (default 1000) */
} nnfi_output_cfg;

typedef struct nnfi_campaign {
    char *name;
    uint64_t seed;
    nnfi_model_cfg *models;
    unsigned models_count;
    nnfi_eval_cfg *eval;          /* never NULL after load (defaults filled) */
    nnfi_experiment_cfg *experiments;
    unsigned experiments_count;
    nnfi_output_cfg *output;      /* never NULL after load */

    /* Filled by the loader, not by the file: */
    char *source_path;  /* the file as given */
    char *source_dir;   /* its directory, for relative paths */
    char *source_text;  /* the whole file (stored in results for provenance) */
    uint64_t hash;      /* FNV-1a of source_text: resume refuses another config */
    struct nnfi_config_index *index; /* field path -> line:column, for later errors */
} nnfi_campaign;

/* Parse, validate and default a campaign file. On success *out owns a new
 * campaign. On failure *out is NULL and the status is
 *   NNFI_E_CONFIG  the file is malformed or over a bound above; the message is
 *                  "FILE:LINE:COL: FIELD.PATH: problem\n  hint: ..." (problems
 *                  of the whole file, such as its size or emptiness, are at 1:1
 *                  with the path "(top level)");
 *   NNFI_E_IO      the file cannot be opened or read, or is a directory
 *                  ("FILE: problem\n  hint: ...", no position);
 *   NNFI_E_NOMEM   an allocation failed (no position);
 *   NNFI_E_BACKEND libcyaml refused a file that nnfi's own checks accepted: a
 *                  bug in the loader (located at 1:1; please report the file).
 * The size is checked with fstat() before anything is read. YAML anchors and
 * aliases are allowed; their expansion counts towards NNFI_CONFIG_MAX_NODES. */
nnfi_status nnfi_campaign_load(const char *path, nnfi_campaign **out);

/* The bounded read that nnfi_campaign_load() does, for callers that need the
 * text itself (rank 0 reads it once and broadcasts it): fstat first, refuse a
 * directory (NNFI_E_IO) and anything over NNFI_CONFIG_MAX_BYTES (NNFI_E_CONFIG,
 * "FILE:1:1: (top level): ..."; pipes and devices are read up to one byte over
 * the limit). On success *text (NUL-terminated, caller frees) holds *len bytes. */
nnfi_status nnfi_campaign_read_file(const char *path, char **text, size_t *len);

/* Same as nnfi_campaign_load(), from text in memory; `name` stands for the
 * file in messages. The text need not be NUL-terminated and may hold any bytes
 * (it is fuzzed). */
nnfi_status nnfi_campaign_load_text(const char *text, size_t len, const char *name,
                                    nnfi_campaign **out);

/* Free a campaign and everything it owns. NULL is fine. */
void nnfi_campaign_free(nnfi_campaign *c);

/* The field path of model mi's eval set as the campaign writes it, for
 * nnfi_campaign_error(): "models[mi].eval.path" or "models[mi].eval" when
 * the model has its own `eval`, else "eval.path" or "eval". Into buf. */
const char *nnfi_model_eval_field(const nnfi_campaign *c, unsigned mi, char *buf, size_t n);

/* Report an error about a field found later (for example a selector that
 * matches no site once the model is open), located like a parse error:
 * "FILE:LINE:COL: PATH: message". `path` is a field path such as
 * "experiments[0].groups[1].sites". Returns st. */
nnfi_status nnfi_campaign_error(const nnfi_campaign *c, nnfi_status st, const char *path,
                                const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* "libcyaml 1.3.1, libyaml 0.2.5" (static storage). */
const char *nnfi_config_library_versions(void);

/* Names of enum values as written in campaign files (static strings). */
const char *nnfi_dtype_name(nnfi_dtype dt);
const char *nnfi_op_name(nnfi_op op);
const char *nnfi_preset_name(nnfi_bit_preset p);
const char *nnfi_target_name(nnfi_target t);
const char *nnfi_persistence_name(nnfi_persistence p);
const char *nnfi_scope_name(nnfi_transient_scope s);
const char *nnfi_watch_name(nnfi_watch w);
const char *nnfi_values_name(nnfi_values v);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_CONFIG_H */
