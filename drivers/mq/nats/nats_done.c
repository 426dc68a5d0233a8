/* Core NATS async completions. A core publish has no acknowledgement of its own: a flush
 * round trip (PING after the bytes, the server's PONG) confirms everything published
 * before it. Each async publish queues its completion here; one thread per handle,
 * started by the first async publish, gathers for a millisecond, flushes once and runs
 * the completions that flush confirmed, so the publishing thread never wakes another
 * thread per message (only the first publish after an idle spell signals it).
 *
 * The queue is made cheap for the publisher because it is what each publish pays on top
 * of nats.c: a completion equal to the last one queued (same callback, handle and user
 * data: one callback per producer, the common case) adds one to that run's count instead
 * of copying 32 bytes, and one block of runs is kept for reuse, so a stream of publishes
 * neither allocates nor writes fresh memory that the flusher then has to pull over to its
 * own core. (Before, the copy and a locked add per publish were most of the driver's cost
 * by a profile of a publish loop; the instructions were few, the cache misses were not.)
 *
 * `pending` counts what the flusher took and has not completed yet; a flush waits until
 * that and the queue are both empty. JetStream publishes (nats_acks.c) use `pending` too. */
#include <stdlib.h>
#include <time.h>
#include "nats_mq.h"

#define GATHER_MS 1
#define RETRY_MS 50
#define RUNS_PER_BLOCK 128

/* n publishes in a row whose completions are the same. */
typedef struct done_run {
    imi_mq_done done;
    size_t count;
} done_run;

typedef struct done_block {
    struct done_block *next;
    size_t n;
    done_run run[RUNS_PER_BLOCK];
} done_block;

void nats_pending_done(nats_mq *n, long count)
{
    if (__atomic_sub_fetch(&n->pending, count, __ATOMIC_ACQ_REL) != 0)
        return;
    /* Under the lock, so that a flush between its check and its wait still wakes. */
    pthread_mutex_lock(&n->lock);
    pthread_cond_broadcast(&n->idle);
    pthread_mutex_unlock(&n->lock);
}

static bool same_done(const imi_mq_done *a, const imi_mq_done *b)
{
    return a->fn == b->fn && a->core == b->core && a->user_fn == b->user_fn &&
           a->user_ud == b->user_ud;
}

/* Runs every completion of list with rc, frees all its blocks but one (returned, for
 * reuse) and returns how many completions ran. */
static done_block *complete_list(done_block *list, int rc, long *ran)
{
    *ran = 0;
    for (done_block *b = list; b; b = b->next)
        for (size_t i = 0; i < b->n; i++) {
            const done_run *r = &b->run[i];
            for (size_t k = 0; k < r->count; k++)
                r->done.fn(&r->done, rc);
            *ran += (long)r->count;
        }
    done_block *keep = list, *next = list->next;
    while (next) {
        done_block *b = next;
        next = b->next;
        free(b);
    }
    keep->next = NULL;
    return keep;
}

/* Flushes until the server confirmed, or close gave up (lock not held). */
static int confirm(nats_mq *n, bool stopping)
{
    for (;;) {
        natsStatus s = natsConnection_FlushTimeout(n->nc, stopping ? 1000 : 10000);
        if (s == NATS_OK)
            return IMI_OK;
        if (stopping)
            return nats_error(n, s, "flush");
        /* Not confirmed yet (e.g. reconnecting): wait a little and try again; close cuts
         * the wait short and makes the next try the last. */
        pthread_mutex_lock(&n->lock);
        if (!n->stopping)
            nats_cond_wait_ms(&n->wake, &n->lock, RETRY_MS);
        stopping = n->stopping;
        pthread_mutex_unlock(&n->lock);
    }
}

