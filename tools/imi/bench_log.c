/* imi bench log: clog against snprintf + fwrite writing the same JSON line to a file.
 *
 * clog does one write(2) per line (whole lines under concurrency, nothing lost on a
 * crash); the baseline is buffered by stdio. A bare write(2) of a line of the same size
 * is timed too: it is the floor under clog's figure, the rest is formatting. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "bench.h"
#include "iminfra/clog.h"
#include "iminfra/ctx.h"
#include "iminfra/error.h"

#define DEFAULT_OPS 1000000L
#define MAX_THREADS 64
#define ROUNDS 5

static const char payload[] = "abc:def:0123";

typedef struct run {
    imi_logger *lg;
    const imi_ctx *ctx;
    FILE *f;
    int fd;
    const char *line;
    size_t line_len;
    long ops;
} run;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void clog_line(imi_logger *lg, const imi_ctx *ctx, long i)
{
    IMI_INFO(lg, ctx, "request done", IMI_FSTR("user", "alice"), IMI_FINT("uid", 123456 + i % 7),
             IMI_FUINT("bytes_in", 987654321u), IMI_FDBL("ratio", 0.375),
             IMI_FBOOL("cached", true), IMI_FERR("err", IMI_ETIMEDOUT),
             IMI_FDUR("took", 12500000), IMI_FBYTES("payload", payload, sizeof payload - 1),
             IMI_FSTR("path", "/api/v1/login"), IMI_FINT("status", 200));
}

/* The same content the way a hand-rolled logger would write it. */
static void baseline_line(FILE *f, const char *trace, long i)
{
    char buf[1024];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(buf, sizeof buf,
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
    fwrite(buf, 1, (size_t)n, f);
}

static void *clog_worker(void *arg)
{
    run *r = arg;
    for (long i = 0; i < r->ops; i++)
        clog_line(r->lg, r->ctx, i);
    return NULL;
}

static void *baseline_worker(void *arg)
{
    run *r = arg;
    const char *trace = imi_ctx_trace_id(r->ctx);
    for (long i = 0; i < r->ops; i++)
        baseline_line(r->f, trace, i);
    return NULL;
}

static void *floor_worker(void *arg)
{
    run *r = arg;
    for (long i = 0; i < r->ops; i++)
        if (write(r->fd, r->line, r->line_len) < 0)
            break;
    return NULL;
}

/* Runs fn on threads threads, ops lines in all; returns ns per line. */
static double timed(void *(*fn)(void *), run proto, int threads, long ops)
{
    pthread_t t[MAX_THREADS];
    run r[MAX_THREADS];
    double t0 = now_ns();
    for (int i = 0; i < threads; i++) {
        r[i] = proto;
        r[i].ops = ops / threads + (i < ops % threads);
        pthread_create(&t[i], NULL, fn, &r[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    if (proto.f)
        fflush(proto.f);
    return (now_ns() - t0) / (double)ops;
}

static int temp_file(char *path)
{
    strcpy(path, "/tmp/imi_bench_log_XXXXXX");
    return mkstemp(path);
}

/* The three targets, each writing to its own temporary file. */
typedef struct targets {
    char clog_path[32], base_path[32], floor_path[32];
    imi_logger *root;
    run clog, base, floor;
    char line[1024];
} targets;

static int open_temp(char *path, int flags)
{
    int fd = temp_file(path);
    if (fd < 0)
        return -1;
    close(fd);
    return open(path, flags | O_CLOEXEC);
}

static int targets_open(targets *t, const imi_ctx *ctx)
{
    memset(t, 0, sizeof *t);
    t->floor.fd = -1;
    int fd = temp_file(t->clog_path);
    if (fd < 0)
        return -1;
    close(fd);
    imi_log_options lo = { .service = "bench", .level = IMI_LOG_INFO, .output = t->clog_path };
    if (imi_logger_open(&lo, &t->root) != IMI_OK)
        return -1;
    t->clog = (run){ .lg = imi_logger_named(t->root, "bench"), .ctx = ctx };
    clog_line(t->clog.lg, ctx, 0); /* warm this thread's buffers; also gives the line size */
    struct stat st;
    if (stat(t->clog_path, &st) != 0 || st.st_size < 2 || st.st_size > (off_t)sizeof t->line)
        return -1;
    memset(t->line, 'x', sizeof t->line);
    t->line[st.st_size - 1] = '\n';
    t->floor = (run){ .line = t->line, .line_len = (size_t)st.st_size };
    t->floor.fd = open_temp(t->floor_path, O_WRONLY | O_APPEND);
    fd = open_temp(t->base_path, O_WRONLY);
    t->base = (run){ .ctx = ctx, .f = fd < 0 ? NULL : fdopen(fd, "w") };
    return t->floor.fd < 0 || !t->base.f ? -1 : 0;
}

static void targets_close(targets *t)
{
    imi_logger_close(t->root);
    if (t->base.f)
        fclose(t->base.f);
    if (t->floor.fd >= 0)
        close(t->floor.fd);
    const char *paths[] = { t->clog_path, t->base_path, t->floor_path };
    for (int i = 0; i < 3; i++)
        if (paths[i][0])
            unlink(paths[i]);
}

static void report(const imi_bench_opts *o, long ops, int threads, double c, double b,
                   double w, double bytes)
{
    if (o->json) {
        printf("{\"bench\":\"log\",\"ops\":%ld,\"threads\":%d,\"fields\":10,\"line_bytes\":%.0f,"
               "\"clog_ns_per_line\":%.1f,\"baseline_ns_per_line\":%.1f,\"ratio\":%.3f,"
               "\"write_floor_ns_per_line\":%.1f,\"clog_format_ns_per_line\":%.1f}\n",
               ops, threads, bytes, c, b, b / c, w, c - w);
        return;
    }
    printf("log: %ld lines, %d thread(s), json, 10 typed fields, %.0f bytes/line, to a file\n",
           ops, threads, bytes);
    printf("  clog (one write(2) per line)   %8.1f ns/line\n", c);
    printf("  snprintf + fwrite (buffered)   %8.1f ns/line\n", b);
    printf("  ratio baseline/clog            %8.3f   (>1: clog faster)\n", b / c);
    printf("  bare write(2) of such a line   %8.1f ns/line (floor under clog)\n", w);
    printf("  clog minus that floor          %8.1f ns/line\n", c - w);
}

/* The targets take turns in rounds, so that the page cache and writeback the earlier
 * runs leave behind weigh on each of them alike. */
int imi_bench_log(const imi_bench_opts *o)
{
    long ops = o->ops > 0 ? o->ops : DEFAULT_OPS;
    int threads = o->threads > 0 ? o->threads : 1;
    if (threads > MAX_THREADS)
        threads = MAX_THREADS;
    imi_ctx *ctx = imi_ctx_new(0);
    if (!ctx)
        return -1;
    imi_ctx_set_trace_id(ctx, "4bf92f3577b34da6a3ce929d0e0e4736");
    targets t;
    int rc = targets_open(&t, ctx);
    if (rc == 0) {
        double c = 0, b = 0, w = 0;
        long left = ops;
        for (int r = ROUNDS; r > 0; r--) {
            long n = left / r;
            left -= n;
            if (n == 0)
                continue;
            c += timed(clog_worker, t.clog, threads, n) * (double)n;
            b += timed(baseline_worker, t.base, threads, n) * (double)n;
            w += timed(floor_worker, t.floor, threads, n) * (double)n;
        }
        report(o, ops, threads, c / (double)ops, b / (double)ops, w / (double)ops,
               (double)t.floor.line_len);
    } else {
        fprintf(stderr, "imi bench log: cannot set up temporary files in /tmp\n");
    }
    targets_close(&t);
    imi_ctx_free(ctx);
    return rc;
}
