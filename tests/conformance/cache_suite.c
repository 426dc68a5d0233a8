/* The cache conformance suite: every cache driver must pass it.
 *
 * Timing: backends may round a TTL up to their granularity (memcached keeps whole
 * seconds), so expiry is checked by polling with TTL_SLACK_MS of slack, never earlier
 * than the TTL. Cases of a capability the driver does not advertise pass without work;
 * `capabilities` checks those answer IMI_ENOTSUP. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "contract.h"
#include "imi_test.h"

#define TTL_SLACK_MS 1000

/* Opens the default cache of the config under test; fails the case if it can't. */
#define OPEN_CACHE(t, c)                                                   \
    imi_cache *c = NULL;                                                   \
    CONF_OK(t, imi_cache_open((t)->app, NULL, &c))

#define HAS(c, cap) ((imi_cache_caps(c) & (cap)) != 0)

/* ---- open, close, config ------------------------------------------------------------- */

static void open_ping_close_twice(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    CONF_OK(t, imi_cache_ping(c, NULL));
    /* judged by behaviour: any non-empty name (the loader checks names asked for) */
    CONF_CHECK(t, imi_cache_driver_name(c) && imi_cache_driver_name(c)[0], "no driver name");
    CONF_OK(t, imi_cache_close(c));
    CONF_CHECK_RC(t, imi_cache_close(c), IMI_ECLOSED);
    imi_buf v = IMI_BUF_INIT;
    int64_t n;
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, "k", &v), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_cache_del(c, NULL, "k"), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_cache_incr(c, NULL, "k", 1, &n), IMI_ECLOSED);
    const char *keys[] = { "a" };
    int found[1];
    CONF_CHECK_RC(t, imi_cache_mget(c, NULL, keys, 1, &v, found), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_cache_ping(c, NULL), IMI_ECLOSED);
    if (HAS(c, IMI_CACHE_CAP_LOCK))
        CONF_CHECK_RC(t, imi_cache_lock(c, NULL, "k", "me", 1000), IMI_ECLOSED);
    imi_cache_free(c);
}

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
        imi_app_close(app);
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
    imi_app_close(app);
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
    imi_app_close(app);
    CONF_CHECK(t, rc == IMI_OK, "opening two prefixed instances: %s", imi_err_name(rc));
    CONF_CHECK(t, set_rc == IMI_OK && set2_rc == IMI_OK, "set failed");
    CONF_CHECK(t, miss_rc == IMI_ENOTFOUND, "another prefix saw the key (%s)", imi_err_name(miss_rc));
    CONF_CHECK(t, get_rc == IMI_OK && one, "a write under another prefix changed the key");
}

/* ---- strings ------------------------------------------------------------------------- */

static void set_get_del_miss(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char key[128];
    imi_conf_name(t, "k", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_set(c, NULL, key, "hello", 5, 0));
    CONF_OK(t, imi_cache_get(c, NULL, key, &v));
    CONF_CHECK(t, buf_is(&v, "hello", 5), "got '%.*s'", (int)v.len, v.data);
    CONF_OK(t, imi_cache_exists(c, NULL, key));
    CONF_OK(t, imi_cache_set(c, NULL, key, "", 0, 0));
    CONF_OK(t, imi_cache_get(c, NULL, key, &v));
    CONF_CHECK(t, v.len == 0, "empty value read back as %zu bytes", v.len);
    CONF_OK(t, imi_cache_del(c, NULL, key));
    CONF_CHECK_RC(t, imi_cache_del(c, NULL, key), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_exists(c, NULL, key), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, "", &v), IMI_EINVALID);
    /* a large value */
    size_t big = 256 * 1024;
    char *data = malloc(big);
    CONF_CHECK(t, data, "out of memory");
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 31 + 7);
    int rc = imi_cache_set(c, NULL, key, data, big, 0);
    int rc2 = rc ? rc : imi_cache_get(c, NULL, key, &v);
    bool same = buf_is(&v, data, big);
    free(data);
    CONF_OK(t, rc);
    CONF_OK(t, rc2);
    CONF_CHECK(t, same, "a %zu-byte value came back as %zu bytes", big, v.len);
    CONF_OK(t, imi_cache_del(c, NULL, key));
    imi_buf_free(&v);
    imi_cache_free(c);
}

