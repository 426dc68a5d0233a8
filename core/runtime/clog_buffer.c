/* clog buffered and async sinks: lines gathered in memory and written in batches of whole
 * lines, by the caller (buffered) or by one writer thread (async, whose queue is in
 * clog_ring.c). */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include "clog_internal.h"
#include "iminfra/error.h"

#define ASYNC_DEFAULT_BUFFER ((size_t)256 << 10)
#define DEFAULT_INTERVAL_MS 200

/* Buffered: writes buf out; mu held, so batches keep their order. */
static void flush_locked(imi_clog_sink *s)
{
    if (s->len) {
        imi_clog_fd_write(s, s->buf, s->len);
        s->len = 0;
    }
}

/* Buffered: writes out what is held every interval. */
static void *timer_main(void *arg)
{
    imi_clog_sink *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        struct timespec dl;
        imi_clog_deadline_in(&dl, s->interval_ns);
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
    if (s->async) {
        int rc = imi_clog_ring_start(s);
        if (rc)
            return rc;
    } else if (!(s->buf = malloc(s->cap))) {
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
    int e = pthread_create(&s->thread, NULL, s->async ? imi_clog_ring_main : timer_main, s);
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
    if (s->async) {
        imi_clog_ring_write(s, line, n, level);
        return;
    }
    pthread_mutex_lock(&s->mu);
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
    pthread_mutex_unlock(&s->mu);
}

void imi_clog_buffer_drain(imi_clog_sink *s)
{
    if (s->async) {
        if (s->has_thread)
            imi_clog_ring_drain(s);
        return;
    }
    pthread_mutex_lock(&s->mu);
    flush_locked(s);
    pthread_mutex_unlock(&s->mu);
}

void imi_clog_buffer_stop(imi_clog_sink *s)
{
    imi_clog_exit_unregister(s);
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    atomic_store(&s->stopping, true);
    pthread_cond_signal(&s->wake);
    pthread_cond_broadcast(&s->room);
    pthread_mutex_unlock(&s->mu);
    if (s->has_thread)
        pthread_join(s->thread, NULL);
    s->has_thread = false;
    if (s->async)
        imi_clog_ring_stop(s);
    else
        flush_locked(s); /* anything a caller added after the thread's last pass */
    pthread_cond_destroy(&s->wake);
    pthread_cond_destroy(&s->room);
    pthread_mutex_destroy(&s->mu);
    free(s->buf);
    s->buf = NULL;
}
