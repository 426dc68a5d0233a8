/* The in-memory cache's hashes: field -> value, one table per key. */
#include <stdlib.h>
#include <string.h>
#include "mem.h"

int mem_hset(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             const void *val, size_t len)
{
    (void)ctx;
    mem_cache *m = st;
    size_t flen = strlen(field);
    uint64_t h, fh = mem_hash(field, flen);
    int rc;
    char *copy = malloc(len + 1);
    if (!copy)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    memcpy(copy, val, len);
    copy[len] = '\0';
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_or_create(m, sh, key, klen, h, E_HASH, sizeof(mitem) + flen + 1 + len, &rc);
    mnode **link = e ? mdict_find(&e->u.d, field, flen, fh) : NULL;
    mitem *it = link ? (mitem *)*link : NULL;
    if (e && !it) {
        if ((it = mitem_new(field, flen, fh)))
            mdict_add(&e->u.d, &it->node);
        else
            rc = m->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    if (it) {
        long long before = (long long)mitem_bytes(it) * (link != NULL);
        free(it->val);
        it->val = copy;
        it->vlen = len;
        copy = NULL;
        mem_account(sh, e, (long long)mitem_bytes(it) - before);
    } else if (e && !e->u.d.count) {
        mem_remove(m, sh, e);
    }
    mem_shard_unlock(sh);
    free(copy);
    return rc;
}

int mem_hget(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             imi_buf *val)
{
    (void)ctx;
    mem_cache *m = st;
    size_t flen = strlen(field);
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_HASH, &rc);
    mnode **link = e ? mdict_find(&e->u.d, field, flen, mem_hash(field, flen)) : NULL;
    if (link)
        rc = m->host->buf_set(val, ((mitem *)*link)->val, ((mitem *)*link)->vlen);
    else if (e)
        rc = mem_miss(m);
    mem_shard_unlock(sh);
    return rc;
}

int mem_hdel(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field)
{
    (void)ctx;
    mem_cache *m = st;
    size_t flen = strlen(field);
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_HASH, &rc);
    mnode **link = e ? mdict_find(&e->u.d, field, flen, mem_hash(field, flen)) : NULL;
    if (link) {
        mitem *it = (mitem *)*link;
        mdict_unlink(&e->u.d, link);
        mem_account(sh, e, -(long long)mitem_bytes(it));
        mitem_free(it);
        if (!e->u.d.count) /* an empty hash is no key, as in redis */
            mem_remove(m, sh, e);
    } else if (e) {
        rc = mem_miss(m);
    }
    mem_shard_unlock(sh);
    return rc;
}

/* The items of a hash or set, copied out under the shard lock. */
int mem_dict_snapshot(mem_cache *m, const mdict *d, snapshot *s, bool with_val)
{
    mitem **items = malloc((d->count ? d->count : 1) * sizeof *items);
    if (!items)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    size_t n = 0;
    MDICT_EACH(d, node)
        items[n++] = (mitem *)node;
    int rc = snapshot_take(m, s, items, n, with_val);
    free(items);
    return rc;
}

int mem_hgetall(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                imi_cache_each_fn fn, void *ud)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    snapshot s = { 0 };
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_HASH, &rc);
    if (e)
        rc = mem_dict_snapshot(m, &e->u.d, &s, true);
    mem_shard_unlock(sh);
    if (rc == IMI_ENOTFOUND) /* a missing hash iterates as an empty one */
        return IMI_OK;
    return rc ? rc : snapshot_run(&s, fn, ud);
}
