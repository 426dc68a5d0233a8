/* clog: building one line in a thread-local buffer and writing it.
 *
 * A line never allocates: it is built in line_buf. When it would not fit, the value being
 * written is cut between escape units (or a number dropped whole), later fields are
 * dropped and the line ends with "truncated":true, so it stays one valid JSON object. */
#include <stdarg.h>
#include <stdio.h>
#include "clog_internal.h"
#include "iminfra/error.h"

/* msg_len for a NUL-terminated msg whose length is not known yet. */
#define MSG_CSTR SIZE_MAX

static _Thread_local char line_buf[IMI_CLOG_LINE_MAX];
static _Thread_local char msg_buf[IMI_CLOG_LINE_MAX];

static const char *const json_levels[] = {
    "\",\"level\":\"debug\"", "\",\"level\":\"info\"", "\",\"level\":\"warn\"",
    "\",\"level\":\"error\"",
};
static const size_t json_level_lens[] = { 17, 16, 16, 17 };
static const char *const con_levels[] = { " DEBUG", " INFO ", " WARN ", " ERROR" };

/* "s" escaped. False when cut: the string is still closed. */
static bool json_str(imi_clog_buf *b, const char *s, size_t n)
{
    if (!IMI_CLOG_PUT_LIT(b, "\""))
        return false;
    bool ok = imi_clog_esc(b, s, n, true);
    imi_clog_put_tail(b, "\"", 1);
    return ok;
}

static bool json_cstr(imi_clog_buf *b, const char *s)
{
    if (!IMI_CLOG_PUT_LIT(b, "\""))
        return false;
    bool ok = imi_clog_esc_cstr(b, s, true);
    imi_clog_put_tail(b, "\"", 1);
    return ok;
}

/* Writes f's value; returns false when it did not fit. *keep says whether what was
 * written stays (a cut string) or the field must be rolled back (a number). */
static bool json_value(imi_clog_buf *b, const imi_field *f, bool *keep)
{
    *keep = false;
    switch (f->type) {
    case IMI_F_STR:
        if (!f->v.s)
            return IMI_CLOG_PUT_LIT(b, "null");
        *keep = b->lim - b->p >= 1; /* the opening quote fits: keep the cut string */
        return json_cstr(b, f->v.s);
    case IMI_F_BYTES:
        if (!f->v.bytes.ptr)
            return IMI_CLOG_PUT_LIT(b, "null");
        *keep = b->lim - b->p >= 1;
        return json_str(b, f->v.bytes.ptr, f->v.bytes.len);
    case IMI_F_ERR:
        return json_cstr(b, imi_err_name(f->v.err));
    case IMI_F_INT:      return imi_clog_i64(b, f->v.i);
    case IMI_F_UINT:     return imi_clog_u64(b, f->v.u);
    case IMI_F_DOUBLE:   return imi_clog_dbl(b, f->v.d, true);
    case IMI_F_DURATION: return imi_clog_dur_ms(b, f->v.ns);
    case IMI_F_BOOL:
        return f->v.b ? IMI_CLOG_PUT_LIT(b, "true") : IMI_CLOG_PUT_LIT(b, "false");
    }
    return IMI_CLOG_PUT_LIT(b, "null");
}

/* ,"key":value. False when the line is full: write no more fields. */
static bool json_field(imi_clog_buf *b, const imi_field *f)
{
    char *start = b->p;
    bool keep = false;
    if (IMI_CLOG_PUT_LIT(b, ",\"") && imi_clog_esc_cstr(b, f->key ? f->key : "", true) &&
        IMI_CLOG_PUT_LIT(b, "\":") && json_value(b, f, &keep))
        return true;
    if (!keep)
        b->p = start;
    b->trunc = true;
    return false;
}

static void json_line(imi_clog_buf *b, const imi_logger *lg, imi_log_level level,
                      const char *trace, const char *span, const char *msg, size_t msg_len,
                      const imi_field *fields, size_t n_fields)
{
    IMI_CLOG_PUT_LIT(b, "{\"ts\":\"");
    b->p += imi_clog_ts(b->p, 6);
    imi_clog_put(b, json_levels[level], json_level_lens[level]);
    imi_clog_put(b, lg->json_head, lg->json_head_len);
    if (trace) {
        IMI_CLOG_PUT_LIT(b, ",\"trace_id\":");
        json_cstr(b, trace);
    }
    if (span) { /* 16 hex digits: nothing to escape */
        IMI_CLOG_PUT_LIT(b, ",\"span_id\":\"");
        imi_clog_put(b, span, strlen(span));
        IMI_CLOG_PUT_LIT(b, "\"");
    }
    IMI_CLOG_PUT_LIT(b, ",\"msg\":");
    if (msg_len == MSG_CSTR ? json_cstr(b, msg) : json_str(b, msg, msg_len))
        for (size_t i = 0; i < n_fields && json_field(b, &fields[i]); i++) {
        }
    if (b->trunc)
        imi_clog_put_tail(b, ",\"truncated\":true", 17);
    imi_clog_put_tail(b, "}\n", 2);
}

/* A console string value: bare when it reads unambiguously, else quoted and escaped. */
static bool con_str(imi_clog_buf *b, const char *s, size_t n, bool *keep)
{
    *keep = b->lim - b->p >= 1;
    if (imi_clog_needs_quote(s, n))
        return json_str(b, s, n);
    *keep = true;
    return imi_clog_esc(b, s, n, false);
}

