/* A component instance: one config section, its loaded driver, the parsed options, the
 * driver's private state and everything the four front-ends share: open, close and free
 * in one order for every kind, the closed flag and calls in flight, the capability
 * check, the key prefix. A front-end's handle starts with an imi_instance; the front-end
 * describes itself with an imi_frontend (its keys and four hooks) and keeps only its
 * argument checks and slot calls.
 *
 * Order of an open: load and check the driver (kind_abi.c: sizes, required slots,
 * capability slots), check the section's keys, parse options, allocate the driver state,
 * fe->configure, the driver's open, the driver's caps(), fe->started. A failed driver open
 * is followed by the driver's close and nothing else.
 * Order of a close: mark closed, wait for calls in flight, fe->stopping, the driver's
 * close. free: close if still open, fe->release, then the instance. */
#ifndef IMI_CORE_INSTANCE_H
#define IMI_CORE_INSTANCE_H

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/app.h"
#include "iminfra/driver/driver.h"
#include "chaos.h"
#include "fence.h"
#include "kind_abi.h"
#include "loader.h"
#include "metrics.h"

/* Calls in flight, counted on the calling thread's stripe (metrics.h): one shared counter
 * would bounce its cache line between cores on every call, and on a stripe of its own a
 * thread counts with a plain load and store, no locked instruction. A call may leave on
 * another thread than it entered on: only the sum over the stripes means anything. */
typedef struct imi_inflight_stripe {
    atomic_int n;
    char pad[64 - sizeof(atomic_int)]; /* padding, not _Alignas: handles come from calloc */
} imi_inflight_stripe;

static inline void imi_inflight_add(atomic_int *n, const imi_thread_slot *t, int d)
{
    if (t->owned)
        atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + d,
                              memory_order_release);
    else
        atomic_fetch_add_explicit(n, d, memory_order_release);
}

typedef struct imi_instance imi_instance;

/* Prefixes up to this long are copied into keys as one fixed-size block (imi_pkey_make). */
#define IMI_PREFIX_HEAD 32

/* What a front-end tells the instance layer about itself. Hooks may be NULL. */
typedef struct imi_frontend {
    imi_kind kind;
    size_t handle_size;            /* sizeof the handle; it starts with an imi_instance */
    const char *const *keys;       /* the section keys it reads, besides driver,
                                      driver_path, timeout (and prefix when prefixed) */
    bool prefixed;                 /* takes `prefix`: keys are prefixed per instance */
    /* Before the driver's open: read the front-end's keys, set up its locks. */
    int (*configure)(imi_instance *in);
    /* After the driver's open succeeded; on failure the instance is closed and freed. */
    int (*started)(imi_instance *in);
    /* At close, after calls in flight have left, before the driver's close; only when
     * the driver is open. Stops background work (subscriptions, watches, keepers). */
    void (*stopping)(imi_instance *in);
    /* At free: releases what configure set up (also after a failed configure; never
     * when configure did not run). */
    void (*release)(imi_instance *in);
    /* The operations it counts (labels op="get", ...), indexed by the front-end's enum. */
    const char *const *ops;
    unsigned n_ops;
    /* At a metrics write: fills the kind's extra values (metrics.h, IMI_CACHE_X_...) from
     * in (NULL once the instance is gone: then only what m holds) and m, its counters.
     * Runs from another thread, at any time between open and free. */
    void (*read_extras)(imi_instance *in, const imi_op_metrics *m, uint64_t *vals);
} imi_frontend;

