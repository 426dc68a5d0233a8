/* clog's number formatters against printf and strtod: integers of every length, doubles
 * that must read back exactly (and in the shortest fixed form when one exists), and
 * durations; also at the end of a line, where a number that does not fit is refused. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "clog_internal.h"

/* The formatter's output for one value, NUL-terminated in out; room: bytes of room. */
#define FMT(call, out, room)                                                 \
    do {                                                                     \
        char buf_[IMI_CLOG_LINE_MAX];                                        \
        imi_clog_buf b = { buf_, buf_ + (room), false };                    \
        cr_assert(call, "did not fit in %d bytes", (int)(room));             \
        cr_assert(!b.trunc);                                                 \
        memcpy(out, buf_, (size_t)(b.p - buf_));                             \
        out[b.p - buf_] = 0;                                                 \
    } while (0)

/* xorshift64*: the same values on every run. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* "%.6f" with trailing zeros (and a bare '.') dropped: the fixed form clog promises. */
static void fixed_ref(char *out, double v)
{
    snprintf(out, 64, "%.6f", v);
    char *dot = strchr(out, '.');
    char *e = out + strlen(out);
    while (e > dot + 1 && e[-1] == '0')
        *--e = 0;
    if (e == dot + 1)
        *dot = 0;
}

Test(clog_numbers, integers_of_every_length)
{
    char got[64], want[64];
    uint64_t s = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        uint64_t u = rnd(&s) >> (i % 64); /* every digit count */
        FMT(imi_clog_u64(&b, u), got, 64);
        snprintf(want, sizeof want, "%llu", (unsigned long long)u);
        cr_assert_str_eq(got, want);
        int64_t v = (int64_t)rnd(&s) >> (i % 64);
        FMT(imi_clog_i64(&b, v), got, 64);
        snprintf(want, sizeof want, "%lld", (long long)v);
        cr_assert_str_eq(got, want);
    }
    static const int64_t edge[] = { 0, 9, 10, 99, 100, -1, -10, INT64_MIN, INT64_MAX };
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++) {
        FMT(imi_clog_i64(&b, edge[i]), got, 64);
        snprintf(want, sizeof want, "%lld", (long long)edge[i]);
        cr_assert_str_eq(got, want);
    }
    FMT(imi_clog_u64(&b, UINT64_MAX), got, 64);
    cr_assert_str_eq(got, "18446744073709551615");
}

static void check_double(double v)
{
    char got[64], want[64];
    FMT(imi_clog_dbl(&b, v, true), got, 64);
    char *end;
    double back = strtod(got, &end);
    cr_assert(*end == 0 && (back == v || (v == 0 && back == 0)), "%.17g written as %s", v,
              got);
    cr_assert_eq(signbit(back), signbit(v), "%.17g written as %s", v, got);
    /* The fixed form whenever one with <= 6 decimals reads back. Below 1e9 a double's
     * spacing is under 1e-6, so that form is unique and clog's rounding finds it. */
    fixed_ref(want, v);
    if (fabs(v) < 1e9 && strtod(want, NULL) == v)
        cr_assert_str_eq(got, want, "%.17g", v);
}

Test(clog_numbers, doubles_read_back_and_fixed_when_exact)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 20000; i++) {
        /* Decimals with up to 6 places (the fixed form), of every size up to 9e9. */
        int64_t m = (int64_t)(rnd(&s) % 9000000000000000ull) >> (i % 50);
        check_double((i & 1 ? -1.0 : 1.0) * (double)m / 1e6);
        /* Any bit pattern but NaN and infinities. */
        uint64_t bits = rnd(&s);
        double d;
        memcpy(&d, &bits, sizeof d);
        if (isfinite(d))
            check_double(d);
    }
    static const double edge[] = { 0.0, -0.0, 0.05, 0.000001, 1.000001, 0.0000005, 1e-6,
                                   8999999999.999999, 9e9, 4503599627370496.0 / 1e6,
                                   4503599627.370497, 0.1 + 0.2, 2.5, 3.5, 1e15, 5e-324 };
    for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
        check_double(edge[i]);
    char got[64];
    FMT(imi_clog_dbl(&b, 0.05, true), got, 64);
    cr_assert_str_eq(got, "0.05");
    FMT(imi_clog_dbl(&b, -0.0, true), got, 64);
    cr_assert_str_eq(got, "-0");
}

