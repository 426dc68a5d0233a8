/* A db driver that breaks the contract on purpose (see bad.h): its open fails, or its
 * required c_query slot is NULL. */
#include "iminfra/driver/db_driver.h"
#include "bad.h"

STUB(d_endpoint) STUB(d_connect) STUB(c_close) STUB(c_ping) STUB(c_exec) STUB(c_query)
STUB(r_columns) STUB(r_column_name) STUB(r_next) STUB(r_type) STUB(r_int) STUB(r_double)
STUB(r_bytes) STUB(r_close)

#define S(slot) AS_SLOT(imi_db_driver, slot)
static const imi_db_driver vtable = {
    .size = sizeof(imi_db_driver),
    .dialect = "sqlite",
    .d_open = bad_open,
    .d_close = bad_close,
    .d_endpoint = S(d_endpoint),
    .d_connect = S(d_connect),
    .c_close = S(c_close),
    .c_ping = S(c_ping),
    .c_exec = S(c_exec),
#ifdef IMI_BAD_NULL_SLOT
    .c_query = NULL,
#else
    .c_query = S(c_query),
#endif
    .r_columns = S(r_columns),
    .r_column_name = S(r_column_name),
    .r_next = S(r_next),
    .r_type = S(r_type),
    .r_int = S(r_int),
    .r_double = S(r_double),
    .r_bytes = S(r_bytes),
    .r_close = S(r_close),
};

static const imi_driver_desc desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_DB,
    .name = BAD_NAME,
    .version = "0.0.1",
    .description = BAD_DESCRIPTION,
    .state_size = 16,
    .vtable = &vtable,
};

IMI_DRIVER_DEFINE(desc)
