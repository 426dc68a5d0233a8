/* The coord front-end's bottom layer: argument checks and one vtable call for the
 * key-value, lease and watch primitives, and the helpers the upper files (keeper, holds,
 * locks, registry, ids) build on. It calls nothing above it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "coord_internal.h"
#include "iminfra/error.h"
#include "util.h"

int64_t imi_coord_deadline_ns(const imi_coord *c, const imi_ctx *ctx)
{
    int64_t d = imi_ctx_deadline_ns(ctx);
    return d ? d : imi_now_mono_ns() + c->in.timeout_ms * 1000000;
}

char *imi_coord_join(const char *a, const char *b, const char *c)
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

/* Runs `call` with the prefixed key k between enter and leave, counted as op. */
#define KEYED_CALL(c, ctx, op, key, allow_empty, call)                  \
    do {                                                                \
        if (!(c))                                                       \
            return imi_error_set(IMI_EINVALID, 0, "coord: no handle");  \
        imi_pkey k;                                                     \
        int rc_ = imi_pkey_make(&(c)->in, "coord", (key), (allow_empty), &k); \
        if (rc_)                                                        \
            return rc_;                                                 \
        imi_thread_slot *t_ = imi_thread();                             \
        int64_t t0_ = imi_call_t0_at((imi_instance *)(c), t_);          \
        rc_ = imi_instance_enter_at(&(c)->in, (ctx), t_);               \
        if (!rc_) {                                                     \
            rc_ = (call);                                               \
            imi_instance_leave_at(&(c)->in, t_);                        \
        }                                                               \
        imi_pkey_free(&k, (key));                                       \
        return imi_instance_record_at(&(c)->in, (op), rc_, t0_, t_);    \
    } while (0)

int imi_coord_ping(imi_coord *c, const imi_ctx *ctx)
{
    if (!c)
        return imi_error_set(IMI_EINVALID, 0, "coord: no handle");
    int64_t t0 = imi_call_t0((imi_instance *)(c));
    int rc = coord_enter(c, ctx);
    if (rc)
        return coord_record(c, COORD_OP_ping, rc, t0);
    rc = VT(c)->ping(c->in.state, ctx);
    coord_leave(c);
    return coord_record(c, COORD_OP_ping, rc, t0);
}

/* ---- key-value ------------------------------------------------------------------------ */

int imi_coord_get(imi_coord *c, const imi_ctx *ctx, const char *key, imi_buf *val,
                  imi_coord_meta *meta)
{
    REQUIRE_ARG(val, "get needs an output buffer");
    imi_coord_meta ignored;
    KEYED_CALL(c, ctx, COORD_OP_get, key, false,
               VT(c)->get(c->in.state, ctx, k.p, k.len, val, meta ? meta : &ignored));
}

int imi_coord_put(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                  size_t len, int64_t *rev)
{
    REQUIRE_ARG(val || !len, "put: value is NULL");
    int64_t ignored;
    KEYED_CALL(c, ctx, COORD_OP_put, key, false, VT(c)->put(c->in.state, ctx, k.p, k.len, val ? val : "", len,
                                              0, rev ? rev : &ignored));
}

int imi_coord_put_lease(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                        size_t len, int64_t lease, int64_t *rev)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(val || !len, "put: value is NULL");
    REQUIRE_ARG(lease > 0, "put_lease: lease must be positive");
    int64_t ignored;
    KEYED_CALL(c, ctx, COORD_OP_put, key, false, VT(c)->put(c->in.state, ctx, k.p, k.len, val ? val : "", len,
                                              lease, rev ? rev : &ignored));
}

static int del_one(imi_coord *c, const imi_ctx *ctx, const char *key, size_t klen, int64_t *rev)
{
    int64_t n = 0, ignored;
    int rc = VT(c)->del(c->in.state, ctx, key, klen, false, &n, rev ? rev : &ignored);
    if (!rc && n == 0)
        rc = imi_error_set(IMI_ENOTFOUND, 0, "coord: no key '%s'", key + c->in.prefix_len);
    return rc;
}

int imi_coord_del(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t *rev)
{
    KEYED_CALL(c, ctx, COORD_OP_del, key, false, del_one(c, ctx, k.p, k.len, rev));
}

int imi_coord_del_prefix(imi_coord *c, const imi_ctx *ctx, const char *prefix, int64_t *n)
{
    int64_t ignored, rev;
    if (c && !c->in.prefix_len)
        REQUIRE_ARG(prefix && *prefix, "del_prefix: an empty prefix without an instance "
                                       "prefix would delete the whole store");
    KEYED_CALL(c, ctx, COORD_OP_del_prefix, prefix, true,
               VT(c)->del(c->in.state, ctx, k.p, k.len, true, n ? n : &ignored, &rev));
}

