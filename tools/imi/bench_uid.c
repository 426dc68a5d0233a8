/* imi bench uid: snowflake ids per second on one worker, beside the ceiling of the format
 * (4096 per ms: 4,096,000/s), and UUID v4 / v7 per second. */
#include <pthread.h>
#include <stdio.h>
#include "bench.h"
#include "iminfra/iminfra.h"

#define DEFAULT_OPS 8192000L
#define MAX_THREADS 64

typedef struct job { imi_uid *u; long ops; int err; } job;

static void *gen(void *arg)
{
    job *j = arg;
    int64_t id;
    for (long i = 0; i < j->ops; i++)
        if (imi_uid_next(j->u, &id))
            j->err = 1;
    return NULL;
}

int imi_bench_uid(const imi_bench_opts *o)
{
    long ops = o->ops > 0 ? o->ops : DEFAULT_OPS;
    int threads = o->threads > 0 ? (o->threads > MAX_THREADS ? MAX_THREADS : o->threads) : 1;
    imi_uid *u;
    if (imi_uid_new(NULL, 1, &u)) {
        fprintf(stderr, "imi: bench uid: %s\n", imi_error_message());
        return 1;
    }
    pthread_t t[MAX_THREADS];
    job j[MAX_THREADS];
    int64_t t0 = imi_now_mono_ns();
    for (int i = 0; i < threads; i++) {
        j[i] = (job){ u, ops / threads + (i < ops % threads), 0 };
        pthread_create(&t[i], NULL, gen, &j[i]);
    }
    int err = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        err |= j[i].err;
    }
    double secs = (double)(imi_now_mono_ns() - t0) / 1e9;
    imi_uid_free(u);
    if (err) {
        fprintf(stderr, "imi: bench uid: %s\n", imi_error_message());
        return 1;
    }
    double rate = (double)ops / secs, ceiling = 4096000.0;
    long uops = ops < 2000000 ? ops : 2000000;
    t0 = imi_now_mono_ns();
    for (long i = 0; i < uops; i++) {
        imi_uuid x = imi_uuid_v4();
        __asm__ volatile("" : : "r"(&x) : "memory");
    }
    double v4 = (double)uops / ((double)(imi_now_mono_ns() - t0) / 1e9);
    t0 = imi_now_mono_ns();
    for (long i = 0; i < uops; i++) {
        imi_uuid x = imi_uuid_v7();
        __asm__ volatile("" : : "r"(&x) : "memory");
    }
    double v7 = (double)uops / ((double)(imi_now_mono_ns() - t0) / 1e9);
    if (o->json) {
        printf("{\"bench\":\"uid\",\"ops\":%ld,\"threads\":%d,\"ids_per_sec\":%.0f,"
               "\"format_ceiling_per_sec\":%.0f,\"of_ceiling\":%.4f,\"uuid_v4_per_sec\":%.0f,"
               "\"uuid_v7_per_sec\":%.0f}\n", ops, threads, rate, ceiling, rate / ceiling, v4, v7);
        return 0;
    }
    printf("uid: %ld snowflake ids on one worker, %d thread(s), %.2f s\n", ops, threads, secs);
    printf("  snowflake ids            %12.0f /s\n", rate);
    printf("  format ceiling (4096/ms) %12.0f /s   (%.1f%% of it)\n", ceiling,
           100.0 * rate / ceiling);
    printf("  UUID v4                  %12.0f /s\n", v4);
    printf("  UUID v7                  %12.0f /s\n", v7);
    return 0;
}