static void binary_values_weird_keys(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char long_key[400];
    memset(long_key, 'L', sizeof long_key - 1);
    long_key[sizeof long_key - 1] = '\0';
    static const char *const suffixes[] = { "sp ace", "new\nline", "tab\t", "ünï©ødé", "a:b/c?d=e",
                                            "{braces}[x]", "\"quoted\"", "%s%n", "\r\n\x01\x7f" };
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);
    bin[0] = 0;
    bin[150] = 0;
    imi_buf v = IMI_BUF_INIT;
    for (size_t i = 0; i <= sizeof suffixes / sizeof suffixes[0]; i++) {
        char key[512];
        imi_conf_name(t, i < sizeof suffixes / sizeof suffixes[0] ? suffixes[i] : long_key,
                      key, sizeof key);
        CONF_OK(t, imi_cache_set(c, NULL, key, bin, sizeof bin, 0));
        CONF_OK(t, imi_cache_get(c, NULL, key, &v));
        CONF_CHECK(t, buf_is(&v, bin, sizeof bin),
                   "binary value under key '%s' came back as %zu bytes", key, v.len);
        CONF_OK(t, imi_cache_exists(c, NULL, key));
        CONF_OK(t, imi_cache_del(c, NULL, key));
        CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_ENOTFOUND);
    }
    /* keys differing only past a long common start stay apart */
    char k1[520], k2[520];
    imi_conf_name(t, long_key, k1, 512);
    memcpy(k2, k1, sizeof k2);
    strcat(k1, "Y");
    strcat(k2, "X");
    CONF_OK(t, imi_cache_set(c, NULL, k1, "1", 1, 0));
    CONF_OK(t, imi_cache_set(c, NULL, k2, "2", 1, 0));
    CONF_OK(t, imi_cache_get(c, NULL, k1, &v));
    CONF_CHECK(t, buf_is(&v, "1", 1), "two long keys collided");
    imi_cache_del(c, NULL, k1);
    imi_cache_del(c, NULL, k2);
    imi_buf_free(&v);
    imi_cache_free(c);
}

/* Polls until key is gone; the ms it took from `since`, or -1 past `limit_ms`. */
static int64_t wait_gone(imi_cache *c, const char *key, int64_t since, int64_t limit_ms)
{
    while (imi_cache_exists(c, NULL, key) == IMI_OK) {
        if (now_ms() - since > limit_ms)
            return -1;
        sleep_ms(20);
    }
    return now_ms() - since;
}

static void ttl_expiry(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char key[128], key2[128], key3[128];
    imi_conf_name(t, "ttl", key, sizeof key);
    imi_conf_name(t, "nottl", key2, sizeof key2);
    imi_conf_name(t, "nx", key3, sizeof key3);
    int64_t ttl = 0, t0 = now_ms();
    CONF_OK(t, imi_cache_set(c, NULL, key, "x", 1, 1200));
    CONF_OK(t, imi_cache_setnx(c, NULL, key3, "x", 1, 1200));
    CONF_OK(t, imi_cache_ttl(c, NULL, key, &ttl));
    CONF_CHECK(t, ttl > 700 && ttl <= 1200 + TTL_SLACK_MS, "ttl read back as %lld ms", (long long)ttl);
    CONF_OK(t, imi_cache_set(c, NULL, key2, "x", 1, 0));
    CONF_OK(t, imi_cache_ttl(c, NULL, key2, &ttl));
    CONF_CHECK(t, ttl == -1, "a key without ttl reads back %lld", (long long)ttl);
    CONF_OK(t, imi_cache_expire(c, NULL, key2, 1000));
    CONF_OK(t, imi_cache_ttl(c, NULL, key2, &ttl));
    CONF_CHECK(t, ttl > 500 && ttl <= 1000 + TTL_SLACK_MS, "expire then ttl read back %lld",
               (long long)ttl);
    CONF_CHECK_RC(t, imi_cache_ttl(c, NULL, "conf-no-such-key", &ttl), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_expire(c, NULL, "conf-no-such-key", 1000), IMI_ENOTFOUND);
    int64_t gone = wait_gone(c, key, t0, 1200 + TTL_SLACK_MS + 500);
    CONF_CHECK(t, gone >= 1150, "a 1200 ms key expired after %lld ms", (long long)gone);
    int64_t gone2 = wait_gone(c, key2, t0, 1000 + TTL_SLACK_MS + 500);
    CONF_CHECK(t, gone2 >= 950, "expire 1000 ms: gone after %lld ms", (long long)gone2);
    CONF_CHECK(t, wait_gone(c, key3, t0, 1200 + TTL_SLACK_MS + 500) >= 1150, "setnx ttl");
    imi_buf v = IMI_BUF_INIT;
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_ttl(c, NULL, key, &ttl), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_setnx(c, NULL, key3, "y", 1, 0)); /* an expired key is free again */
    imi_cache_del(c, NULL, key3);
    imi_cache_free(c);
}

