/* The mq driver vtable, split by lifetime: the driver (open/close/ping), its producer
 * operations (on the driver's state) and its subscriptions (each with its own state).
 *
 * What the front-end does, so drivers don't: argument checks, closed state, ctx checks
 * before the call, the trace-id header on publish and the handler's ctx on delivery,
 * counters, attempt-limit accounting and dead-letter publishing. A driver only moves
 * messages and redelivers the ones the front-end nacks.
 *
 * Common contracts:
 *  - `st` is the driver's private state (desc->state_size bytes, zeroed, allocated by the
 *    core); a subscription's `sub` is s_state_size bytes, zeroed, allocated by the core.
 *  - Every slot may be called from many threads at once, unless said otherwise.
 *  - Slots that wait honour the ctx deadline and cancel (host->ctx_remaining_ms with
 *    env->default_timeout_ms for a NULL ctx) and then return IMI_ETIMEDOUT/IMI_ECANCELED.
 *  - Return IMI_OK or a negative imi code, with detail through host->error.
 *  - Messages handed to a slot are borrowed for the call: copy what you keep.
 */
#ifndef IMINFRA_DRIVER_MQ_DRIVER_H
#define IMINFRA_DRIVER_MQ_DRIVER_H

#include "iminfra/driver/driver.h"
#include "iminfra/mq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The completion of one async publish. The driver copies it at p_publish_async and calls
 * done.fn(&done, rc) exactly once, from a driver thread (never from inside
 * p_publish_async), when the broker acknowledged (IMI_OK) or the message is lost for good
 * (an error code, detail through host->error on the calling thread). */
typedef struct imi_mq_done {
    void (*fn)(const struct imi_mq_done *done, int rc);
    void *core;
    imi_mq_delivery_fn user_fn;
    void *user_ud;
} imi_mq_done;

/* What a subscription is asked for. */
typedef struct imi_mq_sub_spec {
    uint32_t size;                  /* sizeof(imi_mq_sub_spec) */
    const char *group;
    const char *const *topics;
    size_t n_topics;
    int max_attempts;               /* the front-end dead-letters at this attempt (0: never);
                                       a driver with server-side delivery limits sets them
                                       above it */
    int64_t redelivery_delay_ms;    /* wait at least this long before redelivering a nack */
    /* ---- end of ABI 1.0 ---- */
} imi_mq_sub_spec;

/* Called by the driver for each delivery of a message, from a driver thread; msg->ctx is
 * ignored (the front-end builds it), msg->attempt must be set (1 for the first delivery).
 * Returns IMI_OK: the driver acknowledges/commits the message. Anything else: the driver
 * delivers it again later (after spec->redelivery_delay_ms), with attempt + 1, before any
 * later message of the same key. Calls for one key never overlap. */
typedef int (*imi_mq_deliver_fn)(void *core_sub, const imi_mq_msg *msg);

/* Producer operations: on the driver state, between open and close. */
typedef struct imi_mq_producer_ops {
    uint32_t size;                  /* sizeof(imi_mq_producer_ops) */
    /* Required. Publishes msg (topic, key, headers, body; headers already include the
     * trace header) and returns once the broker has acknowledged it, or the ctx expired. */
    int (*p_publish)(void *st, const imi_ctx *ctx, const imi_mq_msg *msg);
    /* Optional (IMI_MQ_CAP_ASYNC). Copies msg, queues it and returns; may wait for queue
     * room until the ctx deadline. On IMI_OK done is called exactly once later; on an
     * error it is never called. */
    int (*p_publish_async)(void *st, const imi_ctx *ctx, const imi_mq_msg *msg,
                           const imi_mq_done *done);
    /* Optional (IMI_MQ_CAP_ASYNC). Returns when every completion of a publish_async
     * accepted before the call has been called, or the ctx expired. */
    int (*p_flush)(void *st, const imi_ctx *ctx);
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_mq_producer_ops;
#define IMI_MQ_PRODUCER_OPS_SIZE_1_0 IMI_SIZE_THROUGH(imi_mq_producer_ops, p_flush)

/* Subscription operations: one `sub` per imi_mq_subscribe. */
typedef struct imi_mq_sub_ops {
    uint32_t size;                  /* sizeof(imi_mq_sub_ops) */
    size_t s_state_size;            /* bytes of private state per subscription */
    /* Required. Joins spec->group on spec->topics and returns once the backend has
     * registered the subscription; then calls deliver(core_sub, msg) per delivery from
     * its own threads until s_close. On failure s_close is still called. */
    int (*s_open)(void *st, void *sub, const imi_ctx *ctx, const imi_mq_sub_spec *spec,
                  imi_mq_deliver_fn deliver, void *core_sub);
    /* Required. Stops fetching, waits for the deliver calls in flight to return (their
     * outcome is committed), leaves the group and releases what s_open acquired; messages
     * not acknowledged stay for the group. Called once per s_open, never from a deliver
     * call, never concurrently with s_open of the same sub; may block. The wait for
     * deliver has no bound: the core frees core_sub once s_close returns. */
    void (*s_close)(void *st, void *sub);
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_mq_sub_ops;
#define IMI_MQ_SUB_OPS_SIZE_1_0 IMI_SIZE_THROUGH(imi_mq_sub_ops, s_close)

typedef struct imi_mq_driver {
    uint32_t size;                  /* sizeof(imi_mq_driver) */
    /* Required. Initialises st from env (options already parsed). On failure close is
     * still called. */
    int (*open)(void *st, const imi_driver_env *env);
    /* Required. Called once, after every subscription was closed and p_flush returned (or
     * timed out): completes every outstanding async publish (with IMI_ECLOSED for those
     * it could not deliver) and releases st, after any completion already running has
     * returned (no bound). Never called while a slot is in flight. */
    void (*close)(void *st);
    /* Required. IMI_OK when the backend answers within the ctx deadline. */
    int (*ping)(void *st, const imi_ctx *ctx);
    const imi_mq_producer_ops *producer;  /* required */
    const imi_mq_sub_ops *sub;            /* required */
    /* Optional. The capabilities of this open instance, a subset of desc->caps, for
     * drivers whose abilities depend on their options; NULL: desc->caps. Called once,
     * right after open succeeded. */
    uint64_t (*caps)(void *st);
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_mq_driver;

/* The smallest vtable the core accepts: the ABI 1.0 layout. */
#define IMI_MQ_DRIVER_SIZE_1_0 IMI_SIZE_THROUGH(imi_mq_driver, caps)

#ifdef __cplusplus
}
#endif
#endif
