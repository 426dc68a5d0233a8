/* Inside the coord front-end: the handle, and what its parts share. Layers, each calling
 * only those below it: coord.c (open/close) on top; coord_registry.c, coord_ids.c,
 * coord_lock.c over coord_hold.c over coord_keeper.c; coord_kv.c (the KV, lease and watch
 * primitives) at the bottom. Everything here works on keys without the instance prefix. */
#ifndef IMI_CORE_COORD_INTERNAL_H
#define IMI_CORE_COORD_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include "iminfra/coord.h"
#include "iminfra/driver/coord_driver.h"
#include "instance.h"

typedef struct coord_keeper coord_keeper;
typedef struct coord_keep coord_keep;
typedef struct coord_view coord_view;

struct imi_coord {
    imi_instance in;               /* caps, prefix, the normalised vtable */
    int64_t lease_ttl_ms;          /* [coord] lease_ttl: locks, registrations, ids */
    char owner[96];                /* host-pid-random: lock values, generated names */
    atomic_uint_fast64_t seq;      /* numbers generated instance names */

    pthread_mutex_t mu;            /* watches and resolvers lists, and the three below */
    struct imi_coord_watch *watches;
    /* A watch is stopped through the driver by one side only, and whoever frees it after
     * a concurrent close or cancel first waits for the other side to be done with it: */
    struct imi_coord_watch *closing; /* the watch close is stopping now, out of the list */
    int cancelling;                /* cancels stopping a watch they took out of the list */
    pthread_cond_t stopped;        /* either one is done */
    coord_view *resolvers;
    pthread_mutex_t resolve_mu;    /* one resolver opened at a time */

    coord_keeper *keeper;          /* created on first use */
};

struct imi_coord_watch {
    imi_coord *c;
    void *dw;                      /* the driver's watch; NULL once stopped */
    imi_coord_watch_fn fn;
    void *ud;
    void (*cleanup)(void *ud);     /* frees what fn works on, after the watch stopped */
    struct imi_coord_watch *next;
};

/* The normalised vtable: slots past the driver's size are NULL. */
#define VT(c) ((const imi_coord_driver *)(c)->in.vt)

/* IMI_OK when the instance has cap, else IMI_ENOTSUP naming `what`. */
static inline int coord_need(const imi_coord *c, uint64_t cap, const char *what)
{
    return imi_instance_need(&c->in, cap, what);
}

/* Enter/leave around driver calls: IMI_ECLOSED after close, ctx errors. */
static inline int coord_enter(imi_coord *c, const imi_ctx *ctx)
{
    return imi_instance_enter(&c->in, ctx);
}
static inline void coord_leave(imi_coord *c) { imi_instance_leave(&c->in); }

/* The key-value and lease calls counted per call (metrics.h); locks, registrations and
 * ids are built on them and show up as the calls they make. */
enum {
    COORD_OP_ping, COORD_OP_get, COORD_OP_put, COORD_OP_del, COORD_OP_del_prefix,
    COORD_OP_cas, COORD_OP_list, COORD_OP_lease_grant, COORD_OP_lease_keepalive,
    COORD_OP_COUNT_
};
extern const char *const imi_coord_ops[COORD_OP_COUNT_];
static inline int coord_record(imi_coord *c, unsigned op, int rc, int64_t t0)
{
    return imi_instance_record(&c->in, op, rc, t0);
}

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

/* Stops every watch still open (at close); user watches stay allocated for their
 * cancel call. */
void imi_coord_watches_stop(imi_coord *c);

/* A conditional write on key (no prefix): see imi_coord_driver.cas. */
int imi_coord_cas_on(imi_coord *c, const imi_ctx *ctx, const char *key,
                     imi_coord_cmp_target target, int64_t expect, const imi_coord_write *w,
                     int64_t *rev);

/* An internal watch whose cleanup(ud) runs after it stopped (cancel or close). */
int imi_coord_watch_open(imi_coord *c, const imi_ctx *ctx, const char *key, unsigned flags,
                         int64_t start_rev, imi_coord_watch_fn fn, void *ud,
                         void (*cleanup)(void *ud), imi_coord_watch **out);

/* "<a><b><c>" in a new allocation; NULL when out of memory. */
char *imi_coord_join(const char *a, const char *b, const char *c);

/* A monotonic deadline for ctx: its own, or now + the instance timeout. */
int64_t imi_coord_deadline_ns(const imi_coord *c, const imi_ctx *ctx);

/* ---- keeper: renews leases in the background (coord_keeper.c) ---- */

/* lost(ud): once, on the keeper thread, when the lease is found gone and there is no
 * recover. recover(ud, ctx, &lease, &ttl_ms): makes a new lease and rewrites what the old
 * one held, within ctx; IMI_OK to keep going with it, else retried later. */
typedef void (*coord_lost_cb)(void *ud);
typedef int (*coord_recover_cb)(void *ud, const imi_ctx *ctx, int64_t *lease, int64_t *ttl_ms);

int imi_coord_keeper_add(imi_coord *c, int64_t lease, int64_t ttl_ms, coord_lost_cb lost,
                         coord_recover_cb recover, void *ud, coord_keep **out);
/* Stops keeping; when it returns no callback of k runs (unless called from that very
 * callback, which then finishes first). NULL k is ignored. */
void imi_coord_keeper_remove(imi_coord *c, coord_keep *k);
/* Removes every entry of lease (imi_coord_lease_revoke). */
void imi_coord_keeper_forget_lease(imi_coord *c, int64_t lease);
/* Joins the keeper thread (at close); entries stay until removed or imi_coord_keeper_free. */
void imi_coord_keeper_stop(imi_coord *c);
void imi_coord_keeper_free(imi_coord *c);

/* ---- holds: a key held under a lease (coord_hold.c) ---- */

typedef struct coord_hold coord_hold;

#define HOLD_EXCLUSIVE 0x1u   /* create only when absent (locks, ids) */
#define HOLD_RENEW     0x2u   /* the keeper renews the lease */
#define HOLD_RECREATE  0x4u   /* after a lost lease, write the key again (registrations) */

int imi_coord_hold_take(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                        size_t len, int64_t ttl_ms, unsigned flags, coord_hold **out);
int imi_coord_hold_renew(coord_hold *h, const imi_ctx *ctx);
int imi_coord_hold_check(coord_hold *h, const imi_ctx *ctx);
void imi_coord_hold_on_lost(coord_hold *h, imi_coord_lost_fn fn, void *ud);
int64_t imi_coord_hold_lease(coord_hold *h);
const char *imi_coord_hold_key(const coord_hold *h);
/* Deletes the key if still held, revokes the lease, frees h. IMI_ECONFLICT when lost. */
int imi_coord_hold_release(coord_hold *h, const imi_ctx *ctx);

/* ---- resolvers (coord_registry.c) ---- */

/* Cancels and frees every resolver of c (at close). */
void imi_coord_resolvers_close(imi_coord *c);

#endif
