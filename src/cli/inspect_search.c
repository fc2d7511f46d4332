/* inspect_search.c - `nnfi inspect` of a file `nnfi search` wrote: per
 * experiment the elements, critical bits, the search's evaluations against
 * exhaustive, and recall and precision of its exhaustive check. */
#include "inspect_search.h"

#include <stdio.h>

/* The summary of a search file (nnfi search), table or JSON. */
void inspect_search_print(const char *path, const nnfi_search_summary *s, size_t n, cli_format fmt)
{
    if (fmt == CLI_JSON) {
        printf("{\"file\": ");
        cli_json_string(stdout, path);
        printf(", \"kind\": \"critical_bits\", \"experiments\": [");
        for (size_t i = 0; i < n; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            cli_json_string(stdout, s[i].name);
            printf(", \"model\": ");
            cli_json_string(stdout, s[i].model);
            printf(", \"criterion\": \"%s\", \"elements\": %llu, \"bits\": %llu, \"critical\": %llu, "
                   "\"evaluations_search\": %llu, \"checked\": %llu, \"evaluations_exhaustive\": %llu, "
                   "\"recall\": %.6f, \"precision\": %.6f}",
                   s[i].criterion, (unsigned long long)s[i].elements, (unsigned long long)s[i].bits,
                   (unsigned long long)s[i].critical, (unsigned long long)s[i].evals_search,
                   (unsigned long long)s[i].checked, (unsigned long long)s[i].evals_exhaustive, s[i].recall,
                   s[i].precision);
        }
        printf("]}\n");
        return;
    }
    printf("file        %s (nnfi search: critical bits)\n", path);
    if (n && s[0].shard_count > 1)
        printf("shard       %llu/%llu (nnfi merge joins the shards)\n", (unsigned long long)s[0].shard_index,
               (unsigned long long)s[0].shard_count);
    if (n && s[0].units < s[0].units_wanted)
        printf("partial     %llu of %llu units (sites) searched: complete it with nnfi search CAMPAIGN.yaml -o %s "
               "--resume\n", (unsigned long long)s[0].units, (unsigned long long)s[0].units_wanted, path);
    for (size_t i = 0; i < n; i++) {
        const nnfi_search_summary *x = &s[i];
        double per = x->elements ? (double)x->evals_search / (double)x->elements : 0;
        printf("\nexperiment '%s'  model '%s'  criterion %s\n", x->name, x->model, x->criterion);
        printf("  %llu elements of %llu site(s), %llu bits: %llu critical bits (%.4f)\n",
               (unsigned long long)x->elements, (unsigned long long)x->sites, (unsigned long long)x->bits,
               (unsigned long long)x->critical, x->bits ? (double)x->critical / (double)x->bits : 0);
        printf("  search: %llu evaluations (%.3f per element, %.1fx fewer than exhaustive; %llu pilot elements, "
               "%llu site(s) flip by flip, %llu without pools)\n",
               (unsigned long long)x->evals_search, per, x->evals_search ? (double)x->bits / (double)x->evals_search : 0,
               (unsigned long long)x->pilot_elements, (unsigned long long)x->nonmonotone_sites,
               (unsigned long long)x->unpooled_sites);
        if (x->checked)
            printf("  exhaustive check on %llu elements (%llu evaluations): recall %.4f, precision %.4f "
                   "(tp %llu, fp %llu, fn %llu)\n",
                   (unsigned long long)x->checked, (unsigned long long)x->evals_exhaustive, x->recall, x->precision,
                   (unsigned long long)x->tp, (unsigned long long)x->fp, (unsigned long long)x->fn);
    }
}

