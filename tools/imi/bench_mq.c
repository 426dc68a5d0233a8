/* imi bench mq: publish throughput (async + flush, and sync), end-to-end throughput and
 * latency through a consumer group, for im-infra and, on kafka and nats, for the client
 * library used directly with the same settings, in the same run, with the ratio. Then
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
#include "bench_mq.h"
#include "cli.h"
#include "mq_internal.h"

#define DEFAULT_OPS_MEM 200000L
#define DEFAULT_OPS_NET 100000L
#define MAX_SYNC_NET 500L
#define WAIT_NS (120 * 1000000000LL)

void bench_sink_record(bench_sink *s, const void *body, size_t len)
{
    int64_t now = imi_now_mono_ns();
    char buf[64];
    size_t n = len < sizeof buf - 1 ? len : sizeof buf - 1;
    memcpy(buf, body, n);
    buf[n] = '\0';
    long seq = -1;
    long long sent = 0;
    sscanf(buf, "%ld %lld", &seq, &sent);
    pthread_mutex_lock(&s->lock);
    if (seq >= 0 && seq < s->cap)
        s->lat_ns[seq] = now - sent;
    s->got++;
    s->last_ns = now;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static bool sink_wait(bench_sink *s, long want)
{
    int64_t deadline = imi_now_mono_ns() + WAIT_NS;
    pthread_mutex_lock(&s->lock);
    while (s->got < want && imi_now_mono_ns() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    bool ok = s->got >= want;
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static size_t make_body(char *body, long seq)
{
    int len = snprintf(body, BENCH_BODY, "%ld %lld ", seq, (long long)imi_now_mono_ns());
    memset(body + len, 'x', BENCH_BODY - (size_t)len);
    return BENCH_BODY;
}

/* ---- im-infra as a target ----------------------------------------------------------- */

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

/* ---- one run over a target ------------------------------------------------------------ */

typedef struct figures {
    double pub_async, pub_sync, e2e, p50_us, p99_us;
} figures;

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int run_target(const bench_target *t, long ops, long sync_ops, figures *f)
{
    char topic[96], body[BENCH_BODY];
    snprintf(topic, sizeof topic, "imi-bench-%s-%d-%llx", t->name, (int)getpid(),
             (unsigned long long)imi_now_real_ns());
    bench_sink s = { .cap = ops };
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    s.lat_ns = calloc((size_t)ops, sizeof *s.lat_ns);
    int rc = s.lat_ns ? t->consume(t->ud, topic, &s) : IMI_ENOMEM;
    /* Warm-up: one message end to end (group join, topic creation) before timing. */
    if (!rc && !(rc = t->publish_sync(t->ud, topic, body, make_body(body, -1))) &&
        !sink_wait(&s, 1))
        rc = IMI_ETIMEDOUT;
    if (rc)
        goto out;
    pthread_mutex_lock(&s.lock);
    s.got = 0;
    pthread_mutex_unlock(&s.lock);
    bool async = t->publish_async != NULL;
    int64_t t0 = imi_now_mono_ns();
    for (long i = 0; i < ops && !rc; i++)
        rc = async ? t->publish_async(t->ud, topic, body, make_body(body, i))
                   : t->publish_sync(t->ud, topic, body, make_body(body, i));
    if (!rc && async)
        rc = t->flush(t->ud);
    if (rc)
        goto out;
    f->pub_async = (double)ops * 1e9 / (double)(imi_now_mono_ns() - t0);
    if (!sink_wait(&s, ops)) {
        fprintf(stderr, "imi bench mq: %s: %ld of %ld messages arrived\n", t->name, s.got, ops);
        rc = IMI_ETIMEDOUT;
        goto out;
    }
    f->e2e = (double)ops * 1e9 / (double)(s.last_ns - t0);
    qsort(s.lat_ns, (size_t)ops, sizeof *s.lat_ns, cmp_i64);
    f->p50_us = (double)s.lat_ns[ops / 2] / 1e3;
    f->p99_us = (double)s.lat_ns[ops * 99 / 100] / 1e3;
    pthread_mutex_lock(&s.lock);
    s.cap = 0;
    pthread_mutex_unlock(&s.lock);
    t0 = imi_now_mono_ns();
    for (long i = 0; i < sync_ops && !rc; i++)
        rc = t->publish_sync(t->ud, topic, body, make_body(body, ops + i));
    f->pub_sync = (double)sync_ops * 1e9 / (double)(imi_now_mono_ns() - t0);
    if (!rc && !sink_wait(&s, ops + sync_ops))
        rc = IMI_ETIMEDOUT;
out:
    if (rc)
        fprintf(stderr, "imi bench mq: %s: %s (%s)\n", t->name, imi_error_message(),
                imi_err_name(rc));
    t->stop(t->ud);
    free(s.lat_ns);
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    return rc;
}

/* ---- the front-end's own cost --------------------------------------------------------- */

typedef struct costs {
    double pub_api, pub_driver, ping_api, ping_driver;
} costs;

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

