/* The cache driver vtable.
 *
 * What the core does, so drivers don't: argument checks (non-empty keys, non-NULL
 * outputs, ttl >= 0, n <= burst ...), the instance key prefix, the closed state, ctx
 * checks before the call (a cancelled or expired ctx never reaches a slot), capability
 * checks (a slot of a capability the driver does not advertise is never called), and
 * mget/mset one key at a time when those slots are NULL.
 *
 * Common contracts:
 *  - `st` is the driver's private state (desc->state_size bytes, zeroed, allocated by
 *    the core); `open` initialises it, `close` releases what open acquired. close is
 *    called once, also after a failed open (and then nothing else is called), and never
 *    while a call is in flight.
 *  - Every slot but open and close may be called from many threads at once, and may block
 *    up to the ctx deadline (host->ctx_remaining_ms(ctx, env->default_timeout_ms); ctx may
 *    be NULL), giving up early when host->ctx_canceled says so: then IMI_ETIMEDOUT or
 *    IMI_ECANCELED.
 *  - Keys arrive already prefixed and NUL-terminated (klen excludes the NUL); keys, values
 *    and members are borrowed for the call: copy what you keep. Values and members are
 *    binary (NUL bytes allowed, len may be 0).
 *  - Output goes into core-owned imi_buf through host->buf_set (the driver never frees or
 *    keeps it); iteration goes through fn on the calling thread, with data valid during the
 *    call only; fn returning non-zero stops the iteration (the slot then returns IMI_OK).
 *  - Return IMI_OK or a negative imi code, with detail through host->error:
 *    IMI_ENOTFOUND for a missing key/field/member where the slot says so,
 *    IMI_EUNAVAILABLE when the backend cannot be reached (retryable), IMI_EINVALID for a
 *    value the backend refuses (too large, not a number for incr), IMI_ETIMEDOUT /
 *    IMI_ECANCELED from the ctx.
 *  - TTLs are milliseconds; 0 means no expiry. A set that returns IMI_OK keeps its data
 *    for at least the TTL asked: a driver whose backend cannot hold that TTL refuses it
 *    with IMI_EINVALID rather than store something that expires early.
 *
 * Per slot (required unless marked with its capability):
 *  ping        IMI_OK when the backend answers within the deadline.
 *  get         value into val; IMI_ENOTFOUND on a miss.
 *  set         create or replace, ttl_ms as above.
 *  setnx       create only: IMI_EEXISTS when the key exists (nothing written).
 *  del         IMI_ENOTFOUND when the key did not exist.
 *  exists      IMI_OK or IMI_ENOTFOUND.
 *  expire      set a TTL (> 0) on an existing key; IMI_ENOTFOUND when missing.
 *  ttl         *ttl_ms left; 0 for a key without expiry; IMI_ENOTFOUND when missing.
 *  incr        add delta to a decimal integer value (a missing key counts as 0) and
 *              return the result; IMI_EINVALID when the value is not an integer or the
 *              sum overflows int64.
 *  mget        (optional) found[i] = 1 and vals[i] set for each key present, found[i] = 0
 *              for a miss; a miss is not an error. Order of keys kept.
 *  mset        (optional) every key written with one ttl; not necessarily atomic.
 *  hset/hget/hdel/hgetall  (IMI_CACHE_CAP_HASH) fields are NUL-terminated strings; hget
 *              and hdel answer IMI_ENOTFOUND for a missing key or field.
 *  sadd/srem/sismember/smembers  (IMI_CACHE_CAP_SET) sadd answers IMI_EEXISTS for a
 *              present member; srem and sismember IMI_ENOTFOUND for an absent one.
 *  zadd/zrem/zscore/zrange  (IMI_CACHE_CAP_ZSET) zrem and zscore answer IMI_ENOTFOUND for
 *              an absent member; zrange by rank, start and stop inclusive, negative
 *              counting from the end (as Redis), ascending score order, the score in fn's
 *              score argument.
 *  For hashes, sets and sorted sets: iterating a missing key calls fn zero times and
 *  returns IMI_OK; removing the last field or member removes the key; an operation on a
 *  key holding another type returns IMI_EINVALID.
 *  lock/unlock/lock_renew  (IMI_CACHE_CAP_LOCK) an owner-token lock with a TTL: lock
 *              answers IMI_ECONFLICT when another owner holds it; unlock and lock_renew
 *              answer IMI_ECONFLICT for a lock held by someone else or no longer held.
 *  take        (IMI_CACHE_CAP_TOKEN_BUCKET) atomically take n tokens from a bucket of
 *              `burst` tokens refilled at `rate` per second: IMI_OK, or IMI_ELIMITED with
 *              *retry_after_ms, the wait until n tokens will be there. Never grants more
 *              than the bucket holds, whatever the concurrency (one backend-side step).
 */
#ifndef IMINFRA_DRIVER_CACHE_DRIVER_H
#define IMINFRA_DRIVER_CACHE_DRIVER_H

#include "iminfra/driver/driver.h"
#include "iminfra/cache.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_cache_driver {
    uint32_t size;                                   /* sizeof(imi_cache_driver) */

    int (*open)(void *st, const imi_driver_env *env);
    void (*close)(void *st);
    int (*ping)(void *st, const imi_ctx *ctx);

    /* strings (required) */
    int (*get)(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val);
    int (*set)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
               const void *val, size_t len, int64_t ttl_ms);
    int (*setnx)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                 const void *val, size_t len, int64_t ttl_ms);
    int (*del)(void *st, const imi_ctx *ctx, const char *key, size_t klen);
    int (*exists)(void *st, const imi_ctx *ctx, const char *key, size_t klen);
    int (*expire)(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms);
    int (*ttl)(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms);
    int (*incr)(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
                int64_t *result);
    /* optional (no capability bit): keys/klens arrays of n */
    int (*mget)(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
                size_t n, imi_buf *vals, int *found);
    int (*mset)(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
                const imi_bytes *vals, size_t n, int64_t ttl_ms);

    /* hashes (optional, IMI_CACHE_CAP_HASH) */
    int (*hset)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
                const void *val, size_t len);
    int (*hget)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
                imi_buf *val);
    int (*hdel)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field);
    int (*hgetall)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                   imi_cache_each_fn fn, void *ud);

    /* sets (optional, IMI_CACHE_CAP_SET) */
    int (*sadd)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len);
    int (*srem)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len);
    int (*sismember)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                     const void *m, size_t len);
    int (*smembers)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                    imi_cache_each_fn fn, void *ud);

    /* sorted sets (optional, IMI_CACHE_CAP_ZSET) */
    int (*zadd)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                const void *m, size_t len, double score);
    int (*zrem)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len);
    int (*zscore)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                  const void *m, size_t len, double *score);
    int (*zrange)(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t start,
                  int64_t stop, imi_cache_each_fn fn, void *ud);

    /* lock (optional, IMI_CACHE_CAP_LOCK) */
    int (*lock)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner,
                int64_t ttl_ms);
    int (*unlock)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner);
    int (*lock_renew)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                      const char *owner, int64_t ttl_ms);

    /* token bucket (optional, IMI_CACHE_CAP_TOKEN_BUCKET) */
    int (*take)(void *st, const imi_ctx *ctx, const char *key, size_t klen, double rate,
                int64_t burst, int64_t n, int64_t *retry_after_ms);
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_cache_driver;

/* The smallest vtable the core accepts: the ABI 1.0 layout. */
#define IMI_CACHE_DRIVER_SIZE_1_0 IMI_SIZE_THROUGH(imi_cache_driver, take)

#ifdef __cplusplus
}
#endif
#endif
