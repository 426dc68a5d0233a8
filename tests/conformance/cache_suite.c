/* The cache conformance suite: every cache driver must pass it.
 *
 * Timing: backends may round a TTL up to their granularity (memcached keeps whole
 * seconds), so expiry is checked by polling with TTL_SLACK_MS of slack, never earlier
 * than the TTL. Cases of a capability the driver does not advertise pass without work;
 * `capabilities` checks those answer IMI_ENOTSUP. */
#include "cache_suite.h"

/* ---- open, close, config ------------------------------------------------------------- */

/* The config under test as INI text (every section but [cache]'s key `skip`), then
 * `extra`, which starts on line *extra_line. */
static char *config_text(const imi_conf_t *t, const char *extra, const char *skip,
                         int *extra_line)
{
    const imi_config *cfg = imi_app_config(t->app);
    size_t cap = 4096 + strlen(extra), len = 0;
    char *text = malloc(cap);
    int line = 1;
    const char *sec;
    for (size_t s = 0; text && (sec = imi_config_section(cfg, s, NULL)); s++) {
        len += (size_t)snprintf(text + len, cap - len, "[%s]\n", sec);
        line++;
        const char *k, *v;
        for (size_t i = 0; (k = imi_config_key(cfg, sec, i, &v, NULL)) && len < cap; i++) {
            if (skip && !strcmp(sec, "cache") && !strcmp(k, skip))
                continue;
            len += (size_t)snprintf(text + len, cap - len, "%s = %s\n", k, v);
            line++;
        }
    }
    if (text && len < cap)
        snprintf(text + len, cap - len, "%s", extra);
    *extra_line = line;
    return text && len < cap ? text : (free(text), NULL);
}

/* Opens [cache] of the config under test plus `extra` lines; returns the open code. */
static int open_with(imi_conf_t *t, const char *extra, const char *skip, const char *name,
                     int *extra_line, imi_app **app, imi_cache **c)
{
    char *text = config_text(t, extra, skip, extra_line);
    imi_config *cfg = NULL;
    *app = NULL;
    *c = NULL;
    int rc = text ? imi_config_parse(text, "case.ini", imi_config_dir(imi_app_config(t->app)), &cfg)
                  : IMI_ENOMEM;
    free(text);
    if (!rc)
        rc = imi_app_open_config(cfg, app);
    if (!rc)
        rc = imi_cache_open(*app, name, c);
    return rc;
}

