/* A coord driver that breaks the contract on purpose (see bad.h): its open fails, or its
 * required get slot is NULL. */
#include "iminfra/driver/coord_driver.h"
#include "bad.h"

STUB(ping) STUB(get) STUB(put) STUB(del) STUB(list) STUB(cas)

#define S(slot) AS_SLOT(imi_coord_driver, slot)
static const imi_coord_driver vtable = {
    .size = sizeof(imi_coord_driver),
    .open = bad_open,
    .close = bad_close,
    .ping = S(ping),
#ifdef IMI_BAD_NULL_SLOT
    .get = NULL,
#else
    .get = S(get),
#endif
    .put = S(put),
    .del = S(del),
    .list = S(list),
    .cas = S(cas),
};

static const imi_driver_desc desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_COORD,
    .name = BAD_NAME,
    .version = "0.0.1",
    .description = BAD_DESCRIPTION,
    .state_size = 16,
    .vtable = &vtable,
};

IMI_DRIVER_DEFINE(desc)
