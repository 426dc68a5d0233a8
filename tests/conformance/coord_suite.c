/* The coord conformance suite: every coord driver must pass it. Keys, services and locks
 * are named after t->unique so the suite can run on a shared real server. Lease TTLs are
 * read back from the backend (etcd rounds them up), and waits are bounded by them. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "contract.h"
#include "coord_collect.h"

#define OPEN_COORD(t, c)                                                   \
    imi_coord *c = NULL;                                                   \
    CONF_OK(t, imi_coord_open((t)->app, NULL, &c))

/* ---- open and close ------------------------------------------------------------------ */

static void open_ping_close_twice(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    CONF_OK(t, imi_coord_ping(c, NULL));
    CONF_OK(t, imi_coord_close(c));
    CONF_CHECK_RC(t, imi_coord_close(c), IMI_ECLOSED);
    imi_buf v = IMI_BUF_INIT;
    imi_coord_lock *l = NULL;
    imi_coord_watch *w = NULL;
    imi_coord_registration *r = NULL;
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, "k", &v, NULL), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_coord_put(c, NULL, "k", "v", 1, NULL), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_coord_cas(c, NULL, "k", 0, "v", 1, NULL), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_coord_ping(c, NULL), IMI_ECLOSED);
    if (imi_coord_caps(c) & IMI_COORD_CAP_LEASE) {
        CONF_CHECK_RC(t, imi_coord_lock_try(c, NULL, "k", 0, 0, &l), IMI_ECLOSED);
        CONF_CHECK_RC(t, imi_coord_register(c, NULL, "svc", NULL, "a", 0, &r), IMI_ECLOSED);
    }
    if (imi_coord_caps(c) & IMI_COORD_CAP_WATCH)
        CONF_CHECK_RC(t, imi_coord_watch_start(c, NULL, "k", 0, 0, collect_event, NULL, &w),
                      IMI_ECLOSED);
    imi_coord_free(c);
}

static void open_bad_options(imi_conf_t *t)
{
    static const char *const bad[][2] = {
        { "no_such_option", "1" }, { "lease_ttl", "soon" }, { "lease_ttl", "0" },
        { "timeout", "-" }, { "driver", "no_such_driver" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imi_config *cfg = imi_config_copy(imi_app_config(t->app));
        CONF_CHECK(t, cfg, "config copy failed");
        CONF_OK(t, imi_config_set(cfg, "coord", bad[i][0], bad[i][1]));
        imi_app *app = NULL;
        CONF_OK(t, imi_app_open_config(cfg, &app));
        imi_coord *c = NULL;
        int rc = imi_coord_open(app, NULL, &c);
        imi_coord_free(c);
        imi_app_close(app);
        CONF_CHECK(t, rc == IMI_ECONFIG || rc == IMI_EDRIVER,
                   "%s = %s opened with %s", bad[i][0], bad[i][1], imi_err_name(rc));
    }
    imi_coord *c = NULL;
    CONF_CHECK_RC(t, imi_coord_open(t->app, "no_such_instance", &c), IMI_ECONFIG);
}

/* ---- key-value ----------------------------------------------------------------------- */

static void put_get_del_miss(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    char key[128];
    imi_conf_name(t, "k", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m = { 0 };
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, key, &v, &m), IMI_ENOTFOUND);
    int64_t r1 = 0, r2 = 0, r3 = 0;
    CONF_OK(t, imi_coord_put(c, NULL, key, "one", 3, &r1));
    CONF_OK(t, imi_coord_get(c, NULL, key, &v, &m));
    CONF_CHECK(t, v.len == 3 && !memcmp(v.data, "one", 3), "got '%s'", v.data);
    CONF_CHECK(t, m.version == 1 && m.create_rev == r1 && m.mod_rev == r1 && m.lease == 0,
               "after create: version %lld create %lld mod %lld (put rev %lld)",
               (long long)m.version, (long long)m.create_rev, (long long)m.mod_rev, (long long)r1);
    CONF_OK(t, imi_coord_put(c, NULL, key, "", 0, &r2));
    CONF_OK(t, imi_coord_get(c, NULL, key, &v, &m));
    CONF_CHECK(t, v.len == 0, "empty value read back as %zu bytes", v.len);
    CONF_CHECK(t, r2 > r1 && m.version == 2 && m.create_rev == r1 && m.mod_rev == r2,
               "after update: version %lld create %lld mod %lld", (long long)m.version,
               (long long)m.create_rev, (long long)m.mod_rev);
    CONF_OK(t, imi_coord_del(c, NULL, key, &r3));
    CONF_CHECK(t, r3 > r2, "delete revision %lld not after %lld", (long long)r3, (long long)r2);
    CONF_CHECK_RC(t, imi_coord_del(c, NULL, key, NULL), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, key, &v, NULL), IMI_ENOTFOUND);
    CONF_OK(t, imi_coord_put(c, NULL, key, "again", 5, NULL));
    CONF_OK(t, imi_coord_get(c, NULL, key, &v, &m));
    CONF_CHECK(t, m.version == 1 && m.create_rev > r3, "re-created key has version %lld",
               (long long)m.version);
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, "", &v, NULL), IMI_EINVALID);
    imi_coord_del(c, NULL, key, NULL);
    imi_buf_free(&v);
    imi_coord_free(c);
}

