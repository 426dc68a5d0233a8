/* imi bench breaker: ns per call through a closed breaker, beside the same call made
 * directly: with the default policy (consecutive failures and a failure ratio, so one
 * coarse clock read per call) and with consecutive failures only. */
#include <pthread.h>
#include <stdio.h>
#include "bench.h"
#include "iminfra/iminfra.h"

#define DEFAULT_OPS 20000000L
#define MAX_THREADS 64

static int work(void *ud, const imi_ctx *ctx)
{
    (void)ctx;
    __asm__ volatile("" : : "r"(ud) : "memory");
    return IMI_OK;
}

typedef struct job { imi_breaker *b; long ops; int (*volatile fn)(void *, const imi_ctx *); } job;

static void *through(void *arg)
{
    job *j = arg;
    for (long i = 0; i < j->ops; i++)
        imi_breaker_call(j->b, NULL, work, j);
    return NULL;
}

static void *direct(void *arg)
{
    job *j = arg;
    for (long i = 0; i < j->ops; i++)
        j->fn(j, NULL);
    return NULL;
}

static double timed(void *(*fn)(void *), imi_breaker *b, int threads, long ops)
{
    pthread_t t[MAX_THREADS];
    job j[MAX_THREADS];
    int64_t t0 = imi_now_mono_ns();
    for (int i = 0; i < threads; i++) {
        j[i] = (job){ b, ops / threads + (i < ops % threads), work };
        pthread_create(&t[i], NULL, fn, &j[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    return (double)(imi_now_mono_ns() - t0) * threads / (double)ops;
}

int imi_bench_breaker(const imi_bench_opts *o)
{
    long ops = o->ops > 0 ? o->ops : DEFAULT_OPS;
    int threads = o->threads > 0 ? (o->threads > MAX_THREADS ? MAX_THREADS : o->threads) : 1;
    imi_breaker_policy p = imi_breaker_policy_default();
    imi_breaker_set *ratio, *consec;
    imi_breaker_set_new(&p, NULL, &ratio);
    p.failure_ratio = 0;
    imi_breaker_set_new(&p, NULL, &consec);
    imi_breaker *br = imi_breaker_get(ratio, "bench"), *bc = imi_breaker_get(consec, "bench");
    if (!br || !bc) {
        fprintf(stderr, "imi: bench breaker: out of memory\n");
        return 1;
    }
    double best_r = 1e9, best_c = 1e9, best_d = 1e9;
    for (int round = 0; round < 3; round++) { /* best of three: the machine is shared */
        double r = timed(through, br, threads, ops / 3), c = timed(through, bc, threads, ops / 3);
        double d = timed(direct, NULL, threads, ops / 3);
        best_r = r < best_r ? r : best_r;
        best_c = c < best_c ? c : best_c;
        best_d = d < best_d ? d : best_d;
    }
    int closed = imi_breaker_get_state(br) == IMI_BREAKER_CLOSED;
    imi_breaker_set_free(ratio);
    imi_breaker_set_free(consec);
    if (o->json) {
        printf("{\"bench\":\"breaker\",\"ops\":%ld,\"threads\":%d,\"closed_ns_per_call\":%.1f,"
               "\"closed_consecutive_only_ns_per_call\":%.1f,\"direct_ns_per_call\":%.1f,"
               "\"stayed_closed\":%s}\n", ops, threads, best_r, best_c, best_d,
               closed ? "true" : "false");
        return 0;
    }
    printf("breaker: %ld calls in 3 rounds (best shown), %d thread(s), closed state\n", ops,
           threads);
    printf("  through breaker, default policy (ratio on)  %6.1f ns/call\n", best_r);
    printf("  through breaker, consecutive failures only  %6.1f ns/call\n", best_c);
    printf("  the same call made directly                 %6.1f ns/call\n", best_d);
    printf("  breaker overhead (default policy)           %6.1f ns/call\n", best_r - best_d);
    return 0;
}
