/* h5_journal.c - the checkpoint journal PATH.journal (format and contract:
 * h5_journal.h): start, append, load (mmap) and overlay. */
#define _GNU_SOURCE /* getrandom via sys/random.h */
#include "h5_journal.h"

#include "h5_util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#define HEAD_MAGIC "NNFIJNL1"
#define REC_MAGIC 0x31524A4Eu /* "NJR1" little-endian */

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) { /* crc32() takes a uInt length */
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

char *journal_path(const char *h5path) { return side_path(h5path, JOURNAL_SUFFIX); }

uint64_t journal_new_id(void)
{
    uint64_t id = 0;
    if (getrandom(&id, sizeof id, 0) != (ssize_t)sizeof id) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        id = ((uint64_t)ts.tv_sec * 1000000007u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40);
    }
    return id ? id : 1;
}

/* A column kind as a NumPy type code (the analysis package reads the journal). */
static const char *np_code(nnfi_column_kind k)
{
    switch (k) {
    case NNFI_COL_U8: return "<u1";
    case NNFI_COL_U32: return "<u4";
    case NNFI_COL_I32: return "<i4";
    case NNFI_COL_U64: return "<u8";
    case NNFI_COL_I64: return "<i8";
    case NNFI_COL_F64: return "<f8";
    }
    return "?";
}

/* The header's column table text (schema order); malloc'd, *len its length. */
static char *column_text(size_t *len)
{
    size_t nc, nf;
    const nnfi_column_info *tc = nnfi_trial_columns(&nc), *fc = nnfi_fault_columns(&nf);
    size_t cap = 64 * (nc + nf) + 1, n = 0;
    char *s = malloc(cap);
    if (!s) return NULL;
    for (size_t i = 0; i < nc; i++)
        n += (size_t)snprintf(s + n, cap - n, "trials/%s %zu %s\n", tc[i].name, tc[i].size, np_code(tc[i].kind));
    for (size_t i = 0; i < nf; i++)
        n += (size_t)snprintf(s + n, cap - n, "faults/%s %zu %s\n", fc[i].name, fc[i].size, np_code(fc[i].kind));
    *len = n;
    return s;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w < 0) return -1;
        if (w == 0) {
            errno = EIO;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static nnfi_status io_fail(const char *h5path, const char *jpath, const char *what, int err)
{
    if (no_space_errno(err)) return no_space_fail(h5path, what, err);
    return NNFI_FAIL(NNFI_E_IO, "%s: cannot %s (%s: %s)\n  hint: check the disk and the directory's permissions; "
                                "the result file keeps every earlier checkpoint",
                     h5path, what, jpath, strerror(err));
}

nnfi_status journal_start(const char *h5path, uint64_t id, uint64_t base_seq, int *fd, uint64_t *bytes)
{
    *fd = -1;
    char *jp = journal_path(h5path), *tmp = side_path(h5path, JOURNAL_SUFFIX ".new");
    size_t tl = 0;
    char *text = column_text(&tl);
    size_t nc, nf;
    nnfi_trial_columns(&nc);
    nnfi_fault_columns(&nf);
    size_t hb = pad8(40 + tl);
    uint8_t *h = calloc(1, hb);
    nnfi_status st = NNFI_OK;
    int f = -1;
    if (!jp || !tmp || !text || !h) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    memcpy(h, HEAD_MAGIC, 8);
    uint32_t hb32 = (uint32_t)hb, nc32 = (uint32_t)nc, nf32 = (uint32_t)nf;
    memcpy(h + 8, &hb32, 4);
    memcpy(h + 16, &id, 8);
    memcpy(h + 24, &base_seq, 8);
    memcpy(h + 32, &nc32, 4);
    memcpy(h + 36, &nf32, 4);
    memcpy(h + 40, text, tl);
    uint32_t crc = crc_of(h + 16, hb - 16);
    memcpy(h + 12, &crc, 4);
    (void)unlink(tmp);
    f = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (f < 0 || write_all(f, h, hb) != 0 || fdatasync(f) != 0) {
        st = io_fail(h5path, tmp, "start the checkpoint journal", errno);
        goto out;
    }
    if (rename(tmp, jp) != 0) {
        st = io_fail(h5path, jp, "start the checkpoint journal", errno);
        goto out;
    }
    sync_dir_of(h5path);
    *fd = f;
    f = -1;
    *bytes = hb;
out:
    if (f >= 0) {
        close(f);
        unlink(tmp);
    }
    free(jp);
    free(tmp);
    free(text);
    free(h);
    return st;
}

nnfi_status journal_append(const char *h5path, int fd, uint64_t at, uint64_t seq, uint64_t n_done,
                           const uint64_t *trial, const uint8_t *const *col, size_t n_rows,
                           const nnfi_fault_row *faults, size_t n_faults, uint64_t *bytes)
{
    size_t nc, nf;
    const nnfi_column_info *tc = nnfi_trial_columns(&nc), *fc = nnfi_fault_columns(&nf);
    size_t len = JOURNAL_REC_HEAD + pad8(8 * n_rows);
    for (size_t i = 0; i < nc; i++) len += pad8(tc[i].size * n_rows);
    for (size_t i = 0; i < nf; i++) len += pad8(fc[i].size * n_faults);
    uint8_t *b = calloc(1, len);
    if (!b) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory journaling %zu rows of %s\n  hint: checkpoint more often",
                             n_rows, h5path);
    uint32_t magic = REC_MAGIC;
    uint64_t rb = len, nr = n_rows, nfa = n_faults;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + ts.tv_nsec * 1e-9;
    memcpy(b, &magic, 4);
    memcpy(b + 8, &rb, 8);
    memcpy(b + 16, &seq, 8);
    memcpy(b + 24, &nr, 8);
    memcpy(b + 32, &nfa, 8);
    memcpy(b + 40, &n_done, 8);
    memcpy(b + 48, &now, 8);
    size_t off = JOURNAL_REC_HEAD;
    memcpy(b + off, trial, 8 * n_rows);
    off += pad8(8 * n_rows);
    for (size_t i = 0; i < nc; i++) {
        memcpy(b + off, col[i], tc[i].size * n_rows);
        off += pad8(tc[i].size * n_rows);
    }
    for (size_t i = 0; i < nf; i++) {
        for (size_t k = 0; k < n_faults; k++)
            memcpy(b + off + k * fc[i].size, (const char *)&faults[k] + fc[i].offset, fc[i].size);
        off += pad8(fc[i].size * n_faults);
    }
    uint32_t crc = crc_of(b + 8, len - 8);
    memcpy(b + 4, &crc, 4);
    nnfi_status st = NNFI_OK;
    char *jp = journal_path(h5path);
    if (lseek(fd, (off_t)at, SEEK_SET) < 0 || write_all(fd, b, len) != 0 || fdatasync(fd) != 0) {
        int err = errno;
        if (ftruncate(fd, (off_t)at) == 0) (void)fdatasync(fd); /* the journal ends with a whole record again */
        st = io_fail(h5path, jp ? jp : "journal", "append a checkpoint to the journal", err);
    }
    free(jp);
    free(b);
    if (st == NNFI_OK) *bytes = len;
    return st;
}

