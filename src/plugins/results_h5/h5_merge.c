/* h5_merge.c - `nnfi merge`: join the shard files of one campaign (written by
 * `nnfi run --shard I/N`) into one result file that equals, in every /trials
 * column, a single run of the whole campaign (see nnfi_h5_merge() in
 * nnfi/h5_results.h for the contract and the refusals).
 *
 * Steps 1-4 (read and check the shards, before anything is written) are in
 * h5_merge_check.c. Step 5, here: write the output with the result writer
 * itself (nnfi_h5_create, then nnfi_h5_put_rows + nnfi_h5_checkpoint per
 * block of rows), copy /sites/<model> and /golden/<model> of the first shard
 * (H5Ocopy), concatenate /faults in shard order (each shard's file, then
 * its checkpoint journal), and set the root
 * attributes. The output is built under OUT.merging next to OUT and renamed
 * over OUT only when complete, so a failed merge never leaves a half-written
 * OUT (nor destroys an existing one under --force). Shards are read through
 * the reader API (nnfi/h5_reader.h).
 *
 * Usable alone: the function needs no MPI initialisation;
 * tests/merge/test_merge.py drives it through `nnfi merge`.
 */
#include "h5_merge.h"
#include "h5_journal.h"
#include "h5_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnfi/build_info.h"

/* Put every done row of every shard into the writer, a block at a time. */
static nnfi_status copy_rows(const shard *s, size_t n, nnfi_h5_results *w, uint64_t total)
{
    nnfi_trial_row *rows = malloc((size_t)MERGE_BLOCK * sizeof *rows);
    if (!rows) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory merging rows");
    row_block rb;
    nnfi_status st = block_new(&rb);
    nnfi_h5_file *rd = NULL;
    for (size_t i = 0; i < n && st == NNFI_OK; i++) {
        if ((st = shard_open(&s[i], &rd)) != NNFI_OK) break;
        for (uint64_t lo = 0; lo < total && st == NNFI_OK; lo += MERGE_BLOCK) {
            uint64_t cnt = total - lo < MERGE_BLOCK ? total - lo : MERGE_BLOCK;
            if ((st = block_read(&rb, rd, lo, cnt, 0)) != NNFI_OK) break;
            int any = 0;
            for (uint64_t k = 0; k < cnt && !any; k++) any = rb.buf[rb.i_done][k] != 0;
            if (!any) continue; /* another shard's block */
            if ((st = block_read(&rb, rd, lo, cnt, 1)) != NNFI_OK) break;
            size_t m = 0;
            for (uint64_t k = 0; k < cnt; k++)
                if (rb.buf[rb.i_done][k]) block_row(&rb, (size_t)k, lo + k, &rows[m++]);
            st = nnfi_h5_put_rows(w, rows, m);
            if (st == NNFI_OK) st = nnfi_h5_checkpoint(w);
        }
        nnfi_h5_file_close(rd);
        rd = NULL;
    }
    nnfi_h5_file_close(rd);
    block_free(&rb);
    free(rows);
    return st;
}

/* -------------------------------------------------------- the rest of it -- */

/* Copy every member of group `name` (e.g. sites/<model>) of the first shard
 * into the same (existing, empty) group of the output. */
static nnfi_status copy_members(hid_t src, hid_t dst, const char *name, const char *spath, const char *opath)
{
    nnfi_status st = NNFI_OK;
    if (H5Lexists(src, name, H5P_DEFAULT) <= 0) return NNFI_OK;
    hid_t g = H5Gopen2(src, name, H5P_DEFAULT);
    H5G_info_t gi;
    char member[512], path[1024], what[1200];
    snprintf(what, sizeof what, "read group /%s", name);
    H5_TRY(g, spath, what);
    H5_TRY(H5Gget_info(g, &gi), spath, what);
    if (H5Lexists(dst, name, H5P_DEFAULT) <= 0) {
        hid_t dg = H5Gcreate2(dst, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        H5_TRY(dg, opath, "create a group");
        H5Gclose(dg);
    }
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        H5_TRY(H5Lget_name_by_idx(g, ".", H5_INDEX_NAME, H5_ITER_INC, i, member, sizeof member, H5P_DEFAULT), spath,
               what);
        snprintf(path, sizeof path, "%s/%s", name, member);
        snprintf(what, sizeof what, "copy /%s from %s", path, spath);
        H5_TRY(H5Ocopy(src, path, dst, path, H5P_DEFAULT, H5P_DEFAULT), opath, what);
    }
out:
    if (g >= 0) H5Gclose(g);
    return st;
}

