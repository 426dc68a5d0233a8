/* The parts of `imi demo`: one function per component, each printing what it does. */
#ifndef IMI_TOOLS_DEMO_H
#define IMI_TOOLS_DEMO_H

#include <pthread.h>
#include <stdbool.h>
#include "iminfra/iminfra.h"

typedef struct demo_part {
    const char *name;
    const char *section;       /* the config section it needs, NULL: none */
    int (*run)(imi_app *app);  /* IMI_OK, or the failing code with the error detail set */
} demo_part;

/* Prints "   <what>" lines. */
void demo_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A mutex and a condition on CLOCK_MONOTONIC: what a part waits on while driver threads
 * (watch callbacks, mq handlers) report to it. */
typedef struct demo_sync {
    pthread_mutex_t mu;
    pthread_cond_t cv;
} demo_sync;

void demo_sync_init(demo_sync *s);
void demo_sync_destroy(demo_sync *s);
/* With s->mu held: waits for a signal or the deadline (imi_now_mono_ns() scale). Returns
 * false once the deadline has passed, so callers loop `while (!done && demo_sync_wait())`. */
bool demo_sync_wait(demo_sync *s, int64_t deadline_ns);
void demo_sync_signal(demo_sync *s);  /* with s->mu held */

/* A failed expectation of a part: sets the error detail, returns IMI_EINTERNAL. */
int demo_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int demo_clog(imi_app *app);
int demo_coord(imi_app *app);
int demo_mq(imi_app *app);
int demo_db(imi_app *app);
int demo_cache(imi_app *app);
int demo_uid(imi_app *app);

#endif
