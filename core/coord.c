/* The coord front-end, handle and key-value part: open/close, argument checks, key
 * prefix, ctx, closed state, capabilities, then one vtable call. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "coord_internal.h"
#include "iminfra/error.h"
#include "util.h"

#define COORD_DEFAULT_LEASE_TTL_MS 10000

static void make_owner(imi_coord *c)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    uint64_t r = (uint64_t)imi_now_real_ns() ^ ((uint64_t)(uintptr_t)c << 16);
    r ^= r >> 29;
    snprintf(c->owner, sizeof c->owner, "%s-%d-%06llx", host, (int)getpid(),
             (unsigned long long)(r & 0xffffff));
}

int imi_coord_open(imi_app *app, const char *name, imi_coord **out)
{
    static const char *const core_keys[] = { IMI_INSTANCE_CORE_KEYS, "prefix", "lease_ttl", NULL };
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_coord_open: app and out are required");
    *out = NULL;
    imi_coord *c = calloc(1, sizeof *c);
    if (!c)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    int rc = imi_instance_init(&c->in, app, IMI_KIND_COORD, name, core_keys,
                               offsetof(imi_coord_driver, lease_grant));
    if (rc) {
        free(c);
        return rc;
    }
    c->vt = c->in.vtable;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->resolve_mu, NULL);
    make_owner(c);
    const imi_config *cfg = imi_app_config(app);
    c->lease_ttl_ms = COORD_DEFAULT_LEASE_TTL_MS;
    rc = imi_config_get_duration_ms(cfg, c->in.section, "lease_ttl", &c->lease_ttl_ms);
    if (!rc && c->lease_ttl_ms <= 0)
        rc = imi_error_set(IMI_ECONFIG, 0, "%s: [%s] lease_ttl must be positive",
                           imi_config_name(cfg), c->in.section);
    const char *prefix = imi_config_get(cfg, c->in.section, "prefix", NULL);
    if (!rc && prefix && *prefix && !(c->prefix = strdup(prefix)))
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    c->prefix_len = c->prefix ? strlen(c->prefix) : 0;
    if (!rc) {
        rc = c->vt->open(c->in.state, &c->in.env);
        c->in.opened = true;
        if (rc)
            imi_error_prefix("[%s] driver %s failed to open", c->in.section, c->in.desc->name);
    }
    /* A capability counts only with its slots there. */
    c->caps = c->in.desc->caps;
    if (!COORD_SLOT(c, lease_grant) || !COORD_SLOT(c, lease_keepalive) ||
        !COORD_SLOT(c, lease_revoke))
        c->caps &= ~(uint64_t)IMI_COORD_CAP_LEASE;
    if (!COORD_SLOT(c, watch_start) || !COORD_SLOT(c, watch_cancel))
        c->caps &= ~(uint64_t)IMI_COORD_CAP_WATCH;
    if (!rc && COORD_SLOT(c, caps))
        c->caps &= c->vt->caps(c->in.state);
    if (rc) {
        imi_coord_free(c);
        return rc;
    }
    *out = c;
    return IMI_OK;
}

/* Stops every watch still open; user watches stay allocated for their cancel call. */
static void stop_watches(imi_coord *c)
{
    coord_resolvers_close(c);
    pthread_mutex_lock(&c->mu);
    imi_coord_watch *list = c->watches;
    c->watches = NULL;
    pthread_mutex_unlock(&c->mu);
    for (imi_coord_watch *w = list; w; w = w->next) {
        c->vt->watch_cancel(c->in.state, w->dw);
        w->dw = NULL;
    }
}

int imi_coord_close(imi_coord *c)
{
    if (!c)
        return imi_error_set(IMI_EINVALID, 0, "imi_coord_close: no handle");
    /* Closed first (new calls fail, calls in flight finish), then the background work
     * stops, then the driver closes. */
    int rc = imi_instance_begin_close(&c->in);
    if (rc)
        return rc;
    coord_keeper_stop(c);
    if (c->in.opened) {
        stop_watches(c);
        c->vt->close(c->in.state);
    }
    c->in.opened = false;
    return IMI_OK;
}

void imi_coord_free(imi_coord *c)
{
    if (!c)
        return;
    if (!atomic_load(&c->in.closed))
        imi_coord_close(c);
    else if (c->in.opened)
        c->vt->close(c->in.state);
    coord_keeper_free(c);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->resolve_mu);
    imi_instance_release(&c->in);
    free(c->prefix);
    free(c);
}

