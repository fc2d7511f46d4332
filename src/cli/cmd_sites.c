/* cmd_sites.c - `nnfi sites MODEL|CAMPAIGN.yaml`: every site of a model with
 * kind, dtype, shape and element count (table or --format json). A campaign
 * file names its models (pick one with --model); any other argument is a
 * TorchScript file for the torch host, whose activation sites follow --ops
 * and --fused (as models[].ops / models[].fused would). */
#include "cli.h"
#include "nnfi/eval_set.h"

#include "nnfi/registry.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *usage =
    "nnfi sites MODEL.pt | CAMPAIGN.yaml [--model NAME] [--ops OP,...] [--fused] [--input-shape D,D,... | --eval FILE.h5 [--images NAME]] [--input-dtype T] [--format table|json]";

#define MAX_OPS 256

/* "a,b,c" -> ops[] (pointers into `list`, which is edited); the count, or -1. */
static int split_ops(char *list, char **ops)
{
    int n = 0;
    for (char *p = list, *next; p; p = next) {
        next = strchr(p, ',');
        if (next) *next++ = '\0';
        if (!*p) continue;
        if (n == MAX_OPS) return -1;
        ops[n++] = p;
    }
    return n;
}

static int is_yaml(const char *p)
{
    size_t n = strlen(p);
    return (n > 5 && strcmp(p + n - 5, ".yaml") == 0) || (n > 4 && strcmp(p + n - 4, ".yml") == 0);
}

static void shape_text(const nnfi_site *s, char *out, size_t n)
{
    size_t used = (size_t)snprintf(out, n, "[");
    for (int d = 0; d < s->ndim && used < n; d++)
        used += (size_t)snprintf(out + used, n - used, "%s%" PRId64, d ? ", " : "", s->shape[d]);
    if (used < n) snprintf(out + used, n - used, "]");
}

static void print_sites(const char *model, const nnfi_model_host *h, const nnfi_site *sites, size_t n, cli_format fmt)
{
    uint64_t params = 0;
    char shape[160];
    if (fmt == CLI_JSON) {
        printf("{\"model\": ");
        cli_json_string(stdout, model);
        printf(", \"host\": \"%s\", \"sites\": [", h->name);
    } else {
        printf("# model %s (host %s): %zu sites; activation/input/state shapes are per sample\n", model, h->name, n);
        printf("%-40s %-10s %-6s %-20s %12s\n", "site", "kind", "dtype", "shape", "elements");
    }
    for (size_t i = 0; i < n; i++) {
        const nnfi_site *s = &sites[i];
        shape_text(s, shape, sizeof shape);
        if (s->kind == NNFI_SITE_PARAM || s->kind == NNFI_SITE_BUFFER) params += s->numel;
        if (fmt == CLI_JSON) {
            printf("%s\n  {\"name\": ", i ? "," : "");
            cli_json_string(stdout, s->name);
            printf(", \"kind\": \"%s\", \"dtype\": \"%s\", \"shape\": %s, \"numel\": %" PRIu64 "}",
                   nnfi_site_kind_name(s->kind), nnfi_dtype_name(s->dtype), shape, s->numel);
        } else {
            printf("%-40s %-10s %-6s %-20s %12" PRIu64 "\n", s->name, nnfi_site_kind_name(s->kind),
                   nnfi_dtype_name(s->dtype), shape, s->numel);
        }
    }
    if (fmt == CLI_JSON) printf("\n], \"parameter_elements\": %" PRIu64 "}\n", params);
    else printf("# %" PRIu64 " parameter and buffer elements\n", params);
}

