/* imi bench cache on memcached: the same workloads through im-infra and through raw
 * libmemcached (blocking, one handle per thread, the driver's behaviours: binary protocol,
 * ketama, TCP_NODELAY; keys formatted beforehand) on the same servers, in the same run,
 * alternating rounds so that drift on a shared machine hits both sides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_cache.h"
#include "bench_cmp.h"
#include "cli.h"

#ifndef IMI_BENCH_HAVE_LIBMEMCACHED
int bench_cache_memcached_compare(const imi_bench_opts *o, imi_app *app, imi_cache *c, long ops)
{
    (void)o, (void)app, (void)c, (void)ops;
    return -1;
}
#else
#include <libmemcached/memcached.h>

#define THREADS 8
#define COUNTER "bench:mc:n"

typedef struct raw_side {
    memcached_st *conns[THREADS];
    memcached_result_st results[THREADS];
    char keys[BENCH_CACHE_KEYS + BENCH_CACHE_MGET][96];
    const char *ptrs[BENCH_CACHE_KEYS + BENCH_CACHE_MGET];
    size_t lens[BENCH_CACHE_KEYS + BENCH_CACHE_MGET];
    char counter[96];
    size_t counter_len;
} raw_side;

typedef struct imi_side {
    imi_cache *c;
    imi_buf bufs[THREADS][BENCH_CACHE_MGET];
    int found[THREADS][BENCH_CACHE_MGET];
    const char *keys[BENCH_CACHE_KEYS + BENCH_CACHE_MGET];
} imi_side;

static int raw_get(void *s, int th, long i)
{
    raw_side *x = s;
    long k = i % BENCH_CACHE_KEYS;
    size_t len;
    uint32_t flags;
    memcached_return_t r;
    char *v = memcached_get(x->conns[th], x->keys[k], x->lens[k], &len, &flags, &r);
    free(v);
    return r != MEMCACHED_SUCCESS;
}

static int raw_set(void *s, int th, long i)
{
    raw_side *x = s;
    long k = i % BENCH_CACHE_KEYS;
    return memcached_set(x->conns[th], x->keys[k], x->lens[k], bench_cache_value,
                         BENCH_CACHE_VALUE, 0, 0) != MEMCACHED_SUCCESS;
}

/* One mget of 100 keys, every result read into one result kept per thread. */
static int raw_mget(void *s, int th, long i)
{
    raw_side *x = s;
    long first = (i * 7) % BENCH_CACHE_KEYS;
    memcached_st *h = x->conns[th];
    memcached_return_t r = memcached_mget(h, &x->ptrs[first], &x->lens[first], BENCH_CACHE_MGET);
    int got = 0;
    while (r == MEMCACHED_SUCCESS && memcached_fetch_result(h, &x->results[th], &r))
        got++;
    return got != BENCH_CACHE_MGET || (r != MEMCACHED_END && r != MEMCACHED_SUCCESS);
}