uint64_t imi_coord_caps(const imi_coord *c) { return c ? c->caps : 0; }
const char *imi_coord_driver_name(const imi_coord *c) { return c ? c->in.desc->name : NULL; }

/* ---- the shared call path --------------------------------------------------------------- */

int coord_enter(imi_coord *c, const imi_ctx *ctx)
{
    if (imi_instance_enter(&c->in))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", c->in.section);
    int rc = imi_ctx_err(ctx);
    if (rc)
        imi_instance_leave(&c->in);
    return rc;
}

void coord_leave(imi_coord *c) { imi_instance_leave(&c->in); }

int coord_need(const imi_coord *c, uint64_t cap, const char *what)
{
    if (c->caps & cap)
        return IMI_OK;
    return imi_error_set(IMI_ENOTSUP, 0, "[%s] driver %s does not support %s", c->in.section,
                         c->in.desc->name, what);
}

int64_t coord_deadline_ns(const imi_coord *c, const imi_ctx *ctx)
{
    int64_t d = imi_ctx_deadline_ns(ctx);
    return d ? d : imi_now_mono_ns() + c->in.timeout_ms * 1000000;
}

char *coord_join(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *s = malloc(la + lb + lc + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb);
        memcpy(s + la + lb, c, lc + 1);
    }
    return s;
}

typedef struct pkey {
    char small[256];
    char *p;
    size_t len;
} pkey;

/* The prefixed key, on the stack when it fits. Empty keys only where allow_empty. */
static int key_make(const imi_coord *c, const char *key, bool allow_empty, pkey *k)
{
    if (!key || (!*key && !allow_empty))
        return imi_error_set(IMI_EINVALID, 0, "coord: key is %s", key ? "empty" : "NULL");
    size_t n = strlen(key);
    k->len = c->prefix_len + n;
    if (!c->prefix_len) {
        k->p = (char *)key;
        return IMI_OK;
    }
    k->p = k->len < sizeof k->small ? k->small : malloc(k->len + 1);
    if (!k->p)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    memcpy(k->p, c->prefix, c->prefix_len);
    memcpy(k->p + c->prefix_len, key, n + 1);
    return IMI_OK;
}

static void key_free(const char *key, pkey *k)
{
    if (k->p != key && k->p != k->small)
        free(k->p);
}

/* Runs `call` with the prefixed key k between enter and leave. */
#define KEYED_CALL(c, ctx, key, allow_empty, call)                      \
    do {                                                                \
        if (!(c))                                                       \
            return imi_error_set(IMI_EINVALID, 0, "coord: no handle");  \
        pkey k;                                                         \
        int rc_ = key_make((c), (key), (allow_empty), &k);              \
        if (rc_)                                                        \
            return rc_;                                                 \
        rc_ = coord_enter((c), (ctx));                                  \
        if (!rc_) {                                                     \
            rc_ = (call);                                               \
            coord_leave(c);                                             \
        }                                                               \
        key_free((key), &k);                                            \
        return rc_;                                                     \
    } while (0)

#define REQUIRE_ARG(cond, what)                                         \
    do {                                                                \
        if (!(cond))                                                    \
            return imi_error_set(IMI_EINVALID, 0, "coord: %s", (what)); \
    } while (0)

#define REQUIRE_CAP(c, cap, what)                                       \
    do {                                                                \
        if (!(c))                                                       \
            return imi_error_set(IMI_EINVALID, 0, "coord: no handle");  \
        int rcap_ = coord_need((c), (cap), (what));                     \
        if (rcap_)                                                      \
            return rcap_;                                               \
    } while (0)

int imi_coord_ping(imi_coord *c, const imi_ctx *ctx)
{
    if (!c)
        return imi_error_set(IMI_EINVALID, 0, "coord: no handle");
    int rc = coord_enter(c, ctx);
    if (rc)
        return rc;
    rc = c->vt->ping(c->in.state, ctx);
    coord_leave(c);
    return rc;
}

/* ---- key-value ------------------------------------------------------------------------ */

int imi_coord_get(imi_coord *c, const imi_ctx *ctx, const char *key, imi_buf *val,
                  imi_coord_meta *meta)
{
    REQUIRE_ARG(val, "get needs an output buffer");
    imi_coord_meta ignored;
    KEYED_CALL(c, ctx, key, false,
               c->vt->get(c->in.state, ctx, k.p, k.len, val, meta ? meta : &ignored));
}

