#ifndef IMI_TOOLS_BENCH_H
#define IMI_TOOLS_BENCH_H
#include <stdbool.h>
/* The ranges `imi bench` takes: threads up to the benches' own arrays, ops short of
 * runs that would not end. */
#define BENCH_MAX_THREADS 64
#define BENCH_MAX_OPS 1000000000L
/* rounds: the alternating rounds of each comparison (at least 5, the default). */
typedef struct imi_bench_opts {
    const char *config_path;
    long ops;
    int threads, rounds;
    bool json;
    bool backends_only;         /* bench all: skip the in-process benches */
} imi_bench_opts;
int imi_bench_log(const imi_bench_opts *o);
int imi_bench_uid(const imi_bench_opts *o);
int imi_bench_breaker(const imi_bench_opts *o);
int imi_bench_ratelimit(const imi_bench_opts *o);
int imi_bench_cache(const imi_bench_opts *o);
int imi_bench_mq(const imi_bench_opts *o);
int imi_bench_coord(const imi_bench_opts *o);
int imi_bench_db(const imi_bench_opts *o);
/* Every bench the config's sections allow, then the summary table. */
int imi_bench_all(const imi_bench_opts *o);
#endif