static bool con_value(imi_clog_buf *b, const imi_field *f, bool *keep)
{
    *keep = false;
    switch (f->type) {
    case IMI_F_STR:
        return f->v.s ? con_str(b, f->v.s, strlen(f->v.s), keep) : IMI_CLOG_PUT_LIT(b, "null");
    case IMI_F_BYTES:
        return f->v.bytes.ptr ? con_str(b, f->v.bytes.ptr, f->v.bytes.len, keep)
                              : IMI_CLOG_PUT_LIT(b, "null");
    case IMI_F_ERR: {
        const char *name = imi_err_name(f->v.err);
        return imi_clog_put(b, name, strlen(name));
    }
    case IMI_F_INT:    return imi_clog_i64(b, f->v.i);
    case IMI_F_UINT:   return imi_clog_u64(b, f->v.u);
    case IMI_F_DOUBLE: return imi_clog_dbl(b, f->v.d, false);
    case IMI_F_DURATION:
        return imi_clog_dur_ms(b, f->v.ns) && IMI_CLOG_PUT_LIT(b, "ms");
    case IMI_F_BOOL:
        return f->v.b ? IMI_CLOG_PUT_LIT(b, "true") : IMI_CLOG_PUT_LIT(b, "false");
    }
    return IMI_CLOG_PUT_LIT(b, "null");
}

static bool con_field(imi_clog_buf *b, const imi_field *f)
{
    char *start = b->p;
    bool keep = false;
    if (IMI_CLOG_PUT_LIT(b, " ") && imi_clog_esc_cstr(b, f->key ? f->key : "", false) &&
        IMI_CLOG_PUT_LIT(b, "=") && con_value(b, f, &keep))
        return true;
    if (!keep)
        b->p = start;
    b->trunc = true;
    return false;
}

/* 2026-11-25T19:22:26.123Z INFO  [a.b] msg key=value ... service=x trace_id=... */
static void console_line(imi_clog_buf *b, const imi_logger *lg, imi_log_level level,
                         const char *trace, const char *span, const char *msg, size_t msg_len,
                         const imi_field *fields, size_t n_fields)
{
    const clog_root *r = lg->root;
    size_t trace_len = trace ? strlen(trace) : 0;
    if (msg_len == MSG_CSTR)
        msg_len = strlen(msg);
    char *lim = b->lim;
    /* Keep room for what ends the line: service and trace id (at worst all escaped). */
    b->lim -= r->con_service_len + (trace ? 10 + 6 * trace_len : 0) + (span ? 25 : 0);
    b->p += imi_clog_ts(b->p, 3);
    imi_clog_put(b, con_levels[level], 6);
    imi_clog_put(b, lg->con_name, lg->con_name_len);
    IMI_CLOG_PUT_LIT(b, " ");
    if (imi_clog_esc(b, msg, msg_len, false))
        for (size_t i = 0; i < n_fields && con_field(b, &fields[i]); i++) {
        }
    b->lim = lim;
    imi_clog_put(b, r->con_service, r->con_service_len);
    if (trace) {
        IMI_CLOG_PUT_LIT(b, " trace_id=");
        imi_clog_esc(b, trace, trace_len, false);
    }
    if (span) {
        IMI_CLOG_PUT_LIT(b, " span_id=");
        imi_clog_put(b, span, strlen(span));
    }
    if (b->trunc)
        imi_clog_put_tail(b, " truncated=true", 15);
    imi_clog_put_tail(b, "\n", 1);
}

static void log_line(imi_logger *lg, imi_log_level level, const imi_ctx *ctx,
                     const char *msg, size_t msg_len, const imi_field *fields,
                     size_t n_fields, bool cut)
{
    const char *trace = ctx ? imi_ctx_trace_id(ctx) : NULL;
    const char *span = ctx ? imi_ctx_span_id(ctx) : NULL;
    imi_clog_buf b = { line_buf, line_buf + IMI_CLOG_LINE_MAX - IMI_CLOG_RESERVE, cut };
    if (lg->root->format == IMI_LOG_CONSOLE)
        console_line(&b, lg, level, trace, span, msg, msg_len, fields, n_fields);
    else
        json_line(&b, lg, level, trace, span, msg, msg_len, fields, n_fields);
    imi_clog_sink_write(&lg->root->sink, line_buf, (size_t)(b.p - line_buf));
}

void imi_log(imi_logger *lg, imi_log_level level, const imi_ctx *ctx, const char *msg,
             const imi_field *fields, size_t n_fields)
{
    if (!imi_log_enabled(lg, level))
        return;
    if (!msg)
        msg = "";
    log_line(lg, level, ctx, msg, MSG_CSTR, fields, fields ? n_fields : 0, false);
}

void imi_logf(imi_logger *lg, imi_log_level level, const imi_ctx *ctx, const char *fmt, ...)
{
    if (!imi_log_enabled(lg, level) || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg_buf, sizeof msg_buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    bool cut = (size_t)n >= sizeof msg_buf;
    log_line(lg, level, ctx, msg_buf, cut ? sizeof msg_buf - 1 : (size_t)n, NULL, 0, cut);
}