static int raw_incr(void *s, int th, long i)
{
    (void)i;
    raw_side *x = s;
    uint64_t v;
    return memcached_increment_with_initial(x->conns[th], x->counter, x->counter_len, 1, 1, 0,
                                            &v) != MEMCACHED_SUCCESS;
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

static int imi_incr(void *s, int th, long i)
{
    (void)th, (void)i;
    int64_t v;
    return imi_cache_incr(((imi_side *)s)->c, NULL, COUNTER, 1, &v);
}

/* Handles as the driver makes them: the servers option, the same behaviours. */
static int raw_open(const imi_config *cfg, raw_side *x)
{
    const char *servers = imi_config_get(cfg, "cache", "servers", NULL);
    memcached_server_st *list = memcached_servers_parse(servers ? servers : "127.0.0.1:11211");
    if (!list) {
        fprintf(stderr, "imi bench cache: libmemcached: servers '%s' is not a host:port list\n",
                servers ? servers : "");
        return -1;
    }
    memcached_return_t r = MEMCACHED_SUCCESS;
    for (int t = 0; t < THREADS && r == MEMCACHED_SUCCESS; t++) {
        memcached_st *h = x->conns[t] = memcached_create(NULL);
        r = h ? memcached_server_push(h, list) : MEMCACHED_MEMORY_ALLOCATION_FAILURE;
        const struct { memcached_behavior_t b; uint64_t v; } bs[] = {
            { MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1 },
            { MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA },
            { MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1 },
            { MEMCACHED_BEHAVIOR_TCP_NODELAY, 1 },
        };
        for (size_t i = 0; i < sizeof bs / sizeof bs[0] && r == MEMCACHED_SUCCESS; i++)
            r = memcached_behavior_set(h, bs[i].b, bs[i].v);
        if (r == MEMCACHED_SUCCESS && !memcached_result_create(h, &x->results[t]))
            r = MEMCACHED_MEMORY_ALLOCATION_FAILURE;
        /* connect now, outside the timing */
        if (r == MEMCACHED_SUCCESS)
            r = memcached_version(h);
    }
    memcached_server_list_free(list);
    if (r != MEMCACHED_SUCCESS)
        fprintf(stderr, "imi bench cache: libmemcached on %s: %s\n", servers ? servers : "",
                memcached_strerror(NULL, r));
    return r == MEMCACHED_SUCCESS ? 0 : -1;
}

static void raw_close(raw_side *x)
{
    for (int t = 0; t < THREADS; t++) {
        if (!x->conns[t])
            continue;
        memcached_result_free(&x->results[t]);
        memcached_free(x->conns[t]);
    }
}

static int pair(const imi_bench_opts *o, const char *op, int threads, long calls,
                bench_cache_op imi_fn, imi_side *is, bench_cache_op raw_fn, raw_side *rs)
{
    bench_cmp c = { .driver = "memcached", .name = op, .baseline_name = "libmemcached",
                    .threads = threads };
    return bench_cache_compare(o, &c, imi_fn, is, raw_fn, rs, calls);
}

int bench_cache_memcached_compare(const imi_bench_opts *o, imi_app *app, imi_cache *c, long ops)
{
    const imi_config *cfg = imi_app_config(app);
    const char *prefix = imi_config_get(cfg, "cache", "prefix", NULL);
    raw_side *rs = calloc(1, sizeof *rs);
    imi_side *is = calloc(1, sizeof *is);
    int rc = rs && is ? 0 : -1;
    /* the bench keys are printable and short: the driver sends them as they are */
    for (long i = 0; !rc && i < BENCH_CACHE_KEYS + BENCH_CACHE_MGET; i++) {
        is->keys[i] = bench_cache_key(i);
        rs->lens[i] = (size_t)snprintf(rs->keys[i], sizeof rs->keys[i], "%s%s",
                                       prefix ? prefix : "", bench_cache_key(i));
        rs->ptrs[i] = rs->keys[i];
    }
    if (!rc) {
        rs->counter_len = (size_t)snprintf(rs->counter, sizeof rs->counter, "%s%s",
                                           prefix ? prefix : "", COUNTER);
        is->c = c;
        rc = raw_open(cfg, rs);
    }
    /* both sides count on one counter, which starts as a number */
    if (!rc)
        rc = imi_cache_set(c, NULL, COUNTER, "0", 1, 0) ? -1 : 0;
    /* the baseline's handles connect before the timing: the driver's pool opens its
     * connections before it too (as many as THREADS threads use at once), instead of in
     * the first round of each thread count */
    bench_cache_result warm;
    if (!rc && (bench_cache_time(imi_get, is, THREADS, THREADS * 64L, &warm) || warm.failures))
        rc = -1;
    int sweep[4], n_sweep = bench_thread_sweep(o, sweep);
    if (!rc)
        rc = pair(o, "set", 1, ops, imi_set, is, raw_set, rs) ||
             pair(o, "mget100", 1, ops / 20, imi_mget, is, raw_mget, rs) ||
             pair(o, "incr", 1, ops, imi_incr, is, raw_incr, rs);
    for (int i = 0; i < n_sweep && !rc; i++)
        rc = sweep[i] > THREADS ? 0 : pair(o, "get", sweep[i], ops, imi_get, is, raw_get, rs);
    if (rs)
        raw_close(rs);
    for (int t = 0; is && t < THREADS; t++)
        for (int k = 0; k < BENCH_CACHE_MGET; k++)
            imi_buf_free(&is->bufs[t][k]);
    if (is && is->c)
        imi_cache_del(c, NULL, COUNTER);
    free(rs);
    free(is);
    if (rc)
        fprintf(stderr, "imi bench cache: the libmemcached comparison failed\n");
    return rc ? 1 : 0;
}
#endif
