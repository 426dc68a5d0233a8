/* Locks: the lock key created only when absent, under a lease of its own; waiting for a
 * held lock watches the key for its delete (or polls when the driver cannot watch). */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "coord_internal.h"
#include "iminfra/error.h"

#define LOCK_POLL_MS 50

struct imi_coord_lock {
    coord_hold *hold;
};

int imi_coord_lock_try(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t ttl_ms,
                       unsigned flags, imi_coord_lock **out)
{
    if (!c || !out || !key || !*key)
        return imi_error_set(IMI_EINVALID, 0, "lock: handle, key and output are required");
    *out = NULL;
    if (ttl_ms < 0)
        return imi_error_set(IMI_EINVALID, 0, "lock: negative ttl");
    int rc = coord_need(c, IMI_COORD_CAP_LEASE, "locks (they need leases)");
    if (rc)
        return rc;
    imi_coord_lock *l = calloc(1, sizeof *l);
    if (!l)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    unsigned hf = HOLD_EXCLUSIVE | ((flags & IMI_COORD_LOCK_NO_RENEW) ? 0 : HOLD_RENEW);
    rc = imi_coord_hold_take(c, ctx, key, c->owner, strlen(c->owner), ttl_ms, hf, &l->hold);
    if (rc) {
        free(l);
        return rc;
    }
    *out = l;
    return IMI_OK;
}

typedef struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool freed;
} waiter;

static void on_event(void *ud, const imi_coord_event *ev)
{
    waiter *w = ud;
    if (ev->type == IMI_COORD_EVENT_PUT)
        return;
    pthread_mutex_lock(&w->mu);
    w->freed = true;
    pthread_cond_broadcast(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

/* Waits until the holder's key is deleted, in slices so cancel is seen; returns the
 * ctx error or ETIMEDOUT at the deadline, IMI_OK to try again. */
static int wait_free(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t deadline)
{
    if (coord_need(c, IMI_COORD_CAP_WATCH, "watches")) {
        imi_error_clear();
        sleep_ms(LOCK_POLL_MS);
        return IMI_OK;
    }
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m = { 0 };
    int rc = imi_coord_get(c, ctx, key, &v, &m);
    imi_buf_free(&v);
    if (rc == IMI_ENOTFOUND)
        return IMI_OK;
    if (rc)
        return rc;
    waiter w = { .freed = false };
    pthread_mutex_init(&w.mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &ca);
    pthread_condattr_destroy(&ca);
    imi_coord_watch *watch = NULL;
    /* From the revision after the one we saw: a delete in between is not missed. */
    rc = imi_coord_watch_start(c, ctx, key, 0, m.mod_rev + 1, on_event, &w, &watch);
    pthread_mutex_lock(&w.mu);
    while (!rc && !w.freed) {
        int64_t now = imi_now_mono_ns();
        if ((rc = imi_ctx_err(ctx)))
            break;
        if (now >= deadline) {
            rc = imi_error_set(IMI_ETIMEDOUT, 0, "lock: %s still held at the deadline", key);
            break;
        }
        int64_t until = now + 100000000 < deadline ? now + 100000000 : deadline;
        struct timespec ts = { until / 1000000000, until % 1000000000 };
        pthread_cond_timedwait(&w.cond, &w.mu, &ts);
    }
    pthread_mutex_unlock(&w.mu);
    if (watch)
        imi_coord_watch_cancel(watch);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.mu);
    return rc;
}

int imi_coord_lock_acquire(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t ttl_ms,
                           unsigned flags, imi_coord_lock **out)
{
    int64_t deadline = c ? imi_coord_deadline_ns(c, ctx) : 0;
    for (;;) {
        int rc = imi_coord_lock_try(c, ctx, key, ttl_ms, flags, out);
        if (rc != IMI_ECONFLICT)
            return rc;
        if ((rc = imi_ctx_err(ctx)))
            return rc;
        if (imi_now_mono_ns() >= deadline)
            return imi_error_set(IMI_ETIMEDOUT, 0, "lock: %s still held at the deadline", key);
        if ((rc = wait_free(c, ctx, key, deadline)))
            return rc;
    }
}

int imi_coord_lock_renew(imi_coord_lock *l, const imi_ctx *ctx)
{
    if (!l)
        return imi_error_set(IMI_EINVALID, 0, "lock: no lock");
    return imi_coord_hold_renew(l->hold, ctx);
}

int imi_coord_lock_held(imi_coord_lock *l, const imi_ctx *ctx)
{
    if (!l)
        return imi_error_set(IMI_EINVALID, 0, "lock: no lock");
    return imi_coord_hold_check(l->hold, ctx);
}

void imi_coord_lock_on_lost(imi_coord_lock *l, imi_coord_lost_fn fn, void *ud)
{
    if (l)
        imi_coord_hold_on_lost(l->hold, fn, ud);
}

int imi_coord_unlock(imi_coord_lock *l, const imi_ctx *ctx)
{
    if (!l)
        return imi_error_set(IMI_EINVALID, 0, "lock: no lock");
    int rc = imi_coord_hold_release(l->hold, ctx);
    free(l);
    return rc;
}