static void binary_values_weird_keys(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    static const char *const suffixes[] = { "sp ace", "new\nline", "tab\t", "ünï©ødé",
                                            "a:b/c?d=e&f", "{braces}[x]", "\"q\"+%2F", "%s%n" };
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);
    bin[0] = 0;
    bin[150] = 0;
    imi_buf v = IMI_BUF_INIT;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char key[160];
        imi_conf_name(t, suffixes[i], key, sizeof key);
        CONF_OK(t, imi_coord_put(c, NULL, key, bin, sizeof bin, NULL));
        CONF_OK(t, imi_coord_get(c, NULL, key, &v, NULL));
        CONF_CHECK(t, v.len == sizeof bin && !memcmp(v.data, bin, sizeof bin),
                   "binary value under key '%s' came back as %zu bytes", key, v.len);
        CONF_OK(t, imi_coord_del(c, NULL, key, NULL));
    }
    imi_buf_free(&v);
    imi_coord_free(c);
}

typedef struct listing {
    char keys[8][160];
    char vals[8][16];
    int n;
    int stop_after;
} listing;

static int list_one(void *ud, const char *key, const void *val, size_t len,
                    const imi_coord_meta *meta)
{
    listing *l = ud;
    if (l->n < 8 && meta->version > 0) {
        snprintf(l->keys[l->n], sizeof l->keys[0], "%s", key);
        snprintf(l->vals[l->n], sizeof l->vals[0], "%.*s", (int)len, (const char *)val);
    }
    l->n++;
    return l->stop_after && l->n >= l->stop_after;
}

static void list_and_del_prefix(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    char p[128], k[160];
    imi_conf_name(t, "dir/", p, sizeof p);
    static const char *const names[] = { "c", "a", "b" };
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "%s%s", p, names[i]);
        CONF_OK(t, imi_coord_put(c, NULL, k, names[i], 1, NULL));
    }
    imi_conf_name(t, "dir", k, sizeof k);         /* a sibling that is not under "dir/" */
    CONF_OK(t, imi_coord_put(c, NULL, k, "x", 1, NULL));
    imi_conf_name(t, "dis", k, sizeof k);
    CONF_OK(t, imi_coord_put(c, NULL, k, "x", 1, NULL));
    listing l = { .n = 0 };
    int64_t rev = 0;
    CONF_OK(t, imi_coord_list(c, NULL, p, list_one, &l, &rev));
    CONF_CHECK(t, l.n == 3, "listed %d keys under %s, expected 3", l.n, p);
    for (int i = 0; i < 3; i++) {
        snprintf(k, sizeof k, "%s%c", p, 'a' + i);
        CONF_CHECK(t, !strcmp(l.keys[i], k) && l.vals[i][0] == 'a' + i,
                   "item %d is %s=%s, expected %s (key order)", i, l.keys[i], l.vals[i], k);
    }
    CONF_CHECK(t, rev > 0, "list gave revision %lld", (long long)rev);
    listing l2 = { .stop_after = 2 };
    CONF_OK(t, imi_coord_list(c, NULL, p, list_one, &l2, NULL));
    CONF_CHECK(t, l2.n == 2, "a callback returning non-zero did not stop the listing (%d)", l2.n);
    int64_t n = 0;
    CONF_OK(t, imi_coord_del_prefix(c, NULL, p, &n));
    CONF_CHECK(t, n == 3, "del_prefix deleted %lld keys, expected 3", (long long)n);
    listing l3 = { .n = 0 };
    CONF_OK(t, imi_coord_list(c, NULL, p, list_one, &l3, NULL));
    CONF_CHECK(t, l3.n == 0, "%d keys left after del_prefix", l3.n);
    imi_conf_name(t, "di", p, sizeof p);
    CONF_OK(t, imi_coord_del_prefix(c, NULL, p, &n));
    CONF_CHECK(t, n == 2, "del_prefix of the siblings deleted %lld", (long long)n);
    imi_coord_free(c);
}

