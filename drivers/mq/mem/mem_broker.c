/* The in-memory broker: registry, topics, groups, publish with back-pressure, trimming
 * (see mem.c for the model, mem_broker.h for the locks). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mem_broker.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mem_broker *registry;

void mem_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t now_ns,
                   int64_t deadline_ns)
{
    /* The conds use CLOCK_REALTIME; waits are short and re-check the monotonic clock. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wait = deadline_ns - now_ns;
    if (wait > 50000000)
        wait = 50000000; /* re-check cancel at least every 50 ms */
    int64_t ns = ts.tv_nsec + wait;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(cond, lock, &ts);
}

void mem_mutex_init(pthread_mutex_t *lock)
{
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
#ifdef PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ADAPTIVE_NP);
#endif
    pthread_mutex_init(lock, &a);
    pthread_mutexattr_destroy(&a);
}

static uint64_t hash_bytes(const void *data, size_t n)
{
    const unsigned char *s = data;
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211u;
    return h;
}

/* ---- registry ---------------------------------------------------------------------- */

mem_broker *mem_broker_get(const char *ns, size_t partitions, size_t max_queue,
                           size_t max_bytes)
{
    pthread_mutex_lock(&registry_lock);
    mem_broker *b = registry;
    while (b && strcmp(b->ns, ns))
        b = b->next;
    if (!b && (b = calloc(1, sizeof *b))) {
        if (!(b->ns = strdup(ns))) {
            free(b);
            b = NULL;
        } else {
            /* The first handle of a namespace sets its shape. */
            b->np = partitions;
            b->max_queue = max_queue;
            b->max_bytes = max_bytes;
            pthread_mutex_init(&b->lock, NULL);
            pthread_mutex_init(&b->wake_lock, NULL);
            pthread_cond_init(&b->wake, NULL);
            pthread_mutex_init(&b->room_lock, NULL);
            pthread_mutex_init(&b->pool.lock, NULL);
            pthread_cond_init(&b->room, NULL);
            b->next = registry;
            registry = b;
        }
    }
    if (b)
        b->refs++;
    pthread_mutex_unlock(&registry_lock);
    return b;
}

static void free_topic(mem_topic *t, size_t np)
{
    for (size_t p = 0; p < np; p++) {
        mem_log_free(&t->parts[p].log);
        pthread_mutex_destroy(&t->parts[p].lock);
    }
    for (mem_group *g = t->groups, *next; g; g = next) {
        next = g->next;
        free(g->name);
        free(g->parts);
        free(g);
    }
    free(t->parts);
    free(t->name);
    free(t);
}

