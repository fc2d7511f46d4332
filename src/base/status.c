/* status.c - thread-local error messages behind nnfi_status (see status.h). */
#include "nnfi/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char error_message[4096];
static _Thread_local char error_origin[256];

const char *nnfi_status_name(nnfi_status st)
{
    switch (st) {
    case NNFI_OK: return "ok";
    case NNFI_E_INVALID: return "invalid";
    case NNFI_E_CONFIG: return "config";
    case NNFI_E_IO: return "io";
    case NNFI_E_NOMEM: return "nomem";
    case NNFI_E_NOTFOUND: return "notfound";
    case NNFI_E_UNSUPPORTED: return "unsupported";
    case NNFI_E_BACKEND: return "backend";
    case NNFI_E_TIMEOUT: return "timeout";
    case NNFI_STOP: return "stop";
    }
    return "unknown";
}

nnfi_status nnfi_error_set(nnfi_status st, const char *src_file, int src_line,
                           const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(error_message, sizeof error_message, fmt, ap);
    va_end(ap);
    const char *base = strrchr(src_file, '/');
    snprintf(error_origin, sizeof error_origin, "%s:%d", base ? base + 1 : src_file,
             src_line);
    return st;
}

const char *nnfi_error_message(void) { return error_message; }
const char *nnfi_error_origin(void) { return error_origin; }

void nnfi_error_clear(void)
{
    error_message[0] = '\0';
    error_origin[0] = '\0';
}
