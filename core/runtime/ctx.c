/* imi_ctx: deadline, cancel flag and trace id. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/random.h>
#include "iminfra/ctx.h"
#include "iminfra/error.h"
#include "ctx_internal.h"
#include "traceparent.h"


static int64_t clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t imi_now_mono_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
int64_t imi_now_real_ns(void) { return clock_ns(CLOCK_REALTIME); }

void imi_ctx_init_(imi_ctx *c, const imi_ctx *parent)
{
    memset(c, 0, sizeof *c);
    c->parent = parent;
    atomic_init(&c->canceled, false);
}

void imi_ctx_fini_(imi_ctx *c)
{
    free(c->log);
    c->log = NULL;
}

imi_ctx *imi_ctx_child(const imi_ctx *parent, int64_t timeout_ms)
{
    imi_ctx *c = malloc(sizeof *c);
    if (!c)
        return NULL;
    imi_ctx_init_(c, parent);
    if (timeout_ms > 0)
        c->deadline_ns = imi_now_mono_ns() + imi_ms_to_ns_sat(timeout_ms);
    return c;
}

imi_ctx *imi_ctx_new(int64_t timeout_ms) { return imi_ctx_child(NULL, timeout_ms); }
void imi_ctx_free(imi_ctx *ctx)
{
    if (ctx)
        free(ctx->log);
    free(ctx);
}

void imi_ctx_set_deadline_ns(imi_ctx *ctx, int64_t mono_ns)
{
    if (ctx)
        ctx->deadline_ns = mono_ns > 0 ? mono_ns : 0;
}

int64_t imi_ctx_deadline_ns(const imi_ctx *ctx)
{
    int64_t best = 0;
    for (; ctx; ctx = ctx->parent)
        if (ctx->deadline_ns && (!best || ctx->deadline_ns < best))
            best = ctx->deadline_ns;
    return best;
}

void imi_ctx_cancel(imi_ctx *ctx)
{
    if (ctx)
        atomic_store(&ctx->canceled, true);
}

bool imi_ctx_canceled(const imi_ctx *ctx)
{
    for (; ctx; ctx = ctx->parent)
        if (atomic_load(&((imi_ctx *)ctx)->canceled))
            return true;
    return false;
}

void imi_ctx_set_trace_id(imi_ctx *ctx, const char *trace_id)
{
    if (!ctx)
        return;
    size_t n = 0;
    /* Only printable ASCII: the id travels in message headers and log lines. */
    for (; trace_id && trace_id[n] && n < IMI_TRACE_ID_MAX; n++)
        ctx->trace_id[n] = (trace_id[n] > 32 && trace_id[n] < 127) ? trace_id[n] : '_';
    ctx->trace_id[n] = '\0';
}

/* n random bytes as 2n lowercase hex digits in hex (2n + 1 bytes); never all zero. */
void imi_random_hex(const void *salt, unsigned char *raw, size_t n, char *hex)
{
    if (getrandom(raw, n, 0) != (ssize_t)n) {
        uint64_t t = (uint64_t)imi_now_real_ns() ^ (uint64_t)(uintptr_t)salt;
        for (size_t i = 0; i < n; i++, t = t * 6364136223846793005u + 1442695040888963407u)
            raw[i] = (unsigned char)(t >> 56);
    }
    raw[n - 1] |= 1; /* W3C: an all-zero id is invalid */
    for (size_t i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", raw[i]);
}

const char *imi_ctx_new_trace_id(imi_ctx *ctx)
{
    unsigned char raw[16];
    char hex[33];
    imi_random_hex(ctx, raw, sizeof raw, hex);
    imi_ctx_set_trace_id(ctx, hex);
    return imi_ctx_trace_id(ctx);
}

int imi_ctx_set_span_id(imi_ctx *ctx, const char *span_id)
{
    if (!ctx)
        return imi_error_set(IMI_EINVALID, 0, "imi_ctx_set_span_id: no ctx");
    if (!span_id || !*span_id) {
        ctx->span_id[0] = '\0';
        return IMI_OK;
    }
    char v[IMI_SPAN_ID_LEN + 1];
    bool nonzero = false;
    size_t n = 0;
    for (; span_id[n] && n < IMI_SPAN_ID_LEN; n++) {
        char c = span_id[n];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            break;
        nonzero |= c != '0';
        v[n] = c;
    }
    if (n != IMI_SPAN_ID_LEN || span_id[n] || !nonzero)
        return imi_error_set(IMI_EINVALID, 0, "imi_ctx_set_span_id: '%.40s' is not 16 hex "
                             "digits, not all zero", span_id);
    v[n] = '\0';
    memcpy(ctx->span_id, v, sizeof v);
    return IMI_OK;
}

const char *imi_ctx_new_span_id(imi_ctx *ctx)
{
    if (!ctx)
        return NULL;
    unsigned char raw[8];
    imi_random_hex(ctx, raw, sizeof raw, ctx->span_id);
    return ctx->span_id;
}

const char *imi_ctx_span_id(const imi_ctx *ctx)
{
    for (; ctx; ctx = ctx->parent)
        if (ctx->span_id[0])
            return ctx->span_id;
    return NULL;
}

const char *imi_ctx_trace_id(const imi_ctx *ctx)
{
    for (; ctx; ctx = ctx->parent)
        if (ctx->trace_id[0])
            return ctx->trace_id;
    return NULL;
}

int imi_ctx_err(const imi_ctx *ctx)
{
    if (!ctx)
        return IMI_OK;
    if (imi_ctx_canceled(ctx))
        return imi_error_set(IMI_ECANCELED, 0, "context canceled");
    int64_t d = imi_ctx_deadline_ns(ctx);
    if (d && imi_now_mono_ns() >= d)
        return imi_error_set(IMI_ETIMEDOUT, 0, "context deadline exceeded");
    return IMI_OK;
}

int64_t imi_ctx_remaining_ms(const imi_ctx *ctx, int64_t dflt_ms)
{
    int64_t d = imi_ctx_deadline_ns(ctx);
    if (!d)
        return dflt_ms;
    int64_t left = d - imi_now_mono_ns();
    return left <= 0 ? 0 : (left + 999999) / 1000000;
}

/* ---- the logger slot (filled by ctx_log.c) ------------------------------------------------ */

struct imi_ctx_log *imi_ctx_log_own_(const imi_ctx *ctx) { return ctx ? ctx->log : NULL; }

struct imi_ctx_log *imi_ctx_log_find_(const imi_ctx *ctx)
{
    for (; ctx; ctx = ctx->parent)
        if (ctx->log)
            return ctx->log;
    return NULL;
}

void imi_ctx_log_put_(imi_ctx *ctx, struct imi_ctx_log *log)
{
    free(ctx->log);
    ctx->log = log;
}
