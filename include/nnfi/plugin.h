/* plugin.h - what every plug-in table (model host, injection backend, comm)
 * shares: a leading ABI number and size, required slots and optional slots.
 *
 * Tables are checked once, when the registry hands them out
 * (nnfi_plugin_check); callers then use a slot without checks when it is
 * required, and through NNFI_HAS_SLOT when it is optional: a slot is present
 * when the table was built with a version that has it (its `size` covers it)
 * and it is not NULL. Adding an optional slot at the end of a table keeps old
 * plug-ins working; changing a required one bumps the table's ABI number.
 */
#ifndef NNFI_PLUGIN_H
#define NNFI_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Is optional slot `slot` of table pointer `t` (of struct type `type`) present? */
#define NNFI_HAS_SLOT(type, t, slot) \
    ((t)->size >= offsetof(type, slot) + sizeof((t)->slot) && (t)->slot != NULL)

/* Check a table's header and its required slots. kind: "model host",
 * "injection backend", "comm"; name: the table's name. abi/size: the table's
 * fields; want_abi: the ABI this build speaks; min_size: the end of the last
 * required slot; required[n]: the required slots (NULL = missing) and their
 * names. NNFI_E_UNSUPPORTED with a hint on any mismatch. */
nnfi_status nnfi_plugin_check(const char *kind, const char *name, uint32_t abi, uint32_t size, uint32_t want_abi,
                              size_t min_size, const void *const *required, const char *const *required_names,
                              size_t n);

#ifdef __cplusplus
}
#endif
#endif /* NNFI_PLUGIN_H */