/* ------------------------------------------------------------- reading -- */

void journal_free(journal *j)
{
    if (j->map) munmap(j->map, j->len);
    free(j->rec);
    memset(j, 0, sizeof *j);
}

/* Parse the record at `off`; 1 = whole and sound (r filled, *next set). */
static int parse_record(const journal *j, size_t off, uint64_t want_seq, jrec *r, size_t *next)
{
    size_t nc, nf;
    const nnfi_column_info *tc = nnfi_trial_columns(&nc), *fc = nnfi_fault_columns(&nf);
    if (j->len - off < JOURNAL_REC_HEAD) return 0;
    const uint8_t *p = j->map + off;
    uint32_t magic, crc;
    uint64_t len;
    memcpy(&magic, p, 4);
    memcpy(&crc, p + 4, 4);
    memcpy(&len, p + 8, 8);
    if (magic != REC_MAGIC || len < JOURNAL_REC_HEAD || len > j->len - off || (len & 7)) return 0;
    memcpy(&r->seq, p + 16, 8);
    memcpy(&r->n_rows, p + 24, 8);
    memcpy(&r->n_faults, p + 32, 8);
    memcpy(&r->n_done, p + 40, 8);
    memcpy(&r->time, p + 48, 8);
    if (r->seq != want_seq || r->n_rows > len || r->n_faults > len) return 0;
    uint64_t need = JOURNAL_REC_HEAD + pad8(8 * r->n_rows);
    for (size_t i = 0; i < nc; i++) need += pad8(tc[i].size * r->n_rows);
    for (size_t i = 0; i < nf; i++) need += pad8(fc[i].size * r->n_faults);
    if (need != len || crc_of(p + 8, len - 8) != crc) return 0;
    size_t o = JOURNAL_REC_HEAD;
    r->trial = (const uint64_t *)(p + o);
    o += pad8(8 * r->n_rows);
    for (size_t i = 0; i < nc; i++) {
        r->col[i] = p + o;
        o += pad8(tc[i].size * r->n_rows);
    }
    for (size_t i = 0; i < nf; i++) {
        r->fcol[i] = p + o;
        o += pad8(fc[i].size * r->n_faults);
    }
    *next = off + len;
    return 1;
}

