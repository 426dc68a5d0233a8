/* HTTP to the etcd JSON gateway: the curl handle pool, endpoint failover, error mapping,
 * and the encodings the gateway uses (base64 bytes, int64 as strings). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

struct etcd_conn {
    etcd_conn *next;
    CURL *h;
    char *buf;                 /* the reply, grown as needed and reused */
    size_t len, cap;
    const imi_ctx *ctx;        /* of the call in progress, for the cancel check */
    const imi_host_api *host;
    char errbuf[CURL_ERROR_SIZE];
};

/* ---- encodings ------------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_t *etcd_b64_json(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t n = (len + 2) / 3 * 4;
    char small[512], *out = n < sizeof small ? small : malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *j = json_stringn(out, o);
    if (out != small)
        free(out);
    return j;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

char *etcd_b64_decode(const char *s, size_t *len)
{
    size_t n = s ? strlen(s) : 0;
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

size_t etcd_range_end_bytes(const char *prefix, size_t plen, char *out)
{
    size_t n = plen;
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
        n--;
    if (n == 0) {
        out[0] = '\0'; /* "\0": to the end of the keyspace */
        return 1;
    }
    memcpy(out, prefix, n);
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return n;
}

json_t *etcd_range_end(const char *prefix, size_t plen)
{
    char small[256], *end = plen < sizeof small ? small : malloc(plen + 1);
    if (!end)
        return NULL;
    size_t n = etcd_range_end_bytes(prefix, plen, end);
    json_t *j = etcd_b64_json(end, n);
    if (end != small)
        free(end);
    return j;
}

int64_t etcd_jint(const json_t *obj, const char *field)
{
    const json_t *v = json_object_get(obj, field);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    return 0;
}

json_t *etcd_jint_str(int64_t v)
{
    char s[32];
    int n = snprintf(s, sizeof s, "%" PRId64, v);
    return json_stringn(s, (size_t)n);
}

int etcd_kv_decode(etcd *e, const json_t *kv, char **key, size_t *klen, char **val,
                   size_t *vlen, imi_coord_meta *meta)
{
    *key = etcd_b64_decode(json_string_value(json_object_get(kv, "key")), klen);
    *val = etcd_b64_decode(json_string_value(json_object_get(kv, "value")), vlen);
    if (!*key || !*val) {
        free(*key);
        free(*val);
        *key = *val = NULL;
        return e->host->error(IMI_EDRIVER, 0, "etcd: a key or value is not valid base64");
    }
    *meta = (imi_coord_meta){ .version = etcd_jint(kv, "version"),
                              .create_rev = etcd_jint(kv, "create_revision"),
                              .mod_rev = etcd_jint(kv, "mod_revision"),
                              .lease = etcd_jint(kv, "lease") };
    return IMI_OK;
}

/* ---- endpoints and errors ------------------------------------------------------------- */

const char *etcd_endpoint(etcd *e, size_t *idx)
{
    *idx = atomic_load(&e->current) % e->n_endpoints;
    return e->endpoints[*idx];
}

void etcd_endpoint_failed(etcd *e, size_t idx)
{
    size_t expect = idx;
    /* Only the first caller to see this endpoint fail moves everyone on. */
    atomic_compare_exchange_strong(&e->current, &expect, (idx + 1) % e->n_endpoints);
}

int etcd_error_from_json(etcd *e, json_t *err, long http_status)
{
    const char *msg = json_string_value(json_object_get(err, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(err, "error"));
    long code = (long)etcd_jint(err, "code");
    int rc;
    switch (code) {
    case 5: rc = IMI_ENOTFOUND; break;          /* NotFound: lease not found */
    case 3: rc = IMI_EINVALID; break;           /* InvalidArgument */
    case 4: rc = IMI_ETIMEDOUT; break;          /* DeadlineExceeded */
    case 11: rc = IMI_ECONFLICT; break;         /* OutOfRange: revision compacted */
    case 9: rc = IMI_ECONFLICT; break;          /* FailedPrecondition */
    case 8:                                     /* ResourceExhausted */
    case 14: rc = IMI_EUNAVAILABLE; break;      /* Unavailable: no leader, stopping */
    default: rc = http_status >= 500 ? IMI_EUNAVAILABLE : IMI_EDRIVER; break;
    }
    return e->host->error(rc, code, "etcd: %s (HTTP %ld, code %ld)", msg ? msg : "error",
                          http_status, code);
}

static int curl_failure(etcd *e, CURLcode cc, const char *url, const char *detail,
                        const imi_ctx *ctx)
{
    const char *what = detail && *detail ? detail : curl_easy_strerror(cc);
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        return e->host->error(IMI_ECANCELED, cc, "etcd: %s: canceled", url);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return e->host->error(e->host->ctx_remaining_ms(ctx, 1) <= 0 ? IMI_ETIMEDOUT
                                                                      : IMI_EUNAVAILABLE,
                              cc, "etcd: %s: %s", url, what);
    return e->host->error(IMI_EUNAVAILABLE, cc, "etcd: %s: %s", url, what);
}

/* ---- the pool ------------------------------------------------------------------------- */

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
    etcd_conn *c = ud;
    size_t add = size * n;
    if (c->len + add + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 4096;
        while (cap < c->len + add + 1)
            cap *= 2;
        char *b = realloc(c->buf, cap);
        if (!b)
            return 0;
        c->buf = b;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, ptr, add);
    c->len += add;
    c->buf[c->len] = '\0';
    return add;
}