int imi_coord_cas_on(imi_coord *c, const imi_ctx *ctx, const char *key,
                     imi_coord_cmp_target target, int64_t expect, const imi_coord_write *w,
                     int64_t *rev)
{
    int64_t ignored;
    KEYED_CALL(c, ctx, COORD_OP_cas, key, false,
               VT(c)->cas(c->in.state, ctx, k.p, k.len, target, expect, w, rev ? rev : &ignored));
}

int imi_coord_cas(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t expect_version,
                  const void *val, size_t len, int64_t *rev)
{
    REQUIRE_ARG(val || !len, "cas: value is NULL");
    REQUIRE_ARG(expect_version >= 0, "cas: negative version");
    imi_coord_write w = { .op = IMI_COORD_WRITE_PUT, .val = val ? val : "", .len = len };
    return imi_coord_cas_on(c, ctx, key, IMI_COORD_CMP_VERSION, expect_version, &w, rev);
}

int imi_coord_cas_del(imi_coord *c, const imi_ctx *ctx, const char *key,
                      int64_t expect_version, int64_t *rev)
{
    REQUIRE_ARG(expect_version > 0, "cas_del: the version must be positive");
    imi_coord_write w = { .op = IMI_COORD_WRITE_DEL };
    return imi_coord_cas_on(c, ctx, key, IMI_COORD_CMP_VERSION, expect_version, &w, rev);
}

/* Why a key and value the driver hands back break the contract (keys NUL-terminated at
 * their length, no pointer at NULL with a length), or NULL when they do not. */
static const char *broken_kv(const char *key, size_t klen, const void *val, size_t len)
{
    if (!key || key[klen] != '\0')
        return "a key that is NULL or has no NUL at its length";
    if (!val && len)
        return "a value at NULL with a length";
    return NULL;
}

typedef struct list_ud {
    const imi_coord *c;
    imi_coord_kv_fn fn;
    void *ud;
    const char *broken;        /* why the listing was stopped at a broken entry */
} list_ud;

static int list_one(void *ud, const char *key, size_t klen, const void *val, size_t len,
                    const imi_coord_meta *meta)
{
    list_ud *l = ud;
    if ((l->broken = broken_kv(key, klen, val, len)))
        return 1;
    if (klen < l->c->in.prefix_len)
        return 0;
    return l->fn(l->ud, key + l->c->in.prefix_len, val ? val : "", len, meta);
}

static int list_checked(imi_coord *c, const imi_ctx *ctx, const imi_pkey *k, list_ud *l,
                        int64_t *rev)
{
    int rc = VT(c)->list(c->in.state, ctx, k->p, k->len, list_one, l, rev);
    if (!rc && l->broken)
        rc = imi_error_set(IMI_EDRIVER, 0, "driver %s: list handed back %s",
                           c->in.desc->name, l->broken);
    return rc;
}

int imi_coord_list(imi_coord *c, const imi_ctx *ctx, const char *prefix, imi_coord_kv_fn fn,
                   void *ud, int64_t *rev)
{
    REQUIRE_ARG(fn, "list: callback is required");
    list_ud l = { .c = c, .fn = fn, .ud = ud };
    int64_t ignored;
    KEYED_CALL(c, ctx, COORD_OP_list, prefix ? prefix : "", true,
               list_checked(c, ctx, &k, &l, rev ? rev : &ignored));
}

/* ---- leases --------------------------------------------------------------------------- */

int imi_coord_lease_grant(imi_coord *c, const imi_ctx *ctx, int64_t ttl_ms, int64_t *lease,
                          int64_t *granted_ms)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease && ttl_ms > 0 && ttl_ms <= IMI_COORD_LEASE_TTL_MAX_MS,
                "lease_grant: an output and a ttl of 1 to 3153600000000 ms (100 years) are required");
    int64_t ignored;
    int64_t t0 = imi_call_t0((imi_instance *)(c));
    int rc = coord_enter(c, ctx);
    if (rc)
        return coord_record(c, COORD_OP_lease_grant, rc, t0);
    rc = VT(c)->lease_grant(c->in.state, ctx, ttl_ms, lease, granted_ms ? granted_ms : &ignored);
    coord_leave(c);
    return coord_record(c, COORD_OP_lease_grant, rc, t0);
}

int imi_coord_lease_keepalive(imi_coord *c, const imi_ctx *ctx, int64_t lease, int64_t *ttl_ms)
{
    REQUIRE_CAP(c, IMI_COORD_CAP_LEASE, "leases");
    REQUIRE_ARG(lease > 0, "lease_keepalive: lease must be positive");
    int64_t ignored;
    int64_t t0 = imi_call_t0((imi_instance *)(c));
    int rc = coord_enter(c, ctx);
    if (rc)
        return coord_record(c, COORD_OP_lease_keepalive, rc, t0);
    rc = VT(c)->lease_keepalive(c->in.state, ctx, lease, ttl_ms ? ttl_ms : &ignored);
    coord_leave(c);
    return coord_record(c, COORD_OP_lease_keepalive, rc, t0);
}

