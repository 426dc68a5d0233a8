/* The memcached driver's value marker (see mc.h): which values memcached's increment could
 * take for a number, and the copy behind the marker that keeps it off them.
 *
 * memcached (1.6's do_add_delta and safe_strtoull) adds to a value when strtoull reads a
 * number from its start that is followed by a blank or the end: "12", " 12", "+12",
 * "-0", "12 apples". Older servers also took a value that starts with a blank and holds
 * no digit at all as 0. Of those, only a counter with no TTL written as incr writes it
 * ("0", or digits without a leading zero, at most INT64_MAX) is left unmarked: there the
 * server's increment gives what the driver's CAS loop would. */
#include <stdlib.h>
#include <string.h>
#include "mc.h"

static bool is_blank(unsigned char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }
static bool is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* 0: memcached refuses it; 1: a canonical counter; 2: memcached may count on it. */
static int numeric_kind(const char *s, size_t len)
{
    if (!len)
        return 0; /* memcached refuses an empty value */
    size_t i = 0;
    if (is_blank((unsigned char)s[0]))
        return 2;
    bool sign = s[0] == '+' || s[0] == '-';
    i += sign;
    size_t first = i;
    while (i < len && is_digit((unsigned char)s[i]))
        i++;
    if (i == first)
        return 0;
    if (i < len && !is_blank((unsigned char)s[i]) && s[i] != '\0')
        return 0; /* "12x": strtoull stops at a byte that ends no number */
    size_t nd = i - first;
    bool canonical = !sign && i == len && nd <= 19 && (nd == 1 || s[0] != '0') &&
                     (nd < 19 || memcmp(s, "9223372036854775807", 19) <= 0);
    return canonical ? 1 : 2;
}

int mc_value_make(mc *m, mc_value *v, const void *val, size_t len, uint32_t expiry)
{
    v->heap = NULL;
    v->p = val;
    v->len = len;
    v->flags = expiry;
    /* most values start with a byte no number starts with */
    unsigned char c0 = len ? *(const unsigned char *)val : 'x';
    if (!is_digit(c0) && !is_blank(c0) && c0 != '+' && c0 != '-')
        return IMI_OK;
    int kind = numeric_kind(val, len);
    if (kind == 0 || (kind == 1 && !expiry))
        return IMI_OK;
    char *buf = v->small;
    if (len + 1 > sizeof v->small) {
        buf = v->heap = malloc(len + 1);
        if (!buf)
            return m->host->error(IMI_ENOMEM, 0, "memcached: out of memory");
    }
    buf[0] = MC_MARKER;
    memcpy(buf + 1, val, len);
    v->p = buf;
    v->len = len + 1;
    v->flags = expiry | MC_FLAG_MARKED;
    return IMI_OK;
}

void mc_value_free(mc_value *v)
{
    free(v->heap);
    v->heap = NULL;
}
