/* The mq conformance suite, delivery: what a message carries, groups, nack and redelivery,
 * dead letters, per-key order, and closes that lose nothing. */
#include "mq_suite.h"

/* send_receive: what one message carries arrives intact. */
typedef struct got_one {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int n, attempt;
    char topic[128], key[32], h1[64], h2[64], hbin[8], trace[IMI_TRACE_ID_MAX + 1];
    size_t key_len, body_len, h2_len, hbin_len;
    unsigned char body[300];
} got_one;

static int on_one(void *ud, const imi_mq_msg *m)
{
    got_one *g = ud;
    pthread_mutex_lock(&g->lock);
    if (g->n++ == 0) {
        snprintf(g->topic, sizeof g->topic, "%s", m->topic);
        g->key_len = m->key_len < sizeof g->key ? m->key_len : sizeof g->key;
        if (m->key)
            memcpy(g->key, m->key, g->key_len);
        g->body_len = m->body_len < sizeof g->body ? m->body_len : sizeof g->body;
        memcpy(g->body, m->body, g->body_len);
        for (size_t i = 0; i < m->n_headers; i++) {
            if (!strcmp(m->headers[i].name, "x-one"))
                snprintf(g->h1, sizeof g->h1, "%.*s", (int)m->headers[i].len,
                         (const char *)m->headers[i].value);
            if (!strcmp(m->headers[i].name, "x-bin")) {
                g->hbin_len = m->headers[i].len < sizeof g->hbin ? m->headers[i].len : 0;
                memcpy(g->hbin, m->headers[i].value, g->hbin_len);
            }
            if (!strcmp(m->headers[i].name, "x-two")) {
                g->h2_len = m->headers[i].len;
                snprintf(g->h2, sizeof g->h2, "%.*s", (int)m->headers[i].len,
                         (const char *)m->headers[i].value);
            }
        }
        const char *tr = imi_ctx_trace_id(m->ctx);
        snprintf(g->trace, sizeof g->trace, "%s", tr ? tr : "");
        g->attempt = m->attempt;
    }
    pthread_cond_broadcast(&g->cond);
    pthread_mutex_unlock(&g->lock);
    return IMI_OK;
}

static bool wait_one(got_one *g, int want)
{
    int64_t deadline = imi_now_mono_ns() + (int64_t)WAIT_MS * 1000000;
    pthread_mutex_lock(&g->lock);
    while (g->n < want && imi_now_mono_ns() < deadline) {
        pthread_mutex_unlock(&g->lock);
        sleep_ms(5);
        pthread_mutex_lock(&g->lock);
    }
    bool ok = g->n >= want;
    pthread_mutex_unlock(&g->lock);
    return ok;
}

static void send_receive(imi_conf_t *t, const char *trace)
{
    OPEN_MQ(t, mq);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    got_one g = { .n = 0 };
    pthread_mutex_init(&g.lock, NULL);
    pthread_cond_init(&g.cond, NULL);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1 };
    imi_mq_sub *s = NULL;
    imi_ctx *ctx = imi_ctx_new(WAIT_MS);
    CONF_OK(t, imi_mq_subscribe(mq, ctx, &o, on_one, &g, &s));
    unsigned char body[300];
    for (size_t i = 0; i < sizeof body; i++)
        body[i] = (unsigned char)(i * 13);
    body[0] = body[100] = 0;
    imi_mq_header hs[] = { { "x-one", "first value", 11 }, { "x-two", "", 0 },
                           { "x-bin", "\0\1\xff", 3 } };
    imi_mq_msg m = { .topic = topic, .key = "user:42", .key_len = 7, .headers = hs,
                     .n_headers = 3, .body = body, .body_len = sizeof body };
    if (trace)
        imi_ctx_set_trace_id(ctx, trace);
    CONF_OK(t, imi_mq_publish(mq, ctx, &m));
    imi_ctx_free(ctx);
    CONF_CHECK(t, wait_one(&g, 1), "no message within %d ms", WAIT_MS);
    CONF_CHECK(t, !strcmp(g.topic, topic), "topic '%s'", g.topic);
    CONF_CHECK(t, g.key_len == 7 && !memcmp(g.key, "user:42", 7), "key '%.*s'", (int)g.key_len, g.key);
    CONF_CHECK(t, g.body_len == sizeof body && !memcmp(g.body, body, sizeof body),
               "binary body came back as %zu bytes", g.body_len);
    CONF_CHECK(t, !strcmp(g.h1, "first value"), "header x-one '%s'", g.h1);
    CONF_CHECK(t, g.h2_len == 0, "empty header x-two came back as %zu bytes", g.h2_len);
    CONF_CHECK(t, g.hbin_len == 3 && !memcmp(g.hbin, "\0\1\xff", 3),
               "binary header x-bin came back as %zu bytes", g.hbin_len);
    CONF_CHECK(t, g.attempt == 1, "first delivery has attempt %d", g.attempt);
    if (trace)
        CONF_CHECK(t, !strcmp(g.trace, trace), "trace id '%s' arrived as '%s'", trace, g.trace);
    else
        CONF_CHECK(t, !g.trace[0], "no trace id sent, '%s' arrived", g.trace);
    /* The handler has returned the message but the ack is counted after it returns,
       on the driver's thread: wait for it (bounded) instead of racing it. */
    imi_mq_stats st;
    int64_t until = imi_now_mono_ns() + (int64_t)WAIT_MS * 1000000;
    while (imi_mq_get_stats(mq, &st), st.acked == 0 && imi_now_mono_ns() < until)
        sleep_ms(2);
    CONF_CHECK(t, st.published == 1 && st.delivered >= 1 && st.acked >= 1,
               "stats published %llu delivered %llu acked %llu", (unsigned long long)st.published,
               (unsigned long long)st.delivered, (unsigned long long)st.acked);
    imi_conf_free(t, mq);
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&g.lock);
}

