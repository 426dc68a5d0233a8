/* The in-memory cache driver: strings with TTL in one hash table under one lock. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/driver/cache_driver.h"

typedef struct item {
    struct item *next;
    uint64_t hash;
    char *key;
    size_t klen;
    char *val;
    size_t vlen;
    int64_t expires_ns;            /* 0: never */
} item;

typedef struct mem_cache {
    const imi_host_api *host;
    pthread_mutex_t lock;
    item **slots;
    size_t n_slots, count, max_entries;
} mem_cache;

enum { OPT_MAX_ENTRIES };

static const imi_option_spec mem_options[] = {
    [OPT_MAX_ENTRIES] = { .name = "max_entries", .type = IMI_OPT_INT, .default_value = "100000",
                          .help = "entries kept at most; a set past it fails with IMI_ENOMEM" },
};

static uint64_t hash_key(const char *k, size_t n)
{
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)k[i]) * 1099511628211u;
    return h;
}

static int mem_open(void *st, const imi_driver_env *env)
{
    mem_cache *m = st;
    m->host = env->host;
    int64_t max = env->opts[OPT_MAX_ENTRIES].i;
    if (max <= 0)
        return env->host->error(IMI_ECONFIG, 0, "max_entries must be positive, not %" PRId64, max);
    m->max_entries = (size_t)max;
    m->n_slots = 1024;
    m->slots = calloc(m->n_slots, sizeof *m->slots);
    if (!m->slots)
        return env->host->error(IMI_ENOMEM, 0, "out of memory");
    pthread_mutex_init(&m->lock, NULL);
    return IMI_OK;
}

static void free_item(item *it)
{
    free(it->key);
    free(it->val);
    free(it);
}

static void mem_close(void *st)
{
    mem_cache *m = st;
    if (!m->slots)
        return;
    for (size_t i = 0; i < m->n_slots; i++)
        for (item *it = m->slots[i], *next; it; it = next) {
            next = it->next;
            free_item(it);
        }
    free(m->slots);
    pthread_mutex_destroy(&m->lock);
}

static int mem_ping(void *st, const imi_ctx *ctx)
{
    (void)st;
    (void)ctx;
    return IMI_OK;
}

/* Finds a live item (expired ones are unlinked on the way: lazy expiry). */
static item **find(mem_cache *m, const char *key, size_t klen, int64_t now)
{
    uint64_t h = hash_key(key, klen);
    item **p = &m->slots[h & (m->n_slots - 1)];
    while (*p) {
        item *it = *p;
        if (it->expires_ns && it->expires_ns <= now) {
            *p = it->next;
            free_item(it);
            m->count--;
            continue;
        }
        if (it->hash == h && it->klen == klen && !memcmp(it->key, key, klen))
            return p;
        p = &it->next;
    }
    return p;
}

static void grow(mem_cache *m)
{
    size_t n = m->n_slots * 2;
    item **slots = calloc(n, sizeof *slots);
    if (!slots)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < m->n_slots; i++)
        for (item *it = m->slots[i], *next; it; it = next) {
            next = it->next;
            it->next = slots[it->hash & (n - 1)];
            slots[it->hash & (n - 1)] = it;
        }
    free(m->slots);
    m->slots = slots;
    m->n_slots = n;
}

static int64_t expiry(mem_cache *m, int64_t now, int64_t ttl_ms)
{
    (void)m;
    return ttl_ms > 0 ? now + ttl_ms * 1000000 : 0;
}

