/* JetStream async publish: the driver tracks the stream's acknowledgements itself.
 *
 * A JetStream publish is a request: the stream answers on the reply subject with a JSON
 * acknowledgement. nats.c's js_PublishMsgAsync keeps every message in a string hash and,
 * once an ack handler is set, parses each answer into a JSON tree and copies its fields:
 * several thousand instructions and a dozen allocations per message, more than the
 * publish itself. Here each publish takes a slot of a table (at most max_pending, which
 * bounds what is in flight) and is sent with the reply subject "<inbox>.<slot>.<use>";
 * the answer names its slot, and an answer without an "error" member is success (the
 * stream and domain names it carries cannot hold a quote). No message is kept.
 *
 * As with nats.c's version, an answer lost to a disconnect leaves its slot in flight:
 * flush times out and close fails it with IMI_ECLOSED. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "nats_mq.h"

#define SLOT_CHUNK 1024
#define CLOSE_WARN_S 10

typedef struct ack_slot {
    imi_mq_done done;
    uint32_t use;                   /* bumped at each use: a late answer to an earlier one
                                       is ignored */
    uint32_t next_free;             /* free list: index + 1, 0 ends it */
    bool busy;
} ack_slot;

typedef struct nats_acks {
    natsSubscription *sub;
    char prefix[96];                /* "<inbox>." */
    size_t prefix_len;
    ack_slot **chunks;              /* max_pending slots, SLOT_CHUNK per chunk, on demand */
    uint32_t n_slots, max_slots, free_head;
    int room_waiters;
    pthread_cond_t room;
    pthread_cond_t ended;
    bool sub_done;
} nats_acks;

static ack_slot *slot_at(nats_acks *a, uint32_t i)
{
    return &a->chunks[i / SLOT_CHUNK][i % SLOT_CHUNK];
}

/* The answer d (len bytes) has an "error" member: the string "error" followed by a colon,
 * a key. As a value ("stream":"error", a stream named so with an empty stream_prefix) it
 * is followed by ',' or '}'; names hold no quote, so no value ends in one. */
static bool has_error_member(const char *d, size_t len)
{
    const char *p = d, *end = d + len;
    while ((p = memmem(p, (size_t)(end - p), "\"error\"", 7))) {
        p += 7;
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        if (p < end && *p == ':')
            return true;
    }
    return false;
}

/* The result the stream's answer m gives (detail through host->error). */
static int ack_result(nats_mq *n, natsMsg *m)
{
    if (natsMsg_IsNoResponders(m))
        return nats_error(n, NATS_NO_RESPONDERS, "publish: no stream took the message");
    const char *d = natsMsg_GetData(m);
    int len = natsMsg_GetDataLength(m);
    if (d && len > 1 && d[0] == '{' && !has_error_member(d, (size_t)len))
        return IMI_OK;
    return n->host->error(IMI_EDRIVER, 0, "nats: publish: the stream refused the message: %.*s",
                          len > 300 ? 300 : len, d ? d : "");
}

/* Frees slot i (lock held). */
static void release(nats_acks *a, uint32_t i)
{
    ack_slot *s = slot_at(a, i);
    s->busy = false;
    s->next_free = a->free_head;
    a->free_head = i + 1;
    if (a->room_waiters)
        pthread_cond_signal(&a->room);
}

/* The decimal at p (UINT64_MAX past 32 bits or without a digit); *end after it. */
static uint64_t get_u32(const char *p, const char **end)
{
    uint64_t v = 0;
    const char *q = p;
    for (; *q >= '0' && *q <= '9' && v <= UINT32_MAX; q++)
        v = v * 10 + (uint64_t)(*q - '0');
    *end = q;
    return q == p || v > UINT32_MAX ? UINT64_MAX : v;
}

