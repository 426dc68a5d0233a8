/* imi demo: waiting for what driver threads report, and failed expectations. */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include "demo.h"

void demo_sync_init(demo_sync *s)
{
    pthread_condattr_t a;
    pthread_condattr_init(&a);
    pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &a);
    pthread_condattr_destroy(&a);
    pthread_mutex_init(&s->mu, NULL);
}

void demo_sync_destroy(demo_sync *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

bool demo_sync_wait(demo_sync *s, int64_t deadline_ns)
{
    if (imi_now_mono_ns() >= deadline_ns)
        return false;
    struct timespec ts = { .tv_sec = deadline_ns / 1000000000,
                           .tv_nsec = deadline_ns % 1000000000 };
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
    return true;
}

void demo_sync_signal(demo_sync *s)
{
    pthread_cond_broadcast(&s->cv);
}

int demo_fail(const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return imi_error_set(IMI_EINTERNAL, 0, "%s", msg);
}
