/* registry.h - the one place that knows which plug-ins this build has.
 *
 * Layers, from the bottom up (README "Layout"):
 *   base      status, config, plan, sampler, dispatch, outcome, schema, comm
 *             wrapper, plug-in checks (src/base)
 *   plug-ins  model hosts (null, torch), injection (cpu, cuda in kernels/),
 *             comm (self, mpi), GPU collectives (nccl), results (HDF5)
 *             (src/plugins, kernels/): each depends on base only
 *   registry  lists the plug-ins, holds every optional-dependency #ifdef,
 *             checks each table once before handing it out (src/registry)
 *   engine    worker, one trial pass, coordinator, golden sync (src/engine)
 *   cli       the process: comm init/finalize, signals, printing, exit codes
 *
 * Every table handed out here passed nnfi_plugin_check (ABI, size, required
 * slots); callers use optional slots through NNFI_HAS_SLOT. Tables are static:
 * nothing to free.
 */
#ifndef NNFI_REGISTRY_H
#define NNFI_REGISTRY_H

#include <stddef.h>

#include "nnfi/comm.h"
#include "nnfi/config.h"
#include "nnfi/gpu_coll.h"
#include "nnfi/inject.h"
#include "nnfi/model_host.h"
#include "nnfi/site.h"
#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The host for a campaign's host kind; NNFI_E_UNSUPPORTED (with a hint) when
 * this build lacks it or its table fails the check. */
nnfi_status nnfi_host_lookup(nnfi_host_kind kind, const nnfi_model_host **out);

/* The backend for a model's sites: `cuda` when any site lives on a device,
 * `cpu` otherwise. NNFI_E_UNSUPPORTED (with a hint) when the sites are on a
 * device and this build has no CUDA backend. */
nnfi_status nnfi_inject_for_sites(const nnfi_site *sites, size_t n_sites, const nnfi_inject_backend **out);

/* The comm plug-in of this build: MPI when built with it, else one process. */
const nnfi_comm_backend *nnfi_registry_comm(void);

/* The GPU collectives of this build (NCCL), or NULL. */
const nnfi_gpu_coll *nnfi_registry_gpu_coll(void);

/* The plug-ins this build has, one "kind name" line each (for --version). */
void nnfi_registry_describe(char *buf, size_t n);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_REGISTRY_H */
