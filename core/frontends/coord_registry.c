/* The service registry: "services/<service>/<instance>" = address, each under the lease
 * of a hold that the keeper renews and rewrites when lost. Service views (a watch plus
 * the set of live instances it keeps) serve both service watches and resolve. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "coord_internal.h"
#include "iminfra/error.h"

#define SERVICES_PREFIX "services/"

struct imi_coord_registration {
    coord_hold *hold;
    char *instance;
};

static bool name_ok(const char *s) { return s && *s && !strchr(s, '/'); }

int imi_coord_register(imi_coord *c, const imi_ctx *ctx, const char *service,
                       const char *instance, const char *addr, int64_t ttl_ms,
                       imi_coord_registration **out)
{
    if (!c || !out || !addr || !name_ok(service) || (instance && !name_ok(instance)) ||
        ttl_ms < 0)
        return imi_error_set(IMI_EINVALID, 0, "register: handle, a service and instance name "
                             "without '/', an address and output are required");
    *out = NULL;
    int rc = coord_need(c, IMI_COORD_CAP_LEASE, "the registry (it needs leases)");
    if (rc)
        return rc;
    char gen[128];
    if (!instance) {
        snprintf(gen, sizeof gen, "%s-%llu", c->owner,
                 (unsigned long long)atomic_fetch_add(&c->seq, 1));
        instance = gen;
    }
    imi_coord_registration *r = calloc(1, sizeof *r);
    char *svc = r ? imi_coord_join(service, "/", instance) : NULL;
    char *key = svc ? imi_coord_join(SERVICES_PREFIX, svc, "") : NULL;
    if (r)
        r->instance = strdup(instance);
    if (!key || !r->instance) {
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    } else {
        rc = imi_coord_hold_take(c, ctx, key, addr, strlen(addr), ttl_ms,
                                 HOLD_RENEW | HOLD_RECREATE, &r->hold);
    }
    free(svc);
    free(key);
    if (rc) {
        if (r)
            free(r->instance);
        free(r);
        return rc;
    }
    *out = r;
    return IMI_OK;
}

const char *imi_coord_registration_instance(const imi_coord_registration *r)
{
    return r ? r->instance : NULL;
}

int64_t imi_coord_registration_lease(const imi_coord_registration *r)
{
    return r ? imi_coord_hold_lease(r->hold) : 0;
}

int imi_coord_deregister(imi_coord_registration *r, const imi_ctx *ctx)
{
    if (!r)
        return imi_error_set(IMI_EINVALID, 0, "deregister: no registration");
    int rc = imi_coord_hold_release(r->hold, ctx);
    free(r->instance);
    free(r);
    return rc;
}

/* ---- discover ----------------------------------------------------------------------- */

typedef struct discover_ud {
    size_t plen;
    imi_coord_instance_fn fn;
    void *ud;
} discover_ud;

static int discover_one(void *ud, const char *key, const void *val, size_t len,
                        const imi_coord_meta *meta)
{
    (void)meta;
    discover_ud *d = ud;
    char small[256];
    char *addr = len < sizeof small ? small : malloc(len + 1);
    if (!addr)
        return 1;
    memcpy(addr, val, len);
    addr[len] = '\0';
    int stop = d->fn(d->ud, key + d->plen, addr);
    if (addr != small)
        free(addr);
    return stop;
}

int imi_coord_discover(imi_coord *c, const imi_ctx *ctx, const char *service,
                       imi_coord_instance_fn fn, void *ud)
{
    if (!c || !fn || !name_ok(service))
        return imi_error_set(IMI_EINVALID, 0, "discover: handle, service and callback are required");
    char *prefix = imi_coord_join(SERVICES_PREFIX, service, "/");
    if (!prefix)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    discover_ud d = { .plen = strlen(prefix), .fn = fn, .ud = ud };
    int rc = imi_coord_list(c, ctx, prefix, discover_one, &d, NULL);
    free(prefix);
    return rc;
}

/* ---- service views ------------------------------------------------------------------ */

typedef struct entry {
    char *name;
    char *addr;
} entry;

struct coord_view {
    coord_view *next;              /* c->resolvers */
    imi_coord *c;
    char *service;
    char *prefix;                  /* "services/<service>/" */
    size_t plen;
    imi_coord_service_fn fn;       /* may be NULL (resolvers) */
    void *ud;
    imi_coord_watch *watch;
    pthread_mutex_t mu;
    entry *items;                  /* sorted by name */
    size_t n, cap;
    atomic_size_t cursor;          /* round-robin position */
};

