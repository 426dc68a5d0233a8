/* The coord conformance suite: watches, leases and locks. */
#include "coord_suite.h"

/* ---- watch --------------------------------------------------------------------------- */

void imi_conf_coord_watch_put_delete_in_order(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    if (!(imi_coord_caps(c) & IMI_COORD_CAP_WATCH)) {
        imi_conf_free(t, c);
        return;
    }
    char p[128], k1[160], k2[160], other[160];
    imi_conf_name(t, "w/", p, sizeof p);
    snprintf(k1, sizeof k1, "%sk1", p);
    snprintf(k2, sizeof k2, "%sk2", p);
    imi_conf_name(t, "other", other, sizeof other);
    collector all, one;
    collector_init(&all);
    collector_init(&one);
    imi_coord_watch *wa = NULL, *w1 = NULL, *wpast = NULL;
    CONF_OK(t, imi_coord_watch_start(c, NULL, p, IMI_COORD_WATCH_PREFIX, 0, collect_event, &all, &wa));
    CONF_OK(t, imi_coord_watch_start(c, NULL, k1, 0, 0, collect_event, &one, &w1));
    int64_t rev[5];
    CONF_OK(t, imi_coord_put(c, NULL, k1, "v1", 2, &rev[0]));
    CONF_OK(t, imi_coord_put(c, NULL, other, "x", 1, NULL));
    CONF_OK(t, imi_coord_put(c, NULL, k2, "v2", 2, &rev[1]));
    CONF_OK(t, imi_coord_del(c, NULL, k1, &rev[2]));
    CONF_OK(t, imi_coord_put(c, NULL, k1, "v3", 2, &rev[3]));
    CONF_OK(t, imi_coord_del(c, NULL, k2, &rev[4]));
    int got = collector_wait(&all, 5, 5000);
    collector_wait(&one, 3, 2000);
    /* A watch from a past revision replays what happened since. */
    collector past;
    collector_init(&past);
    CONF_OK(t, imi_coord_watch_start(c, NULL, k1, 0, rev[0], collect_event, &past, &wpast));
    int got_past = collector_wait(&past, 3, 5000);
    imi_coord_watch_cancel(wa);
    imi_coord_watch_cancel(w1);
    imi_coord_watch_cancel(wpast);
    CONF_CHECK(t, got == 5, "prefix watch saw %d events, expected 5", got);
    static const int types[] = { IMI_COORD_EVENT_PUT, IMI_COORD_EVENT_PUT, IMI_COORD_EVENT_DELETE,
                                 IMI_COORD_EVENT_PUT, IMI_COORD_EVENT_DELETE };
    const char *keys[] = { k1, k2, k1, k1, k2 };
    for (int i = 0; i < 5; i++)
        CONF_CHECK(t, all.ev[i].type == types[i] && !strcmp(all.ev[i].key, keys[i]) &&
                          all.ev[i].rev == rev[i],
                   "event %d: type %d key %s rev %lld, expected type %d key %s rev %lld", i,
                   all.ev[i].type, all.ev[i].key, (long long)all.ev[i].rev, types[i], keys[i],
                   (long long)rev[i]);
    CONF_CHECK(t, !strcmp(all.ev[0].val, "v1") && !strcmp(all.ev[3].val, "v3"),
               "event values '%s' '%s'", all.ev[0].val, all.ev[3].val);
    CONF_CHECK(t, one.n == 3 && one.ev[0].rev == rev[0] && one.ev[1].rev == rev[2] &&
                      one.ev[2].rev == rev[3],
               "key watch saw %d events", one.n);
    CONF_CHECK(t, got_past == 3 && past.ev[0].rev == rev[0] && past.ev[2].rev == rev[3],
               "watch from revision %lld replayed %d events", (long long)rev[0], got_past);
    collector_destroy(&all);
    collector_destroy(&one);
    collector_destroy(&past);
    imi_coord_del(c, NULL, other, NULL);
    imi_conf_free(t, c);
}

/* ---- leases -------------------------------------------------------------------------- */

