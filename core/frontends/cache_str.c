/* C-string conveniences over imi_cache_set / imi_cache_get: no lengths by hand. */
#include <stdlib.h>
#include <string.h>
#include "iminfra/cache.h"
#include "iminfra/error.h"

int imi_cache_set_str(imi_cache *c, const imi_ctx *ctx, const char *key, const char *val,
                      int64_t ttl_ms)
{
    if (!val)
        return imi_error_set(IMI_EINVALID, 0, "imi_cache_set_str: no value for key '%s'",
                             key ? key : "(null)");
    return imi_cache_set(c, ctx, key, val, strlen(val), ttl_ms);
}

int imi_cache_get_str(imi_cache *c, const imi_ctx *ctx, const char *key, char **out)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "imi_cache_get_str: out is required");
    *out = NULL;
    imi_buf b = IMI_BUF_INIT;
    int rc = imi_cache_get(c, ctx, key, &b);
    if (rc) {
        imi_buf_free(&b);
        return rc;
    }
    /* A C string would silently end at the first NUL: refuse instead. */
    const char *nul = memchr(b.data, '\0', b.len);
    if (nul) {
        size_t at = (size_t)(nul - b.data);
        imi_buf_free(&b);
        return imi_error_set(IMI_EINVALID, 0, "cache key '%s': the value holds a NUL byte at "
                             "offset %zu; read it with imi_cache_get", key, at);
    }
    if (!b.data && !(b.data = calloc(1, 1)))   /* an empty value may come without memory */
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    *out = b.data;  /* NUL-terminated past len (buf.h); the caller frees it with free() */
    return IMI_OK;
}
