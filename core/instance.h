/* A component instance: one config section, its loaded driver, the parsed options, the
 * driver's private state and the bookkeeping every front-end shares (closed flag,
 * in-flight calls). Each front-end (cache.c, mq.c, db.c, coord.c) embeds one. */
#ifndef IMI_CORE_INSTANCE_H
#define IMI_CORE_INSTANCE_H

#include <stdatomic.h>
#include "iminfra/app.h"
#include "iminfra/driver/driver.h"
#include "loader.h"

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

typedef struct imi_instance {
    imi_app *app;
    char section[128];           /* "cache", "cache.sessions" */
    imi_driver *driver;
    const imi_driver_desc *desc;
    const void *vtable;
    imi_driver_env env;
    imi_opt_value *opts;         /* one per option of the schema */
    char **owned_strs;           /* resolved paths, one slot per option */
    imi_opt_kv *passthrough;     /* keys of option families ("kafka.*") */
    size_t n_passthrough;
    imi_logger *logger;
    int64_t timeout_ms;
    void *state;
    imi_inflight_stripe inflight[IMI_INFLIGHT_STRIPES];
    atomic_bool closed;
    bool opened;                 /* the driver's open succeeded: close must be called */
} imi_instance;

/* Keys every component section takes besides the driver's options. */
#define IMI_INSTANCE_CORE_KEYS "driver", "driver_path", "timeout"

/* Resolves [kind] or [kind.name], loads the driver, checks keys against core_keys and
 * the option schema, parses options, allocates the state. The front-end then calls its
 * vtable's open with inst->state and &inst->env. */
int imi_instance_init(imi_instance *inst, imi_app *app, imi_kind kind, const char *name,
                      const char *const *core_keys, size_t min_vtable_size);
/* Frees what init acquired (the front-end has closed the driver first). */
void imi_instance_release(imi_instance *inst);

/* Enter before a driver call, leave after: after close, enter fails with IMI_ECLOSED. */
/* Both sides are sequentially consistent: enter publishes its count before it reads
 * `closed`, close publishes `closed` before it reads the counts, so one of them sees the
 * other. */
static inline int imi_instance_enter(imi_instance *inst)
{
    atomic_int *slot = imi_inflight_slot(inst->inflight);
    atomic_fetch_add(slot, 1);
    if (atomic_load(&inst->closed)) {
        atomic_fetch_sub(slot, 1);
        return IMI_ECLOSED;
    }
    return IMI_OK;
}

static inline void imi_instance_leave(imi_instance *inst)
{
    atomic_fetch_sub_explicit(imi_inflight_slot(inst->inflight), 1, memory_order_release);
}

/* Marks closed and waits for calls in flight to leave. IMI_ECLOSED when already closed. */
int imi_instance_begin_close(imi_instance *inst);

/* The host table handed to every driver. */
extern const imi_host_api imi_host;

#endif
