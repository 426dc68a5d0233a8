/* clog buffered and async sinks: lines gathered in memory and written in batches of whole
 * lines, by the caller (buffered) or by one writer thread (async). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "clog_internal.h"
#include "iminfra/error.h"

#define ASYNC_DEFAULT_BUFFER ((size_t)256 << 10)
#define DEFAULT_INTERVAL_MS 200
#define DRAIN_WAIT_NS 2000000000LL /* at exit, for a writer thread to catch up */

static void deadline_in(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec += (long)(ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Buffered: writes buf out; mu held, so batches keep their order. */
static void flush_locked(imi_clog_sink *s)
{
    if (s->len) {
        imi_clog_fd_write(s, s->buf, s->len);
        s->len = 0;
    }
}

static void report_drops(imi_clog_sink *s)
{
    uint64_t n = atomic_exchange(&s->dropped, 0);
    if (n && s->drop_line) {
        char line[IMI_CLOG_LINE_MAX];
        imi_clog_fd_write(s, line, s->drop_line(s->drop_arg, n, line));
    }
}

/* The async writer: waits for half a buffer, a WARN line, a full queue or the interval,
 * then swaps the buffers and writes the full one while callers fill the other. */
static void *async_main(void *arg)
{
    imi_clog_sink *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        struct timespec dl;
        deadline_in(&dl, s->interval_ns);
        while (!s->stop && !s->urgent && s->len < s->cap / 2)
            if (pthread_cond_timedwait(&s->wake, &s->mu, &dl) == ETIMEDOUT)
                break;
        if (!s->len && !atomic_load(&s->dropped)) {
            s->urgent = false;
            if (s->stop)
                break;
            continue;
        }
        char *full = s->buf;
        size_t n = s->len;
        s->buf = s->spare;
        s->spare = full;
        s->len = 0;
        s->urgent = false;
        s->writing = true;
        atomic_store(&s->spare_len, n);
        pthread_cond_broadcast(&s->room);
        pthread_mutex_unlock(&s->mu);
        /* Claimed here or by a fatal signal's handler, never both: written once. */
        size_t claim = n;
        if (atomic_compare_exchange_strong(&s->spare_len, &claim, 0))
            imi_clog_fd_write(s, full, n);
        report_drops(s);
        pthread_mutex_lock(&s->mu);
        s->writing = false;
        pthread_cond_broadcast(&s->room); /* for a drain waiting at exit */
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Buffered: writes out what is held every interval. */
static void *timer_main(void *arg)
{
    imi_clog_sink *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec dl;
        deadline_in(&dl, s->interval_ns);
        while (!s->stop && pthread_cond_timedwait(&s->wake, &s->mu, &dl) != ETIMEDOUT) {
        }
        flush_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

int imi_clog_buffer_start(imi_clog_sink *s, const imi_clog_sink_opts *o)
{
    s->async = o->async;
    s->drop = o->drop;
    s->pid = (int)getpid();
    s->cap = o->buffer ? o->buffer : ASYNC_DEFAULT_BUFFER;
    s->interval_ns = (o->interval_ms ? o->interval_ms : DEFAULT_INTERVAL_MS) * 1000000;
    s->buf = malloc(s->cap);
    s->spare = s->async ? malloc(s->cap) : NULL;
    if (!s->buf || (s->async && !s->spare)) {
        free(s->buf);
        free(s->spare);
        s->buf = s->spare = NULL;
        return imi_error_set(IMI_ENOMEM, 0, "log buffer of %zu bytes: out of memory", s->cap);
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->wake, &ca);
    pthread_cond_init(&s->room, &ca);
    pthread_condattr_destroy(&ca);
    /* The thread takes no asynchronous signals: they stay with the application's threads. */
    sigset_t all, old;
    sigfillset(&all);
    sigdelset(&all, SIGSEGV);
    sigdelset(&all, SIGBUS);
    sigdelset(&all, SIGILL);
    sigdelset(&all, SIGFPE);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&s->thread, NULL, s->async ? async_main : timer_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    s->has_thread = e == 0;
    int rc = e ? imi_error_set(IMI_EUNAVAILABLE, e, "log writer thread: %s", strerror(e))
               : imi_clog_exit_register(s);
    if (rc)
        imi_clog_buffer_stop(s);
    return rc;
}

void imi_clog_buffer_write(imi_clog_sink *s, const char *line, size_t n, imi_log_level level)
{
    pthread_mutex_lock(&s->mu);
    if (s->async) {
        while (s->cap - s->len < n) {
            if (s->drop || s->stop || n > s->cap) {
                atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
                pthread_mutex_unlock(&s->mu);
                return;
            }
            s->urgent = true;
            pthread_cond_signal(&s->wake);
            pthread_cond_wait(&s->room, &s->mu);
        }
        size_t before = s->len;
        memcpy(s->buf + before, line, n);
        s->len = before + n;
        /* Wake the writer once per half buffer, and at once for WARN and above. */
        if (level >= IMI_LOG_WARN || (before < s->cap / 2 && s->len >= s->cap / 2)) {
            s->urgent = s->urgent || level >= IMI_LOG_WARN;
            pthread_cond_signal(&s->wake);
        }
    } else {
        if (s->cap - s->len < n)
            flush_locked(s);
        if (n > s->cap) {
            imi_clog_fd_write(s, line, n);
        } else {
            memcpy(s->buf + s->len, line, n);
            s->len += n;
        }
        if (level >= IMI_LOG_WARN)
            flush_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
}

void imi_clog_buffer_drain(imi_clog_sink *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->async && s->has_thread) {
        struct timespec dl;
        deadline_in(&dl, DRAIN_WAIT_NS);
        while (s->len || s->writing || atomic_load(&s->dropped)) {
            s->urgent = true;
            pthread_cond_signal(&s->wake);
            if (pthread_cond_timedwait(&s->room, &s->mu, &dl) == ETIMEDOUT)
                break;
        }
    } else {
        flush_locked(s);
    }
    pthread_mutex_unlock(&s->mu);
}

void imi_clog_buffer_stop(imi_clog_sink *s)
{
    imi_clog_exit_unregister(s);
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->wake);
    pthread_cond_broadcast(&s->room);
    pthread_mutex_unlock(&s->mu);
    if (s->has_thread)
        pthread_join(s->thread, NULL);
    s->has_thread = false;
    flush_locked(s); /* anything a caller added after the thread's last pass */
    report_drops(s);
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->room);
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    free(s->spare);
    s->buf = s->spare = NULL;
}
