/* The mem mq driver's own behaviour, beyond the conformance suite: namespaces,
 * back-pressure, options, draining close. */
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

static imi_app *app_of(const char *ini)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "test.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

static imi_mq *open_mq(imi_app *app, const char *name)
{
    imi_mq *mq = NULL;
    cr_assert_eq(imi_mq_open(app, name, &mq), IMI_OK, "%s", imi_error_message());
    return mq;
}

typedef struct counter {
    atomic_int n, in_handler, max_in_handler;
    long sleep_ms;
} counter;

static int count_msg(void *ud, const imi_mq_msg *m)
{
    (void)m;
    counter *c = ud;
    int now = atomic_fetch_add(&c->in_handler, 1) + 1;
    if (now > atomic_load(&c->max_in_handler))
        atomic_store(&c->max_in_handler, now);
    if (c->sleep_ms)
        sleep_ms(c->sleep_ms);
    atomic_fetch_add(&c->n, 1);
    atomic_fetch_sub(&c->in_handler, 1);
    return IMI_OK;
}

static imi_mq_sub *subscribe(imi_mq *mq, const char *group, const char *topic, counter *c)
{
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1 };
    imi_mq_sub *s = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, count_msg, c, &s), IMI_OK, "%s",
                 imi_error_message());
    return s;
}

static int publish(imi_mq *mq, const imi_ctx *ctx, const char *topic, const char *body)
{
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = strlen(body) };
    return imi_mq_publish(mq, ctx, &m);
}

static bool wait_count(counter *c, int want)
{
    for (int i = 0; i < 1000 && atomic_load(&c->n) < want; i++)
        sleep_ms(5);
    return atomic_load(&c->n) >= want;
}

Test(mq_mem, handles_of_one_namespace_share_topics_others_do_not)
{
    imi_app *app = app_of("[mq]\ndriver = mem\nnamespace = shared\n"
                          "[mq.other]\ndriver = mem\nnamespace = elsewhere\n"
                          "[mq.same]\ndriver = mem\nnamespace = shared\n");
    imi_mq *a = open_mq(app, NULL), *same = open_mq(app, "same"), *other = open_mq(app, "other");
    counter cs = { 0 }, co = { 0 };
    imi_mq_sub *s1 = subscribe(same, "g", "t", &cs);
    imi_mq_sub *s2 = subscribe(other, "g", "t", &co);
    cr_assert_eq(publish(a, NULL, "t", "hello"), IMI_OK);
    cr_assert(wait_count(&cs, 1), "a handle of the same namespace got nothing");
    sleep_ms(50);
    cr_assert_eq(atomic_load(&co.n), 0, "another namespace saw the message");
    imi_mq_sub_free(s1);
    imi_mq_sub_free(s2);
    imi_mq_free(a);
    imi_mq_free(same);
    imi_mq_free(other);
    imi_app_free(app);
}

Test(mq_mem, full_topic_makes_publish_wait_then_time_out)
{
    imi_app *app = app_of("[mq]\ndriver = mem\nnamespace = bp\nmax_queue = 3\n");
    imi_mq *mq = open_mq(app, NULL);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(publish(mq, NULL, "t", "x"), IMI_OK);
    imi_ctx *ctx = imi_ctx_new(150);
    int64_t t0 = imi_now_mono_ns();
    int rc = publish(mq, ctx, "t", "x");
    int64_t waited_ms = (imi_now_mono_ns() - t0) / 1000000;
    imi_ctx_free(ctx);
    cr_assert_eq(rc, IMI_ETIMEDOUT, "%s", imi_err_name(rc));
    cr_assert(strstr(imi_error_message(), "max_queue=3"), "message: %s", imi_error_message());
    cr_assert(waited_ms >= 140 && waited_ms < 2000, "waited %lld ms", (long long)waited_ms);
    /* A consumer makes room: the blocked publisher goes through. */
    counter c = { 0 };
    imi_mq_sub *s = subscribe(mq, "g", "t", &c);
    ctx = imi_ctx_new(5000);
    cr_assert_eq(publish(mq, ctx, "t", "x"), IMI_OK, "%s", imi_error_message());
    imi_ctx_free(ctx);
    cr_assert(wait_count(&c, 4));
    imi_mq_sub_free(s);
    imi_mq_free(mq);
    imi_app_free(app);
}

Test(mq_mem, bad_driver_options)
{
    const char *bad[] = {
        "[mq]\ndriver = mem\npartitions = 0\n",
        "[mq]\ndriver = mem\npartitions = lots\n",
        "[mq]\ndriver = mem\nmax_queue = -1\n",
        "[mq]\ndriver = mem\nnamespace =\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imi_app *app = app_of(bad[i]);
        imi_mq *mq = NULL;
        int rc = imi_mq_open(app, NULL, &mq);
        cr_assert_eq(rc, IMI_ECONFIG, "case %zu opened (%s)", i, imi_err_name(rc));
        cr_assert_null(mq);
        imi_app_free(app);
    }
}

