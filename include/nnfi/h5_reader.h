/* h5_reader.h - reading a result file (layout: nnfi/h5_results.h): its
 * provenance, the plan tables, blocks of /trials columns and the golden runs.
 * `nnfi inspect` and `nnfi merge` read files through it; the implementation
 * (src/plugins/results_h5/h5_reader.c) is the only code that knows HDF5.
 *
 * The file is opened read-only and without a file lock, so it may be one a
 * run is still writing (the writer keeps it closed between updates and
 * replaces it by rename(): an open reader keeps the version it opened). The
 * checkpoint journal PATH.journal of a running or killed campaign is read at
 * open and laid over the file: info, /trials blocks and /faults (merge) show
 * every checkpointed row.
 *
 * Lifecycle: nnfi_h5_open() -> reads -> nnfi_h5_file_close(). Not
 * thread-safe. Errors are nnfi statuses naming the file and what failed.
 */
#ifndef NNFI_H5_READER_H
#define NNFI_H5_READER_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_h5_file nnfi_h5_file;

/* Root provenance attributes and /progress. Strings are NULL when the
 * attribute is absent; they belong to the file (valid until close). */
typedef struct nnfi_h5_file_info {
    const char *path;      /* as given to nnfi_h5_open() */
    int32_t schema_version;
    uint64_t config_hash;
    uint64_t seed;         /* 0 when absent */
    int32_t world_size;    /* -1 when absent */
    int32_t shard_index;   /* -1 when absent (a file of the whole campaign) */
    int32_t shard_count;   /* -1 when absent */
    const char *nnfi_version, *git_sha, *created, *campaign, *config, *config_path;
    const char *slurm_job_id, *slurm_array_job_id, *slurm_array_task_id;
    uint64_t trials; /* rows of /trials (the plan's total trials) */
    /* /progress (0 and NULL when absent), counting the journal's checkpoints */
    uint64_t progress_done, checkpoints;
    const char *last_checkpoint;
    /* checkpoints (and their rows) read from PATH.journal, not yet folded
     * into the file: a running or killed campaign */
    uint64_t journal_checkpoints, journal_rows;
} nnfi_h5_file_info;

/* Open `path` and read its provenance. Refused (NNFI_E_IO, `hint` after
 * "hint: "): a path that does not exist, a file that is not HDF5, one HDF5
 * cannot open, one without the schema_version/config_hash attributes or
 * /trials/done ("not an nnfi result file"). The schema version is not
 * checked: compare info->schema_version with NNFI_RESULTS_SCHEMA_VERSION. */
nnfi_status nnfi_h5_open(const char *path, const char *hint, nnfi_h5_file **out);

/* The provenance read at open (static for the file's life). */
const nnfi_h5_file_info *nnfi_h5_file_info_of(const nnfi_h5_file *f);

/* Close and free. NULL is fine. */
void nnfi_h5_file_close(nnfi_h5_file *f);

/* Read every dataset of the file back through HDF5's filters: every chunked
 * dataset the writer makes carries a Fletcher-32 checksum per chunk, so a
 * flipped byte inside column data is found here. NNFI_E_IO naming the file
 * and the first dataset that cannot be read back; *datasets and *bytes (may
 * be NULL): what was read. */
nnfi_status nnfi_h5_verify(nnfi_h5_file *f, uint64_t *datasets, uint64_t *bytes);

/* /experiments and /points, one struct per row. */
typedef struct nnfi_h5_experiment_row {
    char *name, *model;
    uint64_t first_trial, trials;
    uint32_t n_points;
} nnfi_h5_experiment_row;

typedef struct nnfi_h5_point_row {
    uint32_t experiment, point;
    double x;
    uint8_t is_rate;
    uint64_t first_trial, trials;
} nnfi_h5_point_row;

typedef struct nnfi_h5_plan_tables {
    size_t n_experiments, n_points;
    nnfi_h5_experiment_row *experiments;
    nnfi_h5_point_row *points;
} nnfi_h5_plan_tables;

/* Read /experiments and /points (every column of a table of one length).
 * The values are not checked against /trials: the callers know what they
 * need. Free with nnfi_h5_plan_tables_free() (also after a failure). */
nnfi_status nnfi_h5_read_plan_tables(nnfi_h5_file *f, nnfi_h5_plan_tables *out);
void nnfi_h5_plan_tables_free(nnfi_h5_plan_tables *t);

/* Rows [lo, lo + count) of /trials/<column> (a column of
 * NNFI_TRIAL_COLUMNS) into out, in the column's C type (nnfi_column_info
 * size). The column must hold info->trials rows. Column handles stay open
 * (and HDF5 keeps a chunk cache) until close, so reading a column block by
 * block is cheap. NNFI_E_NOTFOUND for a name not in the schema. */
nnfi_status nnfi_h5_read_trials(nnfi_h5_file *f, const char *column, uint64_t lo, uint64_t count, void *out);

/* The models of /golden, sorted by name (malloc'd array of malloc'd names;
 * free with nnfi_h5_names_free). */
nnfi_status nnfi_h5_golden_models(nnfi_h5_file *f, char ***names, size_t *n);
void nnfi_h5_names_free(char **names, size_t n);

/* /golden/<model>: its attributes accuracy, samples, classes, positions
 * (1 when the file predates it), and optionally (non-NULL) logits [samples *
 * positions * classes] fp32 and labels [samples * positions] int32,
 * malloc'd (caller frees). */
typedef struct nnfi_h5_golden_info {
    double accuracy;
    uint64_t samples;
    uint32_t classes;
    uint32_t positions;
    float *logits;
    int32_t *labels;
} nnfi_h5_golden_info;

nnfi_status nnfi_h5_read_golden(nnfi_h5_file *f, const char *model, int with_data, nnfi_h5_golden_info *out);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_H5_READER_H */