int cmd_sites(int argc, char **argv)
{
    const char *arg = NULL, *model_name = NULL;
    char *ops_arg = NULL, *ops[MAX_OPS];
    int n_ops = 0, fused = 0, in_ndim = 0;
    int64_t in_shape[8];
    const char *eval_file = NULL, *images = NULL;
    int in_dtype = -1;
    cli_format fmt = CLI_TABLE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("%s\n\nList every site of a model: name, kind, dtype, shape, element count.\n\n"
                   "  --model NAME   which model of the campaign (default: the first)\n"
                   "  --ops OP,...   operator kinds whose outputs become activation sites, as models[].ops:\n"
                   "                 default (the built-in list), aten::softmax, softmax (= aten::softmax)\n"
                   "  --fused        keep PyTorch's fused transformer kernels (models[].fused: true)\n"
                   "  --input-shape D,D,...  a MODEL.pt's per-sample input shape, e.g. 3,32,32 (else its\n"
                   "                 input_shape attribute, else 1,28,28; a campaign takes it from its eval set)\n"
                   "  --eval FILE.h5 take the input shape and dtype from this eval set's images\n"
                   "  --images NAME  the images dataset of --eval (default images; charlm's: tokens)\n"
                   "  --input-dtype T  what the model takes: float32 (default), float16, bfloat16, int64 (token\n"
                   "                 ids); else the --eval images' dtype\n"
                   "  --format F     table (default) or json\n", usage);
            return CLI_OK;
        } else if (strcmp(a, "--fused") == 0) {
            fused = 1;
        } else if (strcmp(a, "--model") == 0 || strcmp(a, "--format") == 0 || strcmp(a, "--ops") == 0 ||
                   strcmp(a, "--input-shape") == 0 || strcmp(a, "--eval") == 0 || strcmp(a, "--images") == 0 ||
                   strcmp(a, "--input-dtype") == 0) {
            if (i + 1 >= argc) return cli_usage_error("sites", usage, "%s needs a value", a);
            const char *v = argv[++i];
            if (strcmp(a, "--model") == 0) model_name = v;
            else if (strcmp(a, "--eval") == 0) eval_file = v;
            else if (strcmp(a, "--images") == 0) images = v;
            else if (strcmp(a, "--input-dtype") == 0) {
                static const struct { const char *w; nnfi_dtype dt; } dts[] = {
                    {"float32", NNFI_DT_F32}, {"float16", NNFI_DT_F16}, {"bfloat16", NNFI_DT_BF16}, {"int64", NNFI_DT_I64}};
                in_dtype = -1;
                for (size_t k = 0; k < sizeof dts / sizeof dts[0]; k++)
                    if (strcmp(v, dts[k].w) == 0) in_dtype = (int)dts[k].dt;
                if (in_dtype < 0)
                    return cli_usage_error("sites", usage, "--input-dtype is float32, float16, bfloat16 or int64 (got "
                                           "'%s')", v);
            }
            else if (strcmp(a, "--input-shape") == 0) {
                in_ndim = 0;
                for (const char *q = v; *q;) {
                    char *end;
                    long long d = strtoll(q, &end, 10);
                    if (end == q || d <= 0 || in_ndim == 7 || (*end && *end != ','))
                        return cli_usage_error("sites", usage, "--input-shape takes 1 to 7 positive sizes, e.g. "
                                               "3,32,32 (got '%s')", v);
                    in_shape[in_ndim++] = d;
                    q = *end ? end + 1 : end;
                }
            }
            else if (strcmp(a, "--ops") == 0) {
                ops_arg = argv[i];
                if ((n_ops = split_ops(ops_arg, ops)) <= 0)
                    return cli_usage_error("sites", usage, "--ops needs 1 to %d operator names, comma-separated",
                                           MAX_OPS);
            }
            else if (cli_parse_format(v, &fmt) || fmt == CLI_CSV)
                return cli_usage_error("sites", usage, "unknown format '%s' (table, json)", v);
        } else if (a[0] == '-' && a[1]) {
            return cli_usage_error("sites", usage, "unknown option '%s'", a);
        } else if (!arg) {
            arg = a;
        } else {
            return cli_usage_error("sites", usage, "unexpected argument '%s'", a);
        }
    }
    if (!arg) return cli_usage_error("sites", usage, "no model or campaign file given");
    nnfi_status st;
    if (is_yaml(arg)) {
        if (n_ops || fused || in_ndim || eval_file || images || in_dtype >= 0)
            return cli_usage_error("sites", usage, "--ops, --fused, --input-shape, --input-dtype, --eval and --images "
                                   "apply to a MODEL.pt; in a campaign set models[].ops, models[].fused and eval");
        nnfi_campaign *c = NULL;
        if ((st = nnfi_campaign_load(arg, &c)) != NNFI_OK) return cli_fail(st);
        if (!model_name) model_name = c->models[0].name;
        cli_model m;
        st = cli_model_open(c, model_name, &m);
        if (st == NNFI_E_NOTFOUND) {
            fprintf(stderr, "nnfi sites: campaign %s has no model '%s'\n  hint: models:", arg, model_name);
            for (unsigned i = 0; i < c->models_count; i++) fprintf(stderr, " %s", c->models[i].name);
            fprintf(stderr, "\n");
            nnfi_campaign_free(c);
            return CLI_USAGE;
        }
        if (st == NNFI_OK) {
            print_sites(model_name, m.host, m.sites, m.n_sites, fmt);
            cli_model_close(&m);
        }
        nnfi_campaign_free(c);
        return st == NNFI_OK ? CLI_OK : cli_fail(st);
    }
    if (model_name) return cli_usage_error("sites", usage, "--model only applies to a campaign file");
    if (images && !eval_file) return cli_usage_error("sites", usage, "--images names a dataset of --eval FILE.h5");
    const nnfi_model_host *h = NULL;
    if ((st = nnfi_host_lookup(NNFI_HOST_TORCH, &h)) != NNFI_OK) return cli_fail(st);
    nnfi_model_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.name = (char *)"model";
    cfg.host = NNFI_HOST_TORCH;
    cfg.path = (char *)arg;
    cfg.ops = n_ops ? ops : NULL;
    cfg.ops_count = (unsigned)n_ops;
    cfg.fused = fused != 0;
    if (eval_file && !in_ndim) { /* the shape of the eval set's images, as a campaign would take it */
        nnfi_campaign probe;
        nnfi_eval_cfg ev;
        memset(&probe, 0, sizeof probe);
        memset(&ev, 0, sizeof ev);
        ev.path = (char *)eval_file;
        ev.images = (char *)(images ? images : "images");
        probe.eval = &ev;
        probe.source_dir = (char *)".";
        nnfi_model_cfg with_input;
        nnfi_eval_model_cfg(&probe, &cfg, &with_input);
        if (!with_input.input_ndim)
            return cli_fail(NNFI_FAIL(NNFI_E_IO, "%s: no readable dataset '%s' of [samples, ...]\n  hint: --eval "
                                                 "names an eval set (HDF5 with images and labels; --images NAME "
                                                 "for another dataset)", eval_file, ev.images));
        cfg = with_input;
    }
    for (int d = 0; d < in_ndim; d++) cfg.input_shape[d] = in_shape[d];
    if (in_ndim) cfg.input_ndim = in_ndim;
    if (in_dtype >= 0) cfg.input_dtype = (nnfi_dtype)in_dtype;
    nnfi_model *m = NULL;
    if ((st = h->open(&cfg, ".", 0, &m)) != NNFI_OK) return cli_fail(st);
    print_sites(arg, h, h->sites(m), h->n_sites(m), fmt);
    h->close(m);
    return CLI_OK;
}
