/* HTTP to the etcd JSON gateway: the curl handle pool, endpoint failover and what is sent
 * again where, error mapping. */
#include <errno.h>
#include <time.h>
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
    size_t max;                /* max_reply */
    bool too_big;              /* the reply passed max */
    const imi_ctx *ctx;        /* of the call in progress, for the cancel check */
    const imi_host_api *host;
    struct curl_slist *hdrs;   /* the headers set on h, with the token of generation gen */
    uint64_t gen;
    bool hdrs_set;
    char errbuf[CURL_ERROR_SIZE];
};

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
    case 8:                                     /* ResourceExhausted: too many requests, */
        /* ... but also a request over the gateway's 2 MiB message limit: retrying that
         * one cannot help. */
        rc = msg && strstr(msg, "larger than max") ? IMI_EINVALID : IMI_EUNAVAILABLE;
        break;
    case 14: rc = IMI_EUNAVAILABLE; break;      /* Unavailable: no leader, stopping */
    case 16: rc = IMI_EUNAVAILABLE; break;      /* Unauthenticated: a token renewed too late */
    case 7: rc = IMI_ECONFIG; break;            /* PermissionDenied: the user lacks a role */
    default: rc = http_status >= 500 ? IMI_EUNAVAILABLE : IMI_EDRIVER; break;
    }
    if (msg && strstr(msg, "user name is empty"))
        return e->host->error(IMI_ECONFIG, code, "etcd: %s: authentication is enabled on the "
                              "server: set the user and password options", msg);
    return e->host->error(rc, code, "etcd: %s (HTTP %ld, code %ld)", msg ? msg : "error",
                          http_status, code);
}

/* Transfer errors that mean the TLS setup of client and server do not match (wrong CA,
 * a certificate or key file that cannot be used): no retry can help, so IMI_ECONFIG. */
static bool tls_mismatch(CURLcode cc)
{
    return cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
           cc == CURLE_SSL_CERTPROBLEM || cc == CURLE_SSL_CIPHER ||
           cc == CURLE_SSL_ENGINE_NOTFOUND || cc == CURLE_SSL_ISSUER_ERROR ||
           cc == CURLE_SSL_PINNEDPUBKEYNOTMATCH;
}

int etcd_curl_failure(etcd *e, CURLcode cc, const char *url, const char *detail,
                      const imi_ctx *ctx)
{
    const char *what = detail && *detail ? detail : curl_easy_strerror(cc);
    if (cc == CURLE_ABORTED_BY_CALLBACK)
        return e->host->error(IMI_ECANCELED, cc, "etcd: %s: canceled", url);
    if (cc == CURLE_OPERATION_TIMEDOUT)
        return e->host->error(e->host->ctx_remaining_ms(ctx, 1) <= 0 ? IMI_ETIMEDOUT
                                                                      : IMI_EUNAVAILABLE,
                              cc, "etcd: %s: %s", url, what);
    if (tls_mismatch(cc))
        return e->host->error(IMI_ECONFIG, cc, "etcd: %s: TLS: %s", url, what);
    return e->host->error(IMI_EUNAVAILABLE, cc, "etcd: %s: %s", url, what);
}

/* ---- the pool ------------------------------------------------------------------------- */

static size_t on_data(char *ptr, size_t size, size_t n, void *ud)
{
    etcd_conn *c = ud;
    size_t add = size * n;
    if (add > c->max || c->len > c->max - add) {
        c->too_big = true;
        return 0; /* curl ends the transfer */
    }
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
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    if (e->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, e->ca_file);
    if (e->cert_file)
        curl_easy_setopt(h, CURLOPT_SSLCERT, e->cert_file);
    if (e->key_file)
        curl_easy_setopt(h, CURLOPT_SSLKEY, e->key_file);
    /* Never follow a redirect: etcd sends none, and one could carry the token away. */
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
}

static struct curl_slist *base_headers(void)
{
    /* No "Expect: 100-continue" round trip before larger bodies. */
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    return l ? curl_slist_append(l, "Expect:") : NULL;
}

