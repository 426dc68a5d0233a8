/* The etcd coord driver: options, open/close, and the key-value and lease slots, each
 * one gateway call (kv/range, kv/put, kv/deleterange, kv/txn, lease/...). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

enum {
    OPT_ENDPOINTS, OPT_POOL_SIZE, OPT_CONNECT_TIMEOUT, OPT_CA_FILE, OPT_CERT_FILE, OPT_KEY_FILE,
    OPT_USER, OPT_PASSWORD, OPT_MAX_REPLY
};

/* etcd's own limit on a lease TTL (MaxLeaseTTL, in seconds). */
#define ETCD_MAX_LEASE_TTL_S INT64_C(9000000000)
/* bounds of max_reply_size */
#define MAX_REPLY_MIN (64 * 1024)
#define MAX_REPLY_MAX (INT64_C(1) << 31)

static const imi_option_spec etcd_options[] = {
    [OPT_ENDPOINTS] = { .name = "endpoints", .type = IMI_OPT_LIST, .flags = IMI_OPT_REQUIRED,
                        .help = "comma-separated http(s)://host:port of the etcd members" },
    [OPT_POOL_SIZE] = { .name = "pool_size", .type = IMI_OPT_INT, .default_value = "16",
                        .help = "idle HTTP connections kept for reuse" },
    [OPT_CONNECT_TIMEOUT] = { .name = "connect_timeout", .type = IMI_OPT_DURATION,
                              .default_value = "1s",
                              .help = "time to connect to one endpoint before trying the next" },
    [OPT_CA_FILE] = { .name = "ca_file", .type = IMI_OPT_PATH,
                      .help = "PEM CA bundle that signs the members' certificates (https://)" },
    [OPT_CERT_FILE] = { .name = "cert_file", .type = IMI_OPT_PATH,
                        .help = "PEM client certificate (members with --client-cert-auth)" },
    [OPT_KEY_FILE] = { .name = "key_file", .type = IMI_OPT_PATH,
                       .help = "PEM key of cert_file" },
    [OPT_USER] = { .name = "user", .type = IMI_OPT_STRING,
                   .help = "etcd user to authenticate as (auth enabled); none when empty" },
    [OPT_PASSWORD] = { .name = "password", .type = IMI_OPT_STRING, .flags = IMI_OPT_SECRET,
                       .help = "password of user" },
    [OPT_MAX_REPLY] = { .name = "max_reply_size", .type = IMI_OPT_SIZE, .default_value = "64M",
                        .help = "largest reply (or watch message) accepted, 64k to 2G" },
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

/* Takes "user:password@" out of an endpoint (as user and password when those options
 * are not set; the same pair on every endpoint); IMI_OK or a config error. */
static int take_userinfo(etcd *e, const char *p, size_t len, char **out)
{
    char *u, *pw;
    if (!(*out = etcd_url_split(p, len, &u, &pw)))
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    if (!u)
        return IMI_OK;
    int rc = IMI_OK;
    if (!e->user) {
        e->user = u;
        e->password = pw;
        return IMI_OK;
    }
    if (strcmp(e->user, u) || (pw && (!e->password || strcmp(e->password, pw)))) {
        char shown[256];
        etcd_url_redact(p, len, shown, sizeof shown);
        rc = e->host->error(IMI_ECONFIG, 0, "endpoints: '%s' names another user or password "
                            "than the user option or an earlier endpoint", shown);
    }
    free(u);
    free(pw);
    return rc;
}

/* Splits "a, b,c" into endpoints, adding http:// where no scheme is given. */
static int parse_endpoints(etcd *e, const char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    e->endpoints = calloc(n, sizeof *e->endpoints);
    if (!e->endpoints)
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t len = strcspn(p, ",");
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t' || p[len - 1] == '/'))
            len--;
        if (len) {
            bool scheme = strstr(p, "://") && (size_t)(strstr(p, "://") - p) < len;
            if (scheme && strncmp(p, "http://", 7) && strncmp(p, "https://", 8)) {
                char shown[256];
                etcd_url_redact(p, len, shown, sizeof shown);
                return e->host->error(IMI_ECONFIG, 0, "endpoints: only http:// and https:// "
                                      "are supported, not '%s'", shown);
            }
            char *bare;
            int rc = take_userinfo(e, p, len, &bare);
            if (rc)
                return rc;
            size_t blen = strlen(bare);
            char *ep = malloc(blen + 8);
            if (!ep) {
                free(bare);
                return e->host->error(IMI_ENOMEM, 0, "out of memory");
            }
            snprintf(ep, blen + 8, "%s%s", scheme ? "" : "http://", bare);
            free(bare);
            e->endpoints[e->n_endpoints++] = ep;
        }
        p += strcspn(p, ",");
    }
    if (!e->n_endpoints)
        return e->host->error(IMI_ECONFIG, 0, "endpoints: no endpoint given");
    return IMI_OK;
}

