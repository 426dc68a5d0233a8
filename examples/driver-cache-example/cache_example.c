/* An out-of-tree cache driver built only against the installed im-infra SDK.
 *
 * A small, complete in-process cache: string values with TTLs in one chained hash table
 * under one mutex. It implements the required slots of imi_cache_driver and advertises no
 * optional capability (hashes, sets, sorted sets, lock, token bucket): those slots stay
 * NULL and the core answers IMI_ENOTSUP for them; mget and mset fall back to get and set.
 *
 * Options (the schema below; `imi drivers` prints it):
 *   max_entries   keys kept at most; a set of a new key past it fails with IMI_ENOMEM
 *                 once the expired keys are dropped
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/driver/cache_driver.h"

enum { OPT_MAX_ENTRIES };

static const imi_option_spec example_options[] = {
    [OPT_MAX_ENTRIES] = { .name = "max_entries", .type = IMI_OPT_INT, .default_value = "100000",
                          .help = "keys kept at most (a new key past it is refused)" },
};

typedef struct item {
    struct item *next;
    uint64_t hash;
    int64_t expires_ns;         /* monotonic; 0: never */
    char *val;                  /* NUL-terminated copy, len bytes before the NUL */
    size_t len;
    size_t klen;
    char key[];
} item;

/* The private state: desc.state_size bytes, zeroed by the core before open. */
typedef struct example_cache {
    const imi_host_api *host;
    pthread_mutex_t mu;
    bool mu_ready;
    item **slots;
    size_t n_slots, count, max_entries;
} example_cache;

static uint64_t hash_bytes(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static void item_free(item *it)
{
    free(it->val);
    free(it);
}

/* The link pointing at key's item, expired items on the way removed; *link is NULL when
 * the key is absent. Called with the mutex held. */
static item **find(example_cache *c, const char *key, size_t klen, uint64_t h)
{
    int64_t now = c->host->mono_ns();
    item **link = &c->slots[h & (c->n_slots - 1)];
    while (*link) {
        item *it = *link;
        if (it->expires_ns && it->expires_ns <= now) {
            *link = it->next;
            item_free(it);
            c->count--;
            continue;
        }
        if (it->hash == h && it->klen == klen && !memcmp(it->key, key, klen))
            return link;
        link = &it->next;
    }
    return link;
}

static void drop_expired(example_cache *c)
{
    int64_t now = c->host->mono_ns();
    for (size_t s = 0; s < c->n_slots; s++)
        for (item **link = &c->slots[s]; *link;) {
            item *it = *link;
            if (it->expires_ns && it->expires_ns <= now) {
                *link = it->next;
                item_free(it);
                c->count--;
            } else {
                link = &it->next;
            }
        }
}

/* Doubles the table when it is fuller than one item per slot; a failure keeps the old one. */
static void maybe_grow(example_cache *c)
{
    if (c->count < c->n_slots)
        return;
    size_t n = c->n_slots * 2;
    item **slots = calloc(n, sizeof *slots);
    if (!slots)
        return;
    for (size_t s = 0; s < c->n_slots; s++)
        for (item *it = c->slots[s], *next; it; it = next) {
            next = it->next;
            it->next = slots[it->hash & (n - 1)];
            slots[it->hash & (n - 1)] = it;
        }
    free(c->slots);
    c->slots = slots;
    c->n_slots = n;
}

static int64_t expiry(const example_cache *c, int64_t ttl_ms)
{
    return ttl_ms > 0 ? c->host->mono_ns() + ttl_ms * 1000000 : 0;
}

/* Stores val at key (mutex held). only_new: IMI_EEXISTS when the key is there. */
static int store(example_cache *c, const char *key, size_t klen, const void *val, size_t len,
                 int64_t expires_ns, bool only_new)
{
    uint64_t h = hash_bytes(key, klen);
    item **link = find(c, key, klen, h);
    if (*link && only_new)
        return IMI_EEXISTS;
    char *copy = malloc(len + 1);
    if (!copy)
        return c->host->error(IMI_ENOMEM, ENOMEM, "out of memory for a %zu-byte value", len);
    memcpy(copy, val, len);
    copy[len] = '\0';
    item *it = *link;
    if (!it) {
        if (c->count >= c->max_entries) {
            drop_expired(c);
            link = find(c, key, klen, h);
        }
        if (c->count >= c->max_entries) {
            free(copy);
            return c->host->error(IMI_ENOMEM, 0, "cache full: %zu keys (max_entries)", c->count);
        }
        it = malloc(sizeof *it + klen + 1);
        if (!it) {
            free(copy);
            return c->host->error(IMI_ENOMEM, ENOMEM, "out of memory for a key");
        }
        *it = (item){ .next = NULL, .hash = h, .klen = klen };
        memcpy(it->key, key, klen + 1);
        *link = it;
        c->count++;
    } else {
        free(it->val);
    }
    it->val = copy;
    it->len = len;
    it->expires_ns = expires_ns;
    maybe_grow(c);
    return IMI_OK;
}

/* ---- the vtable slots ---------------------------------------------------------------- */

static int ex_open(void *st, const imi_driver_env *env)
{
    example_cache *c = st;
    c->host = env->host;
    int64_t max = env->opts[OPT_MAX_ENTRIES].i;
    if (max <= 0)
        return env->host->error(IMI_ECONFIG, 0, "max_entries must be positive, not %" PRId64, max);
    c->max_entries = (size_t)max;
    c->n_slots = 64;
    c->slots = calloc(c->n_slots, sizeof *c->slots);
    if (!c->slots)
        return env->host->error(IMI_ENOMEM, ENOMEM, "out of memory");
    if (pthread_mutex_init(&c->mu, NULL))
        return env->host->error(IMI_EINTERNAL, 0, "cannot create a mutex");
    c->mu_ready = true;
    env->host->log(env->logger, IMI_HOST_LOG_DEBUG, NULL, "example cache open, max_entries %zu",
                   c->max_entries);
    return IMI_OK;
}

/* Also called after a failed open: release only what open got. */
static void ex_close(void *st)
{
    example_cache *c = st;
    for (size_t s = 0; c->slots && s < c->n_slots; s++)
        for (item *it = c->slots[s], *next; it; it = next) {
            next = it->next;
            item_free(it);
        }
    free(c->slots);
    c->slots = NULL;
    if (c->mu_ready)
        pthread_mutex_destroy(&c->mu);
    c->mu_ready = false;
}

static int ex_ping(void *st, const imi_ctx *ctx)
{
    (void)st, (void)ctx;
    return IMI_OK;
}

static int ex_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val)
{
    (void)ctx;
    example_cache *c = st;
    pthread_mutex_lock(&c->mu);
    item *it = *find(c, key, klen, hash_bytes(key, klen));
    int rc = it ? c->host->buf_set(val, it->val, it->len) : IMI_ENOTFOUND;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int ex_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
                  size_t len, int64_t ttl_ms)
{
    (void)ctx;
    example_cache *c = st;
    pthread_mutex_lock(&c->mu);
    int rc = store(c, key, klen, val, len, expiry(c, ttl_ms), false);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int ex_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
                    size_t len, int64_t ttl_ms)
{
    (void)ctx;
    example_cache *c = st;
    pthread_mutex_lock(&c->mu);
    int rc = store(c, key, klen, val, len, expiry(c, ttl_ms), true);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static int ex_del(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    (void)ctx;
    example_cache *c = st;
    pthread_mutex_lock(&c->mu);
    item **link = find(c, key, klen, hash_bytes(key, klen));
    item *it = *link;
    if (it) {
        *link = it->next;
        item_free(it);
        c->count--;
    }
    pthread_mutex_unlock(&c->mu);
    return it ? IMI_OK : IMI_ENOTFOUND;
}

static int ex_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    (void)ctx;
    example_cache *c = st;
    pthread_mutex_lock(&c->mu);
    bool there = *find(c, key, klen, hash_bytes(key, klen)) != NULL;
    pthread_mutex_unlock(&c->mu);
    return there ? IMI_OK : IMI_ENOTFOUND;
}

