/* test_topology.c - device choice and the device watchdog: the local rank is
 * read from the launchers' variables in a fixed order (garbage skipped), the
 * device is local rank mod visible devices, and nnfi_wait_deadline returns
 * done, failure, or NNFI_E_TIMEOUT after its deadline. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "nnfi/topology.h"
#include "nnfi/watchdog.h"

static const char *const *env_table;

static const char *fake_get(const char *name)
{
    for (size_t i = 0; env_table[i]; i += 2)
        if (strcmp(env_table[i], name) == 0) return env_table[i + 1];
    return NULL;
}

static void test_env_local_rank(void **state)
{
    (void)state;
    const char *src;
    const char *const none[] = {NULL};
    env_table = none;
    assert_int_equal(nnfi_topology_env_local_rank(fake_get, &src), -1);
    assert_string_equal(src, "none");
    const char *const slurm[] = {"SLURM_LOCALID", "3", NULL};
    env_table = slurm;
    assert_int_equal(nnfi_topology_env_local_rank(fake_get, &src), 3);
    assert_string_equal(src, "SLURM_LOCALID");
    const char *const both[] = {"SLURM_LOCALID", "3", "OMPI_COMM_WORLD_LOCAL_RANK", "1", NULL};
    env_table = both; /* Open MPI's own variable first: mpirun inside an allocation */
    assert_int_equal(nnfi_topology_env_local_rank(fake_get, &src), 1);
    assert_string_equal(src, "OMPI_COMM_WORLD_LOCAL_RANK");
    const char *const junk[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "x1", "MPI_LOCALRANKID", "-2", "PMI_LOCAL_RANK", "5", NULL};
    env_table = junk;
    assert_int_equal(nnfi_topology_env_local_rank(fake_get, &src), 5);
    assert_string_equal(src, "PMI_LOCAL_RANK");
}

static void test_device_choice(void **state)
{
    (void)state;
    nnfi_topology_set_local_rank(5, "test", 9);
    assert_int_equal(nnfi_topology_local_rank(), 5);
    assert_int_equal(nnfi_topology_device(4), 1); /* all GPUs visible */
    assert_int_equal(nnfi_topology_device(1), 0); /* one GPU per task */
    assert_int_equal(nnfi_topology_device(8), 5);
    assert_int_equal(nnfi_topology_device(0), -1);
    nnfi_topology_set_local_rank(-4, NULL, 0);
    assert_int_equal(nnfi_topology_local_rank(), 0);
}

static int polls;
static int never(void *ctx) { (void)ctx, polls++; return 0; }
static int third(void *ctx) { (void)ctx; return ++polls >= 3; }
static int broken(void *ctx)
{
    (void)ctx;
    NNFI_FAIL(NNFI_E_BACKEND, "device lost");
    return -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void test_wait_deadline(void **state)
{
    (void)state;
    polls = 0;
    assert_int_equal(nnfi_wait_deadline(third, NULL, 5.0, "x"), NNFI_OK);
    assert_int_equal(polls, 3);
    assert_int_equal(nnfi_wait_deadline(broken, NULL, 5.0, "x"), NNFI_E_BACKEND);
    assert_non_null(strstr(nnfi_error_message(), "device lost"));
    polls = 0;
    double t0 = now_s();
    assert_int_equal(nnfi_wait_deadline(never, NULL, 0.05, "the forward of trial 7"), NNFI_E_TIMEOUT);
    double dt = now_s() - t0;
    assert_true(dt >= 0.05);
    assert_true(polls > 1);
    assert_non_null(strstr(nnfi_error_message(), "the forward of trial 7 did not finish within 0.05 s"));
    assert_string_equal(nnfi_status_name(NNFI_E_TIMEOUT), "timeout");
}

static void test_timeout_setting(void **state)
{
    (void)state;
    nnfi_device_timeout_set(12.5);
    assert_true(nnfi_device_timeout_s() == 12.5);
    nnfi_device_timeout_set(-1);
    assert_true(nnfi_device_timeout_s() == NNFI_DEVICE_TIMEOUT_DEFAULT_S);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_local_rank),
        cmocka_unit_test(test_device_choice),
        cmocka_unit_test(test_wait_deadline),
        cmocka_unit_test(test_timeout_setting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
