/* test_config_hostile.c - the campaign loader against hostile or absurd input.
 *
 *   test_config_hostile      (CTest runs it in the build directory: it writes
 *                             and deletes one sparse 100 MB file there)
 *
 * Inputs too large to commit are generated here: 100,000 nested brackets,
 * "billion laughs" alias bombs, a million-value list, 1 MB strings and keys,
 * texts and files over NNFI_CONFIG_MAX_BYTES, /dev/zero, a directory. Each must
 * be refused with NNFI_E_CONFIG (NNFI_E_IO for the directory), no campaign,
 * and a message that is located ("hostile.yaml:LINE:COL: ") and names the
 * bound. A legitimately large campaign (4096 experiments x 16 groups, the
 * schema's limits) must still load. Elapsed times are printed for the record
 * (tests/RELIABILITY.md), never asserted.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "nnfi/config.h"

#define NAME "hostile.yaml"

/* A growable text buffer. */
typedef struct text {
    char *s;
    size_t n, cap;
} text;

static void put(text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    for (;;) {
        va_start(ap, fmt);
        int k = vsnprintf(t->s ? t->s + t->n : NULL, t->s ? t->cap - t->n : 0, fmt, ap);
        va_end(ap);
        assert_true(k >= 0);
        if (t->s && t->n + (size_t)k < t->cap) {
            t->n += (size_t)k;
            return;
        }
        size_t cap = t->cap ? t->cap : 4096;
        while (cap <= t->n + (size_t)k) cap *= 2;
        char *s = realloc(t->s, cap);
        assert_non_null(s);
        t->s = s;
        t->cap = cap;
    }
}

