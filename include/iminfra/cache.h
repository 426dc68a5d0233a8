/* cache: strings, hashes, sets, sorted sets, an owner-token lock and an atomic
 * token-bucket take, over the driver chosen by config ([cache] or [cache.NAME]).
 *
 * Keys are C strings; the instance's `prefix` is put in front of every key (not of hash
 * fields or set members). Values are bytes and may hold NUL. A miss is IMI_ENOTFOUND.
 * TTLs are milliseconds; 0 means no expiry (a driver may round a TTL up to its
 * granularity: memcached keeps whole seconds). Operations the driver does not advertise
 * (imi_cache_caps) return IMI_ENOTSUP. Every call takes a ctx first (NULL: the
 * instance's `timeout`). A handle is safe to use from many threads.
 */
#ifndef IMINFRA_CACHE_H
#define IMINFRA_CACHE_H

#include <stdint.h>
#include <stddef.h>
#include "iminfra/buf.h"
#include "iminfra/ctx.h"
#include "iminfra/app.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_cache imi_cache;

/* Capability bits (a driver's descriptor and imi_cache_caps). Strings are always there. */
#define IMI_CACHE_CAP_HASH         (1u << 0)
#define IMI_CACHE_CAP_SET          (1u << 1)
#define IMI_CACHE_CAP_ZSET         (1u << 2)
#define IMI_CACHE_CAP_LOCK         (1u << 3)
#define IMI_CACHE_CAP_TOKEN_BUCKET (1u << 4)

/* name NULL or "": the [cache] section; "sessions": [cache.sessions]. */
int imi_cache_open(imi_app *app, const char *name, imi_cache **out);
/* Closes the backend; later calls return IMI_ECLOSED. A second close returns IMI_ECLOSED. */
int imi_cache_close(imi_cache *c);
/* Closes if needed and frees the handle. */
void imi_cache_free(imi_cache *c);

uint64_t imi_cache_caps(const imi_cache *c);
const char *imi_cache_driver_name(const imi_cache *c);
int imi_cache_ping(imi_cache *c, const imi_ctx *ctx);

/* The longest TTL (ms) any cache call takes: 100 years (IMI_DURATION_MAX_MS). A longer
 * one is refused with IMI_EINVALID rather than cut or wrapped: a set that returns IMI_OK
 * keeps its data for at least the TTL asked. A driver may refuse less (memcached keeps a
 * key at most until 2038-01-19, the end of its 32-bit absolute times). */
#define IMI_CACHE_TTL_MAX_MS IMI_DURATION_MAX_MS

/* strings */
int imi_cache_get(imi_cache *c, const imi_ctx *ctx, const char *key, imi_buf *val);
int imi_cache_set(imi_cache *c, const imi_ctx *ctx, const char *key,
                  const void *val, size_t len, int64_t ttl_ms);
/* IMI_OK when set, IMI_EEXISTS when the key was there already. */
int imi_cache_setnx(imi_cache *c, const imi_ctx *ctx, const char *key,
                    const void *val, size_t len, int64_t ttl_ms);
/* IMI_OK when deleted, IMI_ENOTFOUND when it was not there. */
int imi_cache_del(imi_cache *c, const imi_ctx *ctx, const char *key);
int imi_cache_exists(imi_cache *c, const imi_ctx *ctx, const char *key); /* OK / ENOTFOUND */
int imi_cache_expire(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t ttl_ms);
/* *ttl_ms: time left, -1 when the key has no expiry. IMI_ENOTFOUND for a missing key. */
int imi_cache_ttl(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t *ttl_ms);
/* Adds delta to an integer value (a missing key counts as 0); IMI_EINVALID if the value
 * is not an integer. */
int imi_cache_incr(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t delta,
                   int64_t *result);
/* vals[i] is filled and found[i] set to 1 for each key present, 0 for a miss. */
int imi_cache_mget(imi_cache *c, const imi_ctx *ctx, const char *const *keys, size_t n,
                   imi_buf *vals, int *found);
int imi_cache_mset(imi_cache *c, const imi_ctx *ctx, const char *const *keys,
                   const imi_bytes *vals, size_t n, int64_t ttl_ms);

/* Iteration callback for hashes, sets and sorted sets: return non-zero to stop. For sets
 * `val` is NULL; for sorted sets `score` holds the score. Iterating a missing key calls
 * fn zero times and returns IMI_OK; removing the last field or member removes the key.
 * An operation on a key holding another type returns IMI_EINVALID. */
typedef int (*imi_cache_each_fn)(void *ud, const void *item, size_t item_len,
                                 const void *val, size_t val_len, double score);

/* hashes */
int imi_cache_hset(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field,
                   const void *val, size_t len);
int imi_cache_hget(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field,
                   imi_buf *val);
int imi_cache_hdel(imi_cache *c, const imi_ctx *ctx, const char *key, const char *field);
int imi_cache_hgetall(imi_cache *c, const imi_ctx *ctx, const char *key,
                      imi_cache_each_fn fn, void *ud);

/* sets: sadd IMI_OK when added, IMI_EEXISTS when already a member */
int imi_cache_sadd(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len);
int imi_cache_srem(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len);
int imi_cache_sismember(imi_cache *c, const imi_ctx *ctx, const char *key,
                        const void *m, size_t len);
int imi_cache_smembers(imi_cache *c, const imi_ctx *ctx, const char *key,
                       imi_cache_each_fn fn, void *ud);

/* sorted sets: zrange by rank, inclusive, negative ranks count from the end */
int imi_cache_zadd(imi_cache *c, const imi_ctx *ctx, const char *key,
                   const void *m, size_t len, double score);
int imi_cache_zrem(imi_cache *c, const imi_ctx *ctx, const char *key, const void *m, size_t len);
int imi_cache_zscore(imi_cache *c, const imi_ctx *ctx, const char *key,
                     const void *m, size_t len, double *score);
int imi_cache_zrange(imi_cache *c, const imi_ctx *ctx, const char *key, int64_t start,
                     int64_t stop, imi_cache_each_fn fn, void *ud);

/* lock: acquire IMI_OK or IMI_ECONFLICT (held by another owner); release and renew
 * IMI_OK, IMI_ECONFLICT for a wrong owner, IMI_ENOTFOUND when not held at all. */
int imi_cache_lock(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner,
                   int64_t ttl_ms);
int imi_cache_unlock(imi_cache *c, const imi_ctx *ctx, const char *key, const char *owner);
int imi_cache_lock_renew(imi_cache *c, const imi_ctx *ctx, const char *key,
                         const char *owner, int64_t ttl_ms);

/* Token bucket: take n tokens from the bucket at key (capacity `burst`, refilled at
 * `rate` tokens per second, full when new). IMI_OK when granted; IMI_ELIMITED when not,
 * with *retry_after_ms (may be NULL) the wait until n tokens are there. Atomic across
 * every client of the same backend. */
int imi_cache_take(imi_cache *c, const imi_ctx *ctx, const char *key, double rate,
                   int64_t burst, int64_t n, int64_t *retry_after_ms);

/* ---- C strings -------------------------------------------------------------------------- */

/* imi_cache_set with val's strlen. */
int imi_cache_set_str(imi_cache *c, const imi_ctx *ctx, const char *key, const char *val,
                      int64_t ttl_ms);
/* imi_cache_get into a new C string (*out, released with free()). IMI_EINVALID when the
 * value holds a NUL byte (use imi_cache_get for binary values). */
int imi_cache_get_str(imi_cache *c, const imi_ctx *ctx, const char *key, char **out);

#ifdef __cplusplus
}
#endif
#endif
