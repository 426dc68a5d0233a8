/* Holds: a key written under a lease of its own, the shape shared by locks, instance ids
 * (exclusive: created only when absent) and registrations (rewritten after a lost
 * lease). A hold knows its lease and the revision of its write, so it can tell whether
 * the key it finds is still the one it wrote (nobody rewrites a held key). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../ctx_internal.h"
#include "coord_internal.h"
#include "iminfra/error.h"

struct coord_hold {
    imi_coord *c;
    char *key;
    char *val;
    size_t len;
    unsigned flags;
    coord_keep *keep;

    pthread_mutex_t mu;           /* what the keeper thread changes */
    int64_t lease, ttl_ms, rev;
    bool lost;
    imi_coord_lost_fn on_lost;
    void *ud;
};

/* Gives back a lease a failed take granted, within what is left of the take's deadline
 * (a child of ctx: a cancel stops it too). The caller's deadline holds even when the
 * backend hangs: a lease not revoked in time expires after its TTL on its own. The
 * failure the caller hears of stays the take's, not the cleanup's. */
static void revoke_within(imi_coord *c, const imi_ctx *ctx, int64_t deadline_ns, int64_t lease)
{
    int code = imi_error_code();
    long native = imi_error_native();
    char msg[512];
    snprintf(msg, sizeof msg, "%s", imi_error_message());
    imi_ctx cleanup;
    imi_ctx_init_(&cleanup, ctx);
    cleanup.deadline_ns = deadline_ns;
    if (imi_now_mono_ns() < deadline_ns)
        imi_coord_lease_revoke(c, &cleanup, lease);
    imi_ctx_fini_(&cleanup);
    imi_error_set(code, native, "%s", msg);
}

/* Grants a lease and writes the key under it, all before deadline_ns. */
static int write_key(coord_hold *h, const imi_ctx *ctx, int64_t deadline_ns, int64_t *lease,
                     int64_t *ttl, int64_t *rev)
{
    imi_coord *c = h->c;
    int rc = imi_coord_lease_grant(c, ctx, h->ttl_ms, lease, ttl);
    if (rc)
        return rc;
    imi_coord_write w = { .op = IMI_COORD_WRITE_PUT, .val = h->val, .len = h->len,
                          .lease = *lease };
    if (h->flags & HOLD_EXCLUSIVE)
        rc = imi_coord_cas_on(c, ctx, h->key, IMI_COORD_CMP_CREATE_REV, 0, &w, rev);
    else
        rc = imi_coord_put_lease(c, ctx, h->key, h->val, h->len, *lease, rev);
    if (rc) {
        revoke_within(c, ctx, deadline_ns, *lease);
        if (rc == IMI_ECONFLICT)
            rc = imi_error_set(IMI_ECONFLICT, 0, "coord: %s is held by another owner", h->key);
    }
    return rc;
}

static void mark_lost(coord_hold *h)
{
    pthread_mutex_lock(&h->mu);
    bool first = !h->lost;
    h->lost = true;
    imi_coord_lost_fn fn = h->on_lost;
    void *ud = h->ud;
    pthread_mutex_unlock(&h->mu);
    if (first && fn)
        fn(ud);
}

static void keeper_lost(void *ud) { mark_lost(ud); }

static int keeper_recover(void *ud, const imi_ctx *ctx, int64_t *lease, int64_t *ttl)
{
    coord_hold *h = ud;
    int64_t rev = 0;
    int rc = write_key(h, ctx, imi_coord_deadline_ns(h->c, ctx), lease, ttl, &rev);
    if (rc)
        return rc;
    pthread_mutex_lock(&h->mu);
    h->lease = *lease;
    h->rev = rev;
    pthread_mutex_unlock(&h->mu);
    return IMI_OK;
}

static void hold_free(coord_hold *h)
{
    pthread_mutex_destroy(&h->mu);
    free(h->key);
    free(h->val);
    free(h);
}

