/* Shared parts of the deliberately broken drivers the conformance suites load by path.
 *
 * Each <kind>_contract.c is built twice: with IMI_BAD_OPEN_FAILS its open fails, and every
 * slot but close aborts when called (after a failed open the core may call close only,
 * once); with IMI_BAD_NULL_SLOT one required slot is NULL and even open aborts (the core
 * must refuse the driver before calling anything). close counts its calls in the
 * environment variable IMI_BAD_DRIVER_CLOSES, which the cases read. */
#ifndef IMI_TESTS_BAD_DRIVER_H
#define IMI_TESTS_BAD_DRIVER_H

#include <stdio.h>
#include <stdlib.h>
#include "iminfra/driver/driver.h"

static inline void bad_called(const char *slot)
{
    fprintf(stderr, "broken test driver: the core called %s, which it must not\n", slot);
    abort();
}

/* STUB(get) defines stub_get; AS_SLOT(vt, get) casts it to the slot's type (through
 * void (*)(void), the cast C allows between function types). It aborts when called, so
 * the mismatched arguments are never read. */
#define STUB(slot) __attribute__((unused)) static void stub_##slot(void) { bad_called(#slot); }
#define AS_SLOT(type, slot) ((__typeof__(((type *)0)->slot))(void (*)(void))stub_##slot)

static inline void bad_count_close(void)
{
    const char *v = getenv("IMI_BAD_DRIVER_CLOSES");
    char n[16];
    snprintf(n, sizeof n, "%d", (v ? atoi(v) : 0) + 1);
    setenv("IMI_BAD_DRIVER_CLOSES", n, 1);
}

#ifdef IMI_BAD_OPEN_FAILS
#define BAD_NAME "open_fails"
#define BAD_DESCRIPTION "test driver whose open fails"
static inline int bad_open(void *st, const imi_driver_env *env)
{
    (void)st;
    return env->host->error(IMI_EUNAVAILABLE, 0, "open fails on purpose");
}
#else
#define BAD_NAME "null_slot"
#define BAD_DESCRIPTION "test driver with a required slot NULL"
static inline int bad_open(void *st, const imi_driver_env *env)
{
    (void)st, (void)env;
    bad_called("open of a driver with a required slot NULL");
    return IMI_EINTERNAL;
}
#endif

static inline void bad_close(void *st)
{
    (void)st;
    bad_count_close();
}

#endif
