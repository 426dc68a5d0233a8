/* The logger carried by a ctx: one block holding the logger, the fields and copies of
 * their strings, so that the ctx frees it with one free(). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/ctx_log.h"
#include "iminfra/error.h"
#include "ctx_internal.h"

struct imi_ctx_log {
    imi_logger *lg;
    size_t n;
    imi_field *fields;   /* n fields, then the copied keys and values */
};

#define LOG_FIELDS_MAX 64   /* ctx fields plus a call's own, per line */

/* Bytes that field f owns beyond the struct: its key and string or bytes value. */
static size_t extra_of(const imi_field *f)
{
    size_t n = strlen(f->key) + 1;
    if (f->type == IMI_F_STR)
        n += f->v.s ? strlen(f->v.s) + 1 : 0;
    else if (f->type == IMI_F_BYTES)
        n += f->v.bytes.len;
    return n;
}

static char *copy_into(imi_field *dst, const imi_field *src, char *arena)
{
    *dst = *src;
    size_t k = strlen(src->key) + 1;
    dst->key = memcpy(arena, src->key, k);
    arena += k;
    if (src->type == IMI_F_STR && src->v.s) {
        size_t v = strlen(src->v.s) + 1;
        dst->v.s = memcpy(arena, src->v.s, v);
        arena += v;
    } else if (src->type == IMI_F_BYTES && src->v.bytes.len) {
        dst->v.bytes.ptr = memcpy(arena, src->v.bytes.ptr, src->v.bytes.len);
        arena += src->v.bytes.len;
    }
    return arena;
}

int imi_ctx_set_logger(imi_ctx *ctx, imi_logger *lg, const imi_field *fields, size_t n)
{
    if (!ctx)
        return imi_error_set(IMI_EINVALID, 0, "imi_ctx_set_logger: no ctx");
    const struct imi_ctx_log *up = imi_ctx_log_find_(ctx);
    size_t n_up = up ? up->n : 0;
    if (n && !fields)
        return imi_error_set(IMI_EINVALID, 0, "imi_ctx_set_logger: %zu fields but none given", n);
    if (n_up + n > LOG_FIELDS_MAX / 2)
        return imi_error_set(IMI_EINVALID, 0, "imi_ctx_set_logger: more than %d fields",
                             LOG_FIELDS_MAX / 2);
    size_t extra = 0;
    for (size_t i = 0; i < n_up; i++)
        extra += extra_of(&up->fields[i]);
    for (size_t i = 0; i < n; i++) {
        if (!fields[i].key || !*fields[i].key)
            return imi_error_set(IMI_EINVALID, 0, "imi_ctx_set_logger: field %zu has no key", i);
        extra += extra_of(&fields[i]);
    }
    size_t head = sizeof(struct imi_ctx_log) + (n_up + n) * sizeof(imi_field);
    struct imi_ctx_log *log = malloc(head + extra);
    if (!log)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    log->lg = lg ? lg : up ? up->lg : NULL;
    log->n = n_up + n;
    log->fields = (imi_field *)(log + 1);
    char *arena = (char *)log + head;
    for (size_t i = 0; i < n_up; i++)
        arena = copy_into(&log->fields[i], &up->fields[i], arena);
    for (size_t i = 0; i < n; i++)
        arena = copy_into(&log->fields[n_up + i], &fields[i], arena);
    imi_ctx_log_put_(ctx, log);
    return IMI_OK;
}

imi_logger *imi_ctx_logger(const imi_ctx *ctx)
{
    const struct imi_ctx_log *log = imi_ctx_log_find_(ctx);
    return log ? log->lg : NULL;
}

const imi_field *imi_ctx_log_fields(const imi_ctx *ctx, size_t *n)
{
    const struct imi_ctx_log *log = imi_ctx_log_find_(ctx);
    if (n)
        *n = log ? log->n : 0;
    return log && log->n ? log->fields : NULL;
}

void imi_ctx_log(const imi_ctx *ctx, imi_log_level level, const char *msg,
                 const imi_field *fields, size_t n)
{
    const struct imi_ctx_log *log = imi_ctx_log_find_(ctx);
    if (!log || !imi_log_enabled(log->lg, level))
        return;
    if (!fields)
        n = 0;
    if (!n) {
        imi_log(log->lg, level, ctx, msg, log->fields, log->n);
        return;
    }
    /* ctx fields first, then the call's; a call with too many keeps its first ones. */
    imi_field all[LOG_FIELDS_MAX];
    if (n > LOG_FIELDS_MAX - log->n)
        n = LOG_FIELDS_MAX - log->n;
    memcpy(all, log->fields, log->n * sizeof *all);
    memcpy(all + log->n, fields, n * sizeof *all);
    imi_log(log->lg, level, ctx, msg, all, log->n + n);
}

void imi_ctx_logf(const imi_ctx *ctx, imi_log_level level, const char *fmt, ...)
{
    const struct imi_ctx_log *log = imi_ctx_log_find_(ctx);
    if (!log || !fmt || !imi_log_enabled(log->lg, level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    imi_log(log->lg, level, ctx, msg, log->fields, log->n);
}
