/* imi bench mq: publish throughput (async + flush, and sync), end-to-end throughput and
 * latency through a consumer group, for im-infra and, on kafka and nats, for the client
 * library used directly with the same settings (on mem, a plain mutex queue), in the
 * same run, with the ratio. Then
 * what the front-end costs per call: the same publish and ping through imi_mq_* and
 * straight into the driver's vtable on the same handle.
 *
 * Each target gets its own topic and group; a consumer drains it throughout. Before the
 * timed part one message goes through end to end, so group joins are not timed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "bench_cmp.h"
#include "bench_mq.h"
#include "cli.h"
#include "mq_internal.h"

#define DEFAULT_OPS_MEM 200000L
#define DEFAULT_OPS_NET 100000L
#define MAX_SYNC_NET 500L
#define WAIT_NS (120 * 1000000000LL)
/* Without --ops, a round of the size sweep lasts at least this long on the faster side
 * (a 100 B NATS round of ops/rounds messages lasted ~20 ms, shorter than a time slice of
 * the other work on a shared machine, and spread 0.3..1.8x), within the bounds below.
 * The front-end cost rounds get half. */
#define MIN_ROUND_NS (300 * 1000000LL)
/* A round over a network publishes at most this many messages and bytes, with or without
 * --ops: what a consumer that falls behind leaves queued must fit what the broker keeps
 * (a NATS server drops a subscriber 64 MB behind; librdkafka's mock cluster keeps 5 MiB
 * a partition and resets a consumer that falls further behind: with the default --ops a
 * kafka round of 223 messages of 64 KiB lost ~50). A real Kafka broker has no such
 * limit; the cap only shortens its large-message rounds. */
#define MAX_ROUND_MSGS 300000L
#define MAX_ROUND_BYTES (32L << 20)
#define MAX_KAFKA_ROUND_BYTES (4L << 20)
#define MAX_COST_CALLS 1000000L
#define MAX_ONE_AT_A_TIME 5000L         /* sync and paced messages a round */
#define MAX_COST_CALLS_ACKED 30000L     /* JetStream: well inside max_pending's default */

/* The harness's share of a consumer's time stays small: strtol rather than sscanf, and
 * the waiting thread is woken once, when the count it waits for is reached, not per
 * message (which cost a wake-up and a context switch per message in the drain). */
void bench_sink_record(bench_sink *s, const void *body, size_t len)
{
    int64_t now = imi_now_mono_ns();
    char buf[64];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, body, n);
    buf[n] = '\0';
    char *end = buf;
    long seq = strtol(buf, &end, 10);
    long long sent = end != buf ? strtoll(end, NULL, 10) : 0;
    if (end == buf)
        seq = -1;
    pthread_mutex_lock(&s->lock);
    if (seq >= 0 && seq < s->cap)
        s->lat_ns[seq] = now - sent;
    s->got++;
    s->last_ns = now;
    if (s->want && s->got >= s->want)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static bool sink_wait(bench_sink *s, long want)
{
    int64_t deadline = imi_now_mono_ns() + WAIT_NS;
    pthread_mutex_lock(&s->lock);
    s->want = want;
    while (s->got < want && imi_now_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    bool ok = s->got >= want;
    s->want = 0;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

/* A body of `size` bytes (at least BENCH_BODY) starting with "<seq> <mono ns> "; the
 * padding is written once per buffer (pad says how much of it already is). */
static size_t make_body_n(char *body, size_t size, long seq)
{
    int len = snprintf(body, 48, "%ld %lld ", seq, (long long)imi_now_mono_ns());
    memset(body + len, 'x', 48 - (size_t)len);
    return size;
}

static size_t make_body(char *body, long seq)
{
    return make_body_n(body, BENCH_BODY, seq);
}

/* ---- im-infra as a target ----------------------------------------------------------- */

typedef struct figures {
    double pub_async, e2e, p50_us, p99_us;
} figures;

typedef struct imi_target {
    imi_mq *prod, *cons;
    imi_mq_sub *sub;
} imi_target;

static int on_msg(void *ud, const imi_mq_msg *m)
{
    bench_sink_record(ud, m->body, m->body_len);
    return IMI_OK;
}

static int imi_consume(void *ud, const char *topic, bench_sink *s)
{
    imi_target *t = ud;
    char group[128];
    snprintf(group, sizeof group, "%s-g", topic);
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1 };
    imi_ctx *ctx = imi_ctx_new(60000);
    int rc = imi_mq_subscribe(t->cons, ctx, &o, on_msg, s, &t->sub);
    imi_ctx_free(ctx);
    return rc;
}

static int imi_pub_async(void *ud, const char *topic, const void *body, size_t len)
{
    imi_target *t = ud;
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = len };
    return imi_mq_publish_async(t->prod, NULL, &m, NULL, NULL);
}