struct imi_instance {
    imi_app *app;
    const imi_frontend *fe;
    char section[128];           /* "cache", "cache.sessions" */
    imi_driver *driver;
    const imi_driver_desc *desc; /* the loader's normalised copy */
    const void *vt;              /* the vtable normalised: slots past the driver's size NULL */
    uint64_t caps;               /* of this open instance */
    char *prefix;                /* NULL when none */
    size_t prefix_len;
    char prefix_head[IMI_PREFIX_HEAD]; /* the prefix, NUL-padded, when it fits */
    imi_driver_env env;
    imi_opt_value *opts;         /* one per option of the schema */
    char **owned_strs;           /* resolved paths, one slot per option */
    imi_opt_kv *passthrough;     /* keys of option families ("kafka.*") */
    size_t n_passthrough;
    imi_logger *logger;
    int64_t timeout_ms;
    void *state;
    imi_chaos *chaos;            /* driver = chaos: faults injected before each call */
    imi_inflight_stripe inflight[IMI_METRIC_STRIPES];
    imi_op_metrics metrics;      /* per-call counters, striped like inflight; the app's
                                    metrics registry owns them (metrics.c) */
    bool registered;             /* attached to its series in the registry */
    imi_instance *metrics_next;  /* the series' next live instance */
    atomic_bool closed;
    unsigned fork_gen;           /* imi_fork_generation() at open */
    bool configured;             /* fe->configure ran: fe->release is due */
    bool opened;                 /* the driver's open succeeded: its close is still due */
};

/* Opens [kind] or [kind.name] as described above; *out is the new handle
 * (fe->handle_size bytes). */
int imi_instance_open(imi_app *app, const imi_frontend *fe, const char *name,
                      imi_instance **out);
/* Marks closed, waits for calls in flight, stops the front-end and closes the driver.
 * IMI_ECLOSED when already closed; IMI_EINVALID for NULL. */
int imi_instance_close(imi_instance *in);
/* Closes if needed and frees everything, the handle included. NULL is ignored. */
void imi_instance_free(imi_instance *in);

/* True in a process forked after the instance opened. There the driver's threads do not
 * exist and its sockets, leases and keys are the parent's too, so close and free only
 * forget the instance: no driver call, no join, no wait for calls in flight. */
bool imi_instance_inherited(const imi_instance *in);

/* Parses the driver's options from the section into in->opts (instance_options.c). */
int imi_instance_parse_options(imi_instance *in, const imi_config *cfg);

/* Enter before a driver call, leave after: after close, enter fails with IMI_ECLOSED;
 * a cancelled or expired ctx fails with its code. Enter publishes its count before it
 * reads `closed`, close publishes `closed` before it reads the counts, each with a
 * barrier between (fence.h), so one of them sees the other. Leave is a release, and close
 * reads the counts with acquire: what a call did happens before the driver's close. */
int imi_instance_closed_error(const imi_instance *in);
/* Counts a call in flight on t's stripe and reads `closed` with the handshake above;
 * true (and the count taken back) when the instance is closed. */
static inline bool imi_inflight_closed(imi_instance *in, const imi_thread_slot *t)
{
    atomic_int *n = &in->inflight[t->stripe].n;
#ifdef IMI_FENCE_TSAN
    atomic_fetch_add(n, 1);
    bool closed = atomic_load(&in->closed);
#else
    imi_inflight_add(n, t, 1);
    imi_fence_light();
    bool closed = atomic_load_explicit(&in->closed, memory_order_relaxed);
#endif
    if (closed)
        imi_inflight_add(n, t, -1);
    return closed;
}

static inline int imi_instance_enter_at(imi_instance *in, const imi_ctx *ctx,
                                        const imi_thread_slot *t)
{
    if (imi_inflight_closed(in, t))
        return imi_instance_closed_error(in);
    int rc = ctx ? imi_ctx_err(ctx) : IMI_OK;
    if (!rc && in->chaos)
        rc = imi_chaos_enter(in->chaos, ctx, in->timeout_ms);
    if (rc)
        imi_inflight_add(&in->inflight[t->stripe].n, t, -1);
    return rc;
}

static inline void imi_instance_leave_at(imi_instance *in, const imi_thread_slot *t)
{
    imi_inflight_add(&in->inflight[t->stripe].n, t, -1);
}

/* Enter for a call that only ends something (no ctx, no chaos): true while the instance
 * is open, and close then waits for the imi_instance_leave that must follow. */
static inline bool imi_instance_enter_open(imi_instance *in)
{
    return !imi_inflight_closed(in, imi_thread());
}

/* Taken before a call: the clock when in times this call, else 0 (no clock read: the two
 * reads are most of what metrics cost a call). One call in sample_mask + 1 per thread is
 * timed. in may be NULL. */
static inline int64_t imi_call_t0_at(const imi_instance *in, imi_thread_slot *t)
{
    if (!in || !in->metrics.timed || (++t->tick & in->metrics.sample_mask))
        return 0;
    return imi_now_mono_ns();
}

