/* watchdog.c - deadline-bounded polling for device waits (see watchdog.h). */
#include "nnfi/watchdog.h"

#include <stdlib.h>
#include <time.h>

static double timeout_s; /* 0: not read yet */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double nnfi_device_timeout_s(void)
{
    if (timeout_s <= 0) {
        const char *env = getenv("NNFI_DEVICE_TIMEOUT_S");
        char *end = NULL;
        double v = env ? strtod(env, &end) : 0;
        timeout_s = env && end != env && *end == '\0' && v > 0 ? v : NNFI_DEVICE_TIMEOUT_DEFAULT_S;
    }
    return timeout_s;
}

void nnfi_device_timeout_set(double seconds) { timeout_s = seconds > 0 ? seconds : NNFI_DEVICE_TIMEOUT_DEFAULT_S; }

nnfi_status nnfi_wait_deadline(int (*poll)(void *ctx), void *ctx, double limit_s, const char *what)
{
    double start = now_s(), deadline = start + limit_s;
    long sleep_ns = 1000;
    for (unsigned spins = 0;; spins++) {
        int r = poll(ctx);
        if (r > 0) return NNFI_OK;
        if (r < 0) return NNFI_E_BACKEND; /* poll recorded the message */
        double t = now_s();
        if (t >= deadline)
            return NNFI_FAIL(NNFI_E_TIMEOUT, "%s did not finish within %.3g s (the device watchdog)\n"
                             "  hint: the trial counts as a timeout (DUE); raise the deadline with "
                             "NNFI_DEVICE_TIMEOUT_S if such trials are legitimately slow",
                             what ? what : "a device wait", limit_s);
        if (spins < 64) continue; /* short waits: spin */
        struct timespec ts = {0, sleep_ns};
        nanosleep(&ts, NULL);
        if (sleep_ns < 1000000) sleep_ns *= 2;
    }
}

static nnfi_stream_wait_fn waiter;

void nnfi_device_waiter_set(nnfi_stream_wait_fn fn) { waiter = fn; }

nnfi_status nnfi_device_stream_wait(void *stream, const char *what)
{
    if (!waiter)
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "%s: no device waiter in this build\n  hint: a model on a GPU needs a build with CUDA", what);
    return waiter(stream, what);
}