static void setnx_incr(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char key[128], n[128];
    imi_conf_name(t, "nx", key, sizeof key);
    imi_conf_name(t, "n", n, sizeof n);
    CONF_OK(t, imi_cache_setnx(c, NULL, key, "a", 1, 0));
    CONF_CHECK_RC(t, imi_cache_setnx(c, NULL, key, "b", 1, 0), IMI_EEXISTS);
    imi_buf v = IMI_BUF_INIT;
    CONF_OK(t, imi_cache_get(c, NULL, key, &v));
    CONF_CHECK(t, buf_is(&v, "a", 1), "setnx overwrote the value");
    int64_t r = 0;
    CONF_OK(t, imi_cache_incr(c, NULL, n, 5, &r));
    CONF_CHECK(t, r == 5, "incr of a missing key gave %lld", (long long)r);
    CONF_OK(t, imi_cache_incr(c, NULL, n, -7, &r));
    CONF_CHECK(t, r == -2, "incr by -7 gave %lld", (long long)r);
    CONF_OK(t, imi_cache_get(c, NULL, n, &v));
    CONF_CHECK(t, !strcmp(v.data, "-2"), "counter reads back as '%s'", v.data);
    CONF_OK(t, imi_cache_set(c, NULL, n, "41", 2, 0));
    CONF_OK(t, imi_cache_incr(c, NULL, n, 1, &r));
    CONF_CHECK(t, r == 42, "incr of a set \"41\" gave %lld", (long long)r);
    CONF_CHECK_RC(t, imi_cache_incr(c, NULL, key, 1, &r), IMI_EINVALID);
    imi_cache_del(c, NULL, key);
    imi_cache_del(c, NULL, n);
    imi_buf_free(&v);
    imi_cache_free(c);
}

static void mget_mset(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char k[5][128];
    const char *keys[5];
    for (int i = 0; i < 5; i++) {
        char s[16];
        snprintf(s, sizeof s, "m%d", i);
        keys[i] = imi_conf_name(t, s, k[i], sizeof k[i]);
    }
    /* keys 0, 2, 4 are set; 1 and 3 are misses in between */
    const char *set_keys[] = { keys[0], keys[2], keys[4] };
    imi_bytes vals[] = { { "zero", 4 }, { "t\0o", 3 }, { "", 0 } };
    CONF_OK(t, imi_cache_mset(c, NULL, set_keys, vals, 3, 0));
    imi_buf out[5] = { IMI_BUF_INIT, IMI_BUF_INIT, IMI_BUF_INIT, IMI_BUF_INIT, IMI_BUF_INIT };
    int found[5] = { -1, -1, -1, -1, -1 };
    CONF_OK(t, imi_cache_mget(c, NULL, keys, 5, out, found));
    CONF_CHECK(t, found[0] == 1 && found[1] == 0 && found[2] == 1 && found[3] == 0 && found[4] == 1,
               "found flags %d %d %d %d %d", found[0], found[1], found[2], found[3], found[4]);
    CONF_CHECK(t, buf_is(&out[0], "zero", 4) && buf_is(&out[2], "t\0o", 3) && out[4].len == 0,
               "mget values differ from what mset stored");
    CONF_OK(t, imi_cache_mget(c, NULL, keys, 0, out, found));
    CONF_OK(t, imi_cache_mset(c, NULL, set_keys, vals, 1, 600));
    int64_t ttl;
    CONF_OK(t, imi_cache_ttl(c, NULL, keys[0], &ttl));
    CONF_CHECK(t, ttl > 0 && ttl <= 600 + TTL_SLACK_MS, "mset with ttl left ttl %lld", (long long)ttl);
    for (int i = 0; i < 5; i++) {
        imi_cache_del(c, NULL, keys[i]);
        imi_buf_free(&out[i]);
    }
    imi_cache_free(c);
}

