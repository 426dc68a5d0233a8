/* mq: publish messages to topics and consume them in consumer groups, over the driver
 * chosen by config ([mq] or [mq.NAME]).
 *
 * Producer: imi_mq_publish returns once the broker has the message (acked), within the
 * ctx deadline; imi_mq_publish_async returns at once and calls a delivery callback
 * exactly once with the outcome; imi_mq_flush waits for every async publish; close
 * flushes first, so it loses nothing.
 *
 * Consumer: imi_mq_subscribe joins a consumer group on one or more topics. Every group
 * gets every message; the members of one group share them. The handler is called once
 * per delivery; returning IMI_OK acknowledges (commits) the message, anything else is a
 * nack and the message is delivered again (at-least-once), with msg->attempt counting up.
 * When the attempt that fails is the group's `max_attempts`-th, the message is published
 * to the dead-letter topic ("<topic>.dlq" unless configured) and acknowledged. Messages
 * with the same key are handled in publish order, one at a time, by each member (by the
 * whole group where the driver advertises IMI_MQ_CAP_KEY_ORDER). Closing a subscription
 * waits for the handler calls in flight and hands the rest back to the group.
 *
 * Trace context: a ctx trace id of 32 hex digits travels as a W3C `traceparent` header
 * (with the ctx's span id, or a new one), and every trace id also in IMI_MQ_TRACE_HEADER
 * (kept for one release). The handler's ctx continues the trace (traceparent first, also
 * from producers that send only it, else IMI_MQ_TRACE_HEADER) with a new span id.
 * Counters (imi_mq_stats) are kept per handle and per subscription; docs/metrics.md.
 *
 * Config keys of the section besides the driver's options: driver, driver_path, timeout
 * (default publish/subscribe timeout for a NULL ctx), max_attempts (default 5; 0: never
 * dead-letter), dead_letter_suffix (default ".dlq"), redelivery_delay (default 100ms),
 * close_timeout (how long close waits for async publishes, default 30s).
 *
 * Handles and subscriptions are safe to use from many threads.
 */
#ifndef IMINFRA_MQ_H
#define IMINFRA_MQ_H

#include <stdint.h>
#include <stddef.h>
#include "iminfra/ctx.h"
#include "iminfra/app.h"
#include "iminfra/clog.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_mq imi_mq;
typedef struct imi_mq_sub imi_mq_sub;

/* Capability bits (a driver's descriptor and imi_mq_caps, which may narrow them by the
 * instance's options). Publish, subscribe, ack, nack and dead letters are always there. */
#define IMI_MQ_CAP_ASYNC   (1u << 0) /* imi_mq_publish_async and imi_mq_flush */
#define IMI_MQ_CAP_DURABLE (1u << 1) /* a group keeps its messages while no member is
                                        subscribed: close and reopen loses nothing */
#define IMI_MQ_CAP_KEY_ORDER (1u << 2) /* per-key order holds across the members of a
                                          group; without it, within each member only */

/* The older header that carries the publisher ctx's trace id; still written and read
 * for one release beside `traceparent`. */
#define IMI_MQ_TRACE_HEADER "imi-trace-id"
/* Headers a dead-lettered message gets besides its own. */
#define IMI_MQ_DLQ_TOPIC_HEADER    "imi-dlq-topic"    /* the topic it failed on */
#define IMI_MQ_DLQ_GROUP_HEADER    "imi-dlq-group"
#define IMI_MQ_DLQ_ATTEMPTS_HEADER "imi-dlq-attempts" /* decimal */
#define IMI_MQ_DLQ_ERROR_HEADER    "imi-dlq-error"    /* the handler's last code name */

typedef struct imi_mq_header {
    const char *name;        /* a C string */
    const void *value;       /* bytes */
    size_t len;
} imi_mq_header;

/* A message. To publish, fill topic, key, headers and body. A delivered message (the
 * handler's argument) also has attempt and ctx; everything in it is valid only during
 * the handler call. */
typedef struct imi_mq_msg {
    const char *topic;
    const void *key;         /* NULL: no key (no ordering between keyless messages) */
    size_t key_len;
    const imi_mq_header *headers;
    size_t n_headers;
    const void *body;        /* bytes, may hold NUL */
    size_t body_len;
    /* set on delivery */
    int attempt;             /* 1 on the first delivery, 2 on the first redelivery ... */
    const imi_ctx *ctx;      /* no deadline; the trace id of the publisher's ctx, and a
                                logger (imi_ctx_log, ctx_log.h) */
} imi_mq_msg;

