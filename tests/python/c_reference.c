/* c_reference.c - the C side's schema and statistics, for the analysis/ tests.
 *
 * tests/python checks that nnfi_analysis (Python) reads what the C code
 * writes and computes what the C code computes. This helper exposes the C
 * functions it compares against, so no value is copied by hand:
 *
 *   c_reference schema OUT.json            nnfi_write_schema_json (the /trials
 *                                          columns, from NNFI_TRIAL_COLUMNS)
 *   c_reference leveugle E CONF P N         nnfi_leveugle_sample_size -> one integer
 *   c_reference wilson K N CONF             nnfi_wilson_interval -> "lo hi" (%.17g)
 *   c_reference quantile CONF               nnfi_normal_quantile -> one number
 *
 * Exit status 0 on success, 1 on a failed call, 2 on bad usage.
 * (Once `nnfi` has a `schema` command, the first form can go.) */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/plan.h"
#include "nnfi/results.h"

static int usage(void)
{
    fprintf(stderr, "usage: c_reference schema OUT.json | leveugle E CONF P N | wilson K N CONF | quantile CONF\n");
    return 2;
}

static int num(const char *s, double *out)
{
    char *end = NULL;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' ? 0 : -1;
}

static int count(const char *s, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    *out = (uint64_t)v;
    return errno == 0 && end != s && *end == '\0' && s[0] != '-' ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "schema") == 0 && argc == 3) {
        nnfi_status st = nnfi_write_schema_json(argv[2]);
        if (st != NNFI_OK) {
            fprintf(stderr, "c_reference: %s\n", nnfi_error_message());
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "leveugle") == 0 && argc == 6) {
        double e, conf, p, n;
        if (num(argv[2], &e) || num(argv[3], &conf) || num(argv[4], &p) || num(argv[5], &n)) return usage();
        printf("%" PRIu64 "\n", nnfi_leveugle_sample_size(e, conf, p, n));
        return 0;
    }
    if (strcmp(cmd, "wilson") == 0 && argc == 5) {
        uint64_t k, n;
        double conf, lo, hi;
        if (count(argv[2], &k) || count(argv[3], &n) || num(argv[4], &conf)) return usage();
        nnfi_wilson_interval(k, n, conf, &lo, &hi);
        printf("%.17g %.17g\n", lo, hi);
        return 0;
    }
    if (strcmp(cmd, "quantile") == 0 && argc == 3) {
        double conf;
        if (num(argv[2], &conf)) return usage();
        printf("%.17g\n", nnfi_normal_quantile(conf));
        return 0;
    }
    return usage();
}
