/* An event collector of the coord conformance suite, which watches and service watches
 * report into. Included through coord_suite.h. */
#ifndef IMI_TESTS_COORD_COLLECT_H
#define IMI_TESTS_COORD_COLLECT_H

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

/* ---- an event collector for watches ---------------------------------------------------- */

typedef struct seen {
    int type;
    char key[160];
    char val[64];
    int64_t rev;
} seen;

typedef struct collector {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    seen ev[64];
    int n;
} collector;

static inline void collector_init(collector *col)
{
    memset(col, 0, sizeof *col);
    pthread_mutex_init(&col->mu, NULL);
    pthread_cond_init(&col->cond, NULL);
}

static inline void collector_destroy(collector *col)
{
    pthread_cond_destroy(&col->cond);
    pthread_mutex_destroy(&col->mu);
}

static inline void collect_event(void *ud, const imi_coord_event *ev)
{
    collector *col = ud;
    pthread_mutex_lock(&col->mu);
    if (col->n < 64) {
        seen *s = &col->ev[col->n++];
        s->type = ev->type;
        snprintf(s->key, sizeof s->key, "%.*s", (int)ev->key_len, ev->key ? ev->key : "");
        snprintf(s->val, sizeof s->val, "%.*s", (int)ev->value_len, (const char *)ev->value);
        s->rev = ev->meta.mod_rev;
    }
    pthread_cond_broadcast(&col->cond);
    pthread_mutex_unlock(&col->mu);
}

static inline void collect_service(void *ud, imi_coord_service_event ev, const char *instance,
                            const char *addr)
{
    imi_coord_event e = { .type = ev == IMI_COORD_SERVICE_UP ? IMI_COORD_EVENT_PUT
                                                             : IMI_COORD_EVENT_DELETE,
                          .key = instance, .key_len = strlen(instance), .value = addr,
                          .value_len = strlen(addr) };
    collect_event(ud, &e);
}

/* Waits until at least n events arrived or timeout_ms passed; returns the count. */
static inline int collector_wait(collector *col, int n, long timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    pthread_mutex_lock(&col->mu);
    while (col->n < n && now_ms() < end) {
        pthread_mutex_unlock(&col->mu);
        sleep_ms(5);
        pthread_mutex_lock(&col->mu);
    }
    int got = col->n;
    pthread_mutex_unlock(&col->mu);
    return got;
}

#endif
