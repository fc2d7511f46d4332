/* inject.h - injection backends: apply a trial's faults, restore bit-exactly.
 *
 * A backend is a versioned table of function pointers (plugin.h), the plug-in
 * point for `cpu` (src/plugins/inject_cpu/inject_cpu.c) and `cuda`
 * (kernels/backend_cuda.cu). The registry (src/registry/registry.c:
 * nnfi_inject_for_sites) checks a backend's table once and hands it out
 * wrapped by nnfi_inject_guarded (src/base/inject_guard.c), which enforces the
 * legal order below. One injector serves one open model and is reused for
 * every trial:
 *
 *   create(sites)                      once per model
 *   for each trial:
 *     arm(faults)                      parameter faults applied now (permanent ones,
 *                                      originals saved); the rest kept for later
 *     for each forward call c:
 *       begin_call(c, first_sample, rows)  transient parameter faults of call c
 *                                          swapped in, those of c-1 restored
 *       on_site(site, data, t)         the host calls this for each activation,
 *                                      input and state tensor as it is produced;
 *                                      the matching faults are applied in place
 *     disarm()                         every parameter restored bit-exactly
 *   destroy()
 *
 * Legal order: arm (or arm_generated) only when disarmed; begin_call/on_site
 * only while armed; disarm any time (no-op when disarmed). The guard checks
 * it (NNFI_E_INVALID: "injector armed twice", "begin_call on a disarmed
 * injector", "on_site on a disarmed injector"), so a backend does not: its
 * slots may assume the order, and must only
 *   - leave nothing applied when arm()/arm_generated() fails (the injector
 *     stays disarmed);
 *   - make disarm() a no-op when nothing is applied (destroy() calls it, and
 *     destroy() of an armed injector restores first);
 *   - validate its arguments (fault sites and elements, on_site's site).
 * Calling a backend's own table directly (nnfi_inject_cpu(), as the unit
 * tests do) skips the order checks.
 *
 * The injector borrows `sites` (and the memory their data pointers name) for
 * its whole life, and borrows `faults` from arm() until disarm(). Permanent
 * parameter faults are applied at arm() in list order; transient ones go on
 * top of them at their call, in list order; everything is restored in
 * reverse, so any mix of ops restores exactly.
 */
#ifndef NNFI_INJECT_H
#define NNFI_INJECT_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/plugin.h"
#include "nnfi/sampler.h"
#include "nnfi/site.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NNFI_INJECT_ABI 1

typedef struct nnfi_injector nnfi_injector;

typedef struct nnfi_inject_backend {
    uint32_t abi;         /* NNFI_INJECT_ABI */
    uint32_t size;        /* sizeof(nnfi_inject_backend) the backend was built with */
    const char *name;     /* "cpu", "cuda" */
    nnfi_status (*create)(const nnfi_site *sites, size_t n_sites, nnfi_injector **out);
    nnfi_status (*arm)(nnfi_injector *inj, const nnfi_fault *faults, size_t n);
    nnfi_status (*begin_call)(nnfi_injector *inj, uint64_t call, uint64_t first_sample, uint64_t rows);
    /* data: the site's tensor for this call, `rows` samples of sites[site].numel
     * elements each; t: the site's call count within this forward (time step). */
    nnfi_status (*on_site)(nnfi_injector *inj, uint32_t site, void *data, uint32_t t);
    nnfi_status (*disarm)(nnfi_injector *inj);
    void (*destroy)(nnfi_injector *inj);
    /* optional (may be NULL; check with nnfi_inject_has_applied): faults
     * applied during the current trial so far (the cuda backend: known after
     * disarm) */
    uint64_t (*applied)(const nnfi_injector *inj);
    /* optional (may be NULL; check with nnfi_inject_has_arm_generated): arm()
     * with faults the backend generates itself, bit-identical to arm() of
     * nnfi_sampler_faults(groups[g], ids[g], 0, counts[g]) concatenated over
     * g = 0..n_groups-1. The cuda backend generates them on the device, so a
     * trial's fault list never crosses the bus. Borrows the plans for the
     * injector's life (they are keyed by address). */
    nnfi_status (*arm_generated)(nnfi_injector *inj, const nnfi_group_plan *const *groups, const nnfi_fault_id *ids,
                                 const uint64_t *counts, unsigned n_groups);
} nnfi_inject_backend;

/* Does backend b (built with any version of this table) have arm_generated? */
static inline int nnfi_inject_has_arm_generated(const nnfi_inject_backend *b)
{
    return NNFI_HAS_SLOT(nnfi_inject_backend, b, arm_generated);
}

/* Does backend b have applied? */
static inline int nnfi_inject_has_applied(const nnfi_inject_backend *b)
{
    return NNFI_HAS_SLOT(nnfi_inject_backend, b, applied);
}

/* `inner` behind the order checks above (src/base/inject_guard.c): a table
 * with the same name and optional slots whose slots check the state, then
 * forward to inner's. One table per inner, built on first use and kept for
 * the process (thread-safe); guarding a guarded table returns it. NULL when
 * inner is NULL or more than 8 distinct backends were guarded. The registry
 * hands out guarded tables only. */
const nnfi_inject_backend *nnfi_inject_guarded(const nnfi_inject_backend *inner);

/* The backend's own injector behind `inj`, an injector of table b: the
 * wrapped one when b is guarded, else inj itself. For backend-specific calls
 * such as nnfi_cuda_injector_set_stream. */
nnfi_injector *nnfi_inject_unguarded(const nnfi_inject_backend *b, nnfi_injector *inj);

/* The CPU backend (src/plugins/inject_cpu: host memory). Unguarded: the
 * registry's nnfi_inject_for_sites hands it out through nnfi_inject_guarded. */
const nnfi_inject_backend *nnfi_inject_cpu(void);

/* The CUDA backend (kernels/backend_cuda.cu: device memory, bit-identical to
 * `cpu`), unguarded. Defined only in builds with CUDA: only the registry
 * (behind NNFI_HAVE_CUDA) and tests/gpu name it. */
const nnfi_inject_backend *nnfi_inject_cuda(void);

/* In CUDA builds: run an injector of the cuda backend on `stream` (a
 * cudaStream_t as void*) instead of the legacy default stream. `inj` is the
 * cuda backend's own injector: for one made through a guarded table (the
 * registry's), pass nnfi_inject_unguarded(table, inj). */
void nnfi_cuda_injector_set_stream(nnfi_injector *inj, void *stream);


#ifdef __cplusplus
}
#endif
#endif /* NNFI_INJECT_H */
