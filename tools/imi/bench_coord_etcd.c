/* The etcd baseline of imi bench coord: the HTTP calls the etcd driver makes (same
 * gateway paths, same JSON, a kept-alive connection per thread), written straight
 * against libcurl with the least possible work around them: bodies by snprintf, replies
 * checked with strstr. Built only when libcurl is there (IMI_BENCH_HAVE_LIBCURL). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_coord.h"

#ifdef IMI_BENCH_HAVE_LIBCURL
#include <curl/curl.h>

typedef struct etcd_base {
    char endpoint[256];
    char prefix[128];
} etcd_base;

typedef struct conn {
    const etcd_base *b;
    CURL *h;
    struct curl_slist *headers;
    char reply[16384];
    size_t len;
} conn;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    conn *c = ud;
    size_t add = size * n, room = sizeof c->reply - 1 - c->len;
    memcpy(c->reply + c->len, p, add < room ? add : room);
    c->len += add < room ? add : room;
    c->reply[c->len] = '\0';
    return add;
}

static void *base_init(void *ud)
{
    conn *c = calloc(1, sizeof *c);
    if (!c || !(c->h = curl_easy_init())) {
        free(c);
        return NULL;
    }
    c->b = ud;
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    c->headers = curl_slist_append(c->headers, "Expect:");
    curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(c->h, CURLOPT_POST, 1L);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, 5000L);
    return c;
}

static void base_done(void *ts)
{
    conn *c = ts;
    curl_easy_cleanup(c->h);
    curl_slist_free_all(c->headers);
    free(c);
}

static void b64(const char *s, size_t len, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < len ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < len ? p[i + 2] : 0);
        out[o++] = t[(v >> 18) & 63];
        out[o++] = t[(v >> 12) & 63];
        out[o++] = i + 1 < len ? t[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? t[v & 63] : '=';
    }
    out[o] = '\0';
}

/* The base64 of prefix + key. */
static void key64(const conn *c, const char *key, char *out)
{
    char full[512];
    int n = snprintf(full, sizeof full, "%s%s", c->b->prefix, key);
    b64(full, (size_t)n, out);
}

/* POSTs body to path: IMI_OK on HTTP 200. */
static int post(conn *c, const char *path, const char *body)
{
    char url[384];
    snprintf(url, sizeof url, "%s%s", c->b->endpoint, path);
    c->len = 0;
    c->reply[0] = '\0';
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    if (curl_easy_perform(c->h) != CURLE_OK)
        return IMI_EUNAVAILABLE;
    long status = 0;
    curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
    return status == 200 ? IMI_OK : IMI_EDRIVER;
}

/* An int64 field of the reply ("name":"123"). */
static long long reply_int(const conn *c, const char *name)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    const char *p = strstr(c->reply, pat);
    return p ? strtoll(p + strlen(pat), NULL, 10) : 0;
}

static int base_get(void *ts, const char *key)
{
    conn *c = ts;
    char k[700], body[800];
    key64(c, key, k);
    snprintf(body, sizeof body, "{\"key\":\"%s\"}", k);
    int rc = post(c, "/v3/kv/range", body);
    return rc ? rc : strstr(c->reply, "\"kvs\"") ? IMI_OK : IMI_ENOTFOUND;
}

static int base_put(void *ts, const char *key, const char *val, size_t len)
{
    conn *c = ts;
    char k[700], v[256], body[1024];
    key64(c, key, k);
    b64(val, len < 180 ? len : 180, v);
    snprintf(body, sizeof body, "{\"key\":\"%s\",\"value\":\"%s\"}", k, v);
    return post(c, "/v3/kv/put", body);
}

static int base_cas(void *ts, const char *key, int64_t expect, const char *val, size_t len)
{
    conn *c = ts;
    char k[700], v[256], body[2048];
    key64(c, key, k);
    b64(val, len < 180 ? len : 180, v);
    snprintf(body, sizeof body,
             "{\"compare\":[{\"key\":\"%s\",\"target\":\"VERSION\",\"result\":\"EQUAL\","
             "\"version\":\"%lld\"}],\"success\":[{\"request_put\":{\"key\":\"%s\","
             "\"value\":\"%s\"}}]}", k, (long long)expect, k, v);
    int rc = post(c, "/v3/kv/txn", body);
    return rc ? rc : strstr(c->reply, "\"succeeded\":true") ? IMI_OK : IMI_ECONFLICT;
}

static int base_lock_unlock(void *ts, const char *key)
{
    conn *c = ts;
    char k[700], body[2048];
    key64(c, key, k);
    int rc = post(c, "/v3/lease/grant", "{\"TTL\":\"10\"}");
    long long lease = rc ? 0 : reply_int(c, "ID");
    if (!lease)
        return rc ? rc : IMI_EDRIVER;
    snprintf(body, sizeof body,
             "{\"compare\":[{\"key\":\"%s\",\"target\":\"CREATE\",\"result\":\"EQUAL\","
             "\"create_revision\":\"0\"}],\"success\":[{\"request_put\":{\"key\":\"%s\","
             "\"value\":\"b3duZXI=\",\"lease\":\"%lld\"}}]}", k, k, lease);
    rc = post(c, "/v3/kv/txn", body);
    if (!rc && !strstr(c->reply, "\"succeeded\":true"))
        rc = IMI_ECONFLICT;
    long long rev = rc ? 0 : reply_int(c, "revision");
    if (!rc) {
        snprintf(body, sizeof body,
                 "{\"compare\":[{\"key\":\"%s\",\"target\":\"MOD\",\"result\":\"EQUAL\","
                 "\"mod_revision\":\"%lld\"}],\"success\":[{\"request_delete_range\":"
                 "{\"key\":\"%s\"}}]}", k, rev, k);
        rc = post(c, "/v3/kv/txn", body);
    }
    snprintf(body, sizeof body, "{\"ID\":\"%lld\"}", lease);
    int rc2 = post(c, "/v3/lease/revoke", body);
    return rc ? rc : rc2;
}

static const coord_bench_ops etcd_ops = {
    .name = "libcurl direct", .thread_init = base_init, .thread_done = base_done,
    .get = base_get, .put = base_put, .cas = base_cas, .lock_unlock = base_lock_unlock,
};

const coord_bench_ops *bench_coord_etcd_ops(imi_app *app, void **ud)
{
    const imi_config *cfg = imi_app_config(app);
    const char *driver = imi_config_get(cfg, "coord", "driver", NULL);
    const char *eps = imi_config_get(cfg, "coord", "endpoints", NULL);
    const char *prefix = imi_config_get(cfg, "coord", "prefix", NULL);
    *ud = NULL;
    if (!driver || strcmp(driver, "etcd") || !eps)
        return NULL;
    etcd_base *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    /* The first endpoint, as the driver starts with it. */
    size_t n = strcspn(eps, ", ");
    snprintf(b->endpoint, sizeof b->endpoint, "%s%.*s", strstr(eps, "://") ? "" : "http://",
             (int)n, eps);
    snprintf(b->prefix, sizeof b->prefix, "%s", prefix ? prefix : "");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    *ud = b;
    return &etcd_ops;
}

void bench_coord_etcd_free(void *ud) { free(ud); }

#else

const coord_bench_ops *bench_coord_etcd_ops(imi_app *app, void **ud)
{
    (void)app;
    *ud = NULL;
    return NULL;
}

void bench_coord_etcd_free(void *ud) { (void)ud; }

#endif
