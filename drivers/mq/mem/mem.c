/* The in-memory mq driver: a broker per process and `namespace`, shared by every handle
 * that names it, shaped like Kafka so that it behaves like the real ones:
 *  - a topic is `partitions` logs; a keyed message goes to the partition of its key's
 *    hash, so messages of one key stay in order;
 *  - a consumer group keeps, per topic and partition, the next offset to deliver (its
 *    committed position), whether a message is in flight and how often it has failed;
 *    every group reads every message, the members of one group take turns;
 *  - a partition has at most one batch in flight per group, delivered one message at a
 *    time, which keeps per-key order across members and redeliveries without any
 *    rebalancing;
 *  - messages are dropped once every group of the topic has acknowledged them; a topic
 *    holds at most `max_queue` messages and `max_bytes` bytes, and publishers wait for
 *    room when either is reached (back-pressure).
 * A group's position outlives its members, so closing and reopening loses nothing.
 * Producers and consumers meet only on one partition's lock at a time, briefly, and
 * wake each other only when the other side sleeps (mem_broker.h); members deliver in
 * batches (mem_member.c); message bytes live in reused segments (mem_log.c).
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/driver/mq_driver.h"
#include "mem_broker.h"

enum { OPT_NAMESPACE, OPT_PARTITIONS, OPT_MAX_QUEUE, OPT_MAX_BYTES };

static const imi_option_spec mem_options[] = {
    [OPT_NAMESPACE] = { .name = "namespace", .type = IMI_OPT_STRING, .default_value = "default",
                        .help = "handles of one process naming the same namespace share topics" },
    [OPT_PARTITIONS] = { .name = "partitions", .type = IMI_OPT_INT, .default_value = "8",
                         .help = "partitions per topic (1-1024): the unit of per-key order" },
    [OPT_MAX_QUEUE] = { .name = "max_queue", .type = IMI_OPT_INT, .default_value = "100000",
                        .help = "messages a topic holds at most before publishers wait" },
    [OPT_MAX_BYTES] = { .name = "max_bytes", .type = IMI_OPT_SIZE, .default_value = "256M",
                        .help = "bytes a topic holds at most before publishers wait (a larger "
                                "single message is refused)" },
};

/* ---- async completions: one thread per handle calls them in order ------------------ *
 * Records go into a chain of blocks of DONE_PER_BLOCK. Publishers append under dlock
 * (making room for the record, the message's append and queueing the record in one hold,
 * so that once a message is in, queueing its completion cannot fail) and publish each
 * record with a release store of the block's count. The completion thread follows the
 * chain without the lock and takes dlock only to hand used blocks back (every
 * DONE_GIVE_BACK blocks) and to sleep, so that it does not meet publishers on it once per
 * batch; it naps between batches, so that a stream costs no signal per message, and is
 * signalled only when it sleeps. */

#define DONE_PER_BLOCK 256
#define DONE_KEEP_BLOCKS 4          /* spare blocks kept */
#define DONE_GIVE_BACK 4            /* used blocks the thread gathers before handing back */
#define DONE_NAP_NS 50000

typedef struct done_block {
    struct done_block *_Atomic next; /* in the chain, or the spare list (under dlock) */
    atomic_size_t n;                /* records written: stored after the record */
    imi_mq_done d[DONE_PER_BLOCK];
} done_block;

typedef struct mem_mq {
    const imi_host_api *host;
    void *logger;
    int64_t default_timeout_ms;
    mem_broker *b;
    mem_topic *_Atomic last_topic;  /* of the previous publish (mem_broker_append) */
    pthread_mutex_t dlock;
    pthread_cond_t dwake, didle;
    done_block *cur;                /* the thread's place in the chain (set before it runs) */
    done_block *tail;               /* where publishers append (dlock) */
    done_block *spare;              /* empty blocks, n_spare of them (dlock) */
    size_t n_spare;
    uint64_t pushed;                /* completions queued (dlock) */
    bool dthread_started, dstop, dsleeping;
    pthread_t dthread;
    /* What the thread writes after each batch, away from what publishers write (the state
     * comes from calloc: padding rather than _Alignas). */
    char pad[64];
    atomic_uint_fast64_t completed; /* completions returned (the thread stores) */
    atomic_int flushers;            /* flush calls waiting on didle */
} mem_mq;