static int imi_flush(void *ud)
{
    imi_target *t = ud;
    imi_ctx *ctx = imi_ctx_new(120000);
    int rc = imi_mq_flush(t->prod, ctx);
    imi_ctx_free(ctx);
    return rc;
}

static int imi_pub_sync(void *ud, const char *topic, const void *body, size_t len)
{
    imi_target *t = ud;
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = len };
    return imi_mq_publish(t->prod, NULL, &m);
}

static void imi_stop(void *ud)
{
    imi_target *t = ud;
    imi_mq_sub_free(t->sub);
    t->sub = NULL;
}

/* ---- rounds over a target ------------------------------------------------------------ */

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* One target's consumer, topic and sink, kept over every round of the bench. */
typedef struct live {
    const bench_target *t;
    char topic[96];
    bench_sink s;
    long lat_alloc;                 /* entries allocated at s.lat_ns */
    char *body;
    int rc;
} live;

static int live_start(live *l, const bench_target *t, long cap)
{
    l->t = t;
    snprintf(l->topic, sizeof l->topic, "imi-bench-%s-%d-%llx", t->name, (int)getpid(),
             (unsigned long long)imi_now_real_ns());
    pthread_mutex_init(&l->s.lock, NULL);
    pthread_cond_init(&l->s.cond, NULL);
    l->s.lat_ns = calloc((size_t)cap, sizeof *l->s.lat_ns);
    l->lat_alloc = cap;
    l->body = malloc(BENCH_MAX_BODY);
    if (!l->s.lat_ns || !l->body)
        return l->rc = IMI_ENOMEM;
    memset(l->body, 'x', BENCH_MAX_BODY);
    int rc = t->consume(t->ud, l->topic, &l->s);
    /* Warm-up: one message end to end (group join, topic creation) before timing. */
    if (!rc && !(rc = t->publish_sync(t->ud, l->topic, l->body, make_body(l->body, -1))) &&
        !sink_wait(&l->s, 1))
        rc = imi_error_set(IMI_ETIMEDOUT, 0, "the warm-up message did not arrive");
    return l->rc = rc;
}

/* Starts counting afresh for a run of cap messages (the latency table grows to fit, under
 * the lock the consumer records with). */
static int live_reset(live *l, long cap)
{
    int rc = IMI_OK;
    pthread_mutex_lock(&l->s.lock);
    if (cap > l->lat_alloc) {
        int64_t *p = realloc(l->s.lat_ns, (size_t)cap * sizeof *p);
        if (p) {
            l->s.lat_ns = p;
            l->lat_alloc = cap;
        } else {
            rc = imi_error_set(IMI_ENOMEM, 0, "no room for %ld latencies", cap);
        }
    }
    l->s.got = 0;
    l->s.cap = rc ? 0 : cap;
    pthread_mutex_unlock(&l->s.lock);
    return rc;
}

/* n messages of `size` bytes, async then flush (sync where there is no async): publish
 * and end-to-end rates and the median latency. */
