/* The mem cache, except that ping never returns and ignores its ctx: the runner must
 * fail each case that pings with "timed out after N s", kill it, and run the rest. */
#include <unistd.h>
#define WRAP_NAME "hang_ping"
#define WRAP_DESCRIPTION "test driver: mem cache whose ping hangs forever"
#include "wrap_mem.h"

static int hang_ping(void *st, const imi_ctx *ctx)
{
    (void)st, (void)ctx;
    for (;;)
        sleep(1);
    return IMI_OK;
}

static void wrap_patch(imi_cache_driver *vt)
{
    vt->ping = hang_ping;
}