static const char *opt_str(const imi_driver_env *env, int i)
{
    const imi_opt_value *v = &env->opts[i];
    return v->set && v->str && *v->str ? v->str : NULL;
}

static int etcd_open(void *st, const imi_driver_env *env)
{
    etcd *e = st;
    e->host = env->host;
    e->logger = env->logger;
    e->default_timeout_ms = env->default_timeout_ms;
    pthread_mutex_init(&e->pool_mu, NULL);
    pthread_mutex_init(&e->watch_mu, NULL);
    pthread_mutex_init(&e->auth_mu, NULL);
    pthread_once(&curl_once, curl_init);
    int64_t pool = env->opts[OPT_POOL_SIZE].i;
    e->connect_timeout_ms = env->opts[OPT_CONNECT_TIMEOUT].i;
    if (pool < 0 || pool > 1024)
        return e->host->error(IMI_ECONFIG, 0, "pool_size must be in [0, 1024], not %" PRId64, pool);
    if (e->connect_timeout_ms <= 0)
        return e->host->error(IMI_ECONFIG, 0, "connect_timeout must be positive");
    e->pool_size = (size_t)pool;
    int64_t max_reply = env->opts[OPT_MAX_REPLY].i;
    if (max_reply < MAX_REPLY_MIN || max_reply > MAX_REPLY_MAX)
        return e->host->error(IMI_ECONFIG, 0, "max_reply_size must be in [64k, 2G], not %" PRId64
                              " bytes", max_reply);
    e->max_reply = (size_t)max_reply;
    e->ca_file = opt_str(env, OPT_CA_FILE);
    e->cert_file = opt_str(env, OPT_CERT_FILE);
    e->key_file = opt_str(env, OPT_KEY_FILE);
    if (e->key_file && !e->cert_file)
        return e->host->error(IMI_ECONFIG, 0, "key_file is set but cert_file is not");
    const char *user = opt_str(env, OPT_USER), *pw = opt_str(env, OPT_PASSWORD);
    if (pw && !user)
        return e->host->error(IMI_ECONFIG, 0, "password is set but user is not");
    if (user && (!(e->user = strdup(user)) || (pw && !(e->password = strdup(pw)))))
        return e->host->error(IMI_ENOMEM, 0, "out of memory");
    int rc = parse_endpoints(e, env->opts[OPT_ENDPOINTS].str);
    if (rc)
        return rc;
    return IMI_OK;
}

static void etcd_close(void *st)
{
    etcd *e = st;
    if (!e->host)
        return;
    etcd_watch_cancel_all(e);
    etcd_pool_free(e);
    if (e->password)
        memset(e->password, 0, strlen(e->password));
    free(e->user);
    free(e->password);
    free(e->token);
    for (size_t i = 0; i < e->n_endpoints; i++)
        free(e->endpoints[i]);
    free(e->endpoints);
    pthread_mutex_destroy(&e->pool_mu);
    pthread_mutex_destroy(&e->watch_mu);
    pthread_mutex_destroy(&e->auth_mu);
}

static int etcd_ping(void *st, const imi_ctx *ctx)
{
    json_t *resp;
    int rc = etcd_call(st, ctx, "/v3/maintenance/status", json_object(), ETCD_IDEMPOTENT, &resp);
    json_decref(resp);
    return rc;
}

/* ---- key-value ------------------------------------------------------------------------ */

