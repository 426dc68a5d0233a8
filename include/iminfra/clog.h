/* clog: structured logging.
 *
 * One line per call, json or console format, `service` and `trace_id` on every line,
 * typed fields, named sub-loggers, stderr/stdout/file output with size rotation.
 * A line is built in a thread-local buffer and written with one write(2) (by default;
 * see buffer_bytes and async for batches): no heap allocation per line once warm, and
 * lines from many threads never interleave or split.
 *
 * Keys are unique on a line:
 * - clog's own keys are ts, level, service, logger, trace_id, span_id, msg, truncated and
 *   duplicate_fields. A field with one of these names, or whose name starts with
 *   "fields.", is written as "fields.<name>" (level -> fields.level, fields.x ->
 *   fields.fields.x), so the real level stays the only "level" and the original name is
 *   the key minus one "fields." prefix.
 * - A field whose key (as written) is already on the line is dropped; the line then ends
 *   with "duplicate_fields":N. Invalid UTF-8 is written as U+FFFD, so "\xff" and "\xfe"
 *   are the same key. At most 256 fields are written per line (then "truncated":true).
 *
 * Console lines read back unambiguously: a key, value, logger name or service with a
 * space, '=', '"', '\\' or a control byte (or empty) is written as a JSON string
 * ("a b"="v w"); so is a message with '=', '"', '\\', a control byte or a leading '['.
 *
 * Threads: loggers are safe to use from many threads; close a root only after every
 * thread stopped logging through it or its sub-loggers.
 */
#ifndef IMINFRA_CLOG_H
#define IMINFRA_CLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum imi_log_level {
    IMI_LOG_DEBUG = 0,
    IMI_LOG_INFO  = 1,
    IMI_LOG_WARN  = 2,
    IMI_LOG_ERROR = 3,
    IMI_LOG_OFF   = 4
} imi_log_level;

typedef enum imi_log_format {
    IMI_LOG_JSON = 0,
    IMI_LOG_CONSOLE = 1
} imi_log_format;

typedef enum imi_log_on_full {
    IMI_LOG_BLOCK = 0, /* the caller waits until the writer thread makes room */
    IMI_LOG_DROP = 1   /* the line is dropped and counted */
} imi_log_on_full;

typedef enum imi_field_type {
    IMI_F_STR, IMI_F_INT, IMI_F_UINT,
    /* Always reads back as the same double: the shortest fixed form with at most 6
     * decimals when one round-trips and |x| < 9e9 (0.375, 12.5; written without libc),
     * else %.17g (1e-07 -> 9.9999999999999995e-08). NaN and infinities as the strings
     * "NaN", "Infinity", "-Infinity". */
    IMI_F_DOUBLE,
    IMI_F_BOOL,
    IMI_F_ERR,      /* an imi error code: written as its name, e.g. "IMI_ETIMEDOUT" */
    IMI_F_DURATION, /* nanoseconds: written as a number of milliseconds with fraction */
    IMI_F_BYTES     /* arbitrary bytes: escaped as a JSON string, invalid UTF-8 as \ufffd */
} imi_field_type;

typedef struct imi_field {
    const char *key;
    imi_field_type type;
    union {
        const char *s;
        int64_t i;
        uint64_t u;
        double d;
        bool b;
        int err;
        int64_t ns;
        struct { const void *ptr; size_t len; } bytes;
    } v;
} imi_field;

#define IMI_FSTR(k, x)   ((imi_field){ .key = (k), .type = IMI_F_STR, .v.s = (x) })
#define IMI_FINT(k, x)   ((imi_field){ .key = (k), .type = IMI_F_INT, .v.i = (int64_t)(x) })
#define IMI_FUINT(k, x)  ((imi_field){ .key = (k), .type = IMI_F_UINT, .v.u = (uint64_t)(x) })
#define IMI_FDBL(k, x)   ((imi_field){ .key = (k), .type = IMI_F_DOUBLE, .v.d = (double)(x) })
#define IMI_FBOOL(k, x)  ((imi_field){ .key = (k), .type = IMI_F_BOOL, .v.b = (x) })
#define IMI_FERR(k, x)   ((imi_field){ .key = (k), .type = IMI_F_ERR, .v.err = (x) })
#define IMI_FDUR(k, x)   ((imi_field){ .key = (k), .type = IMI_F_DURATION, .v.ns = (int64_t)(x) })
#define IMI_FBYTES(k, p, n) \
    ((imi_field){ .key = (k), .type = IMI_F_BYTES, .v.bytes = { (p), (n) } })