/* Append shard s's /faults to the output's (copying the group whole when
 * the output has none yet). Adds the rows appended to *rows. */
static nnfi_status append_faults(hid_t dst, const shard *s, const char *opath, uint64_t *rows)
{
    nnfi_h5_file *rd = NULL;
    nnfi_status st = shard_open(s, &rd);
    hid_t src = h5_reader_hid(rd), sg = -1, dg = -1, sds = -1, dds = -1, ft = -1, fs = -1, ms = -1;
    void *buf = NULL;
    if (st != NNFI_OK) goto out;
    if (H5Lexists(src, "faults", H5P_DEFAULT) <= 0) goto out;
    int64_t len = ds_length(src, "faults/trial");
    if (len < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /faults has no 'trial' column\n  hint: the file is damaged; rerun that shard "
                                  "with --force",
                       s->path);
        goto out;
    }
    if (H5Lexists(dst, "faults", H5P_DEFAULT) <= 0) {
        H5_TRY(H5Ocopy(src, "faults", dst, "faults", H5P_DEFAULT, H5P_DEFAULT), opath, "copy /faults");
        *rows += (uint64_t)len;
        goto out;
    }
    H5_TRY(sg = H5Gopen2(src, "faults", H5P_DEFAULT), s->path, "open /faults");
    H5_TRY(dg = H5Gopen2(dst, "faults", H5P_DEFAULT), opath, "open /faults");
    H5G_info_t gi, di;
    H5_TRY(H5Gget_info(sg, &gi), s->path, "read /faults");
    H5_TRY(H5Gget_info(dg, &di), opath, "read /faults");
    int64_t have = ds_length(dg, "trial");
    if (gi.nlinks != di.nlinks || have < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: /faults has other columns than the first shard's\n  hint: the file is damaged or "
                                  "from another nnfi version; rerun that shard with --force",
                       s->path);
        goto out;
    }
    char col[256], what[512];
    for (hsize_t i = 0; i < gi.nlinks; i++) {
        H5_TRY(H5Lget_name_by_idx(sg, ".", H5_INDEX_NAME, H5_ITER_INC, i, col, sizeof col, H5P_DEFAULT), s->path,
               "read /faults");
        snprintf(what, sizeof what, "append to /faults/%s", col);
        if (ds_length(sg, col) != len || ds_length(dg, col) != have) {
            st = NNFI_FAIL(NNFI_E_IO, "%s: /faults/%s is missing or of another length than /faults/trial\n  hint: the "
                                      "file is damaged; rerun that shard with --force",
                           s->path, col);
            goto out;
        }
        H5_TRY(sds = H5Dopen2(sg, col, H5P_DEFAULT), s->path, what);
        H5_TRY(dds = H5Dopen2(dg, col, H5P_DEFAULT), opath, what);
        H5_TRY(ft = H5Dget_type(sds), s->path, what);
        hid_t dt = H5Dget_type(dds);
        int same = dt >= 0 && H5Tequal(ft, dt) > 0 && H5Tis_variable_str(ft) <= 0;
        if (dt >= 0) H5Tclose(dt);
        if (!same) {
            st = NNFI_FAIL(NNFI_E_IO, "%s: /faults/%s has another type than the first shard's\n  hint: merge shards "
                                      "written by one nnfi version",
                           s->path, col);
            goto out;
        }
        size_t size = H5Tget_size(ft);
        hsize_t next = (hsize_t)have + (hsize_t)len;
        H5_TRY(H5Dset_extent(dds, &next), opath, what);
        free(buf);
        buf = malloc((size_t)MERGE_BLOCK * size);
        if (!buf) {
            st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory merging /faults");
            goto out;
        }
        for (hsize_t lo = 0; lo < (hsize_t)len; lo += MERGE_BLOCK) {
            hsize_t cnt = (hsize_t)len - lo < MERGE_BLOCK ? (hsize_t)len - lo : MERGE_BLOCK, at = (hsize_t)have + lo;
            H5_TRY(read_block(sds, ft, lo, cnt, buf), s->path, what);
            H5_TRY(fs = H5Dget_space(dds), opath, what);
            H5_TRY(ms = H5Screate_simple(1, &cnt, NULL), opath, what);
            H5_TRY(H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &cnt, NULL), opath, what);
            H5_TRY(H5Dwrite(dds, ft, ms, fs, H5P_DEFAULT, buf), opath, what);
            H5Sclose(fs);
            H5Sclose(ms);
            fs = ms = -1;
        }
        H5Tclose(ft);
        H5Dclose(sds);
        H5Dclose(dds);
        ft = sds = dds = -1;
    }
    *rows += (uint64_t)len;
