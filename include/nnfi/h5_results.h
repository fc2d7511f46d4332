/* h5_results.h - the HDF5 result file: one writer (rank 0) per campaign, and
 * `nnfi merge`. Reading a file: nnfi/h5_reader.h. All of it is implemented
 * in src/plugins/results_h5/ (the only code that calls HDF5).
 *
 * Layout:
 *   /                root attributes: provenance (schema_version, nnfi_version,
 *                    git_sha, seed, config (full text), config_hash, config_path,
 *                    campaign, library_versions, world_size, slurm_job_id,
 *                    slurm_array_job_id, slurm_array_task_id, created,
 *                    shard_index, shard_count)
 *   /trials/<col>    one chunked shuffle+deflate 1-D dataset per column of
 *                    NNFI_TRIAL_COLUMNS (nnfi/results.h), length = the plan's
 *                    total trials, fill 0, each attached to the dimension
 *                    scale /trials/trial (0..T-1); attributes unit,
 *                    description; categorical columns carry flag_values (the
 *                    codes) and flag_meanings (the names) of their
 *                    categories.h list
 *   /experiments     columnar table: name, model, first_trial, trials, n_points
 *   /points          columnar table: experiment, point, x, is_rate, first_trial, trials
 *   /sites/<model>   name, kind, dtype, numel, shape (text) of every site
 *   /golden/<model>  logits [samples, classes] fp32, labels int32, attributes
 *                    accuracy, samples, classes and host facts (threads,
 *                    qengine, ...)
 *   /faults          fault lists of trials with at most output.faults_max_n
 *                    faults: one extendible column per NNFI_FAULT_COLUMNS entry
 *                    (trial, group, site, element, mask, value, op, transient,
 *                    scope, when, t_first, t_last), attributes as for /trials
 *   /progress        attributes: trials_done, checkpoints, last_checkpoint
 *
 * Durability: the file is CLOSED between updates and never changed in
 * place. Rows and faults are buffered in memory by put_rows/put_faults;
 * checkpoint() appends them as one checksummed record to the journal
 * PATH.journal and fsyncs it (src/plugins/results_h5/h5_journal.h), so a
 * checkpoint costs the new rows, not the file. The journal is folded into
 * PATH at close(), at resume(), and whenever its records reach four times
 * the size of PATH (at least 256 MiB; NNFI_FOLD_MB=N sets N MiB, 0 folds at every
 * checkpoint): a fold copies PATH to PATH.ckpt, writes the rows into the
 * copy, fsyncs it and rename()s it over PATH (add_sites/add_golden alike;
 * create() builds PATH.ckpt and publishes it whole), so folds cost O(file)
 * but happen O(log) times as a file grows. A kill -9, a full disk or a
 * file-size limit at any moment leaves PATH plus the whole records of
 * PATH.journal holding every row of the last complete checkpoint; readers
 * (nnfi/h5_reader.h, the analysis package) lay the journal over the file,
 * and resume() folds it and continues from the `done` column. A fold needs
 * free space for a second copy of the file. create() refuses a symbolic link
 * at PATH; resume() follows one to the real file.
 *
 * The file uses the HDF5 1.10 format (free-space tracking across opens keeps
 * frequently checkpointed files small): readers need HDF5 >= 1.10.
 *
 * Lifecycle: create() or resume() -> [add_sites/add_golden once per model]
 *            -> (put_rows | put_faults | checkpoint)* -> close(). Not thread-safe.
 * The writer borrows the campaign and plan (they must outlive it) and copies
 * everything passed to the add and put calls.
 */
#ifndef NNFI_H5_RESULTS_H
#define NNFI_H5_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/config.h"
#include "nnfi/plan.h"
#include "nnfi/results.h"
#include "nnfi/sampler.h"
#include "nnfi/search_result.h"
#include "nnfi/site.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnfi_h5_results nnfi_h5_results;

typedef struct nnfi_h5_provenance {
    int world_size;
    const char *slurm_job_id;        /* NULL when absent */
    const char *slurm_array_job_id;  /* NULL when absent */
    const char *slurm_array_task_id; /* NULL when absent */
    unsigned shard_index, shard_count; /* this file holds shard i of n (0/1: the whole campaign) */
} nnfi_h5_provenance;

/* Create `path` for campaign c and plan p. Refuses an existing file unless
 * force (NNFI_E_IO, hint: --force to overwrite, --resume to continue). */
nnfi_status nnfi_h5_create(const char *path, int force, const nnfi_campaign *c, const nnfi_plan *p,
                           const nnfi_h5_provenance *prov, nnfi_h5_results **out);

/* Reopen `path` to continue campaign c. Refuses a file written for another
 * config (config_hash differs: message names both hashes, hint: use the
 * original campaign file or a new -o), another schema version or another
 * total trial count. Unless done is NULL, *done receives a malloc'd copy of
 * the `done` column (p->total_trials bytes; caller frees). */
nnfi_status nnfi_h5_resume(const char *path, const nnfi_campaign *c, const nnfi_plan *p, nnfi_h5_results **out,
                           uint8_t **done);

