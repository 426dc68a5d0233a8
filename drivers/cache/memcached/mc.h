/* The memcached cache driver's internals, shared by its files:
 *   memcached.c  options, open/close/ping, error codes, the descriptor
 *   pool.c       the handle pool: a parking slot per thread in front of libmemcachedutil's
 *   keys.c       mapping cache keys to memcached keys
 *   values.c     the marker that keeps memcached's own increment off a value
 *   strings.c    get/set/del/exists/ttl/mget/mset
 *   rmw.c        read-modify-write with CAS: setnx, expire, lock, token bucket; incr by
 *                memcached's own increment, by CAS where that cannot do it
 *
 * Expiry: memcached keeps whole seconds and cannot tell a key's TTL, so every value
 * carries its expiry as absolute unix seconds in the item's 32-bit flags (0: none). A
 * value past that second reads as a miss; memcached's own expiry is set a second later
 * and only reclaims the memory. TTLs are so rounded up to the next whole second.
 *
 * The flags' top bit (MC_FLAG_MARKED; expiry seconds end at INT32_MAX) says the value is
 * stored behind a one-byte marker that memcached's increment refuses as "non-numeric":
 * values.c puts it on every value memcached could take for a number unless it is a
 * counter without a TTL in canonical form, so that memcached's one-trip increment only
 * ever meets counters it gets exactly right (rmw.c). Every reader strips it. */
#ifndef IMI_DRIVER_CACHE_MC_H
#define IMI_DRIVER_CACHE_MC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <libmemcached/memcached.h>
#include <libmemcachedutil-1.0/pool.h>
#include "iminfra/driver/cache_driver.h"

#define MC_KEY_MAX 251 /* 250 bytes and a NUL */

#define MC_FLAG_MARKED 0x80000000u       /* the value has the marker in front */
#define MC_FLAG_EXPIRY 0x7fffffffu       /* the expiry in unix seconds, 0: none */
#define MC_MARKER '#'                    /* not a blank, sign or digit: not a number */

typedef struct mc {
    const imi_driver_env *env;
    const imi_host_api *host;
    memcached_st *master;
    memcached_pool_st *pool;
    int64_t connect_timeout_ms;
    /* handles parked by the threads that released them, one slot per thread (pool.c);
     * waiters counts callers waiting for a handle, to whom releases go instead, woken by
     * wait_cv (on the monotonic clock) */
    struct mc_parked *parked;
    size_t n_parked;
    atomic_int waiters;
    pthread_mutex_t wait_mu;
    pthread_cond_t wait_cv;
    bool wait_ready;
} mc;

/* A handle checked out of the pool for one call, with its deadline. */
typedef struct mc_lease {
    memcached_st *h;
    int64_t deadline_ns;
    size_t slot;                /* the calling thread's parking slot */
} mc_lease;

/* The pool of up to size handles cloned from m->master; IMI_ENOMEM (reported) at worst.
 * Close returns every parked handle to the pool and frees it (also after a failed open). */
int mc_pool_open(mc *m, uint32_t size);
void mc_pool_close(mc *m);
/* A handle for one call, its socket waits bounded by the ctx's deadline; IMI_ETIMEDOUT
 * when none is free before it. mc_release gives it back (the lease's h is cleared). */
int mc_acquire(mc *m, const imi_ctx *ctx, mc_lease *l);
void mc_release(mc *m, mc_lease *l);
/* The imi code of a libmemcached result, recorded as the error detail. */
int mc_error(mc *m, memcached_st *h, memcached_return_t r, const char *what);

/* The memcached key of a cache key: printable keys of up to 250 bytes as they are (key
 * itself is returned, nothing copied), others as "~x" + hex, and those too long for that
 * as "~s" + hex of their SHA-256, written into buf (MC_KEY_MAX bytes). *mlen: its length. */
static inline const char *mc_key(const char *key, size_t klen, char *buf, size_t *mlen);
/* The encoded forms, into buf (keys.c). */
const char *mc_key_encode(const char *key, size_t klen, char *buf, size_t *mlen);

/* Whether 8 bytes are all printable ASCII (0x21 to 0x7e): a byte below 0x21 borrows
 * into its top bit when 0x21 is taken from it, one above 0x7e carries into it when 1 is
 * added (or has it set already). */
