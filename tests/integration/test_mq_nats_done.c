/* Core NATS async completions as the driver queues them (nats_done.c: runs of equal
 * completions in reused blocks), against the NATS of tools/services.sh (IMI_NATS_URL):
 * long runs of one callback and user data, user data that changes at every publish, and
 * publishes without a callback each complete exactly once, with their own user data, on a
 * driver thread, by the time flush returns; close completes what is still queued. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include "mq_it.h"

static char topic[96];

static void setup(void)
{
    snprintf(topic, sizeof topic, "it-done-%lld", (long long)imi_now_real_ns());
}

TestSuite(mq_nats_done, .init = setup, .timeout = 60);

/* What the completions of one test saw. */
typedef struct tally {
    pthread_mutex_t lock;
    pthread_t publisher;
    long calls[5];                  /* per user data: &calls[i] */
    long failed, on_publisher;
} tally;

static tally t;

static void on_done(void *ud, int rc)
{
    pthread_mutex_lock(&t.lock);
    (*(long *)ud)++;
    if (rc)
        t.failed++;
    if (pthread_equal(pthread_self(), t.publisher))
        t.on_publisher++;
    pthread_mutex_unlock(&t.lock);
}

static imi_mq *open_core(imi_app **app)
{
    char keys[512];
    snprintf(keys, sizeof keys, "url = %s\ntimeout = 5s\n", it_env("IMI_NATS_URL"));
    *app = it_app(keys);
    imi_mq *mq = NULL;
    cr_assert_eq(it_mq_open(*app, &mq), IMI_OK, "%s", imi_error_message());
    memset(&t, 0, sizeof t);
    pthread_mutex_init(&t.lock, NULL);
    t.publisher = pthread_self();
    return mq;
}

static void publish(imi_mq *mq, long i, imi_mq_delivery_fn fn, void *ud)
{
    char body[32];
    int len = snprintf(body, sizeof body, "%ld", i);
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = (size_t)len };
    cr_assert_eq(imi_mq_publish_async(mq, NULL, &m, fn, ud), IMI_OK, "publish %ld: %s", i,
                 imi_error_message());
}

/* One pass: 1000 with one user data (a run), 1000 alternating two (a run each, several
 * blocks), 500 without a callback, 500 more of the first. */
static long publish_pattern(imi_mq *mq)
{
    long n = 0;
    for (int i = 0; i < 1000; i++)
        publish(mq, n++, on_done, &t.calls[0]);
    for (int i = 0; i < 1000; i++)
        publish(mq, n++, on_done, &t.calls[1 + i % 2]);
    for (int i = 0; i < 500; i++)
        publish(mq, n++, NULL, NULL);
    for (int i = 0; i < 500; i++)
        publish(mq, n++, on_done, &t.calls[0]);
    return n;
}

static long calls(int i)
{
    pthread_mutex_lock(&t.lock);
    long v = t.calls[i];
    pthread_mutex_unlock(&t.lock);
    return v;
}

Test(mq_nats_done, every_completion_runs_once_with_its_own_user_data)
{
    imi_app *app = NULL;
    imi_mq *mq = open_core(&app);
    long total = 0;
    for (int pass = 1; pass <= 2; pass++) {  /* the second reuses the first's block */
        total += publish_pattern(mq);
        cr_assert_eq(imi_mq_flush(mq, NULL), IMI_OK, "flush: %s", imi_error_message());
        cr_expect_eq(calls(0), 1500L * pass, "first user data: %ld", calls(0));
        cr_expect_eq(calls(1), 500L * pass, "second user data: %ld", calls(1));
        cr_expect_eq(calls(2), 500L * pass, "third user data: %ld", calls(2));
    }
    cr_expect_eq(t.failed, 0, "%ld completions failed", t.failed);
    cr_expect_eq(t.on_publisher, 0, "%ld completions ran inside publish_async",
                 t.on_publisher);
    imi_mq_stats st;
    imi_mq_get_stats(mq, &st);
    cr_expect_eq((long)st.published, total, "published counter %llu of %ld",
                 (unsigned long long)st.published, total);
    imi_mq_free(mq);
    imi_app_free(app);
}

Test(mq_nats_done, close_completes_what_is_queued)
{
    imi_app *app = NULL;
    imi_mq *mq = open_core(&app);
    for (long i = 0; i < 5000; i++)
        publish(mq, i, on_done, &t.calls[i % 1000 ? 3 : 4]);
    imi_mq_free(mq);                /* no flush: close must run all 5000 */
    cr_expect_eq(calls(3), 4995, "completions after close: %ld", calls(3));
    cr_expect_eq(calls(4), 5, "completions after close: %ld", calls(4));
    cr_expect_eq(t.failed, 0, "%ld completions failed", t.failed);
    imi_app_free(app);
}