static int measure_rounds(imi_mq *mq, const char *topic, long ops, bool net, costs *c)
{
    long per = ops / 8 > 0 ? ops / 8 : 1, pings = net ? 200 : per * 4;
    int64_t t[4] = { 0 };
    for (int r = 0; r < 4; r++) {
        int64_t a = time_calls(mq, topic, 0, per);
        /* The driver slot directly, with a completion the front-end would have made. */
        char body[BENCH_BODY];
        imi_mq_msg m = { .topic = topic, .body = body, .body_len = sizeof body };
        imi_mq_done d = { .fn = noop_done, .core = NULL };
        int64_t t0 = imi_now_mono_ns();
        for (long i = 0; i < per; i++) {
            make_body(body, -1);
            if (mq->p->p_publish_async(mq->in.state, NULL, &m, &d))
                return IMI_EINTERNAL;
        }
        int64_t b = imi_now_mono_ns() - t0;
        int64_t p = time_calls(mq, topic, 2, pings), q = time_calls(mq, topic, 3, pings);
        if (a < 0 || p < 0 || q < 0 || imi_mq_flush(mq, NULL))
            return IMI_EINTERNAL;
        t[0] += a, t[1] += b, t[2] += p, t[3] += q;
    }
    *c = (costs){ (double)t[0] / (4.0 * per), (double)t[1] / (4.0 * per),
                  (double)t[2] / (4.0 * pings), (double)t[3] / (4.0 * pings) };
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
static int measure_costs(imi_mq *mq, imi_mq *cons, long ops, bool net, costs *c)
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
    rc = measure_rounds(mq, topic, ops, net, c);
    imi_mq_sub_free(sub);
    return rc;
}

/* ---- report --------------------------------------------------------------------------- */

static void print_figures(const imi_bench_opts *o, const char *who, const figures *f)
{
    if (o->json) {
        printf("\"%s\":{\"publish_async_per_s\":%.0f,\"publish_sync_per_s\":%.0f,"
               "\"e2e_per_s\":%.0f,\"e2e_p50_us\":%.1f,\"e2e_p99_us\":%.1f}", who, f->pub_async,
               f->pub_sync, f->e2e, f->p50_us, f->p99_us);
        return;
    }
    printf("  %-10s publish async+flush %9.0f msg/s   sync %8.0f msg/s   end to end %9.0f "
           "msg/s   p50 %8.1f us   p99 %8.1f us\n", who, f->pub_async, f->pub_sync, f->e2e,
           f->p50_us, f->p99_us);
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
    long ops = o->ops ? o->ops : net ? DEFAULT_OPS_NET : DEFAULT_OPS_MEM;
    long sync_ops = net ? (ops < MAX_SYNC_NET ? ops : MAX_SYNC_NET) : ops;
    bool async = imi_mq_caps(it.prod) & IMI_MQ_CAP_ASYNC;
    bench_target imi = { .name = "im-infra", .ud = &it, .consume = imi_consume,
                         .publish_async = async ? imi_pub_async : NULL, .flush = imi_flush,
                         .publish_sync = imi_pub_sync, .stop = imi_stop };
    bench_target raw = { 0 };
    bool has_raw = bench_mq_raw_target(imi_app_config(app), &raw);
    figures fi = { 0 }, fr = { 0 };
    costs c = { 0 };
    rc = run_target(&imi, ops, sync_ops, &fi);
    if (!rc && has_raw)
        rc = run_target(&raw, ops, sync_ops, &fr);
    int crc = rc ? rc : measure_costs(it.prod, it.cons, ops, net, &c);
    if (!rc && crc)
        fprintf(stderr, "imi bench mq: front-end cost not measured: %s (%s)\n",
                imi_error_message(), imi_err_name(crc));
    if (!rc && o->json) {
        printf("{\"bench\":\"mq\",\"driver\":\"%s\",\"ops\":%ld,\"body_bytes\":%d,", driver, ops,
               BENCH_BODY);
        print_figures(o, "imi", &fi);
        if (has_raw) {
            printf(",");
            print_figures(o, "raw", &fr);
            printf(",\"ratio_publish\":%.3f,\"ratio_e2e\":%.3f", fi.pub_async / fr.pub_async,
                   fi.e2e / fr.e2e);
        }
        if (!crc)
            printf(",\"publish_api_ns\":%.1f,\"publish_driver_ns\":%.1f,\"ping_api_ns\":%.1f,"
                   "\"ping_driver_ns\":%.1f", c.pub_api, c.pub_driver, c.ping_api, c.ping_driver);
        printf("}\n");
    } else if (!rc) {
        printf("mq (driver %s): %ld messages of %d bytes (sync publish: %ld), one consumer "
               "group\n", driver, ops, BENCH_BODY, sync_ops);
        print_figures(o, "im-infra", &fi);
        if (has_raw) {
            print_figures(o, raw.name, &fr);
            printf("  ratio im-infra/raw: publish %.3f   end to end %.3f   (target >= 0.95)\n",
                   fi.pub_async / fr.pub_async, fi.e2e / fr.e2e);
        }
        if (!crc) {
            printf("  async publish via imi_mq_publish_async %8.1f ns/call, via the driver "
                   "slot %8.1f ns/call (front-end %+.1f ns)\n", c.pub_api, c.pub_driver,
                   c.pub_api - c.pub_driver);
            printf("  ping via imi_mq_ping %8.1f ns/call, via the driver slot %8.1f ns/call "
                   "(front-end %+.1f ns)\n", c.ping_api, c.ping_driver, c.ping_api - c.ping_driver);
        }
    }
    imi_mq_free(it.prod);
    imi_mq_free(it.cons);
    cli_print_counters(app, "counters of the mq bench");
    imi_app_free(app);
    return rc ? 1 : 0;
}