out:
    free(buf);
    if (ms >= 0) H5Sclose(ms);
    if (fs >= 0) H5Sclose(fs);
    if (ft >= 0) H5Tclose(ft);
    if (sds >= 0) H5Dclose(sds);
    if (dds >= 0) H5Dclose(dds);
    if (sg >= 0) H5Gclose(sg);
    if (dg >= 0) H5Gclose(dg);
    nnfi_h5_file_close(rd);
    return st;
}

/* Append the faults of shard s's checkpoint journal (checkpoints a killed
 * shard never folded into its file) after its /faults rows. */
static nnfi_status append_journal_faults(hid_t dst, const shard *s, const char *opath, uint64_t *rows)
{
    nnfi_h5_file *rd = NULL;
    nnfi_status st = shard_open(s, &rd);
    nnfi_fault_row *fr = NULL;
    if (st != NNFI_OK) goto out;
    const journal *j = h5_reader_journal(rd);
    uint64_t n = journal_faults(j), at = 0;
    if (!n) goto out;
    if (!(fr = calloc((size_t)n, sizeof *fr))) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory merging /faults");
        goto out;
    }
    size_t nf;
    const nnfi_column_info *fc = nnfi_fault_columns(&nf);
    for (size_t k = 0; k < j->n_rec; at += j->rec[k].n_faults, k++) /* the records' columns into rows */
        for (size_t i = 0; i < nf; i++)
            for (uint64_t q = 0; q < j->rec[k].n_faults; q++)
                memcpy((char *)&fr[at + q] + fc[i].offset, j->rec[k].fcol[i] + q * fc[i].size, fc[i].size);
    if ((st = append_fault_rows(dst, opath, fr, (size_t)n)) == NNFI_OK) *rows += n;
out:
    free(fr);
    nnfi_h5_file_close(rd);
    return st;
}

/* The root attributes: the first shard's, then the merge's own (see the
 * header: shard_index 0, shard_count 1, world_size = sum, merged_from, ...). */