static size_t find(const coord_view *v, const char *name, bool *found)
{
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int cmp = strcmp(v->items[mid].name, name);
        if (cmp == 0) {
            *found = true;
            return mid;
        }
        if (cmp < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

/* Room for one more item; false when out of memory. Lock held. */
static bool view_grow(coord_view *v)
{
    if (v->n < v->cap)
        return true;
    size_t cap = v->cap ? v->cap * 2 : 8;
    entry *items = realloc(v->items, cap * sizeof *items);
    if (!items)
        return false;
    v->items = items;
    v->cap = cap;
    return true;
}

/* Records name=addr; true when it changed something (then fn gets UP). */
static bool view_up(coord_view *v, const char *name, const char *addr, size_t alen)
{
    char *a = malloc(alen + 1);
    if (!a)
        return false;
    memcpy(a, addr, alen);
    a[alen] = '\0';
    bool found, changed = true;
    pthread_mutex_lock(&v->mu);
    size_t i = find(v, name, &found);
    if (found) {
        changed = strcmp(v->items[i].addr, a) != 0;
        free(v->items[i].addr);
        v->items[i].addr = a;
    } else {
        char *n = view_grow(v) ? strdup(name) : NULL;
        if (n) {
            memmove(&v->items[i + 1], &v->items[i], (v->n - i) * sizeof *v->items);
            v->items[i] = (entry){ .name = n, .addr = a };
            v->n++;
        } else {
            free(a);
            changed = false;
        }
    }
    /* The callback gets a NUL-terminated copy: values need not end in one. */
    char *shown = changed && v->fn ? strdup(a) : NULL;
    pthread_mutex_unlock(&v->mu);
    if (shown)
        v->fn(v->ud, IMI_COORD_SERVICE_UP, name, shown);
    free(shown);
    return changed;
}

static void view_down(coord_view *v, const char *name)
{
    bool found;
    pthread_mutex_lock(&v->mu);
    size_t i = find(v, name, &found);
    entry gone = { 0 };
    if (found) {
        gone = v->items[i];
        memmove(&v->items[i], &v->items[i + 1], (v->n - i - 1) * sizeof *v->items);
        v->n--;
    }
    pthread_mutex_unlock(&v->mu);
    if (found && v->fn)
        v->fn(v->ud, IMI_COORD_SERVICE_DOWN, gone.name, gone.addr);
    free(gone.name);
    free(gone.addr);
}

typedef struct relist {
    coord_view *v;
    char **seen;
    size_t n, cap;
} relist;

static int relist_one(void *ud, const char *key, const void *val, size_t len,
                      const imi_coord_meta *meta)
{
    (void)meta;
    relist *r = ud;
    const char *name = key + r->v->plen;
    if (r->n == r->cap) {
        char **s = realloc(r->seen, (r->cap = r->cap ? r->cap * 2 : 16) * sizeof *s);
        if (!s)
            return 1;
        r->seen = s;
    }
    if (!(r->seen[r->n] = strdup(name)))
        return 1;
    r->n++;
    view_up(r->v, name, val, len);
    return 0;
}

/* Reads the live set and reports the differences; *rev: the revision read. */
static int view_load(coord_view *v, const imi_ctx *ctx, int64_t *rev)
{
    relist r = { .v = v };
    int rc = imi_coord_list(v->c, ctx, v->prefix, relist_one, &r, rev);
    if (!rc) {
        /* Instances the listing no longer has went down. */
        for (size_t i = 0; i < v->n;) {
            bool seen = false;
            for (size_t j = 0; j < r.n && !seen; j++)
                seen = !strcmp(r.seen[j], v->items[i].name);
            if (seen) {
                i++;
                continue;
            }
            char *name = strdup(v->items[i].name);
            if (!name)
                break;
            view_down(v, name);
            free(name);
        }
    }
    for (size_t j = 0; j < r.n; j++)
        free(r.seen[j]);
    free(r.seen);
    return rc;
}

static void view_event(void *ud, const imi_coord_event *ev)
{
    coord_view *v = ud;
    if (ev->type == IMI_COORD_EVENT_LOST) {
        view_load(v, NULL, NULL);
        return;
    }
    if (ev->key_len <= v->plen)
        return;
    const char *name = ev->key + v->plen;
    if (strchr(name, '/'))
        return;
    if (ev->type == IMI_COORD_EVENT_PUT)
        view_up(v, name, ev->value, ev->value_len);
    else
        view_down(v, name);
}

static void view_free(void *ud)
{
    coord_view *v = ud;
    for (size_t i = 0; i < v->n; i++) {
        free(v->items[i].name);
        free(v->items[i].addr);
    }
    free(v->items);
    free(v->service);
    free(v->prefix);
    pthread_mutex_destroy(&v->mu);
    free(v);
}

static int view_open(imi_coord *c, const imi_ctx *ctx, const char *service,
                     imi_coord_service_fn fn, void *ud, coord_view **out)
{
    if (!c || !name_ok(service))
        return imi_error_set(IMI_EINVALID, 0, "coord: a service name without '/' is required");
    int rc = coord_need(c, IMI_COORD_CAP_WATCH, "service watches");
    if (rc)
        return rc;
    coord_view *v = calloc(1, sizeof *v);
    if (!v)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    v->c = c;
    v->fn = fn;
    v->ud = ud;
    pthread_mutex_init(&v->mu, NULL);
    v->service = strdup(service);
    v->prefix = imi_coord_join(SERVICES_PREFIX, service, "/");
    if (!v->service || !v->prefix) {
        view_free(v);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    v->plen = strlen(v->prefix);
    int64_t rev = 0;
    /* The live set at rev first, then every change after it: nothing falls in between. */
    rc = view_load(v, ctx, &rev);
    if (!rc)
        rc = imi_coord_watch_open(c, ctx, v->prefix, IMI_COORD_WATCH_PREFIX, rev + 1, view_event, v,
                                  view_free, &v->watch);
    if (rc) {
        view_free(v);
        return rc;
    }
    *out = v;
    return IMI_OK;
}

int imi_coord_service_watch(imi_coord *c, const imi_ctx *ctx, const char *service,
                            imi_coord_service_fn fn, void *ud, imi_coord_watch **out)
{
    if (!fn || !out)
        return imi_error_set(IMI_EINVALID, 0, "service_watch: callback and output are required");
    *out = NULL;
    coord_view *v = NULL;
    int rc = view_open(c, ctx, service, fn, ud, &v);
    if (!rc)
        *out = v->watch;
    return rc;
}

int imi_coord_resolve(imi_coord *c, const imi_ctx *ctx, const char *service, imi_buf *addr)
{
    if (!c || !addr || !name_ok(service))
        return imi_error_set(IMI_EINVALID, 0, "resolve: handle, service and output are required");
    /* Entered for the whole call: close frees the views only after it returned. */
    int rc = coord_enter(c, ctx);
    if (rc)
        return rc;
    coord_view *v = NULL;
    pthread_mutex_lock(&c->mu);
    for (v = c->resolvers; v && strcmp(v->service, service); v = v->next)
        ;
    pthread_mutex_unlock(&c->mu);
    if (!v) {
        pthread_mutex_lock(&c->resolve_mu);
        pthread_mutex_lock(&c->mu);
        for (v = c->resolvers; v && strcmp(v->service, service); v = v->next)
            ;
        pthread_mutex_unlock(&c->mu);
        if (!v && !(rc = view_open(c, ctx, service, NULL, NULL, &v))) {
            pthread_mutex_lock(&c->mu);
            v->next = c->resolvers;
            c->resolvers = v;
            pthread_mutex_unlock(&c->mu);
        }
        pthread_mutex_unlock(&c->resolve_mu);
        if (rc) {
            coord_leave(c);
            return rc;
        }
    }
    pthread_mutex_lock(&v->mu);
    if (v->n == 0) {
        rc = imi_error_set(IMI_ENOTFOUND, 0, "resolve: no live instance of %s", service);
    } else {
        const entry *e = &v->items[atomic_fetch_add(&v->cursor, 1) % v->n];
        rc = imi_buf_set(addr, e->addr, strlen(e->addr));
    }
    pthread_mutex_unlock(&v->mu);
    coord_leave(c);
    return rc;
}

void imi_coord_resolvers_close(imi_coord *c)
{
    pthread_mutex_lock(&c->resolve_mu);
    pthread_mutex_lock(&c->mu);
    coord_view *list = c->resolvers;
    c->resolvers = NULL;
    pthread_mutex_unlock(&c->mu);
    for (coord_view *v = list, *next; v; v = next) {
        next = v->next;
        imi_coord_watch_cancel(v->watch); /* frees v through view_free */
    }
    pthread_mutex_unlock(&c->resolve_mu);
}
