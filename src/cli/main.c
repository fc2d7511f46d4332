/* main.c - the nnfi command: dispatches subcommands and prints help/version.
 * This is the only place that decides the process exit code. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

#include "nnfi/build_info.h"

#include "nnfi/h5_results.h"
#include "nnfi/registry.h"

static void print_usage(FILE *f)
{
    fprintf(f,
            "nnfi - fault-injection campaigns for deep, spiking and compressed neural networks\n\n"
            "usage: nnfi <command> [options]\n\n"
            "commands:\n"
            "  run CAMPAIGN.yaml [-o OUT.h5]    run a campaign (one process, mpirun or srun) into HDF5\n"
            "  plan CAMPAIGN.yaml               experiments, points, trial counts, time estimate\n"
            "  search CAMPAIGN.yaml [-o OUT.h5] critical-bit search of the experiments with a 'search:' block\n"
            "  faults CAMPAIGN.yaml --trial K   print the faults of one trial (regenerated from the seed)\n"
            "  sites MODEL.pt | CAMPAIGN.yaml   every site of a model: kind, dtype, shape, elements\n"
            "  inspect OUT.h5                   a result file: provenance, per-point accuracy, SDC and DUE rates\n"
            "  merge SHARDS... -o OUT.h5        join the shard files of 'run --shard I/N' into one result file\n"
            "  schema [OUT.json]                the result-file columns as JSON (for analysis/)\n\n"
            "options:\n"
            "  -h, --help      this text ('nnfi <command> --help' for a command)\n"
            "  -V, --version   version, git sha and library versions\n\n"
            "The campaign file format is described in README.md (\"Campaign file reference\").\n");
}

static void print_version(void)
{
    printf("nnfi %s (git %s)\n", NNFI_VERSION, NNFI_GIT_SHA);
    printf("  config: %s\n", nnfi_config_library_versions());
    printf("  hdf5: %s\n", nnfi_h5_library_version());
    printf("  comm: %s\n", nnfi_registry_comm()->library());
    char plugins[512];
    nnfi_registry_describe(plugins, sizeof plugins);
    printf("  plug-ins:\n");
    for (char *line = strtok(plugins, "\n"); line; line = strtok(NULL, "\n")) printf("    %s\n", line);
    printf("  built with: mpi %s, torch %s, cuda %s, nccl %s\n", NNFI_BUILT_WITH_MPI, NNFI_BUILT_WITH_TORCH,
           NNFI_BUILT_WITH_CUDA, NNFI_BUILT_WITH_NCCL);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return CLI_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
        print_usage(stdout);
        return CLI_OK;
    }
    if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
        print_version();
        return CLI_OK;
    }
    if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
    if (strcmp(cmd, "plan") == 0) return cmd_plan(argc - 1, argv + 1);
    if (strcmp(cmd, "search") == 0) return cmd_search(argc - 1, argv + 1);
    if (strcmp(cmd, "faults") == 0) return cmd_faults(argc - 1, argv + 1);
    if (strcmp(cmd, "sites") == 0) return cmd_sites(argc - 1, argv + 1);
    if (strcmp(cmd, "inspect") == 0) return cmd_inspect(argc - 1, argv + 1);
    if (strcmp(cmd, "merge") == 0) return cmd_merge(argc - 1, argv + 1);
    if (strcmp(cmd, "schema") == 0) return cmd_schema(argc - 1, argv + 1);
    fprintf(stderr, "nnfi: unknown command '%s'\n  hint: commands are run, plan, search, faults, sites, inspect, merge, schema; 'nnfi --help' lists them\n", cmd);
    return CLI_USAGE;
}
