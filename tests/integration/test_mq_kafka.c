/* Kafka (tools/kafka_mock, 3 brokers) under faults: nothing published is lost.
 * Needs IMI_KAFKA_BOOTSTRAP and IMI_KAFKA_CONTROL (tools/services.sh env). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

/* Sends one command to the mock cluster's control FIFO. */
static void mock(const char *cmd)
{
    const char *path = getenv("IMI_KAFKA_CONTROL");
    cr_assert(path, "IMI_KAFKA_CONTROL is not set: run tools/services.sh start kafka");
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot open %s", path);
    fprintf(f, "%s\n", cmd);
    fclose(f);
}

static imi_app *kafka_app(void)
{
    const char *b = getenv("IMI_KAFKA_BOOTSTRAP");
    cr_assert(b && *b, "IMI_KAFKA_BOOTSTRAP is not set: run tools/services.sh start kafka");
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[log]\nlevel = error\n"
             "[mq]\ndriver = kafka\nbrokers = %s\ntimeout = 60s\nsession_timeout = 6s\n"
             "reconnect_backoff_max = 200ms\nlinger = 5ms\n"
             "kafka.message.timeout.ms = 120000\nkafka.retry.backoff.ms = 50\n"
             "kafka.topic.metadata.refresh.interval.ms = 1000\n", b);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "kafka-it.ini", ".", &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

/* What the consumer saw: per id how often, and a checksum over distinct ids. */
typedef struct seen {
    pthread_mutex_t lock;
    unsigned char *count;
    long n, unique, dups;
    unsigned long long sum;
} seen;

static int on_msg(void *ud, const imi_mq_msg *m)
{
    seen *s = ud;
    char buf[32];
    size_t n = m->body_len < sizeof buf - 1 ? m->body_len : sizeof buf - 1;
    memcpy(buf, m->body, n);
    buf[n] = '\0';
    long id = strtol(buf, NULL, 10);
    pthread_mutex_lock(&s->lock);
    if (id >= 0 && id < s->n) {
        if (s->count[id]++)
            s->dups++;
        else {
            s->unique++;
            s->sum += (unsigned long long)id * 2654435761u;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return IMI_OK;
}

typedef struct acks {
    pthread_mutex_t lock;
    long ok, failed;
} acks;

static void on_delivery(void *ud, int rc)
{
    acks *a = ud;
    pthread_mutex_lock(&a->lock);
    if (rc)
        a->failed++;
    else
        a->ok++;
    pthread_mutex_unlock(&a->lock);
}

static long unique_of(seen *s)
{
    pthread_mutex_lock(&s->lock);
    long u = s->unique;
    pthread_mutex_unlock(&s->lock);
    return u;
}

/* Publishes n messages async while `fault` runs at 1/3 of the way, then waits for the
 * consumer group to have every one. */
static void run(const char *name, long n, void (*fault)(int phase))
{
    imi_app *app = kafka_app();
    imi_mq *prod = NULL, *cons = NULL;
    cr_assert_eq(imi_mq_open(app, NULL, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_mq_open(app, NULL, &cons), IMI_OK, "%s", imi_error_message());
    char topic[96];
    snprintf(topic, sizeof topic, "it-%s-%lld", name, (long long)imi_now_real_ns());
    seen s = { .count = calloc((size_t)n, 1), .n = n };
    pthread_mutex_init(&s.lock, NULL);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "it", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(cons, NULL, &o, on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    acks a = { .ok = 0 };
    pthread_mutex_init(&a.lock, NULL);
    unsigned long long want = 0;
    for (long id = 0; id < n; id++) {
        if (fault && id == n / 3)
            fault(0);
        if (fault && id == 2 * n / 3)
            fault(1);
        char body[100];
        int len = snprintf(body, sizeof body, "%ld ", id);
        memset(body + len, 'p', sizeof body - (size_t)len);
        char key[16];
        snprintf(key, sizeof key, "k%ld", id % 97);
        imi_mq_msg m = { .topic = topic, .key = key, .key_len = strlen(key), .body = body,
                         .body_len = sizeof body };
        int rc = imi_mq_publish_async(prod, NULL, &m, on_delivery, &a);
        cr_assert_eq(rc, IMI_OK, "publish %ld: %s", id, imi_error_message());
        want += (unsigned long long)id * 2654435761u;
    }
    imi_ctx *ctx = imi_ctx_new(120000);
    cr_assert_eq(imi_mq_flush(prod, ctx), IMI_OK, "flush: %s", imi_error_message());
    imi_ctx_free(ctx);
    cr_assert_eq(a.failed, 0, "%ld publishes failed", a.failed);
    cr_assert_eq(a.ok, n, "%ld of %ld acknowledged", a.ok, n);
    for (int i = 0; i < 1200 && unique_of(&s) < n; i++)
        sleep_ms(100);
    imi_mq_sub_free(sub);
    printf("mq kafka %s: %ld published, %ld consumed once or more, %ld duplicates\n", name, n,
           s.unique, s.dups);
    cr_assert_eq(s.unique, n, "%ld of %ld messages consumed (%ld duplicates)", s.unique, n, s.dups);
    cr_assert_eq(s.sum, want, "checksum differs");
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
    free(s.count);
}

/* Broker 2 (a partition leader) stays down for 2 s while publishing goes on, and the
 * cluster answers 20 produce requests with retriable errors meanwhile. */
static void one_broker_down_up(int phase)
{
    static int64_t down_at;
    if (phase == 0) {
        mock("down 2");
        mock("produce_errors 20");
        down_at = imi_now_mono_ns();
    } else {
        int64_t left_ms = 2000 - (imi_now_mono_ns() - down_at) / 1000000;
        if (left_ms > 0)
            sleep_ms(left_ms);
        mock("up 2");
    }
}

static void all_brokers_restart(int phase)
{
    if (phase != 0)
        return;
    mock("down 1");
    mock("down 2");
    mock("down 3");
    sleep_ms(2000);
    mock("up 1");
    mock("up 2");
    mock("up 3");
}

Test(mq_kafka, broker_down_and_retriable_errors_lose_nothing, .timeout = 300)
{
    run("fault", 100000, one_broker_down_up);
}

Test(mq_kafka, whole_cluster_restart_mid_stream_loses_nothing, .timeout = 300)
{
    run("restart", 20000, all_brokers_restart);
}
