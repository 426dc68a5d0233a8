/* Kafka consumers: one librdkafka consumer and one poll thread per subscription.
 *
 * At-least-once: offsets are stored only after the handler acknowledged a message
 * (enable.auto.offset.store=false) and committed by the auto-commit timer, on revoke and
 * on close, so a rebalance or a crash redelivers at most what was in flight. A nacked
 * message is delivered again by the same thread after the redelivery delay, before
 * anything behind it in its partition: per-key order holds, and the attempt number is
 * counted here (it restarts at 1 if the partition moves to another member meanwhile). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "kafka.h"

#define MAX_STACK_HEADERS 32

static void on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    (void)opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"))
            rd_kafka_error_destroy(rd_kafka_incremental_assign(rk, parts));
        else
            rd_kafka_assign(rk, parts);
        return;
    }
    /* Revoked: commit what the handler finished before another member takes over. */
    rd_kafka_commit(rk, NULL, 0);
    if (!strcmp(rd_kafka_rebalance_protocol(rk), "COOPERATIVE"))
        rd_kafka_error_destroy(rd_kafka_incremental_unassign(rk, parts));
    else
        rd_kafka_assign(rk, NULL);
}

static bool stopping(const kafka_sub *s)
{
    return __atomic_load_n(&s->stop, __ATOMIC_ACQUIRE);
}

/* Sleeps ms in slices, returning early when the subscription closes. */
static void pause_ms(const kafka_sub *s, int64_t ms)
{
    while (ms > 0 && !stopping(s)) {
        int64_t slice = ms < 20 ? ms : 20;
        struct timespec ts = { 0, slice * 1000000 };
        nanosleep(&ts, NULL);
        ms -= slice;
    }
}

/* Hands one message to the front-end until it is acknowledged (or the sub closes). */
static void handle(kafka_sub *s, rd_kafka_message_t *m)
{
    imi_mq_header small[MAX_STACK_HEADERS], *hs = small;
    size_t n = 0;
    rd_kafka_headers_t *kh = NULL;
    if (!rd_kafka_message_headers(m, &kh) && kh) {
        size_t count = rd_kafka_header_cnt(kh);
        if (count > MAX_STACK_HEADERS && !(hs = malloc(count * sizeof *hs)))
            return; /* not stored: redelivered after a restart */
        const char *name;
        const void *val;
        size_t len;
        for (size_t i = 0; i < count && !rd_kafka_header_get_all(kh, i, &name, &val, &len); i++)
            hs[n++] = (imi_mq_header){ name, val ? val : "", val ? len : 0 };
    }
    imi_mq_msg msg = {
        .topic = rd_kafka_topic_name(m->rkt), .key = m->key, .key_len = m->key ? m->key_len : 0,
        .headers = hs, .n_headers = n, .body = m->payload ? m->payload : "",
        .body_len = m->payload ? m->len : 0,
    };
    for (int attempt = 1; !stopping(s); attempt++) {
        msg.attempt = attempt;
        if (s->deliver(s->core_sub, &msg) == IMI_OK) {
            rd_kafka_offset_store(m->rkt, m->partition, m->offset);
            break;
        }
        pause_ms(s, s->delay_ms);
    }
    if (hs != small)
        free(hs);
}

static void *consume_loop(void *arg)
{
    kafka_sub *s = arg;
    while (!stopping(s)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->rk, 100);
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                s->k->host->log(s->k->env->logger, IMI_HOST_LOG_DEBUG, NULL,
                                "kafka consumer: %s", rd_kafka_message_errstr(m));
        } else {
            handle(s, m);
        }
        rd_kafka_message_destroy(m);
    }
    /* Leaves the group with the stored offsets committed. Other members keep polling in
     * their own threads, so the rebalance this starts completes. */
    rd_kafka_consumer_close(s->rk);
    return NULL;
}

int kafka_sub_open(void *st, void *sub, const imi_ctx *ctx, const imi_mq_sub_spec *spec,
                   imi_mq_deliver_fn deliver, void *core_sub)
{
    kafka_mq *k = st;
    kafka_sub *s = sub;
    (void)ctx;
    *s = (kafka_sub){ .k = k, .deliver = deliver, .core_sub = core_sub,
                      .delay_ms = spec->redelivery_delay_ms };
    const imi_opt_value *o = k->env->opts;
    char session[32];
    snprintf(session, sizeof session, "%" PRId64, o[OPT_SESSION_TIMEOUT].i);
    const char *extra[] = {
        "group.id", spec->group,
        "enable.auto.commit", "true",
        "enable.auto.offset.store", "false",
        "auto.offset.reset", o[OPT_OFFSET_RESET].str,
        "session.timeout.ms", session,
        "allow.auto.create.topics", "true",
        NULL,
    };
    rd_kafka_conf_t *conf = kafka_conf(k, extra);
    if (!conf)
        return IMI_ECONFIG;
    rd_kafka_conf_set_rebalance_cb(conf, on_rebalance);
    char err[512];
    s->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (!s->rk) {
        rd_kafka_conf_destroy(conf);
        return k->host->error(IMI_ECONFIG, 0, "[%s] kafka consumer: %s", k->env->instance, err);
    }
    rd_kafka_poll_set_consumer(s->rk);
    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new((int)spec->n_topics);
    for (size_t i = 0; i < spec->n_topics; i++)
        rd_kafka_topic_partition_list_add(topics, spec->topics[i], RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(s->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e)
        return kafka_error(k, e, "subscribe");
    if (pthread_create(&s->thread, NULL, consume_loop, s))
        return k->host->error(IMI_EINTERNAL, 0, "cannot start a kafka consumer thread");
    s->started = true;
    return IMI_OK;
}

void kafka_sub_close(void *st, void *sub)
{
    kafka_sub *s = sub;
    (void)st;
    __atomic_store_n(&s->stop, 1, __ATOMIC_RELEASE);
    if (s->started)
        pthread_join(s->thread, NULL);
    else if (s->rk)
        rd_kafka_consumer_close(s->rk);
    if (s->rk)
        rd_kafka_destroy(s->rk);
    s->rk = NULL;
}
