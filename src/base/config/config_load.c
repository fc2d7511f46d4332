/* config_load.c - the campaign loader's driver and public API.
 *
 * nnfi_campaign_read_file() (the bounded read: fstat first, no directories,
 * nothing over NNFI_CONFIG_MAX_BYTES), nnfi_campaign_load_text() (pass 1: an
 * event scan with depth, size and document bounds, then libyaml's node tree;
 * pass 2: config_walk.c; pass 3: libcyaml's load, then config_checks.c),
 * nnfi_campaign_load() and nnfi_campaign_free(). The passes are described in
 * config_internal.h.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* strdup */
#endif
#include "config_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct cyaml_log_buf {
    char text[2048];
    size_t used;
} cyaml_log_buf;

static void cyaml_log_capture(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
    cyaml_log_buf *b = ctx;
    if (level < CYAML_LOG_ERROR || b->used >= sizeof b->text) return;
    int n = vsnprintf(b->text + b->used, sizeof b->text - b->used, fmt, args);
    if (n > 0) b->used += (size_t)n;
    if (b->used >= sizeof b->text) b->used = sizeof b->text - 1;
}

static char *default_name(const char *file)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    size_t n = strcspn(base, ".");
    if (n == 0 || n > 60) return strdup("campaign");
    char *s = malloc(n + 1);
    if (!s) return NULL;
    memcpy(s, base, n);
    s[n] = '\0';
    return s;
}

static char *dir_of(const char *file)
{
    const char *slash = strrchr(file, '/');
    if (!slash) return strdup(".");
    size_t n = (size_t)(slash - file);
    char *s = malloc(n + 2);
    if (!s) return NULL;
    memcpy(s, file, n ? n : 1);
    s[n ? n : 1] = '\0';
    return s;
}

/* A libyaml failure as a located message. Reader errors (bad UTF-8, control
 * characters) carry a byte offset instead of a mark: count lines up to it. */
static nnfi_status syntax_error(const char *name, const yaml_parser_t *parser, const char *text, size_t len)
{
    if (parser->error == YAML_MEMORY_ERROR) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory parsing %s", name);
    int line = nnfi_cfg_mark_line(parser->problem_mark), col = nnfi_cfg_mark_col(parser->problem_mark);
    char what[512];
    if (parser->error == YAML_READER_ERROR) {
        size_t off = parser->problem_offset < len ? parser->problem_offset : len, bol = 0;
        line = 1;
        for (size_t i = 0; i < off; i++)
            if (text[i] == '\n') {
                if (line < INT_MAX) line++;
                bol = i + 1;
            }
        col = off - bol < INT_MAX ? (int)(off - bol) + 1 : INT_MAX;
        snprintf(what, sizeof what, "YAML syntax error: %s (byte 0x%02x)", parser->problem ? parser->problem : "?",
                 (unsigned)parser->problem_value & 0xffu);
        return nnfi_cfg_fail_at(name, line, col, "", what, "campaign files are UTF-8 text without control characters");
    }
    if (parser->context)
        snprintf(what, sizeof what, "YAML syntax error: %s %s (started at line %d, column %d)",
                 parser->problem ? parser->problem : "?", parser->context, nnfi_cfg_mark_line(parser->context_mark),
                 nnfi_cfg_mark_col(parser->context_mark));
    else
        snprintf(what, sizeof what, "YAML syntax error: %s", parser->problem ? parser->problem : "?");
    return nnfi_cfg_fail_at(name, line, col, "", what,
                            "check indentation (spaces, not tabs), colons and brackets near here");
}

/* Pass 1a: the event stream alone, before any tree is built, so that bounds
 * stop a hostile file early: one document, nesting up to NNFI_CONFIG_MAX_DEPTH
 * (libyaml itself has no limit, and its scanner is quadratic in the flow
 * nesting depth), at most NNFI_CONFIG_MAX_NODES values. Syntax errors are
 * found (and reported) here. */
