/* A cache driver that breaks the contract on purpose (see bad.h): its open fails, or its
 * required get slot is NULL. */
#include "iminfra/driver/cache_driver.h"
#include "bad.h"

STUB(ping) STUB(get) STUB(set) STUB(setnx) STUB(del) STUB(exists) STUB(expire) STUB(ttl)
STUB(incr)

#define S(slot) AS_SLOT(imi_cache_driver, slot)
static const imi_cache_driver vtable = {
    .size = sizeof(imi_cache_driver),
    .open = bad_open,
    .close = bad_close,
    .ping = S(ping),
#ifdef IMI_BAD_NULL_SLOT
    .get = NULL,
#else
    .get = S(get),
#endif
    .set = S(set),
    .setnx = S(setnx),
    .del = S(del),
    .exists = S(exists),
    .expire = S(expire),
    .ttl = S(ttl),
    .incr = S(incr),
};

static const imi_driver_desc desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_CACHE,
    .name = BAD_NAME,
    .version = "0.0.1",
    .description = BAD_DESCRIPTION,
    .state_size = 16,
    .vtable = &vtable,
};

IMI_DRIVER_DEFINE(desc)