int imi_coord_put(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                  size_t len, int64_t *rev)
{
    REQUIRE_ARG(val || !len, "put: value is NULL");
    int64_t ignored;
    KEYED_CALL(c, ctx, key, false, c->vt->put(c->in.state, ctx, k.p, k.len, val ? val : "", len,
                                              0, rev ? rev : &ignored));
}

int imi_coord_put_lease(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                        size_t len, int64_t lease, int64_t *rev)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(val || !len, "put: value is NULL");
    REQUIRE_ARG(lease > 0, "put_lease: lease must be positive");
    int64_t ignored;
    KEYED_CALL(c, ctx, key, false, c->vt->put(c->in.state, ctx, k.p, k.len, val ? val : "", len,
                                              lease, rev ? rev : &ignored));
}

static int del_one(imi_coord *c, const imi_ctx *ctx, const char *key, size_t klen, int64_t *rev)
{
    int64_t n = 0, ignored;
    int rc = c->vt->del(c->in.state, ctx, key, klen, false, &n, rev ? rev : &ignored);
    if (!rc && n == 0)
        rc = imi_error_set(IMI_ENOTFOUND, 0, "coord: no key '%s'", key + c->prefix_len);
    return rc;
}

int imi_coord_del(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t *rev)
{
    KEYED_CALL(c, ctx, key, false, del_one(c, ctx, k.p, k.len, rev));
}

int imi_coord_del_prefix(imi_coord *c, const imi_ctx *ctx, const char *prefix, int64_t *n)
{
    int64_t ignored, rev;
    if (c && !c->prefix_len)
        REQUIRE_ARG(prefix && *prefix, "del_prefix: an empty prefix without an instance "
                                       "prefix would delete the whole store");
    KEYED_CALL(c, ctx, prefix, true,
               c->vt->del(c->in.state, ctx, k.p, k.len, true, n ? n : &ignored, &rev));
}

int coord_cas(imi_coord *c, const imi_ctx *ctx, const char *key, imi_coord_cmp_target target,
              int64_t expect, const imi_coord_write *w, int64_t *rev)
{
    int64_t ignored;
    KEYED_CALL(c, ctx, key, false,
               c->vt->cas(c->in.state, ctx, k.p, k.len, target, expect, w, rev ? rev : &ignored));
}

int imi_coord_cas(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t expect_version,
                  const void *val, size_t len, int64_t *rev)
{
    REQUIRE_ARG(val || !len, "cas: value is NULL");
    REQUIRE_ARG(expect_version >= 0, "cas: negative version");
    imi_coord_write w = { .op = IMI_COORD_WRITE_PUT, .val = val ? val : "", .len = len };
    return coord_cas(c, ctx, key, IMI_COORD_CMP_VERSION, expect_version, &w, rev);
}

int imi_coord_cas_del(imi_coord *c, const imi_ctx *ctx, const char *key,
                      int64_t expect_version, int64_t *rev)
{
    REQUIRE_ARG(expect_version > 0, "cas_del: the version must be positive");
    imi_coord_write w = { .op = IMI_COORD_WRITE_DEL };
    return coord_cas(c, ctx, key, IMI_COORD_CMP_VERSION, expect_version, &w, rev);
}

typedef struct list_ud {
    const imi_coord *c;
    imi_coord_kv_fn fn;
    void *ud;
} list_ud;

static int list_one(void *ud, const char *key, size_t klen, const void *val, size_t len,
                    const imi_coord_meta *meta)
{
    list_ud *l = ud;
    if (klen < l->c->prefix_len)
        return 0;
    return l->fn(l->ud, key + l->c->prefix_len, val, len, meta);
}

int imi_coord_list(imi_coord *c, const imi_ctx *ctx, const char *prefix, imi_coord_kv_fn fn,
                   void *ud, int64_t *rev)
{
    REQUIRE_ARG(fn, "list: callback is required");
    list_ud l = { .c = c, .fn = fn, .ud = ud };
    int64_t ignored;
    KEYED_CALL(c, ctx, prefix ? prefix : "", true,
               c->vt->list(c->in.state, ctx, k.p, k.len, list_one, &l, rev ? rev : &ignored));
}

/* ---- leases --------------------------------------------------------------------------- */

