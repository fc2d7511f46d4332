/* inject_registry.c - which injection backend serves a model: `cuda` when
 * its sites live on a GPU, `cpu` otherwise (see inject.h). The only #ifdef on
 * CUDA outside kernels/ is here. */
#include "nnfi/inject.h"

#ifndef NNFI_HAVE_CUDA_BACKEND
const nnfi_inject_backend *nnfi_inject_cuda(void) { return NULL; }
void nnfi_cuda_injector_set_stream(nnfi_injector *inj, void *stream)
{
    (void)inj;
    (void)stream;
}
#endif

nnfi_status nnfi_inject_for_sites(const nnfi_site *sites, size_t n_sites, const nnfi_inject_backend **out)
{
    *out = nnfi_inject_cpu();
    for (size_t i = 0; i < n_sites; i++) {
        if (sites[i].device < 0) continue;
        *out = nnfi_inject_cuda();
        if (!*out)
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "site '%s' is on cuda:%d but this nnfi was built without CUDA\n"
                             "  hint: rebuild where nvcc is found (cmake prints a ✓ NNFI_WITH_CUDA line) or run the model with device: cpu",
                             sites[i].name, sites[i].device);
        return NNFI_OK;
    }
    return NNFI_OK;
}
