/* The keeper: one thread per coord handle that renews leases at a third of their TTL,
 * notices the ones that are gone (the backend says so, or no renewal succeeded for a
 * whole TTL) and then either recovers them (registrations) or reports them lost. */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "coord_internal.h"
#include "iminfra/error.h"

struct coord_keep {
    coord_keep *next;
    int64_t lease;
    int64_t ttl_ms;
    int64_t due_ns;        /* next renewal */
    int64_t last_ok_ns;    /* last time the lease was known alive */
    coord_lost_cb lost;
    coord_recover_cb recover;
    void *ud;
    bool busy;             /* the keeper thread is working on it, unlocked */
    bool removed;          /* free it when no longer busy */
    bool awaited;          /* a remover waits for !busy and frees it itself */
    bool dead;             /* reported lost: nothing more to do */
    bool plain;            /* imi_coord_lease_keep: nobody holds a pointer to it */
};

struct coord_keeper {
    pthread_mutex_t mu;
    pthread_cond_t cond;   /* on CLOCK_MONOTONIC */
    pthread_t thread;
    bool running, stop;
    int64_t wake_ns;       /* when the thread wakes next; INT64_MAX: not before a signal */
    coord_keep *entries;
};

static void free_entry_locked(coord_keeper *k, coord_keep *e)
{
    for (coord_keep **p = &k->entries; *p; p = &(*p)->next)
        if (*p == e) {
            *p = e->next;
            break;
        }
    free(e);
}

static int64_t interval_ns(const coord_keep *e) { return imi_ms_to_ns_sat(e->ttl_ms) / 3; }

/* Retry sooner after a failure that did not prove the lease gone. */
static int64_t retry_ns(const coord_keep *e)
{
    int64_t r = imi_ms_to_ns_sat(e->ttl_ms) / 10;
    return r > 500000000 ? 500000000 : r;
}

/* A ctx for one call of the keeper: at most a third of the TTL, so that a hung call
 * cannot hold up the renewal of the others for long. NULL when out of memory. */
static imi_ctx *budget_ctx(const imi_coord *c, const coord_keep *e)
{
    int64_t budget = e->ttl_ms / 3;
    if (budget > c->in.timeout_ms)
        budget = c->in.timeout_ms;
    return imi_ctx_new(budget > 0 ? budget : 1);
}

static int renew(imi_coord *c, coord_keep *e)
{
    imi_ctx *ctx = budget_ctx(c, e);
    if (!ctx)
        return IMI_ENOMEM;
    int64_t left = 0;
    int rc = coord_enter(c, NULL);
    if (!rc) {
        rc = VT(c)->lease_keepalive(c->in.state, ctx, e->lease, &left);
        coord_leave(c);
    }
    imi_ctx_free(ctx);
    return rc;
}

/* One entry is due: renew it, unlocked, and decide what comes next. */
static void work(imi_coord *c, coord_keeper *k, coord_keep *e, int64_t now)
{
    e->busy = true;
    pthread_mutex_unlock(&k->mu);
    int rc = renew(c, e);
    int64_t after = imi_now_mono_ns();
    bool gone = rc == IMI_ENOTFOUND || (rc && after - e->last_ok_ns > imi_ms_to_ns_sat(e->ttl_ms));
    int64_t lease = e->lease, ttl = e->ttl_ms;
    bool recovered = false, report = false;
    if (!rc) {
        e->last_ok_ns = now;
    } else if (gone && e->recover) {
        imi_ctx *ctx = budget_ctx(c, e);
        recovered = ctx && e->recover(e->ud, ctx, &lease, &ttl) == IMI_OK;
        imi_ctx_free(ctx);
    } else if (gone) {
        report = true;
    }
    if (report && e->lost)
        e->lost(e->ud);
    pthread_mutex_lock(&k->mu);
    if (!rc) {
        e->due_ns = now + interval_ns(e);
    } else if (recovered) {
        e->lease = lease;
        e->ttl_ms = ttl;
        e->last_ok_ns = after;
        e->due_ns = after + interval_ns(e);
    } else if (report) {
        e->dead = true;
    } else {
        e->due_ns = after + retry_ns(e);
    }
    e->busy = false;
    /* A remover waiting on it frees it when it wakes: freeing it here would pull it from
     * under that thread. */
    if ((e->removed && !e->awaited) || (e->dead && e->plain))
        free_entry_locked(k, e);
    pthread_cond_broadcast(&k->cond);
}

static void *keeper_main(void *arg)
{
    imi_coord *c = arg;
    coord_keeper *k = c->keeper;
    pthread_mutex_lock(&k->mu);
    while (!k->stop) {
        coord_keep *next = NULL;
        for (coord_keep *e = k->entries; e; e = e->next)
            if (!e->dead && !e->removed && (!next || e->due_ns < next->due_ns))
                next = e;
        int64_t now = imi_now_mono_ns();
        if (!next) {
            k->wake_ns = INT64_MAX;
            pthread_cond_wait(&k->cond, &k->mu);
        } else if (next->due_ns > now) {
            k->wake_ns = next->due_ns;
            struct timespec ts = { next->due_ns / 1000000000, next->due_ns % 1000000000 };
            pthread_cond_timedwait(&k->cond, &k->mu, &ts);
        } else {
            k->wake_ns = 0;
            work(c, k, next, now);
        }
    }
    pthread_mutex_unlock(&k->mu);
    return NULL;
}