void imi_conf_mq_send_receive_key_headers_binary(imi_conf_t *t) { send_receive(t, NULL); }
void imi_conf_mq_trace_id_travels(imi_conf_t *t) { send_receive(t, "4bf92f3577b34da6a3ce929d0e0e4736"); }


void imi_conf_mq_two_groups_each_get_all(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128], ga[128], gb[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "a", ga, sizeof ga);
    uname(t, "b", gb, sizeof gb);
    coll a, b;
    coll_init(&a, 100);
    coll_init(&b, 100);
    imi_mq_sub *sa = NULL, *sb = NULL;
    CONF_OK(t, sub1(mq, ga, topic, 0, &a, &sa));
    CONF_OK(t, sub1(mq, gb, topic, 0, &b, &sb));
    CONF_OK(t, pub_range(mq, topic, 0, 100));
    CONF_CHECK(t, coll_wait(&a, &a.unique, 100) == 100, "group a got %zu of 100", a.unique);
    CONF_CHECK(t, coll_wait(&b, &b.unique, 100) == 100, "group b got %zu of 100", b.unique);
    imi_conf_free(t, mq);
    coll_free(&a);
    coll_free(&b);
}

void imi_conf_mq_group_members_share(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    coll all, m1, m2;
    coll_init(&m1, 4000);
    coll_init(&m2, 4000);
    coll_init(&all, 1);
    m1.sleep_ms = m2.sleep_ms = 1;
    imi_mq_sub *s1 = NULL, *s2 = NULL;
    CONF_OK(t, sub1(mq, group, topic, 0, &m1, &s1));
    CONF_OK(t, sub1(mq, group, topic, 0, &m2, &s2));
    /* Keyed messages over many keys, in rounds until both members have had some (a real
     * broker may take a while to hand the second member its share). */
    int sent = 0;
    int64_t deadline = imi_now_mono_ns() + (int64_t)WAIT_MS * 1000000;
    while (sent < 4000 && imi_now_mono_ns() < deadline &&
           !(coll_get(&m1, &m1.acks) && coll_get(&m2, &m2.acks))) {
        for (int i = 0; i < 100; i++, sent++)
            CONF_OK(t, pub(mq, topic, sent, sent % 64 + 100, -1));
        sleep_ms(100);
    }
    CONF_CHECK(t, coll_get(&m1, &m1.acks) && coll_get(&m2, &m2.acks),
               "after %d messages the members got %zu and %zu", sent, m1.acks, m2.acks);
    /* Every message reached the group, and the members did not each get everything. */
    int64_t until = imi_now_mono_ns() + (int64_t)WAIT_MS * 1000000;
    size_t missing = (size_t)sent;
    while (missing && imi_now_mono_ns() < until) {
        pthread_mutex_lock(&m1.lock);
        pthread_mutex_lock(&m2.lock);
        missing = 0;
        for (int i = 0; i < sent; i++)
            missing += !m1.seen[i] && !m2.seen[i];
        pthread_mutex_unlock(&m2.lock);
        pthread_mutex_unlock(&m1.lock);
        if (missing)
            sleep_ms(20);
    }
    CONF_CHECK(t, missing == 0, "%zu of %d messages reached no member", missing, sent);
    CONF_CHECK(t, m1.acks + m2.acks < 2 * (size_t)sent, "both members got every message");
    imi_conf_free(t, mq);
    coll_free(&m1);
    coll_free(&m2);
    coll_free(&all);
}

