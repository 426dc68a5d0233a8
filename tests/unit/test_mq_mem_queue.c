/* The mem mq driver's queue itself: message bytes in reused segments (small, segment-
 * sized and large messages, a queue that grows and drains again), the byte bound, and
 * members that sleep between sparse publishes and must still be woken for each. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static imi_mq *open_mq(imi_app *app)
{
    imi_mq *mq = NULL;
    cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
    return mq;
}

/* Message i: its length and its bytes, both derived from i. */
static size_t len_of(int i)
{
    static const size_t sizes[] = { 0, 1, 100, 1000, 3000, 8100, 8200, 20000, 70000 };
    return sizes[i % (sizeof sizes / sizeof sizes[0])] + (size_t)(i % 7);
}

static void fill(char *buf, int i, size_t len)
{
    for (size_t k = 0; k < len; k++)
        buf[k] = (char)(i * 31 + (int)k * 7);
}

typedef struct checker {
    pthread_mutex_t lock;
    int next;                       /* the id expected next (one key: in order) */
    char bad[256];
    atomic_int n;
    atomic_bool hold;               /* the handler waits while set */
    char *buf;
} checker;

static int check_msg(void *ud, const imi_mq_msg *m)
{
    checker *c = ud;
    while (atomic_load(&c->hold))
        sleep_ms(1);
    int id = -1;
    size_t hl = 0;
    for (size_t i = 0; i < m->n_headers; i++)
        if (!strcmp(m->headers[i].name, "id") && m->headers[i].len < 16) {
            char v[16];
            memcpy(v, m->headers[i].value, m->headers[i].len);
            v[m->headers[i].len] = '\0';
            id = atoi(v);
            hl = m->headers[i].len;
        }
    pthread_mutex_lock(&c->lock);
    if (!c->bad[0]) {
        size_t want = len_of(id);
        fill(c->buf, id, want);
        if (id != c->next || !hl)
            snprintf(c->bad, sizeof c->bad, "got id %d, expected %d", id, c->next);
        else if (m->body_len != want || memcmp(m->body, c->buf, want))
            snprintf(c->bad, sizeof c->bad, "id %d: body of %zu bytes differs (want %zu)", id,
                     m->body_len, want);
        else if (m->key_len != 3 || memcmp(m->key, "key", 3))
            snprintf(c->bad, sizeof c->bad, "id %d: key lost", id);
    }
    c->next = id + 1;
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add(&c->n, 1);
    return IMI_OK;
}

static bool wait_n(atomic_int *n, int want, int ms)
{
    for (int i = 0; i < ms && atomic_load(n) < want; i++)
        sleep_ms(1);
    return atomic_load(n) >= want;
}

static void publish_id(imi_mq *mq, int i, char *buf, bool async)
{
    char id[16];
    snprintf(id, sizeof id, "%d", i);
    imi_mq_header h = { "id", id, strlen(id) };
    size_t len = len_of(i);
    fill(buf, i, len);
    imi_mq_msg m = { .topic = "q", .key = "key", .key_len = 3, .headers = &h, .n_headers = 1,
                     .body = buf, .body_len = len };
    int rc = async ? imi_mq_publish_async(mq, NULL, &m, NULL, NULL) : imi_mq_publish(mq, NULL, &m);
    cr_assert_eq(rc, IMI_OK, "publish %d: %s", i, imi_error_message());
}

/* Waves: the consumer is held while a wave queues up (new segments), then drains it
 * (segments emptied, kept or pooled), and the next wave reuses them. Every byte and the
 * order of the one key must survive. */
Test(mq_mem_queue, mixed_sizes_survive_segment_reuse_in_order)
{
    imi_app *app = app_of("[log]\nlevel = error\n[mq]\ndriver = mem\nnamespace = segs\n");
    imi_mq *mq = open_mq(app);
    checker c = { .next = 0 };
    pthread_mutex_init(&c.lock, NULL);
    c.buf = malloc(80000);
    char *buf = malloc(80000);
    cr_assert(c.buf && buf);
    const char *topics[] = { "q" };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *s = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, check_msg, &c, &s), IMI_OK);
    int id = 0;
    for (int wave = 0; wave < 6; wave++) {
        atomic_store(&c.hold, wave % 2 == 0);
        for (int k = 0; k < 700; k++, id++)
            publish_id(mq, id, buf, k % 2);
        atomic_store(&c.hold, false);
        cr_assert_eq(imi_mq_flush(mq, NULL), IMI_OK);
        cr_assert(wait_n(&c.n, id, 10000), "wave %d: %d of %d arrived", wave,
                  atomic_load(&c.n), id);
        pthread_mutex_lock(&c.lock);
        cr_assert(!c.bad[0], "wave %d: %s", wave, c.bad);
        pthread_mutex_unlock(&c.lock);
    }
    imi_mq_sub_free(s);
    imi_mq_free(mq);
    imi_app_free(app);
    free(buf);
    free(c.buf);
    pthread_mutex_destroy(&c.lock);
}

static int count_one(void *ud, const imi_mq_msg *m)
{
    (void)m;
    atomic_fetch_add((atomic_int *)ud, 1);
    return IMI_OK;
}

static imi_mq_sub *subscribe_count(imi_mq *mq, const char *topic, atomic_int *n)
{
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *s = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, count_one, n, &s), IMI_OK, "%s",
                 imi_error_message());
    return s;
}

/* The byte bound: publishes wait once max_bytes is held, a message larger than it is
 * refused at once, and a consumer's acks let a waiting publisher through. */
