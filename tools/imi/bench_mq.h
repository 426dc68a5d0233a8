/* imi bench mq: one measurement run over a "target", so that im-infra and the raw client
 * library are measured by the same code in the same run. */
#ifndef IMI_TOOLS_BENCH_MQ_H
#define IMI_TOOLS_BENCH_MQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "iminfra/iminfra.h"

#define BENCH_BODY 100
#define BENCH_MAX_BODY 65536

/* Where a consumer reports: bodies start with "<seq> <mono ns at publish>". */
typedef struct bench_sink {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long got;
    int64_t *lat_ns;                /* per seq when seq < cap */
    long cap;
    int64_t last_ns;
    long want;                      /* a waiter's target: wake it when got reaches it */
} bench_sink;

/* Records one received body. */
void bench_sink_record(bench_sink *s, const void *body, size_t len);

/* A way to publish and consume: im-infra, or a client library used directly. */
typedef struct bench_target {
    const char *name;
    void *ud;
    /* Starts a consumer of topic in a fresh group, reporting to s. */
    int (*consume)(void *ud, const char *topic, bench_sink *s);
    int (*publish_async)(void *ud, const char *topic, const void *body, size_t len);
    int (*flush)(void *ud);
    int (*publish_sync)(void *ud, const char *topic, const void *body, size_t len);
    void (*stop)(void *ud);         /* stops the consumer and frees ud */
} bench_target;

/* Raw client baselines for the driver configured in [mq]; false when there is none
 * (the mem driver, or a library the CLI was built without). */
bool bench_mq_raw_target(const imi_config *cfg, bench_target *out);

/* The baseline of the mem driver: a plain mutex + condvar queue (bench_mq_memq.c). */
bool bench_mq_memq_target(bench_target *out);

#endif
