/* The mq conformance suite: every mq driver must pass it. Cases wait for what they expect
 * with generous timeouts (real brokers take seconds to form a group) and name their
 * topics and groups uniquely, so they also run against shared servers. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "contract.h"
#include "imi_test.h"

#define WAIT_MS 30000 /* how long a case waits for deliveries */
#define N_KEYS 8

/* A topic or group name unique to this case: imi_conf_name made portable. */
static const char *uname(const imi_conf_t *t, const char *suffix, char *buf, size_t cap)
{
    imi_conf_name(t, suffix, buf, cap);
    for (char *p = buf; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            *p = '-';
    return buf;
}

/* ---- the collector: a handler that records what it got ---------------------------- */

typedef struct coll {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t calls, acks, unique, dups, cap;
    unsigned char *seen;            /* per message id: acknowledged */
    int fail_below_attempt;         /* nack every delivery whose attempt is below this */
    int fail_mod;                   /* nack the first attempt of ids divisible by it */
    int poison;                     /* nack this id always (-1: none) */
    int poison_attempts[8];
    size_t n_poison;
    long sleep_ms;                  /* in the handler, to keep deliveries in flight */
    const char *topic;              /* when set, every message must come from it */
    int last_seq[N_KEYS];           /* per-key order: last in-order seq acknowledged */
    char broken[256];               /* the first violation seen */
} coll;

static void coll_init(coll *c, size_t cap)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->lock, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->cap = cap;
    c->seen = calloc(cap, 1);
    c->poison = -1;
    for (int k = 0; k < N_KEYS; k++)
        c->last_seq[k] = -1;
}

static void coll_free(coll *c)
{
    free(c->seen);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
}

/* Bodies are "id=I key=K seq=S". */
static int make_body(char *buf, size_t cap, int id, int key, int seq)
{
    return snprintf(buf, cap, "id=%d key=%d seq=%d", id, key, seq);
}

static int on_msg(void *ud, const imi_mq_msg *m)
{
    coll *c = ud;
    char body[128];
    size_t n = m->body_len < sizeof body - 1 ? m->body_len : sizeof body - 1;
    memcpy(body, m->body, n);
    body[n] = '\0';
    int id = -1, key = -1, seq = -1;
    sscanf(body, "id=%d key=%d seq=%d", &id, &key, &seq);
    if (c->sleep_ms)
        sleep_ms(c->sleep_ms);
    pthread_mutex_lock(&c->lock);
    c->calls++;
    int rc = IMI_OK;
    if (c->topic && strcmp(m->topic, c->topic) && !c->broken[0])
        snprintf(c->broken, sizeof c->broken, "message from topic '%s' on a subscription "
                 "to '%s'", m->topic, c->topic);
    if (id < 0 || (size_t)id >= c->cap) {
        if (!c->broken[0])
            snprintf(c->broken, sizeof c->broken, "unexpected body '%s'", body);
    } else if (id == c->poison) {
        if (c->n_poison < 8)
            c->poison_attempts[c->n_poison++] = m->attempt;
        rc = IMI_EINTERNAL;
    } else if (m->attempt < c->fail_below_attempt ||
               (c->fail_mod && id % c->fail_mod == 0 && m->attempt == 1)) {
        rc = IMI_EUNAVAILABLE;
    }
    if (rc == IMI_OK && id >= 0 && (size_t)id < c->cap) {
        if (key >= 0 && key < N_KEYS && seq >= 0) {
            if (seq > c->last_seq[key] + 1 && !c->broken[0])
                snprintf(c->broken, sizeof c->broken, "key %d: seq %d acknowledged after "
                         "%d (out of order)", key, seq, c->last_seq[key]);
            else if (seq == c->last_seq[key] + 1)
                c->last_seq[key] = seq;
        }
        c->acks++;
        if (c->seen[id])
            c->dups++;
        else
            c->unique++;
        c->seen[id] = 1;
    }
    pthread_cond_broadcast(&c->cond);
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* Waits until *counter (a field of c) reaches want or WAIT_MS passed. */
static size_t coll_wait(coll *c, const size_t *counter, size_t want)
{
    int64_t deadline = imi_now_mono_ns() + (int64_t)WAIT_MS * 1000000;
    pthread_mutex_lock(&c->lock);
    while (*counter < want && imi_now_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&c->cond, &c->lock, &ts);
    }
    size_t got = *counter;
    pthread_mutex_unlock(&c->lock);
    return got;
}

