/* The mem cache, except that get crashes (SIGSEGV) in the conformance case
 * set_get_del_miss, whose keys carry the case's name: the runner must fail that case
 * with "killed by SIGSEGV" and run every other case. */
#define WRAP_NAME "crash_get"
#define WRAP_DESCRIPTION "test driver: mem cache whose get crashes in set_get_del_miss"
#include <signal.h>
#include "wrap_mem.h"

static int crash_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val)
{
    /* A segfault as the kernel delivers one; raised rather than provoked by a NULL store,
     * which UBSan would report and turn into an exit before the signal. */
    if (strstr(key, "set_get_del_miss"))
        raise(SIGSEGV);
    return wrap_mem_vt->get(st, ctx, key, klen, val);
}

static void wrap_patch(imi_cache_driver *vt)
{
    vt->get = crash_get;
}
