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
#include "iminfra/app.h"
#include "iminfra/driver/driver.h"
#include "chaos.h"
#include "kind_abi.h"
#include "loader.h"
#include "metrics.h"

/* Calls in flight, counted on per-thread stripes: one shared counter would bounce its cache
 * line between cores on every call. */
#define IMI_INFLIGHT_STRIPES 16
typedef struct imi_inflight_stripe {
    atomic_int n;
    char pad[64 - sizeof(atomic_int)]; /* padding, not _Alignas: handles come from calloc */
} imi_inflight_stripe;

/* The calling thread's stripe + 1 (0: not yet assigned). */
extern _Thread_local unsigned imi_inflight_tls;
unsigned imi_inflight_assign(void);

static inline atomic_int *imi_inflight_slot(imi_inflight_stripe *stripes)
{
    unsigned s = imi_inflight_tls;
    if (!s)
        s = imi_inflight_assign();
    return &stripes[s - 1].n;
}

typedef struct imi_instance imi_instance;

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
    imi_driver_env env;
    imi_opt_value *opts;         /* one per option of the schema */
    char **owned_strs;           /* resolved paths, one slot per option */
    imi_opt_kv *passthrough;     /* keys of option families ("kafka.*") */
    size_t n_passthrough;
    imi_logger *logger;
    int64_t timeout_ms;
    void *state;
    imi_chaos *chaos;            /* driver = chaos: faults injected before each call */
    imi_inflight_stripe inflight[IMI_INFLIGHT_STRIPES];
    imi_op_metrics metrics;      /* per-call counters, striped like inflight; the app's
                                    metrics registry owns them (metrics.c) */
    bool registered;             /* attached to its series in the registry */
    imi_instance *metrics_next;  /* the series' next live instance */
    atomic_bool closed;
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

/* Parses the driver's options from the section into in->opts (instance_options.c). */
int imi_instance_parse_options(imi_instance *in, const imi_config *cfg);

/* Enter before a driver call, leave after: after close, enter fails with IMI_ECLOSED;
 * a cancelled or expired ctx fails with its code. Both sides are sequentially
 * consistent: enter publishes its count before it reads `closed`, close publishes
 * `closed` before it reads the counts, so one of them sees the other. */
int imi_instance_closed_error(const imi_instance *in);
static inline int imi_instance_enter(imi_instance *in, const imi_ctx *ctx)
{
    atomic_int *slot = imi_inflight_slot(in->inflight);
    atomic_fetch_add(slot, 1);
    if (atomic_load(&in->closed)) {
        atomic_fetch_sub(slot, 1);
        return imi_instance_closed_error(in);
    }
    int rc = imi_ctx_err(ctx);
    if (!rc && in->chaos)
        rc = imi_chaos_enter(in->chaos, ctx, in->timeout_ms);
    if (rc)
        atomic_fetch_sub(slot, 1);
    return rc;
}

static inline void imi_instance_leave(imi_instance *in)
{
    atomic_fetch_sub_explicit(imi_inflight_slot(in->inflight), 1, memory_order_release);
}

/* Taken before a call: the clock when in times its calls, else 0 (no clock read: the
 * two reads are most of what metrics cost a call). in may be NULL. */
/* Calls timed so far on this thread: one in sample_mask + 1 is. */
extern _Thread_local unsigned imi_metric_tick;
static inline int64_t imi_call_t0(const imi_instance *in)
{
    if (!in || !in->metrics.timed || (++imi_metric_tick & in->metrics.sample_mask))
        return 0;
    return imi_now_mono_ns();
}

/* Counts one call of op (the front-end's index) that returned rc; t0 from imi_call_t0.
 * No lock, no allocation: adds on the calling thread's stripe. */
static inline void imi_instance_record(imi_instance *in, unsigned op, int rc, int64_t t0)
{
    if (!imi_inflight_tls)
        imi_inflight_assign();
    imi_op_metrics_add(&in->metrics, imi_metric_stripe_tls, op, rc,
                       t0 ? imi_now_mono_ns() - t0 : -1);
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
 * prefix that means "everything"). */
int imi_pkey_make(const imi_instance *in, const char *what, const char *key, bool allow_empty,
                  imi_pkey *k);
void imi_pkey_free(imi_pkey *k, const char *key);

/* The host table handed to every driver. */
extern const imi_host_api imi_host;

#endif