/* ---- hashes, sets, sorted sets ------------------------------------------------------- */

typedef struct collected {
    int n;
    char items[8][32];
    size_t lens[8];
    char vals[8][32];
    size_t vlens[8];
    double scores[8];
    int stop_after;
} collected;

static int collect(void *ud, const void *item, size_t ilen, const void *val, size_t vlen,
                   double score)
{
    collected *c = ud;
    if (c->n < 8 && ilen < 32 && vlen < 32) {
        memcpy(c->items[c->n], item, ilen);
        c->lens[c->n] = ilen;
        if (val)
            memcpy(c->vals[c->n], val, vlen);
        c->vlens[c->n] = vlen;
        c->scores[c->n] = score;
    }
    c->n++;
    return c->stop_after && c->n >= c->stop_after;
}

/* The index of item in c, or -1. */
static int collected_find(const collected *c, const void *item, size_t len)
{
    for (int i = 0; i < c->n && i < 8; i++)
        if (c->lens[i] == len && !memcmp(c->items[i], item, len))
            return i;
    return -1;
}

static void hashes(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_HASH)) {
        imi_cache_free(c);
        return;
    }
    char key[128];
    imi_conf_name(t, "h", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    CONF_CHECK_RC(t, imi_cache_hget(c, NULL, key, "f1", &v), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_hset(c, NULL, key, "f1", "one", 3));
    CONF_OK(t, imi_cache_hset(c, NULL, key, "f 2", "t\0o", 3));
    CONF_OK(t, imi_cache_hget(c, NULL, key, "f1", &v));
    CONF_CHECK(t, buf_is(&v, "one", 3), "hget f1 read '%s'", v.data);
    CONF_OK(t, imi_cache_hget(c, NULL, key, "f 2", &v));
    CONF_CHECK(t, buf_is(&v, "t\0o", 3), "a binary field value came back as %zu bytes", v.len);
    CONF_CHECK_RC(t, imi_cache_hget(c, NULL, key, "nope", &v), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_hset(c, NULL, key, "f1", "uno", 3));
    collected all = { 0 };
    CONF_OK(t, imi_cache_hgetall(c, NULL, key, collect, &all));
    int i = collected_find(&all, "f1", 2);
    CONF_CHECK(t, all.n == 2 && i >= 0 && all.vlens[i] == 3 && !memcmp(all.vals[i], "uno", 3),
               "hgetall gave %d fields", all.n);
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_EINVALID); /* a hash is no string */
    CONF_OK(t, imi_cache_hdel(c, NULL, key, "f1"));
    CONF_CHECK_RC(t, imi_cache_hdel(c, NULL, key, "f1"), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_hdel(c, NULL, key, "f 2"));
    CONF_CHECK_RC(t, imi_cache_exists(c, NULL, key), IMI_ENOTFOUND); /* empty: gone */
    collected none = { 0 };
    CONF_OK(t, imi_cache_hgetall(c, NULL, key, collect, &none));
    CONF_CHECK(t, none.n == 0, "hgetall of a missing hash gave %d fields", none.n);
    imi_buf_free(&v);
    imi_cache_free(c);
}

