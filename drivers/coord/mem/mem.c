/* The in-memory coord driver: a revisioned key-value store with CAS, leases (a reaper
 * thread ends expired ones and deletes their keys) and watches (mem_watch.c), shared by
 * every handle of one `namespace` in the process. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mem.h"

enum { OPT_NAMESPACE, OPT_HISTORY, OPT_FEATURES };

static const imi_option_spec mem_options[] = {
    [OPT_NAMESPACE] = { .name = "namespace", .type = IMI_OPT_STRING, .default_value = "default",
                        .help = "handles of the same namespace in one process share one store" },
    [OPT_HISTORY] = { .name = "history", .type = IMI_OPT_INT, .default_value = "10000",
                      .help = "events kept for watches that start at a past revision" },
    [OPT_FEATURES] = { .name = "features", .type = IMI_OPT_LIST, .default_value = "watch, lease",
                       .help = "what this instance offers: watch, lease, or none (to stand in "
                               "for a backend without them)" },
};

/* The capability bits of a `features` list. */
static int parse_features(const imi_host_api *host, const char *list, uint64_t *caps)
{
    *caps = 0;
    for (const char *p = list ? list : ""; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (n == 5 && !strncmp(p, "watch", 5))
            *caps |= IMI_COORD_CAP_WATCH;
        else if (n == 5 && !strncmp(p, "lease", 5))
            *caps |= IMI_COORD_CAP_LEASE;
        else if (n && !(n == 4 && !strncmp(p, "none", 4)))
            return host->error(IMI_ECONFIG, 0, "features: unknown feature '%.*s' (known: watch, "
                               "lease, none)", (int)n, p);
        p += n;
    }
    return IMI_OK;
}

static pthread_mutex_t stores_mu = PTHREAD_MUTEX_INITIALIZER;
static mem_store *stores;

/* ---- the store ------------------------------------------------------------------------ */

static int key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : (alen > blen) - (alen < blen);
}

/* Index of key, or where it would go (*found false). */
static size_t find(const mem_store *s, const char *key, size_t klen, bool *found)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = key_cmp(s->items[mid]->key, s->items[mid]->klen, key, klen);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static void kv_free(mem_kv *kv)
{
    free(kv->key);
    free(kv->val);
    free(kv);
}

/* Removes item i, emitting its delete at rev. */
static void remove_at(mem_store *s, size_t i, int64_t rev)
{
    mem_kv *kv = s->items[i];
    mem_emit_locked(s, IMI_COORD_EVENT_DELETE, kv, rev);
    memmove(&s->items[i], &s->items[i + 1], (s->n - i - 1) * sizeof *s->items);
    s->n--;
    kv_free(kv);
}

static mem_lease **lease_find(mem_store *s, int64_t id)
{
    mem_lease **p = &s->leases;
    while (*p && (*p)->id != id)
        p = &(*p)->next;
    return p;
}

/* Ends lease *p and deletes its keys (one revision for all of them). */
static void lease_end_locked(mem_store *s, mem_lease **p)
{
    mem_lease *l = *p;
    *p = l->next;
    bool any = false;
    for (size_t i = 0; i < s->n; i++)
        any = any || s->items[i]->m.lease == l->id;
    if (any) {
        int64_t rev = ++s->rev;
        for (size_t i = s->n; i-- > 0;)
            if (s->items[i]->m.lease == l->id)
                remove_at(s, i, rev);
    }
    free(l);
}

/* The lease if alive; an expired one is ended on the way. */
static mem_lease *lease_live(mem_store *s, int64_t id)
{
    mem_lease **p = lease_find(s, id);
    if (*p && (*p)->expires_ns <= s->host->mono_ns()) {
        lease_end_locked(s, p);
        return NULL;
    }
    return *p;
}