/* Once per model: its site table, and its golden logits (samples x
 * positions x classes) and labels (samples x positions). positions is 1 for
 * [N, C] outputs (0 is read as 1) and T for a class per position: the group
 * then says so (attributes positions and outcome_unit "position", logits
 * [sample, position, class]). `facts` is a NULL-terminated list of
 * "key=value" strings stored as attributes. */
nnfi_status nnfi_h5_add_sites(nnfi_h5_results *r, const char *model, const nnfi_site *sites, size_t n);
nnfi_status nnfi_h5_add_golden(nnfi_h5_results *r, const char *model, const float *logits, const int32_t *labels,
                               uint64_t samples, uint32_t classes, uint32_t positions, double accuracy,
                               const char *const *facts);

/* Buffer finished rows (row.trial says where each goes) / one trial's faults. */
nnfi_status nnfi_h5_put_rows(nnfi_h5_results *r, const nnfi_trial_row *rows, size_t n);
nnfi_status nnfi_h5_put_faults(nnfi_h5_results *r, uint64_t trial, const nnfi_fault *faults, size_t n);

/* Append everything buffered to the journal and fsync it (see Durability),
 * on the caller's thread, after every queued async checkpoint; rows are
 * durable when it returns. */
nnfi_status nnfi_h5_checkpoint(nnfi_h5_results *r);

/* Like checkpoint(), but the buffered rows are handed to a background
 * thread that appends them to the journal (and folds it when due) while the
 * caller goes on; the caller pays only the hand-over. Checkpoints stay in
 * call order (a sync checkpoint, read_column(), stats() and close() wait for
 * the queued ones). At most two wait in the queue: a third call blocks until
 * one is written. A failure in the background is returned by the next call
 * (checkpoint, checkpoint_async, close); close() retries the checkpoints it
 * left queued. The thread is the only user of HDF5 while it runs: do not
 * call HDF5 elsewhere in the process between an async checkpoint and the
 * next sync point. */
nnfi_status nnfi_h5_checkpoint_async(nnfi_h5_results *r);

/* What the checkpoints of this writer cost so far (wall time and bytes). */
typedef struct nnfi_h5_checkpoint_stats {
    uint64_t checkpoints;        /* records appended to the journal */
    double checkpoint_s;         /* the caller's time inside checkpoint calls (blocked) */
    double append_s;             /* time building, writing and fsyncing records (background for async) */
    uint64_t journal_bytes;      /* bytes appended */
    uint64_t folds;              /* folds of the journal into the file */
    double fold_s;               /* wall time of the folds (background for async) */
    uint64_t fold_bytes;         /* bytes of result file the folds copied and wrote */
    double last_checkpoint_s;    /* the latest append */
    uint64_t last_checkpoint_bytes;
} nnfi_h5_checkpoint_stats;

/* The figures so far (waits for queued async checkpoints first). */
const nnfi_h5_checkpoint_stats *nnfi_h5_stats(nnfi_h5_results *r);

/* Checkpoint, fold the journal into the file, remove the journal and free.
 * NULL is fine. Returns the first failure (the journal then stays: readers
 * and resume() still see every checkpointed row). */
nnfi_status nnfi_h5_close(nnfi_h5_results *r);

/* ------------------------------------------------ nnfi search's file -- */

/* The site names of one search experiment's model (borrowed). */
typedef struct nnfi_search_sites {
    const char *const *names;
    size_t n;
} nnfi_search_sites;

/* How far a search got, and its units as packed records (search.h:
 * nnfi_search_unit_pack, one after another in (experiment, site) order).
 * Units are counted over the campaign (units_total: every site of every
 * search experiment), this file's share (units_wanted: all, or a shard's)
 * and done (units); the file is complete when units == units_wanted. */
typedef struct nnfi_search_archive {
    const uint8_t *records;
    uint64_t bytes;
    uint64_t units, units_wanted, units_total;
    uint64_t shard_index, shard_count; /* 0 and 1 without --shard */
    uint64_t config_hash;              /* the campaign text's (nnfi_campaign.hash) */
} nnfi_search_archive;

/* Write the result file of `nnfi search` at PATH (whole, as PATH.ckpt then
 * renamed over PATH; an existing PATH is refused unless force):
 *   /                 kind = "critical_bits", provenance (nnfi_version,
 *                     git_sha, seed, config, config_path, campaign, created)
 *   /critical_bits/   columns experiment, site, element, bit, critical
 *                     (yes/no), method (search/exhaustive, flag_values and
 *                     flag_meanings), evaluations (1 evaluated, 0 predicted)
 *   /critical_strata/ columns experiment, site, bit, elements, critical,
 *                     fraction, lo, hi (Wilson, @confidence)
 *   /search/<name>    per experiment: attributes (criterion, elements,
 *                     checked, evaluations_search, evaluations_exhaustive,
 *                     recall, precision, ...) and site_names
 *   /search_units     records (the archive's) and attributes units,
 *                     units_wanted, units_total, shard_index, shard_count,
 *                     config_hash
 * r[i] and sites[i] belong together; n experiments. */
