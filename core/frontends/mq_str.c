/* C-string conveniences for mq: a message from topic, key and body strings. */
#include <string.h>
#include "iminfra/error.h"
#include "iminfra/mq.h"

imi_mq_msg imi_mq_msg_str(const char *topic, const char *key, const char *body)
{
    return (imi_mq_msg){
        .topic = topic,
        .key = key,
        .key_len = key ? strlen(key) : 0,
        .body = body,
        .body_len = body ? strlen(body) : 0,
    };
}

int imi_mq_publish_str(imi_mq *mq, const imi_ctx *ctx, const char *topic, const char *key,
                       const char *body)
{
    if (!body)
        return imi_error_set(IMI_EINVALID, 0, "imi_mq_publish_str: no body for topic '%s'",
                             topic ? topic : "(null)");
    imi_mq_msg m = imi_mq_msg_str(topic, key, body);
    return imi_mq_publish(mq, ctx, &m);
}
