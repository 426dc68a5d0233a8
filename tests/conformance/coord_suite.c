/* The coord conformance suite: every coord driver must pass it. Keys, services and locks
 * are named after t->unique so the suite can run on a shared real server. Lease TTLs are
 * read back from the backend (etcd rounds them up), and waits are bounded by them. */
#include "coord_suite.h"

/* ---- open and close ------------------------------------------------------------------ */

static void bad_options(imi_conf_t *t)
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
        imi_app_free(app);
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
    imi_conf_free(t, c);
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
    imi_conf_free(t, c);
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
    imi_conf_free(t, c);
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
    imi_conf_free(t, c);
}

/* ---- ctx, capabilities, threads ------------------------------------------------------ */

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
    imi_conf_free(t, c);
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
    imi_conf_free(t, c);
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
static int kind_close(void *h) { return imi_coord_close(h); }
static int kind_ping(void *h, const imi_ctx *ctx) { return imi_coord_ping(h, ctx); }
static const char *kind_name(void *h) { return imi_coord_driver_name(h); }

static int ignore_kv(void *ud, const char *key, const void *val, size_t len,
                     const imi_coord_meta *meta)
{
    (void)ud, (void)key, (void)val, (void)len, (void)meta;
    return 0;
}

/* The calls every state check makes: key-value always, locks and the registry with
 * leases, a watch when advertised. */
static size_t kind_calls(imi_conf_t *t, void *h, const imi_ctx *ctx, imi_conf_call *out,
                         size_t cap)
{
    imi_coord *c = h;
    char key[128];
    imi_conf_name(t, "calls", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    uint64_t caps = imi_coord_caps(c);
    size_t i = 0;
    out[i++] = (imi_conf_call){ "get", imi_coord_get(c, ctx, key, &v, NULL) };
    out[i++] = (imi_conf_call){ "put", imi_coord_put(c, ctx, key, "v", 1, NULL) };
    out[i++] = (imi_conf_call){ "cas", imi_coord_cas(c, ctx, key, 0, "v", 1, NULL) };
    out[i++] = (imi_conf_call){ "list", imi_coord_list(c, ctx, key, ignore_kv, NULL, NULL) };
    imi_buf_free(&v);
    if ((caps & IMI_COORD_CAP_LEASE) && i + 2 <= cap) {
        imi_coord_lock *l = NULL;
        imi_coord_registration *r = NULL;
        out[i++] = (imi_conf_call){ "lock_try", imi_coord_lock_try(c, ctx, key, 5000, 0, &l) };
        out[i++] = (imi_conf_call){ "register",
                                    imi_coord_register(c, ctx, key, NULL, "a:1", 5000, &r) };
        if (l)
            imi_coord_unlock(l, NULL);
        if (r)
            imi_coord_deregister(r, NULL);
    }
    if ((caps & IMI_COORD_CAP_WATCH) && i < cap) {
        imi_coord_watch *w = NULL;
        out[i++] = (imi_conf_call){ "watch_start", imi_coord_watch_start(c, ctx, key, 0, 0,
                                                                         collect_event, NULL, &w) };
        if (w)
            imi_coord_watch_cancel(w);
    }
    return i;
}

static const imi_conf_kind coord_kind = {
    .kind = "coord",
    .required_slot = "get",
    .open = kind_open,
    .free = kind_free,
    .close = kind_close,
    .ping = kind_ping,
    .driver_name = kind_name,
    .calls = kind_calls,
};

static void open_fails_cleanly(imi_conf_t *t) { imi_conf_open_fails_cleanly(t, &coord_kind); }
static void open_ping_close_twice(imi_conf_t *t) { imi_conf_open_ping_close_twice(t, &coord_kind); }
static void canceled_and_expired_ctx(imi_conf_t *t)
{
    imi_conf_canceled_and_expired_ctx(t, &coord_kind);
}
static void required_slot_null_refused(imi_conf_t *t)
{
    imi_conf_required_slot_null_refused(t, &coord_kind);
}

static const imi_conf_case cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "bad_options", bad_options },
    { "put_get_del_miss", put_get_del_miss },
    { "binary_values_weird_keys", binary_values_weird_keys },
    { "list_and_del_prefix", list_and_del_prefix },
    { "cas_win_and_lose", cas_win_and_lose },
    { "watch_put_delete_in_order", imi_conf_coord_watch_put_delete_in_order },
    { "lease_keepalive_revoke_expire", imi_conf_coord_lease_keepalive_revoke_expire },
    { "lock_try_unlock_wrong_owner", imi_conf_coord_lock_try_unlock_wrong_owner },
    { "lock_acquire_waits", imi_conf_coord_lock_acquire_waits },
    { "lock_expire_and_renew", imi_conf_coord_lock_expire_and_renew },
    { "registry_register_discover_watch", imi_conf_coord_registry_register_discover_watch },
    { "registry_lease_loss_reregisters", imi_conf_coord_registry_lease_loss_reregisters },
    { "instance_ids_unique_under_race", imi_conf_coord_instance_ids_unique_under_race },
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
