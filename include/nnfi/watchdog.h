/* watchdog.h - deadlines for every wait on a device.
 *
 * A campaign can run for days; a hung kernel or a lost device must become one
 * failed trial (status timeout, counted as DUE), not a hung job. Every wait on
 * a device goes through nnfi_wait_deadline, which polls a completion test
 * until it reports done, fails, or the deadline passes.
 *
 * The deadline (seconds) is process-wide: nnfi_device_timeout_set(), or the
 * environment variable NNFI_DEVICE_TIMEOUT_S read on first use; default 300.
 */
#ifndef NNFI_WATCHDOG_H
#define NNFI_WATCHDOG_H

#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_DEVICE_TIMEOUT_DEFAULT_S 300.0

/* The current deadline for one device wait, in seconds (> 0). */
double nnfi_device_timeout_s(void);

/* Set it (seconds > 0; anything else restores the default). */
void nnfi_device_timeout_set(double seconds);

/* poll(ctx): 1 done, 0 still running, -1 failed (poll records the message
 * with NNFI_FAIL before returning -1).
 * Returns NNFI_OK when done, the poll's status text as NNFI_E_BACKEND on
 * failure, NNFI_E_TIMEOUT (message naming `what` and the deadline) when
 * timeout_s passes first. Spins briefly, then sleeps with a growing interval
 * (at most 1 ms), so short waits stay short and long ones cost no CPU. */
nnfi_status nnfi_wait_deadline(int (*poll)(void *ctx), void *ctx, double timeout_s, const char *what);

/* The wait for a device stream's work (a cudaStream_t as void*, NULL: the
 * default stream), with the deadline above. The registry installs the CUDA
 * one in builds with CUDA (before it hands out a host or backend that runs on
 * a GPU), so model hosts wait through it without depending on kernels/. */
typedef nnfi_status (*nnfi_stream_wait_fn)(void *stream, const char *what);
void nnfi_device_waiter_set(nnfi_stream_wait_fn fn);

/* Wait through the installed waiter; NNFI_E_UNSUPPORTED when none is (a
 * build without CUDA, where no model runs on a GPU). */
nnfi_status nnfi_device_stream_wait(void *stream, const char *what);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_WATCHDOG_H */
