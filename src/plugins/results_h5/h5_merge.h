/* h5_merge.h - the shards of `nnfi merge`, private to h5_merge_check.c (read
 * and check the shards: heads, campaign, plan, tables, shares) and
 * h5_merge.c (write the merged file). */
#ifndef NNFI_RESULTS_H5_MERGE_H
#define NNFI_RESULTS_H5_MERGE_H

#include <sys/types.h>

#include "nnfi/h5_reader.h"
#include "nnfi/h5_results.h"

#include "h5_util.h"

#define MERGE_BLOCK (1u << 18) /* rows read from a shard at a time */

/* What `nnfi merge` keeps of a shard file between its steps (the file itself
 * is opened per step: hundreds of shards must not hold hundreds of files). */
typedef struct shard {
    const char *path;
    int32_t index, count, world;
    uint64_t hash, total;
    char *config_path;  /* the campaign file it was run from (for hints) */
    char *slurm_job_id; /* NULL when absent */
    char *config;       /* the campaign text */
    dev_t dev;
    ino_t ino;
} shard;

/* Open a shard with the reader (hint: the shard files of 'nnfi run --shard'). */
nnfi_status shard_open(const shard *s, nnfi_h5_file **f);

/* Read what the cross-checks need from a shard's root. */
nnfi_status read_shard_head(shard *s);

/* Refuse shards of other campaigns, other splits, duplicates and gaps.
 * Sorts the shards by index. */
nnfi_status check_set(shard *s, size_t n);

/* The campaign from the first shard's `config` text (parsed only), and the
 * plan as the shards recorded it in /experiments and /points. */
nnfi_status load_campaign(const shard *s0, nnfi_campaign **c);
nnfi_status load_plan(const shard *s0, const nnfi_campaign *c, nnfi_plan **out);

/* /experiments, /points, /sites and /golden of shard s equal those of s0. */
nnfi_status check_tables(const shard *s0, const shard *s);

/* Every done row of every shard lies in that shard's share and in no other
 * shard; every trial of a share that the campaign runs is done. */
nnfi_status check_shares(const shard *s, size_t n, const nnfi_campaign *c, const nnfi_plan *p);

/* A block of a shard's /trials rows, column by column of the schema. */
typedef struct row_block {
    const nnfi_column_info *cols;
    size_t n_cols, i_done;
    uint8_t **buf; /* MERGE_BLOCK values per column */
} row_block;

nnfi_status block_new(row_block *b);
void block_free(row_block *b);
/* Read rows [lo, lo + count) of f: `done` only, or every column. */
nnfi_status block_read(row_block *b, nnfi_h5_file *f, uint64_t lo, uint64_t count, int all);
/* Row k of the block, placed at trial `trial`. */
void block_row(const row_block *b, size_t k, uint64_t trial, nnfi_trial_row *row);

/* "CAMPAIGN.yaml" or the campaign file the shard was run from (for hints). */
const char *campaign_of(const shard *s);

#endif