static void put_repeat(text *t, const char *piece, size_t times)
{
    for (size_t i = 0; i < times; i++) put(t, "%s", piece);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The message must start with "hostile.yaml:" (or `file`), then LINE:COL: */
static void assert_located(const char *msg, const char *file)
{
    size_t n = strlen(file);
    unsigned line = 0, col = 0;
    int used = 0;
    if (strncmp(msg, file, n) != 0 || sscanf(msg + n, ":%u:%u: %n", &line, &col, &used) != 2 || used == 0 ||
        line == 0 || col == 0)
        fail_msg("message is not located at %s:LINE:COL:\n%s", file, msg);
    if (!strstr(msg, "\n  hint: ")) fail_msg("message has no hint:\n%s", msg);
}

/* Load `t` from memory; expect a located refusal containing `want`. */
static void refuse_text(const char *what, const text *t, const char *want)
{
    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1;
    double t0 = now();
    nnfi_status st = nnfi_campaign_load_text(t->s, t->n, NAME, &c);
    double dt = now() - t0;
    const char *msg = nnfi_error_message();
    size_t shown = strcspn(msg, "\n");
    printf("  %-34s %9zu bytes  refused in %.3f s: %.*s%s\n", what, t->n, dt, (int)(shown > 150 ? 150 : shown), msg,
           shown > 150 ? "..." : "");
    if (st != NNFI_E_CONFIG) fail_msg("%s: status %s, expected config:\n%s", what, nnfi_status_name(st), msg);
    assert_null(c);
    assert_located(msg, NAME);
    if (!strstr(msg, want)) fail_msg("%s: message lacks '%s':\n%s", what, want, msg);
    if (strlen(msg) > 2000) fail_msg("%s: a %zu-character message (quotes too much input)", what, strlen(msg));
}

static const char *head = "seed: 1\nmodels: [{name: m, host: null}]\n";

static void test_deep_nesting(void **state)
{
    (void)state;
    text t = {0};
    put_repeat(&t, "[", 100000);
    put_repeat(&t, "]", 100000);
    refuse_text("100,000 nested lists", &t, "1:65: (top level): lists and mappings nested more than 64 levels deep");
    t.n = 0;
    put_repeat(&t, "[", 100000); /* never closed: the depth bound comes before the syntax error */
    refuse_text("100,000 unclosed '['", &t, "1:65: (top level): lists and mappings nested more than 64 levels");
    t.n = 0;
    put_repeat(&t, "{a: ", 100000);
    put_repeat(&t, "}", 100000);
    refuse_text("100,000 nested flow mappings", &t, "nested more than 64 levels deep");
    t.n = 0;
    for (int i = 0; i < 200; i++) put(&t, "%*sk:\n", i, "");
    put(&t, "%*sk: 1\n", 200, "");
    refuse_text("200 nested block mappings", &t, "65:65: (top level): lists and mappings nested more than 64");
    free(t.s);
}

/* The classic: nine levels of ten aliases each (10^9 strings if expanded). */
static void test_billion_laughs(void **state)
{
    (void)state;
    text t = {0};
    put(&t, "a: &a [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n");
    for (char c = 'b'; c <= 'i'; c++) {
        put(&t, "%c: &%c [", c, c);
        for (int i = 0; i < 10; i++) put(&t, "%s*%c", i ? ", " : "", c - 1);
        put(&t, "]\n");
    }
    refuse_text("billion laughs (unknown keys)", &t, "1:1: a: unknown key 'a'");

    /* The same bomb where the schema takes it: the aliases sit where lists of
     * site patterns, groups and experiments belong (1024 x 16 x 4096 = 67M). */
    t.n = 0;
    put(&t, "%sexperiments: [&e {name: e, model: m, trials: 1, groups: [&g {target: weight, count: 1, sites: [&p x",
        head);
    put_repeat(&t, ", *p", 1023);
    put(&t, "]}");
    put_repeat(&t, ", *g", 15);
    put(&t, "]}");
    put_repeat(&t, ", *e", 4095);
    put(&t, "]\n");
    refuse_text("alias bomb in the schema (67M)", &t, "the campaign expands to more than 1000000 values");
    free(t.s);
}

static void test_huge_sequences(void **state)
{
    (void)state;
    text t = {0};
    put(&t, "%sexperiments: [{name: e, model: m, trials: 1, groups: [{target: weight}], sweep: {faults: [1", head);
    put_repeat(&t, ", 1", NNFI_MAX_POINTS);
    put(&t, "]}}]\n");
    refuse_text("65,537 sweep points", &t, "experiments[0].sweep.faults: list has 65537 entries");
    t.n = 0;
    put(&t, "%sexperiments: [1", head);
    put_repeat(&t, ",1", NNFI_CONFIG_MAX_NODES);
    put(&t, "]\n");
    refuse_text("a list of a million values", &t, "(top level): more than 1000000 values in one campaign");
    free(t.s);
}

static void test_long_strings(void **state)
{
    (void)state;
    text t = {0};
    put(&t, "name: ");
    put_repeat(&t, "n", 1 << 20);
    put(&t, "\n%s", head);
    refuse_text("a 1 MiB name", &t, "1:7: name: string of 1048576 characters, expected 1 to 64");
    t.n = 0;
    put(&t, "%s? ", head); /* an explicit key: a plain one may not exceed 1024 characters */
    put_repeat(&t, "k", 1 << 20);
    put(&t, "\n: 1\n");
    refuse_text("a 1 MiB key", &t, "3:3: kkkkkkkk");
    t.n = 0;
    put(&t, "%sexperiments: [{name: e, model: m, trials: 1, groups: [{target: weight, count: 1, regex: ", head);
    put_repeat(&t, "a", NNFI_CONFIG_MAX_PATTERN + 1);
    put(&t, "}]}]\n");
    refuse_text("a 1025-character regex", &t, "experiments[0].groups[0].regex: string of 1025 characters");
    t.n = 0;
    put(&t, "%seval: {path: \"", head);
    put_repeat(&t, "\\0", 10);
    put(&t, "\"}\n");
    refuse_text("NULs in a path", &t, "3:14: eval.path: a NUL character");
    free(t.s);
}

static void test_text_over_limit(void **state)
{
    (void)state;
    text t = {0};
    put(&t, "%s", head);
    put_repeat(&t, "#234567890123456789012345678901234567890123456789012345678901234\n", (NNFI_CONFIG_MAX_BYTES >> 6) + 1);
    char want[128];
    snprintf(want, sizeof want, "1:1: (top level): campaign text of %zu bytes is over the 16 MiB limit", t.n);
    refuse_text("16 MiB of comments and a bit", &t, want);
    free(t.s);
}

/* A sparse 100 MB file: refused from its size alone (stat), never read. */
static void test_file_over_limit(void **state)
{
    (void)state;
    const char *path = "hostile_100MB.yaml";
    int fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, head, strlen(head)), (ssize_t)strlen(head));
    assert_int_equal(ftruncate(fd, 100000000), 0);
    close(fd);
    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1;
    double t0 = now();
    nnfi_status st = nnfi_campaign_load(path, &c);
    double dt = now() - t0;
    char *raw = (char *)(uintptr_t)1;
    size_t len = 1;
    /* the bounded read alone (what `nnfi run` needs to broadcast the text) */
    assert_int_equal(nnfi_campaign_read_file(path, &raw, &len), NNFI_E_CONFIG);
    assert_null(raw);
    assert_int_equal(len, 0);
    unlink(path);
    const char *msg = nnfi_error_message();
    printf("  %-34s %9d bytes  refused in %.6f s: %.*s\n", "a 100 MB file", 100000000, dt, (int)strcspn(msg, "\n"), msg);
    assert_int_equal(st, NNFI_E_CONFIG);
    assert_null(c);
    assert_located(msg, path);
    assert_non_null(strstr(msg, "1:1: (top level): campaign file of 95.4 MiB is over the 16 MiB limit"));
}