static void *reaper_main(void *arg)
{
    mem_store *s = arg;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        int64_t now = s->host->mono_ns(), next = 0;
        for (mem_lease **p = &s->leases; *p;) {
            if ((*p)->expires_ns <= now) {
                lease_end_locked(s, p);
                continue;
            }
            if (!next || (*p)->expires_ns < next)
                next = (*p)->expires_ns;
            p = &(*p)->next;
        }
        if (!next) {
            pthread_cond_wait(&s->reaper_cond, &s->mu);
        } else {
            struct timespec ts = { next / 1000000000, next % 1000000000 };
            pthread_cond_timedwait(&s->reaper_cond, &s->mu, &ts);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

static void store_free(mem_store *s)
{
    for (size_t i = 0; i < s->n; i++)
        kv_free(s->items[i]);
    free(s->items);
    for (mem_lease *l = s->leases, *next; l; l = next) {
        next = l->next;
        free(l);
    }
    mem_history_free(s);
    pthread_cond_destroy(&s->reaper_cond);
    pthread_mutex_destroy(&s->mu);
    free(s->name);
    free(s);
}

static mem_store *store_new(const char *name, int64_t history, const imi_host_api *host)
{
    mem_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->host = host;
    s->hist_cap = (size_t)history;
    s->name = strdup(name);
    s->hist = calloc(s->hist_cap ? s->hist_cap : 1, sizeof *s->hist);
    /* Lease ids look like etcd's: large, positive, different per store. */
    s->next_lease = (int64_t)((uint64_t)host->real_ns() & 0x3fffffffffffull) << 16;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->reaper_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!s->name || !s->hist || pthread_create(&s->reaper, NULL, reaper_main, s)) {
        store_free(s);
        return NULL;
    }
    return s;
}

static int mem_open(void *st, const imi_driver_env *env)
{
    mem_coord *m = st;
    m->host = env->host;
    const char *name = env->opts[OPT_NAMESPACE].str;
    int64_t history = env->opts[OPT_HISTORY].i;
    if (!name || !*name)
        return env->host->error(IMI_ECONFIG, 0, "namespace must not be empty");
    if (history < 0 || history > 10000000)
        return env->host->error(IMI_ECONFIG, 0, "history must be in [0, 10000000], not %" PRId64,
                                history);
    int rc = parse_features(env->host, env->opts[OPT_FEATURES].str, &m->caps);
    if (rc)
        return rc;
    pthread_mutex_lock(&stores_mu);
    mem_store *s = stores;
    while (s && strcmp(s->name, name))
        s = s->next;
    if (!s && (s = store_new(name, history, env->host))) {
        s->next = stores;
        stores = s;
    }
    if (s)
        s->refs++;
    pthread_mutex_unlock(&stores_mu);
    if (!s)
        return env->host->error(IMI_ENOMEM, 0, "out of memory");
    m->s = s;
    return IMI_OK;
}

static void mem_close(void *st)
{
    mem_coord *m = st;
    mem_store *s = m->s;
    if (!s)
        return;
    mem_watch_cancel_all(m);
    pthread_mutex_lock(&stores_mu);
    bool last = --s->refs == 0;
    if (last)
        for (mem_store **p = &stores; *p; p = &(*p)->next)
            if (*p == s) {
                *p = s->next;
                break;
            }
    pthread_mutex_unlock(&stores_mu);
    if (!last)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = true;
    pthread_cond_signal(&s->reaper_cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->reaper, NULL);
    store_free(s);
}

static uint64_t mem_caps(void *st) { return ((mem_coord *)st)->caps; }

static int mem_ping(void *st, const imi_ctx *ctx)
{
    (void)st;
    (void)ctx;
    return IMI_OK;
}

/* ---- key-value ------------------------------------------------------------------------ */

static int mem_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val,
                   imi_coord_meta *meta)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    bool found;
    pthread_mutex_lock(&s->mu);
    size_t i = find(s, key, klen, &found);
    int rc = IMI_OK;
    if (!found) {
        rc = m->host->error(IMI_ENOTFOUND, 0, "no key '%s'", key);
    } else {
        *meta = s->items[i]->m;
        rc = m->host->buf_set(val, s->items[i]->val, s->items[i]->vlen);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* Writes key at a new revision; lock held. val is copied. */
static int put_locked(mem_coord *m, const char *key, size_t klen, const void *val, size_t len,
                      int64_t lease, int64_t *rev)
{
    mem_store *s = m->s;
    if (lease && !lease_live(s, lease))
        return m->host->error(IMI_ENOTFOUND, 0, "lease %" PRId64 " does not exist", lease);
    char *copy = malloc(len + 1);
    if (!copy)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    memcpy(copy, val, len);
    copy[len] = '\0';
    bool found;
    size_t i = find(s, key, klen, &found);
    mem_kv *kv;
    if (found) {
        kv = s->items[i];
        free(kv->val);
    } else {
        if (s->n == s->cap) {
            size_t cap = s->cap ? s->cap * 2 : 64;
            mem_kv **items = realloc(s->items, cap * sizeof *items);
            if (!items) {
                free(copy);
                return m->host->error(IMI_ENOMEM, 0, "out of memory");
            }
            s->items = items;
            s->cap = cap;
        }
        kv = calloc(1, sizeof *kv);
        if (!kv || !(kv->key = malloc(klen + 1))) {
            free(kv);
            free(copy);
            return m->host->error(IMI_ENOMEM, 0, "out of memory");
        }
        memcpy(kv->key, key, klen + 1);
        kv->klen = klen;
        memmove(&s->items[i + 1], &s->items[i], (s->n - i) * sizeof *s->items);
        s->items[i] = kv;
        s->n++;
    }
    *rev = ++s->rev;
    kv->val = copy;
    kv->vlen = len;
    if (!found) {
        kv->m.create_rev = *rev;
        kv->m.version = 0;
    }
    kv->m.version++;
    kv->m.mod_rev = *rev;
    kv->m.lease = lease;
    mem_emit_locked(s, IMI_COORD_EVENT_PUT, kv, *rev);
    return IMI_OK;
}

static int mem_put(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
                   size_t len, int64_t lease, int64_t *rev)
{
    (void)ctx;
    mem_coord *m = st;
    pthread_mutex_lock(&m->s->mu);
    int rc = put_locked(m, key, klen, val, len, lease, rev);
    pthread_mutex_unlock(&m->s->mu);
    return rc;
}

static bool has_prefix(const mem_kv *kv, const char *p, size_t plen)
{
    return kv->klen >= plen && !memcmp(kv->key, p, plen);
}

static int mem_del(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
                   int64_t *deleted, int64_t *rev)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    bool found;
    pthread_mutex_lock(&s->mu);
    size_t i = find(s, key, klen, &found), end = i;
    if (prefix) {
        while (end < s->n && has_prefix(s->items[end], key, klen))
            end++;
    } else if (found) {
        end = i + 1;
    }
    *deleted = (int64_t)(end - i);
    if (end > i) {
        int64_t r = ++s->rev;
        while (end-- > i)
            remove_at(s, end, r);
    }
    *rev = s->rev;
    pthread_mutex_unlock(&s->mu);
    return IMI_OK;
}

