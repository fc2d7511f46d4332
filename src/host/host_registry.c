/* host_registry.c - host kind -> model-host table. The one place that knows
 * which hosts this build has. */
#include "nnfi/model_host.h"

nnfi_status nnfi_host_lookup(nnfi_host_kind kind, const nnfi_model_host **out)
{
    *out = NULL;
    switch (kind) {
    case NNFI_HOST_NULL: *out = nnfi_host_null(); return NNFI_OK;
    case NNFI_HOST_TORCH:
        return NNFI_FAIL(NNFI_E_UNSUPPORTED,
                         "model host 'torch' is not part of this build yet\n  hint: use 'host: null' for now; the libtorch host is a later addition");
    }
    return NNFI_FAIL(NNFI_E_INVALID, "unknown model host %d", (int)kind);
}
