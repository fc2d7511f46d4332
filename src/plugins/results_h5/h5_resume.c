/* h5_resume.c - nnfi_h5_resume(): reopen a result file to continue its
 * campaign. Refuses files of another config, schema or plan; folds the
 * checkpoint journal a killed run left, hands back the `done` column and
 * carries the checkpoint count and journal id on. */
#define _GNU_SOURCE /* realpath */
#include "h5_writer.h"
#include "h5_journal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Carry the checkpoint count and journal id on, and fold what the journal
 * holds beyond the file's last fold (a campaign killed between folds): the
 * writer then starts from a file that holds every checkpointed row. */
static nnfi_status take_journal(nnfi_h5_results *r)
{
    nnfi_status st = NNFI_OK;
    hid_t pf = open_file(r->path, H5F_ACC_RDONLY), g = -1;
    if (pf < 0) return open_fail(r->path, "open the result file to resume");
    if (H5Lexists(pf, "progress", H5P_DEFAULT) > 0 && (g = H5Gopen2(pf, "progress", H5P_DEFAULT)) >= 0) {
        attr_read(g, "checkpoints", H5T_NATIVE_UINT64, &r->js->folded);
        attr_read(g, "journal_id", H5T_NATIVE_UINT64, &r->js->journal_id);
        attr_read(g, "trials_done", H5T_NATIVE_UINT64, &r->n_done);
        H5Gclose(g);
    }
    H5Fclose(pf);
    r->checkpoints = r->js->folded;
    if (r->js->journal_id == 0) { /* a file written before journals: give it an id */
        r->js->journal_id = journal_new_id();
        update u;
        NNFI_TRY(update_begin(r->path, "give the result file a journal id", 64u << 10, &u));
        st = write_progress(u.f, r->path, r->n_done, r->js->folded, r->js->journal_id);
        return update_end(&u, r->path, st);
    }
    journal j;
    NNFI_TRY(journal_load(r->path, r->js->journal_id, r->js->folded, &j));
    if (j.gap) {
        char *jp = journal_path(r->path);
        st = NNFI_FAIL(NNFI_E_IO, "%s: the checkpoint journal %s starts after checkpoint %" PRIu64 ", but the file "
                                  "holds only %" PRIu64 " checkpoints\n  hint: was an older copy of the result file "
                                  "put back? Move %s away to resume from the file alone",
                       r->path, jp ? jp : "", j.base_seq, r->js->folded, jp ? jp : "the journal");
        free(jp);
    } else if (j.n_rec) {
        r->checkpoints = j.rec[j.n_rec - 1].seq;
    }
    journal_free(&j);
    if (st == NNFI_OK) st = fold_journal(r);
    r->n_done = 0; /* recounted from the done column */
    return st;
}

