/* JetStream acknowledgements as the driver tracks them (nats_acks.c) and the delivery
 * count it reads from the ack subject (nats_sub.c), against the NATS of tools/services.sh
 * (IMI_NATS_URL, JetStream on): every async completion carries the stream's own answer,
 * a refusal or no stream at all fails only its message, max_pending = 1 reuses its one
 * slot for every publish, and a message the server delivers again says which attempt. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <criterion/criterion.h>
#include <nats/nats.h>
#include "mq_it.h"

static char topic[96];

static void setup(void)
{
    snprintf(topic, sizeof topic, "it-acks-%lld", (long long)imi_now_real_ns());
}

TestSuite(mq_nats_acks, .init = setup, .timeout = 60);

static imi_app *js_app(const char *more)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "url = %s\njetstream = true\nstorage = memory\ntimeout = 5s\n"
             "ack_wait = 5s\nredelivery_delay = 20ms\n%s", it_env("IMI_NATS_URL"), more);
    return it_app(keys);
}

/* nats.c straight to the server, for what the driver must find already there. */
static jsCtx *raw_js(natsConnection **nc)
{
    cr_assert_eq(natsConnection_ConnectTo(nc, it_env("IMI_NATS_URL")), NATS_OK, "connect");
    jsCtx *js = NULL;
    cr_assert_eq(natsConnection_JetStream(&js, *nc, NULL), NATS_OK, "JetStream context");
    return js;
}

