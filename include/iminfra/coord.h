/* coord: a key-value config center with revisions, watches and leases, and on top of it
 * locks, a service registry with resolution, and instance-id allocation, over the driver
 * chosen by config ([coord] or [coord.NAME]).
 *
 * Keys are C strings; the instance's `prefix` is put in front of every key and taken off
 * again in what comes back (list, watch events). Values are bytes and may hold NUL.
 * Every write gets a revision from one counter of the store; each key keeps its version
 * (1 when created, +1 per put, 0 when absent), its create and mod revisions, and the
 * lease it is attached to (0: none). A miss is IMI_ENOTFOUND. Every call that does I/O
 * takes a ctx first (NULL: the instance's `timeout`). Durations are milliseconds.
 *
 * Background work of a handle: one keeper thread renews the leases of locks,
 * registrations, instance ids and imi_coord_lease_keep (each at a third of its TTL) and
 * re-registers a registration whose lease was lost. Watch callbacks run on a thread of
 * the driver, one event at a time per watch, in revision order.
 *
 * Locks, registrations, instance ids and watches must be released before the handle is
 * freed. After imi_coord_close their release functions free them and return IMI_ECLOSED.
 * In a forked child, releasing or freeing inherited ones deletes and revokes nothing: the
 * keys and leases stay the parent's (app.h).
 *
 * Operations the driver does not advertise (imi_coord_caps) return IMI_ENOTSUP: locks,
 * registrations and instance ids need IMI_COORD_CAP_LEASE; watches, service watches and
 * resolve need IMI_COORD_CAP_WATCH (without it, a waiting lock acquire polls).
 *
 * Config keys of [coord] besides the driver's options: `prefix` (put before every key),
 * `lease_ttl` (TTL of locks, registrations and instance ids when none is given; 10s) and
 * `timeout` (for a NULL ctx; 5s).
 *
 * Threads: a handle is safe to use from many threads; a lock, registration, instance id or
 * watch belongs to one thread at a time; callbacks run on the threads said at each.
 */
#ifndef IMINFRA_COORD_H
#define IMINFRA_COORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "iminfra/app.h"
#include "iminfra/buf.h"
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_coord imi_coord;

/* Capability bits (a driver's descriptor and imi_coord_caps). KV and CAS are always there. */
#define IMI_COORD_CAP_WATCH (1u << 0)
#define IMI_COORD_CAP_LEASE (1u << 1)

/* name NULL or "": the [coord] section; "cfg": [coord.cfg]. */
int imi_coord_open(imi_app *app, const char *name, imi_coord **out);
/* Stops the keeper and every watch, closes the backend; later calls return IMI_ECLOSED.
 * A second close returns IMI_ECLOSED. Must not be called from a watch or lost callback. */
int imi_coord_close(imi_coord *c);
/* Closes if needed and frees the handle. */
void imi_coord_free(imi_coord *c);

uint64_t imi_coord_caps(const imi_coord *c);
const char *imi_coord_driver_name(const imi_coord *c);
int imi_coord_ping(imi_coord *c, const imi_ctx *ctx);

/* ---- key-value ------------------------------------------------------------------------ */

typedef struct imi_coord_meta {
    int64_t version;      /* 1 after the create, +1 per put; 0 for an absent key */
    int64_t create_rev;   /* revision of the put that created the key */
    int64_t mod_rev;      /* revision of the last put (of the delete, in a delete event) */
    int64_t lease;        /* lease the key is attached to, 0: none */
} imi_coord_meta;

/* meta may be NULL. IMI_ENOTFOUND for a missing key. */
int imi_coord_get(imi_coord *c, const imi_ctx *ctx, const char *key, imi_buf *val,
                  imi_coord_meta *meta);
/* *rev (may be NULL): the revision of the write. */
int imi_coord_put(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                  size_t len, int64_t *rev);
/* A put attached to a lease: the key is deleted when the lease ends. IMI_ENOTFOUND when
 * the lease does not exist. */
int imi_coord_put_lease(imi_coord *c, const imi_ctx *ctx, const char *key, const void *val,
                        size_t len, int64_t lease, int64_t *rev);
/* IMI_OK when deleted, IMI_ENOTFOUND when it was not there. */
int imi_coord_del(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t *rev);
/* Deletes every key that starts with prefix; *n (may be NULL) is how many. */
int imi_coord_del_prefix(imi_coord *c, const imi_ctx *ctx, const char *prefix, int64_t *n);