void imi_conf_mq_nack_redelivers(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    coll c;
    coll_init(&c, 4);
    c.fail_below_attempt = 3;
    imi_mq_sub *s = NULL;
    CONF_OK(t, sub1(mq, group, topic, 5, &c, &s));
    CONF_OK(t, pub(mq, topic, 1, 1, 0));
    CONF_CHECK(t, coll_wait(&c, &c.acks, 1) == 1, "not acknowledged after redeliveries");
    imi_mq_stats st;
    /* The handler has returned OK; the counter follows right after it. */
    for (int i = 0; i < 1000 && (imi_mq_sub_get_stats(s, &st), st.acked == 0); i++)
        sleep_ms(5);
    CONF_CHECK(t, st.delivered == 3 && st.nacked == 2 && st.acked == 1 && st.dead_lettered == 0,
               "sub stats delivered %llu nacked %llu acked %llu dead %llu",
               (unsigned long long)st.delivered, (unsigned long long)st.nacked,
               (unsigned long long)st.acked, (unsigned long long)st.dead_lettered);
    imi_mq_get_stats(mq, &st);
    CONF_CHECK(t, st.delivered == 3 && st.nacked == 2 && st.acked == 1, "handle stats");
    imi_conf_free(t, mq);
    coll_free(&c);
}

/* When each delivery of one message happened; the first two are nacked. */
typedef struct attempts {
    pthread_mutex_t lock;
    int n;
    int64_t at_ms[4];
} attempts;

static int on_attempt(void *ud, const imi_mq_msg *m)
{
    (void)m;
    attempts *a = ud;
    pthread_mutex_lock(&a->lock);
    int n = a->n < 4 ? a->n : 3;
    a->at_ms[n] = now_ms();
    a->n++;
    pthread_mutex_unlock(&a->lock);
    return n < 2 ? IMI_EUNAVAILABLE : IMI_OK;
}

/* A nacked message comes back, but not before the section's redelivery_delay: the
 * configs of the suite set 20ms, this case 300ms on a copy of the config under test. */
void imi_conf_mq_nack_waits_redelivery_delay(imi_conf_t *t)
{
    enum { DELAY_MS = 300 };
    imi_config *cfg = imi_config_copy(imi_app_config(t->app));
    CONF_CHECK(t, cfg, "out of memory");
    imi_app *app = NULL;
    int rc = imi_config_set(cfg, "mq", "redelivery_delay", "300ms");
    if (rc)
        imi_config_free(cfg);
    CONF_OK(t, rc ? rc : imi_app_open_config(cfg, &app));
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    imi_mq *mq = NULL;
    imi_mq_sub *s = NULL;
    attempts a = { .n = 0 };
    pthread_mutex_init(&a.lock, NULL);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1, .max_attempts = 5 };
    imi_ctx *ctx = imi_ctx_new(WAIT_MS);
    rc = imi_mq_open(app, NULL, &mq);
    if (!rc)
        rc = imi_mq_subscribe(mq, ctx, &o, on_attempt, &a, &s);
    if (!rc)
        rc = pub(mq, topic, 1, 1, 0);
    imi_ctx_free(ctx);
    char why[256];
    snprintf(why, sizeof why, "%s", imi_error_message());
    int n = 0;
    for (int64_t end = now_ms() + WAIT_MS; !rc && n < 3 && now_ms() < end; sleep_ms(5)) {
        pthread_mutex_lock(&a.lock);
        n = a.n;
        pthread_mutex_unlock(&a.lock);
    }
    imi_mq_free(mq); /* frees the subscription too: the handler runs no more */
    imi_app_free(app);
    pthread_mutex_destroy(&a.lock);
    CONF_CHECK(t, rc == IMI_OK, "open, subscribe or publish: %s (%s)", imi_err_name(rc), why);
    CONF_CHECK(t, n >= 3, "%d deliveries of a message nacked twice, expected 3", n);
    for (int i = 1; i < 3; i++)
        CONF_CHECK(t, a.at_ms[i] - a.at_ms[i - 1] >= DELAY_MS,
                   "attempt %d came %lld ms after attempt %d, before redelivery_delay (%d ms)",
                   i + 1, (long long)(a.at_ms[i] - a.at_ms[i - 1]), i, DELAY_MS);
}

