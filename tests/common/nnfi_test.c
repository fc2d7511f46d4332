/* nnfi_test.c - the out-of-line part of nnfi_test.h. */
#include "nnfi_test.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "nnfi/status.h"

static char g_tag[64];

void nnfi_test_tag(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_tag, sizeof g_tag, fmt, ap);
    va_end(ap);
}

void nnfi_test_fail(const char *file, int line, const char *cond)
{
    fprintf(stderr, "%sFAIL %s:%d: %s (%s)\n", g_tag, file, line, cond, nnfi_error_message());
    fflush(stderr);
}

int nnfi_test_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    fflush(stdout);
    return NNFI_TEST_SKIP;
}

double nnfi_test_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double nnfi_test_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}
