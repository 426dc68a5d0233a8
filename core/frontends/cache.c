/* The cache front-end: argument checks, then one vtable call. Open, close, the closed
 * state, capabilities and the key prefix are the instance layer's (instance.c). */
#include <stdlib.h>
#include <string.h>
#include "iminfra/cache.h"
#include "iminfra/driver/cache_driver.h"
#include "iminfra/error.h"
#include "iminfra/ratelimit.h"
#include "instance.h"
#include "util.h"

struct imi_cache {
    imi_instance in;
};

/* The operations counted per call (metrics.h), one per public call. */
#define CACHE_OPS(X) X(ping) X(get) X(set) X(setnx) X(del) X(exists) X(expire) X(ttl) X(incr) X(mget) X(mset) X(hset) X(hget) X(hdel) X(hgetall) X(sadd) X(srem) X(sismember) X(smembers) X(zadd) X(zrem) X(zscore) X(zrange) X(lock) X(unlock) X(lock_renew) X(take)
enum {
#define CACHE_OP_ENUM_(n) CACHE_OP_##n,
    CACHE_OPS(CACHE_OP_ENUM_)
    CACHE_OP_COUNT_
};
static const char *const cache_ops[] = {
#define CACHE_OP_NAME_(n) #n,
    CACHE_OPS(CACHE_OP_NAME_)
};

/* Hits and misses from the call counters of get and hget: nothing more on the call path. */
static void cache_extras(imi_instance *in, const imi_op_metrics *m, uint64_t *v)
{
    (void)in;
    unsigned ok = 0, nf = (unsigned)-IMI_ENOTFOUND;
    v[IMI_CACHE_X_HITS] = imi_op_metrics_calls(m, CACHE_OP_get, ok) +
                          imi_op_metrics_calls(m, CACHE_OP_hget, ok);
    v[IMI_CACHE_X_MISSES] = imi_op_metrics_calls(m, CACHE_OP_get, nf) +
                            imi_op_metrics_calls(m, CACHE_OP_hget, nf);
}

static const imi_frontend cache_frontend = {
    .kind = IMI_KIND_CACHE,
    .handle_size = sizeof(imi_cache),
    .prefixed = true,
    .ops = cache_ops,
    .n_ops = CACHE_OP_COUNT_,
    .read_extras = cache_extras,
};

int imi_cache_open(imi_app *app, const char *name, imi_cache **out)
{
    return imi_instance_open(app, &cache_frontend, name, (imi_instance **)out);
}

int imi_cache_close(imi_cache *c) { return imi_instance_close(c ? &c->in : NULL); }
void imi_cache_free(imi_cache *c) { imi_instance_free(c ? &c->in : NULL); }
uint64_t imi_cache_caps(const imi_cache *c) { return c ? c->in.caps : 0; }
const char *imi_cache_driver_name(const imi_cache *c) { return c ? c->in.desc->name : NULL; }

/* ---- the shared call path --------------------------------------------------------------- */

/* The normalised vtable: slots past the driver's size are NULL. */
#define VT(c) ((const imi_cache_driver *)(c)->in.vt)

/* Counts a call that passed the argument checks (a NULL handle has nowhere to count). */
static inline int record(imi_cache *c, unsigned op, int rc, int64_t t0,
                         const imi_thread_slot *t)
{
    return c ? imi_instance_record_at(&c->in, op, rc, t0, t) : rc;
}

static int enter(imi_cache *c, const imi_ctx *ctx, const imi_thread_slot *t)
{
    if (!c)
        return imi_error_set(IMI_EINVALID, 0, "cache: no handle");
    return imi_instance_enter_at(&c->in, ctx, t);
}

/* Runs `call` with the prefixed key k, between enter and leave, and counts it as op. */
#define KEYED_CALL(c, ctx, op, key, call)                               \
    do {                                                                \
        imi_thread_slot *t_ = imi_thread();                             \
        int64_t t0_ = imi_call_t0_at((imi_instance *)(c), t_);          \
        int rc_ = enter((c), (ctx), t_);                                \
        if (rc_)                                                        \
            return record((c), (op), rc_, t0_, t_);                     \
        imi_pkey k;                                                     \
        rc_ = imi_pkey_make(&(c)->in, "cache", (key), false, &k);       \
        if (!rc_) {                                                     \
            rc_ = (call);                                               \
            imi_pkey_free(&k, (key));                                   \
        }                                                               \
        imi_instance_leave_at(&(c)->in, t_);                            \
        return record((c), (op), rc_, t0_, t_);                         \
    } while (0)

#define REQUIRE_CAP(c, cap, what)                                       \
    do {                                                                \
        if (!(c))                                                       \
            return imi_error_set(IMI_EINVALID, 0, "cache: no handle");  \
        int rc_cap_ = imi_instance_need(&(c)->in, (cap), (what));       \
        if (rc_cap_)                                                    \
            return rc_cap_;                                             \
    } while (0)