/* ---- watches -------------------------------------------------------------------------- */

/* Why a watch event breaks the contract, or NULL (a LOST event carries no key). */
static const char *broken_event(const imi_coord_event *ev)
{
    if (!ev)
        return "no event";
    if (ev->type < IMI_COORD_EVENT_PUT || ev->type > IMI_COORD_EVENT_LOST)
        return "an unknown type";
    if (ev->type == IMI_COORD_EVENT_LOST)
        return NULL;
    return broken_kv(ev->key, ev->key_len, ev->value, ev->value_len);
}

static void watch_event(void *ud, const imi_coord_event *ev)
{
    imi_coord_watch *w = ud;
    const char *broken = broken_event(ev);
    if (broken) {
        imi_logf(w->c->in.logger, IMI_LOG_ERROR, NULL, "driver %s delivered a broken watch "
                 "event (%s); it is dropped", w->c->in.desc->name, broken);
        return;
    }
    imi_coord_event out = *ev;
    if (!out.value)
        out.value = "";
    size_t pl = w->c->in.prefix_len;
    if (out.key && out.key_len >= pl) {
        out.key += pl;
        out.key_len -= pl;
    }
    w->fn(w->ud, &out);
}

int imi_coord_watch_open(imi_coord *c, const imi_ctx *ctx, const char *key, unsigned flags,
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
    imi_pkey k;
    int rc = imi_pkey_make(&c->in, "coord", key, prefix, &k);
    if (rc) {
        free(w);
        return rc;
    }
    rc = coord_enter(c, ctx);
    if (!rc) {
        rc = VT(c)->watch_start(c->in.state, ctx, k.p, k.len, prefix, start_rev, watch_event, w,
                                &w->dw);
        if (!rc) {
            pthread_mutex_lock(&c->mu);
            w->next = c->watches;
            c->watches = w;
            pthread_mutex_unlock(&c->mu);
        }
        coord_leave(c);
    }
    imi_pkey_free(&k, key);
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
    return imi_coord_watch_open(c, ctx, key, flags, start_rev, fn, ud, NULL, out);
}

int imi_coord_watch_cancel(imi_coord_watch *w)
{
    if (!w)
        return imi_error_set(IMI_EINVALID, 0, "coord: no watch");
    imi_coord *c = w->c;
    /* Forked child: the driver's watch thread is not here to stop; w stays on the
     * handle's list, which is left as inherited. */
    if (imi_instance_inherited(&c->in))
        return IMI_OK;
    bool found = false;
    pthread_mutex_lock(&c->mu);
    for (imi_coord_watch **p = &c->watches; *p; p = &(*p)->next)
        if (*p == w) {
            *p = w->next;
            found = true;
            break;
        }
    if (found)
        c->cancelling++; /* close waits for this stop before the driver closes */
    /* Not in the list: close stopped it, or is stopping it now, its callback maybe still
     * running; w is freed below, and fn must have returned when this does. */
    while (!found && c->closing == w)
        pthread_cond_wait(&c->stopped, &c->mu);
    pthread_mutex_unlock(&c->mu);
    if (found) {
        VT(c)->watch_cancel(c->in.state, w->dw);
        pthread_mutex_lock(&c->mu);
        if (--c->cancelling == 0)
            pthread_cond_broadcast(&c->stopped);
        pthread_mutex_unlock(&c->mu);
    }
    if (w->cleanup)
        w->cleanup(w->ud);
    free(w);
    return found ? IMI_OK : imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", c->in.section);
}

void imi_coord_watches_stop(imi_coord *c)
{
    pthread_mutex_lock(&c->mu);
    /* One watch at a time out of the list, so that a cancel meanwhile either finds its
     * watch there and stops it itself, or waits only for the one being stopped here (a
     * callback of this one cancelling another watch does not wait for itself). */
    for (imi_coord_watch *w; (w = c->watches);) {
        c->watches = w->next;
        c->closing = w;
        pthread_mutex_unlock(&c->mu);
        VT(c)->watch_cancel(c->in.state, w->dw);
        pthread_mutex_lock(&c->mu);
        w->dw = NULL;
        c->closing = NULL;
        pthread_cond_broadcast(&c->stopped);
    }
    /* Cancels that took their watch out before: their callbacks may still run and they
     * still call the driver, which closes after this returns. Waits as long as the
     * callbacks take, as imi_coord_watch_cancel does. */
    while (c->cancelling)
        pthread_cond_wait(&c->stopped, &c->mu);
    pthread_mutex_unlock(&c->mu);
}