static nnfi_status write_root(hid_t dst, const shard *s, size_t n, const char *opath)
{
    nnfi_h5_file *rd = NULL;
    nnfi_status st = shard_open(&s[0], &rd);
    hid_t src = h5_reader_hid(rd);
    name_list names;
    memset(&names, 0, sizeof names);
    const char **paths = calloc(n, sizeof *paths), **jobs = calloc(n, sizeof *jobs);
    int32_t *worlds = calloc(n, sizeof *worlds);
    if (st != NNFI_OK) goto out;
    if (!paths || !jobs || !worlds) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    H5_TRY(attr_names(src, &names), s[0].path, "list the root attributes");
    for (size_t i = 0; i < names.n; i++) {
        char what[512];
        snprintf(what, sizeof what, "copy root attribute %s", names.v[i]);
        H5_TRY(copy_attr(src, dst, names.v[i]), opath, what);
    }
    int64_t world = 0;
    for (size_t i = 0; i < n; i++) {
        paths[i] = s[i].path;
        jobs[i] = s[i].slurm_job_id ? s[i].slurm_job_id : "";
        worlds[i] = s[i].world;
        world += s[i].world;
    }
    char now[32];
    iso_now(now, sizeof now);
    const char *ver = NNFI_VERSION;
    H5_TRY(attr_i32(dst, "shard_index", 0), opath, "write attribute shard_index");
    H5_TRY(attr_i32(dst, "shard_count", 1), opath, "write attribute shard_count");
    H5_TRY(attr_i32(dst, "world_size", world > INT32_MAX ? INT32_MAX : (int32_t)world), opath,
           "write attribute world_size");
    if (H5Aexists(dst, "slurm_array_task_id") > 0)
        H5_TRY(H5Adelete(dst, "slurm_array_task_id"), opath, "drop attribute slurm_array_task_id");
    H5_TRY(attr_strs(dst, "merged_from", n, paths), opath, "write attribute merged_from");
    H5_TRY(attr_write(dst, "shard_world_sizes", H5T_STD_I32LE, H5T_NATIVE_INT32, n, worlds), opath,
           "write attribute shard_world_sizes");
    H5_TRY(attr_strs(dst, "shard_slurm_job_ids", n, jobs), opath, "write attribute shard_slurm_job_ids");
    H5_TRY(attr_strs(dst, "merged", 0, (const char *const[]){now}), opath, "write attribute merged");
    H5_TRY(attr_strs(dst, "merged_by", 0, &ver), opath, "write attribute merged_by");
out:
    names_free(&names);
    free(paths);
    free(jobs);
    free(worlds);
    nnfi_h5_file_close(rd);
    return st;
}

/* Steps 5 on the temporary output: sites/golden, rows, faults, root. */
static nnfi_status write_output(const char *tmp, const shard *s, size_t n, const nnfi_campaign *c,
                                const nnfi_plan *p, nnfi_h5_merge_info *info)
{
    nnfi_h5_provenance prov = {0, NULL, NULL, NULL, 0, 1};
    for (size_t i = 0; i < n; i++) prov.world_size += s[i].world;
    nnfi_h5_results *w = NULL;
    NNFI_TRY(nnfi_h5_create(tmp, 1, c, p, &prov, &w));
    nnfi_h5_file *rd = NULL;
    nnfi_status st = NNFI_OK;
    hid_t src = -1, dst = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT);
    H5_TRY(dst, tmp, "reopen the merged file");
    if ((st = shard_open(&s[0], &rd)) != NNFI_OK) goto out;
    src = h5_reader_hid(rd);
    if ((st = copy_members(src, dst, "sites", s[0].path, tmp)) != NNFI_OK) goto out;
    if ((st = copy_members(src, dst, "golden", s[0].path, tmp)) != NNFI_OK) goto out;
    nnfi_h5_file_close(rd);
    rd = NULL;
    H5_TRY(H5Fclose(dst), tmp, "close the merged file");
    dst = -1;

    if ((st = copy_rows(s, n, w, p->total_trials)) != NNFI_OK) goto out;
    info->done = nnfi_h5_trials_done(w);
    st = nnfi_h5_close(w);
    w = NULL;
    if (st != NNFI_OK) goto out;

    H5_TRY(dst = H5Fopen(tmp, H5F_ACC_RDWR, H5P_DEFAULT), tmp, "reopen the merged file");
    for (size_t i = 0; i < n && st == NNFI_OK; i++) {
        st = append_faults(dst, &s[i], tmp, &info->faults);
        if (st == NNFI_OK) st = append_journal_faults(dst, &s[i], tmp, &info->faults);
    }
    if (st == NNFI_OK) st = write_root(dst, s, n, tmp);
    if (st == NNFI_OK) H5_TRY(H5Fclose(dst), tmp, "close the merged file");
    if (st == NNFI_OK) dst = -1;
