/* NATS restarted mid-stream (tools/services.sh stop nats; start nats): JetStream loses
 * nothing, core NATS reconnects and carries on. Needs IMI_NATS_URL and the services
 * script's IMI_RUN_DIR (tools/services.sh env). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

static void restart_nats(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash %s/tools/services.sh stop nats >/dev/null 2>&1 && "
             "bash %s/tools/services.sh start nats >/dev/null 2>&1",
             IMI_TEST_SOURCE_DIR, IMI_TEST_SOURCE_DIR);
    cr_assert_eq(system(cmd), 0, "restarting nats failed");
}

static imi_app *nats_app(bool jetstream)
{
    const char *url = getenv("IMI_NATS_URL");
    cr_assert(url && *url, "IMI_NATS_URL is not set: run tools/services.sh start nats");
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[log]\nlevel = error\n"
             "[mq]\ndriver = nats\nurl = %s\njetstream = %s\nstorage = file\ntimeout = 5s\n"
             "ack_wait = 5s\nreconnect_wait = 100ms\n", url, jetstream ? "true" : "false");
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "nats-it.ini", ".", &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

typedef struct seen {
    pthread_mutex_t lock;
    unsigned char *count;
    long n, unique, dups;
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
        else
            s->unique++;
    }
    pthread_mutex_unlock(&s->lock);
    return IMI_OK;
}

static long unique_of(seen *s)
{
    pthread_mutex_lock(&s->lock);
    long u = s->unique;
    pthread_mutex_unlock(&s->lock);
    return u;
}

/* Publishes id until the broker takes it (it may be down for a while). */
static int publish_retrying(imi_mq *mq, const char *topic, long id, long *retries)
{
    char body[32];
    int len = snprintf(body, sizeof body, "%ld", id);
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = (size_t)len };
    int rc = IMI_OK;
    for (int i = 0; i < 300; i++) {
        imi_ctx *ctx = imi_ctx_new(1000);
        rc = imi_mq_publish(mq, ctx, &m);
        imi_ctx_free(ctx);
        if (rc == IMI_OK)
            return rc;
        (*retries)++;
        sleep_ms(50);
    }
    return rc;
}

Test(mq_nats, jetstream_server_restart_mid_stream_loses_nothing, .timeout = 240)
{
    enum { N = 3000 };
    imi_app *app = nats_app(true);
    imi_mq *prod = NULL, *cons = NULL;
    cr_assert_eq(imi_mq_open(app, NULL, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_mq_open(app, NULL, &cons), IMI_OK, "%s", imi_error_message());
    char topic[96];
    snprintf(topic, sizeof topic, "it-js-%lld", (long long)imi_now_real_ns());
    seen s = { .count = calloc(N, 1), .n = N };
    pthread_mutex_init(&s.lock, NULL);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "it", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(cons, NULL, &o, on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    long retries = 0;
    for (long id = 0; id < N; id++) {
        if (id == N / 2)
            restart_nats();
        cr_assert_eq(publish_retrying(prod, topic, id, &retries), IMI_OK, "publish %ld: %s", id,
                     imi_error_message());
    }
    for (int i = 0; i < 1200 && unique_of(&s) < N; i++)
        sleep_ms(100);
    imi_mq_sub_free(sub);
    printf("mq nats jetstream restart: %d published (%ld retries), %ld consumed, %ld duplicates\n",
           N, retries, s.unique, s.dups);
    cr_assert_eq(s.unique, N, "%ld of %d consumed", s.unique, N);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
    free(s.count);
}

Test(mq_nats, core_reconnects_after_server_restart, .timeout = 120)
{
    enum { N = 200 };
    imi_app *app = nats_app(false);
    imi_mq *prod = NULL, *cons = NULL;
    cr_assert_eq(imi_mq_open(app, NULL, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_mq_open(app, NULL, &cons), IMI_OK, "%s", imi_error_message());
    char topic[96];
    snprintf(topic, sizeof topic, "it-core-%lld", (long long)imi_now_real_ns());
    seen s = { .count = calloc(2 * N, 1), .n = 2 * N };
    pthread_mutex_init(&s.lock, NULL);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "it", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(cons, NULL, &o, on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    long retries = 0;
    for (long id = 0; id < N; id++)
        cr_assert_eq(publish_retrying(prod, topic, id, &retries), IMI_OK);
    for (int i = 0; i < 100 && unique_of(&s) < N; i++)
        sleep_ms(50);
    cr_assert_eq(unique_of(&s), N, "before the restart: %ld of %d", unique_of(&s), N);
    restart_nats();
    /* Both connections reconnect on their own, the subscriber's maybe later than the
     * publisher's, and core NATS drops what nobody is subscribed to meanwhile: repeat the
     * first message until it makes it through (at most 30 s), then send the rest. */
    for (int i = 0; i < 300 && unique_of(&s) == N; i++) {
        cr_assert_eq(publish_retrying(prod, topic, N, &retries), IMI_OK);
        sleep_ms(100);
    }
    cr_assert_gt(unique_of(&s), N, "no message arrived within 30 s of the restart");
    for (long id = N + 1; id < 2 * N; id++)
        cr_assert_eq(publish_retrying(prod, topic, id, &retries), IMI_OK);
    for (int i = 0; i < 200 && unique_of(&s) < N + N / 2; i++)
        sleep_ms(50);
    printf("mq nats core restart: %ld of %d after the restart arrived (at-most-once while "
           "reconnecting)\n", unique_of(&s) - N, N);
    cr_assert_gt(unique_of(&s), N + N / 2, "after the restart only %ld of %d arrived",
                 unique_of(&s) - N, N);
    imi_mq_sub_free(sub);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
    free(s.count);
}
