/* h5_durable.c - the durable update of a result file (see "Durability" in
 * nnfi/h5_results.h): every change after create() is made on a copy
 * PATH.ckpt, which is fsync'ed and rename()d over PATH only when complete, so
 * a kill -9, a full disk or any error leaves PATH as the last complete update
 * made it. Used by add_sites/add_golden and checkpoint (h5_models.c,
 * h5_writer.c) and, for its fsync and directory sync, by create(). */
#define _GNU_SOURCE /* copy_file_range, flock */
#include "h5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Push the closed file's pages to stable storage (a node crash, not only a
 * killed process, then keeps the last checkpoint); `path` names it in errors.
 * A full disk may first show here (delayed allocation). */
nnfi_status sync_file(const char *file, const char *path)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int err = errno;
        if (fd >= 0) close(fd);
        if (no_space_errno(err)) return no_space_fail(path, "sync the file", err);
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot sync %s: %s\n  hint: check the disk", path, file, strerror(err));
    }
    close(fd);
    return NNFI_OK;
}

/* Why copies: HDF5 1.10 writes in place and keeps no journal. A checkpoint
 * rewrites chunks; their new versions go into free space, which may be the
 * space of chunks the old, still-on-disk index points to, and the index
 * itself is written at close. A kill -9 inside that window left columns that
 * no longer inflate (8 of 40 kills in tests/drills' torture run before this
 * change), and a full disk does the same at any moment of the window. So
 * every change is made on a copy PATH.ckpt (same directory, so rename() is
 * atomic), which replaces PATH only once it is complete and fsync'ed. The
 * price: one copy of the file per checkpoint (copy_file_range: a reflink or
 * an in-kernel copy where the file system can) and the file's size again in
 * free space while it runs. A stale PATH.ckpt (a kill during an update) is
 * simply replaced by the next update. */

char *side_path(const char *path, const char *suffix)
{
    size_t n = strlen(path) + strlen(suffix) + 1;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%s", path, suffix);
    return s;
}

/* fsync the directory holding path: the rename itself survives a node crash. */
void sync_dir_of(const char *path)
{
    char *d = strdup(path);
    if (!d) return;
    char *slash = strrchr(d, '/');
    const char *dir = ".";
    if (slash == d) dir = "/";
    else if (slash) {
        *slash = '\0';
        dir = d;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
    free(d);
}

/* Copy all of `in` to `out` (both at offset 0); 0, or -1 with errno set. */
static int copy_fd(int in, int out)
{
    for (;;) {
        ssize_t n = copy_file_range(in, NULL, out, NULL, (size_t)1 << 30, 0);
        if (n > 0) continue;
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno != EXDEV && errno != ENOSYS && errno != EINVAL && errno != EOPNOTSUPP) return -1;
        break; /* no in-kernel copy here: plain reads and writes from where it stopped */
    }
    static char buf[1 << 16];
    for (;;) {
        ssize_t n = read(in, buf, sizeof buf);
        if (n == 0) return 0;
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        for (ssize_t done = 0; done < n;) {
            ssize_t w = write(out, buf + done, (size_t)(n - done));
            if (w < 0 && errno == EINTR) continue;
            if (w < 0) return -1;
            done += w;
        }
    }
}

/* Take PATH's lock the way an HDF5 writer would (readers such as h5py hold a
 * shared one): wait up to 10 s. 0 = locked, or the file system has no locks
 * (HDF5 then goes on unlocked as well); -1 = still held by another program. */
