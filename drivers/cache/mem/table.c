/* The in-memory cache's tables: hashing, shards, entries, LRU order, eviction, expiry. */
#include <stdlib.h>
#include <string.h>
#include "mem.h"

uint64_t mem_hash(const void *key, size_t len)
{
    const unsigned char *k = key;
    uint64_t h = 1469598103934665603u; /* FNV-1a, then a final mix so both ends are usable */
    for (size_t i = 0; i < len; i++)
        h = (h ^ k[i]) * 1099511628211u;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    return h;
}

/* ---- byte-keyed tables ---------------------------------------------------------------- */

int mdict_init(mdict *d, size_t n_slots)
{
    d->slots = calloc(n_slots, sizeof *d->slots);
    d->n_slots = d->slots ? n_slots : 0;
    d->count = 0;
    return d->slots ? 0 : -1;
}

void mdict_free(mdict *d)
{
    free(d->slots);
    *d = (mdict){ 0 };
}

mnode **mdict_find(const mdict *d, const void *key, size_t klen, uint64_t h)
{
    if (!d->n_slots)
        return NULL;
    for (mnode **p = &d->slots[h & (d->n_slots - 1)]; *p; p = &(*p)->next)
        if ((*p)->hash == h && (*p)->klen == klen && !memcmp((*p)->key, key, klen))
            return p;
    return NULL;
}

static void mdict_grow(mdict *d)
{
    size_t n = d->n_slots * 2;
    mnode **slots = calloc(n, sizeof *slots);
    if (!slots)
        return; /* keep the old table: longer chains, still correct */
    for (size_t i = 0; i < d->n_slots; i++)
        for (mnode *it = d->slots[i], *next; it; it = next) {
            next = it->next;
            it->next = slots[it->hash & (n - 1)];
            slots[it->hash & (n - 1)] = it;
        }
    free(d->slots);
    d->slots = slots;
    d->n_slots = n;
}

void mdict_add(mdict *d, mnode *n)
{
    mnode **slot = &d->slots[n->hash & (d->n_slots - 1)];
    n->next = *slot;
    *slot = n;
    if (++d->count > d->n_slots)
        mdict_grow(d);
}

void mdict_unlink(mdict *d, mnode **link)
{
    *link = (*link)->next;
    d->count--;
}

mitem *mitem_new(const void *key, size_t klen, uint64_t h)
{
    mitem *it = calloc(1, sizeof *it + klen + 1);
    if (!it)
        return NULL;
    memcpy(it->keybuf, key, klen);
    it->node = (mnode){ .hash = h, .key = it->keybuf, .klen = klen };
    return it;
}

void mitem_free(mitem *it)
{
    if (it) {
        free(it->val);
        free(it);
    }
}

size_t mitem_bytes(const mitem *it)
{
    return sizeof *it + it->node.klen + 1 + it->vlen;
}

/* ---- shards and entries --------------------------------------------------------------- */

shard *mem_shard_lock(mem_cache *m, const char *key, size_t klen, uint64_t *h)
{
    *h = mem_hash(key, klen);
    shard *sh = &m->shards[(*h >> 40) & (m->n_shards - 1)];
    pthread_mutex_lock(&sh->mu);
    return sh;
}

void mem_shard_unlock(shard *sh)
{
    pthread_mutex_unlock(&sh->mu);
}

