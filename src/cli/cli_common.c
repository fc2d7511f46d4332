/* cli_common.c - helpers shared by the nnfi subcommands (see cli.h). */
#include "cli.h"

#include "nnfi/eval_set.h"

#include "nnfi/registry.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int cli_usage_error(const char *cmd, const char *usage, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "nnfi %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n  hint: 'nnfi %s --help' explains every option\n", usage, cmd);
    return CLI_USAGE;
}

int cli_fail(nnfi_status st)
{
    fprintf(stderr, "nnfi: error (%s): %s\n", nnfi_status_name(st), nnfi_error_message());
    return CLI_FAIL;
}

int cli_parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end) return -1;
    *out = v;
    return 0;
}

int cli_parse_format(const char *s, cli_format *out)
{
    if (strcmp(s, "table") == 0) *out = CLI_TABLE;
    else if (strcmp(s, "csv") == 0) *out = CLI_CSV;
    else if (strcmp(s, "json") == 0) *out = CLI_JSON;
    else return -1;
    return 0;
}

nnfi_status cli_model_open(const nnfi_campaign *c, const char *model_name, cli_model *out)
{
    memset(out, 0, sizeof *out);
    const nnfi_model_cfg *mc = NULL;
    for (unsigned i = 0; i < c->models_count; i++)
        if (strcmp(c->models[i].name, model_name) == 0) mc = &c->models[i];
    if (!mc) return NNFI_FAIL(NNFI_E_NOTFOUND, "no model named '%s'", model_name);
    NNFI_TRY(nnfi_host_lookup(mc->host, &out->host));
    nnfi_model_cfg with_input; /* the eval set's per-sample shape: the model needs no input_shape attribute */
    nnfi_eval_model_cfg(c, mc, &with_input);
    nnfi_status st = out->host->open(&with_input, c->source_dir, c->seed, &out->model);
    if (st != NNFI_OK) { /* the host names the file; add where the campaign names the model */
        char msg[3000], field[64];
        snprintf(msg, sizeof msg, "%s", nnfi_error_message());
        snprintf(field, sizeof field, "models[%u]", (unsigned)(mc - c->models));
        return nnfi_campaign_error(c, st, field, "%s", msg);
    }
    out->sites = out->host->sites(out->model);
    out->n_sites = out->host->n_sites(out->model);
    const nnfi_eval_cfg *e = mc->eval ? mc->eval : c->eval; /* the model's eval set */
    out->samples = e->samples ? e->samples : 512;
    out->calls = (out->samples + e->batch - 1) / e->batch;
    return NNFI_OK;
}

void cli_model_close(cli_model *m)
{
    if (m->host && m->model) m->host->close(m->model);
    memset(m, 0, sizeof *m);
}

int cli_find_experiment(const nnfi_campaign *c, const char *name_or_index, unsigned *xi)
{
    for (unsigned i = 0; i < c->experiments_count; i++)
        if (strcmp(c->experiments[i].name, name_or_index) == 0) {
            *xi = i;
            return 0;
        }
    uint64_t v;
    if (cli_parse_u64(name_or_index, &v) == 0 && v < c->experiments_count) {
        *xi = (unsigned)v;
        return 0;
    }
    return -1;
}

void cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') fprintf(f, "\\%c", ch);
        else if (ch < 0x20) fprintf(f, "\\u%04x", ch);
        else fputc(ch, f);
    }
    fputc('"', f);
}

static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig) { stop_signal = sig; }

volatile sig_atomic_t *cli_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    return &stop_signal;
}
