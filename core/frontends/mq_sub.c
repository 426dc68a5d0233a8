/* The mq front-end, consumer side: subscriptions, the per-delivery handler call (trace
 * ctx, counters, ack/nack) and dead-lettering after max_attempts, the same for every
 * driver. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/ctx_log.h"
#include "iminfra/error.h"
#include "ctx_internal.h"
#include "mq_internal.h"
#include "traceparent.h"

struct imi_mq_sub {
    imi_ctx *log_ctx;               /* the handlers' logger and "group" */
    imi_ctx **topic_ctx;            /* per topic: log_ctx's child adding "topic", the parent
                                       of that topic's delivery ctxs (made once, not per
                                       message) */
    imi_mq *mq;
    imi_mq_sub *next, *prev;        /* in mq->subs */
    imi_mq_handler fn;
    void *ud;
    char *group;
    char **topics;
    size_t n_topics;
    char *dlq_topic;                /* NULL: per topic, with the handle's suffix */
    int max_attempts;               /* 0: never dead-letter */
    pthread_mutex_t close_lock;     /* one closer at a time; the loser waits */
    bool closed;
    mq_counters n;
    void *state;                    /* the driver's, s_state_size bytes */
};

/* The subscription whose handler the calling thread is in (close from there deadlocks). */
static _Thread_local const imi_mq_sub *tl_in_handler;

bool imi_mq_in_handler(const imi_mq *mq)
{
    return tl_in_handler && tl_in_handler->mq == mq;
}

/* On the subscription's counters and its handle's, at the calling thread's stripe. */
static void count(imi_mq_sub *s, size_t offset, const imi_thread_slot *t)
{
    size_t at = t->stripe * sizeof(mq_stripe) + offset;
    imi_metric_bump((_Atomic uint64_t *)((char *)s->n.s + at), 1, t->owned);
    imi_metric_bump((_Atomic uint64_t *)((char *)s->mq->n.s + at), 1, t->owned);
}
/* t: the delivering thread's slot (imi_thread), found once per delivery. */
#define COUNT(s, field) count((s), offsetof(mq_stripe, field), t)

/* The trace id header of a delivered message, as a C string in buf (cut to fit). */
static const char *trace_of(const imi_mq_msg *m, char *buf, size_t cap)
{
    for (size_t i = 0; i < m->n_headers; i++) {
        if (strcmp(m->headers[i].name, IMI_MQ_TRACE_HEADER))
            continue;
        size_t n = m->headers[i].len < cap - 1 ? m->headers[i].len : cap - 1;
        memcpy(buf, m->headers[i].value, n);
        buf[n] = '\0';
        return n ? buf : NULL;
    }
    return NULL;
}

/* The handler's ctx continues the producer's trace: traceparent first (also from
 * producers that speak only W3C trace context), else the older imi-trace-id header; a
 * new span id either way. */
static void set_trace(imi_ctx *ctx, const imi_mq_msg *m)
{
    if (!ctx)
        return;
    char trace[IMI_TRACE_ID_MAX + 1], span[IMI_SPAN_ID_LEN + 1];
    const char *tid = NULL;
    for (size_t i = 0; i < m->n_headers && !tid; i++)
        if (!strcmp(m->headers[i].name, IMI_TRACEPARENT_HEADER) &&
            imi_traceparent_parse(m->headers[i].value, m->headers[i].len, trace, span))
            tid = trace;
    if (!tid)
        tid = trace_of(m, trace, sizeof trace);
    if (!tid)
        return;
    imi_ctx_set_trace_id(ctx, tid);
    imi_ctx_new_span_id(ctx);
}

/* Publishes a message that failed its last attempt to the dead-letter topic, with the
 * headers that say where it came from. */