static void *flush_loop(void *arg)
{
    nats_mq *n = arg;
    pthread_mutex_lock(&n->lock);
    for (;;) {
        while (!n->queue_head && !n->stopping) {
            n->flusher_waiting = true;
            pthread_cond_wait(&n->wake, &n->lock);
        }
        n->flusher_waiting = false;
        if (!n->queue_head)
            break;
        /* Gather a millisecond's worth of publishes per round trip; a flush waiting for
         * them, or close, signals wake and ends the gathering at once. */
        if (!n->stopping && !n->flush_waiters)
            nats_cond_wait_ms(&n->wake, &n->lock, GATHER_MS);
        done_block *list = n->queue_head;
        n->queue_head = n->queue_tail = NULL;
        __atomic_add_fetch(&n->pending, n->queued, __ATOMIC_RELAXED);
        n->queued = 0;
        bool stopping = n->stopping;
        pthread_mutex_unlock(&n->lock);
        int rc = confirm(n, stopping);
        long ran;
        done_block *keep = complete_list(list, rc ? IMI_ECLOSED : IMI_OK, &ran);
        nats_pending_done(n, ran);
        pthread_mutex_lock(&n->lock);
        if (!n->spare)
            n->spare = keep;
        else
            free(keep);
    }
    pthread_mutex_unlock(&n->lock);
    return NULL;
}

int nats_done_queue(nats_mq *n, const imi_mq_done *done)
{
    int rc = IMI_OK;
    pthread_mutex_lock(&n->lock);
    if (!n->flusher_started) {
        if (pthread_create(&n->flusher, NULL, flush_loop, n)) {
            pthread_mutex_unlock(&n->lock);
            return n->host->error(IMI_ENOMEM, 0, "nats: cannot start the completion thread");
        }
        n->flusher_started = true;
    }
    done_block *b = n->queue_tail;
    if (b && same_done(&b->run[b->n - 1].done, done)) {
        b->run[b->n - 1].count++;
    } else {
        if (!b || b->n == RUNS_PER_BLOCK) {
            if ((b = n->spare))
                n->spare = NULL;
            else if (!(b = malloc(sizeof *b)))
                rc = n->host->error(IMI_ENOMEM, 0, "out of memory");
            if (b) {
                b->next = NULL;
                b->n = 0;
                if (n->queue_tail)
                    n->queue_tail->next = b;
                else
                    n->queue_head = b;
                n->queue_tail = b;
            }
        }
        if (b)
            b->run[b->n++] = (done_run){ .done = *done, .count = 1 };
    }
    if (!rc) {
        n->queued++;
        if (n->flusher_waiting) {
            n->flusher_waiting = false;    /* one signal per idle spell, not per publish */
            pthread_cond_signal(&n->wake);
        }
    }
    pthread_mutex_unlock(&n->lock);
    return rc;
}

int nats_done_flush(nats_mq *n, const imi_ctx *ctx)
{
    int64_t deadline = n->host->mono_ns() +
                       n->host->ctx_remaining_ms(ctx, n->env->default_timeout_ms) * 1000000;
    int rc = IMI_OK;
    pthread_mutex_lock(&n->lock);
    n->flush_waiters++;
    pthread_cond_signal(&n->wake);     /* the flusher stops gathering */
    long pending;
    while ((pending = __atomic_load_n(&n->pending, __ATOMIC_ACQUIRE) + n->queued) > 0) {
        if (n->host->ctx_canceled(ctx)) {
            rc = n->host->error(IMI_ECANCELED, 0, "flush canceled");
            break;
        }
        if (n->host->mono_ns() >= deadline) {
            rc = n->host->error(IMI_ETIMEDOUT, 0, "flush: %ld publishes not confirmed by the "
                                "deadline", pending);
            break;
        }
        nats_cond_wait_ms(&n->idle, &n->lock, 10);
    }
    n->flush_waiters--;
    pthread_mutex_unlock(&n->lock);
    return rc;
}

void nats_done_close(nats_mq *n)
{
    pthread_mutex_lock(&n->lock);
    n->stopping = true;
    pthread_cond_broadcast(&n->wake);
    pthread_mutex_unlock(&n->lock);
    if (n->flusher_started)
        pthread_join(n->flusher, NULL);
    free(n->spare);
    n->spare = NULL;
}