static void on_ack(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    nats_mq *n = closure;
    nats_acks *a = n->acks;
    (void)nc;
    (void)sub;
    /* "<prefix><slot>.<use>" (the subscription matches the prefix) */
    const char *p = natsMsg_GetSubject(m);
    const char *end = NULL;
    uint64_t i = 0, use = 0;
    bool ok = p && strlen(p) > a->prefix_len;
    if (ok) {
        i = get_u32(p + a->prefix_len, &end);
        ok = *end == '.';
    }
    if (ok) {
        use = get_u32(end + 1, &end);
        ok = !*end;
    }
    imi_mq_done done = { 0 };
    pthread_mutex_lock(&n->lock);
    ok = ok && i < a->n_slots && use <= UINT32_MAX && slot_at(a, (uint32_t)i)->busy &&
         slot_at(a, (uint32_t)i)->use == (uint32_t)use;
    if (ok) {
        done = slot_at(a, (uint32_t)i)->done;
        release(a, (uint32_t)i);
    }
    pthread_mutex_unlock(&n->lock);
    if (ok) {
        done.fn(&done, ack_result(n, m));
        nats_pending_done(n, 1);
    }
    natsMsg_Destroy(m);
}

static void on_sub_done(void *closure)
{
    nats_mq *n = closure;
    pthread_mutex_lock(&n->lock);
    n->acks->sub_done = true;
    pthread_cond_broadcast(&n->acks->ended);
    pthread_mutex_unlock(&n->lock);
}

/* Creates the table and subscribes to the answers, at the first async publish (lock
 * held): a handle that never publishes async costs no subscription and no thread. */
static int acks_start(nats_mq *n)
{
    nats_acks *a = calloc(1, sizeof *a);
    natsInbox *inbox = NULL;
    if (!a)
        return n->host->error(IMI_ENOMEM, 0, "out of memory");
    a->max_slots = (uint32_t)n->env->opts[OPT_MAX_PENDING].i;
    a->chunks = calloc((a->max_slots + SLOT_CHUNK - 1) / SLOT_CHUNK, sizeof *a->chunks);
    natsStatus s = a->chunks ? natsInbox_Create(&inbox) : NATS_NO_MEMORY;
    if (s == NATS_OK) {
        snprintf(a->prefix, sizeof a->prefix, "%s.", inbox);
        a->prefix_len = strlen(a->prefix);
        char subject[sizeof a->prefix + 4];
        snprintf(subject, sizeof subject, "%s*.*", a->prefix);
        s = natsConnection_Subscribe(&a->sub, n->nc, subject, on_ack, n);
    }
    natsInbox_Destroy(inbox);
    /* Answers are never dropped: max_pending bounds them. */
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(a->sub, -1, -1);
    if (s == NATS_OK)
        s = natsSubscription_SetOnCompleteCB(a->sub, on_sub_done, n);
    if (s != NATS_OK) {
        natsSubscription_Destroy(a->sub);
        free(a->chunks);
        free(a);
        return nats_error(n, s, "subscribing to the acknowledgements");
    }
    pthread_cond_init(&a->room, NULL);
    pthread_cond_init(&a->ended, NULL);
    n->acks = a;
    return IMI_OK;
}

/* A free slot for done (lock held), waiting for one until deadline_ns; its index. */
static int take_slot(nats_mq *n, const imi_ctx *ctx, int64_t deadline_ns, uint32_t *out)
{
    nats_acks *a = n->acks;
    while (!a->free_head && a->n_slots == a->max_slots) {
        if (n->host->ctx_canceled(ctx))
            return n->host->error(IMI_ECANCELED, 0, "publish canceled");
        if (n->host->mono_ns() >= deadline_ns)
            return n->host->error(IMI_ETIMEDOUT, 0, "nats: publish: %u publishes (max_pending) "
                                  "still unacknowledged at the deadline", a->max_slots);
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        a->room_waiters++;
        pthread_cond_timedwait(&a->room, &n->lock, &ts);
        a->room_waiters--;
    }
    if (a->free_head) {
        *out = a->free_head - 1;
        a->free_head = slot_at(a, *out)->next_free;
        return IMI_OK;
    }
    ack_slot **c = &a->chunks[a->n_slots / SLOT_CHUNK];
    if (!*c && !(*c = calloc(SLOT_CHUNK, sizeof **c)))
        return n->host->error(IMI_ENOMEM, 0, "out of memory");
    *out = a->n_slots++;
    return IMI_OK;
}

