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

struct imi_ratelimit_bucket {
    _Alignas(RL_CACHELINE) _Atomic int64_t tat;  /* local: time the bucket is empty until */
    rl_rule *rule;
    imi_ratelimit *rl;
    struct imi_ratelimit_bucket *next;           /* hash chain */
    uint64_t hash;
    char *resource;
    char *key;                                   /* distributed: the cache key */
};

struct imi_ratelimit {
    pthread_mutex_t mu;         /* rules list, bucket table, retired params */
    rl_rule *rules;
    imi_ratelimit_bucket **table;
    size_t table_cap, n_buckets;
    rl_params *retired;
    imi_app *app;
    char section[128];
    bool default_distributed;
    bool fail_open;
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
