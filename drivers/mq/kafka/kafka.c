/* The Kafka mq driver: librdkafka producer with acknowledgements (acks=all and
 * idempotence by default), sync publish waiting for the delivery report, async publish
 * with the report as completion, and a poll thread serving the reports. Consumers are in
 * kafka_consumer.c. Any librdkafka property can be set as `kafka.<property> = value`. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kafka.h"

static const imi_option_spec kafka_options[] = {
    [OPT_BROKERS] = { .name = "brokers", .type = IMI_OPT_LIST, .flags = IMI_OPT_REQUIRED,
                      .help = "bootstrap brokers, host:port,host:port" },
    [OPT_ACKS] = { .name = "acks", .type = IMI_OPT_STRING, .default_value = "all",
                   .help = "producer acks: all, 1 or 0" },
    [OPT_IDEMPOTENCE] = { .name = "idempotence", .type = IMI_OPT_BOOL, .default_value = "true",
                          .help = "idempotent producer: no duplicates or reordering on retry" },
    [OPT_COMPRESSION] = { .name = "compression", .type = IMI_OPT_STRING, .default_value = "none",
                          .help = "none, gzip, snappy, lz4 or zstd" },
    [OPT_LINGER] = { .name = "linger", .type = IMI_OPT_DURATION, .default_value = "5ms",
                     .help = "how long the producer waits to fill a batch" },
    [OPT_BATCH_SIZE] = { .name = "batch_size", .type = IMI_OPT_SIZE, .default_value = "1M",
                         .help = "largest batch of messages sent at once, in bytes" },
    [OPT_SESSION_TIMEOUT] = { .name = "session_timeout", .type = IMI_OPT_DURATION,
                              .default_value = "10s",
                              .help = "a consumer silent this long leaves its group" },
    [OPT_OFFSET_RESET] = { .name = "auto_offset_reset", .type = IMI_OPT_STRING,
                           .default_value = "earliest",
                           .help = "where a new group starts: earliest or latest" },
    [OPT_RECONNECT_MAX] = { .name = "reconnect_backoff_max", .type = IMI_OPT_DURATION,
                            .default_value = "1s",
                            .help = "longest wait between reconnects to a broker" },
    [OPT_PASSTHROUGH] = { .name = "kafka.*", .type = IMI_OPT_STRING,
                          .help = "any librdkafka property, e.g. kafka.socket.timeout.ms = 30000" },
};

int kafka_error(const kafka_mq *k, rd_kafka_resp_err_t err, const char *what)
{
    int code;
    switch (err) {
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        code = IMI_ETIMEDOUT;
        break;
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
        code = IMI_EUNAVAILABLE;
        break;
    case RD_KAFKA_RESP_ERR__PURGE_QUEUE:
    case RD_KAFKA_RESP_ERR__PURGE_INFLIGHT:
    case RD_KAFKA_RESP_ERR__DESTROY:
        code = IMI_ECLOSED;
        break;
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG:
    case RD_KAFKA_RESP_ERR_TOPIC_EXCEPTION:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
        code = IMI_EINVALID;
        break;
    default:
        code = IMI_EDRIVER;
    }
    return k->host->error(code, (long)err, "kafka: %s: %s", what, rd_kafka_err2str(err));
}

/* Properties whose values are credentials (sasl.password, ssl.key.password, ssl.key.pem,
 * sasl.oauthbearer.client.secret, ...): never echoed in an error. */
static bool secret_property(const char *name)
{
    return strstr(name, "password") || strstr(name, "secret") || strstr(name, "token") ||
           strstr(name, ".pem") || strstr(name, "oauthbearer.config");
}

static int set(rd_kafka_conf_t *conf, const kafka_mq *k, const char *name, const char *value)
{
    char err[512];
    if (rd_kafka_conf_set(conf, name, value, err, sizeof err) == RD_KAFKA_CONF_OK)
        return IMI_OK;
    /* librdkafka's own text may quote the value: drop it too for a secret. */
    bool secret = secret_property(name);
    return k->host->error(IMI_ECONFIG, 0, "[%s] kafka property %s = '%s': %s", k->env->instance,
                          name, secret ? "***" : value, secret ? "refused" : err);
}

