/* The in-memory broker of the mem mq driver: topics, partitions, groups and the
 * delivery threads of group members. */
#ifndef IMI_DRIVERS_MQ_MEM_BROKER_H
#define IMI_DRIVERS_MQ_MEM_BROKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include "iminfra/driver/mq_driver.h"

typedef struct mem_broker mem_broker;
typedef struct mem_group mem_group;
typedef struct mem_topic mem_topic;

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
    size_t scan;                    /* where the next scan starts: members take turns */
    bool stop, started;
    pthread_t thread;
} mem_member;

/* The broker of namespace ns, created on first use; one reference per call. */
mem_broker *mem_broker_get(const char *ns, size_t partitions, size_t max_queue,
                           size_t max_bytes);
void mem_broker_put(mem_broker *b);

/* Appends a copy of msg to its topic, waiting for room until deadline_ns. */
int mem_broker_append(mem_broker *b, const imi_host_api *host, const imi_ctx *ctx,
                      int64_t deadline_ns, const imi_mq_msg *msg);

/* Joins spec->group on spec->topics and starts delivering. */
int mem_member_start(mem_broker *b, const imi_host_api *host, mem_member *mb,
                     const imi_mq_sub_spec *spec, imi_mq_deliver_fn deliver, void *core_sub);
/* Stops after the delivery in flight and leaves the group; safe after a failed start. */
void mem_member_stop(mem_member *mb);

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
