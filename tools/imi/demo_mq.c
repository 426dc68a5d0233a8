/* imi demo: mq. Messages with keys, headers and trace ids through a consumer group, and
 * one message that always fails going to the dead-letter topic after max attempts.
 *
 * Handlers run on driver threads, several keys at once, so what they see is recorded and
 * printed afterwards in publish order: the output is the same on every backend. A header
 * with a random run id tells this run's messages from ones an earlier run left on a
 * durable broker; those are acknowledged and passed over. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "demo.h"

#define TOPIC "demo.orders"
#define GROUP "demo-workers"
#define DLQ_GROUP "demo-dlq-watch"
#define MAX_ATTEMPTS 3
#define MAX_SEEN 32

static const struct order {
    const char *key, *value, *trace;
} orders[] = {
    { "alice", "order 1001: 2 x coffee", "trace-order-1001" },
    { "bob", "order 1002: 1 x tea", "trace-order-1002" },
    { "alice", "order 1003: 1 x cake", "trace-order-1003" },
    { "poison", "order 1004: {not json", "trace-order-1004" },
};
#define N_ORDERS (int)(sizeof orders / sizeof orders[0])
#define POISON 3

typedef struct seen {
    int seq, attempt;
    char topic[48], key[32], value[64], trace[IMI_TRACE_ID_MAX + 1];
    char dlq_from[48], dlq_attempts[16], dlq_error[32];
} seen;

typedef struct mq_log {
    demo_sync sync;
    char run[24];
    seen work[MAX_SEEN];
    int n_work, acked;
    seen dead;
    int n_dead;
} mq_log;

static const imi_mq_header *header(const imi_mq_msg *m, const char *name)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (!strcmp(m->headers[i].name, name))
            return &m->headers[i];
    return NULL;
}

static void copy_header(const imi_mq_msg *m, const char *name, char *out, size_t size)
{
    const imi_mq_header *h = header(m, name);
    snprintf(out, size, "%.*s", h ? (int)h->len : 0, h ? (const char *)h->value : "");
}

/* Fills s from m; false when m is not this run's. */
static bool record(const mq_log *log, const imi_mq_msg *m, seen *s)
{
    char run[sizeof log->run], seq[8];
    copy_header(m, "demo-run", run, sizeof run);
    if (strcmp(run, log->run))
        return false;
    copy_header(m, "demo-seq", seq, sizeof seq);
    s->seq = atoi(seq);
    s->attempt = m->attempt;
    snprintf(s->topic, sizeof s->topic, "%s", m->topic);
    snprintf(s->key, sizeof s->key, "%.*s", (int)m->key_len, m->key ? (const char *)m->key : "");
    snprintf(s->value, sizeof s->value, "%.*s", (int)m->body_len, (const char *)m->body);
    const char *trace = imi_ctx_trace_id(m->ctx);
    snprintf(s->trace, sizeof s->trace, "%s", trace ? trace : "-");
    copy_header(m, IMI_MQ_DLQ_TOPIC_HEADER, s->dlq_from, sizeof s->dlq_from);
    copy_header(m, IMI_MQ_DLQ_ATTEMPTS_HEADER, s->dlq_attempts, sizeof s->dlq_attempts);
    copy_header(m, IMI_MQ_DLQ_ERROR_HEADER, s->dlq_error, sizeof s->dlq_error);
    return true;
}

/* The workers: every order is handled, except the poison one, which never parses. */
static int on_order(void *ud, const imi_mq_msg *m)
{
    mq_log *log = ud;
    seen s;
    if (!record(log, m, &s))
        return IMI_OK;
    bool poison = !strcmp(s.key, "poison");
    pthread_mutex_lock(&log->sync.mu);
    if (log->n_work < MAX_SEEN)
        log->work[log->n_work] = s;
    log->n_work++;
    log->acked += !poison;
    demo_sync_signal(&log->sync);
    pthread_mutex_unlock(&log->sync.mu);
    return poison ? IMI_EINVALID : IMI_OK;
}

static int on_dead_letter(void *ud, const imi_mq_msg *m)
{
    mq_log *log = ud;
    seen s;
    if (!record(log, m, &s))
        return IMI_OK;
    pthread_mutex_lock(&log->sync.mu);
    if (log->n_dead++ == 0)
        log->dead = s;
    demo_sync_signal(&log->sync);
    pthread_mutex_unlock(&log->sync.mu);
    return IMI_OK;
}

static int cmp_seen(const void *a, const void *b)
{
    const seen *x = a, *y = b;
    return x->seq != y->seq ? x->seq - y->seq : x->attempt - y->attempt;
}

static int publish_orders(imi_mq *mq, const mq_log *log)
{
    for (int i = 0; i < N_ORDERS; i++) {
        char seq[8];
        snprintf(seq, sizeof seq, "%d", i);
        const imi_mq_header hs[] = {
            { "content-type", "text/plain", 10 },
            { "demo-run", log->run, strlen(log->run) },
            { "demo-seq", seq, strlen(seq) },
        };
        imi_mq_msg m = { .topic = TOPIC, .key = orders[i].key, .key_len = strlen(orders[i].key),
                         .headers = hs, .n_headers = 3, .body = orders[i].value,
                         .body_len = strlen(orders[i].value) };
        imi_ctx *ctx = imi_ctx_new(5000);
        imi_ctx_set_trace_id(ctx, orders[i].trace);
        int rc = imi_mq_publish(mq, ctx, &m);
        imi_ctx_free(ctx);
        if (rc)
            return rc;
        demo_say("published to %s key=%-6s trace=%s: %s", TOPIC, orders[i].key,
                 orders[i].trace, orders[i].value);
    }
    return IMI_OK;
}