/* Posts the body in w (freed here); *root: the reply, valid until etcd_reply_done. */
static int post(etcd *e, const imi_ctx *ctx, const char *path, etcd_jw *w, etcd_reply *r,
                etcd_jv *root)
{
    /* Reads and renewals may be sent again after a broken connection; writes may not. */
    unsigned flags = !strcmp(path, "/v3/kv/range") || !strcmp(path, "/v3/lease/keepalive")
                         ? ETCD_IDEMPOTENT : 0;
    int rc = w->oom ? e->host->error(IMI_ENOMEM, 0, "out of memory")
                    : etcd_post(e, ctx, path, w->p, w->len, flags, r);
    etcd_jw_free(w);
    if (!rc)
        *root = (etcd_jv){ .p = r->body, .end = r->body + r->len };
    return rc;
}

static void jw_key(etcd_jw *w, const char *name, const char *key, size_t klen)
{
    etcd_jw_raw(w, name);
    etcd_jw_b64(w, key, klen);
}

/* "key":K,"range_end":E for every key starting with prefix ("" is every key). */
static void jw_prefix(etcd_jw *w, const char *prefix, size_t plen)
{
    char small[256], *end = plen < sizeof small ? small : malloc(plen + 1);
    if (!end) {
        w->oom = true;
        return;
    }
    size_t n = etcd_range_end_bytes(prefix, plen, end);
    jw_key(w, "\"key\":", plen ? prefix : "", plen ? plen : 1);
    jw_key(w, ",\"range_end\":", end, n);
    if (end != small)
        free(end);
}

static void meta_of(etcd_jv kv, imi_coord_meta *m)
{
    *m = (imi_coord_meta){ .version = etcd_jr_int_at(kv, "version", NULL),
                           .create_rev = etcd_jr_int_at(kv, "create_revision", NULL),
                           .mod_rev = etcd_jr_int_at(kv, "mod_revision", NULL),
                           .lease = etcd_jr_int_at(kv, "lease", NULL) };
}

static int etcd_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val,
                    imi_coord_meta *meta)
{
    etcd *e = st;
    etcd_jw w;
    etcd_jw_init(&w);
    jw_key(&w, "{\"key\":", key, klen);
    etcd_jw_raw(&w, "}");
    etcd_reply r;
    etcd_jv root, kvs, kv, v;
    int rc = post(e, ctx, "/v3/kv/range", &w, &r, &root);
    if (rc)
        return rc;
    if (!etcd_jr_member(root, "kvs", &kvs) || !etcd_jr_index(kvs, 0, &kv)) {
        rc = e->host->error(IMI_ENOTFOUND, 0, "no key '%s'", key);
    } else {
        meta_of(kv, meta);
        size_t len = 0;
        /* An empty value is left out of the reply. */
        char *data = etcd_jr_member(kv, "value", &v) ? etcd_jr_b64(v, &len) : NULL;
        if (data || !etcd_jr_member(kv, "value", &v))
            rc = e->host->buf_set(val, data ? data : "", len);
        else
            rc = e->host->error(IMI_EDRIVER, 0, "etcd: the value of '%s' is not base64", key);
        free(data);
    }
    etcd_reply_done(e, &r);
    return rc;
}

static void jw_put(etcd_jw *w, const char *key, size_t klen, const void *val, size_t len,
                   int64_t lease)
{
    jw_key(w, "{\"key\":", key, klen);
    etcd_jw_raw(w, ",\"value\":");
    etcd_jw_b64(w, val, len);
    if (lease) {
        etcd_jw_raw(w, ",\"lease\":");
        etcd_jw_int(w, lease);
    }
    etcd_jw_raw(w, "}");
}

static int etcd_put(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
                    size_t len, int64_t lease, int64_t *rev)
{
    etcd *e = st;
    etcd_jw w;
    etcd_jw_init(&w);
    jw_put(&w, key, klen, val, len, lease);
    etcd_reply r;
    etcd_jv root;
    int rc = post(e, ctx, "/v3/kv/put", &w, &r, &root);
    if (!rc) {
        *rev = etcd_jr_int_at(root, "header", "revision");
        etcd_reply_done(e, &r);
    }
    return rc;
}

