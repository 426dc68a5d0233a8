/* The in-memory cache's sets: members without values, one table per key. */
#include <stdlib.h>
#include "mem.h"

int mem_sadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
             size_t len)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h, mh = mem_hash(mb, len);
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_or_create(m, sh, key, klen, h, E_SET, sizeof(mitem) + len + 1, &rc);
    if (e && mdict_find(&e->u.d, mb, len, mh)) {
        rc = IMI_EEXISTS;
    } else if (e) {
        mitem *it = mitem_new(mb, len, mh);
        if (it) {
            mdict_add(&e->u.d, &it->node);
            mem_account(sh, e, (long long)mitem_bytes(it));
        } else {
            rc = m->host->error(IMI_ENOMEM, 0, "out of memory");
            if (!e->u.d.count)
                mem_remove(m, sh, e);
        }
    }
    mem_shard_unlock(sh);
    return rc;
}

int mem_srem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
             size_t len)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_SET, &rc);
    mnode **link = e ? mdict_find(&e->u.d, mb, len, mem_hash(mb, len)) : NULL;
    if (link) {
        mitem *it = (mitem *)*link;
        mdict_unlink(&e->u.d, link);
        mem_account(sh, e, -(long long)mitem_bytes(it));
        mitem_free(it);
        if (!e->u.d.count)
            mem_remove(m, sh, e);
    } else if (e) {
        rc = mem_miss(m);
    }
    mem_shard_unlock(sh);
    return rc;
}

int mem_sismember(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
                  size_t len)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_SET, &rc);
    if (e && !mdict_find(&e->u.d, mb, len, mem_hash(mb, len)))
        rc = mem_miss(m);
    mem_shard_unlock(sh);
    return rc;
}

int mem_smembers(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                 imi_cache_each_fn fn, void *ud)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    snapshot s = { 0 };
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_SET, &rc);
    if (e)
        rc = mem_dict_snapshot(m, &e->u.d, &s, false);
    mem_shard_unlock(sh);
    if (rc == IMI_ENOTFOUND)
        return IMI_OK;
    return rc ? rc : snapshot_run(&s, fn, ud);
}
