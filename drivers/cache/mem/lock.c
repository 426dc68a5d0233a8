/* The in-memory cache's owner-token lock and token bucket.
 *
 * A lock is a string entry holding the owner, as SET key owner NX PX ttl leaves it in
 * redis, so get/ttl/del see it the same way on every driver. A bucket is an entry of its
 * own type that expires once it would have refilled completely (a new bucket is full). */
#include <math.h>
#include <string.h>
#include "mem.h"

static bool owned_by(const entry *e, const char *owner)
{
    size_t n = strlen(owner);
    return e->type == E_STR && e->u.s.len == n && !memcmp(e->u.s.val, owner, n);
}

int mem_lock_acquire(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                     const char *owner, int64_t ttl_ms)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc = IMI_OK;
    if (mem_check_ttl(m, ttl_ms))
        return IMI_EINVALID;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    if (!e)
        rc = mem_store_locked(m, sh, NULL, key, klen, h, owner, strlen(owner),
                              mem_expiry(m, ttl_ms));
    else if (owned_by(e, owner)) /* the holder acquiring again extends its lease */
        e->expires_ns = mem_expiry(m, ttl_ms);
    else
        rc = m->host->error(IMI_ECONFLICT, 0, "lock is held by another owner");
    mem_shard_unlock(sh);
    return rc;
}

/* Unlock (ttl_ms 0) or renew: only the owner may. */
static int owner_op(mem_cache *m, const char *key, size_t klen, const char *owner,
                    int64_t ttl_ms)
{
    uint64_t h;
    int rc = IMI_OK;
    if (mem_check_ttl(m, ttl_ms))
        return IMI_EINVALID;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    if (!e)
        rc = m->host->error(IMI_ENOTFOUND, 0, "lock is not held");
    else if (!owned_by(e, owner))
        rc = m->host->error(IMI_ECONFLICT, 0, "lock is held by another owner");
    else if (ttl_ms)
        e->expires_ns = mem_expiry(m, ttl_ms);
    else
        mem_remove(m, sh, e);
    mem_shard_unlock(sh);
    return rc;
}

int mem_unlock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner)
{
    (void)ctx;
    return owner_op(st, key, klen, owner, 0);
}

int mem_lock_renew(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                   const char *owner, int64_t ttl_ms)
{
    (void)ctx;
    return owner_op(st, key, klen, owner, ttl_ms);
}

/* A time from a double, saturated at 100 years: a tiny rate must not wrap it. */
static int64_t sat_from_double(double v)
{
    double max = (double)IMI_DURATION_MAX_MS * 1e6;
    return !(v > 0) ? 0 : v >= max ? (int64_t)max : (int64_t)ceil(v);
}

int mem_take(void *st, const imi_ctx *ctx, const char *key, size_t klen, double rate,
             int64_t burst, int64_t n, int64_t *retry_after_ms)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    int64_t now = m->host->mono_ns();
    entry *e = mem_find_or_create(m, sh, key, klen, h, E_BUCKET, 0, &rc);
    if (e && e->u.b.at_ns == 0) { /* just created */
        e->u.b.tokens = (double)burst;
        e->u.b.at_ns = now;
    }
    if (e) {
        double tokens = e->u.b.tokens + rate * (double)(now - e->u.b.at_ns) / 1e9;
        if (tokens > (double)burst)
            tokens = (double)burst;
        e->u.b.at_ns = now;
        if (tokens >= (double)n) {
            tokens -= (double)n;
            *retry_after_ms = 0;
        } else {
            *retry_after_ms = (sat_from_double(((double)n - tokens) / rate * 1e9) + 999999) / 1000000;
            rc = m->host->error(IMI_ELIMITED, 0, "rate limited: retry after %lld ms",
                                (long long)*retry_after_ms);
        }
        e->u.b.tokens = tokens;
        e->expires_ns = now + sat_from_double(((double)burst - tokens) / rate * 1e9) + 1000000;
    }
    mem_shard_unlock(sh);
    return rc;
}
