/* The in-tree mem coord driver with its list and watch slots lying, for
 * test_driver_lies.c. IMI_MEM_COORD_SO is the mem driver's file in the build tree.
 *   list: call N hands over broken entry N (a NULL key, a key without its NUL at the
 *         length, a value at NULL with a length), then (N >= 3) one good entry k = v.
 *   watch: a driver thread delivers no event, an event of type 9, a NULL key, a key
 *          without its NUL, a value at NULL with a length, then one good PUT of k = v. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/driver/coord_driver.h"

static imi_coord_driver vt;
static imi_driver_desc desc;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static atomic_int lists;

static int lying_list(void *st, const imi_ctx *ctx, const char *prefix, size_t plen,
                      imi_coord_driver_kv_fn fn, void *ud, int64_t *rev)
{
    (void)st;
    (void)ctx;
    (void)prefix;
    (void)plen;
    imi_coord_meta meta = { 0 };
    *rev = 1;
    switch (atomic_fetch_add(&lists, 1)) {
    case 0: fn(ud, NULL, 0, "v", 1, &meta); break;
    case 1: fn(ud, "kx", 1, "v", 1, &meta); break;
    case 2: fn(ud, "k", 1, NULL, 3, &meta); break;
    default: fn(ud, "k", 1, "v", 1, &meta); break;
    }
    return IMI_OK;
}

typedef struct lying_watch {
    pthread_t thread;
    imi_coord_driver_event_fn fn;
    void *ud;
} lying_watch;

static void *events(void *arg)
{
    lying_watch *w = arg;
    const imi_coord_event good = { .type = IMI_COORD_EVENT_PUT, .key = "k", .key_len = 1,
                                   .value = "v", .value_len = 1 };
    imi_coord_event bad[4] = { good, good, good, good };
    bad[0].type = (imi_coord_event_type)9;
    bad[1].key = NULL;
    bad[2].key = "kx", bad[2].key_len = 1;
    bad[3].value = NULL, bad[3].value_len = 3;
    w->fn(w->ud, NULL);
    for (int i = 0; i < 4; i++)
        w->fn(w->ud, &bad[i]);
    w->fn(w->ud, &good);
    return NULL;
}

static int lying_watch_start(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                             bool prefix, int64_t start_rev, imi_coord_driver_event_fn fn,
                             void *ud, void **out)
{
    (void)st;
    (void)ctx;
    (void)key;
    (void)klen;
    (void)prefix;
    (void)start_rev;
    lying_watch *w = calloc(1, sizeof *w);
    if (!w)
        return IMI_ENOMEM;
    w->fn = fn;
    w->ud = ud;
    if (pthread_create(&w->thread, NULL, events, w)) {
        free(w);
        return IMI_ENOMEM;
    }
    *out = w;
    return IMI_OK;
}

static void lying_watch_cancel(void *st, void *arg)
{
    (void)st;
    lying_watch *w = arg;
    pthread_join(w->thread, NULL);
    free(w);
}

static void init(void)
{
    void *h = dlopen(IMI_MEM_COORD_SO, RTLD_NOW | RTLD_LOCAL);
    imi_driver_entry_fn entry = h ? (imi_driver_entry_fn)dlsym(h, IMI_DRIVER_ENTRY_NAME) : NULL;
    const imi_driver_desc *mem = entry ? entry() : NULL;
    if (!mem) {
        fprintf(stderr, "coord liar: cannot load %s: %s\n", IMI_MEM_COORD_SO, dlerror());
        return;
    }
    const imi_coord_driver *mvt = mem->vtable;
    memcpy(&vt, mvt, mvt->size < sizeof vt ? mvt->size : sizeof vt);
    vt.size = (uint32_t)sizeof vt;
    vt.list = lying_list;
    vt.watch_start = lying_watch_start;
    vt.watch_cancel = lying_watch_cancel;
    desc = *mem;
    desc.size = (uint32_t)sizeof desc;
    desc.name = "liar";
    desc.description = "the mem coord driver with lying list and watch slots (tests)";
    desc.vtable = &vt;
}

IMI_DRIVER_EXPORT const imi_driver_desc *imi_driver_entry(void);
const imi_driver_desc *imi_driver_entry(void)
{
    pthread_once(&once, init);
    return desc.vtable ? &desc : NULL;
}