static void lru_unlink(shard *sh, entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        sh->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        sh->tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_push_front(shard *sh, entry *e)
{
    e->prev = NULL;
    e->next = sh->head;
    if (sh->head)
        sh->head->prev = e;
    sh->head = e;
    if (!sh->tail)
        sh->tail = e;
}

size_t mem_entry_base(size_t klen)
{
    return sizeof(entry) + klen + 1;
}

void mem_clear_value(entry *e)
{
    switch (e->type) {
    case E_STR:
        free(e->u.s.val);
        break;
    case E_HASH:
    case E_SET:
        MDICT_EACH(&e->u.d, n)
            mitem_free((mitem *)n);
        mdict_free(&e->u.d);
        break;
    case E_ZSET:
        mem_zset_free(e);
        break;
    case E_BUCKET:
        break;
    }
    memset(&e->u, 0, sizeof e->u);
    e->type = E_STR;
}

void mem_remove(mem_cache *m, shard *sh, entry *e)
{
    (void)m;
    mnode **link = mdict_find(&sh->table, e->node.key, e->node.klen, e->node.hash);
    if (link)
        mdict_unlink(&sh->table, link);
    lru_unlink(sh, e);
    sh->bytes -= e->bytes;
    mem_clear_value(e);
    free(e);
}

void mem_account(shard *sh, entry *e, long long delta)
{
    e->bytes = (size_t)((long long)e->bytes + delta);
    sh->bytes = (size_t)((long long)sh->bytes + delta);
}

entry *mem_find(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h)
{
    mnode **link = mdict_find(&sh->table, key, klen, h);
    if (!link)
        return NULL;
    entry *e = (entry *)*link;
    if (e->expires_ns && e->expires_ns <= m->host->mono_ns()) {
        mem_remove(m, sh, e);
        return NULL;
    }
    if (sh->head != e) {
        lru_unlink(sh, e);
        lru_push_front(sh, e);
    }
    return e;
}

entry *mem_find_type(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h,
                     etype type, int *rc)
{
    entry *e = mem_find(m, sh, key, klen, h);
    if (!e)
        *rc = mem_miss(m);
    else if (e->type != type)
        *rc = m->host->error(IMI_EINVALID, 0, "key holds a value of another type");
    else
        *rc = IMI_OK;
    return *rc ? NULL : e;
}

int mem_make_room(mem_cache *m, shard *sh, const entry *keep, size_t more_bytes,
                  size_t more_entries)
{
    if (sh->max_bytes && more_bytes + (keep ? keep->bytes : 0) > sh->max_bytes)
        return m->host->error(IMI_ENOMEM, 0, "value too large for the cache: %zu bytes, "
                              "a shard holds %zu (max_bytes)", more_bytes, sh->max_bytes);
    while ((sh->table.count + more_entries > sh->max_entries ||
            (sh->max_bytes && sh->bytes + more_bytes > sh->max_bytes))) {
        entry *victim = sh->tail;
        if (victim == keep)
            victim = victim->prev;
        if (!victim)
            break;
        mem_remove(m, sh, victim);
        m->evictions++;
    }
    return IMI_OK;
}

entry *mem_create(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h,
                  etype type)
{
    entry *e = calloc(1, sizeof *e + klen + 1);
    if (!e) {
        m->host->error(IMI_ENOMEM, 0, "out of memory");
        return NULL;
    }
    memcpy(e->keybuf, key, klen);
    e->node = (mnode){ .hash = h, .key = e->keybuf, .klen = klen };
    e->type = type;
    if ((type == E_HASH || type == E_SET) && mdict_init(&e->u.d, 8)) {
        free(e);
        m->host->error(IMI_ENOMEM, 0, "out of memory");
        return NULL;
    }
    if (type == E_ZSET && mdict_init(&e->u.z.d, 8)) {
        free(e);
        m->host->error(IMI_ENOMEM, 0, "out of memory");
        return NULL;
    }
    mdict_add(&sh->table, &e->node);
    lru_push_front(sh, e);
    mem_account(sh, e, (long long)mem_entry_base(klen));
    return e;
}

int64_t mem_expiry(mem_cache *m, int64_t ttl_ms)
{
    return ttl_ms > 0 ? m->host->mono_ns() + imi_ms_to_ns_sat(ttl_ms) : 0;
}

int mem_miss(mem_cache *m) { return m->host->error(IMI_ENOTFOUND, 0, "no such key"); }

int mem_check_ttl(mem_cache *m, int64_t ttl_ms)
{
    if (ttl_ms >= 0 && ttl_ms <= IMI_CACHE_TTL_MAX_MS)
        return IMI_OK;
    return m->host->error(IMI_EINVALID, 0, "ttl %lld ms is outside 0 to %lld ms (100 years)",
                          (long long)ttl_ms, (long long)IMI_CACHE_TTL_MAX_MS);
}

void mem_sweep(mem_cache *m)
{
    for (size_t i = 0; i < m->n_shards; i++) {
        shard *sh = &m->shards[i];
        pthread_mutex_lock(&sh->mu);
        int64_t now = m->host->mono_ns();
        for (entry *e = sh->head, *next; e; e = next) {
            next = e->next;
            if (e->expires_ns && e->expires_ns <= now)
                mem_remove(m, sh, e);
        }
        pthread_mutex_unlock(&sh->mu);
    }
}

/* ---- snapshots for iteration ---------------------------------------------------------- */

int snapshot_take(mem_cache *m, snapshot *s, mitem *const *items, size_t n, bool with_val)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i]->node.klen + 1 + (with_val ? items[i]->vlen + 1 : 0);
    s->n = n;
    s->items = malloc((n ? n : 1) * sizeof *s->items);
    s->mem = malloc(total ? total : 1);
    if (!s->items || !s->mem) {
        free(s->items);
        free(s->mem);
        *s = (snapshot){ 0 };
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    char *p = s->mem;
    for (size_t i = 0; i < n; i++) {
        const mitem *it = items[i];
        struct snap_item *o = &s->items[i];
        memcpy(p, it->node.key, it->node.klen);
        p[it->node.klen] = '\0';
        *o = (struct snap_item){ .item = p, .ilen = it->node.klen, .score = it->score };
        p += it->node.klen + 1;
        if (with_val) {
            memcpy(p, it->val ? it->val : "", it->vlen);
            p[it->vlen] = '\0';
            o->val = p;
            o->vlen = it->vlen;
            p += it->vlen + 1;
        }
    }
    return IMI_OK;
}

int snapshot_run(snapshot *s, imi_cache_each_fn fn, void *ud)
{
    for (size_t i = 0; i < s->n; i++) {
        const struct snap_item *o = &s->items[i];
        if (fn(ud, o->item, o->ilen, o->val, o->vlen, o->score))
            break;
    }
    free(s->items);
    free(s->mem);
    return IMI_OK;
}

entry *mem_find_or_create(mem_cache *m, shard *sh, const char *key, size_t klen, uint64_t h,
                          etype type, size_t more_bytes, int *rc)
{
    entry *e = mem_find_type(m, sh, key, klen, h, type, rc);
    if (*rc == IMI_ENOTFOUND) {
        size_t base = mem_entry_base(klen);
        if ((*rc = mem_make_room(m, sh, NULL, base + more_bytes, 1)))
            return NULL;
        e = mem_create(m, sh, key, klen, h, type);
        *rc = e ? IMI_OK : IMI_ENOMEM;
    } else if (e) {
        *rc = mem_make_room(m, sh, e, more_bytes, 0);
    }
    return *rc ? NULL : e;
}
