/* A key's Redis Cluster slot: CRC16/XMODEM (polynomial 0x1021, initial value 0) of the
 * key modulo 16384, or of its hash tag: the bytes between the first '{' and the first '}'
 * after it, when there are any ("{user1}:a" and "{user1}:b" share a slot; "{}x" has no
 * tag). Pure: the unit test compiles this file on its own. */
#include <stdint.h>
#include <string.h>

unsigned rds_key_slot(const char *key, size_t klen);

static uint16_t crc16(const char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)((unsigned char)p[i] << 8);
        for (int b = 0; b < 8; b++)
            crc = crc & 0x8000 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
    }
    return crc;
}

unsigned rds_key_slot(const char *key, size_t klen)
{
    const char *open = klen ? memchr(key, '{', klen) : NULL;
    if (open) {
        size_t from = (size_t)(open - key) + 1;
        const char *close = memchr(key + from, '}', klen - from);
        if (close && close > key + from)
            return crc16(key + from, (size_t)(close - key) - from) % 16384;
    }
    return crc16(key, klen) % 16384;
}