static void cas_win_and_lose(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    char key[128];
    imi_conf_name(t, "cas", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m = { 0 };
    CONF_OK(t, imi_coord_cas(c, NULL, key, 0, "a", 1, NULL));
    CONF_CHECK_RC(t, imi_coord_cas(c, NULL, key, 0, "b", 1, NULL), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_cas(c, NULL, key, 1, "c", 1, NULL));
    CONF_CHECK_RC(t, imi_coord_cas(c, NULL, key, 1, "d", 1, NULL), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_get(c, NULL, key, &v, &m));
    CONF_CHECK(t, v.len == 1 && v.data[0] == 'c' && m.version == 2,
               "after cas: '%s' version %lld", v.data, (long long)m.version);
    CONF_CHECK_RC(t, imi_coord_cas_del(c, NULL, key, 1, NULL), IMI_ECONFLICT);
    CONF_OK(t, imi_coord_cas_del(c, NULL, key, 2, NULL));
    CONF_CHECK_RC(t, imi_coord_cas_del(c, NULL, key, 2, NULL), IMI_ECONFLICT);
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, key, &v, NULL), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_coord_cas(c, NULL, key, 3, "e", 1, NULL), IMI_ECONFLICT);
    CONF_CHECK_RC(t, imi_coord_get(c, NULL, key, &v, NULL), IMI_ENOTFOUND);
    imi_buf_free(&v);
    imi_coord_free(c);
}

/* ---- watch --------------------------------------------------------------------------- */

