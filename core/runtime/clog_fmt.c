/* clog value formatting: escaping with UTF-8 validation, numbers, timestamps.
 * Hand-written because snprintf costs more than the rest of a line put together. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include "clog_internal.h"

static const char digits2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* Writes v in decimal ending at end; returns where the digits start. */
static char *u64_rev(char *end, uint64_t v)
{
    char *p = end;
    while (v >= 100) {
        unsigned r = (unsigned)(v % 100);
        v /= 100;
        p -= 2;
        memcpy(p, digits2 + r * 2, 2);
    }
    if (v >= 10) {
        p -= 2;
        memcpy(p, digits2 + v * 2, 2);
    } else {
        *--p = (char)('0' + v);
    }
    return p;
}

/* Exactly width digits, zero-padded. */
static void fixed_digits(char *out, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        out[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* v < 1000000 as exactly 6 digits, two at a time. */
static inline void six_digits(char *out, unsigned v)
{
    unsigned hi = v / 10000, lo = v % 10000;
    memcpy(out, digits2 + hi * 2, 2);
    memcpy(out + 2, digits2 + lo / 100 * 2, 2);
    memcpy(out + 4, digits2 + lo % 100 * 2, 2);
}

/* Decimal digits of v (1 for 0). */
static inline size_t n_digits(uint64_t v)
{
    size_t n = 1;
    for (;;) {
        if (v < 10)
            return n;
        if (v < 100)
            return n + 1;
        if (v < 1000)
            return n + 2;
        if (v < 10000)
            return n + 3;
        v /= 10000;
        n += 4;
    }
}

/* v in decimal at o; returns the end. Written in place, back to front, rather than into
 * a scratch buffer copied out: reading back bytes just stored in pieces stalls. */
static inline char *u64_at(char *o, uint64_t v)
{
    char *end = o + n_digits(v);
    u64_rev(end, v);
    return end;
}

/* Room for the longest number form: "-" and 20 digits; a fixed double or duration:
 * "-", up to 13 digits, "." and 6 decimals. */
#define NUM_ROOM 24

bool imi_clog_u64(imi_clog_buf *b, uint64_t v)
{
    if (b->lim - b->p >= NUM_ROOM) {
        b->p = u64_at(b->p, v);
        return true;
    }
    char tmp[24];
    char *s = u64_rev(tmp + sizeof tmp, v);
    return imi_clog_put(b, s, (size_t)(tmp + sizeof tmp - s));
}

bool imi_clog_i64(imi_clog_buf *b, int64_t v)
{
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    if (b->lim - b->p >= NUM_ROOM) {
        char *o = b->p;
        *o = '-';
        b->p = u64_at(o + (v < 0), u);
        return true;
    }
    char tmp[24];
    char *s = u64_rev(tmp + sizeof tmp, u);
    if (v < 0)
        *--s = '-';
    return imi_clog_put(b, s, (size_t)(tmp + sizeof tmp - s));
}

/* int_part.frac (frac has 6 decimals) with trailing zeros dropped, at out (NUM_ROOM
 * bytes; int_part < 1e14); returns the end. */
static char *fixed6(char *out, bool neg, uint64_t int_part, unsigned frac)
{
    *out = '-';
    char *o = u64_at(out + neg, int_part);
    if (frac) {
        /* The trailing zeros dropped on the number, then the digits left. */
        size_t w = 6;
        while (frac % 10 == 0) {
            frac /= 10;
            w--;
        }
        memcpy(o, ".000000", 7); /* the leading zeros of 0.05; the rest overwritten */
        u64_rev(o + 1 + w, frac);
        o += 1 + w;
    }
    return o;
}

bool imi_clog_dur_ms(imi_clog_buf *b, int64_t ns)
{
    uint64_t u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
    char tmp[NUM_ROOM];
    /* At most 13 integer digits: INT64_MIN ns is -9223372036854.775808 ms. */
    char *o = b->lim - b->p >= NUM_ROOM ? b->p : tmp;
    char *end = fixed6(o, ns < 0, u / 1000000, (unsigned)(u % 1000000));
    if (o == b->p) {
        b->p = end;
        return true;
    }
    return imi_clog_put(b, tmp, (size_t)(end - tmp));
}

/* |x| < 2^52 rounded to an integer in the current rounding mode (nearest) without a
 * libm call: the addition leaves no fraction bits. */
static inline double round_int(double x)
{
    const double big = 4503599627370496.0; /* 2^52 */
    return x < big ? (x + big) - big : x;
}

/* The decimal r/1e6 reads back as exactly a when (double)r / 1e6 == a: r < 2^53 and 1e6
 * are exact doubles, so the division is correctly rounded just like strtod would round
 * the decimal. Returns NULL when no such form exists, else the end. */
static char *dbl_fixed(double d, char *out)
{
    double a = fabs(d);
    if (!(a < 9e9))
        return NULL;
    double r = round_int(a * 1e6);
    if (r / 1e6 != a)
        return NULL;
    uint64_t ri = (uint64_t)r;
    return fixed6(out, signbit(d) != 0, ri / 1000000, (unsigned)(ri % 1000000));
}

bool imi_clog_dbl(imi_clog_buf *b, double v, bool json)
{
    if (isnan(v))
        return json ? IMI_CLOG_PUT_LIT(b, "\"NaN\"") : IMI_CLOG_PUT_LIT(b, "NaN");
    if (isinf(v)) {
        if (v > 0)
            return json ? IMI_CLOG_PUT_LIT(b, "\"Infinity\"") : IMI_CLOG_PUT_LIT(b, "Infinity");
        return json ? IMI_CLOG_PUT_LIT(b, "\"-Infinity\"") : IMI_CLOG_PUT_LIT(b, "-Infinity");
    }
    if (b->lim - b->p >= NUM_ROOM) {
        char *end = dbl_fixed(v, b->p);
        if (end) {
            b->p = end;
            return true;
        }
    }
    char tmp[40];
    char *end = dbl_fixed(v, tmp);
    size_t n = end ? (size_t)(end - tmp) : (size_t)snprintf(tmp, sizeof tmp, "%.17g", v);
    return imi_clog_put(b, tmp, n);
}

/* Length of the valid UTF-8 sequence at p (Unicode table 3-7: no overlongs, no
 * surrogates, nothing past U+10FFFF), or 0 and in *skip the length of its maximal
 * invalid subpart, which becomes one U+FFFD. */
static size_t utf8_seq(const unsigned char *p, size_t avail, size_t *skip)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else {
        *skip = 1;
        return 0;
    }
    size_t i = 1;
    for (; i <= need && i < avail; i++) {
        if (p[i] < lo || p[i] > hi)
            break;
        lo = 0x80;
        hi = 0xBF;
    }
    if (i == need + 1)
        return i;
    *skip = i;
    return 0;
}

/* The escape for control byte c into u; returns its length. */
static size_t esc_ctrl(unsigned c, char *u)
{
    static const char hex[] = "0123456789abcdef";
    u[0] = '\\';
    switch (c) {
    case '\n': u[1] = 'n'; return 2;
    case '\t': u[1] = 't'; return 2;
    case '\r': u[1] = 'r'; return 2;
    case '\b': u[1] = 'b'; return 2;
    case '\f': u[1] = 'f'; return 2;
    case '"': u[1] = '"'; return 2;
    case '\\': u[1] = '\\'; return 2;
    }
    memcpy(u + 1, "u00", 3);
    u[4] = hex[c >> 4];
    u[5] = hex[c & 15];
    return 6;
}

#define Z16 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
#define P16 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1
/* Controls, '"' (0x22), '\\' (0x5c) and bytes >= 0x80 (UTF-8 to check) are not plain in
 * json; in console only controls and bytes >= 0x80. NUL is never plain: it ends a cstr. */
const unsigned char imi_clog_plain[2][256] = {
    { Z16, Z16, P16, P16, P16, P16, P16, P16, Z16, Z16, Z16, Z16, Z16, Z16, Z16, Z16 },
    { Z16, Z16,
      1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
      P16, P16,
      1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1,
      P16, P16, Z16, Z16, Z16, Z16, Z16, Z16, Z16, Z16 },
};

static inline bool plain(unsigned c, bool json)
{
    return imi_clog_plain[json][c];
}

/* True when none of the 8 bytes in x needs escaping: the classic has-zero-byte tricks,
 * exact for telling whether such a byte exists. */
static inline bool plain8(uint64_t x, bool json)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t bad = x | ((x - ones * 0x20) & ~x);
    if (json) {
        uint64_t q = x ^ (ones * '"'), bs = x ^ (ones * '\\');
        bad |= ((q - ones) & ~q) | ((bs - ones) & ~bs);
    }
    return (bad & high) == 0;
}

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint32_t load4(const unsigned char *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

bool imi_clog_esc(imi_clog_buf *b, const char *s, size_t n, bool json)
{
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    char *o = b->p;
    /* Fast path, when all of s fits as it is: 8 bytes a step, each word stored as soon
     * as it is checked; the last (or only, for 4..7 bytes) step overlaps bytes already
     * copied, so no byte is handled alone. Any byte to escape leaves it for the loop
     * below, which starts where the fast path stopped. */
    if (n >= 4 && b->lim - o >= (ptrdiff_t)n) {
        if (n < 8) {
            uint32_t lo = load4(p), hi = load4(e - 4);
            if (plain8((uint64_t)hi << 32 | lo, json)) {
                memcpy(o, &lo, 4);
                memcpy(o + n - 4, &hi, 4);
                b->p = o + n;
                return true;
            }
        } else {
            for (uint64_t x; e - p >= 8 && plain8(x = load8(p), json); p += 8, o += 8)
                memcpy(o, &x, 8);
            if (p == e) {
                b->p = o;
                return true;
            }
            uint64_t x;
            if (e - p < 8 && plain8(x = load8(e - 8), json)) {
                memcpy(o + (e - p) - 8, &x, 8);
                b->p = o + (e - p);
                return true;
            }
        }
    }
    while (p < e) {
        const unsigned char *run = p;
        for (uint64_t x; e - p >= 8 && (memcpy(&x, p, 8), plain8(x, json));)
            p += 8;
        while (p < e && plain(*p, json))
            p++;
        size_t k = (size_t)(p - run);
        size_t room = b->lim > o ? (size_t)(b->lim - o) : 0;
        if (k > room) {
            memcpy(o, run, room); /* plain bytes are ASCII: any cut is clean */
            o += room;
            goto cut;
        }
        memcpy(o, run, k);
        o += k;
        if (p == e)
            break;
        char u[8];
        const char *src = u;
        size_t ulen, used;
        if (*p < 0x80) {
            ulen = esc_ctrl(*p, u);
            used = 1;
        } else if ((ulen = utf8_seq(p, (size_t)(e - p), &used)) != 0) {
            src = (const char *)p;
            used = ulen;
            /* U+FFFD itself is written like a replaced byte: one text per string, so
             * that equal written keys are equal keys. */
            if (ulen == 3 && p[0] == 0xEF && p[1] == 0xBF && p[2] == 0xBD) {
                src = "\\ufffd";
                ulen = 6;
            }
        } else {
            src = "\\ufffd";
            ulen = 6;
        }
        if (b->lim - o < (ptrdiff_t)ulen)
            goto cut;
        memcpy(o, src, ulen);
        o += ulen;
        p += used;
    }
    b->p = o;
    return true;
cut:
    b->p = o;
    b->trunc = true;
    return false;
}

bool imi_clog_needs_quote(const char *s, size_t n)
{
    if (n == 0)
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

/* "YYYY-MM-DDTHH:MM:SS" for sec. */
static void format_date(int64_t sec, char *out)
{
    time_t t = (time_t)sec;
    struct tm tm;
    gmtime_r(&t, &tm);
    fixed_digits(out, (uint64_t)(tm.tm_year + 1900) % 10000, 4);
    out[4] = '-';
    memcpy(out + 5, digits2 + (tm.tm_mon + 1) * 2, 2);
    out[7] = '-';
    memcpy(out + 8, digits2 + tm.tm_mday * 2, 2);
    out[10] = 'T';
    memcpy(out + 11, digits2 + tm.tm_hour * 2, 2);
    out[13] = ':';
    memcpy(out + 14, digits2 + tm.tm_min * 2, 2);
    out[16] = ':';
    memcpy(out + 17, digits2 + (tm.tm_sec % 60) * 2, 2);
}

static _Thread_local struct {
    int64_t sec;
    char date[20];
} ts_cache = { .sec = -1 };

size_t imi_clog_ts(char *out, int frac_digits)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((int64_t)ts.tv_sec != ts_cache.sec) {
        format_date((int64_t)ts.tv_sec, ts_cache.date);
        ts_cache.sec = (int64_t)ts.tv_sec;
    }
    memcpy(out, ts_cache.date, 19);
    out[19] = '.';
    if (frac_digits == 3)
        fixed_digits(out + 20, (uint64_t)ts.tv_nsec / 1000000, 3);
    else
        six_digits(out + 20, (unsigned)(ts.tv_nsec / 1000));
    out[20 + frac_digits] = 'Z';
    return (size_t)(21 + frac_digits);
}