static int live_round(live *l, size_t size, long n, figures *f)
{
    const bench_target *t = l->t;
    if (live_reset(l, n))
        return l->rc = IMI_ENOMEM;
    bool async = t->publish_async != NULL;
    int rc = IMI_OK;
    int64_t t0 = imi_now_mono_ns();
    for (long i = 0; i < n && !rc; i++)
        rc = async ? t->publish_async(t->ud, l->topic, l->body, make_body_n(l->body, size, i))
                   : t->publish_sync(t->ud, l->topic, l->body, make_body_n(l->body, size, i));
    if (!rc && async)
        rc = t->flush(t->ud);
    if (rc)
        return l->rc = rc;
    f->pub_async = (double)n * 1e9 / (double)(imi_now_mono_ns() - t0);
    if (!sink_wait(&l->s, n))
        return l->rc = imi_error_set(IMI_ETIMEDOUT, 0, "%ld of %ld messages arrived",
                                     l->s.got, n);
    f->e2e = (double)n * 1e9 / (double)(l->s.last_ns - t0);
    qsort(l->s.lat_ns, (size_t)n, sizeof *l->s.lat_ns, cmp_i64);
    f->p50_us = (double)l->s.lat_ns[n / 2] / 1e3;
    f->p99_us = (double)l->s.lat_ns[n * 99 / 100] / 1e3;
    return IMI_OK;
}

/* n acknowledged publishes, one at a time. */
static int live_sync(live *l, long n, double *rate)
{
    live_reset(l, 0); /* (no latencies kept: cannot fail) */
    int rc = IMI_OK;
    int64_t t0 = imi_now_mono_ns();
    for (long i = 0; i < n && !rc; i++)
        rc = l->t->publish_sync(l->t->ud, l->topic, l->body, make_body(l->body, i));
    *rate = (double)n * 1e9 / (double)(imi_now_mono_ns() - t0);
    if (!rc && !sink_wait(&l->s, n))
        rc = imi_error_set(IMI_ETIMEDOUT, 0, "%ld of %ld sync messages arrived", l->s.got, n);
    return l->rc = rc;
}

/* n messages one at a time, each published (sync) once the one before it arrived, so that
 * the consumer always keeps up: the median latency of a message that finds no backlog. */
static int live_paced(live *l, long n, double *p50_us)
{
    if (live_reset(l, n))
        return l->rc = IMI_ENOMEM;
    int rc = IMI_OK;
    for (long i = 0; i < n && !rc; i++) {
        rc = l->t->publish_sync(l->t->ud, l->topic, l->body, make_body(l->body, i));
        if (!rc && !sink_wait(&l->s, i + 1))
            rc = imi_error_set(IMI_ETIMEDOUT, 0, "paced message %ld did not arrive", i);
    }
    if (rc)
        return l->rc = rc;
    qsort(l->s.lat_ns, (size_t)n, sizeof *l->s.lat_ns, cmp_i64);
    *p50_us = (double)l->s.lat_ns[n / 2] / 1e3;
    return IMI_OK;
}

static void live_stop(live *l)
{
    if (l->rc)
        fprintf(stderr, "imi bench mq: %s: %s (%s)\n", l->t->name, imi_error_message(),
                imi_err_name(l->rc));
    if (l->t)
        l->t->stop(l->t->ud);
    free(l->s.lat_ns);
    free(l->body);
    pthread_cond_destroy(&l->s.cond);
    pthread_mutex_destroy(&l->s.lock);
}

/* ---- the front-end's own cost --------------------------------------------------------- */

static int64_t time_calls(imi_mq *mq, const char *topic, int how, long n)
{
    char body[BENCH_BODY];
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = sizeof body };
    int64_t t0 = imi_now_mono_ns();
    for (long i = 0; i < n; i++) {
        int rc;
        if (how == 0) {
            make_body(body, -1);
            rc = imi_mq_publish_async(mq, NULL, &m, NULL, NULL);
        } else {
            rc = how == 2 ? imi_mq_ping(mq, NULL) : mq->vt->ping(mq->in.state, NULL);
        }
        if (rc)
            return -1;
    }
    return imi_now_mono_ns() - t0;
}

static void noop_done(const imi_mq_done *d, int rc)
{
    (void)d;
    (void)rc;
}