void imi_conf_coord_lease_keepalive_revoke_expire(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    if (!(imi_coord_caps(c) & IMI_COORD_CAP_LEASE)) {
        imi_conf_free(t, c);
        return;
    }
    char k1[128], k2[128];
    imi_conf_name(t, "revoked", k1, sizeof k1);
    imi_conf_name(t, "expired", k2, sizeof k2);
    int64_t lease = 0, granted = 0, left = 0, lease2 = 0;
    CONF_OK(t, imi_coord_lease_grant(c, NULL, 1000, &lease, &granted));
    CONF_CHECK(t, lease > 0 && granted >= 1000, "lease %lld granted %lld ms", (long long)lease,
               (long long)granted);
    CONF_OK(t, imi_coord_put_lease(c, NULL, k1, "x", 1, lease, NULL));
    imi_coord_meta m = { 0 };
    imi_buf v = IMI_BUF_INIT;
    CONF_OK(t, imi_coord_get(c, NULL, k1, &v, &m));
    CONF_CHECK(t, m.lease == lease, "key reads lease %lld, expected %lld", (long long)m.lease,
               (long long)lease);
    CONF_OK(t, imi_coord_lease_keepalive(c, NULL, lease, &left));
    CONF_CHECK(t, left > 0, "keepalive left %lld ms", (long long)left);
    CONF_OK(t, imi_coord_lease_revoke(c, NULL, lease));
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, k1, &v, NULL), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_coord_lease_keepalive(c, NULL, lease, &left), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_coord_put_lease(c, NULL, k1, "x", 1, lease, NULL), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, k1, &v, NULL), IMI_ENOTFOUND);

    /* Expiry without keepalive deletes the key, with a delete event. */
    CONF_OK(t, imi_coord_lease_grant(c, NULL, 1000, &lease2, &granted));
    CONF_OK(t, imi_coord_put_lease(c, NULL, k2, "y", 1, lease2, NULL));
    int64_t t0 = now_ms();
    bool gone = false;
    while (!gone && now_ms() - t0 < granted + 4000) {
        sleep_ms(100);
        gone = imi_coord_get(c, NULL, k2, &v, NULL) == IMI_ENOTFOUND;
    }
    CONF_CHECK(t, gone, "key of an expired lease still there after %lld ms",
               (long long)(now_ms() - t0));
    CONF_CHECK(t, now_ms() - t0 >= granted / 2, "key gone after %lld ms, lease was %lld ms",
               (long long)(now_ms() - t0), (long long)granted);
    CONF_CHECK_RC(t, imi_coord_lease_keepalive(c, NULL, lease2, &left), IMI_ENOTFOUND);
    imi_buf_free(&v);
    imi_conf_free(t, c);
}

/* ---- locks --------------------------------------------------------------------------- */

void imi_conf_coord_lock_try_unlock_wrong_owner(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if (!(imi_coord_caps(c1) & IMI_COORD_CAP_LEASE)) {
        imi_conf_free(t, c1);
        return;
    }
    OPEN_COORD(t, c2);
    char key[128];
    imi_conf_name(t, "lock", key, sizeof key);
    imi_coord_lock *a = NULL, *b = NULL;
    CONF_OK(t, imi_coord_lock_try(c1, NULL, key, 0, 0, &a));
    CONF_CHECK_RC(t, imi_coord_lock_try(c2, NULL, key, 0, 0, &b), IMI_ECONFLICT);
    CONF_CHECK_RC(t, imi_coord_lock_try(c1, NULL, key, 0, 0, &b), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_lock_held(a, NULL));
    CONF_OK(t, imi_coord_unlock(a, NULL));
    CONF_OK(t, imi_coord_lock_try(c2, NULL, key, 0, 0, &b));
    /* The key of a lock deleted behind its holder's back, then taken by another: the
     * first holder can no longer unlock, and its unlock leaves the new holder alone. */
    CONF_CHECK_RC(t, imi_coord_lock_try(c1, NULL, key, 0, 0, &a), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_del(c1, NULL, key, NULL));
    CONF_CHECK_RC(t, imi_coord_lock_held(b, NULL), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_lock_try(c1, NULL, key, 0, 0, &a));
    CONF_CHECK_RC(t, imi_coord_unlock(b, NULL), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_lock_held(a, NULL));
    CONF_OK(t, imi_coord_unlock(a, NULL));
    imi_buf v = IMI_BUF_INIT;
    CONF_CHECK_RC(t, imi_coord_get(c1, NULL, key, &v, NULL), IMI_ENOTFOUND);
    imi_conf_free(t, c2);
    imi_conf_free(t, c1);
}

typedef struct acquirer {
    imi_coord *c;
    const char *key;
    int rc;
    int64_t waited_ms;
    imi_coord_lock *lock;
} acquirer;

static void *acquire_main(void *arg)
{
    acquirer *a = arg;
    imi_ctx *ctx = imi_ctx_new(10000);
    int64_t t0 = now_ms();
    a->rc = imi_coord_lock_acquire(a->c, ctx, a->key, 0, 0, &a->lock);
    a->waited_ms = now_ms() - t0;
    imi_ctx_free(ctx);
    return NULL;
}

