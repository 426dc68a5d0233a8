/* A member's delivery thread: takes a batch of consecutive messages of one partition for
 * its group, delivers them one by one without a lock, then commits the batch under the
 * partition's lock. A nack ends the batch: what follows it waits for its redelivery, so
 * per-key order holds as with one message at a time. */
#include <stdlib.h>
#include "mem_broker.h"

/* A batch ends at this many bytes: large messages are committed, and so freed, one by
 * one, as a plain queue would (freeing many at once hands their pages back to the
 * system, and the publisher faults them in again). */
#define BATCH_BYTES (64 * 1024)
/* How long an idle member watches before sleeping: longer than the gap between the
 * messages of a stream, short enough not to look like a CPU hog to the scheduler. */
#define SPIN_NS 10000

/* The next batch this member may take: a partition with no batch in flight for the
 * group and a message due. *wake_ns gets the earliest pending redelivery (0: none).
 * peek: skip, without its lock, a partition whose end shows nothing new for the group;
 * the last look before sleeping takes every lock (see idle). */
static bool take(mem_member *mb, int64_t now, mem_batch *out, int64_t *wake_ns, bool peek)
{
    size_t np = mb->b->np, total = mb->n * np;
    *wake_ns = 0;
    for (size_t k = 0; k < total; k++) {
        size_t slot = (mb->scan + k) % total, i = slot / np, pi = slot % np;
        mem_part *p = &mb->topics[i]->parts[pi];
        mem_gpart *gp = &mb->groups[i]->parts[pi];
        /* Nothing new for the group: skip the lock, which its producers want. */
        if (peek && atomic_load_explicit(&p->end, memory_order_relaxed) <=
                        atomic_load_explicit(&gp->pos, memory_order_relaxed))
            continue;
        pthread_mutex_lock(&p->lock);
        if (gp->busy || gp->next_off >= p->log.end) {
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        if (gp->not_before > now) {
            if (!*wake_ns || gp->not_before < *wake_ns)
                *wake_ns = gp->not_before;
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        gp->busy = true;
        size_t avail = p->log.end - gp->next_off, n = 0, bytes = 0;
        while (n < avail && n < MEM_BATCH && bytes < BATCH_BYTES) {
            out->m[n] = mem_log_at(&p->log, gp->next_off + n);
            bytes += out->m[n++]->size;
        }
        out->attempt = gp->failed + 1;
        pthread_mutex_unlock(&p->lock);
        out->t = mb->topics[i];
        out->gp = gp;
        out->p = pi;
        out->n = n;
        mb->scan = slot + 1;
        return true;
    }
    return false;
}

/* Delivers the batch until the first failure or a stop; commits what was acknowledged.
 * The messages stay held while the partition is busy: trim never passes next_off. */
static void run_batch(mem_member *mb, mem_batch *bt)
{
    size_t ok = 0;
    int rc = IMI_OK;
    for (; ok < bt->n; ok++) {
        if (ok && atomic_load_explicit(&mb->stop, memory_order_relaxed))
            break;
        mem_msg *m = bt->m[ok];
        imi_mq_msg msg = { .topic = bt->t->name, .key = m->key, .key_len = m->key_len,
                           .headers = m->headers, .n_headers = m->n_headers,
                           .body = m->body, .body_len = m->body_len,
                           .attempt = ok ? 1 : bt->attempt };
        if ((rc = mb->deliver(mb->core_sub, &msg)) != IMI_OK)
            break;
    }
    int64_t retry_at = rc ? mb->host->mono_ns() + mb->delay_ns : 0;
    mem_part *p = &bt->t->parts[bt->p];
    pthread_mutex_lock(&p->lock);
    mem_gpart *gp = bt->gp;
    gp->busy = false;
    gp->next_off += ok;
    atomic_store_explicit(&gp->pos, gp->next_off, memory_order_relaxed);
    if (rc) {
        gp->failed = ok ? 1 : gp->failed + 1;
        gp->not_before = retry_at;
    } else {
        gp->failed = 0;
        gp->not_before = 0;
    }
    if (ok)
        mem_trim(mb->b, bt->t, bt->p);
    pthread_mutex_unlock(&p->lock);
}

/* Nothing to take: sleep until a publish, a stop or the next redelivery is due. The
 * member counts itself a sleeper before its last look, which takes each partition's
 * lock, so a publish that it misses appended after that look and sees the count and
 * wakes it (mem_broker_append). */
static void idle(mem_member *mb, mem_batch *bt)
{
    mem_broker *b = mb->b;
    pthread_mutex_lock(&b->wake_lock);
    uint64_t gen = b->wake_gen;
    atomic_fetch_add(&b->sleepers, 1);
    pthread_mutex_unlock(&b->wake_lock);
    int64_t now = mb->host->mono_ns(), wake = 0;
    bool got = take(mb, now, bt, &wake, false);
    pthread_mutex_lock(&b->wake_lock);
    if (!got && b->wake_gen == gen && !atomic_load(&mb->stop)) {
        if (wake)
            mem_timedwait(&b->wake, &b->wake_lock, now, wake);
        else
            pthread_cond_wait(&b->wake, &b->wake_lock);
    }
    if (b->wake_gen == gen) /* not woken by mem_wake_all, which uncounts everyone */
        atomic_fetch_sub(&b->sleepers, 1);
    pthread_mutex_unlock(&b->wake_lock);
    if (got)
        run_batch(mb, bt);
}

/* The sum of the ends of this member's partitions: changes when anything is appended. */
static uint64_t ends(const mem_member *mb)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < mb->n; i++)
        for (size_t p = 0; p < mb->b->np; p++)
            sum += atomic_load_explicit(&mb->topics[i]->parts[p].end, memory_order_relaxed);
    return sum;
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static void *member_loop(void *arg)
{
    mem_member *mb = arg;
    mem_batch *bt = &mb->bt;
    while (!atomic_load(&mb->stop)) {
        int64_t now = mb->host->mono_ns(), wake = 0;
        if (take(mb, now, bt, &wake, true)) {
            run_batch(mb, bt);
            continue;
        }
        /* Watch the partitions' ends for a moment before sleeping, without their locks:
         * a consumer that keeps up with a stream then never sleeps, and its producer
         * never has to wake it. */
        uint64_t seen = ends(mb);
        bool more = false;
        for (int64_t t0 = now; !more && mb->host->mono_ns() - t0 < SPIN_NS &&
                               !atomic_load_explicit(&mb->stop, memory_order_relaxed);) {
            for (int k = 0; k < 64; k++)
                cpu_relax();
            more = ends(mb) != seen;
        }
        if (!more)
            idle(mb, bt);
    }
    /* What this member leaves (a partition freed mid-batch) goes to the others. */
    mem_wake_all(mb->b);
    return NULL;
}

int mem_member_start(mem_broker *b, const imi_host_api *host, mem_member *mb,
                     const imi_mq_sub_spec *spec, imi_mq_deliver_fn deliver, void *core_sub)
{
    *mb = (mem_member){ .b = b, .host = host, .deliver = deliver, .core_sub = core_sub,
                        .delay_ns = mem_ms_to_ns(spec->redelivery_delay_ms) };
    mb->topics = calloc(spec->n_topics, sizeof *mb->topics);
    mb->groups = calloc(spec->n_topics, sizeof *mb->groups);
    if (!mb->topics || !mb->groups)
        return host->error(IMI_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < spec->n_topics; i++) {
        mb->topics[i] = mem_topic_get(b, spec->topics[i]);
        mb->groups[i] = mb->topics[i] ? mem_group_get(b, mb->topics[i], spec->group) : NULL;
        if (!mb->groups[i])
            return host->error(IMI_ENOMEM, 0, "out of memory");
        mb->n = i + 1;
    }
    if (pthread_create(&mb->thread, NULL, member_loop, mb))
        return host->error(IMI_EINTERNAL, 0, "cannot start a delivery thread");
    mb->started = true;
    return IMI_OK;
}

void mem_member_stop(mem_member *mb)
{
    if (!mb->b)
        return;
    if (mb->started) {
        atomic_store(&mb->stop, true);
        mem_wake_all(mb->b);
        pthread_join(mb->thread, NULL);
    }
    free(mb->topics);
    free(mb->groups);
    mb->b = NULL;
}
