/* The memcached driver's key mapping. memcached (in its text protocol, which other
 * clients of the same servers may speak) allows keys of at most 250 bytes without
 * spaces or control characters; cache keys may hold anything. */
#include <stdint.h>
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

/* Whether 8 bytes are all printable ASCII (0x21 to 0x7e): a byte below 0x21 borrows
 * into its top bit when 0x21 is taken from it, one above 0x7e carries into it when 1 is
 * added (or has it set already). */
static bool printable8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101u, tops = 0x8080808080808080u;
    uint64_t below = (w - ones * 0x21) & ~w & tops;
    uint64_t above = ((w + ones * (0x7f - 0x7e)) | w) & tops;
    return !(below | above);
}

static bool printable(const char *key, size_t klen)
{
    uint64_t w;
    if (klen >= 8) {
        /* whole words, the last one ending at the key's end (it may overlap) */
        for (size_t i = 0; i < klen - 8; i += 8) {
            memcpy(&w, key + i, 8);
            if (!printable8(w))
                return false;
        }
        memcpy(&w, key + klen - 8, 8);
        return printable8(w);
    }
    for (size_t i = 0; i < klen; i++)
        if ((unsigned char)((unsigned char)key[i] - 0x21) > 0x7e - 0x21)
            return false;
    return true;
}

/* Kept out of mc_key so that its common path saves no registers for this one. */
static __attribute__((noinline)) const char *encode(const char *key, size_t klen, char *out,
                                                    size_t *mlen)
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

const char *mc_key(const char *key, size_t klen, char *out, size_t *mlen)
{
    if (klen <= MC_KEY_MAX - 1 && key[0] != '~' && printable(key, klen)) {
        *mlen = klen;
        return key;
    }
    return encode(key, klen, out, mlen);
}
