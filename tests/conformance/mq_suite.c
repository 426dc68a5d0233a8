/* The mq conformance suite: every mq driver must pass it. Cases wait for what they expect
 * with generous timeouts (real brokers take seconds to form a group) and name their
 * topics and groups uniquely, so they also run against shared servers. */
#include "mq_suite.h"

/* ---- cases ------------------------------------------------------------------------- */

/* Closing the handle closes its subscriptions, and nothing counts as published. */
static void close_ends_subscriptions(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    coll c;
    coll_init(&c, 16);
    imi_mq_sub *s = NULL;
    CONF_OK(t, sub1(mq, group, topic, 0, &c, &s));
    CONF_OK(t, imi_mq_close(mq));
    CONF_CHECK_RC(t, imi_mq_close(mq), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_mq_sub_close(s), IMI_ECLOSED); /* closed with its handle */
    imi_mq_msg m = { .topic = topic, .body = "x", .body_len = 1 };
    CONF_CHECK_RC(t, imi_mq_publish(mq, NULL, &m), IMI_ECLOSED);
    if (imi_mq_caps(mq) & IMI_MQ_CAP_ASYNC) {
        CONF_CHECK_RC(t, imi_mq_publish_async(mq, NULL, &m, NULL, NULL), IMI_ECLOSED);
        CONF_CHECK_RC(t, imi_mq_flush(mq, NULL), IMI_ECLOSED);
    }
    CONF_CHECK_RC(t, imi_mq_ping(mq, NULL), IMI_ECLOSED);
    imi_mq_sub *s2 = NULL;
    CONF_CHECK_RC(t, sub1(mq, group, topic, 0, &c, &s2), IMI_ECLOSED);
    imi_mq_stats st;
    imi_mq_get_stats(mq, &st);
    CONF_CHECK(t, st.publish_failed == 0 && st.published == 0, "stats after close");
    imi_conf_free(t, mq);
    coll_free(&c);
}

/* Opens [mq] of the config under test with one key changed; expects `want`. */
static int open_with(imi_conf_t *t, const char *key, const char *value)
{
    imi_config *cfg = imi_config_copy(imi_app_config(t->app));
    imi_app *app = NULL;
    if (!cfg || imi_config_set(cfg, "mq", key, value) || imi_app_open_config(cfg, &app))
        return IMI_EINTERNAL;
    imi_mq *mq = NULL;
    int rc = imi_mq_open(app, NULL, &mq);
    imi_mq_free(mq);
    imi_app_free(app);
    return rc;
}

static void bad_options(imi_conf_t *t)
{
    CONF_CHECK_RC(t, open_with(t, "no_such_option_xyz", "1"), IMI_ECONFIG);
    CONF_CHECK(t, strstr(imi_error_message(), "no_such_option_xyz"), "message: %s",
               imi_error_message());
    CONF_CHECK_RC(t, open_with(t, "max_attempts", "-2"), IMI_ECONFIG);
    CONF_CHECK_RC(t, open_with(t, "max_attempts", "many"), IMI_ECONFIG);
    CONF_CHECK_RC(t, open_with(t, "redelivery_delay", "soon"), IMI_ECONFIG);
    CONF_CHECK_RC(t, open_with(t, "dead_letter_suffix", "bad suffix"), IMI_ECONFIG);
    CONF_OK(t, open_with(t, "max_attempts", "7"));
    imi_mq *mq = NULL;
    CONF_CHECK_RC(t, imi_mq_open(t->app, "no_such_instance", &mq), IMI_ECONFIG);
    CONF_CHECK(t, mq == NULL, "a failed open left a handle");
}

