/* search_file.h - a set of searched units (nnfi/search.h: one site of one
 * experiment each) and the result file made of it, shared by `nnfi search`
 * (its ranks' units, --resume, --shard) and `nnfi merge` (search shards).
 * The file depends only on which units the set holds, never on where or in
 * which order they were searched. */
#ifndef NNFI_CLI_SEARCH_FILE_H
#define NNFI_CLI_SEARCH_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "nnfi/config.h"
#include "nnfi/h5_results.h"
#include "nnfi/search.h"

typedef struct search_units {
    nnfi_search_unit *v; /* owned */
    size_t n, cap;
} search_units;

/* Does the set hold unit (experiment e, site)? */
int search_units_has(const search_units *s, uint32_t e, uint32_t site);

/* Take u (ownership moves to the set; a unit already held is freed). */
nnfi_status search_units_take(search_units *s, nnfi_search_unit *u);

/* Unpack and take every record of buf[0..len) (from: the file or journal, for errors). */
nnfi_status search_units_add_records(search_units *s, const uint8_t *buf, uint64_t len, const char *from);

void search_units_free(search_units *s);

/* Per search experiment of c (in campaign order), the sum of the set's
 * units, finished (canonical order): *res (n of them) and their site names
 * (names[i].names malloc'd, borrowed from the set); free with
 * search_units_results_free. */
nnfi_status search_units_results(const nnfi_campaign *c, const search_units *s, nnfi_search_result **res,
                                 nnfi_search_sites **names, size_t *n);
void search_units_results_free(nnfi_search_result *res, nnfi_search_sites *names, size_t n);

/* Write PATH from the set (a->records and a->bytes are filled here from
 * the set, in (experiment, site) order; the other fields are the caller's);
 * the per-experiment results are left in *res, *names, *n for printing (free
 * with search_units_results_free). */
nnfi_status search_units_write(const char *path, const nnfi_campaign *c, search_units *s, nnfi_search_archive *a,
                               double seconds, int force, nnfi_search_result **res, nnfi_search_sites **names,
                               size_t *n);

/* `nnfi merge` of search files: every unit of the campaign exactly once,
 * from shards of one campaign text and one split. */
int search_merge(const char *const *paths, size_t n, const char *out, int force, int quiet);

#endif /* NNFI_CLI_SEARCH_FILE_H */
