/* The memcached driver's plain string operations. */
#include <stdlib.h>
#include <string.h>
#include "mc.h"

int mc_read(mc *m, mc_lease *l, const char *mkey, size_t mlen, bool *found, bool *present,
            char **val, size_t *len, uint32_t *flags, uint64_t *cas)
{
    const char *keys[] = { mkey };
    size_t lens[] = { mlen };
    *found = *present = false;
    *val = NULL;
    *len = 0;
    memcached_return_t r = memcached_mget(l->h, keys, lens, 1);
    if (r != MEMCACHED_SUCCESS)
        return mc_error(m, l->h, r, "get");
    memcached_result_st *res;
    int rc = IMI_OK;
    while ((res = memcached_fetch_result(l->h, NULL, &r))) {
        if (!*present && !rc) {
            *present = true;
            *flags = memcached_result_flags(res);
            *cas = memcached_result_cas(res);
            *len = memcached_result_length(res);
            *val = malloc(*len + 1);
            if (*val) {
                if (*len) /* an empty value has no buffer */
                    memcpy(*val, memcached_result_value(res), *len);
                (*val)[*len] = '\0';
            } else {
                rc = m->host->error(IMI_ENOMEM, 0, "out of memory");
            }
        }
        memcached_result_free(res);
    }
    if (!rc && r != MEMCACHED_END && r != MEMCACHED_NOTFOUND && r != MEMCACHED_SUCCESS)
        rc = mc_error(m, l->h, r, "get");
    if (rc) {
        free(*val);
        *val = NULL;
        *present = false;
        return rc;
    }
    *found = *present && mc_left_ms(m, *flags) > 0;
    return IMI_OK;
}

/* Reads one key for get, exists and ttl: IMI_ENOTFOUND for a miss; *flags as stored, *val
 * libmemcached's malloc'd copy (NULL for an empty value). memcached_get sends one GETK and
 * reads one reply; mc_read's quiet GETKQ and the NOOP that ends it go out as two writes
 * and come back as two, which took 1.2x the time of one GETK (p50, loopback). */
static int read_one(mc *m, const imi_ctx *ctx, const char *key, size_t klen, char **val,
                    size_t *len, uint32_t *flags)
{
    char mkey[MC_KEY_MAX];
    size_t mlen = mc_key(key, klen, mkey);
    mc_lease l;
    int rc = mc_acquire(m, ctx, &l);
    *val = NULL;
    if (rc)
        return rc;
    memcached_return_t r;
    *val = memcached_get(l.h, mkey, mlen, len, flags, &r);
    if (r == MEMCACHED_SUCCESS && mc_left_ms(m, *flags) > 0) {
        rc = IMI_OK;
    } else if (r == MEMCACHED_SUCCESS || r == MEMCACHED_NOTFOUND) {
        rc = m->host->error(IMI_ENOTFOUND, 0, "memcached: no such key");
    } else {
        rc = mc_error(m, l.h, r, "get");
        memcached_quit(l.h); /* a reply may be left unread: start the next call afresh */
    }
    mc_release(m, &l);
    if (rc) {
        free(*val);
        *val = NULL;
    }
    return rc;
}

int mc_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *out)
{
    mc *m = st;
    char *val;
    size_t len;
    uint32_t flags;
    int rc = read_one(m, ctx, key, klen, &val, &len, &flags);
    if (!rc)
        rc = m->host->buf_set(out, val ? val : "", len);
    free(val);
    return rc;
}

int mc_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    char *val;
    size_t len;
    uint32_t flags;
    int rc = read_one(st, ctx, key, klen, &val, &len, &flags);
    free(val);
    return rc;
}

int mc_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms)
{
    mc *m = st;
    char *val;
    size_t len;
    uint32_t flags;
    int rc = read_one(m, ctx, key, klen, &val, &len, &flags);
    free(val);
    if (!rc)
        *ttl_ms = flags ? mc_left_ms(m, flags) : -1;
    return rc;
}

