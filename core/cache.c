/* The cache front-end: argument checks, key prefix, ctx, closed state, capabilities,
 * then one vtable call. */
#include <stdlib.h>
#include <string.h>
#include "iminfra/cache.h"
#include "iminfra/driver/cache_driver.h"
#include "iminfra/error.h"
#include "instance.h"
#include "util.h"

struct imi_cache {
    imi_instance in;
    const imi_cache_driver *vt;
    char *prefix;
    size_t prefix_len;
};

/* A slot the driver's vtable is large enough to hold, or NULL. */
#define SLOT(c, name) (IMI_HAS_FIELD((c)->vt, imi_cache_driver, name) ? (c)->vt->name : NULL)

int imi_cache_open(imi_app *app, const char *name, imi_cache **out)
{
    static const char *const core_keys[] = { IMI_INSTANCE_CORE_KEYS, "prefix", NULL };
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_cache_open: app and out are required");
    *out = NULL;
    imi_cache *c = calloc(1, sizeof *c);
    if (!c)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    int rc = imi_instance_init(&c->in, app, IMI_KIND_CACHE, name, core_keys,
                               offsetof(imi_cache_driver, mget));
    if (rc) {
        free(c);
        return rc;
    }
    c->vt = c->in.vtable;
    const char *prefix = imi_config_get(imi_app_config(app), c->in.section, "prefix", NULL);
    if (prefix && *prefix && !(c->prefix = strdup(prefix))) {
        imi_instance_release(&c->in);
        free(c);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    c->prefix_len = c->prefix ? strlen(c->prefix) : 0;
    rc = c->vt->open(c->in.state, &c->in.env);
    c->in.opened = true;
    if (rc) {
        imi_error_prefix("[%s] driver %s failed to open", c->in.section, c->in.desc->name);
        imi_cache_free(c);
        return rc;
    }
    *out = c;
    return IMI_OK;
}

int imi_cache_close(imi_cache *c)
{
    if (!c)
        return imi_error_set(IMI_EINVALID, 0, "imi_cache_close: no handle");
    int rc = imi_instance_begin_close(&c->in);
    if (rc)
        return rc;
    if (c->in.opened)
        c->vt->close(c->in.state);
    c->in.opened = false;
    return IMI_OK;
}

void imi_cache_free(imi_cache *c)
{
    if (!c)
        return;
    if (!atomic_load(&c->in.closed))
        imi_cache_close(c);
    else if (c->in.opened)
        c->vt->close(c->in.state);
    imi_instance_release(&c->in);
    free(c->prefix);
    free(c);
}

uint64_t imi_cache_caps(const imi_cache *c) { return c ? c->in.desc->caps : 0; }
const char *imi_cache_driver_name(const imi_cache *c) { return c ? c->in.desc->name : NULL; }

/* ---- the shared call path --------------------------------------------------------------- */

typedef struct pkey {
    char small[256];
    char *p;
    size_t len;
} pkey;

static int enter(imi_cache *c, const imi_ctx *ctx)
{
    if (!c)
        return imi_error_set(IMI_EINVALID, 0, "cache: no handle");
    if (imi_instance_enter(&c->in))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", c->in.section);
    int rc = imi_ctx_err(ctx);
    if (rc)
        imi_instance_leave(&c->in);
    return rc;
}

/* The prefixed key: on the stack when it fits. */
static int key_make(imi_cache *c, const char *key, pkey *k)
{
    if (!key || !*key)
        return imi_error_set(IMI_EINVALID, 0, "cache: key is %s", key ? "empty" : "NULL");
    size_t n = strlen(key);
    if (!c->prefix_len) {
        k->p = (char *)key;
        k->len = n;
        return IMI_OK;
    }
    k->len = c->prefix_len + n;
    k->p = k->len < sizeof k->small ? k->small : malloc(k->len + 1);
    if (!k->p)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    memcpy(k->p, c->prefix, c->prefix_len);
    memcpy(k->p + c->prefix_len, key, n + 1);
    return IMI_OK;
}

static void key_free(const imi_cache *c, const char *key, pkey *k)
{
    if (k->p != key && k->p != k->small)
        free(k->p);
    (void)c;
}

static int unsupported(const imi_cache *c, const char *what)
{
    return imi_error_set(IMI_ENOTSUP, 0, "[%s] driver %s does not support %s", c->in.section,
                         c->in.desc->name, what);
}

/* Runs `call` with the prefixed key k, between enter and leave. */
#define KEYED_CALL(c, ctx, key, call)                                   \
    do {                                                                \
        int rc_ = enter((c), (ctx));                                    \
        if (rc_)                                                        \
            return rc_;                                                 \
        pkey k;                                                         \
        rc_ = key_make((c), (key), &k);                                 \
        if (!rc_) {                                                     \
            rc_ = (call);                                               \
            key_free((c), (key), &k);                                   \
        }                                                               \
        imi_instance_leave(&(c)->in);                                   \
        return rc_;                                                     \
    } while (0)

#define REQUIRE_SLOT(c, slot, what)                                     \
    do {                                                                \
        if (!(c))                                                       \
            return imi_error_set(IMI_EINVALID, 0, "cache: no handle");  \
        if (!SLOT((c), slot))                                           \
            return unsupported((c), (what));                            \
    } while (0)

#define REQUIRE_ARG(cond, what)                                         \
    do {                                                                \
        if (!(cond))                                                    \
            return imi_error_set(IMI_EINVALID, 0, "cache: %s", (what)); \
    } while (0)

int imi_cache_ping(imi_cache *c, const imi_ctx *ctx)
{
    int rc = enter(c, ctx);
    if (rc)
        return rc;
    rc = c->vt->ping(c->in.state, ctx);
    imi_instance_leave(&c->in);
    return rc;
}

/* ---- strings ------------------------------------------------------------------------- */

int imi_cache_get(imi_cache *c, const imi_ctx *ctx, const char *key, imi_buf *val)
{
    REQUIRE_ARG(val, "get needs an output buffer");
    KEYED_CALL(c, ctx, key, c->vt->get(c->in.state, ctx, k.p, k.len, val));
}

int imi_cache_set(imi_cache *c, const imi_ctx *ctx, const char *key, const void *val,
                  size_t len, int64_t ttl_ms)
{
    REQUIRE_ARG(val || !len, "set: value is NULL");
    REQUIRE_ARG(ttl_ms >= 0, "set: negative ttl");
    KEYED_CALL(c, ctx, key, c->vt->set(c->in.state, ctx, k.p, k.len, val ? val : "", len, ttl_ms));
}

int imi_cache_setnx(imi_cache *c, const imi_ctx *ctx, const char *key, const void *val,
                    size_t len, int64_t ttl_ms)
{
    REQUIRE_ARG(val || !len, "setnx: value is NULL");
    REQUIRE_ARG(ttl_ms >= 0, "setnx: negative ttl");
    KEYED_CALL(c, ctx, key,
               c->vt->setnx(c->in.state, ctx, k.p, k.len, val ? val : "", len, ttl_ms));
}

int imi_cache_del(imi_cache *c, const imi_ctx *ctx, const char *key)
{
    KEYED_CALL(c, ctx, key, c->vt->del(c->in.state, ctx, k.p, k.len));
}

int imi_cache_exists(imi_cache *c, const imi_ctx *ctx, const char *key)
{
    KEYED_CALL(c, ctx, key, c->vt->exists(c->in.state, ctx, k.p, k.len));
}

int imi_cache_expire(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t ttl_ms)
{
    REQUIRE_ARG(ttl_ms > 0, "expire: ttl must be positive");
    KEYED_CALL(c, ctx, key, c->vt->expire(c->in.state, ctx, k.p, k.len, ttl_ms));
}

int imi_cache_ttl(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t *ttl_ms)
{
    REQUIRE_ARG(ttl_ms, "ttl needs an output");
    KEYED_CALL(c, ctx, key, c->vt->ttl(c->in.state, ctx, k.p, k.len, ttl_ms));
}

int imi_cache_incr(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t delta,
                   int64_t *result)
{
    int64_t ignored;
    KEYED_CALL(c, ctx, key,
               c->vt->incr(c->in.state, ctx, k.p, k.len, delta, result ? result : &ignored));
}

/* mget/mset: the prefixed keys of a batch, one allocation for all of them. */
typedef struct pkeys {
    const char **keys;
    size_t *lens;
    char *mem;
} pkeys;

static int keys_make(imi_cache *c, const char *const *keys, size_t n, pkeys *out)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!keys[i] || !*keys[i])
            return imi_error_set(IMI_EINVALID, 0, "cache: key %zu is %s", i,
                                 keys[i] ? "empty" : "NULL");
        total += c->prefix_len + strlen(keys[i]) + 1;
    }
    out->keys = malloc(n * sizeof *out->keys);
    out->lens = malloc(n * sizeof *out->lens);
    out->mem = malloc(total ? total : 1);
    if (!out->keys || !out->lens || !out->mem)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    char *p = out->mem;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(keys[i]);
        if (c->prefix_len) /* no prefix: c->prefix may be NULL, not valid for memcpy */
            memcpy(p, c->prefix, c->prefix_len);
        memcpy(p + c->prefix_len, keys[i], len + 1);
        out->keys[i] = p;
        out->lens[i] = c->prefix_len + len;
        p += out->lens[i] + 1;
    }
    return IMI_OK;
}

