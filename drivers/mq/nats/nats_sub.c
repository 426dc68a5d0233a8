/* NATS subscriptions: one connection per subscription (a publisher that also consumes on
 * its connection gets dropped as a slow consumer), one nats.c subscription per topic.
 *
 * Core NATS: a queue subscription named after the group. JetStream: a durable push
 * consumer per group on the topic's stream (created here, so it outlives the
 * subscription), bound with the group as deliver group and explicit acks.
 *
 * A nacked message is delivered again by the same callback after the redelivery delay
 * (JetStream: with the ack timer reset by an in-progress ack), so it stays ahead of
 * whatever follows it for this member. On close, JetStream messages not acknowledged
 * are nak'ed for redelivery elsewhere; core NATS ones are handled first (drain). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nats_mq.h"

#define MAX_STACK_HEADERS 32
#define DRAIN_MS 10000
/* A nak on close asks for redelivery after this delay, not at once: the server may still
 * count the closing member as interest for a moment after its unsubscribe, and a push
 * consumer that redelivers to no interest leaves the message pending until ack_wait
 * (30 s by default), also when a member rejoins at once (a restart). */
#define CLOSE_NAK_DELAY_MS 1000

static bool stopping(const nats_sub *s) { return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE); }

static void pause_ms(const nats_sub *s, int64_t ms)
{
    while (ms > 0 && !stopping(s)) {
        int64_t slice = ms < 20 ? ms : 20;
        struct timespec ts = { 0, slice * 1000000 };
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

static void nak_on_close(natsMsg *m)
{
    natsMsg_NakWithDelay(m, CLOSE_NAK_DELAY_MS, NULL);
}

static int unhex(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Decodes hex text in place; returns the byte count. */
static size_t unhex_in_place(char *p)
{
    size_t n = 0;
    for (; p[2 * n] && p[2 * n + 1]; n++)
        p[n] = (char)(unhex(p[2 * n]) * 16 + unhex(p[2 * n + 1]));
    return n;
}

/* The message as the front-end sees it: the key comes back from its header, encoded
 * values are decoded into `scratch` (one entry per header returned, NULL or to be freed
 * by the caller). */
static size_t read_headers(natsMsg *m, imi_mq_header *hs, size_t cap, unsigned char *key,
                           size_t key_cap, size_t *key_len, bool *has_key, char **scratch)
{
    const char **keys = NULL;
    int count = 0;
    size_t n = 0;
    if (natsMsgHeader_Keys(m, &keys, &count) != NATS_OK)
        return 0;
    for (int i = 0; i < count; i++) {
        const char *v = NULL;
        if (natsMsgHeader_Get(m, keys[i], &v) != NATS_OK || !v)
            v = "";
        if (!strcmp(keys[i], NATS_KEY_HEADER)) {
            bool hex = !strncmp(v, NATS_HDR_MARK, strlen(NATS_HDR_MARK));
            const char *p = hex ? v + strlen(NATS_HDR_MARK) : v;
            size_t len = hex ? strlen(p) / 2 : strlen(p);
            *has_key = true;
            *key_len = 0;
            for (size_t j = 0; j < len && j < key_cap; j++)
                key[(*key_len)++] = hex ? (unsigned char)(unhex(p[2 * j]) * 16 + unhex(p[2 * j + 1]))
                                        : (unsigned char)p[j];
        } else if (n < cap && !strncmp(v, NATS_HDR_MARK, strlen(NATS_HDR_MARK))) {
            char *copy = strdup(v + strlen(NATS_HDR_MARK));
            if (!copy)
                continue;
            scratch[n] = copy;
            hs[n] = (imi_mq_header){ keys[i], copy, unhex_in_place(copy) };
            n++;
        } else if (n < cap) {
            scratch[n] = NULL;
            hs[n++] = (imi_mq_header){ keys[i], v, strlen(v) };
        }
    }
    free((void *)keys);
    return n;
}

/* JetStream: how many times the server has delivered m, read from its ack subject
 * ("$JS.ACK." then 7 tokens, or 9 and more with a domain and account hash; the count is
 * the third, or the fifth). 0 when the subject has neither form. natsMsg_GetMetaData
 * says the same but copies the stream and consumer names on every message. */
static int delivered_count(const natsMsg *m)
{
    static const char prefix[] = "$JS.ACK.";
    const char *r = natsMsg_GetReply((natsMsg *)m);
    if (!r || strncmp(r, prefix, sizeof prefix - 1))
        return 0;
    r += sizeof prefix - 1;
    const char *tok[5];
    int nt = 0;
    for (const char *p = r;; p++) {
        if (nt < 5 && (p == r || p[-1] == '.'))
            tok[nt] = p;
        if (*p == '.' || !*p)
            nt++;
        if (!*p)
            break;
    }
    if (nt != 7 && nt < 9)
        return 0;
    long v = 0;
    const char *p = tok[nt == 7 ? 2 : 4];
    for (; *p >= '0' && *p <= '9' && v < 1000000000; p++)
        v = v * 10 + (*p - '0');
    return *p == '.' && v > 0 ? (int)v : 0;
}

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    nats_sub *s = closure;
    bool js = s->n->jetstream;
    (void)nc;
    (void)sub;
    if (stopping(s)) {
        if (js)
            nak_on_close(m);
        natsMsg_Destroy(m);
        return;
    }
    imi_mq_header hs[MAX_STACK_HEADERS];
    unsigned char key[512];
    size_t key_len = 0;
    bool has_key = false;
    char *scratch[MAX_STACK_HEADERS];   /* set by read_headers up to n: no 256-byte clear */
    size_t n = read_headers(m, hs, MAX_STACK_HEADERS, key, sizeof key, &key_len, &has_key,
                            scratch);
    int base = js ? delivered_count(m) : 1;
    jsMsgMetaData *meta = NULL;
    if (!base && natsMsg_GetMetaData(&meta, m) == NATS_OK) {
        base = meta->NumDelivered > 0 ? (int)meta->NumDelivered : 1;
        jsMsgMetaData_Destroy(meta);
    }
    if (!base)
        base = 1;
    const char *data = natsMsg_GetData(m);
    imi_mq_msg msg = {
        .topic = natsMsg_GetSubject(m), .key = has_key ? key : NULL, .key_len = key_len,
        .headers = hs, .n_headers = n, .body = data ? data : "",
        .body_len = (size_t)natsMsg_GetDataLength(m),
    };
    for (int attempt = base;; attempt++) {
        msg.attempt = attempt;
        if (s->deliver(s->core_sub, &msg) == IMI_OK) {
            if (js)
                natsMsg_Ack(m, NULL);
            break;
        }
        if (stopping(s)) {
            if (js)
                nak_on_close(m);
            break;
        }
        if (js)
            natsMsg_InProgress(m, NULL);
        pause_ms(s, s->delay_ms);
    }
    for (size_t i = 0; i < n; i++)
        free(scratch[i]);
    natsMsg_Destroy(m);
}

static void on_complete(void *closure)
{
    nats_sub *s = closure;
    pthread_mutex_lock(&s->lock);
    s->completed++;
    pthread_cond_broadcast(&s->done_cond);
    pthread_mutex_unlock(&s->lock);
}

static int js_bind(nats_sub *s, const char *topic, const char *group, natsSubscription **out)
{
    nats_mq *n = s->n;
    int rc = nats_ensure_stream(n, s->js, topic);
    if (rc)
        return rc;
    /* Neither name holds a '.', so the deliver subject is distinct per (stream, durable). */
    char stream[NATS_NAME_MAX + 1], durable[NATS_NAME_MAX + 1];
    char deliver[sizeof "_imi.deliver.." + 2 * NATS_NAME_MAX];
    if ((rc = nats_stream_name(n, topic, stream)) || (rc = nats_durable_name(n, group, durable)))
        return rc;
    snprintf(deliver, sizeof deliver, "_imi.deliver.%s.%s", stream, durable);
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = durable;
    cc.DeliverSubject = deliver;
    cc.DeliverGroup = durable;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = n->env->opts[OPT_ACK_WAIT].i * 1000000;
    cc.DeliverPolicy = js_DeliverAll;
    jsErrCode jerr = 0;
    natsStatus st = js_AddConsumer(NULL, s->js, stream, &cc, NULL, &jerr);
    if (st != NATS_OK && jerr != JSConsumerNameExistErr)
        return nats_error(n, st, "creating the durable consumer");
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Consumer = durable;
    so.Queue = durable;
    so.ManualAck = true;
    st = js_Subscribe(out, s->js, topic, on_msg, s, NULL, &so, &jerr);
    return st == NATS_OK ? IMI_OK : nats_error(n, st, "subscribe");
}

int nats_sub_open(void *st, void *sub, const imi_ctx *ctx, const imi_mq_sub_spec *spec,
                  imi_mq_deliver_fn deliver, void *core_sub)
{
    nats_mq *n = st;
    nats_sub *s = sub;
    *s = (nats_sub){ .n = n, .deliver = deliver, .core_sub = core_sub,
                     .delay_ms = spec->redelivery_delay_ms, .inited = true };
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->done_cond, NULL);
    s->subs = calloc(spec->n_topics, sizeof *s->subs);
    if (!s->subs)
        return n->host->error(IMI_ENOMEM, 0, "out of memory");
    int crc = nats_connect(n, &s->nc);
    if (crc)
        return crc;
    natsStatus rs;
    if (n->jetstream && (rs = natsConnection_JetStream(&s->js, s->nc, NULL)) != NATS_OK)
        return nats_error(n, rs, "JetStream context");
    for (size_t i = 0; i < spec->n_topics; i++) {
        natsSubscription **ps = &s->subs[s->n_subs];
        int rc;
        if (n->jetstream) {
            rc = js_bind(s, spec->topics[i], spec->group, ps);
        } else {
            rs = natsConnection_QueueSubscribe(ps, s->nc, spec->topics[i], spec->group, on_msg, s);
            rc = rs == NATS_OK ? IMI_OK : nats_error(n, rs, "subscribe");
        }
        if (rc)
            return rc;
        /* Close counts on the completion callback of every subscription it waits for;
         * only a subscription closed meanwhile (its connection gone) refuses it. */
        if ((rs = natsSubscription_SetOnCompleteCB(*ps, on_complete, s)) != NATS_OK) {
            natsSubscription_Destroy(*ps);
            return nats_error(n, rs, "subscribe");
        }
        s->n_subs++;
        /* No drops for a slow handler: the server's slow-consumer limit applies instead. */
        natsSubscription_SetPendingLimits(*ps, 1000000, 1024 * 1024 * 1024);
    }
    int64_t ms = n->host->ctx_remaining_ms(ctx, n->env->default_timeout_ms);
    rs = natsConnection_FlushTimeout(s->nc, ms > 0 ? ms : 1); /* the server has them */
    return rs == NATS_OK ? IMI_OK : nats_error(n, rs, "subscribe");
}

/* Waits until every subscription's delivery thread has finished, or ms passed. */
static bool wait_completed(nats_sub *s, int64_t ms)
{
    int64_t deadline = s->n->host->mono_ns() + ms * 1000000;
    pthread_mutex_lock(&s->lock);
    while (s->completed < s->n_subs && s->n->host->mono_ns() < deadline) {
        nats_cond_wait_ms(&s->done_cond, &s->lock, 20);
    }
    bool done = s->completed >= s->n_subs;
    pthread_mutex_unlock(&s->lock);
    return done;
}

/* Ends the subscriptions that did not finish draining and waits, without a bound, until
 * their delivery threads have returned: a thread still inside the handler returns into
 * this state and the front-end's, so neither may be freed before (a handler that never
 * returns holds close, as a join would). Closing the connection ends every delivery
 * thread at its next message; what it had buffered goes back to the server (JetStream:
 * after ack_wait) or is dropped (core NATS, whose drain already took its time). */
static void force_completed(nats_sub *s, int64_t start_ns)
{
    for (size_t i = 0; i < s->n_subs; i++)
        natsSubscription_Unsubscribe(s->subs[i]);
    natsConnection_Close(s->nc);
    while (!wait_completed(s, DRAIN_MS)) {
        s->n->host->log(s->n->env->logger, IMI_HOST_LOG_WARN, NULL, "nats: closing a "
                        "subscription: a message handler has not returned %lld s after close "
                        "began", (long long)((s->n->host->mono_ns() - start_ns) / 1000000000));
    }
}

void nats_sub_close(void *st, void *sub)
{
    nats_sub *s = sub;
    (void)st;
    if (!s->inited)
        return;
    int64_t start_ns = s->n->host->mono_ns();
    /* JetStream: nak what is buffered (redelivered at once elsewhere). Core NATS: handle
     * it, since nobody else will get it; stop retrying only if that takes too long. */
    if (s->n->jetstream)
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < s->n_subs; i++)
        if (natsSubscription_Drain(s->subs[i]) != NATS_OK)
            natsSubscription_Unsubscribe(s->subs[i]);
    if (!wait_completed(s, DRAIN_MS / 2)) {
        __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
        if (!wait_completed(s, DRAIN_MS))
            force_completed(s, start_ns);
    }
    for (size_t i = 0; i < s->n_subs; i++)
        natsSubscription_Destroy(s->subs[i]);
    free(s->subs);
    if (s->js)
        jsCtx_Destroy(s->js);
    if (s->nc) {
        natsConnection_Close(s->nc);
        natsConnection_Destroy(s->nc);
    }
    pthread_cond_destroy(&s->done_cond);
    pthread_mutex_destroy(&s->lock);
    s->inited = false;
}