/* Per round: async publish through imi_mq_publish_async and through the driver slot (the
 * same message, a no-op completion), ping both ways; ns per call into pub and ping. */
/* n, or as many as make a run that took ns for n last target_ns: never fewer than n, at
 * most `most` (ns <= 0: n). */
static long lengthened(long n, double ns, double target_ns, long most)
{
    double want = ns > 0 ? (double)n * target_ns / ns : 0;
    want = want < (double)most ? want : (double)most;
    return want > (double)n ? (long)want : n;
}

static int measure_rounds(const imi_bench_opts *o, imi_mq *mq, const char *topic, long ops,
                          bool net, long max_calls, bench_cmp *pub, bench_cmp *ping)
{
    long per = ops / 8 > 0 ? ops / 8 : 1, pings = net ? 200 : per * 4;
    if (max_calls > per) {
        /* As long as half a round of the size sweep, from one untimed pass. */
        int64_t ns = time_calls(mq, topic, 0, per);
        if (ns <= 0 || imi_mq_flush(mq, NULL))
            return IMI_EINTERNAL;
        per = lengthened(per, (double)ns, MIN_ROUND_NS / 2, max_calls);
    }
    char body[BENCH_BODY];
    imi_mq_msg m = { .topic = topic, .body = body, .body_len = sizeof body };
    imi_mq_done d = { .fn = noop_done, .core = NULL };
    for (int r = 0; r < o->rounds; r++) {
        int64_t a = 0, b = 0, p = 0, q = 0;
        for (int k = 0; k < 2; k++) {
            if ((k == 0) == bench_im_first(r)) {
                a = time_calls(mq, topic, 0, per);
                p = time_calls(mq, topic, 2, pings);
                continue;
            }
            int64_t t0 = imi_now_mono_ns();
            for (long i = 0; i < per; i++) {
                make_body(body, -1);
                if (mq->p->p_publish_async(mq->in.state, NULL, &m, &d))
                    return IMI_EINTERNAL;
            }
            b = imi_now_mono_ns() - t0;
            q = time_calls(mq, topic, 3, pings);
        }
        if (a < 0 || p < 0 || q < 0 || imi_mq_flush(mq, NULL))
            return IMI_EINTERNAL;
        bench_cmp_add(pub, (double)a / per, (double)b / per);
        bench_cmp_add(ping, (double)p / pings, (double)q / pings);
    }
    return IMI_OK;
}

static int drain(void *ud, const imi_mq_msg *m)
{
    (void)ud;
    (void)m;
    return IMI_OK;
}

/* Async publish through imi_mq_publish_async and through the driver slot (the same
 * message, a no-op completion), and ping both ways, in alternating rounds. A consumer
 * (on cons) drains the topic, so a bounded backend never makes publishers wait. */
