/* The baselines of imi bench mq: librdkafka and nats.c used directly, with the settings
 * of the [mq] section, doing what the drivers do (acked publish, a consumer group that
 * commits/acks after each message), without im-infra in between. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "bench_mq.h"

static const char *opt(const imi_config *cfg, const char *key, const char *dflt)
{
    const char *v = imi_config_get(cfg, "mq", key, NULL);
    return v && *v ? v : dflt;
}

static int64_t opt_ms(const imi_config *cfg, const char *key, int64_t dflt)
{
    int64_t v = dflt;
    imi_config_get_duration_ms(cfg, "mq", key, &v);
    return v;
}

#ifdef IMI_BENCH_HAVE_RDKAFKA
#include <librdkafka/rdkafka.h>

typedef struct raw_kafka {
    const imi_config *cfg;
    rd_kafka_t *prod, *cons;
    pthread_t poller, consumer;
    volatile int stop;
    bench_sink *sink;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long sync_done;
} raw_kafka;

static rd_kafka_conf_t *rk_conf(raw_kafka *r)
{
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    char err[256], v[32];
    rd_kafka_conf_set(c, "bootstrap.servers", opt(r->cfg, "brokers", ""), err, sizeof err);
    snprintf(v, sizeof v, "%lld", (long long)opt_ms(r->cfg, "reconnect_backoff_max", 1000));
    rd_kafka_conf_set(c, "reconnect.backoff.max.ms", v, err, sizeof err);
    const char *key, *value;
    for (size_t i = 0; (key = imi_config_key(r->cfg, "mq", i, &value, NULL)); i++)
        if (!strncmp(key, "kafka.", 6))
            rd_kafka_conf_set(c, key + 6, value, err, sizeof err);
    return c;
}

static void rk_dr(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    raw_kafka *r = opaque;
    (void)rk;
    if (m->_private) { /* a sync publish waits for this one */
        pthread_mutex_lock(&r->lock);
        r->sync_done++;
        pthread_cond_broadcast(&r->cond);
        pthread_mutex_unlock(&r->lock);
    }
}

static void *rk_poll(void *arg)
{
    raw_kafka *r = arg;
    while (!r->stop)
        rd_kafka_poll(r->prod, 100);
    return NULL;
}

static void *rk_consume(void *arg)
{
    raw_kafka *r = arg;
    while (!r->stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(r->cons, 100);
        if (!m)
            continue;
        if (!m->err) {
            bench_sink_record(r->sink, m->payload, m->len);
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(r->cons);
    return NULL;
}

static int rk_consume_start(void *ud, const char *topic, bench_sink *s)
{
    raw_kafka *r = ud;
    r->sink = s;
    rd_kafka_conf_t *c = rk_conf(r);
    char err[256], group[160];
    snprintf(group, sizeof group, "%s-g", topic);
    rd_kafka_conf_set(c, "group.id", group, err, sizeof err);
    rd_kafka_conf_set(c, "enable.auto.offset.store", "false", err, sizeof err);
    rd_kafka_conf_set(c, "auto.offset.reset", "earliest", err, sizeof err);
    rd_kafka_conf_set(c, "allow.auto.create.topics", "true", err, sizeof err);
    if (!(r->cons = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof err)))
        return imi_error_set(IMI_EDRIVER, 0, "raw kafka consumer: %s", err);
    rd_kafka_poll_set_consumer(r->cons);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(r->cons, l);
    rd_kafka_topic_partition_list_destroy(l);
    pthread_create(&r->consumer, NULL, rk_consume, r);
    return IMI_OK;
}

static int rk_produce(raw_kafka *r, const char *topic, const void *body, size_t len, void *op)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(r->prod, RD_KAFKA_V_TOPIC(topic),
                                                  RD_KAFKA_V_VALUE((void *)body, len),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                  RD_KAFKA_V_OPAQUE(op), RD_KAFKA_V_END);
        if (!e)
            return IMI_OK;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return imi_error_set(IMI_EDRIVER, e, "raw produce: %s", rd_kafka_err2str(e));
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
}

static int rk_pub_async(void *ud, const char *topic, const void *body, size_t len)
{
    return rk_produce(ud, topic, body, len, NULL);
}