static void sets(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_SET)) {
        imi_cache_free(c);
        return;
    }
    char key[128];
    imi_conf_name(t, "s", key, sizeof key);
    CONF_CHECK_RC(t, imi_cache_sismember(c, NULL, key, "a", 1), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_sadd(c, NULL, key, "a", 1));
    CONF_OK(t, imi_cache_sadd(c, NULL, key, "b\0c", 3));
    CONF_OK(t, imi_cache_sadd(c, NULL, key, "", 0));
    CONF_CHECK_RC(t, imi_cache_sadd(c, NULL, key, "a", 1), IMI_EEXISTS);
    CONF_OK(t, imi_cache_sismember(c, NULL, key, "b\0c", 3));
    CONF_CHECK_RC(t, imi_cache_sismember(c, NULL, key, "b", 1), IMI_ENOTFOUND);
    collected all = { 0 };
    CONF_OK(t, imi_cache_smembers(c, NULL, key, collect, &all));
    CONF_CHECK(t, all.n == 3 && collected_find(&all, "b\0c", 3) >= 0 &&
                      collected_find(&all, "", 0) >= 0, "smembers gave %d members", all.n);
    collected one = { .stop_after = 1 };
    CONF_OK(t, imi_cache_smembers(c, NULL, key, collect, &one));
    CONF_CHECK(t, one.n == 1, "a callback returning non-zero did not stop the iteration");
    CONF_OK(t, imi_cache_srem(c, NULL, key, "a", 1));
    CONF_CHECK_RC(t, imi_cache_srem(c, NULL, key, "a", 1), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_srem(c, NULL, key, "b\0c", 3));
    CONF_OK(t, imi_cache_srem(c, NULL, key, "", 0));
    CONF_CHECK_RC(t, imi_cache_exists(c, NULL, key), IMI_ENOTFOUND);
    imi_cache_free(c);
}

static void sorted_sets(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_ZSET)) {
        imi_cache_free(c);
        return;
    }
    char key[128];
    imi_conf_name(t, "z", key, sizeof key);
    CONF_OK(t, imi_cache_zadd(c, NULL, key, "a", 1, 3));
    CONF_OK(t, imi_cache_zadd(c, NULL, key, "b", 1, 1));
    CONF_OK(t, imi_cache_zadd(c, NULL, key, "c", 1, 2));
    CONF_OK(t, imi_cache_zadd(c, NULL, key, "d", 1, 2)); /* ties order by member */
    CONF_OK(t, imi_cache_zadd(c, NULL, key, "e\0x", 3, -1.5));
    collected all = { 0 };
    CONF_OK(t, imi_cache_zrange(c, NULL, key, 0, -1, collect, &all));
    CONF_CHECK(t, all.n == 5, "zrange 0 -1 gave %d members", all.n);
    static const char *const order[] = { "e\0x", "b", "c", "d", "a" };
    static const double scores[] = { -1.5, 1, 2, 2, 3 };
    for (int i = 0; i < 5; i++)
        CONF_CHECK(t, all.lens[i] == (i ? 1u : 3u) && !memcmp(all.items[i], order[i], all.lens[i]) &&
                          all.scores[i] == scores[i],
                   "rank %d is '%.*s' (%g)", i, (int)all.lens[i], all.items[i], all.scores[i]);
    collected mid = { 0 };
    CONF_OK(t, imi_cache_zrange(c, NULL, key, -2, -1, collect, &mid));
    CONF_CHECK(t, mid.n == 2 && mid.items[0][0] == 'd' && mid.items[1][0] == 'a', "zrange -2 -1");
    collected clamp = { 0 };
    CONF_OK(t, imi_cache_zrange(c, NULL, key, 3, 100, collect, &clamp));
    CONF_CHECK(t, clamp.n == 2, "zrange 3 100 gave %d", clamp.n);
    collected empty = { 0 };
    CONF_OK(t, imi_cache_zrange(c, NULL, key, 10, 20, collect, &empty));
    CONF_OK(t, imi_cache_zrange(c, NULL, key, 3, 1, collect, &empty));
    CONF_CHECK(t, empty.n == 0, "out of range ranks gave %d members", empty.n);
    double s = 0;
    CONF_OK(t, imi_cache_zscore(c, NULL, key, "c", 1, &s));
    CONF_CHECK(t, s == 2, "zscore c = %g", s);
    CONF_CHECK_RC(t, imi_cache_zscore(c, NULL, key, "zz", 2, &s), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_zadd(c, NULL, key, "b", 1, 10)); /* moves b to the end */
    collected last = { 0 };
    CONF_OK(t, imi_cache_zrange(c, NULL, key, -1, -1, collect, &last));
    CONF_CHECK(t, last.n == 1 && last.items[0][0] == 'b' && last.scores[0] == 10, "update score");
    CONF_OK(t, imi_cache_zrem(c, NULL, key, "b", 1));
    CONF_CHECK_RC(t, imi_cache_zrem(c, NULL, key, "b", 1), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_del(c, NULL, key));
    collected none = { 0 };
    CONF_OK(t, imi_cache_zrange(c, NULL, key, 0, -1, collect, &none));
    CONF_CHECK(t, none.n == 0, "zrange of a missing key gave %d", none.n);
    imi_cache_free(c);
}