static int mem_list(void *st, const imi_ctx *ctx, const char *prefix, size_t plen,
                    imi_coord_driver_kv_fn fn, void *ud, int64_t *rev)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    bool found;
    /* A snapshot under the lock, handed out without it. */
    pthread_mutex_lock(&s->mu);
    size_t i = find(s, prefix, plen, &found), end = i;
    while (end < s->n && has_prefix(s->items[end], prefix, plen))
        end++;
    size_t n = end - i;
    mem_kv *snap = calloc(n ? n : 1, sizeof *snap);
    int rc = snap ? IMI_OK : m->host->error(IMI_ENOMEM, 0, "out of memory");
    for (size_t j = 0; j < n && !rc; j++) {
        const mem_kv *kv = s->items[i + j];
        snap[j] = (mem_kv){ .key = malloc(kv->klen + 1), .klen = kv->klen,
                            .val = malloc(kv->vlen + 1), .vlen = kv->vlen, .m = kv->m };
        if (!snap[j].key || !snap[j].val) {
            rc = m->host->error(IMI_ENOMEM, 0, "out of memory");
            break;
        }
        memcpy(snap[j].key, kv->key, kv->klen + 1);
        memcpy(snap[j].val, kv->val, kv->vlen + 1);
    }
    *rev = s->rev;
    pthread_mutex_unlock(&s->mu);
    bool stop = false;
    for (size_t j = 0; j < n && snap; j++) {
        if (!rc && !stop)
            stop = fn(ud, snap[j].key, snap[j].klen, snap[j].val, snap[j].vlen, &snap[j].m) != 0;
        free(snap[j].key);
        free(snap[j].val);
    }
    free(snap);
    return rc;
}

