/* imi bench log: clog's cost per line against a hand-rolled snprintf logger.
 *
 * Cases, each the same 10-field JSON line:
 *   format    clog to output = discard               vs snprintf into a buffer
 *   file      clog, one write(2) per line (default)  vs snprintf + fwrite (stdio buffered)
 *   buffered  clog, buffer = 64k                     vs snprintf + fwrite
 *   async     clog, async = true: the caller's cost  vs snprintf + fwrite
 * Each round (--rounds, 5 to 64) runs every case and its baseline back to back, in turn, so
 * that noise from other work on the machine weighs on both sides alike; the report gives
 * medians over the rounds with min and max, of wall and of CPU time. Each run writes a
 * fresh file, removed after it. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "iminfra/clog.h"
#include "iminfra/ctx.h"
#include "iminfra/error.h"

#define DEFAULT_OPS 200000L /* lines per case per round */
#define MAX_THREADS 64
#define MIN_ROUNDS 5
#define MAX_ROUNDS 64
#define N_CASES 4

static const char payload[] = "abc:def:0123";

typedef enum kind { K_CLOG, K_SNPRINTF, K_SNPRINTF_FWRITE } kind;

typedef struct run {
    kind k;
    imi_logger *lg;
    const imi_ctx *ctx;
    FILE *f;
    long ops;
    double cpu_ns; /* out: this thread's CPU time */
} run;

typedef struct bench_case {
    const char *name;
    const char *baseline_name;
    imi_log_options opts; /* output filled per run */
    bool to_file;
    double clog[MAX_ROUNDS], base[MAX_ROUNDS], drained[MAX_ROUNDS];
    double clog_cpu[MAX_ROUNDS], base_cpu[MAX_ROUNDS]; /* CPU time of the callers per line */
} bench_case;

static double clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static double now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

static void clog_line(imi_logger *lg, const imi_ctx *ctx, long i)
{
    IMI_INFO(lg, ctx, "request done", IMI_FSTR("user", "alice"), IMI_FINT("uid", 123456 + i % 7),
             IMI_FUINT("bytes_in", 987654321u), IMI_FDBL("ratio", 0.375),
             IMI_FBOOL("cached", true), IMI_FERR("err", IMI_ETIMEDOUT),
             IMI_FDUR("took", 12500000), IMI_FBYTES("payload", payload, sizeof payload - 1),
             IMI_FSTR("path", "/api/v1/login"), IMI_FINT("status", 200));
}

/* The same content the way a hand-rolled logger would write it (no escaping). */
static int baseline_format(char *buf, size_t size, const char *trace, long i)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    return snprintf(buf, size,
                    "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ\",\"level\":\"info\","
                    "\"service\":\"%s\",\"logger\":\"%s\",\"trace_id\":\"%s\",\"msg\":\"%s\","
                    "\"user\":\"%s\",\"uid\":%lld,\"bytes_in\":%llu,\"ratio\":%g,"
                    "\"cached\":%s,\"err\":\"%s\",\"took\":%g,\"payload\":\"%.*s\","
                    "\"path\":\"%s\",\"status\":%d}\n",
                    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                    tm.tm_sec, ts.tv_nsec / 1000, "bench", "bench", trace, "request done",
                    "alice", (long long)(123456 + i % 7), 987654321ull, 0.375, "true",
                    imi_err_name(IMI_ETIMEDOUT), 12500000 / 1e6, (int)sizeof payload - 1,
                    payload, "/api/v1/login", 200);
}

static volatile size_t sink_bytes; /* keeps the snprintf-only baseline from being elided */

