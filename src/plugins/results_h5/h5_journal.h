/* h5_journal.h - the checkpoint journal of a result file, private to
 * src/plugins/results_h5/: an append-only file PATH.journal beside PATH that
 * holds the rows and faults of every checkpoint not yet folded into PATH.
 * A checkpoint appends one record and fsyncs it, so its cost follows the new
 * rows, not the file; the writer folds the journal into PATH (the copy-fsync-
 * rename update of h5_durable.c) at the end and at coarse intervals, and
 * every reader (h5_reader.c, the analysis package) lays the journal's rows
 * over the file's.
 *
 * Format (little-endian; every offset a multiple of 8):
 *   header   char[8] "NNFIJNL1"; u32 header_bytes; u32 crc32 of the bytes
 *            [16, header_bytes); u64 journal_id (the file's
 *            /progress@journal_id: a journal of another file is ignored);
 *            u64 base_seq (/progress@checkpoints of the file when this
 *            journal was started); u32 n_trial_cols; u32 n_fault_cols; text
 *            lines "trials/<col> <bytes> <type>\n" then "faults/<col> <bytes>
 *            <type>\n" in schema order (type: a NumPy code such as <u8, <f8),
 *            NUL-padded to a multiple of 8.
 *   records  u32 magic "NJR1"; u32 crc32 of the bytes [8, record_bytes);
 *            u64 record_bytes; u64 seq (the checkpoint's number: base_seq+1,
 *            +2, ...); u64 n_rows; u64 n_faults; u64 n_done (trials done
 *            after this checkpoint); f64 time (Unix seconds); u64 0; then
 *            u64 trial[n_rows] (sorted, unique), each /trials column's
 *            n_rows values in schema order, each /faults column's n_faults
 *            values, every array padded to a multiple of 8.
 * A record counts only when it is whole, its checksum holds and its seq
 * follows the previous one; the first that does not ends the journal (a
 * kill -9 inside an append leaves a torn last record, which is ignored and
 * overwritten by the next append). Records with seq <= the file's
 * /progress@checkpoints are already in the file.
 */
#ifndef NNFI_RESULTS_H5_JOURNAL_H
#define NNFI_RESULTS_H5_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/results.h"
#include "nnfi/status.h"

#define JOURNAL_SUFFIX ".journal"
#define JOURNAL_REC_HEAD 64u

/* One record, as read: pointers into the loaded journal (valid while it is). */
typedef struct jrec {
    uint64_t seq, n_rows, n_faults, n_done;
    double time;
    const uint64_t *trial;
    const uint8_t *col[32];  /* /trials columns, schema order */
    const uint8_t *fcol[32]; /* /faults columns, schema order */
} jrec;

/* A journal read whole (mmap) and checked. */
typedef struct journal {
    uint8_t *map;
    size_t len;        /* bytes mapped */
    uint64_t id, base_seq;
    jrec *rec;         /* records with seq > the file's folded seq, in order */
    size_t n_rec;
    size_t valid_end;  /* byte offset after the last whole record */
    int damaged;       /* a bad record followed by more bytes (not a torn tail) */
    int gap;           /* the journal starts after the file's last checkpoint:
                          the file is older than the journal (a reader that
                          raced a fold reopens it) */
    uint64_t bad_at;   /* its offset, when damaged */
} journal;

/* Load PATH.journal for a file whose /progress says journal_id `id` and
 * `folded` checkpoints. No journal, or one of another file (id differs):
 * NNFI_OK with j->n_rec == 0. A header of another schema: NNFI_E_IO naming
 * the journal. Free with journal_free. */
nnfi_status journal_load(const char *h5path, uint64_t id, uint64_t folded, journal *j);
void journal_free(journal *j);

/* Apply the loaded records to a block [lo, lo+count) of /trials column ci
 * (`size` bytes a value) read from the file: later records win. */
void journal_overlay(const journal *j, size_t ci, size_t size, uint64_t lo, uint64_t count, void *out);

/* Rows in all loaded records (upper bound of distinct trials) and faults. */
uint64_t journal_rows(const journal *j);
uint64_t journal_faults(const journal *j);

/* ---- writing (h5_writer.c) ---- */

/* Replace PATH.journal by an empty journal (header only) for file id `id`
 * whose file holds `base_seq` checkpoints: written to PATH.journal.new,
 * fsync'ed, renamed. Returns the open descriptor (positioned at the end) in
 * *fd and the header's size in *bytes. */
nnfi_status journal_start(const char *h5path, uint64_t id, uint64_t base_seq, int *fd, uint64_t *bytes);

/* Append one record (rows column-major: trial[n] and col[i] of
 * cols[i].size * n bytes; faults as nnfi_fault_row structs) and fdatasync.
 * On failure the journal is cut back to `at` (its length before), so it
 * still ends with a whole record. *bytes receives the record's size. */
nnfi_status journal_append(const char *h5path, int fd, uint64_t at, uint64_t seq, uint64_t n_done,
                           const uint64_t *trial, const uint8_t *const *col, size_t n_rows,
                           const nnfi_fault_row *faults, size_t n_faults, uint64_t *bytes);

/* A new journal_id for a new file (random, never 0). */
uint64_t journal_new_id(void);

/* PATH.journal, malloc'd. */
char *journal_path(const char *h5path);

#endif
