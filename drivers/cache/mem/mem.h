/* The in-memory cache driver's internals, shared by its files:
 *   table.c     byte-keyed hash tables, shards, entries, LRU and eviction
 *   strings.c   get/set/setnx/del/exists/expire/ttl/incr/mget/mset
 *   hash.c, set.c, zset.c   the collection types
 *   lock.c      the owner-token lock and the token bucket
 *   mem.c       options, open/close, the expiry sweeper, the descriptor
 *
 * Keys are spread over shards, each with its own mutex, table, LRU list and share of the
 * bounds (max_entries, max_bytes). Eviction takes the least recently used entry of the
 * shard the new data goes to, so LRU is exact per shard; small caches use one shard. */
#ifndef IMI_DRIVER_CACHE_MEM_H
#define IMI_DRIVER_CACHE_MEM_H

#include <pthread.h>
#include <stdbool.h>
#include "iminfra/driver/cache_driver.h"

/* A node of a byte-keyed chained hash table; embedded first in what it indexes. */
typedef struct mnode {
    struct mnode *next;
    uint64_t hash;
    const char *key;
    size_t klen;
} mnode;

typedef struct mdict {
    mnode **slots;
    size_t n_slots, count;
} mdict;

uint64_t mem_hash(const void *key, size_t len);
int mdict_init(mdict *d, size_t n_slots);
void mdict_free(mdict *d);              /* the slot array only; nodes are the caller's */
mnode **mdict_find(const mdict *d, const void *key, size_t klen, uint64_t h); /* NULL: none */
void mdict_add(mdict *d, mnode *n);     /* n->hash/key/klen set, key not present */
void mdict_unlink(mdict *d, mnode **link);
#define MDICT_EACH(d, var)                                                           \
    for (size_t i_##var = 0; i_##var < (d)->n_slots; i_##var++)                     \
        for (mnode *var = (d)->slots[i_##var], *nx_##var = var ? var->next : NULL;  \
             var; var = nx_##var, nx_##var = var ? var->next : NULL)

/* A hash field, set member or sorted-set member. */
typedef struct mitem {
    mnode node;
    char *val;          /* hash: the value (malloc'd) */
    size_t vlen;
    double score;       /* sorted set */
    char keybuf[];
} mitem;

mitem *mitem_new(const void *key, size_t klen, uint64_t h);
void mitem_free(mitem *it);
size_t mitem_bytes(const mitem *it);    /* what it counts against max_bytes */

typedef enum etype { E_STR = 1, E_HASH, E_SET, E_ZSET, E_BUCKET } etype;

typedef struct entry {
    mnode node;
    struct entry *prev, *next;          /* LRU: shard->head is the most recent */
    etype type;
    int64_t expires_ns;                 /* monotonic; 0: never */
    size_t bytes;                       /* counted against max_bytes */
    union {
        struct { char *val; size_t len; } s;
        mdict d;                                          /* hash, set */
        struct { mdict d; mitem **rank; size_t cap; } z;  /* sorted set */
        struct { double tokens; int64_t at_ns; } b;       /* token bucket */
    } u;
    char keybuf[];
} entry;

typedef struct shard {
    pthread_mutex_t mu;
    mdict table;
    entry *head, *tail;
    size_t bytes, max_entries, max_bytes; /* max_bytes 0: no byte bound */
} shard;

typedef struct mem_cache {
    const imi_host_api *host;
    shard *shards;
    size_t n_shards;
    int64_t sweep_interval_ms;
    pthread_t sweeper;
    pthread_mutex_t sweep_mu;
    pthread_cond_t sweep_cv;
    bool sweeper_running, stop;
    uint64_t evictions;                 /* under each shard's lock; read loosely for logs */
} mem_cache;

/* ---- table.c ---- */

/* The shard of a key, locked; *h receives the key's hash. */
shard *mem_shard_lock(mem_cache *m, const char *key, size_t klen, uint64_t *h);
void mem_shard_unlock(shard *sh);
/* A live entry (an expired one is removed on the way, and a found one becomes the most
 * recently used), or NULL. */
entry *mem_find(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h);
/* As mem_find, but *rc is IMI_ENOTFOUND when absent and IMI_EINVALID when of another type. */
entry *mem_find_type(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h,
                     etype type, int *rc);
/* Evicts least recently used entries of sh (never `keep`) until `more_bytes` more bytes
 * and `more_entries` more entries fit. IMI_ENOMEM when they never can. */
int mem_make_room(mem_cache *m, shard *sh, const entry *keep, size_t more_bytes,
                  size_t more_entries);
/* A new entry of `type` at key (not present), empty; room must have been made. */
entry *mem_create(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h,
                  etype type);
void mem_remove(mem_cache *m, shard *sh, entry *e);
/* The entry of `type` at key, created empty when absent, with room made for more_bytes
 * (IMI_EINVALID when the key holds another type). */
entry *mem_find_or_create(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h,
                          etype type, size_t more_bytes, int *rc);
/* Changes e's counted size by delta bytes (may be negative). */
void mem_account(shard *sh, entry *e, long long delta);
size_t mem_entry_base(size_t klen);     /* an empty entry's counted size */
/* Frees what an entry's value holds, leaving it an empty E_STR with no value. */
void mem_clear_value(entry *e);
/* Removes the expired entries of every shard (the sweeper's tick). */
void mem_sweep(mem_cache *m);
int64_t mem_expiry(mem_cache *m, int64_t ttl_ms);   /* 0 for ttl 0 */
/* IMI_ENOTFOUND with its own detail, so that a miss never shows an earlier error's. */
int mem_miss(mem_cache *m);
/* IMI_EINVALID with the range for a ttl outside 0 to IMI_CACHE_TTL_MAX_MS. */
int mem_check_ttl(mem_cache *m, int64_t ttl_ms);

/* Hands items to fn after the shard lock is released (fn may call the cache again). */
typedef struct snapshot {
    size_t n;
    struct snap_item { const char *item; size_t ilen; const char *val; size_t vlen; double score; } *items;
    char *mem;
} snapshot;
int snapshot_take(mem_cache *m, snapshot *s, mitem *const *items, size_t n, bool with_val);
int snapshot_run(snapshot *s, imi_cache_each_fn fn, void *ud);  /* frees s */
int mem_dict_snapshot(mem_cache *m, const mdict *d, snapshot *s, bool with_val);

/* ---- the vtable slots, by file ---- */
int mem_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val);
int mem_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
            size_t len, int64_t ttl_ms);
int mem_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
              size_t len, int64_t ttl_ms);