/* The topic name rules of the front-end (mq.h): every byte of the set, no dot first,
 * last or twice in a row, at most 200 bytes. */
Test(mq_mem, topic_names_checked_byte_by_byte)
{
    imi_app *app = app_of("[mq]\ndriver = mem\n");
    imi_mq *mq = open_mq(app, NULL);
    char longest[202];
    memset(longest, 'x', 200);
    longest[200] = '\0';
    const char *good[] = { "a", "A-z_0.9", "orders.v1", "-", "_", longest };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        imi_mq_msg m = { .topic = good[i], .body = "x", .body_len = 1 };
        cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_OK, "'%s' refused: %s", good[i],
                     imi_error_message());
    }
    longest[200] = 'x', longest[201] = '\0';
    const char *bad[] = { "", ".a", "a.", "a..b", "a b", "a/b", "a*", "caf\xc3\xa9",
                          "\x7f", "a:b", "a@b", "a[b", "a`b", "a{b", longest };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imi_mq_msg m = { .topic = bad[i], .body = "x", .body_len = 1 };
        cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_EINVALID, "'%s' taken", bad[i]);
    }
    imi_mq_free(mq);
    imi_app_free(app);
}

/* A handle remembers topics that passed the check (mq.c): by their bytes, never by the
 * caller's pointer, and only good ones, also past the number it keeps. */
Test(mq_mem, topic_check_remembers_good_topics_by_content)
{
    imi_app *app = app_of("[mq]\ndriver = mem\nnamespace = topic-memo\n");
    imi_mq *mq = open_mq(app, NULL);
    char buf[32] = "orders.v1";
    imi_mq_msg m = { .topic = buf, .body = "x", .body_len = 1 };
    cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_OK, "%s", imi_error_message());
    strcpy(buf, "orders..v1"); /* the same buffer, now a bad name */
    cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_EINVALID);
    cr_assert_eq(imi_mq_publish_async(mq, NULL, &m, NULL, NULL), IMI_EINVALID);
    strcpy(buf, "orders.v1");
    cr_assert_eq(imi_mq_publish_async(mq, NULL, &m, NULL, NULL), IMI_OK, "%s",
                 imi_error_message());
    /* More topics than a handle keeps, twice round, a bad name after each good one. */
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 20; i++) {
            snprintf(buf, sizeof buf, "memo-%d", i);
            cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_OK, "'%s': %s", buf,
                         imi_error_message());
            snprintf(buf, sizeof buf, "memo-%d.", i);
            cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_EINVALID, "'%s' taken", buf);
            snprintf(buf, sizeof buf, "memo-%d", i);
            buf[0] = '.';
            cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_EINVALID, "'%s' taken", buf);
        }
    cr_assert_eq(imi_mq_flush(mq, NULL), IMI_OK);
    imi_mq_free(mq);
    imi_app_free(app);
}

Test(mq_mem, sub_close_waits_for_the_handler_in_flight)
{
    imi_app *app = app_of("[mq]\ndriver = mem\nnamespace = drain\n");
    imi_mq *mq = open_mq(app, NULL);
    counter c = { .sleep_ms = 200 };
    imi_mq_sub *s = subscribe(mq, "g", "t", &c);
    cr_assert_eq(publish(mq, NULL, "t", "a"), IMI_OK);
    for (int i = 0; i < 400 && !atomic_load(&c.in_handler); i++)
        sleep_ms(5);
    cr_assert_eq(atomic_load(&c.in_handler), 1, "the handler never started");
    cr_assert_eq(imi_mq_sub_close(s), IMI_OK);
    cr_assert_eq(atomic_load(&c.in_handler), 0, "close returned with the handler running");
    cr_assert_eq(atomic_load(&c.n), 1);
    imi_mq_sub_free(s);
    imi_mq_free(mq);
    imi_app_free(app);
}

static void *close_mq(void *mq)
{
    return (void *)(intptr_t)imi_mq_close(mq);
}

/* The owner frees its subscription (waiting for a slow handler) while another thread
 * closes the handle, whose close comes to that subscription meanwhile and waits for the
 * same handler: close must not touch it once the free is done. The free wins the race
 * for the memory only now and then, hence the rounds. */