/* Compare-and-set by version: writes only when the key's version is expect_version
 * (0: the key must be absent, i.e. create-if-absent). IMI_ECONFLICT when it is not. */
int imi_coord_cas(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t expect_version,
                  const void *val, size_t len, int64_t *rev);
/* Deletes only when the key's version is expect_version; IMI_ECONFLICT when it is not
 * (also when the key is absent). */
int imi_coord_cas_del(imi_coord *c, const imi_ctx *ctx, const char *key,
                      int64_t expect_version, int64_t *rev);

/* One key of a listing; key without the instance prefix. Return non-zero to stop. */
typedef int (*imi_coord_kv_fn)(void *ud, const char *key, const void *val, size_t len,
                               const imi_coord_meta *meta);
/* Every key starting with prefix ("" lists all), in key order, from one consistent read;
 * *rev (may be NULL) is the store revision of that read. */
int imi_coord_list(imi_coord *c, const imi_ctx *ctx, const char *prefix, imi_coord_kv_fn fn,
                   void *ud, int64_t *rev);

/* ---- watch ---------------------------------------------------------------------------- */

typedef enum imi_coord_event_type {
    IMI_COORD_EVENT_PUT = 1,
    IMI_COORD_EVENT_DELETE = 2,
    /* Events before mod_rev could not be delivered (the backend compacted its history
     * while the stream was broken); the watch goes on from mod_rev. Re-read the state. */
    IMI_COORD_EVENT_LOST = 3
} imi_coord_event_type;

/* Valid only during the callback. For a delete, value is empty and meta.mod_rev is the
 * revision of the delete. key is NUL-terminated. */
typedef struct imi_coord_event {
    imi_coord_event_type type;
    const char *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    imi_coord_meta meta;
} imi_coord_event;

typedef void (*imi_coord_watch_fn)(void *ud, const imi_coord_event *ev);
typedef struct imi_coord_watch imi_coord_watch;

#define IMI_COORD_WATCH_PREFIX 0x1u   /* every key that starts with key */

/* Calls fn for each put and delete of key (or under it), in revision order, from
 * start_rev on (0: from now), on a driver thread. After a broken stream the watch resumes
 * from the revision after the last one delivered: no event is missed nor repeated. fn may
 * call other coord functions but must not cancel its own watch. */
int imi_coord_watch_start(imi_coord *c, const imi_ctx *ctx, const char *key, unsigned flags,
                    int64_t start_rev, imi_coord_watch_fn fn, void *ud, imi_coord_watch **out);
/* Stops the watch (when it returns, fn is not running and will not be called again) and
 * frees it. IMI_ECLOSED when the handle was closed first (the watch is freed anyway). */
int imi_coord_watch_cancel(imi_coord_watch *w);

/* ---- typed values (JSON into a C struct) ---------------------------------------------- */

/* A config value stored as a JSON object, decoded into the caller's struct through a field
 * table (like a driver's option schema):
 *
 *   typedef struct limits { int64_t max_conns; double ratio; bool strict; char zone[16]; } limits;
 *   static const imi_json_field limit_fields[] = {
 *       IMI_JSON_FIELD(limits, max_conns, "max_conns", IMI_JSON_INT, .required = true),
 *       IMI_JSON_FIELD(limits, ratio, "tuning.ratio", IMI_JSON_DOUBLE, .default_value = "0.5"),
 *       IMI_JSON_FIELD(limits, strict, "strict", IMI_JSON_BOOL),
 *       IMI_JSON_FIELD(limits, zone, "zone", IMI_JSON_STRING),
 *   };
 *   limits l;
 *   rc = imi_coord_get_json(coord, ctx, "svc/limits", limit_fields, 4, &l, NULL);
 *
 * A path "a.b" reads member b of the object a. Strings are copied into the char array
 * (IMI_JSON_FIELD takes its size); one that does not fit is an error, never cut. Integers
 * must be whole JSON numbers that fit int64; doubles take any number. An absent optional
 * field takes default_value (text: "8", "0.5", "true", "eu") or, without one, is zeroed.
 * Unknown members are ignored. Errors are IMI_EINVALID, the message naming the key and
 * the JSON path ("svc/limits: $.tuning.ratio: expected a number, got a string"). */
typedef enum imi_json_type {
    IMI_JSON_STRING = 1,   /* char[size] */
    IMI_JSON_INT = 2,      /* int64_t */
    IMI_JSON_DOUBLE = 3,   /* double */
    IMI_JSON_BOOL = 4      /* bool */
} imi_json_type;

