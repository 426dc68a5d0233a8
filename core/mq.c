/* The mq front-end, handle and producer side: open/close, argument checks, ctx, closed
 * state, capabilities, the trace-id header, counters. Subscriptions are in mq_sub.c. */
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "mq_internal.h"
#include "util.h"

#define MQ_DEFAULT_MAX_ATTEMPTS 5
#define MQ_DEFAULT_REDELIVERY_MS 100
#define MQ_DEFAULT_CLOSE_TIMEOUT_MS 30000
#define MQ_SMALL_HEADERS 16

bool imi_mq_name_ok(const char *name)
{
    if (!name || !*name)
        return false;
    size_t n = 0;
    for (const char *p = name; *p; p++, n++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return n <= 200 && name[0] != '.' && name[n - 1] != '.' && !strstr(name, "..");
}

/* Reads the front-end's keys of the section; a bad value names file:line. */
static int read_core_keys(imi_mq *mq)
{
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

/* The driver's vtable holds every required slot. */
static int check_vtable(const imi_mq *mq)
{
    const imi_mq_driver *vt = mq->vt;
    const char *missing = !vt->open ? "open" : !vt->close ? "close" : !vt->ping ? "ping"
                        : !vt->producer ? "producer" : !vt->sub ? "sub" : NULL;
    if (!missing && !MQ_SLOT(vt->producer, imi_mq_producer_ops, p_publish))
        missing = "producer->p_publish";
    if (!missing && !IMI_HAS_FIELD(vt->sub, imi_mq_sub_ops, s_close))
        missing = "sub ops (struct too small)";
    if (!missing && (!vt->sub->s_open || !vt->sub->s_close))
        missing = "sub->s_open/s_close";
    if (missing)
        return imi_error_set(IMI_EDRIVER, 0, "[%s] driver %s refused: no %s", mq->in.section,
                             mq->in.desc->name, missing);
    return IMI_OK;
}

int imi_mq_open(imi_app *app, const char *name, imi_mq **out)
{
    static const char *const core_keys[] = { IMI_INSTANCE_CORE_KEYS, "max_attempts",
                                              "dead_letter_suffix", "redelivery_delay",
                                              "close_timeout", NULL };
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_mq_open: app and out are required");
    *out = NULL;
    imi_mq *mq = calloc(1, sizeof *mq);
    if (!mq)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    int rc = imi_instance_init(&mq->in, app, IMI_KIND_MQ, name, core_keys, sizeof(imi_mq_driver));
    if (rc) {
        free(mq);
        return rc;
    }
    pthread_mutex_init(&mq->subs_lock, NULL);
    mq->vt = mq->in.vtable;
    if ((rc = check_vtable(mq)) || (rc = read_core_keys(mq))) {
        imi_mq_free(mq);
        return rc;
    }
    mq->p = mq->vt->producer;
    mq->s = mq->vt->sub;
    rc = mq->vt->open(mq->in.state, &mq->in.env);
    mq->in.opened = true;
    if (rc) {
        imi_error_prefix("[%s] driver %s failed to open", mq->in.section, mq->in.desc->name);
        imi_mq_free(mq);
        return rc;
    }
    mq->caps = mq->in.desc->caps;
    if (mq->vt->caps)
        mq->caps &= mq->vt->caps(mq->in.state);
    *out = mq;
    return IMI_OK;
}

int imi_mq_close(imi_mq *mq)
{
    if (!mq)
        return imi_error_set(IMI_EINVALID, 0, "imi_mq_close: no handle");
    if (imi_mq_in_handler(mq))
        return imi_error_set(IMI_EINVALID, 0, "[%s] imi_mq_close called from a handler of "
                             "its own subscription", mq->in.section);
    int rc = imi_instance_begin_close(&mq->in);
    if (rc)
        return rc;
    if (!mq->in.opened)
        return IMI_OK;
    imi_mq_close_subs(mq);
    const imi_mq_producer_ops *p = mq->p;
    if (p && MQ_SLOT(p, imi_mq_producer_ops, p_flush)) {
        imi_ctx *ctx = imi_ctx_new(mq->close_timeout_ms);
        if (p->p_flush(mq->in.state, ctx))
            imi_logf(mq->in.logger, IMI_LOG_WARN, NULL, "close: async publishes still in "
                     "flight after close_timeout; the driver fails them");
        imi_ctx_free(ctx);
    }
    mq->vt->close(mq->in.state);
    mq->in.opened = false;
    return IMI_OK;
}

void imi_mq_free(imi_mq *mq)
{
    if (!mq)
        return;
    if (!atomic_load(&mq->in.closed))
        imi_mq_close(mq);
    else if (mq->in.opened)
        mq->vt->close(mq->in.state);
    imi_mq_free_subs(mq);
    pthread_mutex_destroy(&mq->subs_lock);
    imi_instance_release(&mq->in);
    free(mq->dlq_suffix);
    free(mq);
}

uint64_t imi_mq_caps(const imi_mq *mq) { return mq ? mq->caps : 0; }
const char *imi_mq_driver_name(const imi_mq *mq) { return mq ? mq->in.desc->name : NULL; }

static int enter(imi_mq *mq, const imi_ctx *ctx)
{
    if (!mq)
        return imi_error_set(IMI_EINVALID, 0, "mq: no handle");
    if (imi_instance_enter(&mq->in))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", mq->in.section);
    int rc = imi_ctx_err(ctx);
    if (rc)
        imi_instance_leave(&mq->in);
    return rc;
}

int imi_mq_ping(imi_mq *mq, const imi_ctx *ctx)
{
    int rc = enter(mq, ctx);
    if (rc)
        return rc;
    rc = mq->vt->ping(mq->in.state, ctx);
    imi_instance_leave(&mq->in);
    return rc;
}

/* ---- producer ------------------------------------------------------------------------ */

static int check_msg(const imi_mq_msg *m)
{
    if (!m)
        return imi_error_set(IMI_EINVALID, 0, "mq publish: no message");
    if (!imi_mq_name_ok(m->topic))
        return imi_error_set(IMI_EINVALID, 0, "mq publish: topic '%s' is not 1-200 of "
                             "[A-Za-z0-9._-]", m->topic ? m->topic : "(null)");
    if ((!m->key && m->key_len) || (!m->body && m->body_len) || (!m->headers && m->n_headers))
        return imi_error_set(IMI_EINVALID, 0, "mq publish: a NULL key, body or headers with "
                             "a non-zero length");
    for (size_t i = 0; i < m->n_headers; i++)
        if (!m->headers[i].name || !*m->headers[i].name ||
            (!m->headers[i].value && m->headers[i].len))
            return imi_error_set(IMI_EINVALID, 0, "mq publish: header %zu has no name or a "
                                 "NULL value", i);
    return IMI_OK;
}

static bool has_header(const imi_mq_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (!strcmp(m->headers[i].name, name))
            return true;
    return false;
}

int imi_mq_publish_raw(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg,
                       const imi_mq_done *done)
{
    imi_mq_msg m = *msg;
    m.body = m.body ? m.body : "";
    m.attempt = 0;
    m.ctx = NULL;
    const char *trace = imi_ctx_trace_id(ctx);
    imi_mq_header small[MQ_SMALL_HEADERS], *hs = NULL;
    if (trace && *trace && !has_header(msg, IMI_MQ_TRACE_HEADER)) {
        size_t n = msg->n_headers + 1;
        hs = n <= MQ_SMALL_HEADERS ? small : malloc(n * sizeof *hs);
        if (!hs)
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        if (msg->n_headers)
            memcpy(hs, msg->headers, msg->n_headers * sizeof *hs);
        hs[n - 1] = (imi_mq_header){ IMI_MQ_TRACE_HEADER, trace, strlen(trace) };
        m.headers = hs;
        m.n_headers = n;
    }
    int rc = done ? mq->p->p_publish_async(mq->in.state, ctx, &m, done)
                  : mq->p->p_publish(mq->in.state, ctx, &m);
    if (hs != small)
        free(hs);
    return rc;
}

int imi_mq_publish(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg)
{
    int rc = check_msg(msg);
    if (rc)
        return rc;
    if ((rc = enter(mq, ctx)))
        return rc;
    rc = imi_mq_publish_raw(mq, ctx, msg, NULL);
    atomic_fetch_add_explicit(rc ? &mq->n.publish_failed : &mq->n.published, 1,
                              memory_order_relaxed);
    imi_instance_leave(&mq->in);
    return rc;
}

static void async_done(const imi_mq_done *d, int rc)
{
    imi_mq *mq = d->core;
    atomic_fetch_add_explicit(rc ? &mq->n.publish_failed : &mq->n.published, 1,
                              memory_order_relaxed);
    if (d->user_fn)
        d->user_fn(d->user_ud, rc);
}

static int unsupported(const imi_mq *mq, const char *what)
{
    return imi_error_set(IMI_ENOTSUP, 0, "[%s] driver %s does not support %s", mq->in.section,
                         mq->in.desc->name, what);
}

static bool has_async(const imi_mq *mq)
{
    return (mq->caps & IMI_MQ_CAP_ASYNC) &&
           MQ_SLOT(mq->p, imi_mq_producer_ops, p_publish_async) &&
           MQ_SLOT(mq->p, imi_mq_producer_ops, p_flush);
}

int imi_mq_publish_async(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg,
                         imi_mq_delivery_fn fn, void *ud)
{
    if (mq && !has_async(mq))
        return unsupported(mq, "async publish");
    int rc = check_msg(msg);
    if (rc)
        return rc;
    if ((rc = enter(mq, ctx)))
        return rc;
    imi_mq_done done = { .fn = async_done, .core = mq, .user_fn = fn, .user_ud = ud };
    rc = imi_mq_publish_raw(mq, ctx, msg, &done);
    imi_instance_leave(&mq->in);
    return rc;
}

int imi_mq_flush(imi_mq *mq, const imi_ctx *ctx)
{
    if (mq && !has_async(mq))
        return unsupported(mq, "flush");
    int rc = enter(mq, ctx);
    if (rc)
        return rc;
    rc = mq->p->p_flush(mq->in.state, ctx);
    imi_instance_leave(&mq->in);
    return rc;
}

/* ---- counters ------------------------------------------------------------------------ */

#define LOAD(c) atomic_load_explicit(&(c), memory_order_relaxed)

void imi_mq_get_stats(const imi_mq *mq, imi_mq_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!mq)
        return;
    imi_mq *m = (imi_mq *)mq;
    *out = (imi_mq_stats){
        .published = LOAD(m->n.published), .publish_failed = LOAD(m->n.publish_failed),
        .delivered = LOAD(m->n.delivered), .acked = LOAD(m->n.acked),
        .nacked = LOAD(m->n.nacked), .dead_lettered = LOAD(m->n.dead_lettered),
    };
}
