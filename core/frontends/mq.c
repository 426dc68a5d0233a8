/* The mq front-end, handle and producer side: open/close, argument checks, ctx, closed
 * state, capabilities, the trace-id header, counters. Subscriptions are in mq_sub.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "mq_internal.h"
#include "traceparent.h"
#include "util.h"

#define MQ_DEFAULT_MAX_ATTEMPTS 5
#define MQ_DEFAULT_REDELIVERY_MS 100
#define MQ_DEFAULT_CLOSE_TIMEOUT_MS 30000
#define MQ_SMALL_HEADERS 16

/* Bit c of the 128-bit set is 1 when ASCII byte c may appear in a name: '-', '.',
 * '0'-'9' (word 0), 'A'-'Z', '_', 'a'-'z' (word 1). Checked on every publish: one pass,
 * a load and a shift per byte. */
static const uint64_t name_chars[2] = {
    (UINT64_C(1) << 45) | (UINT64_C(1) << 46) | (UINT64_C(0x3ff) << 48),
    (UINT64_C(0x3ffffff) << 1) | (UINT64_C(1) << 31) | (UINT64_C(0x3ffffff) << 33),
};

bool imi_mq_name_ok(const char *name)
{
    if (!name || !*name || *name == '.')
        return false;
    unsigned char prev = 0;
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        unsigned char c = *p;
        if (c >= 128 || !((name_chars[c >> 6] >> (c & 63)) & 1) || (c == '.' && prev == '.') ||
            ++n > 200)
            return false;
        prev = c;
    }
    return prev != '.';
}

/* Remembers a topic that passed the check, while there is room for its copy. */
static void topic_keep(imi_mq *mq, const char *topic)
{
    pthread_mutex_lock(&mq->topics_lock);
    size_t n = atomic_load_explicit(&mq->n_topics, memory_order_relaxed), i = 0;
    while (i < n && strcmp(mq->topics[i], topic)) /* another thread may have added it */
        i++;
    if (i == n && n < IMI_MQ_TOPIC_COPIES && (mq->topics[n] = strdup(topic)))
        atomic_store_explicit(&mq->n_topics, n + 1, memory_order_release);
    if (i < atomic_load_explicit(&mq->n_topics, memory_order_relaxed))
        atomic_store_explicit(&mq->topic_ok, mq->topics[i], memory_order_release);
    pthread_mutex_unlock(&mq->topics_lock);
}

/* A publish to the topic of the one before costs a strcmp; a switch between the first
 * IMI_MQ_TOPIC_COPIES topics a handle published to, a look through their copies. The
 * copies are only added (under topics_lock) and stay unchanged until the handle is freed,
 * so readers take no lock. Past that many topics, the others are checked each time. */
bool imi_mq_topic_ok(imi_mq *mq, const char *topic)
{
    if (!topic)
        return false;
    const char *last = atomic_load_explicit(&mq->topic_ok, memory_order_acquire);
    if (last && !strcmp(last, topic))
        return true;
    size_t n = atomic_load_explicit(&mq->n_topics, memory_order_acquire);
    for (size_t i = 0; i < n; i++)
        if (mq->topics[i] != last && !strcmp(mq->topics[i], topic)) {
            atomic_store_explicit(&mq->topic_ok, mq->topics[i], memory_order_release);
            return true;
        }
    if (!imi_mq_name_ok(topic))
        return false;
    topic_keep(mq, topic);
    return true;
}

