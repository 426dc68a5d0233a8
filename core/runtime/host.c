/* The host table: what the core lends a driver, so that drivers never link libiminfra. */
#include <stdarg.h>
#include <stdio.h>
#include "iminfra/buf.h"
#include "iminfra/clog.h"
#include "instance.h"

/* What a driver's log line or error says when it passed no format. */
#define NO_MESSAGE "(the driver gave no message)"

static void host_log(void *logger, imi_host_log_level level, const imi_ctx *ctx,
                     const char *fmt, ...)
{
    imi_logger *lg = logger;
    if (!lg || !imi_log_enabled(lg, (imi_log_level)level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : NO_MESSAGE, ap);
    va_end(ap);
    imi_log(lg, (imi_log_level)level, ctx, msg, NULL, 0);
}

static int host_error(int code, long native, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt ? fmt : NO_MESSAGE, ap);
    va_end(ap);
    return imi_error_set(code, native, "%s", msg);
}

const imi_host_api imi_host = {
    .size = sizeof(imi_host_api),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .log = host_log,
    .error = host_error,
    .mono_ns = imi_now_mono_ns,
    .real_ns = imi_now_real_ns,
    .ctx_err = imi_ctx_err,
    .ctx_remaining_ms = imi_ctx_remaining_ms,
    .ctx_deadline_ns = imi_ctx_deadline_ns,
    .ctx_trace_id = imi_ctx_trace_id,
    .ctx_canceled = imi_ctx_canceled,
    .buf_set = imi_buf_set,
    .buf_append = imi_buf_append,
};