static int mem_cas(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                   imi_coord_cmp_target target, int64_t expect, const imi_coord_write *w,
                   int64_t *rev)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    bool found;
    pthread_mutex_lock(&s->mu);
    size_t i = find(s, key, klen, &found);
    imi_coord_meta cur = found ? s->items[i]->m : (imi_coord_meta){ 0 };
    int64_t have = target == IMI_COORD_CMP_VERSION      ? cur.version
                   : target == IMI_COORD_CMP_CREATE_REV ? cur.create_rev
                                                        : cur.mod_rev;
    int rc = IMI_OK;
    if (have != expect) {
        rc = m->host->error(IMI_ECONFLICT, 0, "compare failed on '%s': %" PRId64 " != %" PRId64,
                            key, have, expect);
    } else if (w->op == IMI_COORD_WRITE_PUT) {
        rc = put_locked(m, key, klen, w->val, w->len, w->lease, rev);
    } else if (found) {
        *rev = ++s->rev;
        remove_at(s, i, *rev);
    } else {
        *rev = s->rev;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- leases --------------------------------------------------------------------------- */

static int mem_lease_grant(void *st, const imi_ctx *ctx, int64_t ttl_ms, int64_t *id,
                           int64_t *granted_ms)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    if (ttl_ms < 1 || ttl_ms > IMI_COORD_LEASE_TTL_MAX_MS)
        return m->host->error(IMI_EINVALID, 0, "lease ttl %" PRId64 " ms is outside 1 to %lld "
                              "ms (100 years)", ttl_ms, (long long)IMI_COORD_LEASE_TTL_MAX_MS);
    mem_lease *l = calloc(1, sizeof *l);
    if (!l)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    pthread_mutex_lock(&s->mu);
    *l = (mem_lease){ .id = ++s->next_lease, .ttl_ms = ttl_ms,
                      .expires_ns = s->host->mono_ns() + mem_ms_to_ns(ttl_ms), .next = s->leases };
    s->leases = l;
    *id = l->id;
    *granted_ms = ttl_ms;
    pthread_cond_signal(&s->reaper_cond);
    pthread_mutex_unlock(&s->mu);
    return IMI_OK;
}

static int mem_lease_keepalive(void *st, const imi_ctx *ctx, int64_t id, int64_t *ttl_ms)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    pthread_mutex_lock(&s->mu);
    mem_lease *l = lease_live(s, id);
    if (l) {
        l->expires_ns = s->host->mono_ns() + mem_ms_to_ns(l->ttl_ms);
        *ttl_ms = l->ttl_ms;
    }
    pthread_mutex_unlock(&s->mu);
    return l ? IMI_OK : m->host->error(IMI_ENOTFOUND, 0, "lease %" PRId64 " not found", id);
}

static int mem_lease_revoke(void *st, const imi_ctx *ctx, int64_t id)
{
    (void)ctx;
    mem_coord *m = st;
    mem_store *s = m->s;
    pthread_mutex_lock(&s->mu);
    mem_lease **p = lease_find(s, id);
    bool found = *p != NULL;
    if (found)
        lease_end_locked(s, p);
    pthread_mutex_unlock(&s->mu);
    return found ? IMI_OK : m->host->error(IMI_ENOTFOUND, 0, "lease %" PRId64 " not found", id);
}

static const imi_coord_driver mem_vtable = {
    .size = sizeof(imi_coord_driver),
    .open = mem_open,
    .close = mem_close,
    .ping = mem_ping,
    .get = mem_get,
    .put = mem_put,
    .del = mem_del,
    .list = mem_list,
    .cas = mem_cas,
    .lease_grant = mem_lease_grant,
    .lease_keepalive = mem_lease_keepalive,
    .lease_revoke = mem_lease_revoke,
    .watch_start = mem_watch_start,
    .watch_cancel = mem_watch_cancel,
    .caps = mem_caps,
};

static const imi_driver_desc mem_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_COORD,
    .name = "mem",
    .version = "1.0.0",
    .description = "in-process coord store with revisions, leases and watches (tests, embedded)",
    .caps = IMI_COORD_CAP_WATCH | IMI_COORD_CAP_LEASE,
    .options = mem_options,
    .n_options = IMI_COUNT_OF(mem_options),
    .state_size = sizeof(mem_coord),
    .vtable = &mem_vtable,
};

IMI_DRIVER_DEFINE(mem_desc)
