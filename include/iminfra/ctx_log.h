/* A logger carried by the ctx: the C form of the Go guide's log.FromContext(ctx).
 *
 * A ctx can hold a logger and fields; imi_ctx_log writes through that logger with those
 * fields, the call's own fields and the ctx's trace id, so that a handler needs the ctx
 * alone. A child ctx inherits its parent's logger and fields; imi_ctx_set_logger on the
 * child adds fields to the inherited ones (and may change the logger). mq handlers get
 * such a ctx: the subscription's logger (imi_mq_sub_opts.logger, else the mq handle's)
 * with "group" and "topic" fields.
 *
 * Threads: set the logger while one thread owns the ctx, before it is shared; logging
 * through a shared ctx is safe from any thread.
 */
#ifndef IMINFRA_CTX_LOG_H
#define IMINFRA_CTX_LOG_H

#include <stddef.h>
#include "iminfra/clog.h"
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Attaches lg (NULL: keep the inherited one) and fields, appended to the inherited ones.
 * Keys and string / bytes values are copied. IMI_ENOMEM, or IMI_EINVALID for a NULL ctx
 * or a field without a key. */
int imi_ctx_set_logger(imi_ctx *ctx, imi_logger *lg, const imi_field *fields, size_t n);
/* The logger of ctx or its nearest ancestor that has one; NULL when none. */
imi_logger *imi_ctx_logger(const imi_ctx *ctx);
/* The fields that go with it (*n of them); NULL and 0 when none. Valid while ctx lives. */
const imi_field *imi_ctx_log_fields(const imi_ctx *ctx, size_t *n);

/* One line through the ctx's logger: its fields, then these. No logger: nothing written. */
void imi_ctx_log(const imi_ctx *ctx, imi_log_level level, const char *msg,
                 const imi_field *fields, size_t n);
void imi_ctx_logf(const imi_ctx *ctx, imi_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define IMI_CTX_LOG_(ctx, lvl, msg, ...)                                                \
    do {                                                                              \
        const imi_field imi_cf_[] = { __VA_ARGS__ };                                  \
        imi_ctx_log((ctx), (lvl), (msg), imi_cf_, sizeof imi_cf_ / sizeof imi_cf_[0]); \
    } while (0)
/* IMI_CTX_INFO(ctx, "sent", IMI_FSTR("to", user)); needs >= 1 field (else imi_ctx_logf) */
#define IMI_CTX_DEBUG(ctx, msg, ...) IMI_CTX_LOG_(ctx, IMI_LOG_DEBUG, msg, __VA_ARGS__)
#define IMI_CTX_INFO(ctx, msg, ...)  IMI_CTX_LOG_(ctx, IMI_LOG_INFO, msg, __VA_ARGS__)
#define IMI_CTX_WARN(ctx, msg, ...)  IMI_CTX_LOG_(ctx, IMI_LOG_WARN, msg, __VA_ARGS__)
#define IMI_CTX_ERROR(ctx, msg, ...) IMI_CTX_LOG_(ctx, IMI_LOG_ERROR, msg, __VA_ARGS__)

#ifdef __cplusplus
}
#endif

#endif
