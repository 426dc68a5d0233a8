/* An mq driver that breaks the contract on purpose (see bad.h): its open fails, or its
 * required ping slot is NULL. It advertises async publishing, so that a core which
 * flushes before closing calls p_flush (and aborts) after a failed open. */
#include "iminfra/driver/mq_driver.h"
#include "bad.h"

STUB(ping) STUB(p_publish) STUB(p_publish_async) STUB(p_flush) STUB(s_open) STUB(s_close)

static const imi_mq_producer_ops producer = {
    .size = sizeof(imi_mq_producer_ops),
    .p_publish = AS_SLOT(imi_mq_producer_ops, p_publish),
    /* optional slots a core may be tempted to call while closing (flush before close) */
    .p_publish_async = AS_SLOT(imi_mq_producer_ops, p_publish_async),
    .p_flush = AS_SLOT(imi_mq_producer_ops, p_flush),
};

static const imi_mq_sub_ops sub = {
    .size = sizeof(imi_mq_sub_ops),
    .s_state_size = 16,
    .s_open = AS_SLOT(imi_mq_sub_ops, s_open),
    .s_close = AS_SLOT(imi_mq_sub_ops, s_close),
};

static const imi_mq_driver vtable = {
    .size = sizeof(imi_mq_driver),
    .open = bad_open,
    .close = bad_close,
#ifdef IMI_BAD_NULL_SLOT
    .ping = NULL,
#else
    .ping = AS_SLOT(imi_mq_driver, ping),
#endif
    .producer = &producer,
    .sub = &sub,
};

static const imi_driver_desc desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_MQ,
    .name = BAD_NAME,
    .version = "0.0.1",
    .description = BAD_DESCRIPTION,
    .caps = IMI_MQ_CAP_ASYNC,
    .state_size = 16,
    .vtable = &vtable,
};

IMI_DRIVER_DEFINE(desc)