/* TTLs: 0 (no expiry) up to IMI_CACHE_TTL_MAX_MS, so no driver's unit conversion wraps. */
#define TTL_OK(ttl) ((ttl) >= 0 && (ttl) <= IMI_CACHE_TTL_MAX_MS)
#define TTL_MAX "3153600000000 ms (100 years)"

#define REQUIRE_ARG(cond, what)                                         \
    do {                                                                \
        if (!(cond))                                                    \
            return imi_error_set(IMI_EINVALID, 0, "cache: %s", (what)); \
    } while (0)

int imi_cache_ping(imi_cache *c, const imi_ctx *ctx)
{
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at((imi_instance *)(c), t);
    int rc = enter(c, ctx, t);
    if (rc)
        return record(c, CACHE_OP_ping, rc, t0, t);
    rc = VT(c)->ping(c->in.state, ctx);
    imi_instance_leave_at(&c->in, t);
    return record(c, CACHE_OP_ping, rc, t0, t);
}

/* ---- strings ------------------------------------------------------------------------- */

int imi_cache_get(imi_cache *c, const imi_ctx *ctx, const char *key, imi_buf *val)
{
    REQUIRE_ARG(val, "get needs an output buffer");
    KEYED_CALL(c, ctx, CACHE_OP_get, key, VT(c)->get(c->in.state, ctx, k.p, k.len, val));
}

int imi_cache_set(imi_cache *c, const imi_ctx *ctx, const char *key, const void *val,
                  size_t len, int64_t ttl_ms)
{
    REQUIRE_ARG(val || !len, "set: value is NULL");
    REQUIRE_ARG(TTL_OK(ttl_ms), "set: ttl must be 0 (none) to " TTL_MAX);
    KEYED_CALL(c, ctx, CACHE_OP_set, key, VT(c)->set(c->in.state, ctx, k.p, k.len, val ? val : "", len, ttl_ms));
}

int imi_cache_setnx(imi_cache *c, const imi_ctx *ctx, const char *key, const void *val,
                    size_t len, int64_t ttl_ms)
{
    REQUIRE_ARG(val || !len, "setnx: value is NULL");
    REQUIRE_ARG(TTL_OK(ttl_ms), "setnx: ttl must be 0 (none) to " TTL_MAX);
    KEYED_CALL(c, ctx, CACHE_OP_setnx, key,
               VT(c)->setnx(c->in.state, ctx, k.p, k.len, val ? val : "", len, ttl_ms));
}

int imi_cache_del(imi_cache *c, const imi_ctx *ctx, const char *key)
{
    KEYED_CALL(c, ctx, CACHE_OP_del, key, VT(c)->del(c->in.state, ctx, k.p, k.len));
}

int imi_cache_exists(imi_cache *c, const imi_ctx *ctx, const char *key)
{
    KEYED_CALL(c, ctx, CACHE_OP_exists, key, VT(c)->exists(c->in.state, ctx, k.p, k.len));
}

int imi_cache_expire(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t ttl_ms)
{
    REQUIRE_ARG(ttl_ms > 0 && TTL_OK(ttl_ms), "expire: ttl must be 1 to " TTL_MAX);
    KEYED_CALL(c, ctx, CACHE_OP_expire, key, VT(c)->expire(c->in.state, ctx, k.p, k.len, ttl_ms));
}

int imi_cache_ttl(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t *ttl_ms)
{
    REQUIRE_ARG(ttl_ms, "ttl needs an output");
    KEYED_CALL(c, ctx, CACHE_OP_ttl, key, VT(c)->ttl(c->in.state, ctx, k.p, k.len, ttl_ms));
}

int imi_cache_incr(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t delta,
                   int64_t *result)
{
    int64_t ignored;
    KEYED_CALL(c, ctx, CACHE_OP_incr, key,
               VT(c)->incr(c->in.state, ctx, k.p, k.len, delta, result ? result : &ignored));
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
        total += c->in.prefix_len + strlen(keys[i]) + 1;
    }
    out->keys = malloc(n * sizeof *out->keys);
    out->lens = malloc(n * sizeof *out->lens);
    out->mem = malloc(total ? total : 1);
    if (!out->keys || !out->lens || !out->mem)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    char *p = out->mem;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(keys[i]);
        if (c->in.prefix_len) /* no prefix: the prefix may be NULL, not valid for memcpy */
            memcpy(p, c->in.prefix, c->in.prefix_len);
        memcpy(p + c->in.prefix_len, keys[i], len + 1);
        out->keys[i] = p;
        out->lens[i] = c->in.prefix_len + len;
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
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at((imi_instance *)(c), t);
    int rc = enter(c, ctx, t);
    if (rc)
        return record(c, CACHE_OP_mget, rc, t0, t);
    pkeys k = { 0 };
    if (n == 0)
        goto out;
    rc = keys_make(c, keys, n, &k);
    if (!rc && VT(c)->mget) {
        rc = VT(c)->mget(c->in.state, ctx, (const char *const *)k.keys, k.lens, n, vals, found);
    } else if (!rc) {
        for (size_t i = 0; i < n && !rc; i++) {
            rc = VT(c)->get(c->in.state, ctx, k.keys[i], k.lens[i], &vals[i]);
            found[i] = rc == IMI_OK;
            if (rc == IMI_ENOTFOUND)
                rc = IMI_OK;
        }
    }
    keys_free(&k);