/* No size to stat: read one byte past the limit, then refuse. */
static void test_endless_device(void **state)
{
    (void)state;
    struct stat sb;
    if (stat("/dev/zero", &sb) != 0 || !S_ISCHR(sb.st_mode)) skip();
    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1;
    double t0 = now();
    nnfi_status st = nnfi_campaign_load("/dev/zero", &c);
    double dt = now() - t0;
    const char *msg = nnfi_error_message();
    printf("  %-34s %9s bytes  refused in %.3f s: %.*s\n", "/dev/zero", "endless", dt, (int)strcspn(msg, "\n"), msg);
    assert_int_equal(st, NNFI_E_CONFIG);
    assert_null(c);
    assert_located(msg, "/dev/zero");
    assert_non_null(strstr(msg, "campaign text of 16777217 bytes is over the 16 MiB limit"));
}

static void test_directory(void **state)
{
    (void)state;
    nnfi_campaign *c = (nnfi_campaign *)(uintptr_t)1;
    assert_int_equal(nnfi_campaign_load(".", &c), NNFI_E_IO);
    assert_null(c);
    assert_non_null(strstr(nnfi_error_message(), ".: is a directory, not a campaign file"));
}

/* The schema's own limits, filled: must load (4096 x 16 groups), and in time
 * linear in its size (the position index is a hash table; it was a list). */
static void test_large_valid_campaign(void **state)
{
    (void)state;
    text t = {0};
    put(&t, "%sexperiments:\n", head);
    for (unsigned x = 0; x < NNFI_MAX_EXPERIMENTS; x++) {
        put(&t, "  - name: e%u\n    model: m\n    trials: 1\n    groups:\n", x);
        for (unsigned g = 0; g < NNFI_MAX_GROUPS; g++)
            put(&t, "      - {target: weight, count: %u, bits: {count: 1}, op: flip}\n", g + 1);
    }
    nnfi_campaign *c = NULL;
    double t0 = now();
    nnfi_status st = nnfi_campaign_load_text(t.s, t.n, NAME, &c);
    double dt = now() - t0;
    printf("  %-34s %9zu bytes  loaded in %.3f s\n", "4096 experiments x 16 groups", t.n, dt);
    if (st != NNFI_OK) fail_msg("%s", nnfi_error_message());
    assert_int_equal(c->experiments_count, NNFI_MAX_EXPERIMENTS);
    assert_int_equal(c->experiments[NNFI_MAX_EXPERIMENTS - 1].groups_count, NNFI_MAX_GROUPS);
    assert_int_equal(*c->experiments[4095].groups[15].count, 16);
    /* a later error about the last group is located on its line */
    nnfi_campaign_error(c, NNFI_E_CONFIG, "experiments[4095].groups[15].count", "probe");
    char want[64];
    snprintf(want, sizeof want, NAME ":%u:26: ", 4 + 20 * 4095 + 4 + 15); /* 20 lines per experiment */
    if (strncmp(nnfi_error_message(), want, strlen(want)) != 0)
        fail_msg("expected %s..., got %s", want, nnfi_error_message());
    nnfi_campaign_free(c);
    free(t.s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_nesting),    cmocka_unit_test(test_billion_laughs),
        cmocka_unit_test(test_huge_sequences),  cmocka_unit_test(test_long_strings),
        cmocka_unit_test(test_text_over_limit), cmocka_unit_test(test_file_over_limit),
        cmocka_unit_test(test_endless_device),  cmocka_unit_test(test_directory),
        cmocka_unit_test(test_large_valid_campaign),
    };
    return cmocka_run_group_tests_name("config_hostile", tests, NULL, NULL);
}