static int measure_costs(const imi_bench_opts *o, imi_mq *mq, imi_mq *cons, long ops, bool net,
                         long max_calls, bench_cmp *pub, bench_cmp *ping)
{
    if (!(mq->in.caps & IMI_MQ_CAP_ASYNC))
        return imi_error_set(IMI_ENOTSUP, 0, "no async publish");
    char topic[96];
    snprintf(topic, sizeof topic, "imi-bench-cost-%d-%llx", (int)getpid(),
             (unsigned long long)imi_now_real_ns());
    const char *topics[] = { topic };
    imi_mq_sub_opts so = { .group = "imi-bench-cost", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    int rc = imi_mq_subscribe(cons, NULL, &so, drain, NULL, &sub);
    if (rc)
        return rc;
    rc = measure_rounds(o, mq, topic, ops, net, max_calls, pub, ping);
    imi_mq_sub_free(sub);
    return rc;
}

/* ---- the bench ------------------------------------------------------------------------ */

static const size_t sizes[] = { 100, 1024, 65536 };

/* Messages per side and round for a size: fewer as they grow (same order of bytes). */
static long per_round(long ops, int rounds, size_t size)
{
    long n = ops / rounds / (size <= 100 ? 1 : size <= 1024 ? 4 : 64);
    return n < 20 ? 20 : n;
}

/* The most messages of size bytes a round over a network publishes (MAX_ROUND_*). */
static long round_most(const char *driver, size_t size)
{
    long bytes = strcmp(driver, "kafka") ? MAX_ROUND_BYTES : MAX_KAFKA_ROUND_BYTES;
    long most = bytes / (long)size;
    most = most < MAX_ROUND_MSGS ? most : MAX_ROUND_MSGS;
    return most < 20 ? 20 : most;
}

/* A broker that cannot cut a fetch wait short (librdkafka's mock cluster holds an empty
 * Fetch for fetch.wait.max.ms even when data arrives meanwhile) hands a round's first
 * batch to the consumer at the end of the fetch it has in flight, whose phase the
 * previous round fixed. Back to back, the rounds gave one side a fixed part of that wait
 * and the other the rest: the side whose consumer started first drew ~400 of 500 ms in
 * most rounds, whichever it was. A random pause of up to one fetch wait before each
 * side's round gives both the same expected wait. (A real broker answers at once.) */
static int64_t round_jitter_ms(const imi_config *cfg, const char *driver)
{
    if (strcmp(driver, "kafka"))
        return 0;
    int64_t ms = 500; /* librdkafka's default */
    imi_config_get_int(cfg, "mq", "kafka.fetch.wait.max.ms", &ms);
    return ms > 0 ? ms : 0;
}

static void random_pause(uint64_t *seed, int64_t max_ms)
{
    if (max_ms <= 0)
        return;
    *seed ^= *seed << 13; /* xorshift64 */
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    int64_t ns = (int64_t)(*seed % (uint64_t)(max_ms * 1000000));
    struct timespec ts = { ns / 1000000000, ns % 1000000000 };
    nanosleep(&ts, NULL);
}

/* Messages per round for a size that make a round last MIN_ROUND_NS on the faster side
 * (at most `most`), from one untimed round of n on each side (which also warms both up at
 * this size). */
static int round_length(live *im, live *raw, size_t size, long most, long *n)
{
    figures a = { 0 }, b = { 0 };
    if (live_round(im, size, *n, &a))
        return im->rc;
    if (raw && live_round(raw, size, *n, &b))
        return raw->rc;
    /* A round's time is its end-to-end time: the last message in. */
    double rate = raw && b.e2e > a.e2e ? b.e2e : a.e2e;
    *n = lengthened(*n, rate > 0 ? (double)*n * 1e9 / rate : 0, MIN_ROUND_NS, most);
    return IMI_OK;
}

/* Publish, end-to-end rate and p50 per message size, both targets in alternating rounds.
 * With auto_len, rounds are made long enough first (round_length). */
static int size_sweep(const imi_bench_opts *o, const char *driver, bool net, live *im,
                      live *raw, long ops, int64_t jitter_ms, bool auto_len)
{
    uint64_t seed = (uint64_t)imi_now_real_ns() | 1;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        long n = per_round(ops, o->rounds, sizes[z]);
        long most = net ? round_most(driver, sizes[z]) : n;
        n = n < most ? n : most;
        if (auto_len && round_length(im, raw, sizes[z], most, &n))
            return im->rc ? im->rc : raw->rc;
        const char *bn = raw ? raw->t->name : NULL;
        bench_cmp pub = { .bench = "mq", .driver = driver, .name = "publish", .unit = "msg/s",
                          .baseline_name = bn, .threads = 1, .size = (long)sizes[z] };
        bench_cmp e2e = pub, lat = pub;
        e2e.name = "end to end";
        lat.name = "e2e p50";
        lat.unit = "us";
        lat.lower_better = true;
        for (int r = 0; r < o->rounds; r++) {
            figures a = { 0 }, b = { 0 };
            for (int k = 0; k < 2; k++) {
                bool first = (k == 0) == bench_im_first(r);
                if (first || raw)
                    random_pause(&seed, jitter_ms);
                if (first && live_round(im, sizes[z], n, &a))
                    return im->rc;
                if (!first && raw && live_round(raw, sizes[z], n, &b))
                    return raw->rc;
            }
            bench_cmp_add(&pub, a.pub_async, b.pub_async);
            bench_cmp_add(&e2e, a.e2e, b.e2e);
            bench_cmp_add(&lat, a.p50_us, b.p50_us);
            bench_progress("mq %s %zu B: round %d of %d (%ld messages each side)", driver,
                           sizes[z], r + 1, o->rounds, n);
        }
        bench_cmp_report(o, &pub);
        bench_cmp_report(o, &e2e);
        bench_cmp_report(o, &lat);
    }
    return IMI_OK;
}