static int dead_letter(imi_mq_sub *s, const imi_mq_msg *m, int handler_rc)
{
    imi_mq *mq = s->mq;
    char topic[256], attempts[16];
    if (s->dlq_topic)
        snprintf(topic, sizeof topic, "%s", s->dlq_topic);
    else
        snprintf(topic, sizeof topic, "%s%s", m->topic, mq->dlq_suffix);
    snprintf(attempts, sizeof attempts, "%d", m->attempt);
    const char *err = imi_err_name(handler_rc);
    size_t n = m->n_headers + 4;
    imi_mq_header *hs = malloc(n * sizeof *hs);
    if (!hs)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if (m->n_headers)
        memcpy(hs, m->headers, m->n_headers * sizeof *hs);
    hs[n - 4] = (imi_mq_header){ IMI_MQ_DLQ_TOPIC_HEADER, m->topic, strlen(m->topic) };
    hs[n - 3] = (imi_mq_header){ IMI_MQ_DLQ_GROUP_HEADER, s->group, strlen(s->group) };
    hs[n - 2] = (imi_mq_header){ IMI_MQ_DLQ_ATTEMPTS_HEADER, attempts, strlen(attempts) };
    hs[n - 1] = (imi_mq_header){ IMI_MQ_DLQ_ERROR_HEADER, err, strlen(err) };
    imi_mq_msg out = { .topic = topic, .key = m->key, .key_len = m->key_len, .headers = hs,
                       .n_headers = n, .body = m->body, .body_len = m->body_len };
    /* The trace header travels among the copied headers; the ctx adds none. */
    int rc = imi_mq_publish_raw(mq, NULL, &out, NULL);
    free(hs);
    return rc;
}

/* The parent of a delivery ctx on topic: its prepared ctx, NULL for a topic the driver
 * names otherwise than the subscription did. */
static const imi_ctx *topic_parent(const imi_mq_sub *s, const char *topic)
{
    for (size_t i = 0; topic && i < s->n_topics; i++)
        if (!strcmp(s->topics[i], topic))
            return s->topic_ctx[i];
    return NULL;
}

/* Why a delivery from the driver breaks the message contract, or NULL when it does not:
 * such a message never reaches the handler nor the dead-letter topic. */
static const char *broken_delivery(const imi_mq_msg *m)
{
    if (!m)
        return "no message";
    return m->topic ? imi_mq_msg_unsound(m, false) : "no topic";
}

/* The handler's ctx lives on this stack frame: no allocation per delivery. */
static int deliver(void *core_sub, const imi_mq_msg *m)
{
    imi_mq_sub *s = core_sub;
    const char *broken = broken_delivery(m);
    if (broken) {
        imi_logf(s->mq->in.logger, IMI_LOG_ERROR, s->log_ctx, "driver %s delivered a broken "
                 "message (%s) to group %s; it is refused", s->mq->in.desc->name, broken,
                 s->group);
        return imi_error_set(IMI_EDRIVER, 0, "driver %s: a delivery with %s",
                             s->mq->in.desc->name, broken);
    }
    imi_mq_msg msg = *m;
    if (msg.attempt < 1)
        msg.attempt = 1;
    const imi_ctx *parent = topic_parent(s, msg.topic);
    imi_ctx frame;
    imi_ctx *ctx = &frame;
    imi_ctx_init_(ctx, parent ? parent : s->log_ctx);
    set_trace(ctx, m);
    if (!parent && msg.topic) /* best effort: without it the handler logs without "topic" */
        imi_ctx_set_logger(ctx, NULL, &IMI_FSTR("topic", msg.topic), 1);
    msg.ctx = ctx;
    const imi_thread_slot *t = imi_thread();
    COUNT(s, delivered);
    if (msg.attempt > 1)
        COUNT(s, redelivered);
    const imi_mq_sub *outer = tl_in_handler;
    tl_in_handler = s;
    int rc = s->fn(s->ud, &msg);
    tl_in_handler = outer;
    if (rc == IMI_OK) {
        COUNT(s, acked);
        imi_ctx_fini_(ctx);
        return IMI_OK;
    }
    COUNT(s, nacked);
    if (s->max_attempts > 0 && msg.attempt >= s->max_attempts) {
        int drc = dead_letter(s, &msg, rc);
        if (drc == IMI_OK) {
            COUNT(s, dead_lettered);
            imi_logf(s->mq->in.logger, IMI_LOG_WARN, ctx, "message on '%s' dead-lettered "
                     "after %d attempts (group %s, last error %s)", msg.topic, msg.attempt,
                     s->group, imi_err_name(rc));
            imi_ctx_fini_(ctx);
            return IMI_OK;
        }
        imi_logf(s->mq->in.logger, IMI_LOG_ERROR, ctx, "dead-lettering a message of '%s' "
                 "failed (%s: %s); it stays for redelivery", msg.topic, imi_err_name(drc),
                 imi_error_message());
    }
    imi_ctx_fini_(ctx);
    return rc;
}

/* ---- open / close / free ------------------------------------------------------------- */