/* Puts value `copy` (malloc'd, taken over) at *p, a slot find() returned. Lock held. */
static int put_locked(mem_cache *m, item **p, const char *key, size_t klen, char *copy,
                      size_t len, int64_t expires_ns)
{
    if (*p) {
        free((*p)->val);
        (*p)->val = copy;
        (*p)->vlen = len;
        (*p)->expires_ns = expires_ns;
        return IMI_OK;
    }
    if (m->count >= m->max_entries) {
        free(copy);
        return m->host->error(IMI_ENOMEM, 0, "cache full: %zu entries (max_entries)", m->count);
    }
    item *it = calloc(1, sizeof *it);
    char *kcopy = malloc(klen + 1);
    if (!it || !kcopy) {
        free(it);
        free(kcopy);
        free(copy);
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    memcpy(kcopy, key, klen + 1);
    *it = (item){ .hash = hash_key(key, klen), .key = kcopy, .klen = klen, .val = copy,
                  .vlen = len, .expires_ns = expires_ns };
    *p = it;
    if (++m->count > m->n_slots)
        grow(m);
    return IMI_OK;
}

static char *copy_bytes(const void *val, size_t len)
{
    char *copy = malloc(len + 1);
    if (copy) {
        memcpy(copy, val, len);
        copy[len] = '\0';
    }
    return copy;
}

/* Stores a value; `only_new` makes it setnx. */
static int store(mem_cache *m, const char *key, size_t klen, const void *val, size_t len,
                 int64_t ttl_ms, int only_new)
{
    char *copy = copy_bytes(val, len);
    if (!copy)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    pthread_mutex_lock(&m->lock);
    int64_t now = m->host->mono_ns();
    item **p = find(m, key, klen, now);
    int rc;
    if (*p && only_new) {
        free(copy);
        rc = IMI_EEXISTS;
    } else {
        rc = put_locked(m, p, key, klen, copy, len, expiry(m, now, ttl_ms));
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
                   size_t len, int64_t ttl_ms)
{
    (void)ctx;
    return store(st, key, klen, val, len, ttl_ms, 0);
}

static int mem_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                     const void *val, size_t len, int64_t ttl_ms)
{
    (void)ctx;
    return store(st, key, klen, val, len, ttl_ms, 1);
}

static int mem_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *out)
{
    (void)ctx;
    mem_cache *m = st;
    pthread_mutex_lock(&m->lock);
    item **p = find(m, key, klen, m->host->mono_ns());
    int rc = *p ? m->host->buf_set(out, (*p)->val, (*p)->vlen) : IMI_ENOTFOUND;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_del(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    (void)ctx;
    mem_cache *m = st;
    pthread_mutex_lock(&m->lock);
    item **p = find(m, key, klen, m->host->mono_ns());
    int rc = IMI_ENOTFOUND;
    if (*p) {
        item *it = *p;
        *p = it->next;
        free_item(it);
        m->count--;
        rc = IMI_OK;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    (void)ctx;
    mem_cache *m = st;
    pthread_mutex_lock(&m->lock);
    int rc = *find(m, key, klen, m->host->mono_ns()) ? IMI_OK : IMI_ENOTFOUND;
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int mem_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms)
{
    (void)ctx;
    mem_cache *m = st;
    pthread_mutex_lock(&m->lock);
    int64_t now = m->host->mono_ns();
    item **p = find(m, key, klen, now);
    if (*p)
        (*p)->expires_ns = expiry(m, now, ttl_ms);
    pthread_mutex_unlock(&m->lock);
    return *p ? IMI_OK : IMI_ENOTFOUND;
}

static int mem_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms)
{
    (void)ctx;
    mem_cache *m = st;
    pthread_mutex_lock(&m->lock);
    int64_t now = m->host->mono_ns();
    item **p = find(m, key, klen, now);
    int rc = IMI_ENOTFOUND;
    if (*p) {
        int64_t e = (*p)->expires_ns;
        *ttl_ms = e ? (e - now + 999999) / 1000000 : -1;
        rc = IMI_OK;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

/* Parses a whole value as a decimal int64. */
static int parse_int(const char *v, size_t len, int64_t *out)
{
    if (len == 0 || len > 20)
        return -1;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (end != v + len || errno)
        return -1;
    *out = x;
    return 0;
}

static int mem_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
                    int64_t *result)
{
    (void)ctx;
    mem_cache *m = st;
    pthread_mutex_lock(&m->lock);
    int64_t now = m->host->mono_ns(), cur = 0;
    item **p = find(m, key, klen, now);
    int rc = IMI_OK;
    if (*p && parse_int((*p)->val, (*p)->vlen, &cur))
        rc = m->host->error(IMI_EINVALID, 0, "value is not an integer");
    else if ((delta > 0 && cur > INT64_MAX - delta) || (delta < 0 && cur < INT64_MIN - delta))
        rc = m->host->error(IMI_EINVALID, 0, "increment would overflow");
    if (!rc) {
        char text[24];
        int n = snprintf(text, sizeof text, "%" PRId64, cur + delta);
        char *copy = copy_bytes(text, (size_t)n);
        rc = copy ? put_locked(m, p, key, klen, copy, (size_t)n, *p ? (*p)->expires_ns : 0)
                  : m->host->error(IMI_ENOMEM, 0, "out of memory");
        if (!rc)
            *result = cur + delta;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
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
};

static const imi_driver_desc mem_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_CACHE,
    .name = "mem",
    .version = "0.1.0",
    .description = "in-process cache: strings with TTL, no server",
    .caps = 0,
    .options = mem_options,
    .n_options = IMI_COUNT_OF(mem_options),
    .state_size = sizeof(mem_cache),
    .vtable = &mem_vtable,
};

IMI_DRIVER_DEFINE(mem_desc)
