/* The etcd coord driver: etcd v3 through its JSON gateway (/v3/...) over HTTP with
 * libcurl, JSON with jansson. Keys and values travel base64-encoded, int64 fields as
 * strings. Unary calls share a pool of curl handles (kept-alive connections); each watch
 * has a thread and a streaming connection of its own. With several endpoints, calls go
 * to the current one and move on to the next when it cannot be reached or says it has no
 * leader; a request is sent again (to the next member) only when it provably did not
 * apply or is idempotent. https:// endpoints use ca_file, cert_file and key_file; with a
 * user, an auth token from /v3/auth/authenticate goes on every request and is fetched
 * again when etcd calls it invalid (expired). */
#ifndef IMI_DRIVERS_COORD_ETCD_H
#define IMI_DRIVERS_COORD_ETCD_H

#include <pthread.h>
#include <stdatomic.h>
#include <curl/curl.h>
#include <jansson.h>
#include "iminfra/driver/coord_driver.h"

typedef struct etcd_conn etcd_conn;
typedef struct etcd_watch etcd_watch;

typedef struct etcd {
    const imi_host_api *host;
    void *logger;
    int64_t default_timeout_ms;
    int64_t connect_timeout_ms;
    char **endpoints;              /* "http(s)://host:port", no trailing slash nor user:pw */
    size_t n_endpoints;
    atomic_size_t current;         /* index of the endpoint calls go to */
    size_t pool_size;              /* idle handles kept */
    size_t max_reply;              /* bytes of one reply (or one watch message) at most */
    const char *ca_file, *cert_file, *key_file; /* NULL: curl's defaults / none */

    /* authentication: user NULL when none */
    char *user, *password;
    pthread_mutex_t auth_mu;       /* one Authenticate at a time */
    char *token;                   /* under auth_mu */
    atomic_uint_fast64_t token_gen; /* +1 per new token; a handle's headers follow it */

    pthread_mutex_t pool_mu;
    etcd_conn *idle;
    size_t n_idle;

    pthread_mutex_t watch_mu;      /* the watches still running (cancelled at close) */
    etcd_watch *watches;
} etcd;

/* A reply held in the connection that received it, until etcd_reply_done. */
typedef struct etcd_reply {
    etcd_conn *conn;
    const char *body;
    size_t len;
} etcd_reply;

#define ETCD_IDEMPOTENT 0x1u /* may be sent again after a broken connection or a timeout */
#define ETCD_NO_TOKEN   0x2u /* without the auth token (Authenticate itself) */

/* POSTs body to endpoint + path, up to the ctx deadline. On IMI_OK (HTTP 200, valid
 * JSON) *r holds the reply; errors are mapped like etcd_call's. */
int etcd_post(etcd *e, const imi_ctx *ctx, const char *path, const char *body, size_t blen,
              unsigned flags, etcd_reply *r);
void etcd_reply_done(etcd *e, etcd_reply *r);

/* POSTs req (taken over) as JSON to endpoint + path; *resp: the parsed reply of a 200.
 * Failing over to the next endpoint when one cannot be reached. Errors are mapped to imi
 * codes with the gateway's message as detail. */
int etcd_call(etcd *e, const imi_ctx *ctx, const char *path, json_t *req, unsigned flags,
              json_t **resp);

/* Frees the idle handles (at close). */
void etcd_pool_free(etcd *e);

/* The endpoint to use now, and moving past one that failed. */
const char *etcd_endpoint(etcd *e, size_t *idx);
void etcd_endpoint_failed(etcd *e, size_t idx);
/* Sets what every handle of the driver needs (no signals, keepalive, TLS files). */
void etcd_curl_common(etcd *e, CURL *h);
/* The request headers with the current token (if any); *gen: the token generation they
 * carry. NULL when out of memory. */
struct curl_slist *etcd_headers(etcd *e, uint64_t *gen);
/* Fetches a new token unless one newer than stale_gen is there already (someone else
 * renewed it). IMI_ECONFIG when etcd refuses the user or password. */
