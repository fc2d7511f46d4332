/* cli.h - pieces shared by the nnfi subcommands (src/cli/cmd_*.c): option
 * parsing helpers, opening a campaign's model, resolving an experiment's
 * groups. Exit codes: 0 success, 1 failure, 2 usage error. */
#ifndef NNFI_CLI_H
#define NNFI_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include "nnfi/config.h"
#include "nnfi/model_host.h"
#include "nnfi/plan.h"

#define CLI_OK 0
#define CLI_FAIL 1
#define CLI_USAGE 2

/* Print "nnfi <cmd>: message" plus a usage hint; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Print the library's last error; returns CLI_FAIL (or CLI_USAGE for st ==
 * NNFI_E_INVALID raised by argument checks, never here). */
int cli_fail(nnfi_status st);

/* SIGTERM, SIGUSR1 and SIGINT set the returned flag to the signal's number
 * (for long commands: finish the work in hand, write a checkpoint, exit 0). */
volatile sig_atomic_t *cli_stop_signals(void);

/* Parse a whole unsigned number; 0 on success. */
int cli_parse_u64(const char *s, uint64_t *out);

/* Output formats of listing commands. */
typedef enum cli_format { CLI_TABLE = 0, CLI_CSV = 1, CLI_JSON = 2 } cli_format;
int cli_parse_format(const char *s, cli_format *out);

/* An open model of a campaign, its sites and its eval geometry. */
typedef struct cli_model {
    const nnfi_model_host *host;
    nnfi_model *model;
    const nnfi_site *sites;
    size_t n_sites;
    uint64_t samples; /* eval samples */
    uint64_t calls;   /* forward calls per eval pass */
} cli_model;

nnfi_status cli_model_open(const nnfi_campaign *c, const char *model_name, cli_model *out);
void cli_model_close(cli_model *m);


/* Find an experiment by name or index. */
int cli_find_experiment(const nnfi_campaign *c, const char *name_or_index, unsigned *xi);

/* JSON string with escapes. */
void cli_json_string(FILE *f, const char *s);

int cmd_faults(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_search(int argc, char **argv);
int cmd_sites(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_schema(int argc, char **argv);

#endif /* NNFI_CLI_H */