static nnfi_status scan_events(const char *text, size_t len, const char *name)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    size_t depth = 0, nodes = 0, docs = 0;
    char what[160];
    nnfi_status st = NNFI_OK;
    for (;;) {
        yaml_event_t ev;
        if (!yaml_parser_parse(&parser, &ev)) {
            st = syntax_error(name, &parser, text, len);
            break;
        }
        yaml_event_type_t type = ev.type;
        yaml_mark_t at = ev.start_mark;
        yaml_event_delete(&ev);
        if (type == YAML_STREAM_END_EVENT) break;
        if (type == YAML_DOCUMENT_START_EVENT && ++docs > 1) {
            st = nnfi_cfg_fail_at(name, nnfi_cfg_mark_line(at), nnfi_cfg_mark_col(at), "",
                                  "a second YAML document",
                                  "a campaign file holds one document: remove this '---' and what follows it");
            break;
        }
        if (type == YAML_SEQUENCE_START_EVENT || type == YAML_MAPPING_START_EVENT) {
            if (++depth > NNFI_CONFIG_MAX_DEPTH) {
                snprintf(what, sizeof what, "lists and mappings nested more than %u levels deep",
                         NNFI_CONFIG_MAX_DEPTH);
                st = nnfi_cfg_fail_at(name, nnfi_cfg_mark_line(at), nnfi_cfg_mark_col(at), "", what,
                                      "a campaign is at most six levels deep: look for unbalanced '[' or '{'");
                break;
            }
        } else if (type == YAML_SEQUENCE_END_EVENT || type == YAML_MAPPING_END_EVENT) {
            depth--;
        }
        if ((type == YAML_SCALAR_EVENT || type == YAML_ALIAS_EVENT || type == YAML_SEQUENCE_START_EVENT ||
             type == YAML_MAPPING_START_EVENT) &&
            ++nodes > NNFI_CONFIG_MAX_NODES) {
            snprintf(what, sizeof what, "more than %u values in one campaign", NNFI_CONFIG_MAX_NODES);
            st = nnfi_cfg_fail_at(name, nnfi_cfg_mark_line(at), nnfi_cfg_mark_col(at), "", what,
                                  "split the campaign into several files");
            break;
        }
    }
    yaml_parser_delete(&parser);
    return st;
}