void imi_conf_coord_lock_acquire_waits(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if (!(imi_coord_caps(c1) & IMI_COORD_CAP_LEASE)) {
        imi_conf_free(t, c1);
        return;
    }
    OPEN_COORD(t, c2);
    char key[128];
    imi_conf_name(t, "lock", key, sizeof key);
    imi_coord_lock *a = NULL, *b = NULL;
    CONF_OK(t, imi_coord_lock_acquire(c1, NULL, key, 0, 0, &a));
    imi_ctx *ctx = imi_ctx_new(300);
    int64_t t0 = now_ms();
    int rc = imi_coord_lock_acquire(c2, ctx, key, 0, 0, &b);
    int64_t waited = now_ms() - t0;
    imi_ctx_free(ctx);
    CONF_CHECK(t, rc == IMI_ETIMEDOUT && waited >= 250, "acquire of a held lock gave %s after "
               "%lld ms (expected IMI_ETIMEDOUT after 300)", imi_err_name(rc), (long long)waited);
    ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    rc = imi_coord_lock_acquire(c2, ctx, key, 0, 0, &b);
    imi_ctx_free(ctx);
    CONF_CHECK(t, rc == IMI_ECANCELED, "acquire with a cancelled ctx gave %s", imi_err_name(rc));

    acquirer w = { .c = c2, .key = key };
    pthread_t th;
    pthread_create(&th, NULL, acquire_main, &w);
    sleep_ms(300);
    CONF_OK(t, imi_coord_unlock(a, NULL));
    pthread_join(th, NULL);
    CONF_CHECK(t, w.rc == IMI_OK, "waiting acquire gave %s", imi_err_name(w.rc));
    CONF_CHECK(t, w.waited_ms >= 250 && w.waited_ms < 5000,
               "waiting acquire took %lld ms for a lock released after 300 ms",
               (long long)w.waited_ms);
    CONF_OK(t, imi_coord_lock_held(w.lock, NULL));
    CONF_OK(t, imi_coord_unlock(w.lock, NULL));
    imi_conf_free(t, c2);
    imi_conf_free(t, c1);
}

static void on_lost(void *ud) { atomic_fetch_add((atomic_int *)ud, 1); }

void imi_conf_coord_lock_expire_and_renew(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if (!(imi_coord_caps(c1) & IMI_COORD_CAP_LEASE)) {
        imi_conf_free(t, c1);
        return;
    }
    OPEN_COORD(t, c2);
    char k1[128], k2[128];
    imi_conf_name(t, "expiring", k1, sizeof k1);
    imi_conf_name(t, "renewed", k2, sizeof k2);
    imi_coord_lock *a = NULL, *b = NULL, *r = NULL, *x = NULL;
    atomic_int lost_a = 0, lost_r = 0;
    /* Not renewed: it expires, another takes it, the first learns it lost it. */
    CONF_OK(t, imi_coord_lock_try(c1, NULL, k1, 1000, IMI_COORD_LOCK_NO_RENEW, &a));
    imi_coord_lock_on_lost(a, on_lost, &lost_a);
    CONF_OK(t, imi_coord_lock_renew(a, NULL));
    /* Renewed by the keeper: still held after well past its TTL. */
    CONF_OK(t, imi_coord_lock_try(c1, NULL, k2, 1000, 0, &r));
    imi_coord_lock_on_lost(r, on_lost, &lost_r);
    /* A plain lease handed to the keeper lives on the same way. */
    char k3[128];
    imi_conf_name(t, "kept", k3, sizeof k3);
    int64_t kept = 0, kept_ttl = 0;
    atomic_int lost_kept = 0;
    CONF_OK(t, imi_coord_lease_grant(c1, NULL, 1000, &kept, &kept_ttl));
    CONF_OK(t, imi_coord_put_lease(c1, NULL, k3, "k", 1, kept, NULL));
    CONF_OK(t, imi_coord_lease_keep(c1, kept, kept_ttl, on_lost, &lost_kept));
    int64_t t0 = now_ms();
    int rc = IMI_ECONFLICT;
    while (rc == IMI_ECONFLICT && now_ms() - t0 < 8000) {
        sleep_ms(100);
        rc = imi_coord_lock_try(c2, NULL, k1, 0, 0, &b);
    }
    CONF_CHECK(t, rc == IMI_OK, "an expired lock could not be taken after %lld ms: %s",
               (long long)(now_ms() - t0), imi_err_name(rc));
    CONF_CHECK(t, now_ms() - t0 >= 500, "a lock of 1000 ms expired after %lld ms",
               (long long)(now_ms() - t0));
    CONF_CHECK_RC(t, imi_coord_lock_held(a, NULL), IMI_ECONFLICT);
    CONF_CHECK(t, atomic_load(&lost_a) == 1, "lost callback ran %d times", atomic_load(&lost_a));
    CONF_CHECK_RC(t, imi_coord_lock_renew(a, NULL), IMI_ECONFLICT);
    CONF_CHECK_RC(t, imi_coord_unlock(a, NULL), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_lock_held(b, NULL));
    /* The renewed lock outlived the expired one's TTL. */
    if (now_ms() - t0 < 1500)
        sleep_ms(1500 - (now_ms() - t0));
    CONF_CHECK_RC(t, imi_coord_lock_try(c2, NULL, k2, 0, 0, &x), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_lock_held(r, NULL));
    CONF_CHECK(t, atomic_load(&lost_r) == 0, "a renewed lock was reported lost");
    imi_buf v = IMI_BUF_INIT;
    CONF_OK(t, imi_coord_get(c2, NULL, k3, &v, NULL));
    imi_buf_free(&v);
    CONF_OK(t, imi_coord_lease_revoke(c1, NULL, kept));
    CONF_CHECK(t, atomic_load(&lost_kept) == 0, "a kept lease was reported lost");
    CONF_OK(t, imi_coord_unlock(r, NULL));
    CONF_OK(t, imi_coord_unlock(b, NULL));
    imi_conf_free(t, c2);
    imi_conf_free(t, c1);
}