static void keys_free(pkeys *k)
{
    free(k->keys);
    free(k->lens);
    free(k->mem);
}

int imi_cache_mget(imi_cache *c, const imi_ctx *ctx, const char *const *keys, size_t n,
                   imi_buf *vals, int *found)
{
    REQUIRE_ARG(n == 0 || (keys && vals && found), "mget: keys, vals and found are required");
    int rc = enter(c, ctx);
    if (rc)
        return rc;
    pkeys k = { 0 };
    if (n == 0)
        goto out;
    rc = keys_make(c, keys, n, &k);
    if (!rc && SLOT(c, mget)) {
        rc = c->vt->mget(c->in.state, ctx, (const char *const *)k.keys, k.lens, n, vals, found);
    } else if (!rc) {
        for (size_t i = 0; i < n && !rc; i++) {
            rc = c->vt->get(c->in.state, ctx, k.keys[i], k.lens[i], &vals[i]);
            found[i] = rc == IMI_OK;
            if (rc == IMI_ENOTFOUND)
                rc = IMI_OK;
        }
    }
    keys_free(&k);
out:
    imi_instance_leave(&c->in);
    return rc;
}

int imi_cache_mset(imi_cache *c, const imi_ctx *ctx, const char *const *keys,
                   const imi_bytes *vals, size_t n, int64_t ttl_ms)
{
    REQUIRE_ARG(n == 0 || (keys && vals), "mset: keys and vals are required");
    REQUIRE_ARG(ttl_ms >= 0, "mset: negative ttl");
    for (size_t i = 0; i < n; i++)
        REQUIRE_ARG(vals[i].data || !vals[i].len, "mset: a value is NULL");
    int rc = enter(c, ctx);
    if (rc)
        return rc;
    pkeys k = { 0 };
    if (n == 0)
        goto out;
    rc = keys_make(c, keys, n, &k);
    if (!rc && SLOT(c, mset)) {
        rc = c->vt->mset(c->in.state, ctx, (const char *const *)k.keys, k.lens, vals, n, ttl_ms);
    } else if (!rc) {
        for (size_t i = 0; i < n && !rc; i++)
            rc = c->vt->set(c->in.state, ctx, k.keys[i], k.lens[i],
                            vals[i].data ? vals[i].data : "", vals[i].len, ttl_ms);
    }
    keys_free(&k);
out:
    imi_instance_leave(&c->in);
    return rc;
}