/* What the group and the dead-letter topic must have seen. */
static int check_log(const mq_log *log)
{
    if (log->acked != N_ORDERS - 1 || log->n_dead != 1)
        return demo_fail("%d of %d orders handled and %d dead letters (want 1) before the "
                         "deadline", log->acked, N_ORDERS - 1, log->n_dead);
    int poison_tries = 0;
    for (int i = 0; i < log->n_work && i < MAX_SEEN; i++)
        poison_tries += log->work[i].seq == POISON;
    if (poison_tries != MAX_ATTEMPTS)
        return demo_fail("the poison order was tried %d times, not %d", poison_tries,
                         MAX_ATTEMPTS);
    if (log->dead.seq != POISON || strcmp(log->dead.trace, orders[POISON].trace))
        return demo_fail("the dead letter is not the poison order with its trace id");
    return IMI_OK;
}

static void print_log(mq_log *log)
{
    int n = log->n_work < MAX_SEEN ? log->n_work : MAX_SEEN;
    qsort(log->work, (size_t)n, sizeof log->work[0], cmp_seen);
    demo_say("group %s handled (in publish order):", GROUP);
    for (int i = 0; i < n; i++) {
        const seen *s = &log->work[i];
        demo_say("  %s key=%-6s attempt=%d trace=%s value='%s' -> %s", s->topic, s->key,
                 s->attempt, s->trace, s->value,
                 s->seq == POISON ? "handler failed (IMI_EINVALID)" : "ok");
    }
    if (log->n_dead) {
        const seen *d = &log->dead;
        demo_say("dead-letter topic %s received key=%s trace=%s value='%s'", d->topic, d->key,
                 d->trace, d->value);
        demo_say("  headers: %s=%s %s=%s %s=%s", IMI_MQ_DLQ_TOPIC_HEADER, d->dlq_from,
                 IMI_MQ_DLQ_ATTEMPTS_HEADER, d->dlq_attempts, IMI_MQ_DLQ_ERROR_HEADER,
                 d->dlq_error);
    }
}

static int subscribe(imi_mq *mq, const char *group, const char *topic, int max_attempts,
                     imi_mq_handler fn, mq_log *log, imi_mq_sub **out)
{
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1,
                          .max_attempts = max_attempts };
    imi_ctx *ctx = imi_ctx_new(10000);
    int rc = imi_mq_subscribe(mq, ctx, &o, fn, log, out);
    imi_ctx_free(ctx);
    if (!rc)
        demo_say("subscribed group %s to %s", group, topic);
    return rc;
}

int demo_mq(imi_app *app)
{
    imi_mq *mq;
    int rc = imi_mq_open(app, NULL, &mq);
    if (rc)
        return rc;
    demo_say("opened [mq] on driver '%s'", imi_mq_driver_name(mq));
    mq_log *log = calloc(1, sizeof *log);
    if (!log) {
        imi_mq_free(mq);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    demo_sync_init(&log->sync);
    imi_ctx *run = imi_ctx_new(0);
    snprintf(log->run, sizeof log->run, "%.20s", imi_ctx_new_trace_id(run));
    imi_ctx_free(run);

    imi_mq_sub *dead = NULL, *workers = NULL;
    rc = subscribe(mq, DLQ_GROUP, TOPIC ".dlq", -1, on_dead_letter, log, &dead);
    if (!rc)
        rc = subscribe(mq, GROUP, TOPIC, MAX_ATTEMPTS, on_order, log, &workers);
    if (!rc) {
        demo_say("the handler fails on the poison order: after %d attempts it is "
                 "dead-lettered", MAX_ATTEMPTS);
        rc = publish_orders(mq, log);
    }
    if (!rc) {
        int64_t deadline = imi_now_mono_ns() + 10000000000LL;
        pthread_mutex_lock(&log->sync.mu);
        while ((log->acked < N_ORDERS - 1 || !log->n_dead) &&
               demo_sync_wait(&log->sync, deadline)) {
        }
        pthread_mutex_unlock(&log->sync.mu);
    }
    /* Closed subscriptions call no handler any more: log is ours alone. */
    imi_mq_sub_free(workers);
    imi_mq_sub_free(dead);
    if (!rc) {
        print_log(log);
        rc = check_log(log);
    }
    if (!rc) {
        imi_mq_stats st;
        imi_mq_get_stats(mq, &st);
        demo_say("counters: published %llu, delivered %llu, acked %llu, nacked %llu, "
                 "dead-lettered %llu", (unsigned long long)st.published,
                 (unsigned long long)st.delivered, (unsigned long long)st.acked,
                 (unsigned long long)st.nacked, (unsigned long long)st.dead_lettered);
    }
    demo_sync_destroy(&log->sync);
    free(log);
    imi_mq_free(mq);
    return rc;
}
