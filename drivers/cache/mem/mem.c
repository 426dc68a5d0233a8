/* The in-memory cache driver: options, open/close, the expiry sweeper, the descriptor.
 * Everything a redis cache offers, in process, for tests and single-process services. */
#include <inttypes.h>
#include <stdlib.h>
#include <time.h>
#include "mem.h"

enum { OPT_MAX_ENTRIES, OPT_MAX_BYTES, OPT_SWEEP_INTERVAL, OPT_SHARDS };

static const imi_option_spec mem_options[] = {
    [OPT_MAX_ENTRIES] = { .name = "max_entries", .type = IMI_OPT_INT, .default_value = "100000",
                          .help = "keys kept at most; past it the least recently used go" },
    [OPT_MAX_BYTES] = { .name = "max_bytes", .type = IMI_OPT_SIZE, .default_value = "0",
                        .help = "bytes of keys and values kept at most (0: no bound); "
                                "past it the least recently used go" },
    [OPT_SWEEP_INTERVAL] = { .name = "sweep_interval", .type = IMI_OPT_DURATION,
                             .default_value = "1s",
                             .help = "how often a background thread drops expired keys "
                                     "(0: only when touched)" },
    [OPT_SHARDS] = { .name = "shards", .type = IMI_OPT_INT, .default_value = "0",
                     .help = "lock stripes, a power of two (0: by size; one shard keeps LRU "
                             "order exact across all keys)" },
};

/* Shards by size: each keeps at least 1024 entries (and 1 MiB when bytes are bounded),
 * so that splitting the bounds does not make a small cache evict early. */
static size_t auto_shards(size_t max_entries, size_t max_bytes)
{
    size_t n = 1;
    while (n < 16 && max_entries / (n * 2) >= 1024 && (!max_bytes || max_bytes / (n * 2) >= (1u << 20)))
        n *= 2;
    return n;
}

static void *sweeper_main(void *arg)
{
    mem_cache *m = arg;
    pthread_mutex_lock(&m->sweep_mu);
    while (!m->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t ns = ts.tv_nsec + (m->sweep_interval_ms % 1000) * 1000000;
        ts.tv_sec += (time_t)(m->sweep_interval_ms / 1000 + ns / 1000000000);
        ts.tv_nsec = (long)(ns % 1000000000);
        pthread_cond_timedwait(&m->sweep_cv, &m->sweep_mu, &ts);
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->sweep_mu);
        mem_sweep(m);
        pthread_mutex_lock(&m->sweep_mu);
    }
    pthread_mutex_unlock(&m->sweep_mu);
    return NULL;
}

static int start_sweeper(mem_cache *m)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->sweep_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&m->sweep_mu, NULL);
    if (pthread_create(&m->sweeper, NULL, sweeper_main, m))
        return m->host->error(IMI_EINTERNAL, 0, "cannot start the expiry sweeper thread");
    m->sweeper_running = true;
    return IMI_OK;
}

static int mem_open(void *st, const imi_driver_env *env)
{
    mem_cache *m = st;
    m->host = env->host;
    int64_t max = env->opts[OPT_MAX_ENTRIES].i, max_bytes = env->opts[OPT_MAX_BYTES].i;
    int64_t shards = env->opts[OPT_SHARDS].i;
    if (max <= 0)
        return env->host->error(IMI_ECONFIG, 0, "max_entries must be positive, not %" PRId64, max);
    if (max_bytes < 0)
        return env->host->error(IMI_ECONFIG, 0, "max_bytes must not be negative");
    if (shards < 0 || shards > 1024 || (shards & (shards - 1)))
        return env->host->error(IMI_ECONFIG, 0, "shards must be a power of two up to 1024, "
                                "not %" PRId64, shards);
    m->n_shards = shards ? (size_t)shards : auto_shards((size_t)max, (size_t)max_bytes);
    if ((size_t)max < m->n_shards)
        return env->host->error(IMI_ECONFIG, 0, "max_entries (%" PRId64 ") is below shards "
                                "(%zu)", max, m->n_shards);
    m->shards = calloc(m->n_shards, sizeof *m->shards);
    if (!m->shards)
        return env->host->error(IMI_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < m->n_shards; i++) {
        shard *sh = &m->shards[i];
        /* the bounds split evenly; the remainder goes to the first shards */
        sh->max_entries = (size_t)max / m->n_shards + (i < (size_t)max % m->n_shards);
        sh->max_bytes = (size_t)max_bytes / m->n_shards;
        pthread_mutex_init(&sh->mu, NULL);
        if (mdict_init(&sh->table, 64))
            return env->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    m->sweep_interval_ms = env->opts[OPT_SWEEP_INTERVAL].i;
    return m->sweep_interval_ms > 0 ? start_sweeper(m) : IMI_OK;
}

static void mem_close(void *st)
{
    mem_cache *m = st;
    if (m->sweeper_running) {
        pthread_mutex_lock(&m->sweep_mu);
        m->stop = true;
        pthread_cond_signal(&m->sweep_cv);
        pthread_mutex_unlock(&m->sweep_mu);
        pthread_join(m->sweeper, NULL);
        pthread_cond_destroy(&m->sweep_cv);
        pthread_mutex_destroy(&m->sweep_mu);
        m->sweeper_running = false;
    }
    if (!m->shards)
        return;
    for (size_t i = 0; i < m->n_shards; i++) {
        shard *sh = &m->shards[i];
        while (sh->head)
            mem_remove(m, sh, sh->head);
        mdict_free(&sh->table);
        pthread_mutex_destroy(&sh->mu);
    }
    free(m->shards);
    m->shards = NULL;
}

static int mem_ping(void *st, const imi_ctx *ctx)
{
    (void)st;
    (void)ctx;
    return IMI_OK;
}

static const imi_cache_driver mem_vtable = {
    .size = sizeof(imi_cache_driver),
    .open = mem_open,
    .close = mem_close,
    .ping = mem_ping,
    .get = mem_get,
    .set = mem_set,
    .setnx = mem_setnx,
    .del = mem_del,
    .exists = mem_exists,
    .expire = mem_expire,
    .ttl = mem_ttl,
    .incr = mem_incr,
    .mget = mem_mget,
    .mset = mem_mset,
    .hset = mem_hset,
    .hget = mem_hget,
    .hdel = mem_hdel,
    .hgetall = mem_hgetall,
    .sadd = mem_sadd,
    .srem = mem_srem,
    .sismember = mem_sismember,
    .smembers = mem_smembers,
    .zadd = mem_zadd,
    .zrem = mem_zrem,
    .zscore = mem_zscore,
    .zrange = mem_zrange,
    .lock = mem_lock_acquire,
    .unlock = mem_unlock,
    .lock_renew = mem_lock_renew,
    .take = mem_take,
};

static const imi_driver_desc mem_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_CACHE,
    .name = "mem",
    .version = "0.2.0",
    .description = "in-process cache: strings, hashes, sets, sorted sets, lock, token "
                   "bucket, TTL and LRU bounds; no server",
    .caps = IMI_CACHE_CAP_HASH | IMI_CACHE_CAP_SET | IMI_CACHE_CAP_ZSET | IMI_CACHE_CAP_LOCK |
            IMI_CACHE_CAP_TOKEN_BUCKET,
    .options = mem_options,
    .n_options = IMI_COUNT_OF(mem_options),
    .state_size = sizeof(mem_cache),
    .vtable = &mem_vtable,
};

IMI_DRIVER_DEFINE(mem_desc)
