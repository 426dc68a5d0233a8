/* The memcached driver's key mapping. memcached (in its text protocol, which other
 * clients of the same servers may speak) allows keys of at most 250 bytes without
 * spaces or control characters; cache keys may hold anything. */
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

size_t mc_key(const char *key, size_t klen, char *out)
{
    bool plain = klen <= MC_KEY_MAX - 1 && key[0] != '~';
    /* printable ASCII, 0x21 to 0x7e; no early exit, so the loop takes many bytes a step */
    size_t n_check = plain ? klen : 0;
    unsigned char bad = 0;
    for (size_t i = 0; i < n_check; i++)
        bad |= (unsigned char)((unsigned char)key[i] - 0x21) > 0x7e - 0x21;
    plain = plain && !bad;
    if (plain) {
        memcpy(out, key, klen);
        out[klen] = '\0';
        return klen;
    }
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
    return n;
}