int etcd_authenticate(etcd *e, const imi_ctx *ctx, uint64_t stale_gen);
/* True for an error of etcd that means the token is missing, invalid or expired. */
bool etcd_token_rejected(const char *msg);
/* The imi code and one-line message of a failed transfer (curl code cc) to url. */
int etcd_curl_failure(etcd *e, CURLcode cc, const char *url, const char *detail,
                      const imi_ctx *ctx);

/* etcd_url.c: url (len bytes) with its password replaced by "***", into out. */
void etcd_url_redact(const char *url, size_t len, char *out, size_t n);
/* A new copy of url without "user:password@"; *user and *password (new strings, NULL
 * when absent) get what it held. NULL when out of memory. */
char *etcd_url_split(const char *url, size_t len, char **user, char **password);

/* The imi code of a gateway error body {"error","message","code"}, with detail. */
int etcd_error_from_json(etcd *e, json_t *err, long http_status);

/* base64 of bytes as a new JSON string; NULL when out of memory. */
json_t *etcd_b64_json(const void *data, size_t len);
/* Decodes base64 text into a new NUL-terminated buffer; NULL on bad input or memory. */
char *etcd_b64_decode(const char *s, size_t *len);
/* The prefix's range end: the key after every key that starts with prefix (out has room
 * for plen bytes, at least 1); its length. */
size_t etcd_range_end_bytes(const char *prefix, size_t plen, char *out);
json_t *etcd_range_end(const char *prefix, size_t plen);
/* An int64 field that the gateway sends as a string (or a number); 0 when absent. */
int64_t etcd_jint(const json_t *obj, const char *field);
/* "N" as a JSON string: how the gateway wants int64 values. */
json_t *etcd_jint_str(int64_t v);

/* Reads key, value and meta out of a gateway KeyValue; *key and *val are new buffers. */
int etcd_kv_decode(etcd *e, const json_t *kv, char **key, size_t *klen, char **val,
                   size_t *vlen, imi_coord_meta *meta);

/* etcd_json.c: request bodies without a tree (values are base64 or numbers) ... */
typedef struct etcd_jw {
    char *p;
    size_t len, cap;
    bool oom;
    char small[1024];
} etcd_jw;
void etcd_jw_init(etcd_jw *w);
void etcd_jw_free(etcd_jw *w);
void etcd_jw_raw(etcd_jw *w, const char *s);             /* text as it is */
void etcd_jw_b64(etcd_jw *w, const void *data, size_t len); /* "base64" */
void etcd_jw_int(etcd_jw *w, int64_t v);                 /* "123" */

/* ... and replies read in place: a value is the span [p, end) of valid JSON. */
typedef struct etcd_jv {
    const char *p, *end;
} etcd_jv;
bool etcd_jr_member(etcd_jv obj, const char *name, etcd_jv *out);
bool etcd_jr_index(etcd_jv arr, size_t i, etcd_jv *out);
/* obj.a or obj.a.b (b NULL: just a). */
bool etcd_jr_path(etcd_jv root, const char *a, const char *b, etcd_jv *out);
int64_t etcd_jr_int(etcd_jv v);                          /* "123" or 123 */
int64_t etcd_jr_int_at(etcd_jv root, const char *a, const char *b); /* 0 when absent */
bool etcd_jr_true(etcd_jv v);
/* True when v is one valid JSON value nested at most ETCD_JSON_MAX_DEPTH deep: replies
 * are checked with it before anything is read from them. */
#define ETCD_JSON_MAX_DEPTH 64
bool etcd_jr_valid(etcd_jv v);
/* A base64 string value decoded into a new buffer; NULL when it is not one. */
char *etcd_jr_b64(etcd_jv v, size_t *len);

/* etcd_watch.c */
int etcd_watch_start(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
                     int64_t start_rev, imi_coord_driver_event_fn fn, void *ud, void **w);
void etcd_watch_cancel(void *st, void *w);
void etcd_watch_cancel_all(etcd *e);

#endif
