/* imi bench uid: snowflake ids per second on one worker, beside the ceiling of the format
 * (4096 per ms: 4,096,000/s), and UUID v4 / v7 per second. */
#include <pthread.h>
#include <stdio.h>
#include "bench.h"
#include "bench_cmp.h"
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
    int err = 0;
    double ceiling = 4096000.0, secs = 0;
    /* Rounds of ops / rounds ids; the baseline is the format's ceiling (4096 per ms). */
    bench_cmp c = { .bench = "uid", .driver = "snowflake", .name = "next id", .unit = "ids/s",
                    .baseline_name = "format ceiling", .threads = threads };
    long per = ops / o->rounds > threads ? ops / o->rounds : threads;
    for (int r = 0; r < o->rounds && !err; r++) {
        int64_t t0 = imi_now_mono_ns();
        for (int i = 0; i < threads; i++) {
            j[i] = (job){ u, per / threads + (i < per % threads), 0 };
            pthread_create(&t[i], NULL, gen, &j[i]);
        }
        for (int i = 0; i < threads; i++) {
            pthread_join(t[i], NULL);
            err |= j[i].err;
        }
        double dt = (double)(imi_now_mono_ns() - t0) / 1e9;
        secs += dt;
        bench_cmp_add(&c, (double)per / dt, ceiling);
    }
    imi_uid_free(u);
    if (err) {
        fprintf(stderr, "imi: bench uid: %s\n", imi_error_message());
        return 1;
    }
    double rate, base, ratio, lo, hi;
    bench_cmp_stats(&c, &rate, &base, &ratio, &lo, &hi);
    c.ids_per_s = rate;
    bench_cmp_report(o, &c);
    long uops = ops < 2000000 ? ops : 2000000;
    int64_t t0 = imi_now_mono_ns();
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
        printf("{\"bench\":\"uid\",\"driver\":\"uuid\",\"case\":\"uuid v4 and v7\","
               "\"threads\":1,\"unit\":\"ids/s\",\"uuid_v4_per_s\":%.0f,"
               "\"uuid_v7_per_s\":%.0f}\n", v4, v7);
        return 0;
    }
    printf("uid: %ld snowflake ids on one worker, %d thread(s), %.2f s\n", per * o->rounds, threads,
           secs);
    printf("  snowflake ids            %12.0f /s\n", rate);
    printf("  format ceiling (4096/ms) %12.0f /s   (%.1f%% of it)\n", ceiling,
           100.0 * rate / ceiling);
    printf("  UUID v4                  %12.0f /s\n", v4);
    printf("  UUID v7                  %12.0f /s\n", v7);
    return 0;
}