static void free_blocks(done_block *bl)
{
    for (done_block *next; bl; bl = next) {
        next = bl->next;
        free(bl);
    }
}

/* Used blocks go to the spare list, beyond DONE_KEEP_BLOCKS freed (dlock held). */
static void give_back(mem_mq *m, done_block *used)
{
    while (used) {
        done_block *bl = used;
        used = bl->next;
        if (m->n_spare >= DONE_KEEP_BLOCKS) {
            free(bl);
            continue;
        }
        bl->next = m->spare;
        m->spare = bl;
        m->n_spare++;
    }
}

/* Something new for the thread: a record past `seen` in cur, or a block after it. */
static bool done_more(done_block *cur, size_t seen)
{
    return atomic_load_explicit(&cur->n, memory_order_acquire) > seen ||
           atomic_load_explicit(&cur->next, memory_order_acquire);
}

static void *done_loop(void *arg)
{
    mem_mq *m = arg;
    done_block *cur = m->cur, *used = NULL;
    size_t seen = 0, n_used = 0;
    uint64_t completed = 0;
    bool napped = false;
    for (;;) {
        size_t n = atomic_load_explicit(&cur->n, memory_order_acquire);
        if (seen < n) {
            completed += n - seen;
            for (; seen < n; seen++)
                cur->d[seen].fn(&cur->d[seen], IMI_OK);
            /* A flush counts itself before it reads `completed`, this stores `completed`
             * before it reads the count (both sequentially consistent): one sees the
             * other, and the broadcast under dlock cannot fall before the flush waits. */
            atomic_store(&m->completed, completed);
            if (atomic_load(&m->flushers)) {
                pthread_mutex_lock(&m->dlock);
                pthread_cond_broadcast(&m->didle);
                pthread_mutex_unlock(&m->dlock);
            }
            napped = false;
            continue;
        }
        done_block *next = atomic_load_explicit(&cur->next, memory_order_acquire);
        if (next) {
            /* Publishers link the next block once cur is full, which may have happened
             * since n was read: finish cur first (its count is final now). */
            if (atomic_load_explicit(&cur->n, memory_order_acquire) > seen)
                continue;
            cur->next = used;
            used = cur;
            cur = next;
            seen = 0;
            if (++n_used >= DONE_GIVE_BACK) {
                pthread_mutex_lock(&m->dlock);
                give_back(m, used);
                pthread_mutex_unlock(&m->dlock);
                used = NULL;
                n_used = 0;
            }
            continue;
        }
        /* Nothing new. After a batch, a short nap that no publish interrupts gathers the
         * next one; a flush waiting skips it. */
        if (!napped && !atomic_load(&m->flushers)) {
            napped = true;
            struct timespec ts = { 0, DONE_NAP_NS };
            nanosleep(&ts, NULL);
            continue;
        }
        pthread_mutex_lock(&m->dlock);
        give_back(m, used);
        used = NULL;
        n_used = 0;
        /* Publishers queue under dlock and signal a sleeper: a record this look misses
         * comes with a signal. */
        while (!done_more(cur, seen) && !m->dstop) {
            m->dsleeping = true;
            pthread_cond_wait(&m->dwake, &m->dlock);
        }
        m->dsleeping = false;
        bool stop = m->dstop && !done_more(cur, seen);
        pthread_mutex_unlock(&m->dlock);
        if (stop)
            break;
        napped = false;
    }
    m->cur = cur; /* read by close after the join */
    return NULL;
}

