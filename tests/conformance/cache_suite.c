/* The cache conformance suite: every cache driver must pass it. */
#include <pthread.h>
#include <string.h>
#include <time.h>
#include "conformance.h"

/* Opens the default cache of the config under test; fails the case if it can't. */
#define OPEN_CACHE(t, c)                                                   \
    imi_cache *c = NULL;                                                   \
    CONF_OK(t, imi_cache_open((t)->app, NULL, &c))

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static void open_ping_close_twice(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    CONF_OK(t, imi_cache_ping(c, NULL));
    CONF_OK(t, imi_cache_close(c));
    CONF_CHECK_RC(t, imi_cache_close(c), IMI_ECLOSED);
    imi_buf v = IMI_BUF_INIT;
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, "k", &v), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_cache_ping(c, NULL), IMI_ECLOSED);
    imi_cache_free(c);
}

static void set_get_del_miss(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char key[128];
    imi_conf_name(t, "k", key, sizeof key);
    imi_buf v = IMI_BUF_INIT;
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_ENOTFOUND);
    CONF_OK(t, imi_cache_set(c, NULL, key, "hello", 5, 0));
    CONF_OK(t, imi_cache_get(c, NULL, key, &v));
    CONF_CHECK(t, v.len == 5 && !memcmp(v.data, "hello", 5), "got '%.*s'", (int)v.len, v.data);
    CONF_OK(t, imi_cache_exists(c, NULL, key));
    CONF_OK(t, imi_cache_set(c, NULL, key, "", 0, 0));
    CONF_OK(t, imi_cache_get(c, NULL, key, &v));
    CONF_CHECK(t, v.len == 0, "empty value read back as %zu bytes", v.len);
    CONF_OK(t, imi_cache_del(c, NULL, key));
    CONF_CHECK_RC(t, imi_cache_del(c, NULL, key), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_exists(c, NULL, key), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_ENOTFOUND);
    imi_buf_free(&v);
    imi_cache_free(c);
}

static void binary_values_weird_keys(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    static const char *const suffixes[] = { "sp ace", "new\nline", "tab\t", "ünï©ødé", "a:b/c?d=e",
                                            "{braces}[x]", "\"quoted\"", "%s%n" };
    unsigned char bin[300];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)(i * 7);
    bin[0] = 0;
    bin[150] = 0;
    imi_buf v = IMI_BUF_INIT;
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char key[160];
        imi_conf_name(t, suffixes[i], key, sizeof key);
        CONF_OK(t, imi_cache_set(c, NULL, key, bin, sizeof bin, 0));
        CONF_OK(t, imi_cache_get(c, NULL, key, &v));
        CONF_CHECK(t, v.len == sizeof bin && !memcmp(v.data, bin, sizeof bin),
                   "binary value under key '%s' came back as %zu bytes", key, v.len);
        CONF_OK(t, imi_cache_del(c, NULL, key));
    }
    imi_buf_free(&v);
    imi_cache_free(c);
}

static void ttl_expiry(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    char key[128], key2[128];
    imi_conf_name(t, "ttl", key, sizeof key);
    imi_conf_name(t, "nottl", key2, sizeof key2);
    int64_t ttl = 0;
    CONF_OK(t, imi_cache_set(c, NULL, key, "x", 1, 1500));
    CONF_OK(t, imi_cache_ttl(c, NULL, key, &ttl));
    CONF_CHECK(t, ttl > 500 && ttl <= 1500, "ttl read back as %lld ms", (long long)ttl);
    CONF_OK(t, imi_cache_set(c, NULL, key2, "x", 1, 0));
    CONF_OK(t, imi_cache_ttl(c, NULL, key2, &ttl));
    CONF_CHECK(t, ttl == -1, "a key without ttl reads back %lld", (long long)ttl);
    CONF_OK(t, imi_cache_expire(c, NULL, key2, 1000));
    CONF_OK(t, imi_cache_ttl(c, NULL, key2, &ttl));
    CONF_CHECK(t, ttl > 0 && ttl <= 1000, "expire then ttl read back %lld", (long long)ttl);
    sleep_ms(2100);
    imi_buf v = IMI_BUF_INIT;
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key, &v), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_get(c, NULL, key2, &v), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_cache_ttl(c, NULL, key, &ttl), IMI_ENOTFOUND);
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
    CONF_CHECK(t, v.len == 1 && v.data[0] == 'a', "setnx overwrote the value");
    int64_t r = 0;
    CONF_OK(t, imi_cache_incr(c, NULL, n, 5, &r));
    CONF_CHECK(t, r == 5, "incr of a missing key gave %lld", (long long)r);
    CONF_OK(t, imi_cache_incr(c, NULL, n, -7, &r));
    CONF_CHECK(t, r == -2, "incr by -7 gave %lld", (long long)r);
    CONF_OK(t, imi_cache_get(c, NULL, n, &v));
    CONF_CHECK(t, !strcmp(v.data, "-2"), "counter reads back as '%s'", v.data);
    CONF_CHECK_RC(t, imi_cache_incr(c, NULL, key, 1, &r), IMI_EINVALID);
    imi_buf_free(&v);
    imi_cache_free(c);
}

static void canceled_and_expired_ctx(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    imi_buf v = IMI_BUF_INIT;
    int rc = imi_cache_get(c, ctx, "x", &v);
    imi_ctx_free(ctx);
    CONF_CHECK(t, rc == IMI_ECANCELED, "canceled ctx gave %s", imi_err_name(rc));
    ctx = imi_ctx_new(0);
    imi_ctx_set_deadline_ns(ctx, imi_now_mono_ns() - 1000000);
    rc = imi_cache_set(c, ctx, "x", "v", 1, 0);
    imi_ctx_free(ctx);
    CONF_CHECK(t, rc == IMI_ETIMEDOUT, "passed deadline gave %s", imi_err_name(rc));
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
        if (imi_cache_set(w->c, NULL, key, val, (size_t)n, 0) ||
            imi_cache_get(w->c, NULL, key, &v) ||
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
    imi_cache_free(c);
}

static const imi_conf_case cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "set_get_del_miss", set_get_del_miss },
    { "binary_values_weird_keys", binary_values_weird_keys },
    { "ttl_expiry", ttl_expiry },
    { "setnx_incr", setnx_incr },
    { "canceled_and_expired_ctx", canceled_and_expired_ctx },
    { "many_threads", many_threads },
};

const imi_conf_suite imi_conf_cache_suite = {
    .kind = "cache",
    .cases = cases,
    .n_cases = sizeof cases / sizeof cases[0],
};
