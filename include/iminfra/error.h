/* Portable error codes and the detail of the last failure on the calling thread.
 * Threads: the error detail is per thread: a failure on one thread never changes another's.
 */
#ifndef IMINFRA_ERROR_H
#define IMINFRA_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

/* X(NAME, value, message): the one list the enum, imi_strerror and imi_err_name come from. */
#define IMI_ERRNO_MAP(X)                                                   \
    X(OK,           0, "ok")                                               \
    X(ENOTFOUND,   -1, "not found")                                        \
    X(EEXISTS,     -2, "already exists")                                   \
    X(EINVALID,    -3, "invalid argument")                                 \
    X(ETIMEDOUT,   -4, "deadline exceeded")                                \
    X(ECANCELED,   -5, "canceled")                                         \
    X(EUNAVAILABLE,-6, "backend unavailable")                              \
    X(ECONFLICT,   -7, "conflict")                                         \
    X(ENOTSUP,     -8, "operation not supported by this driver")           \
    X(EOPEN,       -9, "circuit breaker open")                             \
    X(ELIMITED,   -10, "rate limited")                                     \
    X(ECONFIG,    -11, "configuration error")                              \
    X(EDRIVER,    -12, "driver error")                                     \
    X(ENOMEM,     -13, "out of memory")                                    \
    X(ECLOSED,    -14, "handle closed")                                    \
    X(EINTERNAL,  -15, "internal error")

typedef enum imi_errno {
#define IMI_ERRNO_ENUM_(name, val, msg) IMI_##name = (val),
    IMI_ERRNO_MAP(IMI_ERRNO_ENUM_)
#undef IMI_ERRNO_ENUM_
    IMI_ERRNO_MIN_ = -15
} imi_errno;

/* "deadline exceeded" for IMI_ETIMEDOUT; "unknown error" for anything else unknown. */
const char *imi_strerror(int code);
/* "IMI_ETIMEDOUT" for IMI_ETIMEDOUT; "IMI_E?" for an unknown code. */
const char *imi_err_name(int code);

/* The detail of the last failure on this thread: set by the call that failed (core or
 * driver), kept until the next failure or imi_error_clear(). The message is "" when the
 * last failure set none; native is the backend's own code (errno, SQLSTATE number, redis
 * reply type ...) or 0. */
int imi_error_code(void);
const char *imi_error_message(void);
long imi_error_native(void);
void imi_error_clear(void);

/* Records the detail and returns code, so that `return imi_error_set(...)` reads well.
 * Used by the core, and by drivers through the host table. */
int imi_error_set(int code, long native, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#ifdef __cplusplus
}
#endif
#endif
