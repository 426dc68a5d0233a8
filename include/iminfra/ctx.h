/* imi_ctx: deadline, cancel flag and trace id of one request.
 *
 * Every call that does I/O takes a ctx first; NULL means the component's default
 * timeout. A child ctx inherits the parent's deadline (the earlier one wins), cancel
 * and trace id; cancelling a parent cancels its children. Cancel is safe from any
 * thread; the rest of a ctx is set up by one thread before it is shared.
 *
 * A ctx can also carry a logger and its fields, inherited by its children: ctx_log.h.
 */
#ifndef IMINFRA_CTX_H
#define IMINFRA_CTX_H

#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_ctx imi_ctx;

#define IMI_TRACE_ID_MAX 64  /* longer trace ids are cut */

/* The longest duration (timeout, TTL, lease, open time) anything takes: 100 years in ms.
 * In ns it is about 3.2e18, so a clock reading plus it still fits an int64_t: a longer
 * duration passed in saturates to it ("practically never"), a longer one in a config
 * file is refused. */
#define IMI_DURATION_MAX_MS 3153600000000LL           /* 100 * 365 days */
#define IMI_DURATION_MAX_TEXT "3153600000000ms (100 years; e.g. 250ms, 5s, 2m, 1h)"

/* ms to ns, negative to 0 and saturating at IMI_DURATION_MAX_MS: never wraps. */
static inline int64_t imi_ms_to_ns_sat(int64_t ms)
{
    return ms <= 0 ? 0 : ms >= IMI_DURATION_MAX_MS ? IMI_DURATION_MAX_MS * 1000000 : ms * 1000000;
}

/* timeout_ms <= 0: no deadline; above IMI_DURATION_MAX_MS it is taken as that (100 years
 * away). Returns NULL when out of memory. */
imi_ctx *imi_ctx_new(int64_t timeout_ms);
/* A child of parent (which must outlive it) with its own optional timeout. */
imi_ctx *imi_ctx_child(const imi_ctx *parent, int64_t timeout_ms);
void imi_ctx_free(imi_ctx *ctx);

/* Absolute deadline on CLOCK_MONOTONIC in ns; 0 removes it. */
void imi_ctx_set_deadline_ns(imi_ctx *ctx, int64_t mono_ns);
int64_t imi_ctx_deadline_ns(const imi_ctx *ctx); /* 0: none (also for NULL) */
void imi_ctx_cancel(imi_ctx *ctx);
bool imi_ctx_canceled(const imi_ctx *ctx);

/* The trace id: printable, at most IMI_TRACE_ID_MAX bytes. NULL or "" clears it. */
void imi_ctx_set_trace_id(imi_ctx *ctx, const char *trace_id);
/* Generates a random 32-hex-digit id, sets and returns it. */
const char *imi_ctx_new_trace_id(imi_ctx *ctx);
const char *imi_ctx_trace_id(const imi_ctx *ctx); /* NULL when none */

/* The span id (W3C trace context: 16 lowercase hex digits, not all zero). A child ctx
 * inherits its parent's. mq puts trace and span id in a `traceparent` header; the
 * consumer's ctx continues the trace with a new span id. */
#define IMI_SPAN_ID_LEN 16
/* IMI_EINVALID (naming the value) unless span_id is 16 hex digits, not all zero; NULL or
 * "" clears it. Upper-case digits are stored lower-case. */
int imi_ctx_set_span_id(imi_ctx *ctx, const char *span_id);
/* Generates a random span id, sets and returns it. */
const char *imi_ctx_new_span_id(imi_ctx *ctx);
const char *imi_ctx_span_id(const imi_ctx *ctx); /* NULL when none */

/* IMI_OK, IMI_ECANCELED or IMI_ETIMEDOUT (NULL ctx: IMI_OK). Sets the error detail. */
int imi_ctx_err(const imi_ctx *ctx);
/* Milliseconds left before the deadline, at least 0; dflt_ms when ctx has no deadline. */
int64_t imi_ctx_remaining_ms(const imi_ctx *ctx, int64_t dflt_ms);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in ns. */
int64_t imi_now_mono_ns(void);
int64_t imi_now_real_ns(void);

#ifdef __cplusplus
}
#endif
#endif