/* ---- hashes -------------------------------------------------------------------------- */

int imi_cache_hset(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field,
                   const void *val, size_t len)
{
    REQUIRE_SLOT(c, hset, "hashes");
    REQUIRE_ARG(field && (val || !len), "hset: field and value are required");
    KEYED_CALL(c, ctx, key, c->vt->hset(c->in.state, ctx, k.p, k.len, field, val ? val : "", len));
}

int imi_cache_hget(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field,
                   imi_buf *val)
{
    REQUIRE_SLOT(c, hget, "hashes");
    REQUIRE_ARG(field && val, "hget: field and output are required");
    KEYED_CALL(c, ctx, key, c->vt->hget(c->in.state, ctx, k.p, k.len, field, val));
}

int imi_cache_hdel(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field)
{
    REQUIRE_SLOT(c, hdel, "hashes");
    REQUIRE_ARG(field, "hdel: field is required");
    KEYED_CALL(c, ctx, key, c->vt->hdel(c->in.state, ctx, k.p, k.len, field));
}

int imi_cache_hgetall(imi_cache *c, const imi_ctx *ctx, const char *key, imi_cache_each_fn fn,
                      void *ud)
{
    REQUIRE_SLOT(c, hgetall, "hashes");
    REQUIRE_ARG(fn, "hgetall: callback is required");
    KEYED_CALL(c, ctx, key, c->vt->hgetall(c->in.state, ctx, k.p, k.len, fn, ud));
}

