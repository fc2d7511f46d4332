/* registry.c - the plug-ins of this build (see registry.h). The only file
 * with #ifdefs on optional dependencies (torch, CUDA, MPI, NCCL); the build
 * defines NNFI_HAVE_* for this file alone (src/registry/CMakeLists.txt). */
#include "nnfi/registry.h"

#include <stdio.h>

#include "nnfi/comm_backends.h"
#include "nnfi/plugin.h"
#include "nnfi/watchdog.h"

#ifdef NNFI_HAVE_CUDA
#include "inject_apply.cuh" /* nnfi_cuda_stream_wait: the device waiter */
#endif
#ifdef NNFI_HAVE_NCCL
#include "nccl_coll.h"
#endif

/* ------------------------------------------------------------- checks -- */

#define SLOT(x) (const void *)(t->x)

static nnfi_status check_host(const nnfi_model_host *t)
{
    /* the header (ABI, size) first, before any slot is read: a table from an
     * older build may end before a slot this build knows */
    const size_t min_size = offsetof(nnfi_model_host, close) + sizeof t->close;
    NNFI_TRY(nnfi_plugin_check("model host", t->name, t->abi, t->size, NNFI_MODEL_HOST_ABI, min_size, NULL, NULL, 0));
    const void *const slots[] = {SLOT(open), SLOT(n_sites), SLOT(sites), SLOT(n_classes), SLOT(input_numel),
                                 SLOT(set_hook), SLOT(forward), SLOT(close)};
    static const char *const names[] = {"open", "n_sites", "sites", "n_classes", "input_numel", "set_hook", "forward", "close"};
    return nnfi_plugin_check("model host", t->name, t->abi, t->size, NNFI_MODEL_HOST_ABI, min_size, slots, names,
                             sizeof names / sizeof names[0]);
}

static nnfi_status check_backend(const nnfi_inject_backend *t)
{
    const size_t min_size = offsetof(nnfi_inject_backend, destroy) + sizeof t->destroy;
    NNFI_TRY(nnfi_plugin_check("injection backend", t->name, t->abi, t->size, NNFI_INJECT_ABI, min_size, NULL, NULL, 0)); /* as check_host */
    const void *const slots[] = {SLOT(create), SLOT(arm), SLOT(begin_call), SLOT(on_site), SLOT(disarm), SLOT(destroy)};
    static const char *const names[] = {"create", "arm", "begin_call", "on_site", "disarm", "destroy"};
    return nnfi_plugin_check("injection backend", t->name, t->abi, t->size, NNFI_INJECT_ABI, min_size, slots, names,
                             sizeof names / sizeof names[0]);
}

static nnfi_status check_gpu_coll(const nnfi_gpu_coll *t)
{
    NNFI_TRY(nnfi_plugin_check("GPU collectives", t->name, t->abi, t->size, NNFI_GPU_COLL_ABI, sizeof *t, NULL, NULL, 0));
    const void *const slots[] = {SLOT(unique_id), SLOT(open), SLOT(bcast_f32), SLOT(sum_u64), SLOT(close), SLOT(version)};
    static const char *const names[] = {"unique_id", "open", "bcast_f32", "sum_u64", "close", "version"};
    return nnfi_plugin_check("GPU collectives", t->name, t->abi, t->size, NNFI_GPU_COLL_ABI, sizeof *t, slots, names,
                             sizeof names / sizeof names[0]);
}

#undef SLOT

/* ------------------------------------------------------------- devices -- */

static void install_device_waiter(void)
{
#ifdef NNFI_HAVE_CUDA
    nnfi_device_waiter_set(nnfi_cuda_stream_wait);
#endif
}

/* -------------------------------------------------------------- lookups -- */

nnfi_status nnfi_host_lookup(nnfi_host_kind kind, const nnfi_model_host **out)
{
    *out = NULL;
    const nnfi_model_host *h = NULL;
    switch (kind) {
    case NNFI_HOST_NULL: h = nnfi_host_null(); break;
    case NNFI_HOST_TORCH:
#ifdef NNFI_HAVE_TORCH
        install_device_waiter(); /* the torch host's forwards wait on the device through it */
        h = nnfi_host_torch();
        break;
#else
        return NNFI_FAIL(NNFI_E_UNSUPPORTED,
                         "model host 'torch' is not part of this build\n  hint: rebuild with NNFI_WITH_TORCH=ON and Debian's libtorch-dev (scripts/install-deps)");
#endif
    }
    if (!h) return NNFI_FAIL(NNFI_E_INVALID, "unknown model host %d", (int)kind);
    NNFI_TRY(check_host(h));
    *out = h;
    return NNFI_OK;
}

static const nnfi_inject_backend *cuda_backend(void)
{
#ifdef NNFI_HAVE_CUDA
    return nnfi_inject_cuda();
#else
    return NULL;
#endif
}

nnfi_status nnfi_inject_for_sites(const nnfi_site *sites, size_t n_sites, const nnfi_inject_backend **out)
{
    *out = NULL;
    const nnfi_inject_backend *b = nnfi_inject_cpu();
    for (size_t i = 0; i < n_sites; i++) {
        if (sites[i].device < 0) continue;
        b = cuda_backend();
        if (!b)
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "site '%s' is on cuda:%d but this nnfi was built without CUDA\n"
                             "  hint: rebuild where nvcc is found (cmake prints a ✓ NNFI_WITH_CUDA line) or run the model with device: cpu",
                             sites[i].name, sites[i].device);
        install_device_waiter();
        break;
    }
    NNFI_TRY(check_backend(b));
    const nnfi_inject_backend *g = nnfi_inject_guarded(b); /* the call order, checked once for every backend */
    if (!g) return NNFI_FAIL(NNFI_E_UNSUPPORTED, "injection backend '%s': no room to guard it\n  hint: a bug: more than 8 backends", b->name);
    *out = g;
    return NNFI_OK;
}

const nnfi_comm_backend *nnfi_registry_comm(void)
{
#ifdef NNFI_HAVE_MPI
    return nnfi_comm_mpi();
#else
    return nnfi_comm_self();
#endif
}

const nnfi_gpu_coll *nnfi_registry_gpu_coll(void)
{
#ifdef NNFI_HAVE_NCCL
    const nnfi_gpu_coll *g = nnfi_gpu_coll_nccl();
    return check_gpu_coll(g) == NNFI_OK ? g : NULL;
#else
    (void)check_gpu_coll;
    return NULL;
#endif
}

void nnfi_registry_describe(char *buf, size_t n)
{
    const nnfi_comm_backend *c = nnfi_registry_comm();
    const nnfi_gpu_coll *g = nnfi_registry_gpu_coll();
    snprintf(buf, n, "model hosts: null%s\ninjection:   cpu%s\ncomm:        %s\ngpu coll:    %s\n",
#ifdef NNFI_HAVE_TORCH
             " torch",
#else
             "",
#endif
             cuda_backend() ? " cuda" : "", c->name, g ? g->name : "none");
}
