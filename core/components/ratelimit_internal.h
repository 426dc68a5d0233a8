/* Inside ratelimit: rules and buckets, shared by ratelimit.c (config, rules, lookup) and
 * ratelimit_take.c (the token bucket itself). */
#ifndef IMI_CORE_RATELIMIT_INTERNAL_H
#define IMI_CORE_RATELIMIT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include "iminfra/cache.h"
#include "iminfra/clog.h"
#include "iminfra/ratelimit.h"

/* A rule's numbers; immutable once published, replaced ones kept until the limiter is
 * freed (a bucket may still be reading one). */
typedef struct rl_params {
    double rate;            /* tokens per second */
    int64_t burst;
    bool distributed;
    int64_t interval_ns;    /* ns per token */
    int64_t tau_ns;         /* burst * interval: how far ahead the bucket may be taken */
    struct rl_params *retired_next;
} rl_params;

typedef struct rl_rule {
    struct rl_rule *next;
    _Atomic(const rl_params *) p;   /* NULL: the rule was removed */
    rl_params *file;                /* from the config, or NULL */
    bool overridden;
    char name[];
} rl_rule;

#define RL_CACHELINE 64
#define RL_MAX_BUCKETS_DEFAULT 100000   /* evictable buckets, about 100 bytes each */
#define RL_SWEEP_MIN 1024               /* the table is swept when it doubles from this */

struct imi_ratelimit_bucket {
    _Alignas(RL_CACHELINE) _Atomic int64_t tat;  /* local: time the bucket is empty until */
    rl_rule *rule;
    imi_ratelimit *rl;
    struct imi_ratelimit_bucket *next;           /* hash chain */
    uint64_t hash;
    char *resource;
    char *key;                                   /* the cache key; NULL until pinned */
    bool pinned;                                 /* handed out by imi_ratelimit_get */
};

struct imi_ratelimit {
    pthread_mutex_t mu;         /* rules list, bucket table, retired params */
    rl_rule *rules;
    imi_ratelimit_bucket **table;
    size_t table_cap, n_buckets;
    /* Buckets made by imi_ratelimit_check are evicted once full again (such a bucket
     * carries no state): every time the table reaches sweep_at, and at most max_buckets
     * of them exist (beyond, a new resource is treated like a failed backend). */
    size_t max_buckets, sweep_at, n_pinned;
    int64_t last_sweep_ns;
    uint64_t evicted;
    rl_params *retired;
    imi_app *app;
    char section[128];
    bool default_distributed;
    bool fail_open;
    bool unknown_allow;         /* unknown_rule = allow: a rule not configured lets all through */
    char *cache_name;
    char *key_prefix;
    imi_cache *_Atomic cache;   /* opened when the first distributed rule appears */
    imi_logger *log;
    _Atomic uint64_t backend_errors;
    _Atomic int64_t last_error_log_ns;
};

int imi_ratelimit_take_local(imi_ratelimit_bucket *b, const rl_params *p, int64_t n,
                             int64_t *retry_after_ms);
int imi_ratelimit_take_remote(imi_ratelimit_bucket *b, const rl_params *p,
                              const imi_ctx *ctx, int64_t n, int64_t *retry_after_ms);

#endif