static int on_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t c2, curl_off_t d)
{
    (void)a;
    (void)b;
    (void)c2;
    (void)d;
    etcd_conn *c = ud;
    return c->ctx && c->host->ctx_canceled(c->ctx);
}

void etcd_curl_common(etcd *e, CURL *h)
{
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPIDLE, 10L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPINTVL, 5L);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, e->headers);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
}

static etcd_conn *conn_get(etcd *e)
{
    pthread_mutex_lock(&e->pool_mu);
    etcd_conn *c = e->idle;
    if (c) {
        e->idle = c->next;
        e->n_idle--;
    }
    pthread_mutex_unlock(&e->pool_mu);
    if (c)
        return c;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (!(c->h = curl_easy_init())) {
        free(c);
        return NULL;
    }
    c->host = e->host;
    etcd_curl_common(e, c->h);
    curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
    return c;
}

static void conn_free(etcd_conn *c)
{
    curl_easy_cleanup(c->h);
    free(c->buf);
    free(c);
}

static void conn_put(etcd *e, etcd_conn *c)
{
    c->ctx = NULL;
    pthread_mutex_lock(&e->pool_mu);
    if (e->n_idle < e->pool_size) {
        c->next = e->idle;
        e->idle = c;
        e->n_idle++;
        c = NULL;
    }
    pthread_mutex_unlock(&e->pool_mu);
    if (c)
        conn_free(c);
}

void etcd_pool_free(etcd *e)
{
    for (etcd_conn *c = e->idle, *next; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    e->idle = NULL;
    e->n_idle = 0;
}

/* Errors that mean the request never reached the server: safe to send elsewhere. */
static bool not_sent(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY;
}

/* One request on c; the HTTP status in *status. */
static CURLcode perform(etcd *e, etcd_conn *c, const imi_ctx *ctx, const char *url,
                        const char *body, size_t blen, long *status)
{
    int64_t left = e->host->ctx_remaining_ms(ctx, e->default_timeout_ms);
    if (left <= 0)
        return CURLE_OPERATION_TIMEDOUT;
    c->len = 0;
    c->errbuf[0] = '\0';
    c->ctx = ctx;
    curl_easy_setopt(c->h, CURLOPT_URL, url);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(c->h, CURLOPT_TIMEOUT_MS, (long)left);
    curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(left < e->connect_timeout_ms ? left : e->connect_timeout_ms));
    /* The cancel check costs a callback per transfer step: only when it can matter. */
    curl_easy_setopt(c->h, CURLOPT_NOPROGRESS, ctx ? 0L : 1L);
    CURLcode cc = curl_easy_perform(c->h);
    *status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
    return cc;
}

int etcd_post(etcd *e, const imi_ctx *ctx, const char *path, const char *body, size_t blen,
              etcd_reply *r)
{
    *r = (etcd_reply){ 0 };
    etcd_conn *c = conn_get(e);
    if (!c)
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    char url[512];
    CURLcode cc = CURLE_OK;
    long status = 0;
    for (size_t attempt = 0; attempt < e->n_endpoints; attempt++) {
        size_t idx;
        snprintf(url, sizeof url, "%s%s", etcd_endpoint(e, &idx), path);
        cc = perform(e, c, ctx, url, body, blen, &status);
        if (cc == CURLE_OK)
            break;
        if (cc != CURLE_ABORTED_BY_CALLBACK)
            etcd_endpoint_failed(e, idx);
        if (!not_sent(cc))
            break;
    }
    int rc = IMI_OK;
    if (cc != CURLE_OK) {
        rc = curl_failure(e, cc, url, c->errbuf, ctx);
    } else if (status != 200) {
        json_t *j = json_loadb(c->buf ? c->buf : "", c->len, 0, NULL);
        rc = j ? etcd_error_from_json(e, j, status)
               : e->host->error(IMI_EUNAVAILABLE, status, "etcd: %s: HTTP %ld: %.80s", url, status,
                                c->len ? c->buf : "(empty)");
        json_decref(j);
    }
    if (rc) {
        conn_put(e, c);
        return rc;
    }
    *r = (etcd_reply){ .conn = c, .body = c->buf ? c->buf : "", .len = c->len };
    return IMI_OK;
}

void etcd_reply_done(etcd *e, etcd_reply *r)
{
    if (r->conn)
        conn_put(e, r->conn);
    r->conn = NULL;
}

int etcd_call(etcd *e, const imi_ctx *ctx, const char *path, json_t *req, json_t **resp)
{
    *resp = NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    etcd_reply r;
    int rc = etcd_post(e, ctx, path, body, strlen(body), &r);
    free(body);
    if (rc)
        return rc;
    json_error_t jerr;
    json_t *j = json_loadb(r.body, r.len, 0, &jerr);
    if (!j)
        rc = e->host->error(IMI_EDRIVER, 0, "etcd: %s: a reply that is not JSON (%s): %.80s", path,
                            jerr.text, r.body);
    etcd_reply_done(e, &r);
    *resp = j;
    return rc;
}