static void sub_release(imi_mq_sub *s)
{
    for (size_t i = 0; i < s->n_topics && s->topics; i++)
        free(s->topics[i]);
    free(s->topics);
    for (size_t i = 0; i < s->n_topics && s->topic_ctx; i++)
        imi_ctx_free(s->topic_ctx[i]);
    free(s->topic_ctx);
    free(s->group);
    free(s->dlq_topic);
    free(s->state);
    imi_ctx_free(s->log_ctx);
    pthread_mutex_destroy(&s->close_lock);
    free(s);
}

static int check_opts(const imi_mq_sub_opts *o, imi_mq_handler fn)
{
    if (!o || !fn)
        return imi_error_set(IMI_EINVALID, 0, "mq subscribe: options and a handler are required");
    if (!imi_mq_name_ok(o->group))
        return imi_error_set(IMI_EINVALID, 0, "mq subscribe: group '%s' is not 1-200 of "
                             "[A-Za-z0-9._-]", o->group ? o->group : "(null)");
    if (!o->topics || !o->n_topics)
        return imi_error_set(IMI_EINVALID, 0, "mq subscribe: no topics");
    for (size_t i = 0; i < o->n_topics; i++)
        if (!imi_mq_name_ok(o->topics[i]))
            return imi_error_set(IMI_EINVALID, 0, "mq subscribe: topic '%s' is not 1-200 of "
                                 "[A-Za-z0-9._-]", o->topics[i] ? o->topics[i] : "(null)");
    if (o->dead_letter_topic && !imi_mq_name_ok(o->dead_letter_topic))
        return imi_error_set(IMI_EINVALID, 0, "mq subscribe: dead_letter_topic '%s' is not "
                             "1-200 of [A-Za-z0-9._-]", o->dead_letter_topic);
    return IMI_OK;
}

static imi_mq_sub *sub_new(imi_mq *mq, const imi_mq_sub_opts *o, imi_mq_handler fn, void *ud)
{
    imi_mq_sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    *s = (imi_mq_sub){ .mq = mq, .fn = fn, .ud = ud, .n_topics = o->n_topics };
    pthread_mutex_init(&s->close_lock, NULL);
    s->max_attempts = o->max_attempts > 0 ? o->max_attempts
                    : o->max_attempts < 0 ? 0 : mq->max_attempts;
    s->group = strdup(o->group);
    s->topics = calloc(o->n_topics, sizeof *s->topics);
    s->state = calloc(1, mq->s->s_state_size ? mq->s->s_state_size : 1);
    bool ok = s->group && s->topics && s->state;
    for (size_t i = 0; ok && i < o->n_topics; i++)
        ok = (s->topics[i] = strdup(o->topics[i])) != NULL;
    if (ok && o->dead_letter_topic)
        ok = (s->dlq_topic = strdup(o->dead_letter_topic)) != NULL;
    if (ok)
        ok = (s->log_ctx = imi_ctx_new(0)) &&
             !imi_ctx_set_logger(s->log_ctx, o->logger ? o->logger : mq->in.logger,
                                 &IMI_FSTR("group", s->group), 1) &&
             (s->topic_ctx = calloc(o->n_topics, sizeof *s->topic_ctx));
    for (size_t i = 0; ok && i < o->n_topics; i++)
        ok = (s->topic_ctx[i] = imi_ctx_child(s->log_ctx, 0)) &&
             !imi_ctx_set_logger(s->topic_ctx[i], NULL, &IMI_FSTR("topic", s->topics[i]), 1);
    if (!ok) {
        sub_release(s);
        return NULL;
    }
    return s;
}

static void link_sub(imi_mq *mq, imi_mq_sub *s)
{
    pthread_mutex_lock(&mq->subs_lock);
    s->next = mq->subs;
    if (mq->subs)
        mq->subs->prev = s;
    mq->subs = s;
    pthread_mutex_unlock(&mq->subs_lock);
}

/* subs_lock held. */
static void unlink_sub(imi_mq *mq, imi_mq_sub *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else if (mq->subs == s)
        mq->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->next = s->prev = NULL;
}