static int rk_flush(void *ud)
{
    raw_kafka *r = ud;
    return rd_kafka_flush(r->prod, 120000) ? imi_error_set(IMI_ETIMEDOUT, 0, "raw flush")
                                           : IMI_OK;
}

static int rk_pub_sync(void *ud, const char *topic, const void *body, size_t len)
{
    raw_kafka *r = ud;
    pthread_mutex_lock(&r->lock);
    long want = r->sync_done + 1;
    pthread_mutex_unlock(&r->lock);
    int rc = rk_produce(r, topic, body, len, r);
    pthread_mutex_lock(&r->lock);
    while (!rc && r->sync_done < want)
        pthread_cond_wait(&r->cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
    return rc;
}

static void rk_stop(void *ud)
{
    raw_kafka *r = ud;
    r->stop = 1;
    if (r->cons) {
        pthread_join(r->consumer, NULL);
        rd_kafka_destroy(r->cons);
    }
    pthread_join(r->poller, NULL);
    rd_kafka_destroy(r->prod);
    free(r);
}

static bool raw_kafka_target(const imi_config *cfg, bench_target *out)
{
    raw_kafka *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    r->cfg = cfg;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    rd_kafka_conf_t *c = rk_conf(r);
    char err[256], v[32];
    rd_kafka_conf_set(c, "acks", opt(cfg, "acks", "all"), err, sizeof err);
    rd_kafka_conf_set(c, "enable.idempotence",
                      strcmp(opt(cfg, "idempotence", "true"), "false") ? "true" : "false",
                      err, sizeof err);
    rd_kafka_conf_set(c, "compression.codec", opt(cfg, "compression", "none"), err, sizeof err);
    snprintf(v, sizeof v, "%lld", (long long)opt_ms(cfg, "linger", 5));
    rd_kafka_conf_set(c, "linger.ms", v, err, sizeof err);
    rd_kafka_conf_set_opaque(c, r);
    rd_kafka_conf_set_dr_msg_cb(c, rk_dr);
    if (!(r->prod = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof err))) {
        free(r);
        return false;
    }
    pthread_create(&r->poller, NULL, rk_poll, r);
    *out = (bench_target){ .name = "librdkafka", .ud = r, .consume = rk_consume_start,
                           .publish_async = rk_pub_async, .flush = rk_flush,
                           .publish_sync = rk_pub_sync, .stop = rk_stop };
    return true;
}
#endif

#ifdef IMI_BENCH_HAVE_LIBNATS
#include <nats/nats.h>

typedef struct raw_nats {
    const imi_config *cfg;
    natsConnection *pub, *sub_nc;
    jsCtx *js, *sub_js;
    natsSubscription *sub;
    bool jetstream;
    bench_sink *sink;
} raw_nats;