int imi_coord_hold_take(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                        size_t len, int64_t ttl_ms, unsigned flags, coord_hold **out)
{
    *out = NULL;
    if (ttl_ms < 0 || ttl_ms > IMI_COORD_LEASE_TTL_MAX_MS)
        return imi_error_set(IMI_EINVALID, 0, "coord: a ttl must be 0 (the instance's lease_ttl) "
                             "to 3153600000000 ms (100 years), not %lld", (long long)ttl_ms);
    coord_hold *h = calloc(1, sizeof *h);
    if (!h)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    h->c = c;
    h->flags = flags;
    h->ttl_ms = ttl_ms > 0 ? ttl_ms : c->lease_ttl_ms;
    h->len = len;
    pthread_mutex_init(&h->mu, NULL);
    h->key = strdup(key);
    h->val = malloc(len + 1);
    if (!h->key || !h->val) {
        hold_free(h);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    memcpy(h->val, val, len);
    h->val[len] = '\0';
    int64_t granted = 0, deadline = imi_coord_deadline_ns(c, ctx);
    int rc = write_key(h, ctx, deadline, &h->lease, &granted, &h->rev);
    if (!rc && granted > 0)
        h->ttl_ms = granted;
    if (!rc && (flags & HOLD_RENEW)) {
        rc = imi_coord_keeper_add(c, h->lease, h->ttl_ms, keeper_lost,
                                  (flags & HOLD_RECREATE) ? keeper_recover : NULL, h, &h->keep);
        if (rc)
            revoke_within(c, ctx, deadline, h->lease);
    }
    if (rc) {
        hold_free(h);
        return rc;
    }
    *out = h;
    return IMI_OK;
}

static bool is_lost(coord_hold *h)
{
    pthread_mutex_lock(&h->mu);
    bool lost = h->lost;
    pthread_mutex_unlock(&h->mu);
    return lost;
}

int imi_coord_hold_renew(coord_hold *h, const imi_ctx *ctx)
{
    if (is_lost(h))
        return imi_error_set(IMI_ECONFLICT, 0, "coord: %s was lost", h->key);
    int rc = imi_coord_lease_keepalive(h->c, ctx, imi_coord_hold_lease(h), NULL);
    if (rc == IMI_ENOTFOUND) {
        mark_lost(h);
        rc = imi_error_set(IMI_ECONFLICT, 0, "coord: %s was lost: its lease expired", h->key);
    }
    return rc;
}

int imi_coord_hold_check(coord_hold *h, const imi_ctx *ctx)
{
    if (is_lost(h))
        return imi_error_set(IMI_ECONFLICT, 0, "coord: %s was lost", h->key);
    imi_buf v = IMI_BUF_INIT;
    imi_coord_meta m = { 0 };
    int rc = imi_coord_get(h->c, ctx, h->key, &v, &m);
    imi_buf_free(&v);
    pthread_mutex_lock(&h->mu);
    bool mine = !rc && m.mod_rev == h->rev && m.lease == h->lease;
    pthread_mutex_unlock(&h->mu);
    if (rc && rc != IMI_ENOTFOUND)
        return rc;
    if (!mine) {
        mark_lost(h);
        return imi_error_set(IMI_ECONFLICT, 0, "coord: %s is no longer held", h->key);
    }
    return IMI_OK;
}

void imi_coord_hold_on_lost(coord_hold *h, imi_coord_lost_fn fn, void *ud)
{
    pthread_mutex_lock(&h->mu);
    h->on_lost = fn;
    h->ud = ud;
    bool lost = h->lost;
    pthread_mutex_unlock(&h->mu);
    if (lost && fn)
        fn(ud);
}

int64_t imi_coord_hold_lease(coord_hold *h)
{
    pthread_mutex_lock(&h->mu);
    int64_t lease = h->lease;
    pthread_mutex_unlock(&h->mu);
    return lease;
}

const char *imi_coord_hold_key(const coord_hold *h) { return h->key; }

/* In a forked child the key and lease are the parent's: nothing is deleted or revoked,
 * and the keeper (gone with its thread) is not touched, nor h->mu, which its thread may
 * have held at the fork. */
static void hold_forget(coord_hold *h)
{
    free(h->key);
    free(h->val);
    free(h);
}

int imi_coord_hold_release(coord_hold *h, const imi_ctx *ctx)
{
    imi_coord *c = h->c;
    if (imi_instance_inherited(&c->in)) {
        hold_forget(h);
        return IMI_OK;
    }
    imi_coord_keeper_remove(c, h->keep);
    /* Delete only the key this hold wrote: one written by someone else after our lease
     * ended has another revision and is left alone. */
    imi_coord_write w = { .op = IMI_COORD_WRITE_DEL };
    int rc = imi_coord_cas_on(c, ctx, h->key, IMI_COORD_CMP_MOD_REV, h->rev, &w, NULL);
    /* Reported lost (the lease could not be renewed for a whole TTL) but the key is still
     * ours: it is cleaned up, and the holder still hears that it was not held throughout. */
    if (rc == IMI_ECONFLICT || (!rc && is_lost(h)))
        rc = imi_error_set(IMI_ECONFLICT, 0, "coord: %s was no longer held", h->key);
    int rc2 = imi_coord_lease_revoke(c, ctx, h->lease);
    if (!rc && rc2 && rc2 != IMI_ENOTFOUND)
        rc = rc2;
    hold_free(h);
    return rc;
}