out:
    imi_instance_leave_at(&c->in, t);
    return record(c, CACHE_OP_mget, rc, t0, t);
}

int imi_cache_mset(imi_cache *c, const imi_ctx *ctx, const char *const *keys,
                   const imi_bytes *vals, size_t n, int64_t ttl_ms)
{
    REQUIRE_ARG(n == 0 || (keys && vals), "mset: keys and vals are required");
    REQUIRE_ARG(TTL_OK(ttl_ms), "mset: ttl must be 0 (none) to " TTL_MAX);
    for (size_t i = 0; i < n; i++)
        REQUIRE_ARG(vals[i].data || !vals[i].len, "mset: a value is NULL");
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at((imi_instance *)(c), t);
    int rc = enter(c, ctx, t);
    if (rc)
        return record(c, CACHE_OP_mset, rc, t0, t);
    pkeys k = { 0 };
    if (n == 0)
        goto out;
    rc = keys_make(c, keys, n, &k);
    if (!rc && VT(c)->mset) {
        rc = VT(c)->mset(c->in.state, ctx, (const char *const *)k.keys, k.lens, vals, n, ttl_ms);
    } else if (!rc) {
        for (size_t i = 0; i < n && !rc; i++)
            rc = VT(c)->set(c->in.state, ctx, k.keys[i], k.lens[i],
                            vals[i].data ? vals[i].data : "", vals[i].len, ttl_ms);
    }
    keys_free(&k);
out:
    imi_instance_leave_at(&c->in, t);
    return record(c, CACHE_OP_mset, rc, t0, t);
}

/* ---- hashes -------------------------------------------------------------------------- */

int imi_cache_hset(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field,
                   const void *val, size_t len)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_HASH, "hashes");
    REQUIRE_ARG(field && (val || !len), "hset: field and value are required");
    KEYED_CALL(c, ctx, CACHE_OP_hset, key, VT(c)->hset(c->in.state, ctx, k.p, k.len, field, val ? val : "", len));
}

int imi_cache_hget(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field,
                   imi_buf *val)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_HASH, "hashes");
    REQUIRE_ARG(field && val, "hget: field and output are required");
    KEYED_CALL(c, ctx, CACHE_OP_hget, key, VT(c)->hget(c->in.state, ctx, k.p, k.len, field, val));
}

int imi_cache_hdel(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_HASH, "hashes");
    REQUIRE_ARG(field, "hdel: field is required");
    KEYED_CALL(c, ctx, CACHE_OP_hdel, key, VT(c)->hdel(c->in.state, ctx, k.p, k.len, field));
}

/* An iteration's callback between the driver and the caller's: an item or value at NULL
 * with a length stops it, and the call then fails with IMI_EDRIVER. */
typedef struct each_ud {
    imi_cache_each_fn fn;
    void *ud;
    bool broken;
} each_ud;

static int each_one(void *ud, const void *item, size_t item_len, const void *val,
                    size_t val_len, double score)
{
    each_ud *e = ud;
    if ((!item && item_len) || (!val && val_len)) {
        e->broken = true;
        return 1;
    }
    return e->fn(e->ud, item ? item : "", item_len, val, val_len, score);
}

static int each_result(const imi_cache *c, const each_ud *e, int rc, const char *op)
{
    if (!rc && e->broken)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s: %s handed back an item or value at "
                             "NULL with a length", c->in.desc->name, op);
    return rc;
}

int imi_cache_hgetall(imi_cache *c, const imi_ctx *ctx, const char *key, imi_cache_each_fn fn,
                      void *ud)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_HASH, "hashes");
    REQUIRE_ARG(fn, "hgetall: callback is required");
    each_ud e = { .fn = fn, .ud = ud };
    KEYED_CALL(c, ctx, CACHE_OP_hgetall, key,
               each_result(c, &e, VT(c)->hgetall(c->in.state, ctx, k.p, k.len, each_one, &e),
                           "hgetall"));
}

/* ---- sets ---------------------------------------------------------------------------- */