static int etcd_del(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
                    int64_t *deleted, int64_t *rev)
{
    etcd *e = st;
    etcd_jw w;
    etcd_jw_init(&w);
    etcd_jw_raw(&w, "{");
    if (prefix)
        jw_prefix(&w, key, klen);
    else
        jw_key(&w, "\"key\":", key, klen);
    etcd_jw_raw(&w, "}");
    etcd_reply r;
    etcd_jv root;
    int rc = post(e, ctx, "/v3/kv/deleterange", &w, &r, &root);
    if (!rc) {
        *deleted = etcd_jr_int_at(root, "deleted", NULL);
        *rev = etcd_jr_int_at(root, "header", "revision");
        etcd_reply_done(e, &r);
    }
    return rc;
}

static int etcd_list(void *st, const imi_ctx *ctx, const char *prefix, size_t plen,
                     imi_coord_driver_kv_fn fn, void *ud, int64_t *rev)
{
    etcd *e = st;
    etcd_jw w;
    etcd_jw_init(&w);
    etcd_jw_raw(&w, "{");
    jw_prefix(&w, prefix, plen);
    etcd_jw_raw(&w, "}");
    etcd_reply r;
    etcd_jv root;
    int rc = post(e, ctx, "/v3/kv/range", &w, &r, &root);
    if (rc)
        return rc;
    /* Listings can be long: one pass with jansson over the whole reply. */
    json_error_t jerr;
    json_t *resp = json_loadb(r.body, r.len, 0, &jerr);
    etcd_reply_done(e, &r);
    if (!resp)
        return e->host->error(IMI_EDRIVER, 0, "etcd: a range reply that is not JSON (%s)",
                              jerr.text);
    *rev = etcd_jint(json_object_get(resp, "header"), "revision");
    json_t *kvs = json_object_get(resp, "kvs");
    for (size_t i = 0; i < json_array_size(kvs) && !rc; i++) {
        char *k, *v;
        size_t kl, vl;
        imi_coord_meta m;
        if ((rc = etcd_kv_decode(e, json_array_get(kvs, i), &k, &kl, &v, &vl, &m)))
            break;
        int stop = fn(ud, k, kl, v, vl, &m);
        free(k);
        free(v);
        if (stop)
            break;
    }
    json_decref(resp);
    return rc;
}

static int etcd_cas(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                    imi_coord_cmp_target target, int64_t expect, const imi_coord_write *w,
                    int64_t *rev)
{
    etcd *e = st;
    static const char *const targets[] = { [IMI_COORD_CMP_VERSION] = "VERSION",
                                           [IMI_COORD_CMP_CREATE_REV] = "CREATE",
                                           [IMI_COORD_CMP_MOD_REV] = "MOD" };
    static const char *const fields[] = { [IMI_COORD_CMP_VERSION] = "version",
                                          [IMI_COORD_CMP_CREATE_REV] = "create_revision",
                                          [IMI_COORD_CMP_MOD_REV] = "mod_revision" };
    if (target < IMI_COORD_CMP_VERSION || target > IMI_COORD_CMP_MOD_REV)
        return e->host->error(IMI_EINVALID, 0, "etcd: unknown compare target %d", (int)target);
    char head[96];
    etcd_jw b;
    etcd_jw_init(&b);
    jw_key(&b, "{\"compare\":[{\"key\":", key, klen);
    snprintf(head, sizeof head, ",\"target\":\"%s\",\"result\":\"EQUAL\",\"%s\":", targets[target],
             fields[target]);
    etcd_jw_raw(&b, head);
    etcd_jw_int(&b, expect);
    if (w->op == IMI_COORD_WRITE_PUT) {
        etcd_jw_raw(&b, "}],\"success\":[{\"request_put\":");
        jw_put(&b, key, klen, w->val, w->len, w->lease);
    } else {
        jw_key(&b, "}],\"success\":[{\"request_delete_range\":{\"key\":", key, klen);
        etcd_jw_raw(&b, "}");
    }
    etcd_jw_raw(&b, "}]}");
    etcd_reply r;
    etcd_jv root, ok;
    int rc = post(e, ctx, "/v3/kv/txn", &b, &r, &root);
    if (rc)
        return rc;
    /* A failed comparison leaves "succeeded" out (false is the default). */
    if (!etcd_jr_member(root, "succeeded", &ok) || !etcd_jr_true(ok))
        rc = e->host->error(IMI_ECONFLICT, 0, "compare failed on '%s' (%s != %lld)", key,
                            fields[target], (long long)expect);
    else
        *rev = etcd_jr_int_at(root, "header", "revision");
    etcd_reply_done(e, &r);
    return rc;
}