static void bad_arguments(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    imi_mq_msg m = { .topic = "has space", .body = "x", .body_len = 1 };
    CONF_CHECK_RC(t, imi_mq_publish(mq, NULL, &m), IMI_EINVALID);
    m.topic = "";
    CONF_CHECK_RC(t, imi_mq_publish(mq, NULL, &m), IMI_EINVALID);
    m.topic = "wild.*";
    CONF_CHECK_RC(t, imi_mq_publish(mq, NULL, &m), IMI_EINVALID);
    m.topic = "ok";
    m.body = NULL;
    CONF_CHECK_RC(t, imi_mq_publish(mq, NULL, &m), IMI_EINVALID);
    CONF_CHECK_RC(t, imi_mq_publish(mq, NULL, NULL), IMI_EINVALID);
    coll c;
    coll_init(&c, 4);
    imi_mq_sub *s = NULL;
    CONF_CHECK_RC(t, sub1(mq, "", "ok", 0, &c, &s), IMI_EINVALID);
    CONF_CHECK_RC(t, sub1(mq, "g", "bad>", 0, &c, &s), IMI_EINVALID);
    imi_mq_sub_opts o = { .group = "g", .topics = NULL, .n_topics = 0 };
    CONF_CHECK_RC(t, imi_mq_subscribe(mq, NULL, &o, on_msg, &c, &s), IMI_EINVALID);
    CONF_CHECK(t, s == NULL, "a failed subscribe left a subscription");
    imi_conf_free(t, mq);
    coll_free(&c);
}

static void capabilities(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128];
    uname(t, "t", topic, sizeof topic);
    imi_mq_msg m = { .topic = topic, .body = "x", .body_len = 1 };
    if (imi_mq_caps(mq) & IMI_MQ_CAP_ASYNC) {
        acks a = { 0 };
        CONF_OK(t, imi_mq_publish_async(mq, NULL, &m, on_delivery, &a));
        imi_ctx *ctx = imi_ctx_new(WAIT_MS);
        int rc = imi_mq_flush(mq, ctx);
        imi_ctx_free(ctx);
        CONF_OK(t, rc);
        CONF_CHECK(t, atomic_load(&a.ok) == 1, "flush returned before the callback");
    } else {
        CONF_CHECK_RC(t, imi_mq_publish_async(mq, NULL, &m, NULL, NULL), IMI_ENOTSUP);
        CONF_CHECK_RC(t, imi_mq_flush(mq, NULL), IMI_ENOTSUP);
    }
    imi_conf_free(t, mq);
}

/* A handler that tries to close its own subscription. */
typedef struct self_close {
    imi_mq_sub *sub;
    atomic_int rc;
} self_close;

static int close_self(void *ud, const imi_mq_msg *m)
{
    (void)m;
    self_close *sc = ud;
    atomic_store(&sc->rc, imi_mq_sub_close(sc->sub));
    return IMI_OK;
}

static void close_from_handler_refused(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    self_close sc = { .rc = 1 };
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1 };
    CONF_OK(t, imi_mq_subscribe(mq, NULL, &o, close_self, &sc, &sc.sub));
    CONF_OK(t, pub(mq, topic, 0, -1, -1)); /* after subscribe returned: sc.sub is set */
    for (int i = 0; i < WAIT_MS / 10 && atomic_load(&sc.rc) == 1; i++)
        sleep_ms(10);
    CONF_CHECK_RC(t, atomic_load(&sc.rc), IMI_EINVALID);
    CONF_OK(t, imi_mq_sub_close(sc.sub));
    imi_conf_free(t, mq);
}

typedef struct pub_worker {
    imi_mq *mq;
    const char *topic;
    int from, n, failures;
} pub_worker;

static void *pub_thread(void *arg)
{
    pub_worker *w = arg;
    for (int i = 0; i < w->n; i++)
        if (pub(w->mq, w->topic, w->from + i, (w->from + i) % 16 + 50, -1))
            w->failures++;
    return NULL;
}

static void many_threads(imi_conf_t *t)
{
    enum { THREADS = 4, PER = 250 };
    OPEN_MQ(t, mq);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    coll c;
    coll_init(&c, THREADS * PER);
    imi_mq_sub *s1 = NULL, *s2 = NULL;
    CONF_OK(t, sub1(mq, group, topic, 0, &c, &s1));
    CONF_OK(t, sub1(mq, group, topic, 0, &c, &s2));
    pthread_t th[THREADS];
    pub_worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (pub_worker){ .mq = mq, .topic = topic, .from = i * PER, .n = PER };
        pthread_create(&th[i], NULL, pub_thread, &w[i]);
    }
    int failures = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    CONF_CHECK(t, failures == 0, "%d publishes failed", failures);
    CONF_CHECK(t, coll_wait(&c, &c.unique, THREADS * PER) == THREADS * PER, "%zu of %d arrived",
               c.unique, THREADS * PER);
    imi_conf_free(t, mq);
    coll_free(&c);
}

/* ---- the driver contract, shared by every kind (contract.h) ------------------------- */

