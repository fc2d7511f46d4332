/* inspect_search.h - `nnfi inspect` of a search file (inspect_search.c). */
#ifndef NNFI_INSPECT_SEARCH_H
#define NNFI_INSPECT_SEARCH_H

#include <stddef.h>

#include "cli.h"
#include "nnfi/h5_results.h"

/* Print the summaries of search file `path` (nnfi_h5_search_summaries) as a table or JSON. */
void inspect_search_print(const char *path, const nnfi_search_summary *s, size_t n, cli_format fmt);

#endif
