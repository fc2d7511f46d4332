/* inspect_patterns.h - `nnfi inspect`'s outcomes by fault-model pattern and
 * FIT contributions (inspect_patterns.c). Borrows everything it is given. */
#ifndef NNFI_INSPECT_PATTERNS_H
#define NNFI_INSPECT_PATTERNS_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/h5_reader.h"

/* Experiment e spans trials [first[e], first[e] + trials[e]); names[e] its name. */
void inspect_print_patterns(nnfi_h5_file *f, size_t n_exp, const uint64_t *first, const uint64_t *trials,
                            char *const *names);

#endif /* NNFI_INSPECT_PATTERNS_H */