int mem_del(void *st, const imi_ctx *ctx, const char *key, size_t klen);
int mem_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen);
int mem_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms);
int mem_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms);
int mem_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
             int64_t *result);
int mem_mget(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             size_t n, imi_buf *vals, int *found);
int mem_mset(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             const imi_bytes *vals, size_t n, int64_t ttl_ms);
/* Stores a string value at key (the shard locked, room for it made by the call). */
int mem_store_locked(mem_cache *m, shard *sh, entry *e, const char *key, size_t klen,
                     uint64_t h, const void *val, size_t len, int64_t expires_ns);

int mem_hset(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             const void *val, size_t len);
int mem_hget(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             imi_buf *val);
int mem_hdel(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field);
int mem_hgetall(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                imi_cache_each_fn fn, void *ud);

int mem_sadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb, size_t len);
int mem_srem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb, size_t len);
int mem_sismember(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
                  size_t len);
int mem_smembers(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                 imi_cache_each_fn fn, void *ud);

int mem_zadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
             size_t len, double score);
int mem_zrem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb, size_t len);
int mem_zscore(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
               size_t len, double *score);
int mem_zrange(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t start,
               int64_t stop, imi_cache_each_fn fn, void *ud);
void mem_zset_free(entry *e);

int mem_lock_acquire(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                     const char *owner, int64_t ttl_ms);
int mem_unlock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner);
int mem_lock_renew(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                   const char *owner, int64_t ttl_ms);
int mem_take(void *st, const imi_ctx *ctx, const char *key, size_t klen, double rate,
             int64_t burst, int64_t n, int64_t *retry_after_ms);

#endif
