/* What the mq front-end's two files (mq.c: handle and producer, mq_sub.c: subscriptions
 * and dead letters) share. */
#ifndef IMI_CORE_MQ_INTERNAL_H
#define IMI_CORE_MQ_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include "iminfra/mq.h"
#include "iminfra/driver/mq_driver.h"
#include "instance.h"

typedef struct mq_counters {
    atomic_ullong published, publish_failed, delivered, acked, nacked, dead_lettered, redelivered;
} mq_counters;

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
    mq_counters n;
};

/* Topic and group names every backend takes: 1-200 of [A-Za-z0-9._-]. */
bool imi_mq_name_ok(const char *name);

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
