/* nnfi_test.h - helpers shared by the C tests (tests/common, the static
 * library nnfi_test_common that nnfi_unit_test() and the other test targets
 * link):
 *
 *   nnfi_splitmix64(&state)  splitmix64, the small deterministic generator of
 *                            test data (Steele, Lea & Flood 2014);
 *   CHECK(cond)              for the plain (non-cmocka) tests: on a false
 *                            condition prints "FAIL file:line: cond (last
 *                            nnfi error)" to stderr and runs NNFI_CHECK_FAIL,
 *                            which is `return 1` unless the test defines its
 *                            own before including this header (e.g.
 *                            MPI_Abort); nnfi_test_tag() sets a prefix such
 *                            as "rank 1 ".
 *   NNFI_TEST_SKIP           77, the exit status CTest reads as a skip (the
 *                            tests set SKIP_RETURN_CODE 77).
 *   nnfi_test_now_s()        monotonic seconds, for the benchmarks;
 *   nnfi_test_median(v, n)   the median of n doubles (sorts v in place).
 */
#ifndef NNFI_TEST_H
#define NNFI_TEST_H

#include <stdint.h>

#define NNFI_TEST_SKIP 77

static inline uint64_t nnfi_splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Monotonic clock, seconds. */
double nnfi_test_now_s(void);
/* Median of v[0..n) (n > 0; v is sorted in place). */
double nnfi_test_median(double *v, int n);

/* Prints the failure line (with the tag and nnfi_error_message()). */
void nnfi_test_fail(const char *file, int line, const char *cond);
/* A prefix for the failure lines (printf format), e.g. nnfi_test_tag("rank %d ", r). */
void nnfi_test_tag(const char *fmt, ...);
/* Prints "SKIP: why" and returns NNFI_TEST_SKIP, for `return nnfi_test_skip(...)` in main. */
int nnfi_test_skip(const char *why);

#ifndef NNFI_CHECK_FAIL
#define NNFI_CHECK_FAIL() return 1
#endif

#define CHECK(c)                                             \
    do {                                                     \
        if (!(c)) {                                          \
            nnfi_test_fail(__FILE__, __LINE__, #c);          \
            NNFI_CHECK_FAIL();                               \
        }                                                    \
    } while (0)

#endif