Test(mq_mem, sub_free_while_the_handle_closes)
{
    imi_app *app = app_of("[mq]\ndriver = mem\nnamespace = free-close\n");
    for (int round = 0; round < 25; round++) {
        imi_mq *mq = open_mq(app, NULL);
        counter slow = { .sleep_ms = 40 }, other = { 0 };
        imi_mq_sub *s = subscribe(mq, "slow", "t", &slow);
        imi_mq_sub *s2 = subscribe(mq, "other", "t2", &other); /* close comes to it first */
        cr_assert_eq(publish(mq, NULL, "t", "a"), IMI_OK);
        for (int i = 0; i < 400 && !atomic_load(&slow.in_handler); i++)
            sleep_ms(1);
        cr_assert_eq(atomic_load(&slow.in_handler), 1, "the handler never started");
        pthread_t t;
        cr_assert_eq(pthread_create(&t, NULL, close_mq, mq), 0);
        imi_mq_sub_free(s);
        void *rc;
        pthread_join(t, &rc);
        cr_assert_eq((int)(intptr_t)rc, IMI_OK);
        cr_assert_eq(atomic_load(&slow.n), 1);
        imi_mq_sub_free(s2);
        imi_mq_free(mq);
    }
    imi_app_free(app);
}

typedef struct closer {
    imi_mq *mq;
    atomic_int calls, close_rc;
} closer;

static void close_from_done(void *ud, int rc)
{
    (void)rc;
    closer *c = ud;
    if (atomic_fetch_add(&c->calls, 1) == 0) {
        atomic_store(&c->close_rc, imi_mq_close(c->mq));
        imi_mq_free(c->mq);
    }
}

/* Closing or freeing the handle from a delivery callback would free the completion queue
 * the callback returns into: both are refused, and every callback still runs once. */
Test(mq_mem, close_from_a_delivery_callback_is_refused)
{
    imi_app *app = app_of("[mq]\ndriver = mem\nnamespace = close-in-done\n"
                          "close_timeout = 100ms\n");
    closer c = { .mq = open_mq(app, NULL), .close_rc = -1 };
    for (int i = 0; i < 300; i++) {
        imi_mq_msg m = { .topic = "t", .body = "x", .body_len = 1 };
        cr_assert_eq(imi_mq_publish_async(c.mq, NULL, &m, close_from_done, &c), IMI_OK);
    }
    cr_assert_eq(imi_mq_flush(c.mq, NULL), IMI_OK);
    cr_assert_eq(atomic_load(&c.calls), 300);
    cr_assert_eq(atomic_load(&c.close_rc), IMI_EINVALID);
    cr_assert_eq(imi_mq_close(c.mq), IMI_OK);
    imi_mq_free(c.mq);
    imi_app_free(app);
}

Test(mq_mem, one_key_is_never_handled_twice_at_once)
{
    imi_app *app = app_of("[mq]\ndriver = mem\nnamespace = keys\n");
    imi_mq *mq = open_mq(app, NULL);
    counter c = { .sleep_ms = 1 };
    imi_mq_sub *s[3] = { subscribe(mq, "g", "t", &c), subscribe(mq, "g", "t", &c),
                         subscribe(mq, "g", "t", &c) };
    for (int i = 0; i < 60; i++) {
        imi_mq_msg m = { .topic = "t", .key = "one", .key_len = 3, .body = "x", .body_len = 1 };
        cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_OK);
    }
    cr_assert(wait_count(&c, 60));
    cr_assert_eq(atomic_load(&c.max_in_handler), 1, "one key ran %d handlers at once",
                 atomic_load(&c.max_in_handler));
    for (int i = 0; i < 3; i++)
        imi_mq_sub_free(s[i]);
    imi_mq_free(mq);
    imi_app_free(app);
}

/* The core's option families ("kafka.*"), which the kafka driver relies on. */
Test(mq_mem, option_family_accepts_its_prefix_only)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse("[mq]\ndriver = x\nkafka.linger.ms = 5\nkafka. = 1\n"
                                  "kafkax = 2\n", "t.ini", ".", &cfg), IMI_OK);
    const char *known[] = { "driver", "kafka.*", NULL };
    int rc = imi_config_check_keys(cfg, "mq", known, NULL);
    cr_assert_eq(rc, IMI_ECONFIG, "kafka. and kafkax must not pass");
    cr_assert(strstr(imi_error_message(), "'kafka.'"), "%s", imi_error_message());
    imi_config_free(cfg);
    cr_assert_eq(imi_config_parse("[mq]\ndriver = x\nkafka.linger.ms = 5\nkafka.acks = all\n",
                                  "t.ini", ".", &cfg), IMI_OK);
    cr_assert_eq(imi_config_check_keys(cfg, "mq", known, NULL), IMI_OK, "%s", imi_error_message());
    imi_config_free(cfg);
}