Test(clog_numbers, durations_exact_milliseconds)
{
    char got[64], want[64];
    uint64_t s = 1;
    static const int64_t edge[] = { 0, 1, -1, 999999, 1000000, 1000050, 12500000, INT64_MIN,
                                    INT64_MAX };
    for (int i = 0; i < 20000 + (int)(sizeof edge / sizeof edge[0]); i++) {
        int64_t ns = i < 20000 ? (int64_t)rnd(&s) >> (i % 64)
                               : edge[i - 20000];
        uint64_t u = ns < 0 ? -(uint64_t)ns : (uint64_t)ns;
        int n = snprintf(want, sizeof want, "%s%llu.%06llu", ns < 0 ? "-" : "",
                         (unsigned long long)(u / 1000000), (unsigned long long)(u % 1000000));
        while (want[n - 1] == '0')
            want[--n] = 0;
        if (want[n - 1] == '.')
            want[--n] = 0;
        FMT(imi_clog_dur_ms(&b, ns), got, 64);
        cr_assert_str_eq(got, want, "%lld ns", (long long)ns);
    }
}

/* Near the limit the formatters take the careful path: the same text when it fits,
 * nothing (and false) when it does not. */
Test(clog_numbers, at_the_end_of_a_line)
{
    for (int room = 0; room < 30; room++) {
        char buf[64];
        imi_clog_buf b = { buf, buf + room, false };
        bool ok = imi_clog_i64(&b, INT64_MIN);
        cr_assert_eq(ok, room >= 20, "room %d", room);
        cr_assert_eq(b.p - buf, ok ? 20 : 0);
        if (ok)
            cr_assert(!memcmp(buf, "-9223372036854775808", 20));
        b = (imi_clog_buf){ buf, buf + room, false };
        ok = imi_clog_dbl(&b, -1234.000005, true);
        cr_assert_eq(ok, room >= 12, "room %d", room);
        cr_assert_eq(b.p - buf, ok ? 12 : 0);
        if (ok)
            cr_assert(!memcmp(buf, "-1234.000005", 12));
        b = (imi_clog_buf){ buf, buf + room, false };
        ok = imi_clog_dur_ms(&b, INT64_MIN);
        cr_assert_eq(ok, room >= 21, "room %d", room);
        if (ok)
            cr_assert(!memcmp(buf, "-9223372036854.775808", 21));
    }
}

/* The escaper's word-at-a-time path against its byte loop: every length 0..40 with one
 * byte to escape (or none) at every place, with room for all of it or cut short. */
Test(clog_numbers, escape_fast_path_matches_byte_path)
{
    char src[48], got[512];
    for (size_t n = 0; n <= 40; n++) {
        for (size_t bad = 0; bad <= n; bad++) {
            for (size_t i = 0; i < n; i++)
                src[i] = (char)('a' + i % 26);
            if (bad < n)
                src[bad] = '"';
            /* The reference: one byte at a time through the same function. */
            char want[512];
            size_t wn = 0;
            for (size_t i = 0; i < n; i++) {
                imi_clog_buf w = { want + wn, want + sizeof want, false };
                cr_assert(imi_clog_esc(&w, src + i, 1, true));
                wn = (size_t)(w.p - want);
            }
            imi_clog_buf b = { got, got + sizeof got, false };
            cr_assert(imi_clog_esc(&b, src, n, true));
            cr_assert_eq((size_t)(b.p - got), wn, "n %zu bad %zu", n, bad);
            cr_assert(!memcmp(got, want, wn), "n %zu bad %zu", n, bad);
            /* Cut short: a prefix of the full text, ending between escape units. */
            for (size_t room = 0; room < wn; room++) {
                memset(got, 0, sizeof got);
                b = (imi_clog_buf){ got, got + room, false };
                cr_assert(!imi_clog_esc(&b, src, n, true));
                size_t k = (size_t)(b.p - got);
                cr_assert(k <= room && !memcmp(got, want, k) && b.trunc);
                cr_assert(got[room] == 0, "wrote past the limit");
            }
        }
    }
}
