/* The encodings of the etcd JSON gateway: bytes as base64, int64 as decimal strings,
 * prefix ranges as [key, range_end), and its KeyValue objects. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

json_t *etcd_b64_json(const void *data, size_t len)
{
    const unsigned char *p = data;
    size_t n = (len + 2) / 3 * 4;
    char small[512], *out = n < sizeof small ? small : malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    json_t *j = json_stringn(out, o);
    if (out != small)
        free(out);
    return j;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

char *etcd_b64_decode(const char *s, size_t *len)
{
    size_t n = s ? strlen(s) : 0;
    char *out = malloc(n / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n && s[i] != '='; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    *len = o;
    return out;
}

size_t etcd_range_end_bytes(const char *prefix, size_t plen, char *out)
{
    size_t n = plen;
    while (n > 0 && (unsigned char)prefix[n - 1] == 0xff)
        n--;
    if (n == 0) {
        out[0] = '\0'; /* "\0": to the end of the keyspace */
        return 1;
    }
    memcpy(out, prefix, n);
    out[n - 1] = (char)((unsigned char)out[n - 1] + 1);
    return n;
}

json_t *etcd_range_end(const char *prefix, size_t plen)
{
    char small[256], *end = plen < sizeof small ? small : malloc(plen + 1);
    if (!end)
        return NULL;
    size_t n = etcd_range_end_bytes(prefix, plen, end);
    json_t *j = etcd_b64_json(end, n);
    if (end != small)
        free(end);
    return j;
}

int64_t etcd_jint(const json_t *obj, const char *field)
{
    const json_t *v = json_object_get(obj, field);
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    if (json_is_integer(v))
        return (int64_t)json_integer_value(v);
    return 0;
}

json_t *etcd_jint_str(int64_t v)
{
    char s[32];
    int n = snprintf(s, sizeof s, "%" PRId64, v);
    return json_stringn(s, (size_t)n);
}

int etcd_kv_decode(etcd *e, const json_t *kv, char **key, size_t *klen, char **val,
                   size_t *vlen, imi_coord_meta *meta)
{
    *key = etcd_b64_decode(json_string_value(json_object_get(kv, "key")), klen);
    *val = etcd_b64_decode(json_string_value(json_object_get(kv, "value")), vlen);
    if (!*key || !*val) {
        free(*key);
        free(*val);
        *key = *val = NULL;
        return e->host->error(IMI_EDRIVER, 0, "etcd: a key or value is not valid base64");
    }
    *meta = (imi_coord_meta){ .version = etcd_jint(kv, "version"),
                              .create_rev = etcd_jint(kv, "create_revision"),
                              .mod_rev = etcd_jint(kv, "mod_revision"),
                              .lease = etcd_jint(kv, "lease") };
    return IMI_OK;
}
