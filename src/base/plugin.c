/* plugin.c - the one check of a plug-in table's header and required slots
 * (see plugin.h). */
#include "nnfi/plugin.h"

nnfi_status nnfi_plugin_check(const char *kind, const char *name, uint32_t abi, uint32_t size, uint32_t want_abi,
                              size_t min_size, const void *const *required, const char *const *required_names,
                              size_t n)
{
    if (!name) name = "(unnamed)";
    if (abi != want_abi)
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "%s '%s' speaks ABI %u, this nnfi speaks %u\n  hint: rebuild the plug-in against this nnfi's headers",
                         kind, name, (unsigned)abi, (unsigned)want_abi);
    if (size < min_size)
        return NNFI_FAIL(NNFI_E_UNSUPPORTED, "%s '%s': its table has %u bytes, at least %zu needed\n  hint: rebuild the plug-in against this nnfi's headers",
                         kind, name, (unsigned)size, min_size);
    for (size_t i = 0; i < n; i++)
        if (!required[i])
            return NNFI_FAIL(NNFI_E_UNSUPPORTED, "%s '%s' leaves its required slot '%s' empty\n  hint: every slot not marked optional in its header must be set",
                             kind, name, required_names[i]);
    return NNFI_OK;
}
