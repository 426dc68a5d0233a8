/* W3C trace context (https://www.w3.org/TR/trace-context/): the `traceparent` header mq
 * puts on every message, "00-<32 hex trace id>-<16 hex parent span id>-<2 hex flags>". */
#ifndef IMI_CORE_TRACEPARENT_H
#define IMI_CORE_TRACEPARENT_H

#include <stdbool.h>
#include <stddef.h>
#include "iminfra/ctx.h"

#define IMI_TRACEPARENT_HEADER "traceparent"
#define IMI_TRACEPARENT_LEN 55

/* The header for a message sent under ctx: its trace id (when it is 32 hex digits, not
 * all zero) and its span id (a new random one when ctx has none). false when ctx has no
 * such trace id: then only the older imi-trace-id header travels. */
bool imi_traceparent_format(const imi_ctx *ctx, char out[IMI_TRACEPARENT_LEN + 1]);

/* Parses a received header: version 00 (or a later one, read as 00 says), trace and
 * parent ids not all zero. false when it is not a valid traceparent. */
bool imi_traceparent_parse(const char *v, size_t len, char trace[33], char span[17]);

/* n random bytes (raw, n bytes) as 2n lowercase hex digits in hex (2n + 1 bytes), never
 * all zero; salt mixes into the fallback when getrandom fails (ctx.c). */
void imi_random_hex(const void *salt, unsigned char *raw, size_t n, char *hex);

#endif
