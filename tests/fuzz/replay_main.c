/* replay_main.c - a main() for fuzz_config.c without libFuzzer: replays files.
 *
 *   fuzz_config_replay [--mutate K] [--min N] PATH...
 *
 * Each PATH is a file (always replayed) or a directory, searched recursively
 * for *.yaml / *.yml files (directories named build* are skipped, so the
 * source tree can be given as it is). Every file goes through
 * LLVMFuzzerTestOneInput() unchanged, then K times mutated (default 0) by a
 * deterministic generator seeded from the file's bytes: truncations, byte
 * flips, deleted or duplicated lines and inserted YAML tokens - a poor man's
 * fuzzer that lets plain CI and the asan preset exercise the contract. Exits 0
 * when every input passed (a breach aborts) and at least N files (default 1)
 * were found, so a corpus that went missing fails the test.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nnfi_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned long g_files, g_runs;
static unsigned g_mutate;

static const char *const tokens[] = {
    "[", "]", "{", "}", ":", ": ", "- ", ",", "\n", "  ", "\t", "&a ", "*a", "!!str ", "? ", "---\n",
    "...\n", "'", "\"", "#", "|\n", ">\n", "null", "~", "-1", "0x10", "1e999", "nan", ".inf", "99999999999999999999",
    "seed", "models", "experiments", "groups", "sweep", "faults", "rates", "bits", "list", "range", "name",
    "target", "op", "set", "value", "trials", "budget", "stop", "output", "path", "eval", "count", "rate"};

/* One deterministic mutation of buf[0..n) into out (capacity n + 64). */
static size_t mutate(const char *buf, size_t n, char *out, uint64_t *rng)
{
    size_t at = n ? (size_t)(nnfi_splitmix64(rng) % (n + 1)) : 0;
    switch (nnfi_splitmix64(rng) % 5) {
    case 0: /* truncate */
        memcpy(out, buf, at);
        return at;
    case 1: /* flip one byte */
        memcpy(out, buf, n);
        if (n) out[at % n] = (char)(out[at % n] ^ (1 << (nnfi_splitmix64(rng) % 8)));
        return n;
    case 2: { /* delete from here to the end of the line */
        size_t end = at;
        while (end < n && buf[end] != '\n') end++;
        memcpy(out, buf, at);
        memcpy(out + at, buf + end, n - end);
        return n - (end - at);
    }
    case 3: { /* duplicate up to 48 bytes */
        size_t len = (size_t)(nnfi_splitmix64(rng) % 49);
        if (len > n - at) len = n - at;
        memcpy(out, buf, at + len);
        memcpy(out + at + len, buf + at, n - at);
        return n + len;
    }
    default: { /* insert a token */
        const char *t = tokens[nnfi_splitmix64(rng) % (sizeof tokens / sizeof tokens[0])];
        size_t len = strlen(t);
        memcpy(out, buf, at);
        memcpy(out + at, t, len);
        memcpy(out + at + len, buf + at, n - at);
        return n + len;
    }
    }
}

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "fuzz_config_replay: cannot open %s\n", path);
        return 1;
    }
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) break;
            buf = nb;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    if (!buf) return 1;
    LLVMFuzzerTestOneInput((const uint8_t *)buf, n);
    g_files++;
    g_runs++;
    uint64_t rng = 0x6e6e6669u;
    for (size_t i = 0; i < n; i++) rng = (rng ^ (unsigned char)buf[i]) * 0x100000001b3ull;
    char *out = malloc(n + 64);
    for (unsigned k = 0; out && k < g_mutate; k++) {
        size_t m = mutate(buf, n, out, &rng);
        LLVMFuzzerTestOneInput((const uint8_t *)out, m);
        g_runs++;
    }
    free(out);
    free(buf);
    return 0;
}

static int is_yaml(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".yaml") == 0) || (n > 4 && strcmp(name + n - 4, ".yml") == 0);
}

static int replay_path(const char *path, int top)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(stderr, "fuzz_config_replay: %s does not exist\n", path);
        return 1;
    }
    if (!S_ISDIR(sb.st_mode)) return top || is_yaml(path) ? replay_file(path) : 0;
    DIR *d = opendir(path);
    if (!d) return 1;
    int bad = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' || strncmp(e->d_name, "build", 5) == 0) continue;
        char sub[4096];
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        bad |= replay_path(sub, 0);
    }
    closedir(d);
    return bad;
}

int main(int argc, char **argv)
{
    unsigned long min_files = 1;
    int bad = 0, paths = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--mutate") == 0 && i + 1 < argc) {
            g_mutate = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--min") == 0 && i + 1 < argc) {
            min_files = strtoul(argv[++i], NULL, 10);
        } else {
            bad |= replay_path(argv[i], 1);
            paths++;
        }
    }
    if (!paths) {
        fprintf(stderr, "usage: %s [--mutate K] [--min N] FILE|DIR...\n", argv[0]);
        return 2;
    }
    printf("fuzz_config_replay: %lu files, %lu inputs (%u mutations each), contract held\n", g_files, g_runs,
           g_mutate);
    if (g_files < min_files) {
        fprintf(stderr, "fuzz_config_replay: found %lu files, expected at least %lu\n", g_files, min_files);
        return 1;
    }
    return bad;
}
