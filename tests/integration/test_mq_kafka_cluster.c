/* Kafka, 3 brokers (librdkafka's mock cluster, tools/clusters/kafka.sh), a topic of 3
 * partitions with replication factor 3: one broker goes down mid-stream and stays down
 * while the producer keeps publishing and the consumer group keeps consuming; nothing is
 * lost, duplicates are counted. The broker's partitions and the group's coordinator move
 * to the others as Kafka's controller would (the mock elects no leaders by itself; it
 * keeps one log per partition, so what this tests is the client side: the driver's
 * producer and consumer finding the new leaders). Prints the recovery times.
 * Also: SASL and SSL settings reach librdkafka unchanged through kafka.*. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include "mq_it.h"

static void mock(const char *fmt, ...)
{
    const char *path = it_env("IMI_KAFKA_CONTROL");
    FILE *f = fopen(path, "w");
    cr_assert(f, "cannot open %s", path);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputc('\n', f);
    fclose(f);
}

/* `extra`: more keys of [mq], e.g. kafka.* settings. */
static imi_app *kafka_app(const char *extra)
{
    char ini[2048];
    snprintf(ini, sizeof ini,
             "[log]\nlevel = error\n"
             "[mq]\ndriver = kafka\nbrokers = %s\ntimeout = 60s\nsession_timeout = 6s\n"
             "reconnect_backoff_max = 200ms\nlinger = 5ms\n"
             "kafka.message.timeout.ms = 120000\nkafka.retry.backoff.ms = 50\n"
             "kafka.topic.metadata.refresh.interval.ms = 1000\n%s\n",
             it_env("IMI_KAFKA_BOOTSTRAP"), extra);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "kafka-cluster-it.ini", ".", &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

typedef struct acks {
    pthread_mutex_t lock;
    long ok, failed;
    int64_t armed_ms, first_after_ms;   /* the first ack at or after armed_ms */
} acks;

static void on_delivery(void *ud, int rc)
{
    acks *a = ud;
    pthread_mutex_lock(&a->lock);
    if (rc)
        a->failed++;
    else
        a->ok++;
    if (!rc && a->armed_ms && a->first_after_ms < 0)
        a->first_after_ms = it_now_ms();
    pthread_mutex_unlock(&a->lock);
}

static void publish_range(imi_mq *mq, const char *topic, long from, long to, acks *a)
{
    for (long id = from; id < to; id++) {
        char body[100], key[16];
        int len = snprintf(body, sizeof body, "%ld ", id);
        memset(body + len, 'p', sizeof body - (size_t)len);
        snprintf(key, sizeof key, "k%ld", id % 97);
        imi_mq_msg m = { .topic = topic, .key = key, .key_len = strlen(key), .body = body,
                         .body_len = sizeof body };
        cr_assert_eq(imi_mq_publish_async(mq, NULL, &m, on_delivery, a), IMI_OK,
                     "publish %ld: %s", id, imi_error_message());
    }
}

static long flush_ms(imi_mq *mq)
{
    int64_t t = it_now_ms();
    imi_ctx *ctx = imi_ctx_new(90000);
    cr_assert_eq(imi_mq_flush(mq, ctx), IMI_OK, "flush: %s", imi_error_message());
    imi_ctx_free(ctx);
    return (long)(it_now_ms() - t);
}

Test(mq_kafka_cluster, rf3_topic_keeps_flowing_with_one_broker_down, .timeout = 240)
{
    enum { N1 = 5000, N2 = 10000, N3 = 2000, N = N1 + N2 + N3 };
    char topic[64], group[64];
    long long run = (long long)(imi_now_real_ns() / 1000) % 100000000000LL;
    snprintf(topic, sizeof topic, "rf3-%lld", run);
    snprintf(group, sizeof group, "g-%lld", run);
    /* Partition p led by broker p + 1; broker 2 also coordinates the group. */
    mock("topic %s 3 3", topic);
    for (int p = 0; p < 3; p++)
        mock("leader %s %d %d", topic, p, p + 1);
    mock("coordinator %s 2", group);
    it_sleep_ms(200);

    imi_app *app = kafka_app("");
    imi_mq *prod, *cons;
    cr_assert_eq(it_mq_open(app, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_mq_open(app, &cons), IMI_OK, "%s", imi_error_message());
    it_seen s;
    it_seen_init(&s, N, topic);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(cons, NULL, &o, it_on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    acks a = { .first_after_ms = -1 };
    pthread_mutex_init(&a.lock, NULL);

    publish_range(prod, topic, 0, N1, &a);
    flush_ms(prod);
    cr_assert_eq(it_wait_unique(&s, N1, 60000), N1, "before the fault: %ld of %d consumed",
                 it_unique(&s), N1);

    /* Broker 2 goes away; the controller would move its partition and group. */
    pthread_mutex_lock(&s.lock);
    s.since = N1;
    pthread_mutex_unlock(&s.lock);
    int64_t down = it_now_ms();
    pthread_mutex_lock(&a.lock);
    a.armed_ms = down;
    pthread_mutex_unlock(&a.lock);
    mock("down 2");
    mock("leader %s 1 3", topic);
    mock("coordinator %s 3", group);
    publish_range(prod, topic, N1, N1 + N2, &a);
    flush_ms(prod);
    long acked_ms = (long)(it_now_ms() - down);
    long during = it_wait_unique(&s, N1 + N2, 90000);
    long consumed_ms = (long)(it_now_ms() - down);
    cr_expect_eq(during, N1 + N2, "with broker 2 down: %ld of %d consumed", during - N1, N2);

    mock("up 2");
    publish_range(prod, topic, N1 + N2, N, &a);
    flush_ms(prod);
    long got = it_wait_unique(&s, N, 60000);
    imi_mq_sub_free(sub);
    printf("mq kafka cluster: broker 2 down (leader of 1 of 3 partitions, group "
           "coordinator): first ack %lld ms after, all %d acked after %ld ms, first message "
           "consumed after %lld ms, all consumed after %ld ms; in total %ld of %d consumed, "
           "%ld duplicates, %ld failed publishes\n",
           (long long)(a.first_after_ms - down), N2, acked_ms,
           (long long)(s.first_since_ms - down), consumed_ms, got, N, s.dups, a.failed);
    cr_expect_eq(a.failed, 0, "%ld publishes failed", a.failed);
    cr_expect_eq(a.ok, N, "%ld of %d acknowledged", a.ok, N);
    cr_expect_eq(got, N, "%ld of %d consumed", got, N);
    cr_expect_eq(s.foreign, 0);
    it_seen_free(&s);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
}

/* The mock brokers speak plain Kafka only (no SASL handshake, no TLS): the same publish
 * that succeeds without SASL fails with it, so the settings reached the client; and
 * librdkafka takes a full SASL_SSL set (SCRAM, a CA file, host name checks). (A refused
 * property is not tried here: a failed kafka open crashes in core/mq.c, issue 13.) */
Test(mq_kafka_cluster, sasl_and_ssl_settings_pass_through_unchanged, .timeout = 60)
{
    char topic[64];
    snprintf(topic, sizeof topic, "sasl-%lld", (long long)(imi_now_real_ns() / 1000) % 100000000000LL);
    imi_app *app = kafka_app("");
    imi_mq *mq;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_publish(mq, topic, 1, 30000), IMI_OK, "without SASL: %s", imi_error_message());
    imi_mq_free(mq);
    imi_app_free(app);

    app = kafka_app("close_timeout = 1s\nkafka.security.protocol = SASL_PLAINTEXT\n"
                    "kafka.sasl.mechanisms = PLAIN\nkafka.sasl.username = imi\n"
                    "kafka.sasl.password = imi-secret");
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    int rc = it_publish(mq, topic, 2, 3000);
    cr_expect(rc == IMI_ETIMEDOUT || rc == IMI_EUNAVAILABLE, "with SASL to a broker without "
              "it: %s (%s)", imi_err_name(rc), imi_error_message());
    imi_mq_free(mq);
    imi_app_free(app);

    app = kafka_app("kafka.security.protocol = SASL_SSL\nkafka.sasl.mechanisms = SCRAM-SHA-512\n"
                    "kafka.sasl.username = imi\nkafka.sasl.password = imi-secret\n"
                    "kafka.ssl.ca.location = /etc/ssl/certs/ca-certificates.crt\n"
                    "kafka.ssl.endpoint.identification.algorithm = https");
    cr_expect_eq(it_mq_open(app, &mq), IMI_OK, "SASL_SSL: %s", imi_error_message());
    if (mq)
        imi_mq_free(mq);
    imi_app_free(app);
}