/* Makes sure there is room for one more record (dlock held). */
static int done_room(mem_mq *m)
{
    if (!m->tail || (atomic_load_explicit(&m->tail->n, memory_order_relaxed) == DONE_PER_BLOCK &&
                     !m->spare)) {
        done_block *bl = malloc(sizeof *bl);
        if (!bl)
            return m->host->error(IMI_ENOMEM, 0, "out of memory");
        bl->next = m->spare;
        m->spare = bl;
        m->n_spare++;
    }
    if (!m->tail) { /* the chain starts before the thread, which begins at its head */
        done_block *bl = m->spare;
        m->spare = bl->next;
        m->n_spare--;
        atomic_init(&bl->next, NULL);
        atomic_init(&bl->n, 0);
        m->cur = m->tail = bl;
    }
    if (!m->dthread_started) {
        if (pthread_create(&m->dthread, NULL, done_loop, m))
            return m->host->error(IMI_EINTERNAL, 0, "cannot start the completion thread");
        m->dthread_started = true;
    }
    return IMI_OK;
}

/* Queues the completion of an accepted publish (dlock held, done_room said yes since). */
static void done_push(mem_mq *m, const imi_mq_done *done)
{
    done_block *bl = m->tail;
    size_t n = atomic_load_explicit(&bl->n, memory_order_relaxed);
    if (n == DONE_PER_BLOCK) {
        done_block *nb = m->spare;
        m->spare = nb->next;
        m->n_spare--;
        atomic_store_explicit(&nb->next, NULL, memory_order_relaxed);
        atomic_store_explicit(&nb->n, 0, memory_order_relaxed);
        atomic_store_explicit(&bl->next, nb, memory_order_release);
        m->tail = bl = nb;
        n = 0;
    }
    bl->d[n] = *done;
    atomic_store_explicit(&bl->n, n + 1, memory_order_release);
    m->pushed++;
    if (m->dsleeping) {
        m->dsleeping = false; /* one signal until it sleeps again */
        pthread_cond_signal(&m->dwake);
    }
}

/* ---- driver ------------------------------------------------------------------------ */

static int mem_open(void *st, const imi_driver_env *env)
{
    mem_mq *m = st;
    m->host = env->host;
    m->logger = env->logger;
    m->default_timeout_ms = env->default_timeout_ms;
    int64_t parts = env->opts[OPT_PARTITIONS].i, maxq = env->opts[OPT_MAX_QUEUE].i;
    int64_t maxb = env->opts[OPT_MAX_BYTES].i;
    if (parts < 1 || parts > 1024)
        return m->host->error(IMI_ECONFIG, 0, "[%s] partitions must be 1-1024, not %" PRId64,
                              env->instance, parts);
    if (maxq < 1)
        return m->host->error(IMI_ECONFIG, 0, "[%s] max_queue must be positive, not %" PRId64,
                              env->instance, maxq);
    if (maxb < 1024)
        return m->host->error(IMI_ECONFIG, 0, "[%s] max_bytes must be at least 1k, not %" PRId64,
                              env->instance, maxb);
    const char *ns = env->opts[OPT_NAMESPACE].str;
    if (!ns || !*ns)
        return m->host->error(IMI_ECONFIG, 0, "[%s] namespace is empty", env->instance);
    mem_mutex_init(&m->dlock);
    pthread_cond_init(&m->dwake, NULL);
    pthread_cond_init(&m->didle, NULL);
    m->b = mem_broker_get(ns, (size_t)parts, (size_t)maxq, (size_t)maxb);
    if (!m->b)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    return IMI_OK;
}

static void mem_close(void *st)
{
    mem_mq *m = st;
    if (!m->b)
        return;
    /* The completion thread runs the queue dry before it stops: nothing is lost. */
    pthread_mutex_lock(&m->dlock);
    m->dstop = true;
    pthread_cond_broadcast(&m->dwake);
    bool started = m->dthread_started;
    pthread_mutex_unlock(&m->dlock);
    if (started)
        pthread_join(m->dthread, NULL);
    free_blocks(m->cur); /* the chain from the thread's last block (or the first one) */
    free_blocks(m->spare);
    mem_broker_put(m->b);
    m->b = NULL;
    pthread_cond_destroy(&m->didle);
    pthread_cond_destroy(&m->dwake);
    pthread_mutex_destroy(&m->dlock);
}

static int mem_ping(void *st, const imi_ctx *ctx)
{
    (void)st;
    (void)ctx;
    return IMI_OK;
}

/* ---- producer ---------------------------------------------------------------------- */

