/* The in-memory coord driver's store: shared by every handle of the same `namespace` in
 * the process, so that two handles see one store (as two processes would see one etcd).
 * One mutex guards a store; watchers deliver from threads of their own. */
#ifndef IMI_DRIVERS_COORD_MEM_H
#define IMI_DRIVERS_COORD_MEM_H

#include <pthread.h>
#include <stdatomic.h>
#include "iminfra/driver/coord_driver.h"

typedef struct mem_kv {
    char *key;              /* NUL-terminated copies */
    size_t klen;
    char *val;
    size_t vlen;
    imi_coord_meta m;
} mem_kv;

/* An event, shared (refcounted) by the history and every watcher queue. */
typedef struct mem_ev {
    atomic_int refs;
    imi_coord_event_type type;
    char *key;
    size_t klen;
    char *val;
    size_t vlen;
    imi_coord_meta m;
} mem_ev;

typedef struct mem_lease {
    struct mem_lease *next;
    int64_t id, ttl_ms, expires_ns;
} mem_lease;

typedef struct mem_watcher mem_watcher;

typedef struct mem_store {
    struct mem_store *next;      /* the process-wide list */
    char *name;
    int refs;
    const imi_host_api *host;

    pthread_mutex_t mu;
    mem_kv **items;              /* sorted by key bytes */
    size_t n, cap;
    int64_t rev;                 /* the last revision written */
    mem_lease *leases;
    int64_t next_lease;

    mem_ev **hist;               /* ring of the last hist_cap events */
    size_t hist_cap, hist_start, hist_n;
    int64_t compacted_rev;       /* the newest revision dropped from the ring */
    mem_watcher *watchers;

    pthread_t reaper;            /* ends expired leases */
    pthread_cond_t reaper_cond;  /* on CLOCK_MONOTONIC */
    bool stop;
} mem_store;

typedef struct mem_coord {
    const imi_host_api *host;
    mem_store *s;
    uint64_t caps;               /* what `features` turned on */
} mem_coord;

/* mem_watch.c: with s->mu held. */
void mem_emit_locked(mem_store *s, imi_coord_event_type type, const mem_kv *kv, int64_t rev);
void mem_ev_unref(mem_ev *ev);
void mem_history_free(mem_store *s);
int mem_watch_start(void *st, const imi_ctx *ctx, const char *key, size_t klen, bool prefix,
                    int64_t start_rev, imi_coord_driver_event_fn fn, void *ud, void **w);
void mem_watch_cancel(void *st, void *w);
/* Cancels every watcher opened through handle m (at its close). */
void mem_watch_cancel_all(mem_coord *m);

/* This driver also stands for a third-party driver built against the frozen ABI 1.0
 * headers (tests/abi), which predate the SDK's saturating helpers: keep local copies. */
#ifndef IMI_DURATION_MAX_MS
#define IMI_DURATION_MAX_MS ((int64_t)100 * 365 * 24 * 3600 * 1000)
#endif
#ifndef IMI_COORD_LEASE_TTL_MAX_MS
#define IMI_COORD_LEASE_TTL_MAX_MS IMI_DURATION_MAX_MS
#endif
static inline int64_t mem_ms_to_ns(int64_t ms)
{
    return ms <= 0 ? 0 : ms >= IMI_DURATION_MAX_MS ? IMI_DURATION_MAX_MS * 1000000 : ms * 1000000;
}

#endif