static void raw_close(natsConnection *nc, jsCtx *js, const char *stream)
{
    if (stream)
        js_DeleteStream(js, stream, NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

/* Removes the stream of topic the driver created (memory storage, but the server stays). */
static void drop_stream(void)
{
    char stream[160];
    snprintf(stream, sizeof stream, "IMI_%s", topic);
    natsConnection *nc = NULL;
    jsCtx *js = raw_js(&nc);
    raw_close(nc, js, stream);
}

typedef struct results {
    pthread_mutex_t lock;
    int rc[512];
    int n;
} results;

static void on_done(void *ud, int rc)
{
    results *r = ud;
    pthread_mutex_lock(&r->lock);
    if (r->n < 512)
        r->rc[r->n] = rc;
    r->n++;
    pthread_mutex_unlock(&r->lock);
}

static void publish_async(imi_mq *mq, const char *body, bool keyed, results *r)
{
    imi_mq_header h = { "h", "v", 1 };
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = strlen(body),
                     .key = keyed ? "k" : NULL, .key_len = keyed ? 1 : 0,
                     .headers = keyed ? &h : NULL, .n_headers = keyed ? 1 : 0 };
    cr_assert_eq(imi_mq_publish_async(mq, NULL, &m, on_done, r), IMI_OK, "publish_async: %s",
                 imi_error_message());
}

Test(mq_nats_acks, a_refused_message_fails_only_its_completion)
{
    /* The stream the driver would create, made first to hold one message at most. */
    char stream[160];
    snprintf(stream, sizeof stream, "IMI_%s", topic);
    natsConnection *nc = NULL;
    jsCtx *js = raw_js(&nc);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subjects[] = { topic };
    sc.Name = stream;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    sc.Storage = js_MemoryStorage;
    sc.MaxMsgs = 1;
    sc.Discard = js_DiscardNew;
    cr_assert_eq(js_AddStream(NULL, js, &sc, NULL, NULL), NATS_OK, "creating %s", stream);
    imi_app *app = js_app("");
    imi_mq *mq = NULL;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    results r = { .n = 0 };
    pthread_mutex_init(&r.lock, NULL);
    publish_async(mq, "first", true, &r);   /* with key and header: a message object */
    cr_assert_eq(imi_mq_flush(mq, NULL), IMI_OK, "%s", imi_error_message());
    publish_async(mq, "second", false, &r); /* plain body */
    publish_async(mq, "third", true, &r);
    cr_assert_eq(imi_mq_flush(mq, NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(r.n, 3, "%d completions", r.n);
    cr_expect_eq(r.rc[0], IMI_OK, "first: %s", imi_err_name(r.rc[0]));
    cr_expect_eq(r.rc[1], IMI_EDRIVER, "second (over MaxMsgs): %s", imi_err_name(r.rc[1]));
    cr_expect_eq(r.rc[2], IMI_EDRIVER, "third (over MaxMsgs): %s", imi_err_name(r.rc[2]));
    imi_mq_stats st;
    imi_mq_get_stats(mq, &st);
    cr_expect_eq(st.published, 1, "published counter %llu", (unsigned long long)st.published);
    cr_expect_eq(st.publish_failed, 2, "failed counter %llu",
                 (unsigned long long)st.publish_failed);
    imi_mq_free(mq);
    imi_app_free(app);
    raw_close(nc, js, stream);
}

Test(mq_nats_acks, no_stream_to_answer_is_unavailable)
{
    imi_app *app = js_app("");
    imi_mq *mq = NULL;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_publish(mq, topic, 0, 5000), IMI_OK, "%s", imi_error_message());
    /* The driver knows the stream now; it goes away behind its back. */
    char stream[160];
    snprintf(stream, sizeof stream, "IMI_%s", topic);
    natsConnection *nc = NULL;
    jsCtx *js = raw_js(&nc);
    cr_assert_eq(js_DeleteStream(js, stream, NULL, NULL), NATS_OK, "deleting %s", stream);
    results r = { .n = 0 };
    pthread_mutex_init(&r.lock, NULL);
    publish_async(mq, "lost", false, &r);
    cr_assert_eq(imi_mq_flush(mq, NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(r.n, 1, "%d completions", r.n);
    cr_expect_eq(r.rc[0], IMI_EUNAVAILABLE, "%s", imi_err_name(r.rc[0]));
    imi_mq_free(mq);
    imi_app_free(app);
    raw_close(nc, js, NULL);
}

Test(mq_nats_acks, max_pending_one_reuses_its_slot_for_every_publish)
{
    enum { N = 300 };
    imi_app *app = js_app("max_pending = 1\n");
    imi_mq *prod = NULL, *cons = NULL;
    cr_assert_eq(it_mq_open(app, &prod), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(it_mq_open(app, &cons), IMI_OK, "%s", imi_error_message());
    it_seen s;
    it_seen_init(&s, N, topic);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "it", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(cons, NULL, &o, it_on_msg, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    results r = { .n = 0 };
    pthread_mutex_init(&r.lock, NULL);
    for (long id = 0; id < N; id++) {
        char body[16];
        snprintf(body, sizeof body, "%ld", id);
        publish_async(prod, body, id % 3 == 0, &r);
    }
    cr_assert_eq(imi_mq_flush(prod, NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(r.n, N, "%d completions of %d", r.n, N);
    for (int i = 0; i < N; i++)
        cr_assert_eq(r.rc[i], IMI_OK, "completion %d: %s", i, imi_err_name(r.rc[i]));
    cr_expect_eq(it_wait_unique(&s, N, 20000), N, "consumed");
    cr_expect_eq(s.dups, 0, "%ld duplicates", s.dups);
    imi_mq_sub_free(sub);
    imi_mq_free(prod);
    imi_mq_free(cons);
    imi_app_free(app);
    it_seen_free(&s);
    drop_stream();
}

typedef struct attempts {
    pthread_mutex_t lock;
    int first, count;
    bool fail;
} attempts;

static int on_attempt(void *ud, const imi_mq_msg *m)
{
    attempts *a = ud;
    pthread_mutex_lock(&a->lock);
    if (!a->count++)
        a->first = m->attempt;
    bool fail = a->fail;
    pthread_mutex_unlock(&a->lock);
    return fail ? IMI_EUNAVAILABLE : IMI_OK;
}

static int count_of(attempts *a)
{
    pthread_mutex_lock(&a->lock);
    int n = a->count;
    pthread_mutex_unlock(&a->lock);
    return n;
}

Test(mq_nats_acks, a_message_the_server_delivers_again_has_attempt_two)
{
    imi_app *app = js_app("");
    imi_mq *mq = NULL;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "it", .topics = topics, .n_topics = 1, .max_attempts = -1 };
    attempts a1 = { .fail = true }, a2 = { .fail = false };
    pthread_mutex_init(&a1.lock, NULL);
    pthread_mutex_init(&a2.lock, NULL);
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, on_attempt, &a1, &sub), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(it_publish(mq, topic, 0, 5000), IMI_OK, "%s", imi_error_message());
    for (int i = 0; i < 500 && !count_of(&a1); i++)
        it_sleep_ms(10);
    cr_assert_gt(count_of(&a1), 0, "the first member never got the message");
    cr_expect_eq(a1.first, 1, "first delivery: attempt %d", a1.first);
    /* Closing the member that keeps failing it hands it back to the server (a nak). */
    imi_mq_sub_free(sub);
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, on_attempt, &a2, &sub), IMI_OK, "%s",
                 imi_error_message());
    for (int i = 0; i < 1000 && !count_of(&a2); i++)
        it_sleep_ms(10);
    cr_assert_gt(count_of(&a2), 0, "the message was not delivered again");
    cr_expect_eq(a2.first, 2, "delivered again by the server: attempt %d", a2.first);
    imi_mq_sub_free(sub);
    imi_mq_free(mq);
    imi_app_free(app);
    drop_stream();
}

/* A stream named "error" (an empty stream_prefix and the topic "error"): its answers say
 * "stream":"error", which is no error member, so the publish succeeds. */
Test(mq_nats_acks, a_stream_named_error_is_no_error)
{
    snprintf(topic, sizeof topic, "error");
    imi_app *app = js_app("stream_prefix =\n");
    imi_mq *mq = NULL;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    results r = { .n = 0 };
    pthread_mutex_init(&r.lock, NULL);
    publish_async(mq, "one", false, &r);
    cr_assert_eq(imi_mq_flush(mq, NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(r.n, 1, "%d completions", r.n);
    cr_expect_eq(r.rc[0], IMI_OK, "%s: %s", imi_err_name(r.rc[0]), imi_error_message());
    imi_mq_free(mq);
    imi_app_free(app);
    natsConnection *nc = NULL;
    jsCtx *js = raw_js(&nc);
    raw_close(nc, js, "error");
}

/* A server that is not there: one line naming what failed, without nats.c's source
 * location ("(conn.c:2088): ") or its status text twice. */
Test(mq_nats_acks, connect_error_is_one_clean_line)
{
    imi_app *app = it_app("url = nats://127.0.0.1:1\ntimeout = 2s\n");
    imi_mq *mq = NULL;
    int rc = it_mq_open(app, &mq);
    const char *msg = imi_error_message();
    cr_expect_eq(rc, IMI_EUNAVAILABLE, "%s", msg);
    cr_expect(strstr(msg, "No server available for connection"), "%s", msg);
    cr_expect(!strstr(msg, ".c:"), "a source location in: %s", msg);
    const char *first = strstr(msg, "No server available");
    cr_expect(first && !strstr(first + 1, "No server available"), "said twice: %s", msg);
    imi_mq_free(mq);
    imi_app_free(app);
}