Test(mq_mem_queue, max_bytes_bounds_and_frees)
{
    imi_app *app = app_of("[log]\nlevel = error\n[mq]\ndriver = mem\nnamespace = bytes\n"
                          "max_bytes = 8k\n");
    imi_mq *mq = open_mq(app);
    static char body[3000], big[9000];
    memset(body, 'b', sizeof body);
    imi_mq_msg m = { .topic = "t", .body = body, .body_len = sizeof body };
    int sent = 0, rc = IMI_OK;
    while (sent < 10) {
        imi_ctx *ctx = imi_ctx_new(100);
        rc = imi_mq_publish(mq, ctx, &m);
        imi_ctx_free(ctx);
        if (rc)
            break;
        sent++;
    }
    cr_assert_eq(rc, IMI_ETIMEDOUT, "%s", imi_err_name(rc));
    cr_assert_eq(sent, 2, "%d messages of 3000 B fit in 8k", sent);
    cr_assert(strstr(imi_error_message(), "max_bytes=8192"), "%s", imi_error_message());
    imi_mq_msg huge = { .topic = "t", .body = big, .body_len = sizeof big };
    cr_assert_eq(imi_mq_publish(mq, NULL, &huge), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "more than max_bytes"), "%s", imi_error_message());
    /* A publisher waiting for room goes through once the group acknowledges. */
    atomic_int n = 0;
    imi_mq_sub *s = subscribe_count(mq, "t", &n);
    imi_ctx *ctx = imi_ctx_new(5000);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(imi_mq_publish(mq, ctx, &m), IMI_OK, "%s", imi_error_message());
    imi_ctx_free(ctx);
    cr_assert(wait_n(&n, 8, 5000), "%d of 8 arrived", atomic_load(&n));
    imi_mq_sub_free(s);
    imi_mq_free(mq);
    imi_app_free(app);
}

/* A member that found nothing sleeps after a moment: each publish that follows a pause
 * longer than that must wake it, from one thread or from several. */
typedef struct sparse {
    imi_mq *mq;
    int count;
} sparse;

static void *sparse_pub(void *arg)
{
    sparse *sp = arg;
    for (int i = 0; i < sp->count; i++) {
        imi_mq_msg m = { .topic = "sparse", .body = "x", .body_len = 1 };
        if (imi_mq_publish(sp->mq, NULL, &m))
            return "publish failed";
        sleep_ms(1 + i % 3);
    }
    return NULL;
}

Test(mq_mem_queue, sparse_publishes_wake_sleeping_members)
{
    imi_app *app = app_of("[log]\nlevel = error\n[mq]\ndriver = mem\nnamespace = sparse\n");
    imi_mq *mq = open_mq(app);
    atomic_int n = 0;
    imi_mq_sub *s = subscribe_count(mq, "sparse", &n);
    for (int i = 0; i < 40; i++) {
        imi_mq_msg m = { .topic = "sparse", .body = "x", .body_len = 1 };
        cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_OK);
        cr_assert(wait_n(&n, i + 1, 2000), "message %d was not delivered within 2 s", i);
        sleep_ms(1 + i % 3); /* past the members' watch: they sleep */
    }
    pthread_t th[3];
    sparse sp[3];
    for (int k = 0; k < 3; k++) {
        sp[k] = (sparse){ .mq = mq, .count = 30 };
        cr_assert_eq(pthread_create(&th[k], NULL, sparse_pub, &sp[k]), 0);
    }
    for (int k = 0; k < 3; k++) {
        void *err = NULL;
        pthread_join(th[k], &err);
        cr_assert_null(err, "%s", (const char *)err);
    }
    cr_assert(wait_n(&n, 130, 2000), "%d of 130 delivered", atomic_load(&n));
    imi_mq_sub_free(s);
    imi_mq_free(mq);
    imi_app_free(app);
}

static void count_done(void *ud, int rc)
{
    if (rc == IMI_OK)
        atomic_fetch_add((atomic_int *)ud, 1);
}

/* Completions go through a chain of blocks of 256 records that the completion thread
 * follows without a lock: each is called once, also when a block fills and the next one
 * is linked while the thread looks at its end (a completion skipped there left flush
 * waiting until its deadline). Many block ends, each met by a thread that keeps up. */
Test(mq_mem_queue, every_async_completion_is_called_across_blocks, .timeout = 120)
{
    imi_app *app = app_of("[log]\nlevel = error\n[mq]\ndriver = mem\nnamespace = blocks\n");
    imi_mq *mq = open_mq(app);
    atomic_int delivered = 0, done = 0;
    imi_mq_sub *s = subscribe_count(mq, "blocks", &delivered);
    int sent = 0;
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 256 * 30 + round; i++, sent++) {
            imi_mq_msg m = { .topic = "blocks", .body = "x", .body_len = 1 };
            cr_assert_eq(imi_mq_publish_async(mq, NULL, &m, count_done, &done), IMI_OK);
        }
        imi_ctx *ctx = imi_ctx_new(10000);
        cr_assert_eq(imi_mq_flush(mq, ctx), IMI_OK, "round %d: %s", round, imi_error_message());
        imi_ctx_free(ctx);
        cr_assert_eq(atomic_load(&done), sent, "round %d: %d of %d completions called",
                     round, atomic_load(&done), sent);
    }
    cr_assert(wait_n(&delivered, sent, 10000), "%d of %d delivered", atomic_load(&delivered),
              sent);
    imi_mq_sub_free(s);
    imi_mq_free(mq);
    imi_app_free(app);
}