static int keeper_get(imi_coord *c, coord_keeper **out)
{
    pthread_mutex_lock(&c->mu);
    coord_keeper *k = c->keeper;
    int rc = IMI_OK;
    if (!k && (k = calloc(1, sizeof *k))) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&k->cond, &ca);
        pthread_condattr_destroy(&ca);
        pthread_mutex_init(&k->mu, NULL);
        c->keeper = k;
    } else if (!k) {
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    if (k && !k->running && !k->stop) {
        if (pthread_create(&k->thread, NULL, keeper_main, c))
            rc = imi_error_set(IMI_EINTERNAL, 0, "coord: cannot start the keeper thread");
        else
            k->running = true;
    }
    if (k && k->stop)
        rc = imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", c->in.section);
    pthread_mutex_unlock(&c->mu);
    *out = k;
    return rc;
}

int imi_coord_keeper_add(imi_coord *c, int64_t lease, int64_t ttl_ms, coord_lost_cb lost,
                         coord_recover_cb recover, void *ud, coord_keep **out)
{
    coord_keeper *k;
    int rc = keeper_get(c, &k);
    if (rc)
        return rc;
    coord_keep *e = calloc(1, sizeof *e);
    if (!e)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    int64_t now = imi_now_mono_ns();
    *e = (coord_keep){ .lease = lease, .ttl_ms = ttl_ms, .lost = lost, .recover = recover,
                       .ud = ud, .last_ok_ns = now, .plain = !out };
    e->due_ns = now + interval_ns(e);
    pthread_mutex_lock(&k->mu);
    e->next = k->entries;
    k->entries = e;
    /* Wake the thread only when this entry is due before it would wake anyway. */
    if (e->due_ns < k->wake_ns)
        pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
    if (out)
        *out = e;
    return IMI_OK;
}

static bool on_keeper_thread(const coord_keeper *k)
{
    return k->running && pthread_equal(pthread_self(), k->thread);
}

void imi_coord_keeper_remove(imi_coord *c, coord_keep *e)
{
    coord_keeper *k = c->keeper;
    if (!e || !k)
        return;
    pthread_mutex_lock(&k->mu);
    e->removed = true;
    /* On the keeper thread (a lost or recover callback releasing its own hold) the entry
     * may be the busy one: work() frees it once done. Elsewhere, wait for the renewal in
     * progress and free it here. */
    if (!on_keeper_thread(k)) {
        e->awaited = true;
        while (e->busy)
            pthread_cond_wait(&k->cond, &k->mu);
    }
    if (!e->busy)
        free_entry_locked(k, e);
    pthread_mutex_unlock(&k->mu);
}

void imi_coord_keeper_forget_lease(imi_coord *c, int64_t lease)
{
    coord_keeper *k = c->keeper;
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    /* Entries of holds stay (their release removes them); only plain kept leases go. */
    for (coord_keep *e = k->entries, *next; e; e = next) {
        next = e->next;
        if (e->lease != lease || !e->plain)
            continue;
        e->removed = true;
        if (!e->busy)
            free_entry_locked(k, e);
    }
    pthread_mutex_unlock(&k->mu);
}

void imi_coord_keeper_stop(imi_coord *c)
{
    pthread_mutex_lock(&c->mu);
    coord_keeper *k = c->keeper;
    pthread_mutex_unlock(&c->mu);
    if (!k)
        return;
    pthread_mutex_lock(&k->mu);
    k->stop = true;
    bool join = k->running && !on_keeper_thread(k);
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->mu);
    if (join)
        pthread_join(k->thread, NULL);
    pthread_mutex_lock(&k->mu);
    k->running = false;
    pthread_mutex_unlock(&k->mu);
}

void imi_coord_keeper_free(imi_coord *c)
{
    coord_keeper *k = c->keeper;
    if (!k)
        return;
    imi_coord_keeper_stop(c);
    for (coord_keep *e = k->entries, *next; e; e = next) {
        next = e->next;
        free(e);
    }
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->mu);
    free(k);
    c->keeper = NULL;
}

/* ---- the public lease calls that involve the keeper ---- */

int imi_coord_lease_revoke(imi_coord *c, const imi_ctx *ctx, int64_t lease)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease > 0, "lease_revoke: lease must be positive");
    int rc = coord_enter(c, ctx);
    if (rc)
        return rc;
    imi_coord_keeper_forget_lease(c, lease);
    rc = VT(c)->lease_revoke(c->in.state, ctx, lease);
    coord_leave(c);
    return rc;
}

int imi_coord_lease_keep(imi_coord *c, int64_t lease, int64_t ttl_ms, imi_coord_lost_fn on_lost,
                         void *ud)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease > 0 && ttl_ms > 0 && ttl_ms <= IMI_COORD_LEASE_TTL_MAX_MS,
                "lease_keep: a lease and a ttl of 1 to 3153600000000 ms (100 years) are required");
    if (atomic_load(&c->in.closed))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", c->in.section);
    return imi_coord_keeper_add(c, lease, ttl_ms, on_lost, NULL, ud, NULL);
}
