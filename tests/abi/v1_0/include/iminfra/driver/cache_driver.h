/* The cache driver vtable.
 *
 * Contracts for every slot:
 *  - `st` is the driver's private state (desc->state_size bytes, zeroed, allocated by
 *    the core); `open` initialises it, `close` releases what open acquired. close is
 *    called once, also after a failed open, and never while a call is in flight.
 *  - Slots may block up to the ctx deadline (host->ctx_remaining_ms with
 *    env->default_timeout_ms) and are called from many threads at once.
 *  - Keys arrive already prefixed and NUL-terminated (klen excludes the NUL).
 *  - Output goes into core-owned imi_buf through host->buf_set; iteration through fn.
 *  - Return IMI_OK or a negative imi code, with detail through host->error.
 *  - Slots marked optional may be NULL; the front-end answers IMI_ENOTSUP, or for mget
 *    and mset falls back to get/set one key at a time.
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
    /* optional: keys/klens arrays of n */
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
} imi_cache_driver;

#ifdef __cplusplus
}
#endif
#endif