void mem_broker_put(mem_broker *b)
{
    pthread_mutex_lock(&registry_lock);
    if (--b->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (mem_broker **p = &registry; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
    for (size_t i = 0; i < MEM_TOPIC_BUCKETS; i++)
        for (mem_topic *t = b->topics[i], *next; t; t = next) {
            next = t->next;
            free_topic(t, b->np);
        }
    mem_pool_free(&b->pool);
    pthread_mutex_destroy(&b->pool.lock);
    pthread_cond_destroy(&b->room);
    pthread_mutex_destroy(&b->room_lock);
    pthread_cond_destroy(&b->wake);
    pthread_mutex_destroy(&b->wake_lock);
    pthread_mutex_destroy(&b->lock);
    free(b->ns);
    free(b);
}

/* ---- topics and groups: found without a lock, added under b->lock ------------------ */

static mem_topic *find_topic(mem_topic *t, const char *name)
{
    for (; t; t = t->next)
        if (!strcmp(t->name, name))
            return t;
    return NULL;
}

mem_topic *mem_topic_get(mem_broker *b, const char *name)
{
    mem_topic *_Atomic *bucket = &b->topics[hash_bytes(name, strlen(name)) % MEM_TOPIC_BUCKETS];
    mem_topic *t = find_topic(atomic_load_explicit(bucket, memory_order_acquire), name);
    if (t)
        return t;
    pthread_mutex_lock(&b->lock);
    mem_topic *head = atomic_load_explicit(bucket, memory_order_relaxed);
    if ((t = find_topic(head, name)) || !(t = calloc(1, sizeof *t)))
        goto out;
    t->name = strdup(name);
    /* Each partition on cache lines of its own: a producer appending to one does not
     * take the line from under a member working on its neighbour. */
    if ((t->parts = aligned_alloc(MEM_LINE, b->np * sizeof *t->parts)))
        memset(t->parts, 0, b->np * sizeof *t->parts);
    if (!t->name || !t->parts) {
        free(t->name);
        free(t->parts);
        free(t);
        t = NULL;
        goto out;
    }
    for (size_t p = 0; p < b->np; p++)
        mem_mutex_init(&t->parts[p].lock);
    t->next = head;
    atomic_store_explicit(bucket, t, memory_order_release);
out:
    pthread_mutex_unlock(&b->lock);
    return t;
}

static mem_group *find_group(mem_group *g, const char *name)
{
    for (; g; g = g->next)
        if (!strcmp(g->name, name))
            return g;
    return NULL;
}

/* A new group starts at the oldest message held: set under every partition's lock, so
 * that no trim runs between reading a partition's start and the group being listed. */
mem_group *mem_group_get(mem_broker *b, mem_topic *t, const char *name)
{
    pthread_mutex_lock(&b->lock);
    mem_group *head = atomic_load_explicit(&t->groups, memory_order_relaxed);
    mem_group *g = find_group(head, name);
    if (g || !(g = calloc(1, sizeof *g)))
        goto out;
    g->name = strdup(name);
    g->parts = calloc(b->np, sizeof *g->parts);
    if (!g->name || !g->parts) {
        free(g->name);
        free(g->parts);
        free(g);
        g = NULL;
        goto out;
    }
    for (size_t p = 0; p < b->np; p++) {
        pthread_mutex_lock(&t->parts[p].lock);
        g->parts[p].next_off = t->parts[p].log.base;
        atomic_store_explicit(&g->parts[p].pos, t->parts[p].log.base, memory_order_relaxed);
    }
    g->next = head;
    atomic_store_explicit(&t->groups, g, memory_order_release);
    for (size_t p = 0; p < b->np; p++)
        pthread_mutex_unlock(&t->parts[p].lock);
out:
    pthread_mutex_unlock(&b->lock);
    return g;
}

void mem_wake_all(mem_broker *b)
{
    pthread_mutex_lock(&b->wake_lock);
    atomic_store(&b->sleepers, 0);
    b->wake_gen++;
    pthread_cond_broadcast(&b->wake);
    pthread_mutex_unlock(&b->wake_lock);
}

/* ---- room: a topic's count and bytes, reserved before an append -------------------- */

static bool reserve(mem_broker *b, mem_topic *t, size_t size)
{
    size_t c = atomic_load(&t->count);
    do {
        if (c >= b->max_queue)
            return false;
    } while (!atomic_compare_exchange_weak(&t->count, &c, c + 1));
    size_t by = atomic_load(&t->bytes);
    do {
        if (by + size > b->max_bytes) {
            atomic_fetch_sub(&t->count, 1);
            return false;
        }
    } while (!atomic_compare_exchange_weak(&t->bytes, &by, by + size));
    return true;
}

/* Gives room back and wakes the publishers waiting for it (have_lock: room_lock held).
 * Publishers count themselves in room_waiters before they test for room, so either they
 * see what is given back or this sees them (both sequentially consistent). */
static void release(mem_broker *b, mem_topic *t, size_t n, size_t bytes, bool have_lock)
{
    atomic_fetch_sub(&t->count, n);
    atomic_fetch_sub(&t->bytes, bytes);
    if (!atomic_load(&b->room_waiters))
        return;
    if (!have_lock)
        pthread_mutex_lock(&b->room_lock);
    pthread_cond_broadcast(&b->room);
    if (!have_lock)
        pthread_mutex_unlock(&b->room_lock);
}

/* Waits until size bytes and one message fit, or the ctx ends. */
static int wait_room(mem_broker *b, const imi_host_api *host, const imi_ctx *ctx,
                     int64_t default_ms, mem_topic *t, size_t size)
{
    int64_t deadline = host->mono_ns() + mem_ms_to_ns(host->ctx_remaining_ms(ctx, default_ms));
    int rc = IMI_OK;
    pthread_mutex_lock(&b->room_lock);
    atomic_fetch_add(&b->room_waiters, 1);
    while (!reserve(b, t, size)) {
        int64_t now = host->mono_ns();
        if (host->ctx_canceled(ctx)) {
            rc = host->error(IMI_ECANCELED, 0, "publish to '%s' canceled while waiting for "
                             "room", t->name);
            break;
        }
        if (now >= deadline) {
            rc = host->error(IMI_ETIMEDOUT, 0, "publish to '%s' timed out: the topic holds "
                             "%zu messages (max_queue=%zu) of %zu bytes (max_bytes=%zu) not "
                             "yet acknowledged by every group", t->name,
                             atomic_load(&t->count), b->max_queue, atomic_load(&t->bytes),
                             b->max_bytes);
            break;
        }
        mem_timedwait(&b->room, &b->room_lock, now, deadline);
    }
    atomic_fetch_sub(&b->room_waiters, 1);
    pthread_mutex_unlock(&b->room_lock);
    return rc;
}

void mem_trim(mem_broker *b, mem_topic *t, size_t pi)
{
    mem_group *g = atomic_load_explicit(&t->groups, memory_order_acquire);
    if (!g)
        return;
    uint64_t min = UINT64_MAX;
    for (; g; g = g->next)
        if (g->parts[pi].next_off < min)
            min = g->parts[pi].next_off;
    size_t n = 0, bytes = 0;
    mem_log_drop(&t->parts[pi].log, &b->pool, min, &n, &bytes);
    if (n)
        release(b, t, n, bytes, false);
}

/* ---- publish ----------------------------------------------------------------------- */

int mem_broker_prepare(mem_broker *b, const imi_host_api *host, const imi_ctx *ctx,
                       int64_t default_ms, mem_topic *_Atomic *last, const imi_mq_msg *msg,
                       mem_put *put)
{
    /* Topics live as long as the broker: a cached one stays valid. */
    mem_topic *t = atomic_load_explicit(last, memory_order_relaxed);
    if (!t || strcmp(t->name, msg->topic)) {
        if (!(t = mem_topic_get(b, msg->topic)))
            return host->error(IMI_ENOMEM, 0, "out of memory");
        atomic_store_explicit(last, t, memory_order_relaxed);
    }
    size_t size = mem_msg_size(msg);
    if (size > b->max_bytes) /* it would wait for room that never comes */
        return host->error(IMI_EINVALID, 0, "publish to '%s': the message takes %zu bytes, "
                           "more than max_bytes=%zu of the topic", msg->topic, size,
                           b->max_bytes);
    int rc;
    if (!reserve(b, t, size) && (rc = wait_room(b, host, ctx, default_ms, t, size)))
        return rc;
    mem_msg *large = NULL;
    if (size > MEM_LOG_LARGE && !(large = mem_msg_new_large(&b->pool, msg, size))) {
        release(b, t, 1, size, false);
        return host->error(IMI_ENOMEM, 0, "out of memory");
    }
    *put = (mem_put){ .t = t, .size = size, .large = large };
    return IMI_OK;
}

void mem_broker_cancel(mem_broker *b, mem_put *put)
{
    free(put->large);
    release(b, put->t, 1, put->size, false);
}

int mem_broker_commit(mem_broker *b, const imi_host_api *host, const imi_mq_msg *msg,
                      mem_put *put)
{
    mem_topic *t = put->t;
    size_t pi;
    if (msg->key) {
        pi = hash_bytes(msg->key, msg->key_len) % b->np;
    } else {
        /* A load and a store, not a locked add: two publishers that meet here may pick
         * the same partition, which only spreads keyless messages a little less evenly. */
        pi = atomic_load_explicit(&t->rr, memory_order_relaxed);
        atomic_store_explicit(&t->rr, pi + 1 < b->np ? pi + 1 : 0, memory_order_relaxed);
    }
    mem_part *p = &t->parts[pi];
    pthread_mutex_lock(&p->lock);
    bool ok = mem_log_push(&p->log, &b->pool, msg, put->size, put->large);
    atomic_store_explicit(&p->end, p->log.end, memory_order_relaxed);
    pthread_mutex_unlock(&p->lock);
    if (!ok) {
        mem_broker_cancel(b, put);
        return host->error(IMI_ENOMEM, 0, "out of memory");
    }
    return IMI_OK;
}

void mem_broker_wake(mem_broker *b)
{
    /* A member registers as a sleeper before its last look at the partitions (under
     * their locks), so a member that missed a message just committed is counted here. */
    if (atomic_load(&b->sleepers))
        mem_wake_all(b);
}

int mem_broker_append(mem_broker *b, const imi_host_api *host, const imi_ctx *ctx,
                      int64_t default_ms, mem_topic *_Atomic *last, const imi_mq_msg *msg)
{
    mem_put put;
    int rc = mem_broker_prepare(b, host, ctx, default_ms, last, msg, &put);
    if (!rc && !(rc = mem_broker_commit(b, host, msg, &put)))
        mem_broker_wake(b);
    return rc;
}