static inline bool mc_printable8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
    uint64_t below = (w - ones * 0x21) & ~w & tops;
    uint64_t above = ((w + ones * (0x7f - 0x7e)) | w) & tops;
    return !(below | above);
}

static inline bool mc_printable(const char *key, size_t klen)
{
    uint64_t w;
    if (klen >= 8) {
        /* whole words, the last one ending at the key's end (it may overlap) */
        for (size_t i = 0; i < klen - 8; i += 8) {
            memcpy(&w, key + i, 8);
            if (!mc_printable8(w))
                return false;
        }
        memcpy(&w, key + klen - 8, 8);
        return mc_printable8(w);
    }
    for (size_t i = 0; i < klen; i++)
        if ((unsigned char)((unsigned char)key[i] - 0x21) > 0x7e - 0x21)
            return false;
    return true;
}

/* Inline: mget maps a hundred keys a call. */
static inline const char *mc_key(const char *key, size_t klen, char *buf, size_t *mlen)
{
    if (klen <= MC_KEY_MAX - 1 && key[0] != '~' && mc_printable(key, klen)) {
        *mlen = klen;
        return key;
    }
    return mc_key_encode(key, klen, buf, mlen);
}

/* A value as it is written: the caller's bytes, or a copy behind the marker. */
typedef struct mc_value {
    const char *p;
    size_t len;
    uint32_t flags;             /* expiry flags, with MC_FLAG_MARKED when marked */
    char *heap;                 /* the copy, when it did not fit in small */
    char small[128];
} mc_value;
/* Prepares val for writing with the expiry flags given; IMI_ENOMEM (reported) at worst. */
int mc_value_make(mc *m, mc_value *v, const void *val, size_t len, uint32_t expiry);
void mc_value_free(mc_value *v);
/* The stored bytes of an item without the marker (len is updated). */
static inline const char *mc_value_strip(const char *p, size_t *len, uint32_t flags)
{
    if ((flags & MC_FLAG_MARKED) && *len > 0) {
        --*len;
        return p + 1;
    }
    return p;
}

/* Expiry in flags: the flag value for a TTL (0: none), the exptime to give memcached,
 * and the milliseconds a flag value has left (<= 0: expired; INT64_MAX: none). */
uint32_t mc_expiry_flags(mc *m, int64_t ttl_ms);
/* memcached reads exptime as a signed 32-bit number: the last second it can hold (less
 * the one mc_exptime adds). */
#define MC_EXPIRY_MAX_S ((uint32_t)INT32_MAX - 1)
/* IMI_EINVALID with the range for a TTL memcached cannot keep (past 2038-01-19). */
int mc_check_ttl(mc *m, int64_t ttl_ms);
/* IMI_EINVALID with the limit for a value larger than the max_value option. */
int mc_check_value(mc *m, size_t len);
time_t mc_exptime(mc *m, uint32_t flags);
int64_t mc_left_ms(mc *m, uint32_t flags);

/* One key as read: found false on a miss or a logically expired value (then present says
 * whether memcached still holds it). */
typedef struct mc_item {
    bool found, present;
    char *mem;                  /* libmemcached's malloc'd copy (NULL: empty); free it */
    const char *val;            /* the value in it, without the marker */
    size_t len;
    uint32_t flags;             /* as stored, marker bit included */
    uint64_t cas;
} mc_item;
/* Reads one key with its flags and CAS in one request (a GETK): IMI_OK for a miss too. */
int mc_read(mc *m, mc_lease *l, const char *mkey, size_t mlen, mc_item *it);

int mc_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val);
int mc_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
           size_t len, int64_t ttl_ms);
int mc_del(void *st, const imi_ctx *ctx, const char *key, size_t klen);
int mc_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen);
int mc_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms);
int mc_mget(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
            size_t n, imi_buf *vals, int *found);

int mc_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
             size_t len, int64_t ttl_ms);
int mc_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms);
int mc_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
            int64_t *result);
int mc_lock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner,
            int64_t ttl_ms);
int mc_unlock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner);
int mc_lock_renew(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                  const char *owner, int64_t ttl_ms);
int mc_take(void *st, const imi_ctx *ctx, const char *key, size_t klen, double rate,
            int64_t burst, int64_t n, int64_t *retry_after_ms);

#endif
