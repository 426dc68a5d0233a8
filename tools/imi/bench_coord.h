/* imi bench coord: one set of operations measured through im-infra and through a
 * baseline (the driver's vtable on the same handle, or the backend's own protocol). */
#ifndef IMI_TOOLS_BENCH_COORD_H
#define IMI_TOOLS_BENCH_COORD_H

#include <stddef.h>
#include <stdint.h>
#include "iminfra/iminfra.h"

/* One way of doing the benchmarked operations; each thread has its own state. */
typedef struct coord_bench_ops {
    const char *name;
    void *(*thread_init)(void *ud);            /* NULL: out of resources */
    void (*thread_done)(void *ts);
    int (*get)(void *ts, const char *key);
    int (*put)(void *ts, const char *key, const char *val, size_t len);
    /* Writes when the key's version is expect (the bench knows it). */
    int (*cas)(void *ts, const char *key, int64_t expect, const char *val, size_t len);
    /* Takes and releases a lock on key, the way the front-end does. */
    int (*lock_unlock)(void *ts, const char *key);
} coord_bench_ops;

/* The etcd baseline: the same HTTP calls the etcd driver makes, straight through libcurl.
 * NULL when the config's [coord] is not etcd or this build has no libcurl (imi; imi-bench
 * has it). */
const coord_bench_ops *bench_coord_etcd_ops(imi_app *app, void **ud);
void bench_coord_etcd_free(void *ud);

#endif
