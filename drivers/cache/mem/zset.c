/* The in-memory cache's sorted sets: a member table plus an array in rank order
 * (score, then member bytes, as redis orders ties). Inserting moves pointers: O(n),
 * which is fine at the sizes an in-process test cache holds. */
#include <stdlib.h>
#include <string.h>
#include "mem.h"

static int zcmp(double score, const void *mb, size_t len, const mitem *it)
{
    if (score != it->score)
        return score < it->score ? -1 : 1;
    size_t n = len < it->node.klen ? len : it->node.klen;
    int c = memcmp(mb, it->node.key, n);
    if (c)
        return c;
    return len < it->node.klen ? -1 : len > it->node.klen;
}

/* The rank where (score, member) is or would go among the first n ranks. */
static size_t zpos(const entry *e, size_t n, double score, const void *mb, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (zcmp(score, mb, len, e->u.z.rank[mid]) > 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Takes it out of the rank array (the table still holds it). */
static void zunrank(entry *e, mitem *it)
{
    size_t n = e->u.z.d.count, at = zpos(e, n, it->score, it->node.key, it->node.klen);
    memmove(&e->u.z.rank[at], &e->u.z.rank[at + 1], (n - at - 1) * sizeof *e->u.z.rank);
}

void mem_zset_free(entry *e)
{
    MDICT_EACH(&e->u.z.d, n)
        mitem_free((mitem *)n);
    mdict_free(&e->u.z.d);
    free(e->u.z.rank);
}

int mem_zadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
             size_t len, double score)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h, mh = mem_hash(mb, len);
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    size_t more = sizeof(mitem) + len + 1 + sizeof(mitem *);
    entry *e = mem_find_or_create(m, sh, key, klen, h, E_ZSET, more, &rc);
    mnode **link = e ? mdict_find(&e->u.z.d, mb, len, mh) : NULL;
    size_t n = e ? e->u.z.d.count : 0;
    if (link) {
        mitem *it = (mitem *)*link;
        zunrank(e, it);
        it->score = score;
        size_t at = zpos(e, n - 1, score, mb, len); /* among the n - 1 others */
        memmove(&e->u.z.rank[at + 1], &e->u.z.rank[at], (n - 1 - at) * sizeof *e->u.z.rank);
        e->u.z.rank[at] = it;
    } else if (e) {
        mitem *it = NULL;
        if (n == e->u.z.cap) {
            size_t cap = e->u.z.cap ? e->u.z.cap * 2 : 8;
            mitem **r = realloc(e->u.z.rank, cap * sizeof *r);
            if (r) {
                e->u.z.rank = r;
                e->u.z.cap = cap;
            }
        }
        if (n < e->u.z.cap && (it = mitem_new(mb, len, mh))) {
            it->score = score;
            size_t at = zpos(e, n, score, mb, len);
            memmove(&e->u.z.rank[at + 1], &e->u.z.rank[at], (n - at) * sizeof *e->u.z.rank);
            e->u.z.rank[at] = it;
            mdict_add(&e->u.z.d, &it->node);
            mem_account(sh, e, (long long)(mitem_bytes(it) + sizeof it));
        } else {
            rc = m->host->error(IMI_ENOMEM, 0, "out of memory");
            if (!n)
                mem_remove(m, sh, e);
        }
    }
    mem_shard_unlock(sh);
    return rc;
}

int mem_zrem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
             size_t len)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_ZSET, &rc);
    mnode **link = e ? mdict_find(&e->u.z.d, mb, len, mem_hash(mb, len)) : NULL;
    if (link) {
        mitem *it = (mitem *)*link;
        zunrank(e, it);
        mdict_unlink(&e->u.z.d, link);
        mem_account(sh, e, -(long long)(mitem_bytes(it) + sizeof it));
        mitem_free(it);
        if (!e->u.z.d.count)
            mem_remove(m, sh, e);
    } else if (e) {
        rc = mem_miss(m);
    }
    mem_shard_unlock(sh);
    return rc;
}

int mem_zscore(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *mb,
               size_t len, double *score)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_ZSET, &rc);
    mnode **link = e ? mdict_find(&e->u.z.d, mb, len, mem_hash(mb, len)) : NULL;
    if (link)
        *score = ((mitem *)*link)->score;
    else if (e)
        rc = mem_miss(m);
    mem_shard_unlock(sh);
    return rc;
}

int mem_zrange(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t start,
               int64_t stop, imi_cache_each_fn fn, void *ud)
{
    (void)ctx;
    mem_cache *m = st;
    uint64_t h;
    int rc;
    snapshot s = { 0 };
    shard *sh = mem_shard_lock(m, key, klen, &h);
    entry *e = mem_find_type(m, sh, key, klen, h, E_ZSET, &rc);
    if (e) {
        /* ZRANGE's rules: negative ranks count from the end, out-of-range ends clamp. */
        int64_t n = (int64_t)e->u.z.d.count;
        if (start < 0)
            start = start + n < 0 ? 0 : start + n;
        if (stop < 0)
            stop += n;
        if (stop >= n)
            stop = n - 1;
        size_t count = start > stop ? 0 : (size_t)(stop - start + 1);
        rc = snapshot_take(m, &s, count ? e->u.z.rank + start : NULL, count, false);
    }
    mem_shard_unlock(sh);
    if (rc == IMI_ENOTFOUND)
        return IMI_OK;
    return rc ? rc : snapshot_run(&s, fn, ud);
}