struct curl_slist *etcd_headers(etcd *e, uint64_t *gen)
{
    struct curl_slist *l = base_headers();
    *gen = 0;
    if (!l || !e->user)
        return l;
    pthread_mutex_lock(&e->auth_mu);
    *gen = atomic_load(&e->token_gen);
    size_t n = e->token ? strlen(e->token) + 32 : 0;
    char *h = n ? malloc(n) : NULL;
    if (h) {
        snprintf(h, n, "Authorization: %s", e->token);
        struct curl_slist *l2 = curl_slist_append(l, h);
        l = l2 ? l2 : (curl_slist_free_all(l), NULL);
        free(h);
    } else if (n) {
        curl_slist_free_all(l);
        l = NULL;
    }
    pthread_mutex_unlock(&e->auth_mu);
    return l;
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
    c->max = e->max_reply;
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
    curl_slist_free_all(c->hdrs);
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

/* Transfer errors that mean the request never reached etcd: safe to send elsewhere. */
static bool not_sent(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_SSL_CONNECT_ERROR ||
           tls_mismatch(cc);
}

/* etcd errors that refuse a request before it is proposed to raft: safe to send to
 * another member whatever the request. (A timeout may still apply: those are sent again
 * only when the request is idempotent.) */
static bool not_applied(const char *msg)
{
    static const char *const refused[] = {
        "etcdserver: no leader", "etcdserver: not capable", "etcdserver: unhealthy cluster",
        "raft proposal dropped", "etcdserver: too many requests",
    };
    for (size_t i = 0; msg && i < IMI_COUNT_OF(refused); i++)
        if (strstr(msg, refused[i]))
            return true;
    return false;
}

bool etcd_token_rejected(const char *msg)
{
    return msg && (strstr(msg, "invalid auth token") || strstr(msg, "auth token is expired"));
}

/* One request on c, with the token headers refreshed when a newer token exists; the HTTP
 * status in *status, the token generation used in *gen. */
static CURLcode perform(etcd *e, etcd_conn *c, const imi_ctx *ctx, const char *url,
                        const char *body, size_t blen, int64_t left, unsigned flags,
                        uint64_t *gen, long *status)
{
    *status = 0;
    *gen = 0;
    if (left <= 0)
        return CURLE_OPERATION_TIMEDOUT;
    bool want_token = !(flags & ETCD_NO_TOKEN);
    if (!c->hdrs_set || (want_token && c->gen != atomic_load(&e->token_gen)) ||
        (!want_token && c->gen != 0)) {
        uint64_t g = 0;
        struct curl_slist *h = want_token ? etcd_headers(e, &g) : base_headers();
        if (!h)
            return CURLE_OUT_OF_MEMORY;
        curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, h);
        curl_slist_free_all(c->hdrs);
        c->hdrs = h;
        c->gen = g;
        c->hdrs_set = true;
    }
    *gen = c->gen;
    c->len = 0;
    c->too_big = false;
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
    if (cc == CURLE_OK)
        curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, status);
    return cc;
}

enum { TRY_OK, TRY_NEXT, TRY_AUTH, TRY_STOP };

/* What to do after one attempt; *rc: its error (with the message recorded), why: its
 * reason in a few words, for a later "deadline passed" message. */