static void *worker(void *arg)
{
    run *r = arg;
    const char *trace = imi_ctx_trace_id(r->ctx);
    char buf[1024];
    size_t total = 0;
    double cpu0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    for (long i = 0; i < r->ops; i++) {
        if (r->k == K_CLOG) {
            clog_line(r->lg, r->ctx, i);
            continue;
        }
        int n = baseline_format(buf, sizeof buf, trace, i);
        if (r->k == K_SNPRINTF_FWRITE)
            fwrite(buf, 1, (size_t)n, r->f);
        else
            total += (size_t)n + (unsigned char)buf[n / 2];
    }
    if (r->f)
        fflush(r->f); /* the baseline's last buffer is part of its cost */
    r->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - cpu0;
    sink_bytes += total;
    return NULL;
}

/* Runs proto on threads threads, ops lines in all; returns wall ns per line, and in *cpu
 * the callers' CPU ns per line (what other work on the machine does not inflate). */
static double timed(run proto, int threads, long ops, double *cpu)
{
    pthread_t t[MAX_THREADS];
    run r[MAX_THREADS];
    double t0 = now_ns();
    for (int i = 0; i < threads; i++) {
        r[i] = proto;
        r[i].ops = ops / threads + (i < ops % threads);
        pthread_create(&t[i], NULL, worker, &r[i]);
    }
    *cpu = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        *cpu += r[i].cpu_ns / (double)ops;
    }
    return (now_ns() - t0) / (double)ops;
}

static int temp_path(char *path)
{
    strcpy(path, "/tmp/imi_bench_log_XXXXXX");
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    close(fd);
    return 0;
}

/* One clog run: ns per line for the callers; *drained the same with close's write-out. */
static int clog_run(bench_case *c, const imi_ctx *ctx, int threads, long ops, int round)
{
    char path[32] = "";
    imi_log_options o = c->opts;
    if (c->to_file) {
        if (temp_path(path))
            return -1;
        o.output = path;
    }
    imi_logger *root;
    if (imi_logger_open(&o, &root) != IMI_OK) {
        fprintf(stderr, "imi bench log: %s\n", imi_error_message());
        return -1;
    }
    run r = { .k = K_CLOG, .lg = imi_logger_named(root, "bench"), .ctx = ctx };
    clog_line(r.lg, ctx, 0); /* warms this thread's buffers */
    double t0 = now_ns();
    c->clog[round] = timed(r, threads, ops, &c->clog_cpu[round]);
    imi_logger_free(root);
    c->drained[round] = (now_ns() - t0) / (double)ops;
    if (path[0])
        unlink(path);
    return 0;
}