/* Reads the front-end's keys of the section; a bad value names file:line. */
static int mq_configure(imi_instance *in)
{
    imi_mq *mq = (imi_mq *)in;
    pthread_mutex_init(&mq->subs_lock, NULL);
    pthread_cond_init(&mq->closing_moved, NULL);
    pthread_mutex_init(&mq->topics_lock, NULL);
    mq->vt = in->vt;
    mq->p = mq->vt->producer;
    mq->s = mq->vt->sub;
    const imi_config *cfg = imi_app_config(mq->in.app);
    const char *sec = mq->in.section;
    int64_t attempts = MQ_DEFAULT_MAX_ATTEMPTS;
    int rc = imi_config_get_int(cfg, sec, "max_attempts", &attempts);
    if (!rc && (attempts < 0 || attempts > 1000000)) {
        int line = 0;
        imi_config_get(cfg, sec, "max_attempts", &line);
        rc = imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] max_attempts must be 0 (never "
                           "dead-letter) to 1000000, not %lld", imi_config_name(cfg), line,
                           sec, (long long)attempts);
    }
    mq->max_attempts = (int)attempts;
    mq->redelivery_delay_ms = MQ_DEFAULT_REDELIVERY_MS;
    mq->close_timeout_ms = MQ_DEFAULT_CLOSE_TIMEOUT_MS;
    if (!rc)
        rc = imi_config_get_duration_ms(cfg, sec, "redelivery_delay", &mq->redelivery_delay_ms);
    if (!rc)
        rc = imi_config_get_duration_ms(cfg, sec, "close_timeout", &mq->close_timeout_ms);
    if (rc)
        return rc;
    int line = 0;
    const char *suffix = imi_config_get(cfg, sec, "dead_letter_suffix", &line);
    if (!suffix)
        suffix = ".dlq";
    char probe[64];
    snprintf(probe, sizeof probe, "t%s", suffix);
    if (!*suffix || strlen(suffix) > 40 || !imi_mq_name_ok(probe))
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] dead_letter_suffix '%s' must be 1-40 "
                             "of [A-Za-z0-9._-]", imi_config_name(cfg), line, sec, suffix);
    if (!(mq->dlq_suffix = strdup(suffix)))
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    return IMI_OK;
}

/* Subscriptions first (their handlers may still publish), then what async publishes
 * have in flight, within close_timeout. */
static void mq_stopping(imi_instance *in)
{
    imi_mq *mq = (imi_mq *)in;
    imi_mq_close_subs(mq);
    /* Only async publishes can still be the application's in flight: a sync one has
     * returned (failed ones too, which the driver may still hold: a CLI publish with the
     * broker down must not wait close_timeout for a message already reported failed). */
    if (!(in->caps & IMI_MQ_CAP_ASYNC) || !atomic_load(&mq->async_used))
        return;
    imi_ctx *ctx = imi_ctx_new(mq->close_timeout_ms);
    if (mq->p->p_flush(in->state, ctx))
        imi_logf(in->logger, IMI_LOG_WARN, NULL, "close: async publishes still in "
                 "flight after close_timeout; the driver fails them");
    imi_ctx_free(ctx);
}

static void mq_release(imi_instance *in)
{
    imi_mq *mq = (imi_mq *)in;
    imi_mq_free_subs(mq);
    pthread_mutex_destroy(&mq->subs_lock);
    pthread_cond_destroy(&mq->closing_moved);
    pthread_mutex_destroy(&mq->topics_lock);
    for (size_t i = 0; i < atomic_load(&mq->n_topics); i++)
        free(mq->topics[i]);
    free(mq->dlq_suffix);
}

static const char *const mq_keys[] = { "max_attempts", "dead_letter_suffix", "redelivery_delay",
                                       "close_timeout", NULL };

/* The operations counted per call (metrics.h). */
enum { MQ_OP_ping, MQ_OP_publish, MQ_OP_publish_async, MQ_OP_flush, MQ_OP_COUNT_ };
static const char *const mq_ops[] = { "ping", "publish", "publish_async", "flush" };

static void mq_extras(imi_instance *in, const imi_op_metrics *m, uint64_t *v)
{
    (void)m;
    imi_mq *mq = (imi_mq *)in;
    if (!mq)
        return;
    v[IMI_MQ_X_PUBLISHED] = MQ_SUM(&mq->n, published);
    v[IMI_MQ_X_PUBLISH_FAILED] = MQ_SUM(&mq->n, publish_failed);
    v[IMI_MQ_X_DELIVERED] = MQ_SUM(&mq->n, delivered);
    v[IMI_MQ_X_ACKED] = MQ_SUM(&mq->n, acked);
    v[IMI_MQ_X_NACKED] = MQ_SUM(&mq->n, nacked);
    v[IMI_MQ_X_REDELIVERED] = MQ_SUM(&mq->n, redelivered);
    v[IMI_MQ_X_DEAD_LETTERED] = MQ_SUM(&mq->n, dead_lettered);
}

static const imi_frontend mq_frontend = {
    .kind = IMI_KIND_MQ,
    .handle_size = sizeof(imi_mq),
    .keys = mq_keys,
    .configure = mq_configure,
    .stopping = mq_stopping,
    .release = mq_release,
    .ops = mq_ops,
    .n_ops = MQ_OP_COUNT_,
    .read_extras = mq_extras,
};

int imi_mq_open(imi_app *app, const char *name, imi_mq **out)
{
    return imi_instance_open(app, &mq_frontend, name, (imi_instance **)out);
}

/* The handle whose delivery callback the calling thread is in (async_done). */
static _Thread_local const imi_mq *tl_in_done;