/* Messages one at a time (sync or paced) per round that make a round last half of
 * MIN_ROUND_NS on the faster side, from one untimed round of n on each side: 20 paced
 * NATS messages were 4 ms, 55 sync ones 14 ms. */
static int one_at_a_time_length(live *im, live *raw, bool paced, long *n)
{
    int64_t ns[2] = { 0, 0 };
    live *sides[2] = { im, raw };
    for (int k = 0; k < 2 && sides[k]; k++) {
        double unused;
        int64_t t0 = imi_now_mono_ns();
        if (paced ? live_paced(sides[k], *n, &unused) : live_sync(sides[k], *n, &unused))
            return sides[k]->rc;
        ns[k] = imi_now_mono_ns() - t0;
    }
    int64_t fast = raw && ns[1] < ns[0] ? ns[1] : ns[0];
    *n = lengthened(*n, (double)fast, MIN_ROUND_NS / 2, MAX_ONE_AT_A_TIME);
    return IMI_OK;
}

static int sync_rounds(const imi_bench_opts *o, const char *driver, live *im, live *raw,
                       long n)
{
    bench_cmp c = { .bench = "mq", .driver = driver, .name = "publish sync", .unit = "msg/s",
                    .baseline_name = raw ? raw->t->name : NULL, .threads = 1,
                    .size = BENCH_BODY };
    for (int r = 0; r < o->rounds; r++) {
        double a = 0, b = 0;
        for (int k = 0; k < 2; k++) {
            bool first = (k == 0) == bench_im_first(r);
            if (first && live_sync(im, n, &a))
                return im->rc;
            if (!first && raw && live_sync(raw, n, &b))
                return raw->rc;
        }
        bench_cmp_add(&c, a, b);
    }
    bench_progress("mq %s publish sync: %d rounds done (%ld messages each side)", driver,
                   o->rounds, n);
    bench_cmp_report(o, &c);
    return IMI_OK;
}

/* The latency of a lone message (the consumer idle, waiting for it), both targets in
 * alternating rounds; the e2e p50 of the size sweep is taken under a backlog instead. */
static int paced_rounds(const imi_bench_opts *o, const char *driver, live *im, live *raw,
                        long n)
{
    bench_cmp c = { .bench = "mq", .driver = driver, .name = "e2e p50 paced", .unit = "us",
                    .baseline_name = raw ? raw->t->name : NULL, .threads = 1,
                    .size = BENCH_BODY, .lower_better = true };
    for (int r = 0; r < o->rounds; r++) {
        double a = 0, b = 0;
        for (int k = 0; k < 2; k++) {
            bool first = (k == 0) == bench_im_first(r);
            if (first && live_paced(im, n, &a))
                return im->rc;
            if (!first && raw && live_paced(raw, n, &b))
                return raw->rc;
        }
        bench_cmp_add(&c, a, b);
    }
    bench_progress("mq %s e2e p50 paced: %d rounds done (%ld messages each side)", driver,
                   o->rounds, n);
    bench_cmp_report(o, &c);
    return IMI_OK;
}