static void nats_on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure)
{
    raw_nats *r = closure;
    (void)nc;
    (void)sub;
    bench_sink_record(r->sink, natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
    if (r->jetstream)
        natsMsg_Ack(m, NULL);
    natsMsg_Destroy(m);
}

static int nats_consume_start(void *ud, const char *topic, bench_sink *s)
{
    raw_nats *r = ud;
    r->sink = s;
    char group[160];
    snprintf(group, sizeof group, "%s-g", topic);
    for (char *p = group; *p; p++)
        if (*p == '.')
            *p = '_';
    natsStatus st;
    if (!r->jetstream) {
        st = natsConnection_QueueSubscribe(&r->sub, r->sub_nc, topic, group, nats_on_msg, r);
    } else {
        char stream[200];
        snprintf(stream, sizeof stream, "RAW_%s", group);
        jsStreamConfig sc;
        jsStreamConfig_Init(&sc);
        const char *subjects[] = { topic };
        sc.Name = stream;
        sc.Subjects = subjects;
        sc.SubjectsLen = 1;
        sc.Storage = strcmp(opt(r->cfg, "storage", "file"), "memory") ? js_FileStorage
                                                                       : js_MemoryStorage;
        js_AddStream(NULL, r->js, &sc, NULL, NULL);
        jsSubOptions so;
        jsSubOptions_Init(&so);
        so.Stream = stream;
        so.Queue = group;
        so.ManualAck = true;
        so.Config.Durable = group;
        so.Config.DeliverGroup = group;
        so.Config.AckPolicy = js_AckExplicit;
        st = js_Subscribe(&r->sub, r->sub_js, topic, nats_on_msg, r, NULL, &so, NULL);
    }
    if (st == NATS_OK)
        st = natsSubscription_SetPendingLimits(r->sub, 1000000, 1024 * 1024 * 1024);
    if (st == NATS_OK)
        st = natsConnection_FlushTimeout(r->sub_nc, 10000);
    return st == NATS_OK ? IMI_OK
                         : imi_error_set(IMI_EDRIVER, st, "raw nats subscribe: %s",
                                         natsStatus_GetText(st));
}

static int nats_pub_async(void *ud, const char *topic, const void *body, size_t len)
{
    raw_nats *r = ud;
    natsStatus st = r->jetstream ? js_PublishAsync(r->js, topic, body, (int)len, NULL)
                                 : natsConnection_Publish(r->pub, topic, body, (int)len);
    return st == NATS_OK ? IMI_OK : imi_error_set(IMI_EDRIVER, st, "raw nats publish");
}

static int nats_flush(void *ud)
{
    raw_nats *r = ud;
    natsStatus st = r->jetstream ? js_PublishAsyncComplete(r->js, NULL)
                                 : natsConnection_FlushTimeout(r->pub, 120000);
    return st == NATS_OK ? IMI_OK : imi_error_set(IMI_EDRIVER, st, "raw nats flush");
}

static int nats_pub_sync(void *ud, const char *topic, const void *body, size_t len)
{
    raw_nats *r = ud;
    natsStatus st = r->jetstream ? js_Publish(NULL, r->js, topic, body, (int)len, NULL, NULL)
                                 : natsConnection_Publish(r->pub, topic, body, (int)len);
    if (st == NATS_OK && !r->jetstream)
        st = natsConnection_FlushTimeout(r->pub, 10000);
    return st == NATS_OK ? IMI_OK : imi_error_set(IMI_EDRIVER, st, "raw nats publish");
}

static void nats_stop(void *ud)
{
    raw_nats *r = ud;
    if (r->sub) {
        natsSubscription_Unsubscribe(r->sub);
        natsSubscription_Destroy(r->sub);
    }
    if (r->js)
        jsCtx_Destroy(r->js);
    if (r->sub_js)
        jsCtx_Destroy(r->sub_js);
    natsConnection_Destroy(r->pub);
    natsConnection_Destroy(r->sub_nc);
    free(r);
}

static bool raw_nats_target(const imi_config *cfg, bench_target *out)
{
    raw_nats *r = calloc(1, sizeof *r);
    if (!r)
        return false;
    int js = 0;
    r->cfg = cfg;
    imi_config_get_bool(cfg, "mq", "jetstream", &js);
    r->jetstream = js;
    const char *url = opt(cfg, "url", "nats://127.0.0.1:4222");
    if (natsConnection_ConnectTo(&r->pub, url) != NATS_OK ||
        natsConnection_ConnectTo(&r->sub_nc, url) != NATS_OK ||
        (js && (natsConnection_JetStream(&r->js, r->pub, NULL) != NATS_OK ||
                natsConnection_JetStream(&r->sub_js, r->sub_nc, NULL) != NATS_OK))) {
        nats_stop(r);
        return false;
    }
    *out = (bench_target){ .name = "nats.c", .ud = r, .consume = nats_consume_start,
                           .publish_async = nats_pub_async, .flush = nats_flush,
                           .publish_sync = nats_pub_sync, .stop = nats_stop };
    return true;
}
#endif

bool bench_mq_raw_target(const imi_config *cfg, bench_target *out)
{
    const char *driver = opt(cfg, "driver", "");
#ifdef IMI_BENCH_HAVE_RDKAFKA
    if (!strcmp(driver, "kafka"))
        return raw_kafka_target(cfg, out);
#endif
#ifdef IMI_BENCH_HAVE_LIBNATS
    if (!strcmp(driver, "nats"))
        return raw_nats_target(cfg, out);
#endif
    (void)driver;
    (void)opt_ms;
    (void)out;
    return false;
}