int mc_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
           size_t len, int64_t ttl_ms)
{
    mc *m = st;
    char mkey[MC_KEY_MAX];
    size_t mlen = mc_key(key, klen, mkey);
    mc_lease l;
    int rc = mc_check_ttl(m, ttl_ms);
    if (!rc)
        rc = mc_check_value(m, len);
    if (!rc)
        rc = mc_acquire(m, ctx, &l);
    if (rc)
        return rc;
    uint32_t flags = mc_expiry_flags(m, ttl_ms);
    memcached_return_t r = memcached_set(l.h, mkey, mlen, val, len, mc_exptime(m, flags), flags);
    rc = r == MEMCACHED_SUCCESS ? IMI_OK : mc_error(m, l.h, r, "set");
    mc_release(m, &l);
    return rc;
}

int mc_del(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    mc *m = st;
    char mkey[MC_KEY_MAX];
    size_t mlen = mc_key(key, klen, mkey);
    mc_lease l;
    int rc = mc_acquire(m, ctx, &l);
    if (rc)
        return rc;
    memcached_return_t r = memcached_delete(l.h, mkey, mlen, 0);
    rc = r == MEMCACHED_SUCCESS ? IMI_OK
         : r == MEMCACHED_NOTFOUND ? m->host->error(IMI_ENOTFOUND, 0, "memcached: no such key")
                                   : mc_error(m, l.h, r, "delete");
    mc_release(m, &l);
    return rc;
}

int mc_mget(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
            size_t n, imi_buf *vals, int *found)
{
    mc *m = st;
    /* the pointers, lengths and memcached keys in one block (the keys last: no alignment) */
    const char **ptrs = malloc(n * (sizeof(char *) + sizeof(size_t) + MC_KEY_MAX));
    size_t *lens = ptrs ? (size_t *)(ptrs + n) : NULL;
    char (*mkeys)[MC_KEY_MAX] = ptrs ? (char (*)[MC_KEY_MAX])(lens + n) : NULL;
    int rc = ptrs ? IMI_OK : m->host->error(IMI_ENOMEM, 0, "out of memory");
    mc_lease l = { 0 };
    if (!rc)
        rc = mc_acquire(m, ctx, &l);
    for (size_t i = 0; i < n && !rc; i++) {
        lens[i] = mc_key(keys[i], klens[i], mkeys[i]);
        ptrs[i] = mkeys[i];
        found[i] = 0;
    }
    memcached_return_t r = rc ? MEMCACHED_SUCCESS : memcached_mget(l.h, ptrs, lens, n);
    if (!rc && r != MEMCACHED_SUCCESS)
        rc = mc_error(m, l.h, r, "mget");
    /* one result for every reply: its value buffer is kept from one reply to the next */
    memcached_result_st store, *res = rc ? NULL : memcached_result_create(l.h, &store);
    if (!rc && !res)
        rc = m->host->error(IMI_ENOMEM, 0, "out of memory");
    size_t next = 0; /* results mostly come back in key order: start the search there */
    while (!rc && memcached_fetch_result(l.h, res, &r)) {
        const char *k = memcached_result_key_value(res);
        size_t kl = memcached_result_key_length(res);
        for (size_t j = 0; j < n; j++) {
            size_t i = (next + j) % n;
            if (lens[i] != kl || memcmp(ptrs[i], k, kl))
                continue;
            if (mc_left_ms(m, memcached_result_flags(res)) > 0) {
                found[i] = 1;
                const char *v = memcached_result_value(res);
                rc = m->host->buf_set(&vals[i], v ? v : "", memcached_result_length(res));
            }
            next = i + 1;
            break;
        }
    }
    if (!rc && r != MEMCACHED_END && r != MEMCACHED_NOTFOUND && r != MEMCACHED_SUCCESS)
        rc = mc_error(m, l.h, r, "mget");
    if (res)
        memcached_result_free(res);
    if (rc && l.h)
        memcached_quit(l.h); /* results may be left unread: start the next call afresh */
    if (l.h)
        mc_release(m, &l);
    free(ptrs);
    return rc;
}