/* ---- lock and token bucket ----------------------------------------------------------- */

static void lock_owner(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_LOCK)) {
        imi_cache_free(c);
        return;
    }
    char key[128];
    imi_conf_name(t, "lock", key, sizeof key);
    CONF_CHECK_RC(t, imi_cache_unlock(c, NULL, key, "A"), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_lock_renew(c, NULL, key, "A", 1000), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_lock(c, NULL, key, "A", 5000));
    CONF_CHECK_RC(t, imi_cache_lock(c, NULL, key, "B", 5000), IMI_ECONFLICT);
    CONF_OK(t, imi_cache_lock(c, NULL, key, "A", 5000)); /* the holder again: OK */
    CONF_CHECK_RC(t, imi_cache_unlock(c, NULL, key, "B"), IMI_ECONFLICT);
    CONF_CHECK_RC(t, imi_cache_lock_renew(c, NULL, key, "B", 60000), IMI_ECONFLICT);
    CONF_OK(t, imi_cache_lock_renew(c, NULL, key, "A", 60000));
    int64_t ttl = 0;
    CONF_OK(t, imi_cache_ttl(c, NULL, key, &ttl));
    CONF_CHECK(t, ttl > 50000, "renew to 60 s left a ttl of %lld ms", (long long)ttl);
    CONF_OK(t, imi_cache_unlock(c, NULL, key, "A"));
    CONF_CHECK_RC(t, imi_cache_unlock(c, NULL, key, "A"), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_lock(c, NULL, key, "B", 5000));
    CONF_OK(t, imi_cache_unlock(c, NULL, key, "B"));

    /* expiry frees it; until then the other owner is refused */
    int64_t t0 = now_ms();
    CONF_OK(t, imi_cache_lock(c, NULL, key, "A", 300));
    CONF_CHECK_RC(t, imi_cache_lock(c, NULL, key, "B", 5000), IMI_ECONFLICT);
    int rc;
    while ((rc = imi_cache_lock(c, NULL, key, "B", 5000)) == IMI_ECONFLICT &&
           now_ms() - t0 < 300 + TTL_SLACK_MS + 500)
        sleep_ms(20);
    int64_t took = now_ms() - t0;
    CONF_CHECK(t, rc == IMI_OK, "the expired lock was not freed (%s)", imi_err_name(rc));
    CONF_CHECK(t, took >= 280, "a 300 ms lock was free after %lld ms", (long long)took);
    CONF_CHECK_RC(t, imi_cache_unlock(c, NULL, key, "A"), IMI_ECONFLICT);
    CONF_OK(t, imi_cache_unlock(c, NULL, key, "B"));
    imi_cache_free(c);
}

typedef struct taker {
    imi_cache *c;
    const char *key;
    int64_t until_ms;
    int granted, errors;
} taker;

static void *take_loop(void *arg)
{
    taker *w = arg;
    while (now_ms() < w->until_ms) {
        int rc = imi_cache_take(w->c, NULL, w->key, 50, 20, 1, NULL);
        if (rc == IMI_OK)
            w->granted++;
        else if (rc != IMI_ELIMITED)
            w->errors++;
    }
    return NULL;
}

