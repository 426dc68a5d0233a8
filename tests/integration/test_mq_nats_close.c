/* Close while user code runs on a driver thread, against the NATS of tools/services.sh
 * (IMI_NATS_URL): a message handler that outlasts the drain of a subscription's close,
 * and a JetStream publish completion that outlasts close_timeout, both still running when
 * close gives up waiting for the rest. Close returns only after they did: the thread
 * they run on returns into state that close frees (under ASan the old bounded waits
 * showed as a use-after-free or a crash once the code came back). */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include <nats/nats.h>
#include "mq_it.h"

static char topic[96];

static void setup(void)
{
    snprintf(topic, sizeof topic, "it-close-%lld", (long long)imi_now_real_ns());
}

TestSuite(mq_nats_close, .init = setup, .timeout = 90);

/* One slow call of user code: entered, then returned `hold_ms` later. */
typedef struct slow {
    pthread_mutex_t lock;
    long hold_ms;
    int calls;
    bool entered, returned;
} slow;

static void slow_init(slow *w, long hold_ms)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->lock, NULL);
    w->hold_ms = hold_ms;
}

/* Runs the first call slowly; later ones return at once. */
static void slow_call(slow *w)
{
    pthread_mutex_lock(&w->lock);
    bool first = !w->calls++;
    if (first)
        w->entered = true;
    pthread_mutex_unlock(&w->lock);
    if (!first)
        return;
    it_sleep_ms(w->hold_ms);
    pthread_mutex_lock(&w->lock);
    w->returned = true;
    pthread_mutex_unlock(&w->lock);
}

static bool slow_flag(slow *w, const bool *flag)
{
    pthread_mutex_lock(&w->lock);
    bool v = *flag;
    pthread_mutex_unlock(&w->lock);
    return v;
}

static void wait_entered(slow *w)
{
    for (int i = 0; i < 1000 && !slow_flag(w, &w->entered); i++)
        it_sleep_ms(10);
    cr_assert(slow_flag(w, &w->entered), "the user code was never called");
}

static int on_msg(void *ud, const imi_mq_msg *m)
{
    (void)m;
    slow_call(ud);
    return IMI_OK;
}

static void on_done(void *ud, int rc)
{
    (void)rc;
    slow_call(ud);
}

/* The driver waits 5 s for the drain, then 10 s with delivery stopped; the handler
 * outlasts both. */
Test(mq_nats_close, subscription_close_waits_for_a_handler_past_the_drain)
{
    char keys[512];
    snprintf(keys, sizeof keys, "url = %s\ntimeout = 5s\n", it_env("IMI_NATS_URL"));
    imi_app *app = it_app(keys);
    imi_mq *mq = NULL;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    slow w;
    slow_init(&w, 17000);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "it", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, on_msg, &w, &sub), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(it_publish(mq, topic, 1, 5000), IMI_OK, "%s", imi_error_message());
    wait_entered(&w);
    int64_t t0 = it_now_ms();
    cr_assert_eq(imi_mq_sub_close(sub), IMI_OK, "%s", imi_error_message());
    int64_t took = it_now_ms() - t0;
    bool returned = slow_flag(&w, &w.returned);
    if (!returned)
        it_sleep_ms(w.hold_ms); /* let the handler end before the test process does */
    cr_assert(returned, "sub_close returned after %lld ms, with the handler still running",
              (long long)took);
    imi_mq_sub_free(sub);
    imi_mq_free(mq);
    imi_app_free(app);
}

/* close_timeout = 1s ends the front-end's wait for the publish in flight; the driver's
 * close then waits for the completion that is running. */
Test(mq_nats_close, jetstream_close_waits_for_a_running_completion)
{
    char keys[512];
    snprintf(keys, sizeof keys, "url = %s\njetstream = true\nstorage = memory\ntimeout = 5s\n"
             "close_timeout = 1s\n", it_env("IMI_NATS_URL"));
    imi_app *app = it_app(keys);
    imi_mq *mq = NULL;
    cr_assert_eq(it_mq_open(app, &mq), IMI_OK, "%s", imi_error_message());
    slow w;
    slow_init(&w, 8000);
    imi_mq_msg m = { .topic = topic, .body = "slow", .body_len = 4 };
    cr_assert_eq(imi_mq_publish_async(mq, NULL, &m, on_done, &w), IMI_OK, "%s",
                 imi_error_message());
    wait_entered(&w);
    int64_t t0 = it_now_ms();
    imi_mq_close(mq);
    int64_t took = it_now_ms() - t0;
    bool returned = slow_flag(&w, &w.returned);
    if (!returned)
        it_sleep_ms(w.hold_ms);
    cr_assert(returned, "close returned after %lld ms, with the completion still running",
              (long long)took);
    cr_expect_eq(w.calls, 1, "%d completions of one publish", w.calls);
    imi_mq_free(mq);
    imi_app_free(app);
    /* The stream the driver created (memory storage, but the server stays up). */
    char stream[160];
    snprintf(stream, sizeof stream, "IMI_%s", topic);
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    if (natsConnection_ConnectTo(&nc, it_env("IMI_NATS_URL")) == NATS_OK &&
        natsConnection_JetStream(&js, nc, NULL) == NATS_OK)
        js_DeleteStream(js, stream, NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}
