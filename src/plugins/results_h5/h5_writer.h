/* h5_writer.h - the result writer's state, private to the files that make up
 * the writer of nnfi/h5_results.h: h5_create.c (create), h5_resume.c
 * (resume), h5_models.c (add_sites, add_golden), h5_writer.c (put_rows,
 * put_faults, checkpoint, close, read_column) and h5_chunks.c (the chunk
 * writes of a checkpoint). */
#ifndef NNFI_RESULTS_H5_WRITER_H
#define NNFI_RESULTS_H5_WRITER_H

#include "nnfi/h5_results.h"

#include "h5_util.h"

/* The checkpoint journal's state (h5_journal.h). Touched by the background
 * writer's thread while it has work, by the caller's thread otherwise. */
typedef struct jstate {
    uint64_t journal_id;  /* /progress@journal_id of the file */
    uint64_t folded;      /* checkpoints folded into the file (its /progress@checkpoints) */
    int jfd;              /* PATH.journal open for appends, -1 when not started */
    uint64_t jbytes;      /* its length */
    uint64_t fold_at;     /* fold when the journal's records reach this many bytes */
    nnfi_h5_checkpoint_stats stats;
} jstate;

struct nnfi_h5_results {
    char *path;
    const nnfi_campaign *c;
    const nnfi_plan *p;
    uint64_t total;
    uint8_t *done_bits; /* one bit per trial: done (written or buffered) */
    uint64_t n_done;
    /* buffered rows, column-major: the trial indices and one array per column
     * of NNFI_TRIAL_COLUMNS (n_cols of them, cols[i].size bytes a value) */
    uint64_t *trials;
    uint8_t **col;
    size_t n_cols;
    size_t n_rows, cap_rows;
    nnfi_fault_row *faults; /* buffered /faults rows */
    size_t n_faults, cap_faults;
    uint64_t checkpoints; /* checkpoints made (journaled, queued or folded) */
    struct jstate *js;    /* the journal, shared with the background writer's copies of this struct */
    struct bg_writer *bg; /* the background writer (h5_background.c), NULL until the first async checkpoint */
};

/* A writer for `path` with nothing buffered and nothing done (h5_create.c). */
nnfi_status new_writer(const char *path, const nnfi_campaign *c, const nnfi_plan *p, nnfi_h5_results **out);

/* Append m /faults rows to the open file f (creating the extendible
 * columns on the first call); `path` names the file in errors (h5_writer.c). */
nnfi_status append_fault_rows(hid_t f, const char *path, const nnfi_fault_row *rows, size_t m);

/* Free a writer's memory (nothing written; h5_writer.c). */
void free_writer(nnfi_h5_results *r);

/* Create or update /progress: trials_done, checkpoints, journal_id,
 * last_checkpoint = now (h5_create.c). */
nnfi_status write_progress(hid_t f, const char *path, uint64_t done, uint64_t checkpoints, uint64_t journal_id);

/* Fold every journaled checkpoint into the file (one durable update) and
 * close the journal (h5_writer.c). */
nnfi_status fold_journal(nnfi_h5_results *r);

/* Append the rows and faults buffered in r (the writer, or the background
 * writer's copy holding one queued checkpoint) to the journal as checkpoint
 * r->checkpoints with n_done trials done, empty the buffers, and fold when
 * the journal is due (h5_writer.c). */
nnfi_status append_checkpoint(nnfi_h5_results *r, uint64_t n_done);

/* The background writer (h5_background.c): async checkpoints hand their
 * buffers to a thread that appends them (and folds) in order. */
nnfi_status bg_enqueue(nnfi_h5_results *r);   /* hand r's buffers over as checkpoint r->checkpoints + 1 */
nnfi_status bg_drain(nnfi_h5_results *r);     /* wait until every queued checkpoint is appended; its first failure */
nnfi_status bg_stop(nnfi_h5_results *r);      /* end the thread; retry what a failure left queued; free */

/* Write the ordered buffered rows (order[0..m), sorted by trial, one per
 * trial) of column ci, `size` bytes a value, into /trials column ds chunk
 * by chunk when its layout is the one create() makes. Returns 1 when done
 * that way, 0 when the layout is another (the caller then writes through a
 * hyperslab), -1 on error (h5_chunks.c). */
typedef struct chunk_writer chunk_writer;
chunk_writer *chunk_writer_new(hsize_t chunk);
void chunk_writer_free(chunk_writer *w);
int write_column_chunks(hid_t ds, chunk_writer *w, const nnfi_h5_results *r, const size_t *order, size_t m,
                        size_t ci, const nnfi_column_info *col);

#endif
