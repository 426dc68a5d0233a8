/* The in-memory cache's string operations. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mem.h"

int mem_store_locked(mem_cache *m, shard *sh, entry *e, const char *key, size_t klen,
                     uint64_t h, const void *val, size_t len, int64_t expires_ns)
{
    size_t base = mem_entry_base(klen);
    size_t old = e ? e->bytes - base : 0;
    int rc = mem_make_room(m, sh, e, e ? (len > old ? len - old : 0) : base + len, e ? 0 : 1);
    if (rc)
        return rc;
    char *copy = malloc(len + 1);
    if (!copy)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    memcpy(copy, val, len);
    copy[len] = '\0';
    if (!e && !(e = mem_create(m, sh, key, klen, h, E_STR))) {
        free(copy);
        return IMI_ENOMEM;
    }
    mem_clear_value(e);
    e->u.s.val = copy;
    e->u.s.len = len;
    e->expires_ns = expires_ns;
    mem_account(sh, e, (long long)(base + len) - (long long)e->bytes);
    return IMI_OK;
}

static int store(mem_cache *m, const char *key, size_t klen, const void *val, size_t len,
                 int64_t ttl_ms, bool only_new)
{
    uint64_t h;
    if (mem_check_ttl(m, ttl_ms))
        return IMI_EINVALID;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    int rc = e && only_new ? IMI_EEXISTS
                           : mem_store_locked(m, sh, e, key, klen, h, val, len, mem_expiry(m, ttl_ms));
    mem_shard_unlock(sh);
    return rc;
}

int mem_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
            size_t len, int64_t ttl_ms)
{
    (void)ctx;
    return store(st, key, klen, val, len, ttl_ms, false);
}

int mem_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
              size_t len, int64_t ttl_ms)
{
    (void)ctx;
    return store(st, key, klen, val, len, ttl_ms, true);
}

int mem_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *out)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_STR, &rc);
    if (e)
        rc = m->host->buf_set(out, e->u.s.val, e->u.s.len);
    mem_shard_unlock(sh);
    return rc;
}

int mem_del(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    if (e)
        mem_remove(m, sh, e);
    mem_shard_unlock(sh);
    return e ? IMI_OK : mem_miss(m);
}

int mem_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    mem_shard_unlock(sh);
    return e ? IMI_OK : mem_miss(m);
}

int mem_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    if (mem_check_ttl(m, ttl_ms))
        return IMI_EINVALID;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    if (e)
        e->expires_ns = mem_expiry(m, ttl_ms);
    mem_shard_unlock(sh);
    return e ? IMI_OK : mem_miss(m);
}

int mem_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    if (e) {
        int64_t left = e->expires_ns - m->host->mono_ns();
        *ttl_ms = e->expires_ns ? (left + 999999) / 1000000 : -1;
    }
    mem_shard_unlock(sh);
    return e ? IMI_OK : mem_miss(m);
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

int mem_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
             int64_t *result)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int64_t cur = 0;
    int rc = IMI_OK;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find(m, sh, key, klen, h);
    if (e && (e->type != E_STR || parse_int(e->u.s.val, e->u.s.len, &cur)))
        rc = m->host->error(IMI_EINVALID, 0, "value is not an integer");
    else if ((delta > 0 && cur > INT64_MAX - delta) || (delta < 0 && cur < INT64_MIN - delta))
        rc = m->host->error(IMI_EINVALID, 0, "increment would overflow");
    if (!rc) {
        char text[24];
        int n = snprintf(text, sizeof text, "%" PRId64, cur + delta);
        rc = mem_store_locked(m, sh, e, key, klen, h, text, (size_t)n, e ? e->expires_ns : 0);
        if (!rc)
            *result = cur + delta;
    }
    mem_shard_unlock(sh);
    return rc;
}

int mem_mget(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             size_t n, imi_buf *vals, int *found)
{
    for (size_t i = 0; i < n; i++) {
        int rc = mem_get(st, ctx, keys[i], klens[i], &vals[i]);
        found[i] = rc == IMI_OK;
        /* a key of another type reads as a miss, as in MGET */
        if (rc && rc != IMI_ENOTFOUND && rc != IMI_EINVALID)
            return rc;
    }
    return IMI_OK;
}

int mem_mset(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             const imi_bytes *vals, size_t n, int64_t ttl_ms)
{
    for (size_t i = 0; i < n; i++) {
        int rc = mem_set(st, ctx, keys[i], klens[i], vals[i].data, vals[i].len, ttl_ms);
        if (rc)
            return rc;
    }
    return IMI_OK;
}
