/* imi bench cache: get, set, incr and mget of 100 keys through im-infra, with ops/s and
 * p50/p99 per operation, and beside it a baseline in the same run:
 *  - mem: the same driver's vtable called directly on a state opened the same way, so
 *    the difference is what the front-end adds per call (closed check and in-flight
 *    count, ctx check, key prefixing); the keys are formatted once, outside the timing;
 *  - redis: raw hiredis on the same server (bench_cache_redis.c);
 *  - memcached: raw libmemcached on the same servers (bench_cache_memcached.c).
 * Without a [cache] section in the config, an in-process mem cache is used. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_cache.h"
#include "bench_cmp.h"
#include "cli.h"
#include "instance.h"
#include "iminfra/driver/cache_driver.h"

#define MAX_THREADS 64

const char bench_cache_value[BENCH_CACHE_VALUE] = "0123456789abcdefghijklmnopqrstuvwxyz"
                                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-"
                                                 "abcdefghijklmnopqrstuvwxy";
static char keys[BENCH_CACHE_KEYS][32];

const char *bench_cache_key(long i)
{
    return keys[i % BENCH_CACHE_KEYS];
}

/* ---- the harness ---------------------------------------------------------------------- */

typedef struct worker {
    bench_cache_op fn;
    void *side;
    int thread;
    long first, n, failures;
    int64_t *lat;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (long i = 0; i < w->n; i++) {
        int64_t t0 = imi_now_mono_ns();
        if (w->fn(w->side, w->thread, w->first + i))
            w->failures++;
        w->lat[i] = imi_now_mono_ns() - t0;
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

int bench_cache_time(bench_cache_op fn, void *side, int threads, long calls,
                     bench_cache_result *r)
{
    int64_t *lat = malloc((size_t)calls * sizeof *lat);
    worker w[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    if (!lat)
        return -1;
    long first = 0;
    int64_t t0 = imi_now_mono_ns();
    for (int i = 0; i < threads; i++) {
        long n = calls / threads + (i < calls % threads);
        w[i] = (worker){ .fn = fn, .side = side, .thread = i, .first = first, .n = n,
                         .lat = lat + first };
        first += n;
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    *r = (bench_cache_result){ 0 };
    for (int i = 0; i < threads; i++) {
        pthread_join(th[i], NULL);
        r->failures += w[i].failures;
    }
    int64_t total = imi_now_mono_ns() - t0;
    qsort(lat, (size_t)calls, sizeof *lat, cmp_i64);
    r->ops_per_s = (double)calls / ((double)total / 1e9);
    r->ns_per_call = (double)total * threads / (double)calls;
    r->p50_us = (double)lat[calls / 2] / 1e3;
    r->p99_us = (double)lat[calls * 99 / 100] / 1e3;
    free(lat);
    return 0;
}

int bench_cache_compare(const imi_bench_opts *o, bench_cmp *c, bench_cache_op imi_fn,
                        void *is, bench_cache_op base_fn, void *bs, long calls)
{
    c->bench = "cache";
    c->unit = "ops/s";
    calls = calls / o->rounds > c->threads ? calls / o->rounds : c->threads;
    for (int r = 0; r < o->rounds; r++) {
        bench_cache_result a = { 0 }, b = { 0 };
        for (int k = 0; k < 2; k++) {
            bool im = (k == 0) == bench_im_first(r);
            if (im ? bench_cache_time(imi_fn, is, c->threads, calls, &a)
                   : bench_cache_time(base_fn, bs, c->threads, calls, &b))
                return -1;
        }
        if (a.failures || b.failures) {
            fprintf(stderr, "imi bench cache: %s: %ld calls failed\n", c->name,
                    a.failures + b.failures);
            return -1;
        }
        bench_cmp_add(c, a.ops_per_s, b.ops_per_s);
    }
    bench_progress("cache %s %s, %d thread(s): %d rounds done", c->driver, c->name, c->threads,
                   o->rounds);
    bench_cmp_report(o, c);
    return 0;
}

void bench_cache_row(const imi_bench_opts *o, const char *op, const char *impl, int threads,
                     const bench_cache_result *r, double ratio)
{
    if (o->json) {
        printf("{\"bench\":\"cache\",\"op\":\"%s\",\"impl\":\"%s\",\"threads\":%d,"
               "\"ops_per_s\":%.0f,\"p50_us\":%.2f,\"p99_us\":%.2f,\"ns_per_call\":%.1f,"
               "\"failures\":%ld", op, impl, threads, r->ops_per_s, r->p50_us, r->p99_us,
               r->ns_per_call, r->failures);
        if (ratio > 0)
            printf(",\"ratio\":%.3f", ratio);
        puts("}");
        return;
    }
    printf("%-12s %-10s %3d  %12.0f  %8.2f  %8.2f  %9.1f", op, impl, threads, r->ops_per_s,
           r->p50_us, r->p99_us, r->ns_per_call);
    if (ratio > 0)
        printf("  %6.3f", ratio);
    if (r->failures)
        printf("  (%ld failed)", r->failures);
    putchar('\n');
}

static void header(const imi_bench_opts *o, const char *title)
{
    if (!o->json)
        printf("\n%s\n%-12s %-10s %3s  %12s  %8s  %8s  %9s  %6s\n", title, "op", "impl", "thr",
               "ops/s", "p50 us", "p99 us", "ns/call", "ratio");
}

/* ---- im-infra operations ------------------------------------------------------------- */

typedef struct imi_side {
    imi_cache *c;
    imi_buf bufs[MAX_THREADS][BENCH_CACHE_MGET];
    int found[MAX_THREADS][BENCH_CACHE_MGET];
    const char *mkeys[BENCH_CACHE_KEYS + BENCH_CACHE_MGET];
} imi_side;

static int imi_get(void *s, int th, long i)
{
    imi_side *x = s;
    return imi_cache_get(x->c, NULL, bench_cache_key(i), &x->bufs[th][0]);
}

static int imi_set(void *s, int th, long i)
{
    (void)th;
    return imi_cache_set(((imi_side *)s)->c, NULL, bench_cache_key(i), bench_cache_value,
                         BENCH_CACHE_VALUE, 0);
}

static int imi_incr(void *s, int th, long i)
{
    (void)th;
    int64_t v;
    return imi_cache_incr(((imi_side *)s)->c, NULL, i & 1 ? "bench:n1" : "bench:n0", 1, &v);
}

static int imi_mget(void *s, int th, long i)
{
    imi_side *x = s;
    return imi_cache_mget(x->c, NULL, &x->mkeys[(i * 7) % BENCH_CACHE_KEYS], BENCH_CACHE_MGET,
                          x->bufs[th], x->found[th]);
}

/* ---- the mem driver called directly -------------------------------------------------- */

typedef struct direct_side {
    imi_cache *handle;              /* a second handle, only for its driver state */
    void *state;
    const imi_cache_driver *vt;
    char keys[BENCH_CACHE_KEYS][64];
    size_t lens[BENCH_CACHE_KEYS];
    char nkeys[2][64];
    imi_buf bufs[MAX_THREADS];
} direct_side;

static int direct_get(void *s, int th, long i)
{
    direct_side *d = s;
    long k = i % BENCH_CACHE_KEYS;
    return d->vt->get(d->state, NULL, d->keys[k], d->lens[k], &d->bufs[th]);
}

static int direct_set(void *s, int th, long i)
{
    (void)th;
    direct_side *d = s;
    long k = i % BENCH_CACHE_KEYS;
    return d->vt->set(d->state, NULL, d->keys[k], d->lens[k], bench_cache_value,
                      BENCH_CACHE_VALUE, 0);
}

static int direct_incr(void *s, int th, long i)
{
    (void)th;
    direct_side *d = s;
    int64_t v;
    return d->vt->incr(d->state, NULL, d->nkeys[i & 1], strlen(d->nkeys[i & 1]), 1, &v);
}

/* Opens the [cache] driver a second time, to call its slots bypassing the front-end. */
static int direct_open(imi_app *app, direct_side *d)
{
    int rc = imi_cache_open(app, NULL, &d->handle);
    if (rc)
        return rc;
    const imi_instance *in = (const imi_instance *)d->handle; /* imi_cache starts with one */
    d->vt = in->vt;
    d->state = in->state;
    const char *prefix = imi_config_get(imi_app_config(app), "cache", "prefix", NULL);
    for (long i = 0; i < BENCH_CACHE_KEYS; i++) {
        int n = snprintf(d->keys[i], sizeof d->keys[i], "%s%s", prefix ? prefix : "",
                         bench_cache_key(i));
        d->lens[i] = (size_t)n;
    }
    for (int i = 0; i < 2; i++)
        snprintf(d->nkeys[i], sizeof d->nkeys[i], "%sbench:n%d", prefix ? prefix : "", i);
    return IMI_OK;
}

static void direct_close(direct_side *d)
{
    imi_cache_free(d->handle);
    for (int i = 0; i < MAX_THREADS; i++)
        imi_buf_free(&d->bufs[i]);
}

/* ---- the benchmark ------------------------------------------------------------------- */

static int prefill(imi_cache *c)
{
    for (long i = 0; i < BENCH_CACHE_KEYS; i++) {
        int rc = imi_cache_set(c, NULL, bench_cache_key(i), bench_cache_value, BENCH_CACHE_VALUE, 0);
        if (rc)
            return cli_fail(rc, "bench cache: prefill");
    }
    return 0;
}

static int mem_compare(const imi_bench_opts *o, imi_app *app, imi_side *x, long ops, int threads)
{
    direct_side *d = calloc(1, sizeof *d);
    int rc = d ? direct_open(app, d) : IMI_ENOMEM;
    if (rc) {
        free(d);
        return cli_fail(rc, "bench cache: opening the driver directly");
    }
    static const struct { const char *name; bench_cache_op imi, direct; } ops_[] = {
        { "get", imi_get, direct_get },
        { "set", imi_set, direct_set },
        { "incr", imi_incr, direct_incr },
    };
    int sweep[4], n_sweep = bench_thread_sweep(o, sweep);
    (void)threads;
    for (size_t i = 0; i < sizeof ops_ / sizeof ops_[0] && !rc; i++) {
        for (long k = 0; k < BENCH_CACHE_KEYS; k++)
            direct_set(d, 0, k);
        /* threads swept for get; set and incr on one thread */
        for (int t = 0; t < (i == 0 ? n_sweep : 1) && !rc; t++) {
            bench_cmp c = { .driver = "mem", .name = ops_[i].name,
                            .baseline_name = "driver direct", .threads = sweep[t] };
            rc = bench_cache_compare(o, &c, ops_[i].imi, x, ops_[i].direct, d, ops);
            double a, b, ratio, lo, hi;
            bench_cmp_stats(&c, &a, &b, &ratio, &lo, &hi);
            if (!rc && !o->json)
                printf("%-40s front-end cost: %+.1f ns per call\n", "",
                       1e9 * c.threads / a - 1e9 * c.threads / b);
        }
    }
    direct_close(d);
    free(d);
    return rc;
}

static imi_app *open_bench_app(const char *path)
{
    imi_app *app = NULL;
    if (path && imi_app_open(path, &app) == IMI_OK &&
        imi_config_has_section(imi_app_config(app), "cache"))
        return app;
    imi_app_free(app);
    imi_config *cfg;
    if (imi_config_parse("[log]\nlevel = warn\n[cache]\ndriver = mem\nprefix = bench:\n",
                         "<bench>", ".", &cfg) || imi_app_open_config(cfg, &app)) {
        cli_fail(imi_error_code(), "bench cache: config");
        return NULL;
    }
    return app;
}

int imi_bench_cache(const imi_bench_opts *o)
{
    for (long i = 0; i < BENCH_CACHE_KEYS; i++)
        snprintf(keys[i], sizeof keys[i], "bench:k:%ld", i);
    imi_app *app = open_bench_app(o->config_path);
    if (!app)
        return 1;
    imi_side *x = calloc(1, sizeof *x);
    int rc = x ? imi_cache_open(app, NULL, &x->c) : IMI_ENOMEM;
    if (rc) {
        free(x);
        imi_app_free(app);
        return cli_fail(rc, "bench cache: open");
    }
    bool mem = !strcmp(imi_cache_driver_name(x->c), "mem");
    int threads = o->threads > 0 ? (o->threads > MAX_THREADS ? MAX_THREADS : o->threads) : 1;
    long ops = o->ops > 0 ? o->ops : mem ? 300000 : 20000;
    for (long i = 0; i < BENCH_CACHE_KEYS + BENCH_CACHE_MGET; i++)
        x->mkeys[i] = bench_cache_key(i);
    rc = prefill(x->c);
    if (!o->json && !rc)
        printf("imi bench cache: driver %s, %ld ops per run, %d thread(s), %d-byte values\n",
               imi_cache_driver_name(x->c), ops, threads, BENCH_CACHE_VALUE);
    static const struct { const char *name; bench_cache_op fn; int per; } ops_[] = {
        { "get", imi_get, 1 },
        { "set", imi_set, 1 },
        { "incr", imi_incr, 1 },
        { "mget100", imi_mget, BENCH_CACHE_MGET },
    };
    if (!rc)
        header(o, "im-infra, per operation (mget100: one call of 100 keys)");
    for (size_t i = 0; i < sizeof ops_ / sizeof ops_[0] && !rc; i++) {
        bench_cache_result r;
        long calls = ops / ops_[i].per > threads ? ops / ops_[i].per : threads;
        rc = bench_cache_time(ops_[i].fn, x, threads, calls, &r);
        if (!rc)
            bench_cache_row(o, ops_[i].name, "im-infra", threads, &r, 0);
    }
    if (!rc && mem)
        rc = mem_compare(o, app, x, ops, threads);
    else if (!rc && !strcmp(imi_cache_driver_name(x->c), "redis") &&
             (rc = bench_cache_redis_compare(o, app, x->c, ops)) < 0) {
        fprintf(stderr, "imi bench cache: built without hiredis: no raw baseline\n");
        rc = 0;
    } else if (!rc && !strcmp(imi_cache_driver_name(x->c), "memcached") &&
               (rc = bench_cache_memcached_compare(o, app, x->c, ops)) < 0) {
        fprintf(stderr, "imi bench cache: built without libmemcached: no raw baseline\n");
        rc = 0;
    }
    imi_cache_free(x->c);
    for (int t = 0; t < MAX_THREADS; t++)
        for (int k = 0; k < BENCH_CACHE_MGET; k++)
            imi_buf_free(&x->bufs[t][k]);
    free(x);
    cli_print_counters(app, "counters of the cache bench", o->json ? stderr : stdout);
    imi_app_free(app);
    return rc ? 1 : 0;
}