nnfi_status nnfi_h5_write_search(const char *path, const nnfi_campaign *c, const nnfi_search_result *r, size_t n,
                                 const nnfi_search_sites *sites, const nnfi_search_archive *archive, int force);

/* Read /search_units of the search file PATH: *a (a->records points into
 * *records, malloc'd, the caller frees it) and, when config is not NULL,
 * the campaign text stored in the file (malloc'd, or NULL). */
nnfi_status nnfi_h5_read_search_archive(const char *path, nnfi_search_archive *a, uint8_t **records, char **config);

/* PATH.units, the journal of a running search: rank 0 appends each finished
 * unit's record (CRC-32-checked, fsynced) so a killed search resumes with
 * only the units in flight lost. Read returns the whole records one after
 * another (*recs malloc'd; *recs NULL and 0 units when there is no
 * journal), cuts a torn tail off the file, and refuses a journal of another
 * campaign text (config_hash). */
nnfi_status nnfi_search_journal_append(const char *path, uint64_t config_hash, const uint8_t *rec, size_t len);
nnfi_status nnfi_search_journal_read(const char *path, uint64_t config_hash, uint8_t **recs, uint64_t *bytes,
                                     uint64_t *units);
int nnfi_search_journal_exists(const char *path);
void nnfi_search_journal_remove(const char *path);

/* What `nnfi inspect` prints of a search file: one summary per experiment
 * (its /search/<name> attributes; critical: its critical search labels). */
typedef struct nnfi_search_summary {
    char name[96], model[96], criterion[32];
    uint64_t index, elements, checked, pilot_elements, bits, evals_search, evals_search_checked, evals_exhaustive;
    uint64_t predicted, tp, fp, fn, sites, nonmonotone_sites, unpooled_sites, critical;
    uint64_t units, units_wanted, shard_index, shard_count; /* the file's /search_units (units < units_wanted: partial) */
    double recall, precision, seconds;
} nnfi_search_summary;

/* The summaries of the search file PATH (malloc'd array in *out, the
 * caller frees it); *n = 0 and NNFI_OK when PATH is an HDF5 file of
 * another kind (a run's result file). */
nnfi_status nnfi_h5_search_summaries(const char *path, nnfi_search_summary **out, size_t *n);

/* Read a whole /trials column as checkpointed (the file with its journal laid
 * over it; its native type, one value per planned trial) into out. Buffered
 * rows are not included: call after resume() or checkpoint(). */
nnfi_status nnfi_h5_read_column(nnfi_h5_results *r, const char *name, void *out);

/* Trials marked done so far (written or buffered). */
uint64_t nnfi_h5_trials_done(const nnfi_h5_results *r);

/* What nnfi_h5_merge() wrote. */
typedef struct nnfi_h5_merge_info {
    unsigned shards; /* shard files merged */
    uint64_t trials; /* planned trials (rows of /trials) */
    uint64_t done;   /* rows done in the merged file */
    uint64_t faults; /* rows of /faults */
} nnfi_h5_merge_info;

/* `nnfi merge`: join the n shard files of one campaign (written by
 * `nnfi run --shard I/N`, in any order) into `out`, which then equals a
 * single run of the whole campaign in every /trials column: each shard's done
 * rows are copied at their trial index and `done` is the union. A single
 * whole-campaign file (shard 0 of 1) is accepted too (a copy).
 *
 * Written: /trials through this writer (create + put_rows + checkpoint);
 * /experiments, /points, /sites, /golden once (they must be equal, values and
 * attributes, in every shard); /faults concatenated in shard order (within a
 * shard in its checkpoint order; select by `trial`); /progress as the writer
 * keeps it. Root attributes: the first shard's (provenance: versions,
 * created, seed, config, slurm_job_id, ...), then shard_index 0,
 * shard_count 1, world_size = the sum of the shards' world sizes (every rank
 * that computed rows), slurm_array_task_id removed, and added: merged_from
 * (the shard paths as given, in shard order), shard_world_sizes,
 * shard_slurm_job_ids ("" when absent), merged (UTC time), merged_by (the
 * merging nnfi's version).
 *
 * Refused, before anything is written, with a message naming the files:
 * shards of different campaigns (config_hash), of different splits
 * (shard_count) or plans, a file or shard index given twice, a shard missing
 * ("missing shard 2 of 3"), shards whose done rows overlap or lie outside
 * their own share, a shard incomplete for its own share (the missing trial
 * ranges, hint: `nnfi run ... --shard i/n --resume`; trials a stopping rule
 * cut off are not missing), unequal tables, another schema version; an
 * existing `out` unless force; `out` being one of the shards.
 *
 * The output is written to OUT.merging and renamed to `out` when complete
 * (a failed merge removes it and leaves an existing `out` alone). Reads the
 * shards only (they may be on read-only storage). `info` may be NULL. */
nnfi_status nnfi_h5_merge(const char *const *shards, size_t n, const char *out, int force, nnfi_h5_merge_info *info);

/* "1.10.8": the HDF5 library this build runs with (static storage). */
const char *nnfi_h5_library_version(void);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_H5_RESULTS_H */