int imi_bench_mq(const imi_bench_opts *o)
{
    imi_app *app = cli_open_app(o->config_path);
    if (!app)
        return 1;
    imi_target it = { 0 };
    int rc = imi_mq_open(app, NULL, &it.prod);
    if (!rc)
        rc = imi_mq_open(app, NULL, &it.cons);
    if (rc) {
        cli_fail(rc, "bench mq: open [mq]");
        imi_mq_free(it.prod);
        imi_app_free(app);
        return 1;
    }
    const char *driver = imi_mq_driver_name(it.prod);
    bool net = strcmp(driver, "mem") != 0;
    /* JetStream is another workload than core NATS: its rows say so. */
    int js = 0;
    if (!strcmp(driver, "nats") &&
        !imi_config_get_bool(imi_app_config(app), "mq", "jetstream", &js) && js)
        driver = "nats-js";
    long ops = o->ops ? o->ops : net ? DEFAULT_OPS_NET : DEFAULT_OPS_MEM;
    long sync_ops = net ? MAX_SYNC_NET / o->rounds : ops / o->rounds;
    bool async = imi_mq_caps(it.prod) & IMI_MQ_CAP_ASYNC;
    bench_target imi = { .name = "im-infra", .ud = &it, .consume = imi_consume,
                         .publish_async = async ? imi_pub_async : NULL, .flush = imi_flush,
                         .publish_sync = imi_pub_sync, .stop = imi_stop };
    bench_target raw = { 0 };
    bool has_raw = bench_mq_raw_target(imi_app_config(app), &raw);
    if (!has_raw && !net)
        has_raw = bench_mq_memq_target(&raw);
    long paced_ops = net ? 20 : 1000; /* per side and round */
    long cap = per_round(ops, o->rounds, sizes[0]);
    cap = cap > sync_ops ? cap : sync_ops;
    cap = cap > paced_ops ? cap : paced_ops;
    live li = { 0 }, lr = { 0 };
    rc = live_start(&li, &imi, cap);
    if (!rc && has_raw)
        rc = live_start(&lr, &raw, cap);
    /* Rounds made to last over a network: not on kafka (librdkafka's mock cluster keeps
     * 5 MiB a partition, and longer rounds would outrun it), nor in process (mem's rounds
     * of 200k / rounds messages spread less than NATS's did). --ops fixes them instead. */
    bool auto_len = !o->ops && net && strcmp(driver, "kafka");
    if (!rc)
        rc = size_sweep(o, driver, net, &li, has_raw ? &lr : NULL, ops,
                        round_jitter_ms(imi_app_config(app), driver), auto_len);
    if (!rc && auto_len)
        rc = one_at_a_time_length(&li, has_raw ? &lr : NULL, false, &sync_ops);
    if (!rc && auto_len)
        rc = one_at_a_time_length(&li, has_raw ? &lr : NULL, true, &paced_ops);
    if (!rc)
        rc = sync_rounds(o, driver, &li, has_raw ? &lr : NULL, sync_ops);
    if (!rc)
        rc = paced_rounds(o, driver, &li, has_raw ? &lr : NULL, paced_ops);
    live_stop(&li);
    if (has_raw)
        live_stop(&lr);
    bench_cmp pub = { .bench = "mq", .driver = driver, .name = "publish_async call",
                      .unit = "ns/call", .baseline_name = "driver slot", .threads = 1,
                      .lower_better = true };
    bench_cmp ping = pub;
    ping.name = "ping call";
    /* Auto length: up to MAX_COST_CALLS a round, where nothing acknowledges each one. */
    long max_calls = !auto_len ? 0 : js ? MAX_COST_CALLS_ACKED : MAX_COST_CALLS;
    int crc = rc ? rc : measure_costs(o, it.prod, it.cons, ops, net, max_calls, &pub, &ping);
    if (!rc && crc)
        fprintf(stderr, "imi bench mq: front-end cost not measured: %s (%s)\n",
                imi_error_message(), imi_err_name(crc));
    if (!rc && !crc) {
        bench_cmp_report(o, &pub);
        bench_cmp_report(o, &ping);
    }
    imi_mq_free(it.prod);
    imi_mq_free(it.cons);
    cli_print_counters(app, "counters of the mq bench", o->json ? stderr : stdout);
    imi_app_free(app);
    return rc ? 1 : 0;
}