int imi_coord_lease_grant(imi_coord *c, const imi_ctx *ctx, int64_t ttl_ms, int64_t *lease,
                          int64_t *granted_ms)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease && ttl_ms > 0, "lease_grant: an output and a positive ttl are required");
    int64_t ignored;
    int rc = coord_enter(c, ctx);
    if (rc)
        return rc;
    rc = c->vt->lease_grant(c->in.state, ctx, ttl_ms, lease, granted_ms ? granted_ms : &ignored);
    coord_leave(c);
    return rc;
}

int imi_coord_lease_keepalive(imi_coord *c, const imi_ctx *ctx, int64_t lease, int64_t *ttl_ms)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease > 0, "lease_keepalive: lease must be positive");
    int64_t ignored;
    int rc = coord_enter(c, ctx);
    if (rc)
        return rc;
    rc = c->vt->lease_keepalive(c->in.state, ctx, lease, ttl_ms ? ttl_ms : &ignored);
    coord_leave(c);
    return rc;
}

int imi_coord_lease_revoke(imi_coord *c, const imi_ctx *ctx, int64_t lease)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease > 0, "lease_revoke: lease must be positive");
    int rc = coord_enter(c, ctx);
    if (rc)
        return rc;
    coord_keeper_forget_lease(c, lease);
    rc = c->vt->lease_revoke(c->in.state, ctx, lease);
    coord_leave(c);
    return rc;
}

int imi_coord_lease_keep(imi_coord *c, int64_t lease, int64_t ttl_ms, imi_coord_lost_fn on_lost,
                         void *ud)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease > 0 && ttl_ms > 0, "lease_keep: lease and ttl must be positive");
    if (atomic_load(&c->in.closed))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", c->in.section);
    return coord_keeper_add(c, lease, ttl_ms, on_lost, NULL, ud, NULL);
}

/* ---- watches -------------------------------------------------------------------------- */

static void watch_event(void *ud, const imi_coord_event *ev)
{
    imi_coord_watch *w = ud;
    imi_coord_event out = *ev;
    size_t pl = w->c->prefix_len;
    if (out.key && out.key_len >= pl) {
        out.key += pl;
        out.key_len -= pl;
    }
    w->fn(w->ud, &out);
}

int coord_watch_open(imi_coord *c, const imi_ctx *ctx, const char *key, unsigned flags,
                     int64_t start_rev, imi_coord_watch_fn fn, void *ud,
                     void (*cleanup)(void *ud), imi_coord_watch **out)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_WATCH, "watches");
    REQUIRE_ARG(fn && out && start_rev >= 0, "watch: callback and output are required");
    *out = NULL;
    bool prefix = flags & IMI_COORD_WATCH_PREFIX;
    imi_coord_watch *w = calloc(1, sizeof *w);
    if (!w)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    *w = (imi_coord_watch){ .c = c, .fn = fn, .ud = ud, .cleanup = cleanup };
    pkey k;
    int rc = key_make(c, key, prefix, &k);
    if (rc) {
        free(w);
        return rc;
    }
    rc = coord_enter(c, ctx);
    if (!rc) {
        rc = c->vt->watch_start(c->in.state, ctx, k.p, k.len, prefix, start_rev, watch_event, w,
                                &w->dw);
        if (!rc) {
            pthread_mutex_lock(&c->mu);
            w->next = c->watches;
            c->watches = w;
            pthread_mutex_unlock(&c->mu);
        }
        coord_leave(c);
    }
    key_free(key, &k);
    if (rc) {
        free(w);
        return rc;
    }
    *out = w;
    return IMI_OK;
}

int imi_coord_watch_start(imi_coord *c, const imi_ctx *ctx, const char *key, unsigned flags,
                    int64_t start_rev, imi_coord_watch_fn fn, void *ud, imi_coord_watch **out)
{
    return coord_watch_open(c, ctx, key, flags, start_rev, fn, ud, NULL, out);
}

int imi_coord_watch_cancel(imi_coord_watch *w)
{
    if (!w)
        return imi_error_set(IMI_EINVALID, 0, "coord: no watch");
    imi_coord *c = w->c;
    bool found = false;
    pthread_mutex_lock(&c->mu);
    for (imi_coord_watch **p = &c->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            found = true;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    /* Not in the list: close stopped it already. */
    if (found)
        c->vt->watch_cancel(c->in.state, w->dw);
    if (w->cleanup)
        w->cleanup(w->ud);
    free(w);
    return found ? IMI_OK : imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", c->in.section);
}
