/* clog's buffered and async sinks under four threads: a plain program (Criterion cannot
 * start under ThreadSanitizer), run by CTest and by tools/test.sh under TSan.
 * Checks every line is whole and each thread's lines are all there, in order (block and
 * buffered), or written plus reported dropped add up (drop). Exit status 0: all good. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "iminfra/clog.h"
#include "iminfra/error.h"

#define THREADS 4
#define LINES 4000L

typedef struct job {
    imi_logger *lg;
    long th;
} job;

static void *work(void *arg)
{
    job *j = arg;
    static const char pad[] = "................................................................";
    for (long i = 0; i < LINES; i++) {
        /* Every 1000th line a WARN: it flushes (buffered) or wakes the writer (async). */
        IMI_LOG_FIELDS_(j->lg, i % 1000 == 999 ? IMI_LOG_WARN : IMI_LOG_INFO, NULL, "stress",
                        IMI_FINT("th", j->th), IMI_FINT("i", i),
                        IMI_FBYTES("pad", pad, (size_t)(i % 64)));
    }
    return NULL;
}

/* Reads the file back; returns the count of lines written by the threads, or -1. */
static long check(const char *path, bool drop, unsigned long long *dropped)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[16384];
    long next[THREADS] = { 0 }, count = 0;
    *dropped = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        const char *d = strstr(line, "\"dropped\":");
        long th, i;
        const char *t = strstr(line, "\"th\":"), *x = strstr(line, "\"i\":");
        if (n < 2 || line[0] != '{' || line[n - 2] != '}' || line[n - 1] != '\n') {
            fprintf(stderr, "clog_stress: %s: a split line: %s", path, line);
            return -1;
        }
        if (d) {
            *dropped += strtoull(d + 10, NULL, 10);
            continue;
        }
        if (!t || !x || (th = atol(t + 5)) < 0 || th >= THREADS || (i = atol(x + 4)) < next[th] ||
            (!drop && i != next[th])) {
            fprintf(stderr, "clog_stress: %s: out of order or missing before: %s", path, line);
            return -1;
        }
        next[th] = i + 1;
        count++;
    }
    fclose(f);
    return count;
}

static int run(const char *what, size_t buffer, bool async, imi_log_on_full on_full)
{
    char path[] = "/tmp/imi_clog_stress_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 1;
    close(fd);
    imi_log_options o = { .level = IMI_LOG_INFO, .output = path, .buffer_bytes = buffer,
                          .flush_interval_ms = 2, .async = async, .on_full = on_full };
    imi_logger *lg;
    if (imi_logger_open(&o, &lg) != IMI_OK) {
        fprintf(stderr, "clog_stress: %s: %s\n", what, imi_error_message());
        unlink(path);
        return 1;
    }
    pthread_t t[THREADS];
    job jobs[THREADS];
    for (long i = 0; i < THREADS; i++) {
        jobs[i] = (job){ .lg = lg, .th = i };
        pthread_create(&t[i], NULL, work, &jobs[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    imi_logger_free(lg);
    unsigned long long dropped;
    long got = check(path, on_full == IMI_LOG_DROP, &dropped);
    unlink(path);
    long want = THREADS * LINES;
    bool ok = got >= 0 && (unsigned long long)got + dropped == (unsigned long long)want &&
              (on_full == IMI_LOG_DROP || dropped == 0);
    printf("clog_stress: %-13s %ld lines written, %llu dropped, of %ld: %s\n", what, got,
           dropped, want, ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}

int main(void)
{
    int bad = 0;
    bad |= run("unbuffered", 0, false, IMI_LOG_BLOCK);
    bad |= run("buffered", 8192, false, IMI_LOG_BLOCK);
    bad |= run("async block", 8192, true, IMI_LOG_BLOCK);
    bad |= run("async drop", 8192, true, IMI_LOG_DROP);
    return bad;
}