int imi_mq_subscribe(imi_mq *mq, const imi_ctx *ctx, const imi_mq_sub_opts *opts,
                     imi_mq_handler handler, void *ud, imi_mq_sub **out)
{
    if (!mq || !out)
        return imi_error_set(IMI_EINVALID, 0, "mq subscribe: handle and out are required");
    *out = NULL;
    int rc = check_opts(opts, handler);
    if (rc)
        return rc;
    if ((rc = imi_instance_enter(&mq->in, ctx)))
        return rc;
    imi_mq_sub *s = sub_new(mq, opts, handler, ud);
    if (!s) {
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
        goto out;
    }
    imi_mq_sub_spec spec = {
        .size = sizeof spec, .group = s->group, .topics = (const char *const *)s->topics,
        .n_topics = s->n_topics, .max_attempts = s->max_attempts,
        .redelivery_delay_ms = mq->redelivery_delay_ms,
    };
    rc = mq->s->s_open(mq->in.state, s->state, ctx, &spec, deliver, s);
    if (rc) {
        mq->s->s_close(mq->in.state, s->state);
        sub_release(s);
        goto out;
    }
    link_sub(mq, s);
    *out = s;
out:
    imi_instance_leave(&mq->in);
    return rc;
}

int imi_mq_sub_close(imi_mq_sub *s)
{
    if (!s)
        return imi_error_set(IMI_EINVALID, 0, "imi_mq_sub_close: no subscription");
    if (tl_in_handler == s)
        return imi_error_set(IMI_EINVALID, 0, "imi_mq_sub_close called from the "
                             "subscription's own handler");
    /* Forked child: the driver's consumer threads are the parent's, nothing to stop. */
    if (imi_instance_inherited(&s->mq->in))
        return IMI_OK;
    pthread_mutex_lock(&s->close_lock);
    bool was = s->closed;
    if (!was) {
        s->mq->s->s_close(s->mq->in.state, s->state);
        s->closed = true;
    }
    pthread_mutex_unlock(&s->close_lock);
    return was ? imi_error_set(IMI_ECLOSED, 0, "subscription of group %s is already closed",
                               s->group)
               : IMI_OK;
}

void imi_mq_sub_free(imi_mq_sub *s)
{
    if (!s)
        return;
    if (tl_in_handler == s)
        return; /* freeing from its own handler would pull the state from under the driver */
    if (imi_instance_inherited(&s->mq->in))
        return; /* left to the process, like its handle (imi_instance_free) */
    imi_mq_sub_close(s);
    imi_mq *mq = s->mq;
    pthread_mutex_lock(&mq->subs_lock);
    /* A handle's close going through its subscriptions meanwhile may be at this one
     * (waiting for its close_lock, or past it): it is done with it in a moment. */
    while (mq->closing == s)
        pthread_cond_wait(&mq->closing_moved, &mq->subs_lock);
    unlink_sub(mq, s);
    pthread_mutex_unlock(&mq->subs_lock);
    sub_release(s);
}

void imi_mq_close_subs(imi_mq *mq)
{
    /* Owners may free their subscriptions meanwhile (imi_mq_sub_free): the one being
     * closed here is marked, and its free waits for the mark to move on; the next one
     * is read and marked in one hold of subs_lock, so it is never one already freed. The
     * lock is not held while a subscription closes: a handler that this close waits for
     * may free another subscription. */
    pthread_mutex_lock(&mq->subs_lock);
    imi_mq_sub *s = mq->closing = mq->subs;
    pthread_mutex_unlock(&mq->subs_lock);
    while (s) {
        pthread_mutex_lock(&s->close_lock);
        if (!s->closed) {
            mq->s->s_close(mq->in.state, s->state);
            s->closed = true;
        }
        pthread_mutex_unlock(&s->close_lock);
        pthread_mutex_lock(&mq->subs_lock);
        s = mq->closing = s->next;
        pthread_cond_broadcast(&mq->closing_moved);
        pthread_mutex_unlock(&mq->subs_lock);
    }
}

void imi_mq_free_subs(imi_mq *mq)
{
    while (mq->subs) {
        imi_mq_sub *s = mq->subs;
        unlink_sub(mq, s);
        sub_release(s);
    }
}


void imi_mq_sub_get_stats(const imi_mq_sub *sub, imi_mq_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!sub)
        return;
    imi_mq_sub *s = (imi_mq_sub *)sub;
    *out = (imi_mq_stats){
        .publish_failed = 0, .delivered = MQ_SUM(&s->n, delivered),
        .acked = MQ_SUM(&s->n, acked), .nacked = MQ_SUM(&s->n, nacked),
        .dead_lettered = MQ_SUM(&s->n, dead_lettered),
    };
}