static size_t coll_get(coll *c, const size_t *counter)
{
    pthread_mutex_lock(&c->lock);
    size_t v = *counter;
    pthread_mutex_unlock(&c->lock);
    return v;
}

/* ---- helpers ----------------------------------------------------------------------- */

#define OPEN_MQ(t, mq)                                                    \
    imi_mq *mq = NULL;                                                    \
    CONF_OK(t, imi_mq_open((t)->app, NULL, &mq))

static int sub1(imi_mq *mq, const char *group, const char *topic, int max_attempts, coll *c,
                imi_mq_sub **out)
{
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1,
                          .max_attempts = max_attempts };
    imi_ctx *ctx = imi_ctx_new(WAIT_MS);
    int rc = imi_mq_subscribe(mq, ctx, &o, on_msg, c, out);
    imi_ctx_free(ctx);
    return rc;
}

static int pub(imi_mq *mq, const char *topic, int id, int key, int seq)
{
    char body[96], k[16];
    int n = make_body(body, sizeof body, id, key, seq);
    snprintf(k, sizeof k, "k%d", key);
    imi_mq_msg m = { .topic = topic, .key = key >= 0 ? k : NULL,
                     .key_len = key >= 0 ? strlen(k) : 0, .body = body, .body_len = (size_t)n };
    imi_ctx *ctx = imi_ctx_new(WAIT_MS);
    int rc = imi_mq_publish(mq, ctx, &m);
    imi_ctx_free(ctx);
    return rc;
}

/* Publishes ids [from, to) keyless; async when the driver can, flushed before return. */
static int pub_range(imi_mq *mq, const char *topic, int from, int to)
{
    bool async = imi_mq_caps(mq) & IMI_MQ_CAP_ASYNC;
    for (int id = from; id < to; id++) {
        char body[96];
        int n = make_body(body, sizeof body, id, -1, -1);
        imi_mq_msg m = { .topic = topic, .body = body, .body_len = (size_t)n };
        int rc = async ? imi_mq_publish_async(mq, NULL, &m, NULL, NULL) : imi_mq_publish(mq, NULL, &m);
        if (rc)
            return rc;
    }
    if (!async)
        return IMI_OK;
    imi_ctx *ctx = imi_ctx_new(WAIT_MS);
    int rc = imi_mq_flush(mq, ctx);
    imi_ctx_free(ctx);
    return rc;
}

/* ---- cases ------------------------------------------------------------------------- */

static void open_ping_close_twice(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    CONF_OK(t, imi_mq_ping(mq, NULL));
    /* judged by behaviour: any non-empty name (the loader checks names asked for) */
    CONF_CHECK(t, imi_mq_driver_name(mq) && imi_mq_driver_name(mq)[0], "no driver name");
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
    imi_mq_free(mq);
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
    imi_app_close(app);
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
    imi_mq_free(mq);
    coll_free(&c);
}

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
    imi_mq_stats st;
    imi_mq_get_stats(mq, &st);
    CONF_CHECK(t, st.published == 1 && st.delivered >= 1 && st.acked >= 1,
               "stats published %llu delivered %llu acked %llu", (unsigned long long)st.published,
               (unsigned long long)st.delivered, (unsigned long long)st.acked);
    imi_mq_free(mq);
    pthread_cond_destroy(&g.cond);
    pthread_mutex_destroy(&g.lock);
}

static void send_receive_key_headers_binary(imi_conf_t *t) { send_receive(t, NULL); }
static void trace_id_travels(imi_conf_t *t) { send_receive(t, "4bf92f3577b34da6a3ce929d0e0e4736"); }


static void two_groups_each_get_all(imi_conf_t *t)
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
    imi_mq_free(mq);
    coll_free(&a);
    coll_free(&b);
}

static void group_members_share(imi_conf_t *t)
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
    imi_mq_free(mq);
    coll_free(&m1);
    coll_free(&m2);
    coll_free(&all);
}

static void nack_redelivers(imi_conf_t *t)
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
    imi_mq_free(mq);
    coll_free(&c);
}

static void dead_letter_after_max_attempts(imi_conf_t *t)
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
    imi_mq_free(mq);
    coll_free(&c);
    pthread_cond_destroy(&d.cond);
    pthread_mutex_destroy(&d.lock);
}

