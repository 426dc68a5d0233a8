/* The in-memory broker of the mem mq driver: topics, partitions, groups (mem_broker.c)
 * and the delivery threads of group members (mem_member.c).
 *
 * Locks, so that a producer and the consumers of a topic rarely meet:
 *  - each partition has its own mutex over its log and every group's position on it;
 *    a producer holds it for one append, a member for taking a batch and for committing
 *    it, never while a handler runs;
 *  - the topic table and the group lists only grow until the broker is freed, and are
 *    read without a lock; b->lock serialises adding to them;
 *  - members that find nothing to do sleep on b->wake; a producer takes that lock only
 *    when someone sleeps (b->sleepers), so a busy stream costs no signal per message;
 *  - publishers waiting for room sleep on room; a trim takes that lock only when some
 *    publisher waits. */
#ifndef IMI_DRIVERS_MQ_MEM_BROKER_H
#define IMI_DRIVERS_MQ_MEM_BROKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include "iminfra/driver/mq_driver.h"
#include "mem_log.h"

#define MEM_TOPIC_BUCKETS 64

typedef struct mem_group mem_group;

/* A group's position on one partition (under the partition's lock). */
typedef struct mem_gpart {
    uint64_t next_off;              /* next offset to deliver: the committed position */
    atomic_uint_fast64_t pos;       /* next_off, for a look without the lock */
    int64_t not_before;             /* redelivery not before (mono ns) */
    int failed;                     /* failed attempts of the message at next_off */
    bool busy;                      /* a batch is in flight */
} mem_gpart;

struct mem_group {
    mem_group *_Atomic next;        /* in the topic's list */
    char *name;
    mem_gpart *parts;
};

#define MEM_LINE 64

typedef struct mem_part {
    _Alignas(MEM_LINE) pthread_mutex_t lock;
    mem_log log;
    atomic_uint_fast64_t end;       /* log.end, for idle members to watch without the lock */
} mem_part;

typedef struct mem_topic {
    struct mem_topic *_Atomic next; /* in its bucket */
    char *name;
    mem_part *parts;
    atomic_size_t count;            /* messages held or being appended, all partitions */
    atomic_size_t bytes;            /* their size (mem_msg.size) */
    atomic_size_t rr;               /* keyless messages go round-robin: the next one */
    mem_group *_Atomic groups;
} mem_topic;

typedef struct mem_broker {
    struct mem_broker *next;        /* in the registry */
    char *ns;
    int refs;
    size_t np, max_queue, max_bytes;
    pthread_mutex_t lock;           /* adding topics and groups */
    mem_topic *_Atomic topics[MEM_TOPIC_BUCKETS];
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;            /* members with nothing to do */
    atomic_int sleepers;            /* members about to sleep or asleep on wake */
    uint64_t wake_gen;              /* bumped (under wake_lock) to wake them all */
    mem_pool pool;                  /* emptied segments of every partition */
    pthread_mutex_t room_lock;
    pthread_cond_t room;            /* publishers waiting for room */
    atomic_int room_waiters;
} mem_broker;

#define MEM_BATCH 64

/* Consecutive messages of one partition taken by a member for its group. */
typedef struct mem_batch {
    mem_topic *t;
    mem_gpart *gp;
    size_t p;
    int attempt;                    /* of the first message */
    size_t n;
    mem_msg *m[MEM_BATCH];
} mem_batch;

/* One subscription: a member of a group on its topics, with its delivery thread. */
typedef struct mem_member {
    mem_broker *b;
    const imi_host_api *host;
    mem_topic **topics;
    mem_group **groups;             /* the group's position on topics[i] */
    size_t n;
    imi_mq_deliver_fn deliver;
    void *core_sub;
    int64_t delay_ns;
    size_t scan;                    /* where the next scan starts: partitions take turns */
    mem_batch bt;                   /* the batch in flight (the thread's own) */
    atomic_bool stop;
    bool started;
    pthread_t thread;
} mem_member;

/* The broker of namespace ns, created on first use; one reference per call. */
mem_broker *mem_broker_get(const char *ns, size_t partitions, size_t max_queue,
                           size_t max_bytes);
void mem_broker_put(mem_broker *b);

/* Appends a copy of msg to its topic, waiting for room until the ctx's deadline
 * (default_ms for a NULL ctx). *last caches the topic of the caller's previous append.
 * The same in three steps, for a caller that does more between them (mem.c): */
int mem_broker_append(mem_broker *b, const imi_host_api *host, const imi_ctx *ctx,
                      int64_t default_ms, mem_topic *_Atomic *last, const imi_mq_msg *msg);

/* A message on its way in: its topic and room reserved, a large one's block filled. */
typedef struct mem_put {
    mem_topic *t;
    size_t size;
    mem_msg *large;
} mem_put;
/* Finds the topic and reserves room (waiting as mem_broker_append does). */
int mem_broker_prepare(mem_broker *b, const imi_host_api *host, const imi_ctx *ctx,
                       int64_t default_ms, mem_topic *_Atomic *last, const imi_mq_msg *msg,
                       mem_put *put);
/* Gives back what prepare took, for a message that is not committed. */
void mem_broker_cancel(mem_broker *b, mem_put *put);
/* Appends the prepared message to its partition (on failure, cancels it). */
int mem_broker_commit(mem_broker *b, const imi_host_api *host, const imi_mq_msg *msg,
                      mem_put *put);
/* After commits: wakes the members that sleep. */
void mem_broker_wake(mem_broker *b);

/* The topic and the group on it, created on first use (NULL: out of memory). */
mem_topic *mem_topic_get(mem_broker *b, const char *name);
mem_group *mem_group_get(mem_broker *b, mem_topic *t, const char *name);
/* Drops the messages of partition pi every group has committed (its lock held). */
void mem_trim(mem_broker *b, mem_topic *t, size_t pi);
/* Wakes every sleeping member. */
void mem_wake_all(mem_broker *b);

/* Joins spec->group on spec->topics and starts delivering. */
int mem_member_start(mem_broker *b, const imi_host_api *host, mem_member *mb,
                     const imi_mq_sub_spec *spec, imi_mq_deliver_fn deliver, void *core_sub);
/* Stops after the delivery in flight and leaves the group; safe after a failed start. */
void mem_member_stop(mem_member *mb);

/* A lock held for a few hundred instructions by threads on different cores (a partition's,
 * the completion queue's): a waiter spins a little before it sleeps, as the holder is
 * about to leave; sleeping and being woken cost the two sides a system call each, which
 * is most of their time when a producer and a consumer meet often. */
void mem_mutex_init(pthread_mutex_t *lock);

/* pthread_cond_timedwait on CLOCK_MONOTONIC until deadline_ns (now_ns: the current time). */
void mem_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t now_ns,
                   int64_t deadline_ns);

/* This driver also stands for a third-party driver built against the frozen ABI 1.0
 * headers (tests/abi), which predate the SDK's saturating helpers: keep local copies. */
#ifndef IMI_DURATION_MAX_MS
#define IMI_DURATION_MAX_MS ((int64_t)100 * 365 * 24 * 3600 * 1000)
#endif
#ifndef IMI_COORD_LEASE_TTL_MAX_MS
#define IMI_COORD_LEASE_TTL_MAX_MS IMI_DURATION_MAX_MS
#endif
static inline int64_t mem_ms_to_ns(int64_t ms)
{
    return ms <= 0 ? 0 : ms >= IMI_DURATION_MAX_MS ? IMI_DURATION_MAX_MS * 1000000 : ms * 1000000;
}

#endif