rd_kafka_conf_t *kafka_conf(const kafka_mq *k, const char *const *extra)
{
    const imi_opt_value *o = k->env->opts;
    char backoff[32];
    snprintf(backoff, sizeof backoff, "%" PRId64, o[OPT_RECONNECT_MAX].i);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = set(conf, k, "bootstrap.servers", o[OPT_BROKERS].str);
    if (!rc)
        rc = set(conf, k, "reconnect.backoff.max.ms", backoff);
    if (!rc)
        rc = set(conf, k, "log_level", "3");
    for (; !rc && extra && extra[0]; extra += 2)
        rc = set(conf, k, extra[0], extra[1]);
    /* kafka.<property> last: the config has the final word. */
    for (size_t i = 0; !rc && i < k->env->n_passthrough; i++)
        rc = set(conf, k, k->env->passthrough[i].key + strlen("kafka."),
                 k->env->passthrough[i].value);
    if (rc) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

/* ---- delivery reports ------------------------------------------------------------ */

/* The opaque of a produced message: a sync publisher waiting, or an async completion. */
typedef struct report {
    bool sync;
    int refs;                       /* sync: the publisher and the report */
    bool done;
    rd_kafka_resp_err_t err;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    imi_mq_done completion;         /* async */
} report;

static void report_put(report *r)
{
    pthread_mutex_lock(&r->lock);
    bool last = --r->refs == 0;
    pthread_mutex_unlock(&r->lock);
    if (last) {
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
    }
}

/* One async publish completed (or failed to enqueue): flush is woken at the last one. */
static void pending_done(kafka_mq *k)
{
    if (atomic_fetch_sub(&k->pending, 1) == 1) {
        pthread_mutex_lock(&k->lock);
        pthread_cond_broadcast(&k->idle);
        pthread_mutex_unlock(&k->lock);
    }
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    kafka_mq *k = opaque;
    report *r = m->_private;
    (void)rk;
    if (!r)
        return;
    if ((void *)r == (void *)&k->plain_done) {
        int rc = m->err ? kafka_error(k, m->err, "delivery") : IMI_OK;
        k->plain_done.fn(&k->plain_done, rc);
        pending_done(k);
        return;
    }
    if (!r->sync) {
        int rc = m->err ? kafka_error(k, m->err, "delivery") : IMI_OK;
        r->completion.fn(&r->completion, rc);
        free(r);
        pending_done(k);
        return;
    }
    pthread_mutex_lock(&r->lock);
    r->done = true;
    r->err = m->err;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    report_put(r);
}

static void *poll_loop(void *arg)
{
    kafka_mq *k = arg;
    while (!__atomic_load_n(&k->stopping, __ATOMIC_ACQUIRE))
        rd_kafka_poll(k->producer, 100);
    return NULL;
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_mq *k = rd_kafka_opaque(rk);
    if (k)
        k->host->log(k->env->logger, level <= 3 ? IMI_HOST_LOG_ERROR : IMI_HOST_LOG_WARN, NULL,
                     "librdkafka %s: %s", fac, buf);
}

/* ---- driver ---------------------------------------------------------------------- */

static int kafka_open(void *st, const imi_driver_env *env)
{
    kafka_mq *k = st;
    k->env = env;
    k->host = env->host;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->idle, NULL);
    const imi_opt_value *o = env->opts;
    char linger[32], batch[32];
    snprintf(linger, sizeof linger, "%" PRId64, o[OPT_LINGER].i);
    snprintf(batch, sizeof batch, "%" PRId64, o[OPT_BATCH_SIZE].i);
    const char *extra[] = {
        "acks", o[OPT_ACKS].str,
        "enable.idempotence", o[OPT_IDEMPOTENCE].i ? "true" : "false",
        "compression.codec", o[OPT_COMPRESSION].str,
        "linger.ms", linger,
        "batch.size", batch,
        NULL,
    };
    rd_kafka_conf_t *conf = kafka_conf(k, extra);
    if (!conf)
        return IMI_ECONFIG;
    rd_kafka_conf_set_opaque(conf, k);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_log_cb(conf, on_log);
    char err[512];
    k->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (!k->producer) {
        rd_kafka_conf_destroy(conf);
        return k->host->error(IMI_ECONFIG, 0, "[%s] kafka producer: %s", env->instance, err);
    }
    if (pthread_create(&k->poller, NULL, poll_loop, k))
        return k->host->error(IMI_EINTERNAL, 0, "cannot start the kafka poll thread");
    k->poller_started = true;
    return IMI_OK;
}

