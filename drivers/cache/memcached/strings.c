/* The memcached driver's plain string operations. */
#include <stdlib.h>
#include <string.h>
#include "mc.h"

/* memcached_get sends one GETK and reads one reply, where memcached_mget's quiet GETKQ and
 * the NOOP that ends it go out as two writes and come back as two (1.2x the time, p50 on
 * loopback). The reply's CAS stays in the handle's own result, which memcached_get reads
 * it into. */
int mc_read(mc *m, mc_lease *l, const char *mkey, size_t mlen, mc_item *it)
{
    memcached_return_t r;
    uint32_t flags = 0;
    size_t len = 0;
    *it = (mc_item){ 0 };
    it->mem = memcached_get(l->h, mkey, mlen, &len, &flags, &r);
    if (r == MEMCACHED_NOTFOUND)
        return IMI_OK;
    if (r != MEMCACHED_SUCCESS) {
        free(it->mem);
        it->mem = NULL;
        int rc = mc_error(m, l->h, r, "get");
        memcached_quit(l->h); /* a reply may be left unread: start the next call afresh */
        return rc;
    }
    it->present = true;
    it->flags = flags;
    it->cas = memcached_result_cas(&l->h->result);
    it->len = len;
    it->val = mc_value_strip(it->mem ? it->mem : "", &it->len, flags);
    it->found = mc_left_ms(m, flags) > 0;
    return IMI_OK;
}

/* Reads one key for get, exists and ttl: IMI_ENOTFOUND for a miss. */
static int read_one(mc *m, const imi_ctx *ctx, const char *key, size_t klen, mc_item *it)
{
    char buf[MC_KEY_MAX];
    size_t mlen;
    const char *mkey = mc_key(key, klen, buf, &mlen);
    mc_lease l;
    int rc = mc_acquire(m, ctx, &l);
    *it = (mc_item){ 0 };
    if (rc)
        return rc;
    rc = mc_read(m, &l, mkey, mlen, it);
    mc_release(m, &l);
    if (!rc && !it->found)
        rc = m->host->error(IMI_ENOTFOUND, 0, "memcached: no such key");
    if (rc) {
        free(it->mem);
        it->mem = NULL;
    }
    return rc;
}

int mc_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *out)
{
    mc *m = st;
    mc_item it;
    int rc = read_one(m, ctx, key, klen, &it);
    if (!rc)
        rc = m->host->buf_set(out, it.val, it.len);
    free(it.mem);
    return rc;
}

int mc_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    mc_item it;
    int rc = read_one(st, ctx, key, klen, &it);
    free(it.mem);
    return rc;
}

int mc_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms)
{
    mc *m = st;
    mc_item it;
    int rc = read_one(m, ctx, key, klen, &it);
    free(it.mem);
    if (!rc)
        *ttl_ms = it.flags & MC_FLAG_EXPIRY ? mc_left_ms(m, it.flags) : -1;
    return rc;
}

int mc_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
           size_t len, int64_t ttl_ms)
{
    mc *m = st;
    char buf[MC_KEY_MAX];
    size_t mlen;
    const char *mkey = mc_key(key, klen, buf, &mlen);
    mc_lease l;
    mc_value v;
    int rc = mc_check_ttl(m, ttl_ms);
    if (!rc)
        rc = mc_check_value(m, len);
    if (!rc)
        rc = mc_value_make(m, &v, val, len, mc_expiry_flags(m, ttl_ms));
    if (rc)
        return rc;
    if (!(rc = mc_acquire(m, ctx, &l))) {
        memcached_return_t r = memcached_set(l.h, mkey, mlen, v.p, v.len,
                                             mc_exptime(m, v.flags), v.flags);
        rc = r == MEMCACHED_SUCCESS ? IMI_OK : mc_error(m, l.h, r, "set");
        mc_release(m, &l);
    }
    mc_value_free(&v);
    return rc;
}

int mc_del(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    mc *m = st;
    char buf[MC_KEY_MAX];
    size_t mlen;
    const char *mkey = mc_key(key, klen, buf, &mlen);
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
        ptrs[i] = mc_key(keys[i], klens[i], mkeys[i], &lens[i]);
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
            size_t i = next + j < n ? next + j : next + j - n; /* (next + j) % n */
            if (lens[i] != kl || memcmp(ptrs[i], k, kl))
                continue;
            uint32_t flags = memcached_result_flags(res);
            if (mc_left_ms(m, flags) > 0) {
                found[i] = 1;
                const char *v = memcached_result_value(res);
                size_t len = memcached_result_length(res);
                v = mc_value_strip(v ? v : "", &len, flags);
                rc = m->host->buf_set(&vals[i], v, len);
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