static void watch_put_delete_in_order(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    if (!(imi_coord_caps(c) & IMI_COORD_CAP_WATCH)) {
        imi_coord_free(c);
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
    imi_coord_free(c);
}

/* ---- leases -------------------------------------------------------------------------- */

static void lease_keepalive_revoke_expire(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    if (!(imi_coord_caps(c) & IMI_COORD_CAP_LEASE)) {
        imi_coord_free(c);
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
    imi_coord_free(c);
}

/* ---- locks --------------------------------------------------------------------------- */

static void lock_try_unlock_wrong_owner(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if (!(imi_coord_caps(c1) & IMI_COORD_CAP_LEASE)) {
        imi_coord_free(c1);
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
    imi_coord_free(c2);
    imi_coord_free(c1);
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

static void lock_acquire_waits(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if (!(imi_coord_caps(c1) & IMI_COORD_CAP_LEASE)) {
        imi_coord_free(c1);
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
    imi_coord_free(c2);
    imi_coord_free(c1);
}

static void on_lost(void *ud) { atomic_fetch_add((atomic_int *)ud, 1); }

static void lock_expire_and_renew(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if (!(imi_coord_caps(c1) & IMI_COORD_CAP_LEASE)) {
        imi_coord_free(c1);
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
    imi_coord_free(c2);
    imi_coord_free(c1);
}

/* ---- registry ------------------------------------------------------------------------ */

typedef struct found {
    char names[8][64];
    char addrs[8][64];
    int n;
} found;

static int found_one(void *ud, const char *instance, const char *addr)
{
    found *f = ud;
    if (f->n < 8) {
        snprintf(f->names[f->n], sizeof f->names[0], "%s", instance);
        snprintf(f->addrs[f->n], sizeof f->addrs[0], "%s", addr);
    }
    f->n++;
    return 0;
}

static void registry_register_discover_watch(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if ((imi_coord_caps(c1) & (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) !=
        (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) {
        imi_coord_free(c1);
        return;
    }
    OPEN_COORD(t, c2);
    const char *svc = t->unique;
    imi_coord_registration *ra = NULL, *rb = NULL, *rc_ = NULL, *rg = NULL;
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "a", "10.0.0.1:80", 0, &ra));
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "b", "10.0.0.2:80", 0, &rb));
    CONF_OK(t, imi_coord_register(c1, NULL, svc, NULL, "10.0.0.9:80", 0, &rg));
    CONF_CHECK(t, strlen(imi_coord_registration_instance(rg)) > 0, "no generated instance name");
    CONF_OK(t, imi_coord_deregister(rg, NULL));
    found f = { .n = 0 };
    CONF_OK(t, imi_coord_discover(c2, NULL, svc, found_one, &f));
    CONF_CHECK(t, f.n == 2 && !strcmp(f.names[0], "a") && !strcmp(f.addrs[0], "10.0.0.1:80") &&
                      !strcmp(f.names[1], "b") && !strcmp(f.addrs[1], "10.0.0.2:80"),
               "discover found %d instances (%s=%s ...)", f.n, f.names[0], f.addrs[0]);
    collector col;
    collector_init(&col);
    imi_coord_watch *w = NULL;
    CONF_OK(t, imi_coord_service_watch(c2, NULL, svc, collect_service, &col, &w));
    CONF_CHECK(t, col.n == 2, "service watch reported %d live instances first", col.n);
    imi_buf addr = IMI_BUF_INIT;
    char first[64];
    CONF_OK(t, imi_coord_resolve(c2, NULL, svc, &addr));
    snprintf(first, sizeof first, "%s", addr.data);
    CONF_OK(t, imi_coord_resolve(c2, NULL, svc, &addr));
    CONF_CHECK(t, strcmp(first, addr.data) != 0, "resolve gave %s twice", first);
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "c", "10.0.0.3:80", 0, &rc_));
    CONF_OK(t, imi_coord_deregister(rb, NULL));
    int got = collector_wait(&col, 4, 5000);
    CONF_CHECK(t, got == 4 && col.ev[2].type == IMI_COORD_EVENT_PUT &&
                      !strcmp(col.ev[2].key, "c") && !strcmp(col.ev[2].val, "10.0.0.3:80") &&
                      col.ev[3].type == IMI_COORD_EVENT_DELETE && !strcmp(col.ev[3].key, "b"),
               "service watch saw %d events (3rd %d %s, 4th %d %s)", got, col.ev[2].type,
               col.ev[2].key, col.ev[3].type, col.ev[3].key);
    /* resolve follows: only a and c now. */
    int64_t t0 = now_ms();
    bool saw_b = true;
    while (saw_b && now_ms() - t0 < 3000) {
        saw_b = false;
        for (int i = 0; i < 4; i++) {
            CONF_OK(t, imi_coord_resolve(c2, NULL, svc, &addr));
            saw_b = saw_b || !strcmp(addr.data, "10.0.0.2:80");
        }
    }
    CONF_CHECK(t, !saw_b, "resolve still returns a deregistered instance");
    CONF_OK(t, imi_coord_deregister(ra, NULL));
    CONF_OK(t, imi_coord_deregister(rc_, NULL));
    t0 = now_ms();
    int rc = IMI_OK;
    while (rc == IMI_OK && now_ms() - t0 < 3000)
        rc = imi_coord_resolve(c2, NULL, svc, &addr);
    CONF_CHECK(t, rc == IMI_ENOTFOUND, "resolve with no live instance gave %s", imi_err_name(rc));
    imi_coord_watch_cancel(w);
    collector_destroy(&col);
    imi_buf_free(&addr);
    imi_coord_free(c2);
    imi_coord_free(c1);
}

static void registry_lease_loss_reregisters(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if ((imi_coord_caps(c1) & (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) !=
        (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) {
        imi_coord_free(c1);
        return;
    }
    OPEN_COORD(t, c2);
    const char *svc = t->unique;
    imi_coord_registration *r = NULL;
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "x", "127.0.0.1:9", 1000, &r));
    collector col;
    collector_init(&col);
    imi_coord_watch *w = NULL;
    CONF_OK(t, imi_coord_service_watch(c2, NULL, svc, collect_service, &col, &w));
    int64_t lease = imi_coord_registration_lease(r);
    /* Another party ends the lease: the instance goes down, then comes back by itself. */
    CONF_OK(t, imi_coord_lease_revoke(c2, NULL, lease));
    int got = collector_wait(&col, 3, 8000);
    imi_coord_watch_cancel(w);
    CONF_CHECK(t, got >= 3 && col.ev[1].type == IMI_COORD_EVENT_DELETE &&
                      col.ev[2].type == IMI_COORD_EVENT_PUT && !strcmp(col.ev[2].key, "x"),
               "after the lease was revoked the watch saw %d events", got);
    CONF_CHECK(t, imi_coord_registration_lease(r) != lease, "the registration kept its old lease");
    found f = { .n = 0 };
    CONF_OK(t, imi_coord_discover(c2, NULL, svc, found_one, &f));
    CONF_CHECK(t, f.n == 1 && !strcmp(f.addrs[0], "127.0.0.1:9"), "discover found %d", f.n);
    CONF_OK(t, imi_coord_deregister(r, NULL));
    f.n = 0;
    CONF_OK(t, imi_coord_discover(c2, NULL, svc, found_one, &f));
    CONF_CHECK(t, f.n == 0, "discover found %d after deregister", f.n);
    collector_destroy(&col);
    imi_coord_free(c2);
    imi_coord_free(c1);
}

/* ---- instance ids -------------------------------------------------------------------- */

enum { ID_THREADS = 8 };

typedef struct id_racer {
    imi_app *app;
    const char *service;
    pthread_barrier_t *start;
    int rc;
    int64_t id;
    imi_coord *c;
    imi_coord_instance_id *h;
} id_racer;

static void *id_race_main(void *arg)
{
    id_racer *r = arg;
    r->rc = imi_coord_open(r->app, NULL, &r->c);
    pthread_barrier_wait(r->start);
    if (!r->rc)
        r->rc = imi_coord_instance_id_acquire(r->c, NULL, r->service, ID_THREADS - 1, &r->id, &r->h);
    return NULL;
}

static void instance_ids_unique_under_race(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    if (!(imi_coord_caps(c) & IMI_COORD_CAP_LEASE)) {
        imi_coord_free(c);
        return;
    }
    const char *svc = t->unique;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, ID_THREADS);
    id_racer r[ID_THREADS];
    pthread_t th[ID_THREADS];
    for (int i = 0; i < ID_THREADS; i++) {
        r[i] = (id_racer){ .app = t->app, .service = svc, .start = &start, .id = -1 };
        pthread_create(&th[i], NULL, id_race_main, &r[i]);
    }
    for (int i = 0; i < ID_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int seen[ID_THREADS] = { 0 }, failures = 0;
    for (int i = 0; i < ID_THREADS; i++) {
        if (r[i].rc || r[i].id < 0 || r[i].id >= ID_THREADS)
            failures++;
        else
            seen[r[i].id]++;
    }
    int dupes = 0;
    for (int i = 0; i < ID_THREADS; i++)
        dupes += seen[i] > 1;
    imi_coord_instance_id *extra = NULL;
    int64_t id = -1;
    int full_rc = imi_coord_instance_id_acquire(c, NULL, svc, ID_THREADS - 1, &id, &extra);
    int held_rc = r[3].h ? imi_coord_instance_id_held(r[3].h, NULL) : IMI_EINTERNAL;
    int64_t freed = r[3].id;
    int rel_rc = r[3].h ? imi_coord_instance_id_release(r[3].h, NULL) : IMI_EINTERNAL;
    r[3].h = NULL;
    int again_rc = imi_coord_instance_id_acquire(c, NULL, svc, ID_THREADS - 1, &id, &extra);
    for (int i = 0; i < ID_THREADS; i++) {
        if (r[i].h)
            imi_coord_instance_id_release(r[i].h, NULL);
        imi_coord_free(r[i].c);
    }
    CONF_CHECK(t, failures == 0, "%d of %d racers got no id (first: %s)", failures, ID_THREADS,
               imi_err_name(r[0].rc));
    CONF_CHECK(t, dupes == 0, "%d ids were handed out twice", dupes);
    CONF_CHECK(t, full_rc == IMI_ECONFLICT, "acquire with every id held gave %s",
               imi_err_name(full_rc));
    CONF_CHECK(t, held_rc == IMI_OK && rel_rc == IMI_OK, "held %s, release %s",
               imi_err_name(held_rc), imi_err_name(rel_rc));
    CONF_CHECK(t, again_rc == IMI_OK && id == freed, "after release of %lld acquire gave %s id %lld",
               (long long)freed, imi_err_name(again_rc), (long long)id);
    CONF_OK(t, imi_coord_instance_id_held(extra, NULL));
    CONF_OK(t, imi_coord_instance_id_release(extra, NULL));
    imi_coord_free(c);
}

/* ---- ctx, capabilities, threads ------------------------------------------------------ */

static void canceled_and_expired_ctx(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    imi_buf v = IMI_BUF_INIT;
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    int rc1 = imi_coord_get(c, ctx, "x", &v, NULL);
    int rc2 = imi_coord_put(c, ctx, "x", "v", 1, NULL);
    imi_ctx_free(ctx);
    CONF_CHECK(t, rc1 == IMI_ECANCELED && rc2 == IMI_ECANCELED, "canceled ctx gave %s / %s",
               imi_err_name(rc1), imi_err_name(rc2));
    ctx = imi_ctx_new(0);
    imi_ctx_set_deadline_ns(ctx, imi_now_mono_ns() - 1000000);
    rc1 = imi_coord_cas(c, ctx, "x", 0, "v", 1, NULL);
    rc2 = imi_coord_list(c, ctx, "x", list_one, &(listing){ .n = 0 }, NULL);
    imi_ctx_free(ctx);
    CONF_CHECK(t, rc1 == IMI_ETIMEDOUT && rc2 == IMI_ETIMEDOUT, "passed deadline gave %s / %s",
               imi_err_name(rc1), imi_err_name(rc2));
    imi_coord_free(c);
}

static void capabilities(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    uint64_t caps = imi_coord_caps(c);
    int64_t lease = 0;
    imi_coord_watch *w = NULL;
    imi_coord_lock *l = NULL;
    char key[128];
    imi_conf_name(t, "cap", key, sizeof key);
    int rc = imi_coord_lease_grant(c, NULL, 5000, &lease, NULL);
    if (caps & IMI_COORD_CAP_LEASE) {
        CONF_CHECK(t, rc == IMI_OK, "advertised leases: grant gave %s", imi_err_name(rc));
        CONF_OK(t, imi_coord_lease_revoke(c, NULL, lease));
    } else {
        imi_coord_registration *r = NULL;
        imi_coord_instance_id *h = NULL;
        int64_t id = -1;
        CONF_CHECK(t, rc == IMI_ENOTSUP, "unadvertised leases: grant gave %s", imi_err_name(rc));
        CONF_CHECK_RC(t, imi_coord_put_lease(c, NULL, key, "v", 1, 1, NULL), IMI_ENOTSUP);
        CONF_CHECK_RC(t, imi_coord_lease_keepalive(c, NULL, 1, NULL), IMI_ENOTSUP);
        CONF_CHECK_RC(t, imi_coord_lock_try(c, NULL, key, 0, 0, &l), IMI_ENOTSUP);
        CONF_CHECK_RC(t, imi_coord_lock_acquire(c, NULL, key, 0, 0, &l), IMI_ENOTSUP);
        CONF_CHECK_RC(t, imi_coord_register(c, NULL, t->unique, "i", "a:1", 0, &r), IMI_ENOTSUP);
        CONF_CHECK_RC(t, imi_coord_instance_id_acquire(c, NULL, t->unique, 3, &id, &h),
                      IMI_ENOTSUP);
    }
    collector col;
    collector_init(&col);
    rc = imi_coord_watch_start(c, NULL, key, 0, 0, collect_event, &col, &w);
    if (caps & IMI_COORD_CAP_WATCH) {
        CONF_CHECK(t, rc == IMI_OK, "advertised watches: watch gave %s", imi_err_name(rc));
        CONF_OK(t, imi_coord_put(c, NULL, key, "v", 1, NULL));
        CONF_CHECK(t, collector_wait(&col, 1, 5000) == 1, "watch saw no event");
        CONF_OK(t, imi_coord_watch_cancel(w));
        imi_coord_del(c, NULL, key, NULL);
    } else {
        imi_buf addr = IMI_BUF_INIT;
        CONF_CHECK(t, rc == IMI_ENOTSUP, "unadvertised watches: watch gave %s", imi_err_name(rc));
        CONF_CHECK_RC(t, imi_coord_service_watch(c, NULL, t->unique, collect_service, &col, &w),
                      IMI_ENOTSUP);
        CONF_CHECK_RC(t, imi_coord_resolve(c, NULL, t->unique, &addr), IMI_ENOTSUP);
    }
    collector_destroy(&col);
    imi_coord_free(c);
}

typedef struct worker {
    imi_coord *c;
    const char *counter;
    char prefix[96];
    int failures;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    imi_buf v = IMI_BUF_INIT;
    for (int i = 0; i < 40; i++) {
        char key[160], val[32];
        snprintf(key, sizeof key, "%s:%d", w->prefix, i % 10);
        int n = snprintf(val, sizeof val, "%d", i);
        if (imi_coord_put(w->c, NULL, key, val, (size_t)n, NULL) ||
            imi_coord_get(w->c, NULL, key, &v, NULL) || strcmp(v.data, val))
            w->failures++;
        /* A CAS increment: read, then write if nobody wrote in between. */
        for (int tries = 0; tries < 1000; tries++) {
            imi_coord_meta m = { 0 };
            int rc = imi_coord_get(w->c, NULL, w->counter, &v, &m);
            long cur = rc == IMI_OK ? atol(v.data) : 0;
            if (rc && rc != IMI_ENOTFOUND) {
                w->failures++;
                break;
            }
            n = snprintf(val, sizeof val, "%ld", cur + 1);
            rc = imi_coord_cas(w->c, NULL, w->counter, m.version, val, (size_t)n, NULL);
            if (rc == IMI_OK)
                break;
            if (rc != IMI_ECONFLICT) {
                w->failures++;
                break;
            }
        }
    }
    imi_buf_free(&v);
    return NULL;
}

static void many_threads(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    enum { N = 8 };
    char counter[128];
    imi_conf_name(t, "counter", counter, sizeof counter);
    pthread_t th[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){ .c = c, .counter = counter };
        snprintf(w[i].prefix, sizeof w[i].prefix, "%s:t%d", t->unique, i);
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    CONF_CHECK(t, failures == 0, "%d calls failed under %d threads", failures, N);
    imi_buf v = IMI_BUF_INIT;
    CONF_OK(t, imi_coord_get(c, NULL, counter, &v, NULL));
    CONF_CHECK(t, atol(v.data) == N * 40, "CAS counter is %s after %d increments (lost updates)",
               v.data, N * 40);
    imi_buf_free(&v);
    int64_t n = 0;
    CONF_OK(t, imi_coord_del_prefix(c, NULL, t->unique, &n));
    imi_coord_free(c);
}

/* ---- the driver contract, shared by every kind (contract.h) ------------------------- */

static int kind_open(imi_app *app, void **out)
{
    imi_coord *h = NULL;
    int rc = imi_coord_open(app, NULL, &h);
    *out = h;
    return rc;
}

static void kind_free(void *h) { imi_coord_free(h); }

static const imi_conf_kind coord_kind = {
    .kind = "coord",
    .required_slot = "get",
    .open = kind_open,
    .free = kind_free,
};

static void open_fails_cleanly(imi_conf_t *t) { imi_conf_open_fails_cleanly(t, &coord_kind); }
static void required_slot_null_refused(imi_conf_t *t)
{
    imi_conf_required_slot_null_refused(t, &coord_kind);
}

static const imi_conf_case cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "open_bad_options", open_bad_options },
    { "put_get_del_miss", put_get_del_miss },
    { "binary_values_weird_keys", binary_values_weird_keys },
    { "list_and_del_prefix", list_and_del_prefix },
    { "cas_win_and_lose", cas_win_and_lose },
    { "watch_put_delete_in_order", watch_put_delete_in_order },
    { "lease_keepalive_revoke_expire", lease_keepalive_revoke_expire },
    { "lock_try_unlock_wrong_owner", lock_try_unlock_wrong_owner },
    { "lock_acquire_waits", lock_acquire_waits },
    { "lock_expire_and_renew", lock_expire_and_renew },
    { "registry_register_discover_watch", registry_register_discover_watch },
    { "registry_lease_loss_reregisters", registry_lease_loss_reregisters },
    { "instance_ids_unique_under_race", instance_ids_unique_under_race },
    { "canceled_and_expired_ctx", canceled_and_expired_ctx },
    { "capabilities", capabilities },
    { "many_threads", many_threads },
    { "open_fails_cleanly", open_fails_cleanly },
    { "required_slot_null_refused", required_slot_null_refused },
};

const imi_conf_suite imi_conf_coord_suite = {
    .kind = "coord",
    .cases = cases,
    .n_cases = sizeof cases / sizeof cases[0],
};