static void kafka_close(void *st)
{
    kafka_mq *k = st;
    if (k->producer) {
        /* Whatever the front-end's flush left is failed, so every completion runs. That
         * flush already waited close_timeout for async publishes; what else is queued
         * belongs to sync publishes that have returned their error (a broker down):
         * waiting for it only delays the exit. */
        rd_kafka_purge(k->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(k->producer, 1000);
    }
    __atomic_store_n(&k->stopping, true, __ATOMIC_RELEASE);
    if (k->poller_started)
        pthread_join(k->poller, NULL);
    if (k->producer) {
        rd_kafka_poll(k->producer, 0);
        rd_kafka_destroy(k->producer);
    }
    pthread_cond_destroy(&k->idle);
    pthread_mutex_destroy(&k->lock);
}

static int kafka_ping(void *st, const imi_ctx *ctx)
{
    kafka_mq *k = st;
    const struct rd_kafka_metadata *md = NULL;
    int ms = (int)k->host->ctx_remaining_ms(ctx, k->env->default_timeout_ms);
    rd_kafka_resp_err_t err = rd_kafka_metadata(k->producer, 0, NULL, &md, ms > 0 ? ms : 1);
    if (err)
        return kafka_error(k, err, "metadata");
    rd_kafka_metadata_destroy(md);
    return IMI_OK;
}

/* ---- producer -------------------------------------------------------------------- */

/* Produces msg with opaque r, waiting for queue room until the deadline. */
static int produce(kafka_mq *k, const imi_ctx *ctx, const imi_mq_msg *msg, report *r)
{
    int64_t deadline = k->host->mono_ns() +
                       k->host->ctx_remaining_ms(ctx, k->env->default_timeout_ms) * 1000000;
    for (;;) {
        rd_kafka_headers_t *hs = msg->n_headers ? rd_kafka_headers_new(msg->n_headers) : NULL;
        for (size_t i = 0; i < msg->n_headers; i++)
            rd_kafka_header_add(hs, msg->headers[i].name, -1, msg->headers[i].value,
                                (ssize_t)msg->headers[i].len);
        rd_kafka_resp_err_t err = rd_kafka_producev(
            k->producer, RD_KAFKA_V_TOPIC(msg->topic),
            RD_KAFKA_V_KEY(msg->key, msg->key_len),
            RD_KAFKA_V_VALUE((void *)msg->body, msg->body_len),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(r),
            RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_END);
        if (!err)
            return IMI_OK;
        if (hs)
            rd_kafka_headers_destroy(hs);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return kafka_error(k, err, "produce");
        if (k->host->ctx_canceled(ctx))
            return k->host->error(IMI_ECANCELED, 0, "publish to '%s' canceled while the "
                                  "producer queue was full", msg->topic);
        if (k->host->mono_ns() >= deadline)
            return k->host->error(IMI_ETIMEDOUT, (long)err, "publish to '%s' timed out: the "
                                  "producer queue stayed full", msg->topic);
        struct timespec ts = { 0, 5000000 };
        nanosleep(&ts, NULL);
    }
}

static int kafka_publish(void *st, const imi_ctx *ctx, const imi_mq_msg *msg)
{
    kafka_mq *k = st;
    report *r = calloc(1, sizeof *r);
    if (!r)
        return k->host->error(IMI_ENOMEM, 0, "out of memory");
    *r = (report){ .sync = true, .refs = 2 };
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    int rc = produce(k, ctx, msg, r);
    if (rc) {
        r->refs = 1;
        report_put(r);
        return rc;
    }
    int64_t deadline = k->host->mono_ns() +
                       k->host->ctx_remaining_ms(ctx, k->env->default_timeout_ms) * 1000000;
    pthread_mutex_lock(&r->lock);
    while (!r->done && !k->host->ctx_canceled(ctx) && k->host->mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&r->cond, &r->lock, &ts);
    }
    bool done = r->done;
    rd_kafka_resp_err_t err = r->err;
    pthread_mutex_unlock(&r->lock);
    report_put(r);
    if (!done)
        return k->host->ctx_canceled(ctx)
                   ? k->host->error(IMI_ECANCELED, 0, "publish to '%s' canceled before the "
                                    "broker acknowledged it", msg->topic)
                   : k->host->error(IMI_ETIMEDOUT, 0, "publish to '%s': no acknowledgement "
                                    "before the deadline", msg->topic);
    return err ? kafka_error(k, err, "delivery") : IMI_OK;
}

