/* The Kafka mq driver (librdkafka): what the producer file (kafka.c) and the consumer
 * file (kafka_consumer.c) share. */
#ifndef IMI_DRIVERS_MQ_KAFKA_H
#define IMI_DRIVERS_MQ_KAFKA_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <librdkafka/rdkafka.h>
#include "iminfra/driver/mq_driver.h"

enum {
    OPT_BROKERS, OPT_ACKS, OPT_IDEMPOTENCE, OPT_COMPRESSION, OPT_LINGER, OPT_BATCH_SIZE,
    OPT_SESSION_TIMEOUT, OPT_OFFSET_RESET, OPT_RECONNECT_MAX, OPT_PASSTHROUGH
};

typedef struct kafka_mq {
    const imi_driver_env *env;
    const imi_host_api *host;
    rd_kafka_t *producer;
    pthread_t poller;
    bool poller_started;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    /* Async publishes whose completion has not returned: counted without the lock; the
     * lock only guards the wake-up of flush when it drops to 0. */
    atomic_long pending;
    /* The completion of async publishes without a user callback, the same for every such
     * publish of this handle: their opaque, so they need no allocation. */
    imi_mq_done plain_done;
    atomic_bool plain_set;
    bool stopping;
} kafka_mq;

/* One subscription: a consumer of the group and the thread that polls it. */
typedef struct kafka_sub {
    kafka_mq *k;
    rd_kafka_t *rk;
    imi_mq_deliver_fn deliver;
    void *core_sub;
    int64_t delay_ms;
    pthread_t thread;
    bool started;
    volatile int stop;              /* set by s_close, read by the poll thread */
} kafka_sub;

/* A librdkafka configuration with the settings both sides share (brokers, reconnects, the
 * kafka.* pass-through) and then `extra` (NULL-terminated name, value pairs). NULL after
 * host->error(IMI_ECONFIG) naming the setting. */
rd_kafka_conf_t *kafka_conf(const kafka_mq *k, const char *const *extra);

/* The imi code for a librdkafka error, with its text recorded. */
int kafka_error(const kafka_mq *k, rd_kafka_resp_err_t err, const char *what);

int kafka_sub_open(void *st, void *sub, const imi_ctx *ctx, const imi_mq_sub_spec *spec,
                   imi_mq_deliver_fn deliver, void *core_sub);
void kafka_sub_close(void *st, void *sub);

#endif