int imi_mq_close(imi_mq *mq)
{
    if (mq && imi_mq_in_handler(mq))
        return imi_error_set(IMI_EINVALID, 0, "[%s] imi_mq_close called from a handler of "
                             "its own subscription", mq->in.section);
    /* The driver's close would wait for, and free the state of, the very thread it runs
     * on (mem frees the completion queue this call returns into; kafka destroys the
     * producer from inside its own poll). */
    if (mq && tl_in_done == mq)
        return imi_error_set(IMI_EINVALID, 0, "[%s] imi_mq_close called from a delivery "
                             "callback of its own async publish", mq->in.section);
    return imi_instance_close(mq ? &mq->in : NULL);
}

void imi_mq_free(imi_mq *mq)
{
    /* From there, as imi_mq_close refuses, and not a handle to pull from under the thread. */
    if (mq && (imi_mq_in_handler(mq) || tl_in_done == mq))
        return;
    imi_instance_free(mq ? &mq->in : NULL);
}
uint64_t imi_mq_caps(const imi_mq *mq) { return mq ? mq->in.caps : 0; }
const char *imi_mq_driver_name(const imi_mq *mq) { return mq ? mq->in.desc->name : NULL; }

/* Counts a call that passed the argument checks. */
static inline int record(imi_mq *mq, unsigned op, int rc, int64_t t0, const imi_thread_slot *t)
{
    return mq ? imi_instance_record_at(&mq->in, op, rc, t0, t) : rc;
}

static int enter(imi_mq *mq, const imi_ctx *ctx, const imi_thread_slot *t)
{
    if (!mq)
        return imi_error_set(IMI_EINVALID, 0, "mq: no handle");
    return imi_instance_enter_at(&mq->in, ctx, t);
}

int imi_mq_ping(imi_mq *mq, const imi_ctx *ctx)
{
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at((imi_instance *)(mq), t);
    int rc = enter(mq, ctx, t);
    if (rc)
        return record(mq, MQ_OP_ping, rc, t0, t);
    rc = mq->vt->ping(mq->in.state, ctx);
    imi_instance_leave_at(&mq->in, t);
    return record(mq, MQ_OP_ping, rc, t0, t);
}

/* ---- producer ------------------------------------------------------------------------ */

static int check_msg(imi_mq *mq, const imi_mq_msg *m)
{
    if (!m)
        return imi_error_set(IMI_EINVALID, 0, "mq publish: no message");
    if (mq ? !imi_mq_topic_ok(mq, m->topic) : !imi_mq_name_ok(m->topic))
        return imi_error_set(IMI_EINVALID, 0, "mq publish: topic '%s' is not 1-200 of "
                             "[A-Za-z0-9._-]", m->topic ? m->topic : "(null)");
    const char *unsound = imi_mq_msg_unsound(m, true);
    if (unsound)
        return imi_error_set(IMI_EINVALID, 0, "mq publish: %s", unsound);
    return IMI_OK;
}

static bool has_header(const imi_mq_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (!strcmp(m->headers[i].name, name))
            return true;
    return false;
}

/* A copy of msg goes to the driver, normalised and with the trace headers of ctx. Kept
 * out of imi_mq_publish_raw, whose common path then needs no large frame. */
__attribute__((noinline)) static int publish_copy(imi_mq *mq, const imi_ctx *ctx,
                                                  const imi_mq_msg *msg,
                                                  const imi_mq_done *done, const char *trace)
{
    imi_mq_msg m = *msg;
    m.body = m.body ? m.body : "";
    m.attempt = 0;
    m.ctx = NULL;
    /* The trace travels twice: W3C traceparent (what OpenTelemetry SDKs read) and the
     * older imi-trace-id, still written for consumers of the previous release. */
    char tp[IMI_TRACEPARENT_LEN + 1];
    bool add_old = trace && *trace && !has_header(msg, IMI_MQ_TRACE_HEADER);
    bool add_tp = trace && !has_header(msg, IMI_TRACEPARENT_HEADER) &&
                  imi_traceparent_format(ctx, tp);
    imi_mq_header small[MQ_SMALL_HEADERS], *hs = NULL;
    if (add_old || add_tp) {
        size_t n = msg->n_headers + add_old + add_tp;
        hs = n <= MQ_SMALL_HEADERS ? small : malloc(n * sizeof *hs);
        if (!hs)
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        if (msg->n_headers)
            memcpy(hs, msg->headers, msg->n_headers * sizeof *hs);
        size_t at = msg->n_headers;
        if (add_tp)
            hs[at++] = (imi_mq_header){ IMI_TRACEPARENT_HEADER, tp, IMI_TRACEPARENT_LEN };
        if (add_old)
            hs[at++] = (imi_mq_header){ IMI_MQ_TRACE_HEADER, trace, strlen(trace) };
        m.headers = hs;
        m.n_headers = n;
    }
    int rc = done ? mq->p->p_publish_async(mq->in.state, ctx, &m, done)
                  : mq->p->p_publish(mq->in.state, ctx, &m);
    if (hs != small)
        free(hs);
    return rc;
}

