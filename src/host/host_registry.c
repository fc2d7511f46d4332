/* host_registry.c - host kind -> model-host table. The one place that knows
 * which hosts this build has. */
#include "nnfi/model_host.h"

nnfi_status nnfi_host_lookup(nnfi_host_kind kind, const nnfi_model_host **out)
{
    *out = NULL;
    switch (kind) {
    case NNFI_HOST_NULL: *out = nnfi_host_null(); return NNFI_OK;
    case NNFI_HOST_TORCH:
#ifdef NNFI_HAVE_TORCH_HOST
        *out = nnfi_host_torch();
        return NNFI_OK;
#else
        return NNFI_FAIL(NNFI_E_UNSUPPORTED,
                         "model host 'torch' is not part of this build\n  hint: rebuild with NNFI_WITH_TORCH=ON and Debian's libtorch-dev (scripts/install-deps)");
#endif
    }
    return NNFI_FAIL(NNFI_E_INVALID, "unknown model host %d", (int)kind);
}
