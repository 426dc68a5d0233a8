/* The W3C traceparent header: written on publish, read on delivery. */
#include <stdio.h>
#include <string.h>
#include "traceparent.h"

/* n lowercase hex digits, not all zero (when nonzero is asked). */
static bool hex_ok(const char *s, size_t n, bool nonzero)
{
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        any |= c != '0';
    }
    return any || !nonzero;
}

bool imi_traceparent_format(const imi_ctx *ctx, char out[IMI_TRACEPARENT_LEN + 1])
{
    const char *trace = imi_ctx_trace_id(ctx);
    if (!trace || strlen(trace) != 32 || !hex_ok(trace, 32, true))
        return false;
    const char *span = imi_ctx_span_id(ctx);
    char fresh[IMI_SPAN_ID_LEN + 1];
    if (!span) {
        /* A ctx without a span: this publish is the first span of the trace. */
        unsigned char raw[IMI_SPAN_ID_LEN / 2];
        imi_random_hex(ctx, raw, sizeof raw, fresh);
        span = fresh;
    }
    snprintf(out, IMI_TRACEPARENT_LEN + 1, "00-%s-%s-01", trace, span);
    return true;
}

bool imi_traceparent_parse(const char *v, size_t len, char trace[33], char span[17])
{
    /* A later version may append fields after the 55 characters of version 00. */
    if (!v || len < IMI_TRACEPARENT_LEN || (len > IMI_TRACEPARENT_LEN && v[55] != '-'))
        return false;
    if (!hex_ok(v, 2, false) || !memcmp(v, "ff", 2) || (!memcmp(v, "00", 2) && len != 55))
        return false;
    if (v[2] != '-' || v[35] != '-' || v[52] != '-' || !hex_ok(v + 3, 32, true) ||
        !hex_ok(v + 36, 16, true) || !hex_ok(v + 53, 2, false))
        return false;
    memcpy(trace, v + 3, 32);
    trace[32] = '\0';
    memcpy(span, v + 36, 16);
    span[16] = '\0';
    return true;
}