nnfi_status nnfi_h5_resume(const char *path, const nnfi_campaign *c, const nnfi_plan *p, nnfi_h5_results **out,
                           uint8_t **done)
{
    if (out) *out = NULL;
    if (done) *done = NULL;
    if (!path || !*path || !c || !p || !out) /* done may be NULL: the mask is then not returned */
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_resume: NULL argument\n  hint: this is a bug in the caller");
    struct stat sb;
    if (stat(path, &sb) != 0)
        return NNFI_FAIL(NNFI_E_IO, "%s: no such result file to resume\n  hint: drop --resume to start a new one, or "
                                    "check -o / output.path",
                         path);
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    hid_t f = -1, ds = -1;
    uint8_t *col = NULL;
    char *real = NULL;
    if (H5Fis_hdf5(path) <= 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: not an HDF5 file, so not an nnfi result file\n  hint: --resume continues a "
                                  "file written by 'nnfi run'; use another -o, or --force to overwrite it",
                       path);
        goto out;
    }
    f = open_file(path, H5F_ACC_RDONLY);
    if (f < 0 && lock_error()) {
        st = open_fail(path, "open the result file to resume");
        goto out;
    }
    if (f < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot open the HDF5 file (damaged, or open for writing elsewhere)\n  hint: a "
                                  "kill during a checkpoint can break the file; start again with --force or a new -o",
                       path);
        goto out;
    }
    int32_t schema = 0;
    uint64_t hash = 0;
    char their_path[1024];
    if (attr_read(f, "schema_version", H5T_NATIVE_INT32, &schema) < 0 ||
        attr_read(f, "config_hash", H5T_NATIVE_UINT64, &hash) < 0 || H5Lexists(f, "trials", H5P_DEFAULT) <= 0 ||
        H5Lexists(f, "trials/done", H5P_DEFAULT) <= 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: not an nnfi result file (no schema_version/config_hash attributes or no "
                                  "/trials/done)\n  hint: --resume continues a file written by 'nnfi run'; use "
                                  "another -o, or --force to overwrite it",
                       path);
        goto out;
    }
    if (schema != NNFI_RESULTS_SCHEMA_VERSION) {
        char ver[64];
        attr_read_str(f, "nnfi_version", ver, sizeof ver);
        st = NNFI_FAIL(NNFI_E_INVALID, "%s: result schema version %d (written by nnfi %s), this nnfi writes version "
                                       "%d\n  hint: finish it with the nnfi that wrote it, or start a new -o",
                       path, (int)schema, ver[0] ? ver : "?", NNFI_RESULTS_SCHEMA_VERSION);
        goto out;
    }
    if (hash != c->hash) {
        attr_read_str(f, "config_path", their_path, sizeof their_path);
        st = NNFI_FAIL(NNFI_E_INVALID, "%s was written for another campaign: config hash %016" PRIx64 " (%s), but %s "
                                       "hashes to %016" PRIx64 "\n  hint: use the original campaign file (the file "
                                       "keeps its text in the 'config' attribute), or a new -o",
                       path, hash, their_path[0] ? their_path : "?", c->source_path ? c->source_path : "the campaign",
                       c->hash);
        goto out;
    }
    int64_t len = ds_length(f, "trials/done");
    if (len < 0 || (uint64_t)len != p->total_trials) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s holds %" PRId64 " trials but the plan has %" PRIu64 "\n  hint: the "
                                       "plan depends on the model (Leveugle budgets); use the original model, or a new -o",
                       path, len, p->total_trials);
        goto out;
    }
    H5Fclose(f);
    f = -1;
    /* updates replace the file by rename(): through a symlink the user made to
     * the file, that must replace the link's target, not the link */
    real = realpath(path, NULL);
    if ((st = new_writer(real ? real : path, c, p, out)) != NNFI_OK) goto out;
    nnfi_h5_results *r = *out;
    if ((st = take_journal(r)) != NNFI_OK) goto out;
    col = malloc((size_t)p->total_trials + 1);
    if (!col) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory reading %s", path);
        goto out;
    }
    f = open_file(r->path, H5F_ACC_RDONLY);
    if (f < 0) {
        st = open_fail(path, "reopen the result file to resume");
        goto out;
    }
    H5_TRY(ds = H5Dopen2(f, "trials/done", H5P_DEFAULT), path, "open /trials/done");
    if (p->total_trials) H5_TRY(H5Dread(ds, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, col), path, "read /trials/done");
    for (uint64_t t = 0; t < r->total; t++)
        if (col[t]) {
            r->done_bits[t >> 3] |= (uint8_t)(1u << (t & 7));
            r->n_done++;
        }
    if (done) {
        *done = col;
        col = NULL;
    }
out:
    if (st != NNFI_OK && out && *out) {
        nnfi_h5_results *w = *out;
        *out = NULL;
        if (w->js->jfd >= 0) close(w->js->jfd);
        free_writer(w); /* nothing written: the file and its journal stay as they were */
    }
    free(real);
    free(col);
    if (ds >= 0) H5Dclose(ds);
    if (f >= 0) H5Fclose(f);
    quiet_off(&q);
    return st;
}
