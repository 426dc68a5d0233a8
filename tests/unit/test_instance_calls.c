/* The call path of the instance skeleton (instance.h): close while calls are in flight on
 * other threads never lets a driver slot run during or after the driver's close, and the
 * per-thread stripes of the counters go back to the pool when a thread exits without
 * losing a count. White-box: the cache's vtable copy is wrapped to watch the driver. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "iminfra/driver/cache_driver.h"
#include "instance.h"

#define THREADS 4
#define ROUNDS 40

static imi_app *open_app(void)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse("[log]\nlevel = error\n[cache]\ndriver = mem\nprefix = t:\n",
                                  "test.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

/* ---- the watched driver ------------------------------------------------------------- */

static int (*real_get)(void *, const imi_ctx *, const char *, size_t, imi_buf *);
static void (*real_close)(void *);
static atomic_int in_slot;          /* slot calls running now */
static atomic_bool driver_closed;   /* the driver's close has started */
static atomic_int overlaps;         /* slot calls seen running at or after the close */

static int watched_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val)
{
    atomic_fetch_add(&in_slot, 1);
    if (atomic_load(&driver_closed))
        atomic_fetch_add(&overlaps, 1);
    int rc = real_get(st, ctx, key, klen, val);
    if (atomic_load(&driver_closed))
        atomic_fetch_add(&overlaps, 1);
    atomic_fetch_sub(&in_slot, 1);
    return rc;
}

static void watched_close(void *st)
{
    atomic_store(&driver_closed, true);
    if (atomic_load(&in_slot))
        atomic_fetch_add(&overlaps, 1);
    real_close(st);
}

static void watch(imi_cache *c)
{
    imi_instance *in = (imi_instance *)c; /* an imi_cache starts with its instance */
    imi_cache_driver *vt = (imi_cache_driver *)in->vt; /* the instance's own copy */
    real_get = vt->get;
    real_close = vt->close;
    vt->get = watched_get;
    vt->close = watched_close;
}

/* ---- close while calls are in flight ------------------------------------------------ */

typedef struct caller {
    imi_cache *c;
    atomic_long calls;
    long bad;                       /* results other than ok, notfound and closed */
} caller;

static void *call_until_closed(void *ud)
{
    caller *w = ud;
    imi_buf v = IMI_BUF_INIT;
    /* Bounded: the close comes within the test's wait; 50M calls is minutes. */
    for (long i = 0; i < 50000000; i++) {
        int rc = imi_cache_get(w->c, NULL, "k", &v);
        if (rc == IMI_ECLOSED)
            break;
        if (rc != IMI_OK && rc != IMI_ENOTFOUND)
            w->bad++;
        atomic_fetch_add_explicit(&w->calls, 1, memory_order_relaxed);
    }
    imi_buf_free(&v);
    return NULL;
}

Test(instance_calls, close_never_overlaps_a_call_in_flight)
{
    imi_app *app = open_app();
    for (int r = 0; r < ROUNDS; r++) {
        imi_cache *c = NULL;
        cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
        cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_OK);
        watch(c);
        atomic_store(&driver_closed, false);
        caller w[THREADS];
        pthread_t th[THREADS];
        for (int i = 0; i < THREADS; i++) {
            w[i] = (caller){ .c = c };
            atomic_init(&w[i].calls, 0);
            cr_assert_eq(pthread_create(&th[i], NULL, call_until_closed, &w[i]), 0);
        }
        /* Close once every thread is calling (bounded wait: 10 s). */
        for (int i = 0, waited = 0; i < THREADS; waited++) {
            cr_assert_lt(waited, 10000, "thread %d made no call in 10 s", i);
            if (atomic_load(&w[i].calls) >= 200 + r * 10) {
                i++;
                continue;
            }
            nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
        }
        cr_assert_eq(imi_cache_close(c), IMI_OK, "%s", imi_error_message());
        imi_buf v = IMI_BUF_INIT;
        cr_expect_eq(imi_cache_get(c, NULL, "k", &v), IMI_ECLOSED, "a call after close");
        for (int i = 0; i < THREADS; i++) {
            pthread_join(th[i], NULL);
            cr_expect_eq(w[i].bad, 0, "round %d thread %d: %ld unexpected results", r, i,
                         w[i].bad);
        }
        cr_expect_eq(atomic_load(&overlaps), 0, "round %d: a driver slot ran during or after "
                     "the driver's close", r);
        int left = 0;
        for (int i = 0; i < IMI_METRIC_STRIPES; i++)
            left += atomic_load(&((imi_instance *)c)->inflight[i].n);
        cr_expect_eq(left, 0, "round %d: %d calls still counted in flight", r, left);
        imi_cache_free(c);
    }
    imi_app_free(app);
}

/* ---- stripes of exited threads ------------------------------------------------------ */

typedef struct one_thread {
    imi_cache *c;
    bool owned;
} one_thread;

static void *hundred_calls(void *ud)
{
    one_thread *o = ud;
    imi_buf v = IMI_BUF_INIT;
    for (int i = 0; i < 100; i++)
        imi_cache_get(o->c, NULL, "absent", &v);
    o->owned = imi_tls.owned;
    imi_buf_free(&v);
    return NULL;
}

Test(instance_calls, an_exited_threads_stripe_goes_to_the_next_thread)
{
    imi_app *app = open_app();
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    int n = 3 * IMI_OWNED_STRIPES; /* more threads than stripes, one after another */
    for (int i = 0; i < n; i++) {
        one_thread o = { .c = c };
        pthread_t th;
        cr_assert_eq(pthread_create(&th, NULL, hundred_calls, &o), 0);
        pthread_join(th, NULL);
        cr_expect(o.owned, "thread %d of %d had to share a stripe", i + 1, n);
    }
    /* The counts of every thread are all there: a new owner continues its stripe. */
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    cr_assert_not_null(f);
    cr_assert_eq(imi_metrics_write(app, f), IMI_OK, "%s", imi_error_message());
    fclose(f);
    char want[200];
    snprintf(want, sizeof want, "imi_cache_calls_total{instance=\"default\",driver=\"mem\","
             "op=\"get\",code=\"notfound\"} %d\n", n * 100);
    cr_expect_not_null(strstr(text, want), "missing: %s--- output:\n%s", want, text);
    free(text);
    imi_cache_free(c);
    imi_app_free(app);
}
