/* imi bench cache: the timing harness shared by its files. */
#ifndef IMI_TOOLS_BENCH_CACHE_H
#define IMI_TOOLS_BENCH_CACHE_H

#include <stdint.h>
#include "bench.h"
#include "iminfra/iminfra.h"

#define BENCH_CACHE_KEYS 1000   /* keys prefilled and cycled through */
#define BENCH_CACHE_VALUE 100   /* bytes per value */
#define BENCH_CACHE_MGET 100    /* keys per mget */

/* One call of a benchmarked operation on thread `thread`, the i-th of the run. */
typedef int (*bench_cache_op)(void *side, int thread, long i);

typedef struct bench_cache_result {
    double ops_per_s, p50_us, p99_us, ns_per_call;
    long failures;
} bench_cache_result;

/* Runs `calls` calls over `threads` threads, each call timed. */
int bench_cache_time(bench_cache_op fn, void *side, int threads, long calls,
                     bench_cache_result *r);
/* c (driver, name, baseline_name, threads set) over o->rounds alternating rounds of
 * calls / rounds calls each side, then reported; -1 when a call failed. */
struct bench_cmp;
int bench_cache_compare(const imi_bench_opts *o, struct bench_cmp *c, bench_cache_op imi_fn,
                        void *is, bench_cache_op base_fn, void *bs, long calls);
void bench_cache_row(const imi_bench_opts *o, const char *op, const char *impl, int threads,
                     const bench_cache_result *r, double ratio);

/* The key of index i (without the instance prefix). */
const char *bench_cache_key(long i);
extern const char bench_cache_value[BENCH_CACHE_VALUE];

/* im-infra against raw hiredis on the same server (bench_cache_redis.c); 0 when done,
 * -1 when hiredis was not built in. */
int bench_cache_redis_compare(const imi_bench_opts *o, imi_app *app, imi_cache *c, long ops);
/* The same against raw libmemcached (bench_cache_memcached.c); -1 when it was not built in. */
int bench_cache_memcached_compare(const imi_bench_opts *o, imi_app *app, imi_cache *c, long ops);

#endif