static void per_key_order(imi_conf_t *t)
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
    imi_mq_free(mq);
    coll_free(&c);
}

typedef struct acks {
    atomic_int ok, failed;
} acks;

static void on_delivery(void *ud, int rc)
{
    acks *a = ud;
    atomic_fetch_add(rc ? &a->failed : &a->ok, 1);
}

static void publisher_close_loses_nothing(imi_conf_t *t)
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
    imi_mq_free(producer);
    CONF_CHECK(t, coll_wait(&c, &c.unique, N) == N, "consumer got %zu of %d", c.unique, N);
    imi_mq_free(consumer);
    coll_free(&c);
}

static void subscriber_close_reopen_loses_nothing(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    if (!(imi_mq_caps(mq) & IMI_MQ_CAP_DURABLE)) {
        imi_mq_free(mq); /* the backend does not keep messages without a subscriber */
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
    imi_mq_free(mq);
    coll_free(&c);
}

static void topics_stay_isolated(imi_conf_t *t)
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
    imi_mq_free(mq);
    coll_free(&c1);
    coll_free(&c2);
}

static int ctx_calls(imi_conf_t *t, imi_mq *mq, imi_ctx *ctx, int want)
{
    char topic[128];
    uname(t, "t", topic, sizeof topic);
    imi_mq_msg m = { .topic = topic, .body = "x", .body_len = 1 };
    coll c;
    coll_init(&c, 4);
    imi_mq_sub_opts o = { .group = "g", .topics = (const char *[]){ topic }, .n_topics = 1 };
    imi_mq_sub *s = NULL;
    int rcs[5] = { imi_mq_publish(mq, ctx, &m), imi_mq_ping(mq, ctx),
                   imi_mq_subscribe(mq, ctx, &o, on_msg, &c, &s), want, want };
    if (imi_mq_caps(mq) & IMI_MQ_CAP_ASYNC) {
        rcs[3] = imi_mq_publish_async(mq, ctx, &m, NULL, NULL);
        rcs[4] = imi_mq_flush(mq, ctx);
    }
    imi_mq_sub_free(s);
    coll_free(&c);
    for (int i = 0; i < 5; i++)
        if (rcs[i] != want)
            return i;
    return -1;
}

static void canceled_ctx(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    int bad = ctx_calls(t, mq, ctx, IMI_ECANCELED);
    imi_ctx_free(ctx);
    CONF_CHECK(t, bad < 0, "call %d (publish, ping, subscribe, async, flush) ignored cancel", bad);
    imi_mq_free(mq);
}

static void passed_deadline(imi_conf_t *t)
{
    OPEN_MQ(t, mq);
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_set_deadline_ns(ctx, imi_now_mono_ns() - 1000000);
    int bad = ctx_calls(t, mq, ctx, IMI_ETIMEDOUT);
    imi_ctx_free(ctx);
    CONF_CHECK(t, bad < 0, "call %d (publish, ping, subscribe, async, flush) ignored the "
               "deadline", bad);
    imi_mq_free(mq);
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
    imi_mq_free(mq);
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
    imi_mq_free(mq);
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
    imi_mq_free(mq);
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

static const imi_conf_kind mq_kind = {
    .kind = "mq",
    .required_slot = "ping",
    .open = kind_open,
    .free = kind_free,
};

static void open_fails_cleanly(imi_conf_t *t) { imi_conf_open_fails_cleanly(t, &mq_kind); }
static void required_slot_null_refused(imi_conf_t *t)
{
    imi_conf_required_slot_null_refused(t, &mq_kind);
}

static const imi_conf_case mq_cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "bad_options", bad_options },
    { "bad_arguments", bad_arguments },
    { "send_receive_key_headers_binary", send_receive_key_headers_binary },
    { "trace_id_travels", trace_id_travels },
    { "two_groups_each_get_all", two_groups_each_get_all },
    { "group_members_share", group_members_share },
    { "nack_redelivers", nack_redelivers },
    { "dead_letter_after_max_attempts", dead_letter_after_max_attempts },
    { "per_key_order", per_key_order },
    { "publisher_close_loses_nothing", publisher_close_loses_nothing },
    { "subscriber_close_reopen_loses_nothing", subscriber_close_reopen_loses_nothing },
    { "topics_stay_isolated", topics_stay_isolated },
    { "canceled_ctx", canceled_ctx },
    { "passed_deadline", passed_deadline },
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