typedef struct imi_json_field {
    const char *path;
    imi_json_type type;
    size_t offset;              /* offsetof(struct, member) */
    size_t size;                /* sizeof the member */
    bool required;
    const char *default_value;
} imi_json_field;

#define IMI_JSON_FIELD(struct_type, member, json_path, json_type, ...)                   \
    { .path = (json_path), .type = (json_type), .offset = offsetof(struct_type, member), \
      .size = sizeof(((struct_type *)0)->member), __VA_ARGS__ }

/* Decodes the JSON text (len bytes) into out; what = the name used in errors. */
int imi_json_decode(const char *what, const void *json, size_t len, const imi_json_field *fields,
                    size_t n, void *out);
/* Reads key and decodes it into out. IMI_ENOTFOUND for a missing key. meta may be NULL. */
int imi_coord_get_json(imi_coord *c, const imi_ctx *ctx, const char *key,
                       const imi_json_field *fields, size_t n, void *out, imi_coord_meta *meta);

/* value: a struct of the watch's value_size decoded from the new value, valid during the
 * call; rc IMI_OK. A value that does not decode gives value NULL, rc IMI_EINVALID and
 * the reason in error (the application keeps what it had); a delete gives value NULL and
 * rc IMI_ENOTFOUND. */
typedef void (*imi_coord_json_fn)(void *ud, const void *value, int rc, const char *error);
/* Calls fn with the key's current value (when it exists), then again on every change,
 * decoded like imi_coord_get_json, on a driver thread; no change is missed between the
 * read and the watch. Cancel with imi_coord_watch_cancel. */
int imi_coord_watch_json(imi_coord *c, const imi_ctx *ctx, const char *key,
                         const imi_json_field *fields, size_t n, size_t value_size,
                         imi_coord_json_fn fn, void *ud, imi_coord_watch **out);

/* ---- leases --------------------------------------------------------------------------- */

/* The longest lease TTL (ms): 100 years (IMI_DURATION_MAX_MS), within etcd's own limit.
 * A longer one is refused with IMI_EINVALID, never cut or wrapped. */
#define IMI_COORD_LEASE_TTL_MAX_MS IMI_DURATION_MAX_MS

/* *granted_ms (may be NULL): the TTL the backend granted (it may round up). */
int imi_coord_lease_grant(imi_coord *c, const imi_ctx *ctx, int64_t ttl_ms, int64_t *lease,
                          int64_t *granted_ms);
/* Renews once. IMI_ENOTFOUND when the lease has expired or was revoked. */
int imi_coord_lease_keepalive(imi_coord *c, const imi_ctx *ctx, int64_t lease,
                              int64_t *ttl_ms);
/* Ends the lease now (its keys are deleted); also stops keeping it. IMI_ENOTFOUND when
 * it did not exist. */
int imi_coord_lease_revoke(imi_coord *c, const imi_ctx *ctx, int64_t lease);

/* Called once when something held through a lease is found lost (see each on_lost). */
typedef void (*imi_coord_lost_fn)(void *ud);
/* Has the keeper renew the lease (TTL ttl_ms) until revoked or the handle is closed;
 * on_lost (may be NULL) is called, on the keeper thread, if a renewal finds it gone. */
int imi_coord_lease_keep(imi_coord *c, int64_t lease, int64_t ttl_ms, imi_coord_lost_fn on_lost,
                         void *ud);

/* ---- locks ---------------------------------------------------------------------------- */

typedef struct imi_coord_lock imi_coord_lock;

/* The lock is the key itself, created with a lease of TTL ttl_ms (0: the instance's
 * `lease_ttl`; backends may round it up) and the holder's owner string as value. The
 * keeper renews it unless IMI_COORD_LOCK_NO_RENEW is given (then it expires ttl_ms after
 * acquire unless imi_coord_lock_renew is called). A lock whose lease could not be renewed
 * for a whole TTL (backend unreachable) counts as lost: another may have taken it. */
#define IMI_COORD_LOCK_NO_RENEW 0x1u

/* One attempt: IMI_ECONFLICT when another holder has it. */
int imi_coord_lock_try(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t ttl_ms,
                       unsigned flags, imi_coord_lock **out);
/* Waits until the lock is free and takes it, up to the ctx deadline (IMI_ETIMEDOUT) or
 * cancel (IMI_ECANCELED). */