static int64_t deadline_of(const mem_mq *m, const imi_ctx *ctx)
{
    return m->host->mono_ns() +
           mem_ms_to_ns(m->host->ctx_remaining_ms(ctx, m->default_timeout_ms));
}

static int mem_publish(void *st, const imi_ctx *ctx, const imi_mq_msg *msg)
{
    mem_mq *m = st;
    return mem_broker_append(m->b, m->host, ctx, m->default_timeout_ms, &m->last_topic,
                             msg);
}

static int mem_publish_async(void *st, const imi_ctx *ctx, const imi_mq_msg *msg,
                             const imi_mq_done *done)
{
    mem_mq *m = st;
    mem_put put;
    /* Room in the topic first: waiting for it must not hold dlock. */
    int rc = mem_broker_prepare(m->b, m->host, ctx, m->default_timeout_ms, &m->last_topic,
                                msg, &put);
    if (rc)
        return rc;
    pthread_mutex_lock(&m->dlock);
    if ((rc = done_room(m)))
        mem_broker_cancel(m->b, &put);
    else if (!(rc = mem_broker_commit(m->b, m->host, msg, &put)))
        done_push(m, done);
    pthread_mutex_unlock(&m->dlock);
    if (!rc)
        mem_broker_wake(m->b);
    return rc;
}

static int mem_flush(void *st, const imi_ctx *ctx)
{
    mem_mq *m = st;
    int64_t deadline = deadline_of(m, ctx);
    int rc = IMI_OK;
    pthread_mutex_lock(&m->dlock);
    uint64_t target = m->pushed;
    atomic_fetch_add(&m->flushers, 1); /* before reading `completed` (see done_loop) */
    while (atomic_load(&m->completed) < target && !rc) {
        if (m->host->ctx_canceled(ctx)) {
            rc = m->host->error(IMI_ECANCELED, 0, "flush canceled");
            break;
        }
        int64_t now = m->host->mono_ns();
        if (now >= deadline) {
            rc = m->host->error(IMI_ETIMEDOUT, 0, "flush: %" PRIu64 " publishes still in "
                                "flight at the deadline",
                                target - (uint64_t)atomic_load(&m->completed));
            break;
        }
        mem_timedwait(&m->didle, &m->dlock, now, deadline);
    }
    atomic_fetch_sub(&m->flushers, 1);
    pthread_mutex_unlock(&m->dlock);
    return rc;
}

/* ---- subscriptions ----------------------------------------------------------------- */

static int mem_sub_open(void *st, void *sub, const imi_ctx *ctx, const imi_mq_sub_spec *spec,
                        imi_mq_deliver_fn deliver, void *core_sub)
{
    mem_mq *m = st;
    (void)ctx;
    return mem_member_start(m->b, m->host, sub, spec, deliver, core_sub);
}

static void mem_sub_close(void *st, void *sub)
{
    (void)st;
    mem_member_stop(sub);
}

static const imi_mq_producer_ops mem_producer = {
    .size = sizeof(imi_mq_producer_ops),
    .p_publish = mem_publish,
    .p_publish_async = mem_publish_async,
    .p_flush = mem_flush,
};

static const imi_mq_sub_ops mem_sub = {
    .size = sizeof(imi_mq_sub_ops),
    .s_state_size = sizeof(mem_member),
    .s_open = mem_sub_open,
    .s_close = mem_sub_close,
};

static const imi_mq_driver mem_vtable = {
    .size = sizeof(imi_mq_driver),
    .open = mem_open,
    .close = mem_close,
    .ping = mem_ping,
    .producer = &mem_producer,
    .sub = &mem_sub,
};

static const imi_driver_desc mem_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_MQ,
    .name = "mem",
    .version = "1.0.0",
    .description = "in-process broker: partitioned topics, consumer groups, back-pressure",
    .caps = IMI_MQ_CAP_ASYNC | IMI_MQ_CAP_DURABLE | IMI_MQ_CAP_KEY_ORDER,
    .options = mem_options,
    .n_options = IMI_COUNT_OF(mem_options),
    .state_size = sizeof(mem_mq),
    .vtable = &mem_vtable,
};

IMI_DRIVER_DEFINE(mem_desc)