out:
    nnfi_h5_file_close(rd);
    if (dst >= 0) H5Fclose(dst);
    if (w) nnfi_h5_close(w);
    return st;
}

nnfi_status nnfi_h5_merge(const char *const *shards, size_t n, const char *out, int force, nnfi_h5_merge_info *info)
{
    nnfi_h5_merge_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    if (!shards || !out || !*out)
        return NNFI_FAIL(NNFI_E_INVALID, "nnfi_h5_merge: NULL argument\n  hint: this is a bug in the caller");
    if (n == 0)
        return NNFI_FAIL(NNFI_E_INVALID, "no shard files to merge\n  hint: nnfi merge SHARD.h5... -o OUT.h5");
    struct stat ob;
    if (lstat(out, &ob) == 0 && S_ISLNK(ob.st_mode)) /* rename() would replace the link: refuse it, as run -o does */
        return NNFI_FAIL(NNFI_E_IO, "%s is a symbolic link; nnfi does not write result files through links (its "
                                    "target is left alone)\n  hint: remove the link, or name a real file with -o",
                         out);
    int out_exists = stat(out, &ob) == 0;
    if (out_exists && !force)
        return NNFI_FAIL(NNFI_E_IO, "%s exists\n  hint: --force to overwrite it, or another -o", out);
    if (out_exists && S_ISDIR(ob.st_mode))
        return NNFI_FAIL(NNFI_E_IO, "%s is a directory\n  hint: -o names the merged file, e.g. -o results.h5", out);

    shard *s = calloc(n, sizeof *s);
    if (!s) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    h5_quiet q;
    quiet_on(&q);
    nnfi_status st = NNFI_OK;
    nnfi_campaign *c = NULL;
    nnfi_plan *p = NULL;
    char *tmp = NULL;
    for (size_t i = 0; i < n && st == NNFI_OK; i++) {
        s[i].path = shards[i];
        st = read_shard_head(&s[i]);
        if (st == NNFI_OK && out_exists && s[i].dev == ob.st_dev && s[i].ino == ob.st_ino)
            st = NNFI_FAIL(NNFI_E_INVALID, "the output %s is also an input shard\n  hint: write the merge to a new "
                                           "file with -o",
                           out);
    }
    if (st == NNFI_OK) st = check_set(s, n);
    if (st == NNFI_OK) st = load_campaign(&s[0], &c);
    if (st == NNFI_OK) st = load_plan(&s[0], c, &p);
    for (size_t i = 1; i < n && st == NNFI_OK; i++) st = check_tables(&s[0], &s[i]);
    if (st == NNFI_OK) st = check_shares(s, n, c, p);
    if (st != NNFI_OK) goto out;

    size_t tl = strlen(out) + 16;
    tmp = malloc(tl);
    if (!tmp) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    snprintf(tmp, tl, "%s.merging", out);
    info->shards = (unsigned)n;
    info->trials = p->total_trials;
    st = write_output(tmp, s, n, c, p, info);
    if (st == NNFI_OK) {
        int fd = open(tmp, O_RDONLY);
        if (fd >= 0) {
            (void)fsync(fd);
            close(fd);
        }
        if (rename(tmp, out) != 0)
            st = NNFI_FAIL(NNFI_E_IO, "cannot rename %s to %s: %s\n  hint: check that the directory is writable", tmp,
                           out, strerror(errno));
    }
    if (st != NNFI_OK) unlink(tmp); /* no half-made result files */
out:
    free(tmp);
    nnfi_plan_free(p);
    nnfi_campaign_free(c);
    for (size_t i = 0; i < n; i++) {
        free(s[i].config_path);
        free(s[i].slurm_job_id);
        free(s[i].config);
    }
    free(s);
    quiet_off(&q);
    return st;
}