void imi_conf_mq_dead_letter_after_max_attempts(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128], group[128], dgroup[128], dlq[160];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    uname(t, "d", dgroup, sizeof dgroup);
    snprintf(dlq, sizeof dlq, "%s.dlq", topic);
    coll c;
    coll_init(&c, 8);
    c.poison = 2;
    got_one d = { .n = 0 };
    pthread_mutex_init(&d.lock, NULL);
    pthread_cond_init(&d.cond, NULL);
    const char *dtopics[] = { dlq };
    imi_mq_sub_opts o = { .group = dgroup, .topics = dtopics, .n_topics = 1 };
    imi_mq_sub *s = NULL, *ds = NULL;
    imi_ctx *ctx = imi_ctx_new(WAIT_MS);
    CONF_OK(t, imi_mq_subscribe(mq, ctx, &o, on_one, &d, &ds));
    imi_ctx_free(ctx);
    CONF_OK(t, sub1(mq, group, topic, 3, &c, &s));
    /* One key: the message after the poison one waits until it is dead-lettered. */
    for (int id = 1; id <= 3; id++)
        CONF_OK(t, pub(mq, topic, id, 0, -1));
    CONF_CHECK(t, coll_wait(&c, &c.unique, 2) == 2, "%zu of 2 good messages handled", c.unique);
    CONF_CHECK(t, wait_one(&d, 1), "nothing reached %s", dlq);
    pthread_mutex_lock(&c.lock);
    size_t np = c.n_poison;
    int a0 = c.poison_attempts[0], a2 = c.poison_attempts[2];
    pthread_mutex_unlock(&c.lock);
    CONF_CHECK(t, np == 3 && a0 == 1 && a2 == 3, "poison message tried %zu times (%d..%d)",
               np, a0, a2);
    CONF_CHECK(t, !c.broken[0], "%s", c.broken);
    CONF_CHECK(t, !strcmp(d.topic, dlq), "dead letter arrived on '%s'", d.topic);
    char want[96];
    make_body(want, sizeof want, 2, 0, -1);
    CONF_CHECK(t, d.body_len == strlen(want) && !memcmp(d.body, want, d.body_len),
               "dead letter body '%.*s'", (int)d.body_len, d.body);
    CONF_CHECK(t, d.key_len == 2 && !memcmp(d.key, "k0", 2), "dead letter lost its key");
    imi_mq_stats st;
    for (int i = 0; i < 1000 && (imi_mq_sub_get_stats(s, &st), st.dead_lettered == 0); i++)
        sleep_ms(5);
    CONF_CHECK(t, st.dead_lettered == 1 && st.nacked == 3, "stats dead %llu nacked %llu",
               (unsigned long long)st.dead_lettered, (unsigned long long)st.nacked);
    imi_conf_free(t, mq);
    coll_free(&c);
    pthread_cond_destroy(&d.cond);
    pthread_mutex_destroy(&d.lock);
}

void imi_conf_mq_per_key_order(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    coll c;
    enum { PER_KEY = 150 };
    coll_init(&c, N_KEYS * PER_KEY);
    c.fail_mod = 37; /* some first attempts fail: redelivery must keep the order too */
    imi_mq_sub *s1 = NULL, *s2 = NULL;
    CONF_OK(t, sub1(mq, group, topic, 10, &c, &s1));
    /* Order across members is a capability; within one member it always holds. */
    if (imi_mq_caps(mq) & IMI_MQ_CAP_KEY_ORDER)
        CONF_OK(t, sub1(mq, group, topic, 10, &c, &s2));
    for (int seq = 0, id = 0; seq < PER_KEY; seq++)
        for (int k = 0; k < N_KEYS; k++, id++)
            CONF_OK(t, pub(mq, topic, id, k, seq));
    size_t want = N_KEYS * PER_KEY;
    CONF_CHECK(t, coll_wait(&c, &c.unique, want) == want, "%zu of %zu arrived", c.unique, want);
    CONF_CHECK(t, !c.broken[0], "%s", c.broken);
    for (int k = 0; k < N_KEYS; k++)
        CONF_CHECK(t, c.last_seq[k] == PER_KEY - 1, "key %d ends at seq %d", k, c.last_seq[k]);
    imi_conf_free(t, mq);
    coll_free(&c);
}