static int base_run(bench_case *c, const imi_ctx *ctx, int threads, long ops, int round)
{
    char path[32] = "";
    run r = { .k = K_SNPRINTF, .ctx = ctx };
    if (c->to_file) {
        if (temp_path(path) || !(r.f = fopen(path, "w")))
            return -1;
        r.k = K_SNPRINTF_FWRITE;
    }
    c->base[round] = timed(r, threads, ops, &c->base_cpu[round]);
    if (r.f)
        fclose(r.f);
    if (path[0])
        unlink(path);
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct stats {
    double med, min, max;
} stats;

static stats stats_of(const double *v, int n)
{
    double s[MAX_ROUNDS];
    memcpy(s, v, sizeof(double) * (size_t)n);
    qsort(s, (size_t)n, sizeof s[0], cmp_double);
    return (stats){ .med = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, .min = s[0],
                    .max = s[n - 1] };
}

static void report(const imi_bench_opts *o, bench_case *c, int threads, long ops, int rounds)
{
    double ratio[MAX_ROUNDS];
    for (int i = 0; i < rounds; i++)
        ratio[i] = c->base[i] / c->clog[i];
    stats im = stats_of(c->clog, rounds), b = stats_of(c->base, rounds),
          r = stats_of(ratio, rounds), d = stats_of(c->drained, rounds),
          ic = stats_of(c->clog_cpu, rounds), bc = stats_of(c->base_cpu, rounds);
    if (o->json) {
        printf("{\"bench\":\"log\",\"driver\":\"clog\",\"case\":\"%s\",\"threads\":%d,"
               "\"unit\":\"ns/line\",\"im_infra\":%.1f,\"baseline\":%.1f,"
               "\"baseline_name\":\"%s\",\"ratio\":%.3f,\"ratio_min\":%.3f,\"ratio_max\":%.3f,"
               "\"rounds\":%d,\"ops\":%ld,\"fields\":10,\"ns_per_line\":%.1f,"
               "\"ns_per_line_min\":%.1f,\"ns_per_line_max\":%.1f,"
               "\"baseline_ns_per_line\":%.1f,\"drained_ns_per_line\":%.1f,"
               "\"cpu_ns_per_line\":%.1f,\"cpu_ns_per_line_min\":%.1f,"
               "\"cpu_ns_per_line_max\":%.1f,\"baseline_cpu_ns_per_line\":%.1f}\n",
               c->name, threads, im.med, b.med, c->baseline_name, r.med, r.min, r.max, rounds,
               ops, im.med, im.min, im.max, b.med, d.med, ic.med, ic.min, ic.max, bc.med);
        return;
    }
    printf("  %-9s %8.1f [%7.1f .. %7.1f] %6.1f [%6.1f .. %6.1f]  %-16s %8.1f %7.1f  "
           "%6.2f [%5.2f .. %5.2f]\n",
           c->name, im.med, im.min, im.max, ic.med, ic.min, ic.max, c->baseline_name, b.med,
           bc.med, r.med, r.min, r.max);
}

int imi_bench_log(const imi_bench_opts *o)
{
    long ops = o->ops > 0 ? o->ops : DEFAULT_OPS;
    int threads = o->threads > 0 ? o->threads : 1;
    int rounds = o->rounds < MIN_ROUNDS ? MIN_ROUNDS : o->rounds > MAX_ROUNDS ? MAX_ROUNDS
                                                                           : o->rounds;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    imi_ctx *ctx = imi_ctx_new(0);
    if (!ctx)
        return -1;
    imi_ctx_set_trace_id(ctx, "4bf92f3577b34da6a3ce929d0e0e4736");
    const imi_log_options base = { .service = "bench", .level = IMI_LOG_INFO };
    bench_case cases[N_CASES] = {
        { .name = "format", .baseline_name = "snprintf", .opts = base },
        { .name = "file", .baseline_name = "snprintf+fwrite", .opts = base, .to_file = true },
        { .name = "buffered", .baseline_name = "snprintf+fwrite", .opts = base,
          .to_file = true },
        { .name = "async", .baseline_name = "snprintf+fwrite", .opts = base, .to_file = true },
    };
    cases[0].opts.output = "discard";
    cases[2].opts.buffer_bytes = 64 * 1024;
    cases[3].opts.async = true; /* the default queue: two buffers of 256 KiB */
    int rc = 0;
    for (int round = 0; round < rounds && !rc; round++) {
        fprintf(stderr, "imi bench log: round %d/%d\n", round + 1, rounds);
        for (int i = 0; i < N_CASES && !rc; i++) {
            bench_case *c = &cases[i];
            /* Alternate which side goes first, so neither always runs on a warmer cache. */
            if (round % 2)
                rc = base_run(c, ctx, threads, ops, round) ||
                     clog_run(c, ctx, threads, ops, round);
            else
                rc = clog_run(c, ctx, threads, ops, round) ||
                     base_run(c, ctx, threads, ops, round);
        }
    }
    if (rc) {
        fprintf(stderr, "imi bench log: cannot set up a logger or a temporary file in /tmp\n");
    } else {
        if (!o->json)
            printf("log: json, 10 typed fields, %d thread(s), %ld lines per case per round, "
                   "median of %d alternating rounds [min .. max]\n"
                   "  case      clog ns/line [min .. max]    cpu [min .. max]         "
                   "baseline          ns/line     cpu  ratio baseline/clog [min .. max] "
                   "(>1: clog faster)\n",
                   threads, ops, rounds);
        for (int i = 0; i < N_CASES; i++)
            report(o, &cases[i], threads, ops, rounds);
    }
    imi_ctx_free(ctx);
    return rc;
}
