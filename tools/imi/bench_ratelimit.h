/* imi bench ratelimit: the distributed part (bench_ratelimit_redis.c). */
#ifndef IMI_TOOLS_BENCH_RATELIMIT_H
#define IMI_TOOLS_BENCH_RATELIMIT_H

#include "bench.h"

/* A distributed allow through im-infra against a raw EVALSHA of the driver's script on
 * the same server, when the config's [cache] is redis and hiredis was built in: fills
 * *dist and *raw (calls per second) and returns NULL; otherwise returns why not and
 * leaves them 0. *rc is set non-zero on a failure. */
const char *imi_bench_ratelimit_remote(const imi_bench_opts *o, double *dist, double *raw,
                                       int *rc);

#endif
