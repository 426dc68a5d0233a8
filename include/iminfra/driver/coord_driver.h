/* The coord driver vtable: the primitives of a revisioned key-value store with watches
 * and leases. Locks, the service registry, resolve and instance ids are built by the
 * front-end from these slots, so every driver gets them alike.
 *
 * Contracts for every slot:
 *  - `st` is the driver's private state (desc->state_size bytes, zeroed, allocated by
 *    the core); `open` initialises it, `close` releases what open acquired. close is
 *    called once, also after a failed open, never while a call is in flight, and after
 *    every watch of the handle was cancelled.
 *  - Slots are called from many threads at once. Those taking a ctx may block up to its
 *    deadline (host->ctx_remaining_ms with env->default_timeout_ms) and should give up
 *    early when host->ctx_canceled says so.
 *  - Keys arrive already prefixed and NUL-terminated (klen excludes the NUL); keys handed
 *    back (list, events) are the full stored keys, NUL-terminated.
 *  - Output goes into core-owned imi_buf through host->buf_set; listings through fn.
 *  - Return IMI_OK or a negative imi code with detail through host->error:
 *    IMI_ENOTFOUND for a missing key or lease, IMI_ECONFLICT for a failed comparison,
 *    IMI_EUNAVAILABLE when the backend cannot be reached (retryable), IMI_ETIMEDOUT /
 *    IMI_ECANCELED from the ctx.
 *  - Revisions are those of one store-wide counter that only grows; a revision out
 *    parameter may be NULL.
 *
 * The slots are grouped by lifetime: the driver (open/close, KV), a lease (grant, renew,
 * revoke: optional, IMI_COORD_CAP_LEASE) and a watch (start, cancel: optional,
 * IMI_COORD_CAP_WATCH). An optional slot that is NULL makes the front-end answer
 * IMI_ENOTSUP.
 */
#ifndef IMINFRA_DRIVER_COORD_DRIVER_H
#define IMINFRA_DRIVER_COORD_DRIVER_H

#include "iminfra/driver/driver.h"
#include "iminfra/coord.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a conditional write compares. For an absent key every target reads as 0. */
typedef enum imi_coord_cmp_target {
    IMI_COORD_CMP_VERSION = 1,
    IMI_COORD_CMP_CREATE_REV = 2,
    IMI_COORD_CMP_MOD_REV = 3
} imi_coord_cmp_target;

/* The write of a conditional write. */
typedef struct imi_coord_write {
    enum { IMI_COORD_WRITE_PUT = 1, IMI_COORD_WRITE_DEL = 2 } op;
    const void *val;      /* PUT: the value (never NULL) and its length */
    size_t len;
    int64_t lease;        /* PUT: the lease to attach, 0: none */
} imi_coord_write;

/* One key of a listing: return non-zero to stop (the slot then returns IMI_OK). */
typedef int (*imi_coord_driver_kv_fn)(void *ud, const char *key, size_t klen, const void *val,
                                      size_t len, const imi_coord_meta *meta);

/* One watch event, owned by the driver, valid during the call. */
typedef void (*imi_coord_driver_event_fn)(void *ud, const imi_coord_event *ev);

typedef struct imi_coord_driver {
    uint32_t size;                                   /* sizeof(imi_coord_driver) */

    /* ---- driver ---- */
    int (*open)(void *st, const imi_driver_env *env);
    void (*close)(void *st);
    int (*ping)(void *st, const imi_ctx *ctx);

    /* Reads one key: value into val, meta filled when not NULL. IMI_ENOTFOUND on a miss. */
    int (*get)(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val,
               imi_coord_meta *meta);
    /* Creates or replaces; lease 0 detaches the key from any lease; a lease that does not
     * exist is IMI_ENOTFOUND (nothing written). *rev: the revision of the write. */
    int (*put)(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
               size_t len, int64_t lease, int64_t *rev);
    /* Deletes the key, or with prefix every key starting with key. *deleted: how many;
     * *rev: the revision of the delete (the current one when nothing was deleted). A
     * missing key is not an error here: the front-end reads *deleted. */
    int (*del)(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
               int64_t *deleted, int64_t *rev);
    /* Every key starting with prefix (plen 0: all), in byte order of the keys, from one
     * consistent read at revision *rev. fn runs on the calling thread, with no lock of the
     * driver held (fn may call other slots). */
    int (*list)(void *st, const imi_ctx *ctx, const char *prefix, size_t plen,
                imi_coord_driver_kv_fn fn, void *ud, int64_t *rev);
    /* Atomically: if the key's `target` equals expect, do the write, else IMI_ECONFLICT
     * (nothing written). *rev: the revision of the write. */
    int (*cas)(void *st, const imi_ctx *ctx, const char *key, size_t klen,
               imi_coord_cmp_target target, int64_t expect, const imi_coord_write *w,
               int64_t *rev);

    /* ---- lease (optional, IMI_COORD_CAP_LEASE) ---- */
    /* A new lease of at least ttl_ms; *granted_ms: the TTL the backend granted (>= ttl_ms
     * rounded to what it supports). Lease ids are positive and never reused by a store. */
    int (*lease_grant)(void *st, const imi_ctx *ctx, int64_t ttl_ms, int64_t *id,
                       int64_t *granted_ms);
    /* Restarts the lease's TTL; *ttl_ms: the TTL now left. IMI_ENOTFOUND when it expired
     * or was revoked. */
    int (*lease_keepalive)(void *st, const imi_ctx *ctx, int64_t id, int64_t *ttl_ms);
    /* Ends the lease and deletes its keys (delete events for each). IMI_ENOTFOUND when it
     * did not exist. Expiry has the same effect, without anyone calling. */
    int (*lease_revoke)(void *st, const imi_ctx *ctx, int64_t id);

    /* ---- watch (optional, IMI_COORD_CAP_WATCH) ---- */
    /* Starts delivering the puts and deletes of key (with prefix: of every key starting
     * with key) to fn, from revision start_rev (0: from the next write on), in revision
     * order, one at a time, on a thread of the driver. It returns once the watch is
     * established: every write with revision >= start_rev (or made after the return when
     * start_rev is 0) will be delivered. A start_rev older than the backend's history is
     * IMI_ECONFLICT. When the stream to the backend breaks, the driver resumes from the
     * revision after the last one delivered, retrying until cancelled; if that revision
     * was compacted meanwhile it delivers one IMI_COORD_EVENT_LOST (meta.mod_rev: where it
     * resumes). *w: the driver's handle of the watch. */
    int (*watch_start)(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
                       int64_t start_rev, imi_coord_driver_event_fn fn, void *ud, void **w);
    /* Stops and frees watch w: when it returns, fn is not running and will not run again.
     * Never called from fn. */
    void (*watch_cancel)(void *st, void *w);

    /* ---- instance (optional) ---- */
    /* The capabilities of this open instance, a subset of desc->caps (a driver whose
     * options can turn features off, or that learns at open what the server offers).
     * Called once, after a successful open. NULL: desc->caps. */
    uint64_t (*caps)(void *st);
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_coord_driver;

/* The smallest vtable the core accepts: the ABI 1.0 layout. */
#define IMI_COORD_DRIVER_SIZE_1_0 IMI_SIZE_THROUGH(imi_coord_driver, caps)

#ifdef __cplusplus
}
#endif
#endif