int imi_mq_publish_raw(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg,
                       const imi_mq_done *done)
{
    const char *trace = ctx ? imi_ctx_trace_id(ctx) : NULL;
    /* No trace to carry and nothing to normalise: the driver gets the caller's message
     * (the copy's frame and its 16 headers on the stack cost more than the call). */
    if (!trace && msg->body && !msg->attempt && !msg->ctx)
        return done ? mq->p->p_publish_async(mq->in.state, ctx, msg, done)
                    : mq->p->p_publish(mq->in.state, ctx, msg);
    return publish_copy(mq, ctx, msg, done, trace);
}

int imi_mq_publish(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg)
{
    int rc = check_msg(mq, msg);
    if (rc)
        return rc;
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at((imi_instance *)(mq), t);
    if ((rc = enter(mq, ctx, t)))
        return record(mq, MQ_OP_publish, rc, t0, t);
    rc = imi_mq_publish_raw(mq, ctx, msg, NULL);
    if (rc)
        MQ_COUNT_AT(&mq->n, publish_failed, t);
    else
        MQ_COUNT_AT(&mq->n, published, t);
    imi_instance_leave_at(&mq->in, t);
    return record(mq, MQ_OP_publish, rc, t0, t);
}

static void async_done(const imi_mq_done *d, int rc)
{
    imi_mq *mq = d->core;
    if (rc)
        MQ_COUNT(&mq->n, publish_failed);
    else
        MQ_COUNT(&mq->n, published);
    if (d->user_fn) {
        const imi_mq *outer = tl_in_done;
        tl_in_done = mq;
        d->user_fn(d->user_ud, rc);
        tl_in_done = outer;
    }
}

int imi_mq_publish_async(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg,
                         imi_mq_delivery_fn fn, void *ud)
{
    if (mq && imi_instance_need(&mq->in, IMI_MQ_CAP_ASYNC, "async publish"))
        return IMI_ENOTSUP;
    int rc = check_msg(mq, msg);
    if (rc)
        return rc;
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at((imi_instance *)(mq), t);
    if ((rc = enter(mq, ctx, t)))
        return record(mq, MQ_OP_publish_async, rc, t0, t);
    imi_mq_done done = { .fn = async_done, .core = mq, .user_fn = fn, .user_ud = ud };
    /* Stored once: a store on every publish would be a locked exchange (seq_cst) on a
     * line every publishing thread reads. Close reads it after the calls in flight left. */
    if (!atomic_load_explicit(&mq->async_used, memory_order_relaxed))
        atomic_store(&mq->async_used, true);
    rc = imi_mq_publish_raw(mq, ctx, msg, &done);
    imi_instance_leave_at(&mq->in, t);
    return record(mq, MQ_OP_publish_async, rc, t0, t);
}

int imi_mq_flush(imi_mq *mq, const imi_ctx *ctx)
{
    if (mq && imi_instance_need(&mq->in, IMI_MQ_CAP_ASYNC, "flush"))
        return IMI_ENOTSUP;
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at((imi_instance *)(mq), t);
    int rc = enter(mq, ctx, t);
    if (rc)
        return record(mq, MQ_OP_flush, rc, t0, t);
    rc = mq->p->p_flush(mq->in.state, ctx);
    imi_instance_leave_at(&mq->in, t);
    return record(mq, MQ_OP_flush, rc, t0, t);
}

/* ---- counters ------------------------------------------------------------------------ */


void imi_mq_get_stats(const imi_mq *mq, imi_mq_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!mq)
        return;
    imi_mq *m = (imi_mq *)mq;
    *out = (imi_mq_stats){
        .published = MQ_SUM(&m->n, published), .publish_failed = MQ_SUM(&m->n, publish_failed),
        .delivered = MQ_SUM(&m->n, delivered), .acked = MQ_SUM(&m->n, acked),
        .nacked = MQ_SUM(&m->n, nacked), .dead_lettered = MQ_SUM(&m->n, dead_lettered),
    };
}