static int ex_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms)
{
    (void)ctx;
    example_cache *c = st;
    pthread_mutex_lock(&c->mu);
    item *it = *find(c, key, klen, hash_bytes(key, klen));
    if (it)
        it->expires_ns = expiry(c, ttl_ms);
    pthread_mutex_unlock(&c->mu);
    return it ? IMI_OK : IMI_ENOTFOUND;
}

static int ex_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms)
{
    (void)ctx;
    example_cache *c = st;
    pthread_mutex_lock(&c->mu);
    item *it = *find(c, key, klen, hash_bytes(key, klen));
    if (it)
        *ttl_ms = it->expires_ns ? (it->expires_ns - c->host->mono_ns() + 999999) / 1000000 : -1;
    pthread_mutex_unlock(&c->mu);
    return it ? IMI_OK : IMI_ENOTFOUND;
}

/* The whole value as a decimal int64, or -1. */
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

static int ex_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
                   int64_t *result)
{
    (void)ctx;
    example_cache *c = st;
    int64_t cur = 0;
    int rc = IMI_OK;
    pthread_mutex_lock(&c->mu);
    item *it = *find(c, key, klen, hash_bytes(key, klen));
    if (it && parse_int(it->val, it->len, &cur))
        rc = c->host->error(IMI_EINVALID, 0, "value is not an integer");
    else if ((delta > 0 && cur > INT64_MAX - delta) || (delta < 0 && cur < INT64_MIN - delta))
        rc = c->host->error(IMI_EINVALID, 0, "increment would overflow");
    if (!rc) {
        char text[24];
        int n = snprintf(text, sizeof text, "%" PRId64, cur + delta);
        /* an increment keeps the key's TTL */
        rc = store(c, key, klen, text, (size_t)n, it ? it->expires_ns : 0, false);
        if (!rc)
            *result = cur + delta;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static const imi_cache_driver example_vtable = {
    .size = sizeof(imi_cache_driver),
    .open = ex_open,
    .close = ex_close,
    .ping = ex_ping,
    .get = ex_get,
    .set = ex_set,
    .setnx = ex_setnx,
    .del = ex_del,
    .exists = ex_exists,
    .expire = ex_expire,
    .ttl = ex_ttl,
    .incr = ex_incr,
};

static const imi_driver_desc example_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_CACHE,
    .name = "example",
    .version = "1.0.0",
    .description = "example out-of-tree cache: strings with TTL in one hash table",
    .caps = 0,
    .options = example_options,
    .n_options = IMI_COUNT_OF(example_options),
    .state_size = sizeof(example_cache),
    .vtable = &example_vtable,
};

IMI_DRIVER_DEFINE(example_desc)