int imi_coord_lock_acquire(imi_coord *c, const imi_ctx *ctx, const char *key, int64_t ttl_ms,
                           unsigned flags, imi_coord_lock **out);
/* Renews the lease now: IMI_ECONFLICT when the lock was lost. */
int imi_coord_lock_renew(imi_coord_lock *l, const imi_ctx *ctx);
/* Asks the backend: IMI_OK while held, IMI_ECONFLICT when lost (expired, deleted, taken). */
int imi_coord_lock_held(imi_coord_lock *l, const imi_ctx *ctx);
/* fn is called once when the lock is found lost (by the keeper, on its thread, or by
 * imi_coord_lock_held / imi_coord_lock_renew, on the caller's); at once (on this thread)
 * when it is known lost already. Replaces an earlier callback. */
void imi_coord_lock_on_lost(imi_coord_lock *l, imi_coord_lost_fn fn, void *ud);
/* Releases and frees the lock. IMI_ECONFLICT when it was no longer held (nothing of
 * another holder is touched). */
int imi_coord_unlock(imi_coord_lock *l, const imi_ctx *ctx);

/* ---- service registry ----------------------------------------------------------------- */

typedef struct imi_coord_registration imi_coord_registration;

/* Registers instance (NULL: a generated unique name) of service at addr, stored as
 * "<prefix>services/<service>/<instance>" = addr under a lease of ttl_ms (0: lease_ttl).
 * The keeper renews the lease and registers again if the lease is lost. */
int imi_coord_register(imi_coord *c, const imi_ctx *ctx, const char *service,
                       const char *instance, const char *addr, int64_t ttl_ms,
                       imi_coord_registration **out);
const char *imi_coord_registration_instance(const imi_coord_registration *r);
/* The lease the registration currently holds (it changes after a re-registration). */
int64_t imi_coord_registration_lease(const imi_coord_registration *r);
/* Deletes the registration, revokes its lease and frees it. */
int imi_coord_deregister(imi_coord_registration *r, const imi_ctx *ctx);

/* One live instance of a service. Return non-zero to stop. */
typedef int (*imi_coord_instance_fn)(void *ud, const char *instance, const char *addr);
/* The live instances, ordered by instance name. */
int imi_coord_discover(imi_coord *c, const imi_ctx *ctx, const char *service,
                       imi_coord_instance_fn fn, void *ud);

typedef enum imi_coord_service_event {
    IMI_COORD_SERVICE_UP = 1,    /* registered (or its address changed) */
    IMI_COORD_SERVICE_DOWN = 2   /* deregistered or its lease ended */
} imi_coord_service_event;
typedef void (*imi_coord_service_fn)(void *ud, imi_coord_service_event ev,
                                     const char *instance, const char *addr);
/* Reports the live instances as UP first (from the calling thread, before returning),
 * then every change (from the watch thread). Cancel with imi_coord_watch_cancel. */
int imi_coord_service_watch(imi_coord *c, const imi_ctx *ctx, const char *service,
                            imi_coord_service_fn fn, void *ud, imi_coord_watch **out);

/* One address of service, round-robin over its live instances, from a view kept current
 * by a watch (opened on the first call for that service, kept until close).
 * IMI_ENOTFOUND when no instance is live. */
int imi_coord_resolve(imi_coord *c, const imi_ctx *ctx, const char *service, imi_buf *addr);

/* ---- instance ids --------------------------------------------------------------------- */

typedef struct imi_coord_instance_id imi_coord_instance_id;

/* Takes the smallest free integer in [0, max_id] for service, held under a lease of the
 * instance's lease_ttl that the keeper renews: no two live holders ever have the same id.
 * IMI_ECONFLICT when every id is held. */
int imi_coord_instance_id_acquire(imi_coord *c, const imi_ctx *ctx, const char *service,
                                  int64_t max_id, int64_t *id, imi_coord_instance_id **out);
int64_t imi_coord_instance_id_value(const imi_coord_instance_id *h);
/* Asks the backend: IMI_OK while held, IMI_ECONFLICT when lost. */
int imi_coord_instance_id_held(imi_coord_instance_id *h, const imi_ctx *ctx);
/* Like imi_coord_lock_on_lost. */
void imi_coord_instance_id_on_lost(imi_coord_instance_id *h, imi_coord_lost_fn fn, void *ud);
/* Gives the id back and frees h; IMI_ECONFLICT when it had been lost. */
int imi_coord_instance_id_release(imi_coord_instance_id *h, const imi_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
