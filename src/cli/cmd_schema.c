/* cmd_schema.c - `nnfi schema [OUT.json]`: the result-file schema (the
 * /trials columns with dtypes, units, descriptions) as JSON, generated from
 * the X-macro in include/nnfi/results.h; analysis/ checks files against it. */
#include "cli.h"

#include <string.h>

#include "nnfi/results.h"

int cmd_schema(int argc, char **argv)
{
    static const char *usage = "nnfi schema [OUT.json]   (default: standard output)";
    const char *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("%s\n\nWrite the result schema (columns of /trials) as JSON.\n", usage);
            return CLI_OK;
        } else if (argv[i][0] == '-' && argv[i][1]) {
            return cli_usage_error("schema", usage, "unknown option '%s'", argv[i]);
        } else if (!out) {
            out = argv[i];
        } else {
            return cli_usage_error("schema", usage, "unexpected argument '%s'", argv[i]);
        }
    }
    nnfi_status st = nnfi_write_schema_json(out ? out : "/dev/stdout");
    return st == NNFI_OK ? CLI_OK : cli_fail(st);
}
