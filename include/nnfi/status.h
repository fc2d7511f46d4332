/* status.h - the one status type of nnfi and the error-detail channel.
 *
 * Every library function returns an nnfi_status. On failure it also records a
 * human-readable message (what went wrong, where, and a hint the user can act
 * on) in a thread-local buffer that the caller reads with nnfi_error_message().
 * Library code never calls exit(); only main() decides to stop.
 *
 * Usage:
 *   nnfi_status st = nnfi_campaign_load(path, &c);
 *   if (st != NNFI_OK) { fprintf(stderr, "nnfi: %s\n", nnfi_error_message()); ... }
 *
 * Inside the library:
 *   return NNFI_FAIL(NNFI_E_CONFIG, "%s:%d:%d: %s: %s\n  hint: %s", ...);
 * NNFI_FAIL records the message (with the C file:line in debug builds' trace)
 * and evaluates to the status, so it can be returned directly.
 */
#ifndef NNFI_STATUS_H
#define NNFI_STATUS_H

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nnfi_status {
    NNFI_OK = 0,
    NNFI_E_INVALID = 1,  /* an argument or value is out of range / inconsistent */
    NNFI_E_CONFIG = 2,   /* the campaign file is malformed */
    NNFI_E_IO = 3,       /* a file could not be read or written */
    NNFI_E_NOMEM = 4,    /* an allocation failed */
    NNFI_E_NOTFOUND = 5, /* a named thing (site, model, experiment) does not exist */
    NNFI_E_UNSUPPORTED = 6, /* valid request this build or backend cannot do */
    NNFI_E_BACKEND = 7,  /* a foreign library (MPI, HDF5, CUDA, torch) failed */
    NNFI_E_TIMEOUT = 8,  /* a device wait passed its deadline (the watchdog) */
    NNFI_STOP = 9        /* not an error: a site hook ended a forward on purpose (the engine's
                          * fault dropping: the result is known); carries no message */
} nnfi_status;

/* Short name of a status ("ok", "invalid", ...). Never NULL; static storage. */
const char *nnfi_status_name(nnfi_status st);

/* Record the error message for the calling thread and return st.
 * src_file/src_line are the C source location (kept for --verbose traces). */
nnfi_status nnfi_error_set(nnfi_status st, const char *src_file, int src_line,
                           const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* The calling thread's last error message ("" if none). Borrowed pointer,
 * valid until the next nnfi_error_set on this thread. */
const char *nnfi_error_message(void);

/* "file.c:123" of the last error on this thread ("" if none). Borrowed. */
const char *nnfi_error_origin(void);

/* Forget the calling thread's last error. */
void nnfi_error_clear(void);

#define NNFI_FAIL(st, ...) nnfi_error_set((st), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a failing status unchanged (the message is already recorded). */
#define NNFI_TRY(expr)                                                         \
    do {                                                                       \
        nnfi_status nnfi_try_st_ = (expr);                                     \
        if (nnfi_try_st_ != NNFI_OK) return nnfi_try_st_;                      \
    } while (0)

#ifdef __cplusplus
}
#endif
#endif /* NNFI_STATUS_H */