/* ---- leases --------------------------------------------------------------------------- */

static int lease_call(etcd *e, const imi_ctx *ctx, const char *path, const char *field,
                      int64_t v, etcd_reply *r, etcd_jv *root)
{
    etcd_jw w;
    etcd_jw_init(&w);
    etcd_jw_raw(&w, "{\"");
    etcd_jw_raw(&w, field);
    etcd_jw_raw(&w, "\":");
    etcd_jw_int(&w, v);
    etcd_jw_raw(&w, "}");
    return post(e, ctx, path, &w, r, root);
}

static int etcd_lease_grant(void *st, const imi_ctx *ctx, int64_t ttl_ms, int64_t *id,
                            int64_t *granted_ms)
{
    etcd *e = st;
    if (ttl_ms < 1 || ttl_ms > ETCD_MAX_LEASE_TTL_S * 1000)
        return e->host->error(IMI_EINVALID, 0, "etcd: lease TTL %" PRId64 " ms is out of range "
                              "[1 ms, %" PRId64 " s]", ttl_ms, ETCD_MAX_LEASE_TTL_S);
    etcd_reply r;
    etcd_jv root;
    /* etcd counts in whole seconds */
    int rc = lease_call(e, ctx, "/v3/lease/grant", "TTL", (ttl_ms + 999) / 1000, &r, &root);
    if (rc)
        return rc;
    *id = etcd_jr_int_at(root, "ID", NULL);
    *granted_ms = etcd_jr_int_at(root, "TTL", NULL) * 1000;
    etcd_reply_done(e, &r);
    if (*id <= 0)
        return e->host->error(IMI_EDRIVER, 0, "etcd: lease grant returned no id");
    return IMI_OK;
}

static int etcd_lease_keepalive(void *st, const imi_ctx *ctx, int64_t id, int64_t *ttl_ms)
{
    etcd *e = st;
    etcd_reply r;
    etcd_jv root;
    int rc = lease_call(e, ctx, "/v3/lease/keepalive", "ID", id, &r, &root);
    if (rc)
        return rc;
    /* An expired lease answers with no TTL. */
    int64_t ttl = etcd_jr_int_at(root, "result", "TTL");
    etcd_reply_done(e, &r);
    if (ttl <= 0)
        return e->host->error(IMI_ENOTFOUND, 0, "lease %lld not found", (long long)id);
    *ttl_ms = ttl * 1000;
    return IMI_OK;
}

static int etcd_lease_revoke(void *st, const imi_ctx *ctx, int64_t id)
{
    etcd *e = st;
    etcd_reply r;
    etcd_jv root;
    int rc = lease_call(e, ctx, "/v3/lease/revoke", "ID", id, &r, &root);
    if (!rc)
        etcd_reply_done(e, &r);
    return rc;
}

static const imi_coord_driver etcd_vtable = {
    .size = sizeof(imi_coord_driver),
    .open = etcd_open,
    .close = etcd_close,
    .ping = etcd_ping,
    .get = etcd_get,
    .put = etcd_put,
    .del = etcd_del,
    .list = etcd_list,
    .cas = etcd_cas,
    .lease_grant = etcd_lease_grant,
    .lease_keepalive = etcd_lease_keepalive,
    .lease_revoke = etcd_lease_revoke,
    .watch_start = etcd_watch_start,
    .watch_cancel = etcd_watch_cancel,
};

static const imi_driver_desc etcd_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_COORD,
    .name = "etcd",
    .version = "1.0.0",
    .description = "etcd v3 through its JSON gateway (libcurl + jansson)",
    .caps = IMI_COORD_CAP_WATCH | IMI_COORD_CAP_LEASE,
    .options = etcd_options,
    .n_options = IMI_COUNT_OF(etcd_options),
    .state_size = sizeof(etcd),
    .vtable = &etcd_vtable,
};

IMI_DRIVER_DEFINE(etcd_desc)