#define MEMBER_CALL(c, ctx, key, m, len, slot, cap, what, ...)                     \
    do {                                                                       \
        REQUIRE_CAP(c, cap, what);                                             \
        REQUIRE_ARG((m) || !(len), #slot ": member is NULL");                  \
        KEYED_CALL(c, ctx, CACHE_OP_##slot, key, VT(c)->slot(c->in.state, ctx, k.p, k.len,      \
                                            (m) ? (m) : "", (len) __VA_ARGS__)); \
    } while (0)

int imi_cache_sadd(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, sadd, IMI_CACHE_CAP_SET, "sets");
}

int imi_cache_srem(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, srem, IMI_CACHE_CAP_SET, "sets");
}

int imi_cache_sismember(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m,
                        size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, sismember, IMI_CACHE_CAP_SET, "sets");
}

int imi_cache_smembers(imi_cache *c, const imi_ctx *ctx, const char *key, imi_cache_each_fn fn,
                       void *ud)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_SET, "sets");
    REQUIRE_ARG(fn, "smembers: callback is required");
    each_ud e = { .fn = fn, .ud = ud };
    KEYED_CALL(c, ctx, CACHE_OP_smembers, key,
               each_result(c, &e, VT(c)->smembers(c->in.state, ctx, k.p, k.len, each_one, &e),
                           "smembers"));
}

/* ---- sorted sets --------------------------------------------------------------------- */

int imi_cache_zadd(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len,
                   double score)
{
    REQUIRE_ARG(score == score, "zadd: score is NaN");
    MEMBER_CALL(c, ctx, key, m, len, zadd, IMI_CACHE_CAP_ZSET, "sorted sets", , score);
}

int imi_cache_zrem(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len)
{
    MEMBER_CALL(c, ctx, key, m, len, zrem, IMI_CACHE_CAP_ZSET, "sorted sets");
}

int imi_cache_zscore(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m,
                     size_t len, double *score)
{
    REQUIRE_ARG(score, "zscore needs an output");
    MEMBER_CALL(c, ctx, key, m, len, zscore, IMI_CACHE_CAP_ZSET, "sorted sets", , score);
}

int imi_cache_zrange(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t start,
                     int64_t stop, imi_cache_each_fn fn, void *ud)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_ZSET, "sorted sets");
    REQUIRE_ARG(fn, "zrange: callback is required");
    each_ud e = { .fn = fn, .ud = ud };
    KEYED_CALL(c, ctx, CACHE_OP_zrange, key,
               each_result(c, &e, VT(c)->zrange(c->in.state, ctx, k.p, k.len, start, stop,
                                                each_one, &e), "zrange"));
}

/* ---- lock and token bucket ----------------------------------------------------------- */

int imi_cache_lock(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner,
                   int64_t ttl_ms)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_LOCK, "locks");
    REQUIRE_ARG(owner && *owner && ttl_ms > 0 && TTL_OK(ttl_ms),
                "lock: an owner and a ttl of 1 to " TTL_MAX " are required");
    KEYED_CALL(c, ctx, CACHE_OP_lock, key, VT(c)->lock(c->in.state, ctx, k.p, k.len, owner, ttl_ms));
}

int imi_cache_unlock(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_LOCK, "locks");
    REQUIRE_ARG(owner && *owner, "unlock: owner is required");
    KEYED_CALL(c, ctx, CACHE_OP_unlock, key, VT(c)->unlock(c->in.state, ctx, k.p, k.len, owner));
}

int imi_cache_lock_renew(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner,
                         int64_t ttl_ms)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_LOCK, "locks");
    REQUIRE_ARG(owner && *owner && ttl_ms > 0 && TTL_OK(ttl_ms),
                "lock_renew: an owner and a ttl of 1 to " TTL_MAX " are required");
    KEYED_CALL(c, ctx, CACHE_OP_lock_renew, key, VT(c)->lock_renew(c->in.state, ctx, k.p, k.len, owner, ttl_ms));
}

int imi_cache_take(imi_cache *c, const imi_ctx *ctx, const char *key, double rate,
                   int64_t burst, int64_t n, int64_t *retry_after_ms)
{
    REQUIRE_CAP(c, IMI_CACHE_CAP_TOKEN_BUCKET, "the token bucket");
    REQUIRE_ARG(rate >= IMI_RATELIMIT_RATE_MIN && rate <= IMI_RATELIMIT_RATE_MAX && burst > 0 &&
                burst <= IMI_RATELIMIT_BURST_MAX && n > 0 && n <= burst,
                "take: rate must be 1/day to 1e9/s, burst 1 to 1e12, and n 1 to burst");
    int64_t ignored;
    KEYED_CALL(c, ctx, CACHE_OP_take, key, VT(c)->take(c->in.state, ctx, k.p, k.len, rate, burst, n,
                                        retry_after_ms ? retry_after_ms : &ignored));
}