static int kind_open(imi_app *app, void **out)
{
    imi_mq *h = NULL;
    int rc = imi_mq_open(app, NULL, &h);
    *out = h;
    return rc;
}

static void kind_free(void *h) { imi_mq_free(h); }
static int kind_close(void *h) { return imi_mq_close(h); }
static int kind_ping(void *h, const imi_ctx *ctx) { return imi_mq_ping(h, ctx); }
static const char *kind_name(void *h) { return imi_mq_driver_name(h); }

static int ignore_msg(void *ud, const imi_mq_msg *m)
{
    (void)ud, (void)m;
    return IMI_OK;
}

/* The calls every state check makes: publish and subscribe, async ones when advertised. */
static size_t kind_calls(imi_conf_t *t, void *h, const imi_ctx *ctx, imi_conf_call *out,
                         size_t cap)
{
    imi_mq *mq = h;
    char topic[128], group[128];
    uname(t, "calls", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    imi_mq_msg m = { .topic = topic, .body = "x", .body_len = 1 };
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1 };
    imi_mq_sub *s = NULL;
    size_t i = 0;
    out[i++] = (imi_conf_call){ "publish", imi_mq_publish(mq, ctx, &m) };
    out[i++] = (imi_conf_call){ "subscribe", imi_mq_subscribe(mq, ctx, &o, ignore_msg, NULL, &s) };
    imi_mq_sub_free(s);
    if ((imi_mq_caps(mq) & IMI_MQ_CAP_ASYNC) && i + 2 <= cap) {
        out[i++] = (imi_conf_call){ "publish_async",
                                    imi_mq_publish_async(mq, ctx, &m, NULL, NULL) };
        out[i++] = (imi_conf_call){ "flush", imi_mq_flush(mq, ctx) };
    }
    return i;
}

static const imi_conf_kind mq_kind = {
    .kind = "mq",
    .required_slot = "ping",
    .open = kind_open,
    .free = kind_free,
    .close = kind_close,
    .ping = kind_ping,
    .driver_name = kind_name,
    .calls = kind_calls,
};

static void open_fails_cleanly(imi_conf_t *t) { imi_conf_open_fails_cleanly(t, &mq_kind); }
static void open_ping_close_twice(imi_conf_t *t) { imi_conf_open_ping_close_twice(t, &mq_kind); }
static void canceled_and_expired_ctx(imi_conf_t *t)
{
    imi_conf_canceled_and_expired_ctx(t, &mq_kind);
}
static void required_slot_null_refused(imi_conf_t *t)
{
    imi_conf_required_slot_null_refused(t, &mq_kind);
}

static const imi_conf_case mq_cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "close_ends_subscriptions", close_ends_subscriptions },
    { "bad_options", bad_options },
    { "bad_arguments", bad_arguments },
    { "send_receive_key_headers_binary", imi_conf_mq_send_receive_key_headers_binary },
    { "trace_id_travels", imi_conf_mq_trace_id_travels },
    { "two_groups_each_get_all", imi_conf_mq_two_groups_each_get_all },
    { "group_members_share", imi_conf_mq_group_members_share },
    { "nack_redelivers", imi_conf_mq_nack_redelivers },
    { "nack_waits_redelivery_delay", imi_conf_mq_nack_waits_redelivery_delay },
    { "dead_letter_after_max_attempts", imi_conf_mq_dead_letter_after_max_attempts },
    { "per_key_order", imi_conf_mq_per_key_order },
    { "publisher_close_loses_nothing", imi_conf_mq_publisher_close_loses_nothing },
    { "subscriber_close_reopen_loses_nothing", imi_conf_mq_subscriber_close_reopen_loses_nothing },
    { "topics_stay_isolated", imi_conf_mq_topics_stay_isolated },
    { "canceled_and_expired_ctx", canceled_and_expired_ctx },
    { "capabilities", capabilities },
    { "close_from_handler_refused", close_from_handler_refused },
    { "many_threads", many_threads },
    { "open_fails_cleanly", open_fails_cleanly },
    { "required_slot_null_refused", required_slot_null_refused },
};

const imi_conf_suite imi_conf_mq_suite = {
    .kind = "mq",
    .cases = mq_cases,
    .n_cases = sizeof mq_cases / sizeof mq_cases[0],
};
