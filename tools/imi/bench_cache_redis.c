/* imi bench cache on redis: the same workloads through im-infra and through raw hiredis
 * (blocking, one connection per thread, keys formatted beforehand) on the same server, in
 * the same run, alternating rounds so that drift on a shared machine hits both sides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_cache.h"
#include "bench_cmp.h"
#include "cli.h"

#ifndef IMI_BENCH_HAVE_HIREDIS
int bench_cache_redis_compare(const imi_bench_opts *o, imi_app *app, imi_cache *c, long ops)
{
    (void)o, (void)app, (void)c, (void)ops;
    return -1;
}
#else
#include <hiredis/hiredis.h>

#define THREADS 8

typedef struct raw_side {
    redisContext *conns[THREADS];
    char keys[BENCH_CACHE_KEYS + BENCH_CACHE_MGET][96];
    size_t lens[BENCH_CACHE_KEYS + BENCH_CACHE_MGET];
} raw_side;

typedef struct imi_side {
    imi_cache *c;
    imi_buf bufs[THREADS][BENCH_CACHE_MGET];
    int found[THREADS][BENCH_CACHE_MGET];
    const char *keys[BENCH_CACHE_KEYS + BENCH_CACHE_MGET];
} imi_side;

static int raw_reply(redisReply *r)
{
    int rc = !r || r->type == REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return rc;
}

static int raw_get(void *s, int th, long i)
{
    raw_side *x = s;
    long k = i % BENCH_CACHE_KEYS;
    const char *argv[] = { "GET", x->keys[k] };
    size_t lens[] = { 3, x->lens[k] };
    return raw_reply(redisCommandArgv(x->conns[th], 2, argv, lens));
}

static int raw_set(void *s, int th, long i)
{
    raw_side *x = s;
    long k = i % BENCH_CACHE_KEYS;
    const char *argv[] = { "SET", x->keys[k], bench_cache_value };
    size_t lens[] = { 3, x->lens[k], BENCH_CACHE_VALUE };
    return raw_reply(redisCommandArgv(x->conns[th], 3, argv, lens));
}

static int raw_mget(void *s, int th, long i)
{
    raw_side *x = s;
    const char *argv[BENCH_CACHE_MGET + 1] = { "MGET" };
    size_t lens[BENCH_CACHE_MGET + 1] = { 4 };
    long first = (i * 7) % BENCH_CACHE_KEYS;
    for (int j = 0; j < BENCH_CACHE_MGET; j++) {
        argv[j + 1] = x->keys[first + j];
        lens[j + 1] = x->lens[first + j];
    }
    return raw_reply(redisCommandArgv(x->conns[th], BENCH_CACHE_MGET + 1, argv, lens));
}

static int imi_get(void *s, int th, long i)
{
    imi_side *x = s;
    return imi_cache_get(x->c, NULL, x->keys[i % BENCH_CACHE_KEYS], &x->bufs[th][0]);
}

static int imi_set(void *s, int th, long i)
{
    (void)th;
    imi_side *x = s;
    return imi_cache_set(x->c, NULL, x->keys[i % BENCH_CACHE_KEYS], bench_cache_value,
                         BENCH_CACHE_VALUE, 0);
}

static int imi_mget(void *s, int th, long i)
{
    imi_side *x = s;
    return imi_cache_mget(x->c, NULL, &x->keys[(i * 7) % BENCH_CACHE_KEYS], BENCH_CACHE_MGET,
                          x->bufs[th], x->found[th]);
}

/* Connections as the driver makes them: addr, AUTH [user] password, SELECT db. */
static int raw_open(const imi_config *cfg, raw_side *x)
{
    const char *addr = imi_config_get(cfg, "cache", "addr", NULL);
    const char *user = imi_config_get(cfg, "cache", "user", NULL);
    const char *pw = imi_config_get(cfg, "cache", "password", NULL);
    const char *db = imi_config_get(cfg, "cache", "db", NULL);
    char host[256] = "127.0.0.1";
    int port = 6379;
    if (addr) {
        const char *colon = strrchr(addr, ':');
        size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
        snprintf(host, sizeof host, "%.*s", (int)n, addr);
        if (colon)
            port = atoi(colon + 1);
    }
    for (int t = 0; t < THREADS; t++) {
        redisContext *rc = x->conns[t] = redisConnect(host, port);
        if (!rc || rc->err) {
            fprintf(stderr, "imi bench cache: hiredis connect %s:%d: %s\n", host, port,
                    rc ? rc->errstr : "out of memory");
            return -1;
        }
        if (pw && *pw && raw_reply(user && *user ? redisCommand(rc, "AUTH %s %s", user, pw)
                                                 : redisCommand(rc, "AUTH %s", pw)))
            return -1;
        if (db && strcmp(db, "0") && raw_reply(redisCommand(rc, "SELECT %s", db)))
            return -1;
    }
    return 0;
}

static int pair(const imi_bench_opts *o, const char *op, int threads, long calls,
                bench_cache_op imi_fn, imi_side *is, bench_cache_op raw_fn, raw_side *rs)
{
    bench_cmp c = { .driver = "redis", .name = op, .baseline_name = "hiredis",
                    .threads = threads };
    return bench_cache_compare(o, &c, imi_fn, is, raw_fn, rs, calls);
}

int bench_cache_redis_compare(const imi_bench_opts *o, imi_app *app, imi_cache *c, long ops)
{
    const imi_config *cfg = imi_app_config(app);
    const char *prefix = imi_config_get(cfg, "cache", "prefix", NULL);
    raw_side *rs = calloc(1, sizeof *rs);
    imi_side *is = calloc(1, sizeof *is);
    int rc = rs && is ? 0 : -1;
    for (long i = 0; !rc && i < BENCH_CACHE_KEYS + BENCH_CACHE_MGET; i++) {
        is->keys[i] = bench_cache_key(i);
        rs->lens[i] = (size_t)snprintf(rs->keys[i], sizeof rs->keys[i], "%s%s",
                                       prefix ? prefix : "", bench_cache_key(i));
    }
    if (!rc) {
        is->c = c;
        rc = raw_open(cfg, rs);
    }
    int sweep[4], n_sweep = bench_thread_sweep(o, sweep);
    if (!rc)
        rc = pair(o, "set", 1, ops, imi_set, is, raw_set, rs) ||
             pair(o, "mget100", 1, ops / 20, imi_mget, is, raw_mget, rs);
    for (int i = 0; i < n_sweep && !rc; i++)
        rc = sweep[i] > THREADS ? 0 : pair(o, "get", sweep[i], ops, imi_get, is, raw_get, rs);
    for (int t = 0; rs && t < THREADS; t++)
        if (rs->conns[t])
            redisFree(rs->conns[t]);
    for (int t = 0; is && t < THREADS; t++)
        for (int k = 0; k < BENCH_CACHE_MGET; k++)
            imi_buf_free(&is->bufs[t][k]);
    free(rs);
    free(is);
    if (rc)
        fprintf(stderr, "imi bench cache: the hiredis comparison failed\n");
    return rc ? 1 : 0;
}
#endif
