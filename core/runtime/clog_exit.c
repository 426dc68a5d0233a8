/* clog: buffered and async sinks written out at exit() and before a fatal signal's default
 * action, so that what a process logged just before it died is in the file. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include "clog_internal.h"
#include "iminfra/error.h"

#define MAX_SINKS 64

static _Atomic(imi_clog_sink *) sinks[MAX_SINKS];
static pthread_once_t once = PTHREAD_ONCE_INIT;
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGTERM };

static void at_exit(void)
{
    for (int i = 0; i < MAX_SINKS; i++) {
        imi_clog_sink *s = atomic_load(&sinks[i]);
        /* A forked child has the parent's buffered lines but not its writer thread: they
         * are the parent's to write. */
        if (s && s->pid == (int)getpid())
            imi_clog_buffer_drain(s);
    }
}

static void write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

/* Async-signal-safe: no lock (the interrupted thread may hold one), only write(2). A
 * buffered sink's buf holds whole lines up to len, as len grows only after a line is
 * copied in; an async sink's ring gives up the lines its writer has not taken (see
 * clog_ring.c). */
static void on_fatal(int sig)
{
    int saved = errno;
    for (int i = 0; i < MAX_SINKS; i++) {
        imi_clog_sink *s = atomic_load(&sinks[i]);
        if (!s || s->pid != (int)getpid())
            continue;
        if (s->async && s->ring)
            imi_clog_ring_fatal(s);
        else if (!s->async && s->buf && s->len <= s->cap)
            write_all(s->fd, s->buf, s->len);
    }
    /* SA_RESETHAND put the default action back: raising again runs it once we return. */
    raise(sig);
    errno = saved;
}

/* Only over the default action: an application's own handler stays in charge. */
static void install(void)
{
    atexit(at_exit);
    for (size_t i = 0; i < sizeof fatal_signals / sizeof fatal_signals[0]; i++) {
        struct sigaction cur;
        if (sigaction(fatal_signals[i], NULL, &cur) != 0 || (cur.sa_flags & SA_SIGINFO) ||
            cur.sa_handler != SIG_DFL)
            continue;
        struct sigaction sa = { .sa_handler = on_fatal, .sa_flags = SA_RESETHAND };
        sigemptyset(&sa.sa_mask);
        sigaction(fatal_signals[i], &sa, NULL);
    }
}

int imi_clog_exit_register(imi_clog_sink *s)
{
    pthread_once(&once, install);
    for (int i = 0; i < MAX_SINKS; i++) {
        imi_clog_sink *empty = NULL;
        if (atomic_compare_exchange_strong(&sinks[i], &empty, s))
            return IMI_OK;
    }
    return imi_error_set(IMI_EINVALID, 0, "log: more than %d buffered or async loggers open",
                         MAX_SINKS);
}

void imi_clog_exit_unregister(imi_clog_sink *s)
{
    for (int i = 0; i < MAX_SINKS; i++) {
        imi_clog_sink *cur = s;
        if (atomic_compare_exchange_strong(&sinks[i], &cur, NULL))
            return;
    }
}
