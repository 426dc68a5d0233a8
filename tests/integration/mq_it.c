/* Helpers of the mq cluster, TLS and naming tests (mq_it.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "mq_it.h"

const char *it_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run this test through its script in tests/integration"
              " (mq_nats_cluster.sh, mq_kafka_cluster.sh), which starts the servers", name);
    return v;
}

void it_sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

int64_t it_now_ms(void) { return imi_now_mono_ns() / 1000000; }

imi_app *it_app(const char *mq_keys)
{
    char ini[4096];
    snprintf(ini, sizeof ini, "[log]\nlevel = error\n[mq]\ndriver = nats\n%s\n", mq_keys);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "nats-it.ini", ".", &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

int it_mq_open(imi_app *app, imi_mq **out)
{
    *out = NULL;
    return imi_mq_open(app, NULL, out);
}

void it_seen_init(it_seen *s, long n, const char *expect_topic)
{
    *s = (it_seen){ .count = calloc((size_t)n, 1), .n = n, .since = n,
                    .first_since_ms = -1, .expect_topic = expect_topic };
    cr_assert_not_null(s->count);
    pthread_mutex_init(&s->lock, NULL);
}

void it_seen_free(it_seen *s)
{
    free(s->count);
    pthread_mutex_destroy(&s->lock);
}

int it_on_msg(void *ud, const imi_mq_msg *m)
{
    it_seen *s = ud;
    char buf[32];
    size_t n = m->body_len < sizeof buf - 1 ? m->body_len : sizeof buf - 1;
    memcpy(buf, m->body, n);
    buf[n] = '\0';
    long id = strtol(buf, NULL, 10);
    pthread_mutex_lock(&s->lock);
    snprintf(s->topic_seen, sizeof s->topic_seen, "%s", m->topic ? m->topic : "");
    if (s->expect_topic && (!m->topic || strcmp(m->topic, s->expect_topic)))
        s->foreign++;
    else if (id >= 0 && id < s->n) {
        if (s->count[id]++)
            s->dups++;
        else
            s->unique++;
        if (id >= s->since && s->first_since_ms < 0)
            s->first_since_ms = it_now_ms();
    }
    pthread_mutex_unlock(&s->lock);
    return IMI_OK;
}

long it_unique(it_seen *s)
{
    pthread_mutex_lock(&s->lock);
    long u = s->unique;
    pthread_mutex_unlock(&s->lock);
    return u;
}

long it_wait_unique(it_seen *s, long want, long ms)
{
    int64_t end = it_now_ms() + ms;
    while (it_unique(s) < want && it_now_ms() < end)
        it_sleep_ms(20);
    return it_unique(s);
}

int it_publish(imi_mq *mq, const char *topic, long id, long attempt_ms)
{
    char body[32];
    int len = snprintf(body, sizeof body, "%ld", id);
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = (size_t)len };
    imi_ctx *ctx = imi_ctx_new(attempt_ms);
    int rc = imi_mq_publish(mq, ctx, &m);
    imi_ctx_free(ctx);
    return rc;
}

int it_last_failure;

int it_publish_retrying(imi_mq *mq, const char *topic, long id, long ms, long *retries)
{
    int64_t end = it_now_ms() + ms;
    int rc;
    while ((rc = it_publish(mq, topic, id, 1000)) != IMI_OK && it_now_ms() < end) {
        (*retries)++;
        it_last_failure = rc;
        it_sleep_ms(20);
    }
    return rc;
}

void it_ctl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s", it_env("IMI_NATS_CLUSTER_CTL"), args);
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}