void imi_conf_mq_publisher_close_loses_nothing(imi_conf_t *t)
{
    enum { N = 10000 };
    OPEN_MQ(t, consumer);
    OPEN_MQ(t, producer);
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    coll c;
    coll_init(&c, N);
    imi_mq_sub *s = NULL;
    CONF_OK(t, sub1(consumer, group, topic, 0, &c, &s));
    bool async = imi_mq_caps(producer) & IMI_MQ_CAP_ASYNC;
    acks a = { 0 };
    for (int id = 0; id < N; id++) {
        char body[64];
        int n = make_body(body, sizeof body, id, -1, -1);
        imi_mq_msg m = { .topic = topic, .body = body, .body_len = (size_t)n };
        CONF_OK(t, async ? imi_mq_publish_async(producer, NULL, &m, on_delivery, &a)
                         : imi_mq_publish(producer, NULL, &m));
    }
    CONF_OK(t, imi_mq_close(producer)); /* right away: everything is still in flight */
    if (async)
        CONF_CHECK(t, atomic_load(&a.ok) == N && atomic_load(&a.failed) == 0,
                   "after close: %d delivery callbacks ok, %d failed, of %d",
                   atomic_load(&a.ok), atomic_load(&a.failed), N);
    imi_mq_stats st;
    imi_mq_get_stats(producer, &st);
    CONF_CHECK(t, st.published == N, "published counter %llu", (unsigned long long)st.published);
    imi_conf_free(t, producer);
    CONF_CHECK(t, coll_wait(&c, &c.unique, N) == N, "consumer got %zu of %d", c.unique, N);
    imi_conf_free(t, consumer);
    coll_free(&c);
}

void imi_conf_mq_subscriber_close_reopen_loses_nothing(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    if (!(imi_mq_caps(mq) & IMI_MQ_CAP_DURABLE)) {
        imi_conf_free(t, mq); /* the backend does not keep messages without a subscriber */
        return;
    }
    char topic[128], group[128];
    uname(t, "t", topic, sizeof topic);
    uname(t, "g", group, sizeof group);
    coll c;
    coll_init(&c, 200);
    c.sleep_ms = 2;
    imi_mq_sub *s = NULL;
    CONF_OK(t, sub1(mq, group, topic, 0, &c, &s));
    CONF_OK(t, pub_range(mq, topic, 0, 100));
    CONF_CHECK(t, coll_wait(&c, &c.acks, 20) >= 20, "first member got %zu", c.acks);
    CONF_OK(t, imi_mq_sub_close(s));
    size_t calls = coll_get(&c, &c.calls);
    CONF_OK(t, pub_range(mq, topic, 100, 200));
    sleep_ms(100);
    CONF_CHECK(t, coll_get(&c, &c.calls) == calls, "handler called after its sub closed");
    imi_mq_sub_free(s);
    CONF_OK(t, sub1(mq, group, topic, 0, &c, &s));
    CONF_CHECK(t, coll_wait(&c, &c.unique, 200) == 200, "after reopen %zu of 200", c.unique);
    imi_conf_free(t, mq);
    coll_free(&c);
}

void imi_conf_mq_topics_stay_isolated(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    char t1[128], t2[128], group[128];
    uname(t, "one", t1, sizeof t1);
    uname(t, "two", t2, sizeof t2);
    uname(t, "g", group, sizeof group);
    coll c1, c2;
    coll_init(&c1, 100);
    coll_init(&c2, 100);
    c1.topic = t1;
    c2.topic = t2;
    imi_mq_sub *s1 = NULL, *s2 = NULL;
    CONF_OK(t, sub1(mq, group, t1, 0, &c1, &s1));
    CONF_OK(t, sub1(mq, group, t2, 0, &c2, &s2));
    CONF_OK(t, pub_range(mq, t1, 0, 30));
    CONF_OK(t, pub_range(mq, t2, 50, 100));
    CONF_CHECK(t, coll_wait(&c1, &c1.unique, 30) == 30, "topic one got %zu of 30", c1.unique);
    CONF_CHECK(t, coll_wait(&c2, &c2.unique, 50) == 50, "topic two got %zu of 50", c2.unique);
    sleep_ms(100);
    CONF_CHECK(t, !c1.broken[0] && !c2.broken[0], "%s%s", c1.broken, c2.broken);
    for (int i = 0; i < 100; i++)
        CONF_CHECK(t, c1.seen[i] == (i < 30) && c2.seen[i] == (i >= 50), "id %d crossed", i);
    imi_conf_free(t, mq);
    coll_free(&c1);
    coll_free(&c2);
}