nnfi_status journal_load(const char *h5path, uint64_t id, uint64_t folded, journal *j)
{
    memset(j, 0, sizeof *j);
    char *jp = journal_path(h5path);
    if (!jp) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    nnfi_status st = NNFI_OK;
    char *text = NULL;
    int fd = open(jp, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0 || sb.st_size < 40 || id == 0) goto out; /* none (or not started) */
    j->len = (size_t)sb.st_size;
    j->map = mmap(NULL, j->len, PROT_READ, MAP_PRIVATE, fd, 0);
    if (j->map == MAP_FAILED) {
        j->map = NULL;
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot map %s: %s\n  hint: check the disk", h5path, jp, strerror(errno));
        goto out;
    }
    uint32_t hb, crc, nc32, nf32;
    memcpy(&hb, j->map + 8, 4);
    memcpy(&crc, j->map + 12, 4);
    memcpy(&j->id, j->map + 16, 8);
    memcpy(&j->base_seq, j->map + 24, 8);
    memcpy(&nc32, j->map + 32, 4);
    memcpy(&nf32, j->map + 36, 4);
    if (memcmp(j->map, HEAD_MAGIC, 8) != 0 || hb < 40 || hb > j->len || crc_of(j->map + 16, hb - 16) != crc) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: the checkpoint journal %s has a damaged header\n  hint: the rows since the "
                                  "file's last fold are lost; 'nnfi run --resume' redoes them after you remove %s",
                       h5path, jp, jp);
        goto out;
    }
    if (j->id != id) { /* the journal of another file once at this path */
        journal_free(j);
        goto out;
    }
    size_t tl = 0;
    text = column_text(&tl);
    size_t nc, nf;
    nnfi_trial_columns(&nc);
    nnfi_fault_columns(&nf);
    if (!text || nc32 != nc || nf32 != nf || nc > 32 || nf > 32 || 40 + tl > hb ||
        memcmp(j->map + 40, text, tl) != 0) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: the checkpoint journal %s was written with other result columns\n  hint: read "
                                  "it with the nnfi that wrote it",
                       h5path, jp);
        goto out;
    }
    size_t cap = 16, off = hb;
    j->rec = malloc(cap * sizeof *j->rec);
    if (!j->rec) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto out;
    }
    uint64_t seq = j->base_seq + 1;
    jrec r;
    size_t next;
    while (off < j->len && parse_record(j, off, seq, &r, &next)) {
        if (r.seq > folded) {
            if (j->n_rec == cap) {
                jrec *n = realloc(j->rec, 2 * cap * sizeof *n);
                if (!n) {
                    st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
                    goto out;
                }
                j->rec = n;
                cap *= 2;
            }
            j->rec[j->n_rec++] = r;
        }
        off = next;
        seq++;
    }
    j->valid_end = off;
    if (off < j->len) { /* torn tail, or damage with whole records after it */
        uint64_t len = 0;
        if (j->len - off >= 16) memcpy(&len, j->map + off + 8, 8);
        j->damaged = len >= JOURNAL_REC_HEAD && len < j->len - off;
        j->bad_at = off;
    }
    j->gap = j->base_seq > folded;
out:
    if (fd >= 0) close(fd);
    if (st != NNFI_OK) journal_free(j);
    free(text);
    free(jp);
    return st;
}

uint64_t journal_rows(const journal *j)
{
    uint64_t n = 0;
    for (size_t i = 0; i < j->n_rec; i++) n += j->rec[i].n_rows;
    return n;
}

uint64_t journal_faults(const journal *j)
{
    uint64_t n = 0;
    for (size_t i = 0; i < j->n_rec; i++) n += j->rec[i].n_faults;
    return n;
}

void journal_overlay(const journal *j, size_t ci, size_t size, uint64_t lo, uint64_t count, void *out)
{
    for (size_t k = 0; k < j->n_rec; k++) {
        const jrec *r = &j->rec[k];
        size_t a = 0, b = (size_t)r->n_rows; /* first row with trial >= lo (rows are sorted) */
        while (a < b) {
            size_t m = a + (b - a) / 2;
            uint64_t t;
            memcpy(&t, &r->trial[m], 8);
            if (t < lo) a = m + 1;
            else b = m;
        }
        for (size_t i = a; i < r->n_rows; i++) {
            uint64_t t;
            memcpy(&t, &r->trial[i], 8);
            if (t >= lo + count) break;
            memcpy((char *)out + (t - lo) * size, r->col[ci] + i * size, size);
        }
    }
}
