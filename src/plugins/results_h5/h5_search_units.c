/* h5_search_units.c - the units of `nnfi search` kept for resume, shards
 * and merge (h5_results.h): reading /search_units back from a result file
 * (h5_search.c writes it: the packed unit records of search.h, in
 * (experiment, site) order, and how far the search got), and PATH.units, the journal rank 0 appends every finished
 * unit to (CRC-32-checked records, fsynced), so that a killed search loses
 * at most the units in flight. */
#include "nnfi/h5_results.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "h5_util.h"

#define JOURNAL_SUFFIX ".units"
#define JOURNAL_MAGIC "NNFISJ1"  /* 8 bytes with its NUL, then the u64 campaign hash */
#define RECORD_MAGIC 0x524a534eu /* "NSJR" read as a little-endian u32 */

nnfi_status nnfi_h5_read_search_archive(const char *path, nnfi_search_archive *a, uint8_t **records, char **config)
{
    memset(a, 0, sizeof *a);
    *records = NULL;
    if (config) *config = NULL;
    hid_t f = open_file_unlocked(path);
    if (f < 0) return open_fail(path, "open");
    nnfi_status st = NNFI_OK;
    char kind[32] = "";
    hid_t g = -1;
    attr_read_str(f, "kind", kind, sizeof kind);
    if (strcmp(kind, "critical_bits") != 0) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s is not a result file of nnfi search (kind '%s')\n  hint: give the -o file "
                                       "of an 'nnfi search' run", path, kind);
        goto out;
    }
    H5E_BEGIN_TRY { g = H5Gopen2(f, "search_units", H5P_DEFAULT); }
    H5E_END_TRY
    if (g < 0) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s has no /search_units (written by an older nnfi)\n  hint: run the search "
                                       "again with --force", path);
        goto out;
    }
    int64_t n = ds_length(g, "records");
    uint64_t *dst[] = {&a->units, &a->units_wanted, &a->units_total, &a->shard_index, &a->shard_count,
                       &a->config_hash};
    static const char *const names[] = {"units", "units_wanted", "units_total", "shard_index", "shard_count",
                                        "config_hash"};
    int bad = n < 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        bad |= attr_read(g, names[i], H5T_NATIVE_UINT64, dst[i]) < 0;
    *records = bad ? NULL : malloc(n > 0 ? (size_t)n : 1);
    if (bad || !*records || (n > 0 && read_all(g, "records", H5T_NATIVE_UINT8, (hsize_t)n, *records) < 0)) {
        st = bad || *records ? h5_fail(path, "read /search_units") : NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        free(*records);
        *records = NULL;
        goto out;
    }
    a->bytes = (uint64_t)n;
    a->records = *records;
    if (config) *config = attr_text(f, "config");
out:
    if (g >= 0) H5Gclose(g);
    H5Fclose(f);
    return st;
}

/* ---------------------------------------------------------------- journal -- */

static char *journal_path(const char *path)
{
    size_t n = strlen(path) + sizeof JOURNAL_SUFFIX;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s%s", path, JOURNAL_SUFFIX);
    return p;
}

static uint32_t crc_of(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (n) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

nnfi_status nnfi_search_journal_append(const char *path, uint64_t config_hash, const uint8_t *rec, size_t len)
{
    char *jp = journal_path(path);
    if (!jp) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    int fd = open(jp, O_WRONLY | O_CREAT | O_APPEND, 0644);
    struct stat sb;
    int rc = fd >= 0 && fstat(fd, &sb) == 0 ? 0 : -1;
    if (rc == 0 && sb.st_size == 0) {
        uint8_t h[16];
        memcpy(h, JOURNAL_MAGIC, 8);
        memcpy(h + 8, &config_hash, 8);
        rc = write_all(fd, h, sizeof h);
    }
    uint8_t head[16];
    uint32_t magic = RECORD_MAGIC, crc = crc_of(rec, len);
    uint64_t n = len;
    memcpy(head, &magic, 4);
    memcpy(head + 4, &crc, 4);
    memcpy(head + 8, &n, 8);
    if (rc == 0) rc = write_all(fd, head, sizeof head);
    if (rc == 0) rc = write_all(fd, rec, len);
    if (rc == 0) rc = fsync(fd);
    int err = errno;
    if (fd >= 0) close(fd);
    nnfi_status st = rc == 0 ? NNFI_OK
                             : NNFI_FAIL(NNFI_E_IO, "%s: cannot append a finished unit: %s\n  hint: free disk space "
                                                    "and run again with --resume", jp, strerror(err));
    free(jp);
    return st;
}

nnfi_status nnfi_search_journal_read(const char *path, uint64_t config_hash, uint8_t **recs, uint64_t *bytes,
                                     uint64_t *units)
{
    *recs = NULL;
    *bytes = *units = 0;
    char *jp = journal_path(path);
    if (!jp) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    FILE *fp = fopen(jp, "rb");
    if (!fp) {
        free(jp);
        return NNFI_OK; /* no journal: nothing finished since the last file */
    }
    nnfi_status st = NNFI_OK;
    uint8_t *all = NULL, *out = NULL;
    long size = fseek(fp, 0, SEEK_END) == 0 ? ftell(fp) : -1;
    if (size < 0 || fseek(fp, 0, SEEK_SET) != 0 || !(all = malloc((size_t)size + 1)) ||
        fread(all, 1, (size_t)size, fp) != (size_t)size) {
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot read the search's journal\n  hint: check the file, or start over "
                                  "with --force", jp);
        goto done;
    }
    uint64_t hash = 0;
    if (size >= 16) memcpy(&hash, all + 8, 8);
    if (size < 16 || memcmp(all, JOURNAL_MAGIC, 8) != 0 || hash != config_hash) {
        st = NNFI_FAIL(NNFI_E_INVALID, "%s: %s\n  hint: resume with the campaign file this search was started "
                                       "with, or start over with --force", jp,
                       size >= 16 && memcmp(all, JOURNAL_MAGIC, 8) == 0 ? "journal of another campaign text"
                                                                        : "not a journal of nnfi search");
        goto done;
    }
    out = malloc((size_t)size);
    if (!out) {
        st = NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
        goto done;
    }
    long at = 16;
    while (size - at >= 16) { /* whole, checked records; a torn tail ends the journal */
        uint32_t magic, crc;
        uint64_t n;
        memcpy(&magic, all + at, 4);
        memcpy(&crc, all + at + 4, 4);
        memcpy(&n, all + at + 8, 8);
        if (magic != RECORD_MAGIC || n > (uint64_t)(size - at - 16) || crc_of(all + at + 16, n) != crc) break;
        memcpy(out + *bytes, all + at + 16, n);
        *bytes += n;
        (*units)++;
        at += 16 + (long)n;
    }
    if (at < size && truncate(jp, at) != 0) { /* so that appends follow the last good record */
        st = NNFI_FAIL(NNFI_E_IO, "%s: cannot cut its torn tail: %s", jp, strerror(errno));
        goto done;
    }
    *recs = out;
    out = NULL;
done:
    fclose(fp);
    free(all);
    free(out);
    free(jp);
    return st;
}

int nnfi_search_journal_exists(const char *path)
{
    char *jp = journal_path(path);
    int yes = jp && access(jp, F_OK) == 0;
    free(jp);
    return yes;
}

void nnfi_search_journal_remove(const char *path)
{
    char *jp = journal_path(path);
    if (jp) unlink(jp);
    free(jp);
}
