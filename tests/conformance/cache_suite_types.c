/* The cache conformance suite, the optional types: hashes, sets, sorted sets, the lock
 * and the token bucket (each passes without work when its capability is not advertised). */
#include "cache_suite.h"

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

void imi_conf_cache_hashes(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_HASH)) {
        imi_conf_free(t, c);
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
    imi_conf_free(t, c);
}

void imi_conf_cache_sets(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_SET)) {
        imi_conf_free(t, c);
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
    imi_conf_free(t, c);
}

void imi_conf_cache_sorted_sets(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_ZSET)) {
        imi_conf_free(t, c);
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
    imi_conf_free(t, c);
}

/* ---- lock and token bucket ----------------------------------------------------------- */

void imi_conf_cache_lock_owner(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_LOCK)) {
        imi_conf_free(t, c);
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
    imi_conf_free(t, c);
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

void imi_conf_cache_token_bucket(imi_conf_t *t)
{
    OPEN_CACHE(t, c);
    if (!HAS(c, IMI_CACHE_CAP_TOKEN_BUCKET)) {
        imi_conf_free(t, c);
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
    imi_conf_free(t, c);
}