typedef struct imi_log_options {
    const char *service;      /* written as "service" on every line; NULL: omitted */
    imi_log_level level;
    imi_log_format format;
    /* "stderr" (NULL too), "stdout", a file path, or "discard": lines are formatted and
     * dropped (for benchmarks). */
    const char *output;
    uint64_t rotate_bytes;    /* file output: rotate to <path>.1 past this size; 0: never */
    unsigned rotate_keep;     /* rotated files kept: <path>.1 ... <path>.N (default 3) */
    /* 0 (the default): one write(2) per line. Else lines are gathered in a buffer of this
     * many bytes (IMI_LOG_BUFFER_MIN .. IMI_LOG_BUFFER_MAX) and written as a batch of whole
     * lines: when the buffer is full, at every WARN or ERROR line, every flush_interval_ms,
     * on close, at exit() and before the default action of a fatal signal (SIGSEGV, SIGBUS,
     * SIGILL, SIGFPE, SIGABRT, SIGTERM whose handler is the default one). */
    size_t buffer_bytes;
    int64_t flush_interval_ms; /* 0: 200; IMI_LOG_FLUSH_MIN_MS .. IMI_LOG_FLUSH_MAX_MS */
    /* Lines go into a bounded ring (twice buffer_bytes, 2 x 256 KiB when buffer_bytes is
     * 0) that one writer thread drains with writev: the caller formats, reserves room with
     * one atomic step and copies the line in; no lock and no allocation on its path, and
     * the writer is woken only when it sleeps and has a reason (a WARN line, the ring a
     * quarter full, a caller waiting for room, flush_interval).
     * When the queue is full, on_full says whether the caller waits or the line is dropped;
     * dropped lines are counted and reported by clog in a WARN line of their own,
     * {"msg":"clog: lines dropped, the log queue was full","dropped":N}. */
    bool async;
    imi_log_on_full on_full;
} imi_log_options;

#define IMI_LOG_BUFFER_MIN ((size_t)8192) /* one line of the longest kind fits */
#define IMI_LOG_BUFFER_MAX ((size_t)64 << 20)
#define IMI_LOG_FLUSH_MIN_MS 1
#define IMI_LOG_FLUSH_MAX_MS 60000

typedef struct imi_logger imi_logger;

/* Opens a root logger. Returns IMI_OK or IMI_EINVALID / IMI_EUNAVAILABLE (file). */
int imi_logger_open(const imi_log_options *opts, imi_logger **out);
/* A named sub-logger: lines carry "logger":"<parent name>.<name>". It shares the root's
 * output and level and lives until the root is closed; calling it again with the same
 * name returns the same logger. */
imi_logger *imi_logger_named(imi_logger *parent, const char *name);
/* Closes the root and all its sub-loggers. NULL is a no-op. */
void imi_logger_free(imi_logger *root);

void imi_logger_set_level(imi_logger *lg, imi_log_level level); /* root-wide, atomic */
imi_log_level imi_logger_level(const imi_logger *lg);
bool imi_log_enabled(const imi_logger *lg, imi_log_level level);

/* Writes one line. ctx may be NULL; its trace id, when set, is written as "trace_id". */
void imi_log(imi_logger *lg, imi_log_level level, const imi_ctx *ctx, const char *msg,
             const imi_field *fields, size_t n_fields);
/* printf-style message, no fields. */
void imi_logf(imi_logger *lg, imi_log_level level, const imi_ctx *ctx, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Level names: "debug", "info", "warn", "error", "off". Returns -1 for an unknown name. */
int imi_log_level_parse(const char *name);
const char *imi_log_level_name(imi_log_level level);

#define IMI_LOG_FIELDS_(lg, lvl, ctx, msg, ...)                                       \
    do {                                                                              \
        if (imi_log_enabled((lg), (lvl))) {                                           \
            const imi_field imi_f_[] = { __VA_ARGS__ };                               \
            imi_log((lg), (lvl), (ctx), (msg), imi_f_, sizeof imi_f_ / sizeof imi_f_[0]); \
        }                                                                             \
    } while (0)
/* IMI_INFO(lg, ctx, "user login", IMI_FSTR("user", u), IMI_FINT("ms", 12)); needs >= 1 field */
#define IMI_DEBUG(lg, ctx, msg, ...) IMI_LOG_FIELDS_(lg, IMI_LOG_DEBUG, ctx, msg, __VA_ARGS__)
#define IMI_INFO(lg, ctx, msg, ...)  IMI_LOG_FIELDS_(lg, IMI_LOG_INFO, ctx, msg, __VA_ARGS__)
#define IMI_WARN(lg, ctx, msg, ...)  IMI_LOG_FIELDS_(lg, IMI_LOG_WARN, ctx, msg, __VA_ARGS__)
#define IMI_ERROR(lg, ctx, msg, ...) IMI_LOG_FIELDS_(lg, IMI_LOG_ERROR, ctx, msg, __VA_ARGS__)

#ifdef __cplusplus
}
#endif
#endif