nnfi_status nnfi_campaign_load_text(const char *text, size_t len, const char *name,
                                    nnfi_campaign **out)
{
    *out = NULL;
    if (len > NNFI_CONFIG_MAX_BYTES) {
        char what[160];
        snprintf(what, sizeof what, "campaign text of %zu bytes is over the %u MiB limit", len,
                 NNFI_CONFIG_MAX_BYTES >> 20);
        return nnfi_cfg_fail_at(name, 1, 1, "", what, "is this the right file? campaign files are a few KB");
    }
    NNFI_TRY(scan_events(text, len, name));

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        nnfi_status st = syntax_error(name, &parser, text, len);
        yaml_parser_delete(&parser);
        return st;
    }
    yaml_parser_delete(&parser);

    struct nnfi_config_index *ix = nnfi_cfg_index_new(name);
    if (!ix) {
        yaml_document_delete(&doc);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    char *patched = malloc(len + 1);
    if (!patched) {
        nnfi_cfg_index_free(ix);
        yaml_document_delete(&doc);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    memcpy(patched, text, len);
    patched[len] = '\0';
    nnfi_cfg_walk ctx = {name, &doc, ix, 0, patched};
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    nnfi_status st;
    if (!root) {
        st = nnfi_cfg_fail_at(name, 1, 1, "", "the file is empty",
                              "a campaign needs at least 'seed', 'models' and 'experiments' (see README)");
    } else {
        st = nnfi_cfg_check_value(&ctx, root, &nnfi_cfg_campaign_schema, "");
    }
    yaml_document_delete(&doc);
    if (st != NNFI_OK) {
        free(patched);
        nnfi_cfg_index_free(ix);
        return st;
    }

    cyaml_log_buf logbuf = {{0}, 0};
    cyaml_config_t cfg = {.log_fn = cyaml_log_capture,
                          .log_ctx = &logbuf,
                          .mem_fn = cyaml_mem,
                          .log_level = CYAML_LOG_ERROR,
                          .flags = CYAML_CFG_DEFAULT};
    nnfi_campaign *c = NULL;
    cyaml_err_t err = cyaml_load_data((const uint8_t *)patched, len, &cfg, &nnfi_cfg_campaign_schema,
                                      (cyaml_data_t **)&c, NULL);
    free(patched);
    if (err != CYAML_OK) {
        nnfi_cfg_index_free(ix);
        if (err == CYAML_ERR_OOM) return NNFI_FAIL(NNFI_E_NOMEM, "out of memory loading %s", name);
        /* pass 2 should refuse everything libcyaml refuses: this is our bug */
        return NNFI_FAIL(NNFI_E_BACKEND,
                         "%s:1:1: (top level): libcyaml refused a file that passed nnfi's own checks: %s\n%s"
                         "  hint: this is a bug in nnfi's campaign loader; please report it with this file",
                         name, cyaml_strerror(err), logbuf.text);
    }
    c->index = ix;
    c->source_path = strdup(name);
    c->source_dir = dir_of(name);
    c->source_text = malloc(len + 1);
    if (!c->source_path || !c->source_dir || !c->source_text) {
        nnfi_campaign_free(c);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    memcpy(c->source_text, text, len);
    c->source_text[len] = '\0';
    c->hash = nnfi_cfg_fnv1a(text, len);
    if (!c->name) c->name = default_name(name);
    if (!c->name) {
        nnfi_campaign_free(c);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    st = nnfi_cfg_check_semantics(c);
    if (st != NNFI_OK) {
        nnfi_campaign_free(c);
        return st;
    }
    *out = c;
    return NNFI_OK;
}

nnfi_status nnfi_campaign_read_file(const char *path, char **text, size_t *len_out)
{
    *text = NULL;
    *len_out = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot open campaign file: %s\n  hint: check the path", path,
                         strerror(errno));
    /* stat first: a huge file is refused before a byte of it is read */
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        return NNFI_FAIL(NNFI_E_IO, "%s: cannot stat campaign file: %s\n  hint: check the path", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        fclose(f);
        return NNFI_FAIL(NNFI_E_IO, "%s: is a directory, not a campaign file\n  hint: name the .yaml file in it", path);
    }
    if (S_ISREG(sb.st_mode) && (uintmax_t)sb.st_size > NNFI_CONFIG_MAX_BYTES) {
        fclose(f);
        char what[160];
        snprintf(what, sizeof what, "campaign file of %.1f MiB is over the %u MiB limit",
                 (double)sb.st_size / (1024.0 * 1024.0), NNFI_CONFIG_MAX_BYTES >> 20);
        return nnfi_cfg_fail_at(path, 1, 1, "", what, "is this the right file? campaign files are a few KB");
    }
    /* Pipes and devices have no size: read at most one byte over the limit. */
    size_t cap = S_ISREG(sb.st_mode) && sb.st_size > 0 ? (size_t)sb.st_size + 1 : 16384, len = 0;
    char *buf = malloc(cap);
    if (!buf) {
        fclose(f);
        return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
    }
    for (;;) {
        if (len == cap) {
            if (cap > NNFI_CONFIG_MAX_BYTES) break;
            size_t ncap = 2 * cap > (size_t)NNFI_CONFIG_MAX_BYTES + 1 ? (size_t)NNFI_CONFIG_MAX_BYTES + 1 : 2 * cap;
            char *nb = realloc(buf, ncap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NNFI_FAIL(NNFI_E_NOMEM, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        size_t got = fread(buf + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NNFI_FAIL(NNFI_E_IO, "%s: read error\n  hint: check the file system", path);
    }
    if (len > NNFI_CONFIG_MAX_BYTES) {
        free(buf);
        char what[160];
        snprintf(what, sizeof what, "campaign text of %zu bytes is over the %u MiB limit", len,
                 NNFI_CONFIG_MAX_BYTES >> 20);
        return nnfi_cfg_fail_at(path, 1, 1, "", what, "is this the right file? campaign files are a few KB");
    }
    buf[len] = '\0'; /* cap > len here: the loop stops at len < cap or at cap > the limit */
    *text = buf;
    *len_out = len;
    return NNFI_OK;
}

nnfi_status nnfi_campaign_load(const char *path, nnfi_campaign **out)
{
    *out = NULL;
    char *text = NULL;
    size_t len = 0;
    NNFI_TRY(nnfi_campaign_read_file(path, &text, &len));
    nnfi_status st = nnfi_campaign_load_text(text, len, path, out);
    free(text);
    return st;
}

void nnfi_campaign_free(nnfi_campaign *c)
{
    if (!c) return;
    nnfi_cfg_free_fault_models(c);
    nnfi_cfg_index_free(c->index);
    free(c->source_path);
    free(c->source_dir);
    free(c->source_text);
    c->index = NULL;
    c->source_path = c->source_dir = c->source_text = NULL;
    cyaml_config_t cfg = {.mem_fn = cyaml_mem, .log_level = CYAML_LOG_ERROR, .log_fn = NULL};
    cyaml_free(&cfg, &nnfi_cfg_campaign_schema, c, 0);
}
