/* The in-tree mem cache driver with one slot replaced: a test driver that behaves
 * correctly everywhere but where it is broken on purpose. IMI_MEM_CACHE_SO (a compile
 * definition) is the mem driver's file in the build tree. */
#ifndef IMI_TESTS_WRAP_MEM_H
#define IMI_TESTS_WRAP_MEM_H

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "iminfra/driver/cache_driver.h"

static imi_cache_driver wrap_vt;
static const imi_cache_driver *wrap_mem_vt;
static imi_driver_desc wrap_desc;
static pthread_once_t wrap_once = PTHREAD_ONCE_INIT;
static void wrap_patch(imi_cache_driver *vt); /* defined by the driver: replaces a slot */

static void wrap_init(void)
{
    void *h = dlopen(IMI_MEM_CACHE_SO, RTLD_NOW | RTLD_LOCAL);
    imi_driver_entry_fn entry = h ? (imi_driver_entry_fn)dlsym(h, IMI_DRIVER_ENTRY_NAME) : NULL;
    const imi_driver_desc *mem = entry ? entry() : NULL;
    if (!mem) {
        fprintf(stderr, "test driver: cannot load %s: %s\n", IMI_MEM_CACHE_SO, dlerror());
        return;
    }
    wrap_mem_vt = mem->vtable;
    size_t n = wrap_mem_vt->size < sizeof wrap_vt ? wrap_mem_vt->size : sizeof wrap_vt;
    memcpy(&wrap_vt, wrap_mem_vt, n);
    wrap_vt.size = (uint32_t)sizeof wrap_vt;
    wrap_patch(&wrap_vt);
    wrap_desc = *mem;
    wrap_desc.size = (uint32_t)sizeof wrap_desc;
    wrap_desc.name = WRAP_NAME;
    wrap_desc.description = WRAP_DESCRIPTION;
    wrap_desc.vtable = &wrap_vt;
}

IMI_DRIVER_EXPORT const imi_driver_desc *imi_driver_entry(void);
IMI_DRIVER_EXPORT const imi_driver_desc *imi_driver_entry(void)
{
    pthread_once(&wrap_once, wrap_init);
    return wrap_mem_vt ? &wrap_desc : NULL;
}

#endif