/* The shared opaque for a completion without a user callback (see kafka_mq.plain_done),
 * or NULL when done differs from it. */
static void *plain_opaque(kafka_mq *k, const imi_mq_done *done)
{
    if (done->user_fn || done->user_ud)
        return NULL;
    if (!atomic_load_explicit(&k->plain_set, memory_order_acquire)) {
        pthread_mutex_lock(&k->lock);
        if (!atomic_load_explicit(&k->plain_set, memory_order_relaxed)) {
            k->plain_done = *done;
            atomic_store_explicit(&k->plain_set, true, memory_order_release);
        }
        pthread_mutex_unlock(&k->lock);
    }
    return k->plain_done.fn == done->fn && k->plain_done.core == done->core ? &k->plain_done
                                                                             : NULL;
}

static int kafka_publish_async(void *st, const imi_ctx *ctx, const imi_mq_msg *msg,
                               const imi_mq_done *done)
{
    kafka_mq *k = st;
    void *opaque = plain_opaque(k, done);
    report *r = NULL;
    if (!opaque) {
        if (!(r = calloc(1, sizeof *r)))
            return k->host->error(IMI_ENOMEM, 0, "out of memory");
        r->completion = *done;
        opaque = r;
    }
    atomic_fetch_add(&k->pending, 1);
    int rc = produce(k, ctx, msg, opaque);
    if (rc) {
        free(r);
        pending_done(k);
    }
    return rc;
}

static int kafka_flush(void *st, const imi_ctx *ctx)
{
    kafka_mq *k = st;
    int64_t ms = k->host->ctx_remaining_ms(ctx, k->env->default_timeout_ms);
    int64_t deadline = k->host->mono_ns() + ms * 1000000;
    rd_kafka_flush(k->producer, (int)ms); /* sends lingering batches now */
    int rc = IMI_OK;
    pthread_mutex_lock(&k->lock);
    while (atomic_load(&k->pending) > 0) {
        if (k->host->ctx_canceled(ctx)) {
            rc = k->host->error(IMI_ECANCELED, 0, "flush canceled");
            break;
        }
        if (k->host->mono_ns() >= deadline) {
            rc = k->host->error(IMI_ETIMEDOUT, 0, "flush: %ld publishes not acknowledged "
                                "by the deadline", atomic_load(&k->pending));
            break;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 10000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&k->idle, &k->lock, &ts);
    }
    pthread_mutex_unlock(&k->lock);
    return rc;
}

static const imi_mq_producer_ops kafka_producer = {
    .size = sizeof(imi_mq_producer_ops),
    .p_publish = kafka_publish,
    .p_publish_async = kafka_publish_async,
    .p_flush = kafka_flush,
};

static const imi_mq_sub_ops kafka_sub_ops = {
    .size = sizeof(imi_mq_sub_ops),
    .s_state_size = sizeof(kafka_sub),
    .s_open = kafka_sub_open,
    .s_close = kafka_sub_close,
};

static const imi_mq_driver kafka_vtable = {
    .size = sizeof(imi_mq_driver),
    .open = kafka_open,
    .close = kafka_close,
    .ping = kafka_ping,
    .producer = &kafka_producer,
    .sub = &kafka_sub_ops,
};

static const imi_driver_desc kafka_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_MQ,
    .name = "kafka",
    .version = "1.0.0",
    .description = "Apache Kafka through librdkafka: acked, idempotent producer; "
                   "consumer groups committing after the handler",
    .caps = IMI_MQ_CAP_ASYNC | IMI_MQ_CAP_DURABLE | IMI_MQ_CAP_KEY_ORDER,
    .options = kafka_options,
    .n_options = IMI_COUNT_OF(kafka_options),
    .state_size = sizeof(kafka_mq),
    .vtable = &kafka_vtable,
};

IMI_DRIVER_DEFINE(kafka_desc)