static void bad_options(imi_conf_t *t)
{
    /* max_entries: not an integer for mem, an unknown key elsewhere; both name the line */
    static const char *const bad[][2] = {
        { "max_entries", "[cache]\nmax_entries = abc\n" },
        { "no_such_option", "[cache]\nno_such_option = 1\n" },
        { "timeout", "[cache]\ntimeout = soon\n" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* a second [cache] header continues the section: the bad key is on line+1 */
        imi_app *app;
        imi_cache *c;
        int line;
        int rc = open_with(t, bad[i][1], bad[i][0], NULL, &line, &app, &c);
        char where[32];
        snprintf(where, sizeof where, "case.ini:%d", line + 1);
        bool named = strstr(imi_error_message(), where) != NULL;
        const char *msg = imi_error_message();
        char copy[512];
        snprintf(copy, sizeof copy, "%s", msg);
        imi_cache_free(c);
        imi_app_free(app);
        CONF_CHECK(t, rc == IMI_ECONFIG, "'%.*s' opened with %s, expected IMI_ECONFIG (%s)",
                   (int)strcspn(bad[i][1] + 8, "\n"), bad[i][1] + 8, imi_err_name(rc), copy);
        CONF_CHECK(t, named, "the error does not name %s: %s", where, copy);
    }
    /* an unknown key's error lists the known ones */
    imi_app *app;
    imi_cache *c;
    int line;
    int rc = open_with(t, "[cache]\nno_such_option = 1\n", NULL, NULL, &line, &app, &c);
    bool lists = strstr(imi_error_message(), "known keys") && strstr(imi_error_message(), "prefix");
    imi_cache_free(c);
    imi_app_free(app);
    CONF_CHECK(t, rc == IMI_ECONFIG && lists, "unknown key: no list of known keys");
}

/* Two instances with different prefixes on one backend do not see each other's keys. */
static void prefix_isolation(imi_conf_t *t)
{
    char extra[512];
    const char *driver_path = imi_config_get(imi_app_config(t->app), "cache", "driver", NULL);
    int n = snprintf(extra, sizeof extra, "[cache.other]\ndriver = %s\nprefix = %s-other:\n",
                     driver_path, t->unique);
    /* the other instance shares every driver option of [cache] but the prefix */
    const char *k, *v;
    for (size_t i = 0; (k = imi_config_key(imi_app_config(t->app), "cache", i, &v, NULL)); i++)
        if (strcmp(k, "prefix") && strcmp(k, "driver"))
            n += snprintf(extra + n, sizeof extra - (size_t)n, "%s = %s\n", k, v);
    imi_app *app;
    imi_cache *other, *c = NULL;
    int line, rc = open_with(t, extra, NULL, "other", &line, &app, &other);
    if (!rc)
        rc = imi_cache_open(app, NULL, &c);
    imi_buf v1 = IMI_BUF_INIT;
    char key[128];
    imi_conf_name(t, "shared", key, sizeof key);
    int set_rc = rc ? rc : imi_cache_set(c, NULL, key, "one", 3, 5000);
    int miss_rc = rc ? rc : imi_cache_get(other, NULL, key, &v1);
    int set2_rc = rc ? rc : imi_cache_set(other, NULL, key, "two", 3, 5000);
    int get_rc = rc ? rc : imi_cache_get(c, NULL, key, &v1);
    bool one = buf_is(&v1, "one", 3);
    if (!rc) {
        imi_cache_del(c, NULL, key);
        imi_cache_del(other, NULL, key);
    }
    imi_buf_free(&v1);
    imi_cache_free(c);
    imi_cache_free(other);
    imi_app_free(app);
    CONF_CHECK(t, rc == IMI_OK, "opening two prefixed instances: %s", imi_err_name(rc));
    CONF_CHECK(t, set_rc == IMI_OK && set2_rc == IMI_OK, "set failed");
    CONF_CHECK(t, miss_rc == IMI_ENOTFOUND, "another prefix saw the key (%s)", imi_err_name(miss_rc));
    CONF_CHECK(t, get_rc == IMI_OK && one, "a write under another prefix changed the key");
}

/* ---- capabilities, ctx, threads ------------------------------------------------------ */

static int noop_each(void *ud, const void *i, size_t il, const void *v, size_t vl, double s)
{
    (void)ud, (void)i, (void)il, (void)v, (void)vl, (void)s;
    return 0;
}

static void capabilities(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char key[128];
    imi_conf_name(t, "cap", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    double s;
    struct { uint64_t bit; const char *name; int rc; } caps[] = {
        { IMI_CACHE_CAP_HASH, "hash", imi_cache_hget(c, NULL, key, "f", &v) },
        { IMI_CACHE_CAP_HASH, "hash", imi_cache_hgetall(c, NULL, key, noop_each, NULL) },
        { IMI_CACHE_CAP_SET, "set", imi_cache_sismember(c, NULL, key, "m", 1) },
        { IMI_CACHE_CAP_SET, "set", imi_cache_smembers(c, NULL, key, noop_each, NULL) },
        { IMI_CACHE_CAP_ZSET, "zset", imi_cache_zscore(c, NULL, key, "m", 1, &s) },
        { IMI_CACHE_CAP_ZSET, "zset", imi_cache_zrange(c, NULL, key, 0, -1, noop_each, NULL) },
        { IMI_CACHE_CAP_LOCK, "lock", imi_cache_unlock(c, NULL, key, "me") },
        { IMI_CACHE_CAP_TOKEN_BUCKET, "token bucket", imi_cache_take(c, NULL, key, 1, 1, 1, NULL) },
    };
    uint64_t have = imi_cache_caps(c);
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        bool adv = have & caps[i].bit;
        if (adv)
            CONF_CHECK(t, caps[i].rc != IMI_ENOTSUP, "%s is advertised but answered IMI_ENOTSUP",
                       caps[i].name);
        else
            CONF_CHECK(t, caps[i].rc == IMI_ENOTSUP, "%s is not advertised but answered %s",
                       caps[i].name, imi_err_name(caps[i].rc));
    }
    CONF_CHECK(t, !(have & ~(uint64_t)0x1f), "unknown capability bits %llx",
               (unsigned long long)have);
    imi_cache_del(c, NULL, key);
    imi_buf_free(&v);
    imi_conf_free(t, c);
}

typedef struct worker {
    imi_cache *c;
    const char *counter;
    char prefix[96];
    int failures;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    imi_buf v = IMI_BUF_INIT;
    for (int i = 0; i < 500; i++) {
        char key[160], val[32];
        snprintf(key, sizeof key, "%s:%d", w->prefix, i % 50);
        int n = snprintf(val, sizeof val, "%d", i);
        if (imi_cache_set(w->c, NULL, key, val, (size_t)n, 60000) ||
            imi_cache_get(w->c, NULL, key, &v) || !buf_is(&v, val, (size_t)n) ||
            imi_cache_incr(w->c, NULL, w->counter, 1, NULL))
            w->failures++;
    }
    imi_buf_free(&v);
    return NULL;
}

static void many_threads(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
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
    int64_t total = 0;
    CONF_OK(t, imi_cache_incr(c, NULL, counter, 0, &total));
    CONF_CHECK(t, total == N * 500, "counter is %lld after %d increments (lost updates)",
               (long long)total, N * 500);
    imi_cache_del(c, NULL, counter);
    imi_conf_free(t, c);
}

/* ---- the driver contract, shared by every kind (contract.h) ------------------------- */

static int kind_open(imi_app *app, void **out)
{
    imi_cache *h = NULL;
    int rc = imi_cache_open(app, NULL, &h);
    *out = h;
    return rc;
}

static void kind_free(void *h) { imi_cache_free(h); }
static int kind_close(void *h) { return imi_cache_close(h); }
static int kind_ping(void *h, const imi_ctx *ctx) { return imi_cache_ping(h, ctx); }
static const char *kind_name(void *h) { return imi_cache_driver_name(h); }

/* The calls every state check makes: strings always, the lock when advertised. */
static size_t kind_calls(imi_conf_t *t, void *h, const imi_ctx *ctx, imi_conf_call *out,
                         size_t cap)
{
    imi_cache *c = h;
    char key[128];
    imi_conf_name(t, "calls", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    int64_t n;
    const char *keys[] = { key };
    int found[1];
    size_t i = 0;
    out[i++] = (imi_conf_call){ "get", imi_cache_get(c, ctx, key, &v) };
    out[i++] = (imi_conf_call){ "set", imi_cache_set(c, ctx, key, "v", 1, 0) };
    out[i++] = (imi_conf_call){ "del", imi_cache_del(c, ctx, key) };
    out[i++] = (imi_conf_call){ "incr", imi_cache_incr(c, ctx, key, 1, &n) };
    out[i++] = (imi_conf_call){ "mget", imi_cache_mget(c, ctx, keys, 1, &v, found) };
    if (HAS(c, IMI_CACHE_CAP_LOCK) && i < cap)
        out[i++] = (imi_conf_call){ "lock", imi_cache_lock(c, ctx, key, "me", 1000) };
    imi_buf_free(&v);
    return i;
}

static const imi_conf_kind cache_kind = {
    .kind = "cache",
    .required_slot = "get",
    .open = kind_open,
    .free = kind_free,
    .close = kind_close,
    .ping = kind_ping,
    .driver_name = kind_name,
    .calls = kind_calls,
};

static void open_fails_cleanly(imi_conf_t *t) { imi_conf_open_fails_cleanly(t, &cache_kind); }
static void open_ping_close_twice(imi_conf_t *t) { imi_conf_open_ping_close_twice(t, &cache_kind); }
static void canceled_and_expired_ctx(imi_conf_t *t)
{
    imi_conf_canceled_and_expired_ctx(t, &cache_kind);
}
static void required_slot_null_refused(imi_conf_t *t)
{
    imi_conf_required_slot_null_refused(t, &cache_kind);
}

static const imi_conf_case cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "bad_options", bad_options },
    { "prefix_isolation", prefix_isolation },
    { "set_get_del_miss", imi_conf_cache_set_get_del_miss },
    { "binary_values_weird_keys", imi_conf_cache_binary_values_weird_keys },
    { "ttl_expiry", imi_conf_cache_ttl_expiry },
    { "setnx_incr", imi_conf_cache_setnx_incr },
    { "mget_mset", imi_conf_cache_mget_mset },
    { "hashes", imi_conf_cache_hashes },
    { "sets", imi_conf_cache_sets },
    { "sorted_sets", imi_conf_cache_sorted_sets },
    { "lock_owner", imi_conf_cache_lock_owner },
    { "token_bucket", imi_conf_cache_token_bucket },
    { "capabilities", capabilities },
    { "canceled_and_expired_ctx", canceled_and_expired_ctx },
    { "many_threads", many_threads },
    { "open_fails_cleanly", open_fails_cleanly },
    { "required_slot_null_refused", required_slot_null_refused },
};

const imi_conf_suite imi_conf_cache_suite = {
    .kind = "cache",
    .cases = cases,
    .n_cases = sizeof cases / sizeof cases[0],
};
