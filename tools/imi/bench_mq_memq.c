/* The baseline of imi bench mq on the mem driver: the plainest correct in-process queue
 * a C programmer would write - a bounded ring of malloc'd copies under one mutex, two
 * condition variables, one consumer thread - measured by the same code as im-infra. */
#include <stdlib.h>
#include <string.h>
#include "bench_mq.h"

#define MEMQ_CAP 100000             /* the mem driver's default max_queue */

typedef struct memq_item {
    void *data;
    size_t len;
} memq_item;

typedef struct memq {
    pthread_mutex_t lock;
    pthread_cond_t nonempty, nonfull;
    memq_item *ring;
    size_t head, len;
    bool stop, started;
    bench_sink *sink;
    pthread_t thread;
} memq;

static void *memq_consumer(void *arg)
{
    memq *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->len && !q->stop)
            pthread_cond_wait(&q->nonempty, &q->lock);
        if (q->stop)
            break;
        memq_item it = q->ring[q->head];
        q->head = (q->head + 1) % MEMQ_CAP;
        q->len--;
        pthread_cond_signal(&q->nonfull);
        pthread_mutex_unlock(&q->lock);
        bench_sink_record(q->sink, it.data, it.len);
        free(it.data);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static int memq_consume(void *ud, const char *topic, bench_sink *s)
{
    (void)topic;
    memq *q = ud;
    q->sink = s;
    if (pthread_create(&q->thread, NULL, memq_consumer, q))
        return imi_error_set(IMI_EINTERNAL, 0, "mutex queue: cannot start its consumer");
    q->started = true;
    return IMI_OK;
}

static int memq_push(void *ud, const char *topic, const void *body, size_t len)
{
    (void)topic;
    memq *q = ud;
    void *copy = malloc(len ? len : 1);
    if (!copy)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    memcpy(copy, body, len);
    pthread_mutex_lock(&q->lock);
    while (q->len == MEMQ_CAP)
        pthread_cond_wait(&q->nonfull, &q->lock);
    q->ring[(q->head + q->len++) % MEMQ_CAP] = (memq_item){ .data = copy, .len = len };
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->lock);
    return IMI_OK;
}

/* A push is complete when it returns: nothing to wait for. */
static int memq_flush(void *ud)
{
    (void)ud;
    return IMI_OK;
}

static void memq_stop(void *ud)
{
    memq *q = ud;
    if (q->started) {
        pthread_mutex_lock(&q->lock);
        q->stop = true;
        pthread_cond_broadcast(&q->nonempty);
        pthread_mutex_unlock(&q->lock);
        pthread_join(q->thread, NULL);
    }
    for (; q->len; q->len--, q->head = (q->head + 1) % MEMQ_CAP)
        free(q->ring[q->head].data);
    pthread_cond_destroy(&q->nonfull);
    pthread_cond_destroy(&q->nonempty);
    pthread_mutex_destroy(&q->lock);
    free(q->ring);
    free(q);
}

bool bench_mq_memq_target(bench_target *out)
{
    memq *q = calloc(1, sizeof *q);
    if (q && !(q->ring = calloc(MEMQ_CAP, sizeof *q->ring))) {
        free(q);
        q = NULL;
    }
    if (!q)
        return false;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    pthread_cond_init(&q->nonfull, NULL);
    *out = (bench_target){ .name = "mutex queue", .ud = q, .consume = memq_consume,
                           .publish_async = memq_push, .flush = memq_flush,
                           .publish_sync = memq_push, .stop = memq_stop };
    return true;
}