/* ---- sets ---------------------------------------------------------------------------- */

#define MEMBER_CALL(c, ctx, key, m, len, slot, what, ...)                          \
    do {                                                                       \
        REQUIRE_SLOT(c, slot, what);                                           \
        REQUIRE_ARG((m) || !(len), #slot ": member is NULL");                  \
        KEYED_CALL(c, ctx, key, c->vt->slot(c->in.state, ctx, k.p, k.len,      \
                                            (m) ? (m) : "", (len) __VA_ARGS__)); \
    } while (0)

int imi_cache_sadd(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, sadd, "sets");
}

int imi_cache_srem(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, srem, "sets");
}

int imi_cache_sismember(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m,
                        size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, sismember, "sets");
}

int imi_cache_smembers(imi_cache *c, const imi_ctx *ctx, const char *key, imi_cache_each_fn fn,
                       void *ud)
{
    REQUIRE_SLOT(c, smembers, "sets");
    REQUIRE_ARG(fn, "smembers: callback is required");
    KEYED_CALL(c, ctx, key, c->vt->smembers(c->in.state, ctx, k.p, k.len, fn, ud));
}

/* ---- sorted sets --------------------------------------------------------------------- */

int imi_cache_zadd(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len,
                   double score)
{
    REQUIRE_ARG(score == score, "zadd: score is NaN");
    MEMBER_CALL(c, ctx, key, m, len, zadd, "sorted sets", , score);
}

int imi_cache_zrem(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, zrem, "sorted sets");
}

int imi_cache_zscore(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m,
                     size_t len, double *score)
{
    REQUIRE_ARG(score, "zscore needs an output");
    MEMBER_CALL(c, ctx, key, m, len, zscore, "sorted sets", , score);
}

int imi_cache_zrange(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t start,
                     int64_t stop, imi_cache_each_fn fn, void *ud)
{
    REQUIRE_SLOT(c, zrange, "sorted sets");
    REQUIRE_ARG(fn, "zrange: callback is required");
    KEYED_CALL(c, ctx, key, c->vt->zrange(c->in.state, ctx, k.p, k.len, start, stop, fn, ud));
}

/* ---- lock and token bucket ----------------------------------------------------------- */

int imi_cache_lock(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner,
                   int64_t ttl_ms)
{
    REQUIRE_SLOT(c, lock, "locks");
    REQUIRE_ARG(owner && *owner && ttl_ms > 0, "lock: owner and a positive ttl are required");
    KEYED_CALL(c, ctx, key, c->vt->lock(c->in.state, ctx, k.p, k.len, owner, ttl_ms));
}

int imi_cache_unlock(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner)
{
    REQUIRE_SLOT(c, unlock, "locks");
    REQUIRE_ARG(owner && *owner, "unlock: owner is required");
    KEYED_CALL(c, ctx, key, c->vt->unlock(c->in.state, ctx, k.p, k.len, owner));
}

int imi_cache_lock_renew(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner,
                         int64_t ttl_ms)
{
    REQUIRE_SLOT(c, lock_renew, "locks");
    REQUIRE_ARG(owner && *owner && ttl_ms > 0, "lock_renew: owner and a positive ttl are required");
    KEYED_CALL(c, ctx, key, c->vt->lock_renew(c->in.state, ctx, k.p, k.len, owner, ttl_ms));
}

int imi_cache_take(imi_cache *c, const imi_ctx *ctx, const char *key, double rate,
                   int64_t burst, int64_t n, int64_t *retry_after_ms)
{
    REQUIRE_SLOT(c, take, "the token bucket");
    REQUIRE_ARG(rate > 0 && burst > 0 && n > 0 && n <= burst,
                "take: rate, burst and n must be positive and n <= burst");
    int64_t ignored;
    KEYED_CALL(c, ctx, key, c->vt->take(c->in.state, ctx, k.p, k.len, rate, burst, n,
                                        retry_after_ms ? retry_after_ms : &ignored));
}
