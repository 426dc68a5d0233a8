/* imi_buf: the caller-owned output buffer every component fills. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/buf.h"
#include "iminfra/error.h"

void imi_buf_free(imi_buf *buf)
{
    if (!buf)
        return;
    free(buf->data);
    buf->data = NULL;
    buf->len = buf->cap = 0;
}

static int reserve(imi_buf *buf, size_t need)
{
    if (need + 1 <= buf->cap)
        return IMI_OK;
    size_t cap = buf->cap ? buf->cap : 64;
    while (cap < need + 1)
        cap *= 2;
    char *p = realloc(buf->data, cap);
    if (!p)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory growing a buffer to %zu bytes", cap);
    buf->data = p;
    buf->cap = cap;
    return IMI_OK;
}

int imi_buf_set(imi_buf *buf, const void *data, size_t len)
{
    if (!buf)
        return imi_error_set(IMI_EINVALID, 0, "buf: no buffer");
    buf->len = 0;
    return imi_buf_append(buf, data, len);
}

int imi_buf_append(imi_buf *buf, const void *data, size_t len)
{
    if (!buf || (!data && len))
        return imi_error_set(IMI_EINVALID, 0, "buf: %s", buf ? "data at NULL with a length"
                                                             : "no buffer");
    /* reserve doubles the capacity: past a quarter of the address space it would wrap */
    if (len > SIZE_MAX / 4 - buf->len)
        return imi_error_set(IMI_ENOMEM, 0, "a buffer of %zu + %zu bytes is too large",
                             buf->len, len);
    int rc = reserve(buf, buf->len + len);
    if (rc)
        return rc;
    if (len)
        memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = '\0';
    return IMI_OK;
}
