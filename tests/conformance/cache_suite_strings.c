/* The cache conformance suite, strings: set/get/del, binary values and odd keys, TTLs,
 * setnx, incr, mget/mset. */
#include "cache_suite.h"

/* ---- strings ------------------------------------------------------------------------- */

void imi_conf_cache_set_get_del_miss(imi_conf_t *t)
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
    imi_conf_free(t, c);
}

void imi_conf_cache_binary_values_weird_keys(imi_conf_t *t)
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
    imi_conf_free(t, c);
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

void imi_conf_cache_ttl_expiry(imi_conf_t *t)
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
    imi_conf_free(t, c);
}

void imi_conf_cache_setnx_incr(imi_conf_t *t)
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
    imi_conf_free(t, c);
}

void imi_conf_cache_mget_mset(imi_conf_t *t)
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
    imi_conf_free(t, c);
}
