/* What the mq cluster, TLS and naming tests share: apps from config text, a consumer
 * that counts what it sees, publishing that retries while the cluster recovers, and the
 * topology script (tools/clusters/nats.sh, through $IMI_NATS_CLUSTER_CTL). */
#ifndef IMI_TESTS_MQ_IT_H
#define IMI_TESTS_MQ_IT_H

#include <pthread.h>
#include <stdbool.h>
#include "iminfra/iminfra.h"

/* The value of an environment variable the topology script exports; fails the test when
 * it is missing. */
const char *it_env(const char *name);

void it_sleep_ms(long ms);
int64_t it_now_ms(void);

/* An app whose [mq] section is `mq_keys` (driver = nats is added); fails the test when
 * the config is refused. */
imi_app *it_app(const char *mq_keys);
/* Opens [mq] of app; returns the code and leaves *out NULL on failure. */
int it_mq_open(imi_app *app, imi_mq **out);

/* Per id (the body "<id>"), how often it was delivered; `since` marks the first id of a
 * phase, `first_since_ms` when a message of that phase first arrived. */
typedef struct it_seen {
    pthread_mutex_t lock;
    unsigned char *count;
    long n, unique, dups, since;
    int64_t first_since_ms;
    char topic_seen[256];           /* the topic of the last delivery */
    long foreign;                   /* deliveries whose topic was not the expected one */
    const char *expect_topic;       /* NULL: any */
} it_seen;

void it_seen_init(it_seen *s, long n, const char *expect_topic);
void it_seen_free(it_seen *s);
long it_unique(it_seen *s);
int it_on_msg(void *ud, const imi_mq_msg *m);
/* Waits up to ms for `want` distinct ids; returns how many arrived. */
long it_wait_unique(it_seen *s, long want, long ms);

/* Publishes "<id>" to topic, one attempt of attempt_ms; returns the code. */
int it_publish(imi_mq *mq, const char *topic, long id, long attempt_ms);
/* Publishes until it succeeds or ms passed; counts the failed attempts in *retries and
 * keeps the code of the last one in it_last_failure. */
extern int it_last_failure;
int it_publish_retrying(imi_mq *mq, const char *topic, long id, long ms, long *retries);

/* Runs "$IMI_NATS_CLUSTER_CTL ARGS" (the topology script); fails the test on error. */
void it_ctl(const char *args);

#endif
