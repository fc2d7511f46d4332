/* cmd_merge.c - `nnfi merge SHARD.h5... -o OUT.h5 [--force] [--quiet]`: join
 * the shard files of `nnfi run --shard I/N` into one result file equal to a
 * single run of the whole campaign (the file-level work and every refusal are
 * in src/plugins/results_h5/h5_merge.c and h5_merge_check.c, nnfi_h5_merge()
 * in nnfi/h5_results.h), and the shard files of `nnfi search --shard I/N`
 * (search_file.c).
 * Exit 0 on success, 1 when a check refuses the shards or I/O fails, 2 on
 * usage errors. */
#include "cli.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "nnfi/h5_results.h"
#include "search_file.h"

static const char *usage = "nnfi merge SHARD.h5... -o OUT.h5 [--force] [--quiet]";

static void print_help(void)
{
    printf("%s\n\n"
           "Join the shard files of 'nnfi run CAMPAIGN.yaml --shard I/N' (every I of one N, any order)\n"
           "into one result file, identical in every /trials column to a single run of the campaign;\n"
           "or those of 'nnfi search CAMPAIGN.yaml --shard I/N' into the file of a single search.\n\n"
           "  -o, --output OUT.h5   the merged file (required)\n"
           "  --force               overwrite an existing OUT.h5\n"
           "  --quiet               no summary line\n\n"
           "Refuses shards of different campaigns or splits, a shard given twice or missing,\n"
           "overlapping shards, and a shard that is not complete for its own share (finish it\n"
           "first with 'nnfi run CAMPAIGN.yaml -o SHARD.h5 --shard I/N --resume').\n",
           usage);
}

int cmd_merge(int argc, char **argv)
{
    const char *out = NULL;
    int force = 0, quiet = 0;
    const char **shards = calloc((size_t)(argc > 0 ? argc : 1), sizeof *shards);
    size_t n = 0;
    if (!shards) {
        fprintf(stderr, "nnfi merge: out of memory\n");
        return CLI_FAIL;
    }
    int rc = -1;
    for (int i = 1; i < argc && rc < 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help();
            rc = CLI_OK;
        } else if (strcmp(a, "--force") == 0) {
            force = 1;
        } else if (strcmp(a, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0) {
            if (i + 1 >= argc) rc = cli_usage_error("merge", usage, "%s needs a value", a);
            else if (out) rc = cli_usage_error("merge", usage, "-o given twice");
            else out = argv[++i];
        } else if (a[0] == '-' && a[1]) {
            rc = cli_usage_error("merge", usage, "unknown option '%s'", a);
        } else {
            shards[n++] = a;
        }
    }
    if (rc < 0 && n == 0) rc = cli_usage_error("merge", usage, "no shard files given");
    if (rc < 0 && !out) rc = cli_usage_error("merge", usage, "no output file: -o OUT.h5 is required");
    nnfi_search_summary *ss = NULL;
    size_t nss = 0;
    if (rc < 0 && nnfi_h5_search_summaries(shards[0], &ss, &nss) == NNFI_OK && nss > 0) /* shards of nnfi search */
        rc = search_merge(shards, n, out, force, quiet);
    free(ss);
    if (rc < 0) {
        nnfi_h5_merge_info info;
        signal(SIGXFSZ, SIG_IGN); /* a file-size limit: an error message (EFBIG), not death by signal */
        nnfi_status st = nnfi_h5_merge(shards, n, out, force, &info);
        if (st != NNFI_OK) {
            rc = cli_fail(st);
        } else {
            if (!quiet)
                printf("nnfi merge: %u shard(s), %" PRIu64 "/%" PRIu64 " trials done, %" PRIu64 " fault rows -> %s\n",
                       info.shards, info.done, info.trials, info.faults, out);
            rc = CLI_OK;
        }
    }
    free(shards);
    return rc;
}
