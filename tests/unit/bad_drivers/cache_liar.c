/* The mem cache driver with its iterations and get lying, for test_driver_lies.c:
 * hgetall, smembers and zrange hand the callback an item at NULL with a length of 3
 * (then a good one, "a"), and get fills the value from NULL with a length of 5. */
#define WRAP_NAME "liar"
#define WRAP_DESCRIPTION "test driver: mem cache whose iterations and get lie"
#include "conformance/bad_drivers/wrap_mem.h"

static const imi_host_api *host;

static int lying_open(void *st, const imi_driver_env *env)
{
    host = env->host;
    return wrap_mem_vt->open(st, env);
}

static int lying_each(imi_cache_each_fn fn, void *ud)
{
    if (fn(ud, NULL, 3, NULL, 0, 0))
        return IMI_OK;
    fn(ud, "a", 1, NULL, 0, 0);
    return IMI_OK;
}

static int lying_hgetall(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                         imi_cache_each_fn fn, void *ud)
{
    (void)st, (void)ctx, (void)key, (void)klen;
    return lying_each(fn, ud);
}

static int lying_zrange(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                        int64_t start, int64_t stop, imi_cache_each_fn fn, void *ud)
{
    (void)st, (void)ctx, (void)key, (void)klen, (void)start, (void)stop;
    return lying_each(fn, ud);
}

static int lying_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val)
{
    (void)st, (void)ctx, (void)key, (void)klen;
    return host->buf_set(val, NULL, 5);
}

static void wrap_patch(imi_cache_driver *vt)
{
    vt->open = lying_open;
    vt->hgetall = lying_hgetall;
    vt->smembers = lying_hgetall;
    vt->zrange = lying_zrange;
    vt->get = lying_get;
}
