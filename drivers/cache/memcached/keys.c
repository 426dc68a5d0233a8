/* The memcached driver's key mapping. memcached (in its text protocol, which other
 * clients of the same servers may speak) allows keys of at most 250 bytes without
 * spaces or control characters; cache keys may hold anything. A plain key is checked
 * inline (mc.h); this file writes the encoded forms. */
#include <string.h>
#include <openssl/evp.h>
#include "mc.h"

static const char hex[] = "0123456789abcdef";

static size_t to_hex(const unsigned char *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[in[i] >> 4];
        out[2 * i + 1] = hex[in[i] & 15];
    }
    return 2 * n;
}

const char *mc_key_encode(const char *key, size_t klen, char *out, size_t *mlen)
{
    /* "~" never starts a plain key, so encoded keys cannot meet plain ones */
    size_t n;
    out[0] = '~';
    if (2 + 2 * klen <= MC_KEY_MAX - 1) {
        out[1] = 'x';
        n = 2 + to_hex((const unsigned char *)key, klen, out + 2);
    } else {
        unsigned char md[EVP_MAX_MD_SIZE];
        unsigned int mdlen = 0;
        EVP_Digest(key, klen, md, &mdlen, EVP_sha256(), NULL);
        out[1] = 's';
        n = 2 + to_hex(md, mdlen, out + 2);
    }
    out[n] = '\0';
    *mlen = n;
    return out;
}