static void token_bucket(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_TOKEN_BUCKET)) {
        imi_cache_free(c);
        return;
    }
    char key[128], key2[128];
    imi_conf_name(t, "bucket", key, sizeof key);
    imi_conf_name(t, "hammered", key2, sizeof key2);
    int64_t retry = -1;
    for (int i = 0; i < 5; i++)
        CONF_OK(t, imi_cache_take(c, NULL, key, 1, 5, 1, &retry));
    CONF_CHECK_RC(t, imi_cache_take(c, NULL, key, 1, 5, 1, &retry), IMI_ELIMITED);
    CONF_CHECK(t, retry > 0 && retry <= 1000, "retry_after is %lld ms", (long long)retry);
    CONF_CHECK_RC(t, imi_cache_take(c, NULL, key, 1, 5, 6, &retry), IMI_EINVALID); /* n > burst */

    /* 8 threads for 400 ms on one bucket: burst 20, 50 per second */
    enum { N = 8 };
    pthread_t th[N];
    taker w[N];
    int64_t t0 = now_ms();
    for (int i = 0; i < N; i++) {
        w[i] = (taker){ .c = c, .key = key2, .until_ms = t0 + 400 };
        pthread_create(&th[i], NULL, take_loop, &w[i]);
    }
    int granted = 0, errors = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        granted += w[i].granted;
        errors += w[i].errors;
    }
    double elapsed = (double)(now_ms() - t0) / 1000.0;
    int most = 20 + (int)(50 * elapsed) + 1;
    CONF_CHECK(t, errors == 0, "%d takes failed", errors);
    CONF_CHECK(t, granted <= most, "%d granted in %.3f s: more than burst + rate * elapsed = %d",
               granted, elapsed, most);
    CONF_CHECK(t, granted >= 20, "only %d granted: not even the burst", granted);
    imi_cache_del(c, NULL, key);
    imi_cache_del(c, NULL, key2);
    imi_cache_free(c);
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
    imi_cache_free(c);
}

static void canceled_and_expired_ctx(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    imi_buf v = IMI_BUF_INIT;
    int rc[3] = { imi_cache_get(c, ctx, "x", &v), imi_cache_set(c, ctx, "x", "v", 1, 0),
                  imi_cache_ping(c, ctx) };
    imi_ctx_free(ctx);
    for (int i = 0; i < 3; i++)
        CONF_CHECK(t, rc[i] == IMI_ECANCELED, "canceled ctx gave %s", imi_err_name(rc[i]));
    ctx = imi_ctx_new(0);
    imi_ctx_set_deadline_ns(ctx, imi_now_mono_ns() - 1000000);
    int64_t n;
    int rd[3] = { imi_cache_set(c, ctx, "x", "v", 1, 0), imi_cache_incr(c, ctx, "x", 1, &n),
                  imi_cache_ping(c, ctx) };
    imi_ctx_free(ctx);
    for (int i = 0; i < 3; i++)
        CONF_CHECK(t, rd[i] == IMI_ETIMEDOUT, "passed deadline gave %s", imi_err_name(rd[i]));
    ctx = imi_ctx_new(5000); /* a live deadline works */
    char key[128];
    imi_conf_name(t, "live", key, sizeof key);
    int ok = imi_cache_set(c, ctx, key, "v", 1, 0);
    imi_ctx_free(ctx);
    CONF_OK(t, ok);
    imi_cache_del(c, NULL, key);
    imi_cache_free(c);
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
    imi_cache_free(c);
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

static const imi_conf_kind cache_kind = {
    .kind = "cache",
    .required_slot = "get",
    .open = kind_open,
    .free = kind_free,
};

static void open_fails_cleanly(imi_conf_t *t) { imi_conf_open_fails_cleanly(t, &cache_kind); }
static void required_slot_null_refused(imi_conf_t *t)
{
    imi_conf_required_slot_null_refused(t, &cache_kind);
}

static const imi_conf_case cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "bad_options", bad_options },
    { "prefix_isolation", prefix_isolation },
    { "set_get_del_miss", set_get_del_miss },
    { "binary_values_weird_keys", binary_values_weird_keys },
    { "ttl_expiry", ttl_expiry },
    { "setnx_incr", setnx_incr },
    { "mget_mset", mget_mset },
    { "hashes", hashes },
    { "sets", sets },
    { "sorted_sets", sorted_sets },
    { "lock_owner", lock_owner },
    { "token_bucket", token_bucket },
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
