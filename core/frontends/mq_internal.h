/* What the mq front-end's two files (mq.c: handle and producer, mq_sub.c: subscriptions
 * and dead letters) share. */
#ifndef IMI_CORE_MQ_INTERNAL_H
#define IMI_CORE_MQ_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include "iminfra/mq.h"
#include "iminfra/driver/mq_driver.h"
#include "instance.h"

/* The counters of a handle or a subscription, striped like the metrics (metrics.h): a
 * thread adds on its own stripe with a plain load and store (a locked add on one shared
 * line per message cost the completion and delivery threads more than the rest of their
 * counting); readers sum the stripes. */
typedef struct mq_stripe {
    _Atomic uint64_t published, publish_failed, delivered, acked, nacked, dead_lettered,
        redelivered;
    char pad[64 - 7 * sizeof(uint64_t)];
} mq_stripe;

typedef struct mq_counters {
    mq_stripe s[IMI_METRIC_STRIPES];
} mq_counters;

static inline void mq_count_at(mq_counters *c, size_t offset, const imi_thread_slot *t)
{
    imi_metric_bump((_Atomic uint64_t *)((char *)&c->s[t->stripe] + offset), 1, t->owned);
}
static inline void mq_count(mq_counters *c, size_t offset)
{
    mq_count_at(c, offset, imi_thread());
}
#define MQ_COUNT(c, field) mq_count((c), offsetof(mq_stripe, field))
/* The same on the slot a call already holds (instance.h: each access is a call). */
#define MQ_COUNT_AT(c, field, t) mq_count_at((c), offsetof(mq_stripe, field), (t))

/* Why a message's key, body or headers break the shape every message has (no pointer at
 * NULL with a length, every header named; on publish, named with at least one byte), or
 * NULL. Checked on publish and on each delivery a driver makes. */
static inline const char *imi_mq_msg_unsound(const imi_mq_msg *m, bool publish)
{
    if ((!m->key && m->key_len) || (!m->body && m->body_len) || (!m->headers && m->n_headers))
        return "a key, body or headers at NULL with a length";
    for (size_t i = 0; i < m->n_headers; i++)
        if (!m->headers[i].name || (publish && !*m->headers[i].name) ||
            (!m->headers[i].value && m->headers[i].len))
            return "a header without a name, or its value at NULL with a length";
    return NULL;
}

#define MQ_SUM(c, field) imi_stripes_sum((c)->s, sizeof(mq_stripe), offsetof(mq_stripe, field))

/* Topics per handle whose check is remembered (imi_mq_topic_ok). */
#define IMI_MQ_TOPIC_COPIES 8

struct imi_mq {
    imi_instance in;
    const imi_mq_driver *vt;        /* in.vt, normalised with its ops structs */
    const imi_mq_producer_ops *p;
    const imi_mq_sub_ops *s;
    int max_attempts;               /* 0: never dead-letter */
    char *dlq_suffix;
    int64_t redelivery_delay_ms;
    int64_t close_timeout_ms;
    atomic_bool async_used;         /* an async publish was made: close waits for it */
    pthread_mutex_t subs_lock;
    imi_mq_sub *subs;               /* every subscription not yet freed */
    imi_mq_sub *closing;            /* the one close is at: its owner's free waits (subs_lock) */
    pthread_cond_t closing_moved;
    mq_counters n;
    /* The topic of the last publish that passed the name check: a copy that stays
     * unchanged until the handle is freed, so that a publish to the same topic costs
     * one strcmp instead of the check (mq.c, mq_topic_ok). */
    const char *_Atomic topic_ok;
    pthread_mutex_t topics_lock;    /* adding to topics */
    char *topics[IMI_MQ_TOPIC_COPIES]; /* every copy made, read without the lock */
    atomic_size_t n_topics;
};

/* Topic and group names every backend takes: 1-200 of [A-Za-z0-9._-]. */
bool imi_mq_name_ok(const char *name);
/* imi_mq_name_ok for a topic published on mq: the topic of the handle's previous
 * publish, or one of the first IMI_MQ_TOPIC_COPIES it published to, is known good. */
bool imi_mq_topic_ok(imi_mq *mq, const char *topic);

/* Publishes msg through the driver, adding the trace header of ctx (sync or async). */
int imi_mq_publish_raw(imi_mq *mq, const imi_ctx *ctx, const imi_mq_msg *msg,
                       const imi_mq_done *done);

/* Closes every subscription of mq that is still open (mq_sub.c). */
void imi_mq_close_subs(imi_mq *mq);
/* Frees every subscription of mq (mq_sub.c). */
void imi_mq_free_subs(imi_mq *mq);
/* true when the calling thread is inside a handler of a subscription of mq. */
bool imi_mq_in_handler(const imi_mq *mq);

#endif
