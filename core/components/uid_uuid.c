/* UUID v4 and v7 (RFC 9562), text form and parsing. */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include "iminfra/ctx.h"
#include "iminfra/error.h"
#include "iminfra/uid.h"
#include "uid_internal.h"

static void set_version(imi_uuid *u, int version)
{
    u->b[6] = (uint8_t)((u->b[6] & 0x0f) | (version << 4));
    u->b[8] = (uint8_t)((u->b[8] & 0x3f) | 0x80);  /* variant 10 */
}

imi_uuid imi_uuid_v4(void)
{
    imi_uuid u;
    imi_random_bytes(u.b, 16);
    set_version(&u, 4);
    return u;
}

/* ms << 12 | counter of the last v7 of this process: ids made here increase. A counter
 * that runs out moves on to the next ms (ahead of the clock by at most a few ms). */
static _Atomic uint64_t v7_last;

imi_uuid imi_uuid_v7(void)
{
    uint64_t now = (uint64_t)(imi_now_real_ns() / 1000000);
    uint64_t cur = atomic_load_explicit(&v7_last, memory_order_relaxed), nv;
    do {
        uint64_t ms = cur >> 12;
        if (now > ms) {
            uint16_t r;
            imi_random_bytes(&r, sizeof r);
            nv = now << 12 | (r & 0x1ff); /* random start, room to count */
        }
        else
            nv = cur + 1;  /* same ms (or the clock went back): count on */
    } while (!atomic_compare_exchange_weak_explicit(&v7_last, &cur, nv, memory_order_relaxed,
                                                    memory_order_relaxed));
    uint64_t ms = nv >> 12, counter = nv & 0xfff;
    imi_uuid u;
    for (int i = 0; i < 6; i++)
        u.b[i] = (uint8_t)(ms >> (40 - 8 * i));
    u.b[6] = (uint8_t)(counter >> 8);
    u.b[7] = (uint8_t)counter;
    imi_random_bytes(u.b + 8, 8);
    set_version(&u, 7);
    return u;
}

void imi_uuid_format(const imi_uuid *u, char out[IMI_UUID_STR_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    if (!out)
        return;
    if (!u) {
        *out = '\0';
        return;
    }
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *p++ = '-';
        *p++ = hex[u->b[i] >> 4];
        *p++ = hex[u->b[i] & 15];
    }
    *p = '\0';
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int imi_uuid_parse(const char *s, imi_uuid *out)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "uuid: no output");
    if (!s || strlen(s) != IMI_UUID_STR_LEN)
        return imi_error_set(IMI_EINVALID, 0, "uuid: not 36 characters");
    int j = 0;
    for (int i = 0; i < IMI_UUID_STR_LEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return imi_error_set(IMI_EINVALID, 0, "uuid: '-' expected at %d", i);
            continue;
        }
        int hi = hexval(s[i]), lo = hexval(s[i + 1]);
        if (hi < 0 || lo < 0)
            return imi_error_set(IMI_EINVALID, 0, "uuid: not a hex digit at %d", i);
        out->b[j++] = (uint8_t)(hi << 4 | lo);
        i++;
    }
    return IMI_OK;
}

int imi_uuid_version(const imi_uuid *u) { return u ? u->b[6] >> 4 : 0; }

int64_t imi_uuid_v7_unix_ms(const imi_uuid *u)
{
    if (imi_uuid_version(u) != 7)
        return -1;
    int64_t ms = 0;
    for (int i = 0; i < 6; i++)
        ms = ms << 8 | u->b[i];
    return ms;
}