static int lock_exclusive(int fd)
{
    for (int attempt = 0;; attempt++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
        if (errno != EWOULDBLOCK && errno != EINTR) return 0;
        if (attempt + 1 >= LOCK_WAIT_TRIES) return -1;
        struct timespec ts = {0, 100 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

static void update_abort(update *u)
{
    if (u->f >= 0) H5Fclose(u->f);
    u->f = -1;
    if (u->tmp) unlink(u->tmp);
    if (u->lock_fd >= 0) close(u->lock_fd);
    u->lock_fd = -1;
    free(u->tmp);
    u->tmp = NULL;
}

/* Copy PATH to PATH.ckpt and open the copy read-write (u->f). On failure
 * nothing is left behind and PATH is untouched.
 *
 * `reserve` bytes (an upper bound of what the update adds) are allocated
 * past the copy's end first: HDF5 places new objects at the end of its
 * address space, so they land in space that is already there, and a full
 * disk or a file-size limit (ulimit -f) shows here, cleanly, instead of
 * inside HDF5. That matters: an H5Fclose whose flush fails leaves a
 * half-closed file behind that crashes HDF5's own clean-up at exit (seen as
 * a segfault in H5F__close_cb under MPI_Finalize on a full tmpfs). HDF5
 * truncates the file to its end of address space when it closes it. */
nnfi_status update_begin(const char *path, const char *what, uint64_t reserve, update *u)
{
    u->f = -1;
    u->lock_fd = -1;
    u->tmp = side_path(path, TMP_SUFFIX);
    if (!u->tmp) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = NNFI_OK;
    int out = -1;
    struct stat sb;
    u->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (u->lock_fd < 0 || fstat(u->lock_fd, &sb) != 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: %s\n  hint: was the result file moved or deleted while the "
                                  "campaign ran?",
                       path, what, strerror(errno));
        goto out;
    }
    if (lock_exclusive(u->lock_fd) != 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: another program has it open (file lock, waited 10 s)\n  hint: "
                                  "close h5py/HDFView sessions on the file of a running campaign, or read it with "
                                  "'nnfi inspect' or with HDF5_USE_FILE_LOCKING=FALSE set, which take no lock; is "
                                  "another 'nnfi run' writing it?",
                       path, what);
        goto out;
    }
    if (unlink(u->tmp) != 0 && errno != ENOENT) { /* a stale copy of an update cut short */
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot remove the stale %s: %s\n  hint: check the directory's permissions",
                       path, u->tmp, strerror(errno));
        goto out;
    }
    out = open(u->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, sb.st_mode & 0666);
    if (out < 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: cannot create its working copy %s: %s\n  hint: the directory of "
                                  "the result file must be writable",
                       path, what, u->tmp, strerror(errno));
        goto out;
    }
    int rc = copy_fd(u->lock_fd, out), err = errno;
    if (rc == 0 && reserve) {
        int e = posix_fallocate(out, (off_t)sb.st_size, (off_t)reserve);
        if (e && (no_space_errno(e) || e == EIO)) { /* EINVAL / EOPNOTSUPP: a file system without it */
            rc = -1;
            err = e;
        }
    }
    if (close(out) != 0 && rc == 0) {
        rc = -1;
        err = errno;
    }
    out = -1;
    if (rc != 0) {
        st = no_space_errno(err) ? no_space_fail(path, what, err)
                                 : NNFI_FAIL(NNFI_E_IO, "%s: cannot %s: copying it to %s failed: %s\n  hint: check "
                                                        "the disk",
                                             path, what, u->tmp, strerror(err));
        goto out;
    }
    u->f = open_file(u->tmp, H5F_ACC_RDWR);
    if (u->f < 0) st = open_fail(path, what);
out:
    if (out >= 0) close(out);
    if (st != NNFI_OK) update_abort(u);
    return st;
}

/* Close the copy and, when st is OK, make it PATH (fsync, rename, fsync of
 * the directory); otherwise drop it. Returns the first failure. */
nnfi_status update_end(update *u, const char *path, nnfi_status st)
{
    if (u->f >= 0) {
        herr_t rc = H5Fclose(u->f);
        u->f = -1;
        if (rc < 0 && st == NNFI_OK) st = h5_fail(path, "close the file (flush)");
    }
    if (st == NNFI_OK) st = sync_file(u->tmp, path);
    if (st == NNFI_OK && rename(u->tmp, path) != 0)
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot replace it by its updated copy %s: %s\n  hint: the directory of the "
                                  "result file must be writable",
                       path, u->tmp, strerror(errno));
    if (st == NNFI_OK) {
        sync_dir_of(path);
        free(u->tmp); /* renamed: nothing to remove */
        u->tmp = NULL;
    }
    update_abort(u);
    return st;
}

/* Refuse to write through a symbolic link at `path` (its target would be
 * clobbered: a link planted where a result file is expected). */
nnfi_status refuse_symlink(const char *path, const char *hint)
{
    struct stat sb;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode))
        return NNFI_FAIL(NNFI_E_IO, "%s is a symbolic link; nnfi does not write result files through links (its "
                                    "target is left alone)\n  hint: %s",
                         path, hint);
    return NNFI_OK;
}