/* IMI_EDRIVER for a driver's rc that is no imi code (positive, or below the lowest),
 * naming the driver and op. */
int imi_instance_odd_code(const imi_instance *in, unsigned op, int rc);

/* Counts one call of op (the front-end's index) that returned rc; t0 from imi_call_t0.
 * No lock, no allocation: adds on the calling thread's stripe. Returns rc as the caller
 * gets it: a code that is no imi code becomes IMI_EDRIVER. */
static inline int imi_instance_record_at(imi_instance *in, unsigned op, int rc, int64_t t0,
                                         const imi_thread_slot *t)
{
    if (__builtin_expect(rc > 0 || rc < IMI_ERRNO_MIN_, 0))
        rc = imi_instance_odd_code(in, op, rc);
    imi_op_metrics_add(&in->metrics, t, op, rc, t0 ? imi_now_mono_ns() - t0 : -1);
    return rc;
}

/* The same, each finding the thread's slot itself. A front-end's hot path takes the slot
 * once (imi_thread) and uses the _at forms: each thread-local access is a call through a
 * TLS descriptor in the shared library. */
static inline int imi_instance_enter(imi_instance *in, const imi_ctx *ctx)
{
    return imi_instance_enter_at(in, ctx, imi_thread());
}

static inline void imi_instance_leave(imi_instance *in)
{
    imi_instance_leave_at(in, imi_thread());
}

static inline int64_t imi_call_t0(const imi_instance *in)
{
    return imi_call_t0_at(in, imi_thread());
}

static inline int imi_instance_record(imi_instance *in, unsigned op, int rc, int64_t t0)
{
    return imi_instance_record_at(in, op, rc, t0, imi_thread());
}

/* IMI_ENOTSUP naming the operation, the section and the driver. */
int imi_instance_unsupported(const imi_instance *in, const char *what);
/* IMI_OK when this instance has capability cap, else IMI_ENOTSUP naming `what`. */
static inline int imi_instance_need(const imi_instance *in, uint64_t cap, const char *what)
{
    return (in->caps & cap) == cap ? IMI_OK : imi_instance_unsupported(in, what);
}

/* A key with the instance prefix: on the stack when it fits. */
typedef struct imi_pkey {
    char small[256];
    char *p;                     /* the prefixed key, NUL-terminated */
    size_t len;
} imi_pkey;
/* IMI_EINVALID (naming `what`) for a NULL key, or an empty one unless allow_empty (a
 * prefix that means "everything"). Inline, as it runs on every keyed call: a short key
 * under a short prefix (the usual case) is built with no call at all, the prefix copied
 * as one fixed-size block and the key byte by byte up to its NUL (for keys of a few
 * dozen bytes, calls to strlen and memcpy cost more than the copy). */
int imi_pkey_bad(const char *what, const char *key);
/* Any key: measured with strlen, on the stack when it fits, else on the heap. */
int imi_pkey_long(const imi_instance *in, const char *key, imi_pkey *k);
static inline int imi_pkey_make(const imi_instance *in, const char *what, const char *key,
                                bool allow_empty, imi_pkey *k)
{
    if (!key || (!*key && !allow_empty))
        return imi_pkey_bad(what, key);
    if (!in->prefix_len) {
        k->p = (char *)key;
        k->len = strlen(key);
        return IMI_OK;
    }
    if (in->prefix_len <= IMI_PREFIX_HEAD) {
        memcpy(k->small, in->prefix_head, IMI_PREFIX_HEAD);
        char *d = k->small + in->prefix_len, *end = k->small + sizeof k->small;
        const char *s = key;
        while (d < end && (*d = *s)) {
            d++;
            s++;
        }
        if (d < end) {
            k->p = k->small;
            k->len = (size_t)(d - k->small);
            return IMI_OK;
        }
    }
    return imi_pkey_long(in, key, k);
}

static inline void imi_pkey_free(imi_pkey *k, const char *key)
{
    if (k->p != key && k->p != k->small)
        free(k->p);
}

/* The host table handed to every driver. */
extern const imi_host_api imi_host;

#endif
