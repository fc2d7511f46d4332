/* h5_kill_helper.c - kill safety of the result file: create OUT.h5, put and
 * checkpoint trials 0-9 (with their faults), put trials 10-19 without a
 * checkpoint, then die by SIGKILL while those rows are still buffered.
 * check_h5.py then opens the file and expects exactly trials 0-9.
 * With `all`: checkpoint trials 0-19, then 20-27 (every trial), and die
 * before close() folds the journal: the file holds no row, its journal all.
 * Usage: h5_kill_helper OUT.h5 [all] (exit 1 on a setup error; never exits 0). */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "h5_test_common.h"

static int put_range(nnfi_h5_results *r, const nnfi_plan *p, uint64_t from, uint64_t to)
{
    for (uint64_t t = from; t < to; t++) {
        nnfi_trial_row row;
        if (h5_test_row(p, t, &row) != 0 || nnfi_h5_put_rows(r, &row, 1) != NNFI_OK ||
            h5_test_put_faults(r, &row) != NNFI_OK)
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int all = argc == 3 && strcmp(argv[2], "all") == 0;
    if (argc != 2 && !all) {
        fprintf(stderr, "usage: h5_kill_helper OUT.h5 [all]\n");
        return 2;
    }
    nnfi_campaign *c = NULL;
    nnfi_plan *p = NULL;
    nnfi_h5_results *r = NULL;
    nnfi_h5_provenance prov = {1, NULL, NULL, NULL, 0, 1};
    if (nnfi_campaign_load_text(h5_test_campaign, strlen(h5_test_campaign), "h5test.yaml", &c) != NNFI_OK ||
        nnfi_plan_create(c, NULL, &p) != NNFI_OK || nnfi_h5_create(argv[1], 1, c, p, &prov, &r) != NNFI_OK ||
        put_range(r, p, 0, 10) != 0 || nnfi_h5_checkpoint(r) != NNFI_OK || put_range(r, p, 10, 20) != 0 ||
        (all && (nnfi_h5_checkpoint(r) != NNFI_OK || put_range(r, p, 20, (uint64_t)p->total_trials) != 0 ||
                 nnfi_h5_checkpoint(r) != NNFI_OK))) {
        fprintf(stderr, "h5_kill_helper: %s\n", nnfi_error_message());
        return 1;
    }
    fprintf(stderr, "h5_kill_helper: %s, %llu done, dying\n",
            all ? "every row checkpointed (journal)" : "10 rows checkpointed, rows buffered",
            (unsigned long long)nnfi_h5_trials_done(r));
    raise(SIGKILL);
    return 1;
}