/* Writes v in decimal at p; returns the end (snprintf costs ~1,200 instructions here). */
static char *put_u32(char *p, uint32_t v)
{
    char tmp[10];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        *p++ = tmp[--n];
    return p;
}

int nats_acks_publish(nats_mq *n, const imi_ctx *ctx, const imi_mq_msg *m,
                      const imi_mq_done *done)
{
    int64_t deadline = n->host->mono_ns() +
                       n->host->ctx_remaining_ms(ctx, n->env->default_timeout_ms) * 1000000;
    uint32_t i = 0, use = 0;
    pthread_mutex_lock(&n->lock);
    int rc = n->acks ? IMI_OK : acks_start(n);
    if (!rc)
        rc = take_slot(n, ctx, deadline, &i);
    if (!rc) {
        ack_slot *s = slot_at(n->acks, i);
        s->done = *done;
        s->busy = true;
        use = ++s->use;
        __atomic_add_fetch(&n->pending, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&n->lock);
    if (rc)
        return rc;
    /* "<prefix><slot>.<use>" */
    char reply[sizeof n->acks->prefix + 24];
    memcpy(reply, n->acks->prefix, n->acks->prefix_len);
    char *p = put_u32(reply + n->acks->prefix_len, i);
    *p++ = '.';
    *put_u32(p, use) = '\0';
    natsStatus s;
    natsMsg *msg = NULL;
    if (!m->n_headers && !m->key) {
        s = natsConnection_PublishRequest(n->nc, m->topic, reply, m->body, (int)m->body_len);
    } else {
        if ((rc = nats_make_msg(n, m, reply, &msg)))
            s = NATS_ERR;
        else
            s = natsConnection_PublishMsg(n->nc, msg);
        natsMsg_Destroy(msg);
    }
    if (s == NATS_OK)
        return IMI_OK;
    /* Not sent: no answer will come, and done is never called. */
    if (!rc)
        rc = nats_error(n, s, "publish");
    pthread_mutex_lock(&n->lock);
    release(n->acks, i);
    pthread_mutex_unlock(&n->lock);
    nats_pending_done(n, 1);
    return rc;
}

void nats_acks_close(nats_mq *n)
{
    nats_acks *a = n->acks;
    if (!a)
        return;
    /* No answer is handled after this: unsubscribing ends the delivery thread once the
     * answer in hand is done, and close waits for it without a bound, since that answer's
     * completion is user code that returns into this table and n (a completion that never
     * returns holds close, as a join would). When the connection is already closed, so is
     * the subscription: the thread ends all the same. */
    natsSubscription_Unsubscribe(a->sub);
    int64_t start = n->host->mono_ns(), warned_s = 0;
    pthread_mutex_lock(&n->lock);
    while (!a->sub_done) {
        nats_cond_wait_ms(&a->ended, &n->lock, 1000);
        int64_t s = (n->host->mono_ns() - start) / 1000000000;
        if (!a->sub_done && s >= warned_s + CLOSE_WARN_S) {
            warned_s = s;
            n->host->log(n->env->logger, IMI_HOST_LOG_WARN, NULL, "nats: closing: a publish "
                         "completion has not returned for %lld s", (long long)s);
        }
    }
    pthread_mutex_unlock(&n->lock);
    natsSubscription_Destroy(a->sub);
    /* Publishes never acknowledged fail now: every completion runs. */
    for (uint32_t i = 0; i < a->n_slots; i++) {
        ack_slot *s = slot_at(a, i);
        if (!s->busy)
            continue;
        s->busy = false;
        n->host->error(IMI_ECLOSED, 0, "closed before the stream acknowledged the message");
        s->done.fn(&s->done, IMI_ECLOSED);
        nats_pending_done(n, 1);
    }
    for (uint32_t c = 0; c < (a->max_slots + SLOT_CHUNK - 1) / SLOT_CHUNK; c++)
        free(a->chunks[c]);
    free(a->chunks);
    pthread_cond_destroy(&a->room);
    pthread_cond_destroy(&a->ended);
    free(a);
    n->acks = NULL;
}