/* name NULL or "": the [mq] section; "events": [mq.events]. */
int imi_mq_open(imi_app *app, const char *name, imi_mq **out);
/* Closes the handle's subscriptions (draining them), waits up to close_timeout for the
 * async publishes in flight, then closes the backend, which fails the unconfirmed ones
 * with IMI_ECLOSED but waits for a delivery callback already running. Later calls return
 * IMI_ECLOSED; a second close returns IMI_ECLOSED. IMI_EINVALID when called from a
 * handler or a delivery callback of this handle. */
int imi_mq_close(imi_mq *mq);
/* Closes if needed and frees the handle (its subscriptions too). Does nothing when called
 * from a handler or a delivery callback of this handle. */
void imi_mq_free(imi_mq *mq);

uint64_t imi_mq_caps(const imi_mq *mq);
const char *imi_mq_driver_name(const imi_mq *mq);
int imi_mq_ping(imi_mq *mq, const imi_ctx *ctx);

/* ---- producer ------------------------------------------------------------------------ */

/* Publishes and waits for the broker's acknowledgement. With a full queue it waits for
 * room until the deadline (IMI_ETIMEDOUT). */
int imi_mq_publish(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg);

/* The outcome of one async publish: rc IMI_OK when the broker has it. Called exactly once
 * per accepted publish, from a driver thread, never from inside imi_mq_publish_async. */
typedef void (*imi_mq_delivery_fn)(void *ud, int rc);

/* Copies msg and returns; fn (may be NULL) is called later. A publish that returns an
 * error never calls fn. The ctx bounds only the wait for queue room. */
int imi_mq_publish_async(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg,
                         imi_mq_delivery_fn fn, void *ud);
/* Waits until every async publish made before the call has had its callback. */
int imi_mq_flush(imi_mq *mq, const imi_ctx *ctx);

/* ---- consumer ------------------------------------------------------------------------ */

/* Return IMI_OK to acknowledge, anything else to have the message delivered again. */
typedef int (*imi_mq_handler)(void *ud, const imi_mq_msg *msg);

typedef struct imi_mq_sub_opts {
    const char *group;                /* required: the consumer group */
    const char *const *topics;        /* required: n_topics topic names */
    size_t n_topics;
    int max_attempts;                 /* 0: the section's max_attempts; < 0: never
                                         dead-letter */
    const char *dead_letter_topic;    /* NULL: "<topic><dead_letter_suffix>" */
    imi_logger *logger;               /* the handler ctx's logger (ctx_log.h), with fields
                                         "group" and "topic"; NULL: the handle's */
} imi_mq_sub_opts;

/* Joins the group and returns once the backend has registered the subscription (within
 * the ctx deadline). handler is then called from driver threads, one call at a time per
 * key. Where messages published before the group first existed go is the backend's
 * business; those published after subscribe returned reach the group. */
int imi_mq_subscribe(imi_mq *mq, const imi_ctx *ctx, const imi_mq_sub_opts *opts,
                     imi_mq_handler handler, void *ud, imi_mq_sub **out);
/* Stops delivery: waits for the handler calls in flight to return, however long they take
 * (a handler that never returns holds close), and leaves the group; messages not
 * acknowledged go to other members or a later subscriber. IMI_ECLOSED the second time;
 * IMI_EINVALID when called from this subscription's handler. */
int imi_mq_sub_close(imi_mq_sub *sub);
/* Closes if needed and frees the subscription. One inherited through fork is only
 * forgotten: the parent's membership stays (app.h). */
void imi_mq_sub_free(imi_mq_sub *sub);

/* ---- counters ------------------------------------------------------------------------ */

typedef struct imi_mq_stats {
    uint64_t published;      /* acknowledged by the broker (sync, or async callback OK) */
    uint64_t publish_failed; /* sync publishes that failed and async callbacks with an error */
    uint64_t delivered;      /* handler calls */
    uint64_t acked;          /* handler returned IMI_OK */
    uint64_t nacked;         /* handler failed */
    uint64_t dead_lettered;  /* published to a dead-letter topic and acknowledged */
} imi_mq_stats;

/* The handle's counters (its subscriptions included); readable after close. */
void imi_mq_get_stats(const imi_mq *mq, imi_mq_stats *out);
/* One subscription's counters (published stays 0). */
void imi_mq_sub_get_stats(const imi_mq_sub *sub, imi_mq_stats *out);

/* ---- C strings -------------------------------------------------------------------------- */

/* A message to publish whose key (NULL: none) and body are C strings (lengths by strlen):
 * imi_mq_msg m = imi_mq_msg_str("orders", user_id, json); */
imi_mq_msg imi_mq_msg_str(const char *topic, const char *key, const char *body);
/* imi_mq_publish of imi_mq_msg_str(topic, key, body). */
int imi_mq_publish_str(imi_mq *mq, const imi_ctx *ctx, const char *topic, const char *key,
                       const char *body);

#ifdef __cplusplus
}
#endif
#endif
