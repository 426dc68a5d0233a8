/* Shared by the files of the mq conformance suite (mq_suite*.c): helpers, and the
 * cases that live outside mq_suite.c, whose table lists them all. */
#ifndef IMI_TESTS_CONFORMANCE_MQ_SUITE_H
#define IMI_TESTS_CONFORMANCE_MQ_SUITE_H

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
static inline const char *uname(const imi_conf_t *t, const char *suffix, char *buf, size_t cap)
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

static inline void coll_init(coll *c, size_t cap)
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

static inline void coll_free(coll *c)
{
    free(c->seen);
    pthread_cond_destroy(&c->cond);
    pthread_mutex_destroy(&c->lock);
}

/* Bodies are "id=I key=K seq=S". */
static inline int make_body(char *buf, size_t cap, int id, int key, int seq)
{
    return snprintf(buf, cap, "id=%d key=%d seq=%d", id, key, seq);
}

static inline int on_msg(void *ud, const imi_mq_msg *m)
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
static inline size_t coll_wait(coll *c, const size_t *counter, size_t want)
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

static inline size_t coll_get(coll *c, const size_t *counter)
{
    pthread_mutex_lock(&c->lock);
    size_t v = *counter;
    pthread_mutex_unlock(&c->lock);
    return v;
}

/* ---- helpers ----------------------------------------------------------------------- */

/* The free function of a kept mq handle (imi_conf_keep). */
static inline void conf_free_mq(void *h) { imi_mq_free(h); }

/* Opens the default mq of the config under test, kept for the runner to free if the
 * case fails before imi_conf_free; fails the case if it can't. */
#define OPEN_MQ(t, mq) \
    imi_mq *mq = NULL; \
    CONF_OK(t, imi_mq_open((t)->app, NULL, &mq)); \
    imi_conf_keep(t, conf_free_mq, mq)

static inline int sub1(imi_mq *mq, const char *group, const char *topic, int max_attempts, coll *c,
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

static inline int pub(imi_mq *mq, const char *topic, int id, int key, int seq)
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
static inline int pub_range(imi_mq *mq, const char *topic, int from, int to)
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

/* Counts the completions of async publishes. */
typedef struct acks {
    atomic_int ok, failed;
} acks;

static inline void on_delivery(void *ud, int rc)
{
    acks *a = ud;
    atomic_fetch_add(rc ? &a->failed : &a->ok, 1);
}

/* Cases of mq_suite_*.c */
void imi_conf_mq_send_receive_key_headers_binary(imi_conf_t *t);
void imi_conf_mq_trace_id_travels(imi_conf_t *t);
void imi_conf_mq_two_groups_each_get_all(imi_conf_t *t);
void imi_conf_mq_group_members_share(imi_conf_t *t);
void imi_conf_mq_nack_redelivers(imi_conf_t *t);
void imi_conf_mq_nack_waits_redelivery_delay(imi_conf_t *t);
void imi_conf_mq_dead_letter_after_max_attempts(imi_conf_t *t);
void imi_conf_mq_per_key_order(imi_conf_t *t);
void imi_conf_mq_publisher_close_loses_nothing(imi_conf_t *t);
void imi_conf_mq_subscriber_close_reopen_loses_nothing(imi_conf_t *t);
void imi_conf_mq_topics_stay_isolated(imi_conf_t *t);

#endif