static int verdict(etcd *e, etcd_conn *c, const imi_ctx *ctx, const char *url, CURLcode cc,
                   long status, unsigned flags, int *rc, char *why, size_t wn)
{
    bool idempotent = flags & ETCD_IDEMPOTENT;
    const char *body = c->buf ? c->buf : "";
    if (c->too_big) {
        *rc = e->host->error(IMI_EDRIVER, 0, "etcd: %s: a reply larger than max_reply_size "
                             "(%zu bytes)", url, c->max);
        return TRY_STOP;
    }
    if (cc != CURLE_OK) {
        snprintf(why, wn, "%.150s", *c->errbuf ? c->errbuf : curl_easy_strerror(cc));
        *rc = etcd_curl_failure(e, cc, url, c->errbuf, ctx);
        if (cc == CURLE_ABORTED_BY_CALLBACK || *rc == IMI_ETIMEDOUT || cc == CURLE_OUT_OF_MEMORY)
            return TRY_STOP;
        /* A broken or silent connection: the request may have applied. */
        return not_sent(cc) || idempotent ? TRY_NEXT : TRY_STOP;
    }
    if (status == 200) {
        *rc = IMI_OK;
        if (!etcd_jr_valid((etcd_jv){ .p = body, .end = body + c->len })) {
            *rc = e->host->error(IMI_EDRIVER, 0, "etcd: %s: a reply that is not JSON or nested "
                                 "deeper than %d levels", url, ETCD_JSON_MAX_DEPTH);
            return TRY_STOP;
        }
        return TRY_OK;
    }
    json_t *j = json_loadb(body, c->len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    snprintf(why, wn, "HTTP %ld: %.120s", status, msg ? msg : body);
    int verdict = TRY_STOP;
    if (j && e->user && !(flags & ETCD_NO_TOKEN) && etcd_token_rejected(msg))
        verdict = TRY_AUTH;
    else if (j && not_applied(msg))
        verdict = TRY_NEXT;
    else if (idempotent && status >= 500)
        verdict = TRY_NEXT;
    if (!j && strstr(body, "CommonName of client"))
        /* etcd 3.4 with auth on refuses gateway requests whose client certificate has a
         * CN (it would otherwise be taken for a user name). */
        *rc = e->host->error(IMI_ECONFIG, status, "etcd: %s: refused: with auth enabled, etcd "
                             "takes no client certificate with a CommonName over its gateway "
                             "(use one without CN)", url);
    else
        *rc = j ? etcd_error_from_json(e, j, status)
                : e->host->error(IMI_EUNAVAILABLE, status, "etcd: %s: HTTP %ld: %.80s", url,
                                 status, c->len ? body : "(empty)");
    json_decref(j);
    return verdict;
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

int etcd_post(etcd *e, const imi_ctx *ctx, const char *path, const char *body, size_t blen,
              unsigned flags, etcd_reply *r)
{
    *r = (etcd_reply){ 0 };
    int64_t deadline = e->host->ctx_deadline_ns(ctx);
    if (!deadline)
        deadline = e->host->mono_ns() + e->default_timeout_ms * 1000000;
    int rc;
    if (e->user && !(flags & ETCD_NO_TOKEN) && atomic_load(&e->token_gen) == 0 &&
        (rc = etcd_authenticate(e, ctx, 0)))
        return rc;
    etcd_conn *c = conn_get(e);
    if (!c)
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    char url[512], why[160] = "";
    bool reauthed = false, answered = false;
    size_t failures = 0;
    int64_t pause_ms = 25;
    for (;;) {
        size_t idx;
        snprintf(url, sizeof url, "%s%s", etcd_endpoint(e, &idx), path);
        /* Rounded up: curl takes a timeout of 0 as none at all, and ignores a negative one
         * (the handle's previous timeout would stay), so a call whose deadline has passed
         * is not sent. */
        int64_t left_ns = deadline - e->host->mono_ns();
        int64_t left = left_ns > 0 ? (left_ns + 999999) / 1000000 : 0;
        if (left <= 0) {
            /* spent on earlier attempts: the answer is the deadline, not the last failure */
            rc = failures ? e->host->error(IMI_ETIMEDOUT, 0, "etcd: %s: deadline passed after "
                                           "%zu attempts; the last: %s", url, failures, why)
                          : e->host->error(IMI_ETIMEDOUT, 0, "etcd: %s: the deadline passed "
                                           "before the request was sent", url);
            break;
        }
        uint64_t gen;
        long status;
        CURLcode cc = perform(e, c, ctx, url, body, blen, left, flags, &gen, &status);
        int v = verdict(e, c, ctx, url, cc, status, flags, &rc, why, sizeof why);
        if (cc != CURLE_OK && cc != CURLE_ABORTED_BY_CALLBACK && rc != IMI_ETIMEDOUT)
            etcd_endpoint_failed(e, idx);
        if (v == TRY_OK || v == TRY_STOP)
            break;
        if (e->host->ctx_canceled(ctx)) {
            rc = e->host->error(IMI_ECANCELED, 0, "etcd: %s: canceled", url);
            break;
        }
        if (v == TRY_AUTH) {
            if (reauthed || (rc = etcd_authenticate(e, ctx, gen)))
                break;
            reauthed = true;
            continue;
        }
        /* TRY_NEXT: the next member; when all of them failed and one at least answered
         * (e.g. "no leader": an election, about a second), a pause and another round, up
         * to the deadline. When none answered, the cluster is down: no second round. */
        if (cc == CURLE_OK) {
            etcd_endpoint_failed(e, idx);
            answered = true;
        }
        /* A TLS mismatch on every member is the config's fault: no second round. */
        if (++failures >= e->n_endpoints && rc == IMI_ECONFIG)
            break;
        if (failures % e->n_endpoints == 0) {
            left = (deadline - e->host->mono_ns()) / 1000000;
            if (left <= pause_ms || !answered)
                break;
            answered = false;
            sleep_ms(pause_ms);
            pause_ms = pause_ms * 2 > 400 ? 400 : pause_ms * 2;
        }
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

int etcd_call(etcd *e, const imi_ctx *ctx, const char *path, json_t *req, unsigned flags,
              json_t **resp)
{
    *resp = NULL;
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    if (!body)
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    etcd_reply r;
    int rc = etcd_post(e, ctx, path, body, strlen(body), flags, &r);
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
