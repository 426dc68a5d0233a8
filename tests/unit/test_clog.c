/* clog: every line read back from a file and checked with a strict JSON validator. */
#include <criterion/criterion.h>
#include <limits.h>
#include <dirent.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "iminfra/clog.h"
#include "iminfra/ctx.h"
#include "iminfra/error.h"

/* ---- a strict JSON validator (RFC 8259, UTF-8 checked byte by byte) ---- */

typedef struct jp {
    const unsigned char *p, *e;
} jp;

static bool j_value(jp *j);

static void j_ws(jp *j)
{
    while (j->p < j->e && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool j_lit(jp *j, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(j->e - j->p) < n || memcmp(j->p, lit, n) != 0)
        return false;
    j->p += n;
    return true;
}

/* One UTF-8 encoded code point, no overlongs, surrogates or values past U+10FFFF. */
static bool j_utf8(jp *j)
{
    unsigned c = *j->p, n, cp;
    if (c < 0xC0 || c > 0xF7)
        return false;
    n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
    cp = c & (0x3F >> n);
    if ((size_t)(j->e - j->p) <= n)
        return false;
    for (unsigned i = 1; i <= n; i++) {
        if ((j->p[i] & 0xC0) != 0x80)
            return false;
        cp = cp << 6 | (j->p[i] & 0x3F);
    }
    static const unsigned min[] = { 0, 0x80, 0x800, 0x10000 };
    if (cp < min[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return false;
    j->p += n + 1;
    return true;
}

static bool j_string(jp *j)
{
    if (!j_lit(j, "\""))
        return false;
    while (j->p < j->e) {
        unsigned c = *j->p;
        if (c == '"') {
            j->p++;
            return true;
        }
        if (c < 0x20)
            return false;
        if (c >= 0x80) {
            if (!j_utf8(j))
                return false;
            continue;
        }
        j->p++;
        if (c != '\\')
            continue;
        if (j->p >= j->e)
            return false;
        c = *j->p++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++, j->p++)
                if (j->p >= j->e || !strchr("0123456789abcdefABCDEF", *j->p) || !*j->p)
                    return false;
        } else if (!strchr("\"\\/bfnrt", (int)c) || !c) {
            return false;
        }
    }
    return false;
}

static bool j_digits(jp *j)
{
    const unsigned char *s = j->p;
    while (j->p < j->e && *j->p >= '0' && *j->p <= '9')
        j->p++;
    return j->p > s;
}

static bool j_number(jp *j)
{
    if (j->p < j->e && *j->p == '-')
        j->p++;
    if (j->p < j->e && *j->p == '0')
        j->p++;
    else if (!j_digits(j))
        return false;
    if (j->p < j->e && *j->p == '.') {
        j->p++;
        if (!j_digits(j))
            return false;
    }
    if (j->p < j->e && (*j->p == 'e' || *j->p == 'E')) {
        j->p++;
        if (j->p < j->e && (*j->p == '+' || *j->p == '-'))
            j->p++;
        if (!j_digits(j))
            return false;
    }
    return true;
}

static bool j_container(jp *j, char open, char close, bool object)
{
    j->p++;
    (void)open;
    j_ws(j);
    if (j->p < j->e && *j->p == close) {
        j->p++;
        return true;
    }
    for (;;) {
        j_ws(j);
        if (object) {
            if (!j_string(j))
                return false;
            j_ws(j);
            if (!j_lit(j, ":"))
                return false;
        }
        if (!j_value(j))
            return false;
        j_ws(j);
        if (j->p < j->e && *j->p == close) {
            j->p++;
            return true;
        }
        if (!j_lit(j, ","))
            return false;
    }
}

static bool j_value(jp *j)
{
    j_ws(j);
    if (j->p >= j->e)
        return false;
    switch (*j->p) {
    case '{': return j_container(j, '{', '}', true);
    case '[': return j_container(j, '[', ']', false);
    case '"': return j_string(j);
    case 't': return j_lit(j, "true");
    case 'f': return j_lit(j, "false");
    case 'n': return j_lit(j, "null");
    default:  return j_number(j);
    }
}

/* One JSON object and nothing else. */
static bool json_valid(const char *s, size_t n)
{
    jp j = { (const unsigned char *)s, (const unsigned char *)s + n };
    j_ws(&j);
    if (j.p >= j.e || *j.p != '{' || !j_value(&j))
        return false;
    j_ws(&j);
    return j.p == j.e;
}

Test(clog_validator, rejects_bad_json)
{
    const char *good = "{\"a\":[1,-2.5e3,true,null,\"x\\u00e9\xc3\xa9\"],\"b\":{}}";
    cr_assert(json_valid(good, strlen(good)));
    const char *bad[] = { "{\"a\":01}", "{\"a\":\"\x01\"}", "{\"a\":\"\xc0\xaf\"}",
                          "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":\"\\x\"}", "{\"a\":1,}",
                          "{\"a\":NaN}", "{\"a\":\"\xe2\x82\"}", "{\"a\":1}x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        cr_assert(!json_valid(bad[i], strlen(bad[i])), "accepted %s", bad[i]);
}

/* ---- fixture: a temp dir and helpers to read a log file back ---- */

static char dir[64];
static char path[128];

static void setup(void)
{
    strcpy(dir, "/tmp/clog_test_XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/out.log", dir);
}

static void teardown(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (e->d_name[0] != '.') {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

TestSuite(clog, .init = setup, .fini = teardown);

static char *slurp(const char *p, size_t *len)
{
    FILE *f = fopen(p, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return s;
}

typedef void (*line_fn)(const char *line, size_t n, void *arg);

/* Checks every line of file p is whole valid JSON; returns the count. */
static size_t check_lines(const char *p, line_fn fn, void *arg)
{
    size_t len, count = 0;
    char *s = slurp(p, &len);
    cr_assert_not_null(s, "cannot read %s", p);
    if (len)
        cr_assert_eq(s[len - 1], '\n', "%s does not end with a newline", p);
    for (char *l = s, *nl; l < s + len; l = nl + 1) {
        nl = memchr(l, '\n', (size_t)(s + len - l));
        cr_assert(json_valid(l, (size_t)(nl - l)), "invalid line %zu: %.*s", count,
                  (int)(nl - l), l);
        if (fn)
            fn(l, (size_t)(nl - l), arg);
        count++;
    }
    free(s);
    return count;
}

static imi_logger *open_log(imi_log_format fmt, imi_log_level lvl, const char *service)
{
    imi_log_options o = { .service = service, .level = lvl, .format = fmt, .output = path };
    imi_logger *lg = NULL;
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_OK);
    cr_assert_not_null(lg);
    return lg;
}

/* The single line in the file, without its newline; malloc'd. */
static char *only_line(void)
{
    size_t len;
    char *s = slurp(path, &len);
    cr_assert_not_null(s);
    cr_assert_eq(check_lines(path, NULL, NULL), 1);
    s[len - 1] = 0;
    return s;
}

/* The part of the JSON line from "msg" on. */
static char *from_msg(char *line)
{
    char *m = strstr(line, "\"msg\":");
    cr_assert_not_null(m, "no msg in %s", line);
    return m;
}

static void expect_tail(imi_log_format fmt, const char *msg, const imi_field *f, size_t n,
                        const char *want)
{
    imi_logger *lg = open_log(fmt, IMI_LOG_DEBUG, NULL);
    imi_log(lg, IMI_LOG_INFO, NULL, msg, f, n);
    imi_logger_free(lg);
    char *line = only_line();
    cr_assert_str_eq(from_msg(line), want);
    free(line);
}

/* ---- field rendering ---- */

Test(clog, field_types)
{
    imi_field f[] = {
        IMI_FSTR("s", "str"), IMI_FINT("i", -42), IMI_FINT("imin", INT64_MIN),
        IMI_FUINT("u", UINT64_MAX), IMI_FDBL("d", 12.5), IMI_FBOOL("t", true),
        IMI_FBOOL("f", false), IMI_FERR("e", IMI_ETIMEDOUT), IMI_FERR("ok", 0),
        IMI_FDUR("dur", 12500000), IMI_FDUR("dneg", -1000001), IMI_FDUR("d0", 0),
        IMI_FBYTES("by", "a\0b\xff", 4), IMI_FSTR("n", NULL), IMI_FBYTES("bn", NULL, 3),
        IMI_FERR("emin", INT_MIN), IMI_FERR("epos", 7), /* no such codes */
    };
    expect_tail(IMI_LOG_JSON, "m", f, sizeof f / sizeof f[0],
                "\"msg\":\"m\",\"s\":\"str\",\"i\":-42,\"imin\":-9223372036854775808,"
                "\"u\":18446744073709551615,\"d\":12.5,\"t\":true,\"f\":false,"
                "\"e\":\"IMI_ETIMEDOUT\",\"ok\":\"IMI_OK\",\"dur\":12.5,\"dneg\":-1.000001,"
                "\"d0\":0,\"by\":\"a\\u0000b\\ufffd\",\"n\":null,\"bn\":null,"
                "\"emin\":\"IMI_E?\",\"epos\":\"IMI_E?\"}");
}

Test(clog, doubles_exact_and_round_trip)
{
    static const double v[] = { 0.1, -3.25, 1e-7, 1e20, 123456789.123456, 0.30000000000000004,
                                1.0 / 3, 5e-324, 1.7976931348623157e308, 42, -0.5 };
    enum { N = sizeof v / sizeof v[0] };
    static const char *const keys[] = { "x", "x1", "x2", "x3", "x4", "x5", "x6", "x7", "x8",
                                        "x9", "xa" };
    imi_field f[N];
    for (size_t i = 0; i < N; i++)
        f[i] = IMI_FDBL(keys[i], v[i]);
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    imi_log(lg, IMI_LOG_INFO, NULL, "d", f, N);
    imi_logger_free(lg);
    char *line = only_line();
    cr_assert(strstr(line, "\"x\":0.1,\"x1\":-3.25,"), "%s", line);
    cr_assert(strstr(line, "\"x9\":42,\"xa\":-0.5}"), "%s", line);
    char *p = from_msg(line);
    for (size_t i = 0; i < N; i++) {
        p = strstr(p, "\"x");
        cr_assert_not_null(p);
        p = strchr(p, ':') + 1;
        char *end;
        double back = strtod(p, &end);
        cr_assert(end > p && back == v[i], "%.17g written as %.*s", v[i], (int)(end - p), p);
    }
    free(line);
}

Test(clog, nan_and_infinity_are_strings)
{
    imi_field f[] = { IMI_FDBL("a", NAN), IMI_FDBL("b", INFINITY), IMI_FDBL("c", -INFINITY) };
    expect_tail(IMI_LOG_JSON, "n", f, 3,
                "\"msg\":\"n\",\"a\":\"NaN\",\"b\":\"Infinity\",\"c\":\"-Infinity\"}");
}

/* ---- escaping and UTF-8 ---- */

Test(clog, escapes_quotes_backslash_and_controls)
{
    imi_field f[] = { IMI_FSTR("k\"\\\n", "\x01\x1f\x7f\b\f\r") };
    expect_tail(IMI_LOG_JSON, "a \"q\" b\\c\nd\te", f, 1,
                "\"msg\":\"a \\\"q\\\" b\\\\c\\nd\\te\","
                "\"k\\\"\\\\\\n\":\"\\u0001\\u001f\x7f\\b\\f\\r\"}");
}

Test(clog, invalid_utf8_becomes_replacement)
{
    /* Each maximal invalid subpart is one U+FFFD: c0 and af are separate bytes that can
     * never start a sequence, ed a0 is a surrogate prefix, e2 82 a cut sequence. */
    imi_field f[] = { IMI_FSTR("ff", "a\xff"), IMI_FSTR("over", "\xc0\xaf"),
                      IMI_FSTR("sur", "\xed\xa0\x80"), IMI_FSTR("cut", "x\xe2\x82"),
                      IMI_FSTR("cut2", "\xe2\x82y"), IMI_FSTR("f5", "\xf5\x80\x80\x80"),
                      IMI_FSTR("big", "\xf4\x90\x80\x80") };
    expect_tail(IMI_LOG_JSON, "\xe0\x80\x80", f, sizeof f / sizeof f[0],
                "\"msg\":\"\\ufffd\\ufffd\\ufffd\",\"ff\":\"a\\ufffd\","
                "\"over\":\"\\ufffd\\ufffd\",\"sur\":\"\\ufffd\\ufffd\\ufffd\","
                "\"cut\":\"x\\ufffd\",\"cut2\":\"\\ufffdy\","
                "\"f5\":\"\\ufffd\\ufffd\\ufffd\\ufffd\","
                "\"big\":\"\\ufffd\\ufffd\\ufffd\\ufffd\"}");
}

Test(clog, valid_multibyte_passes_through)
{
    const char *s = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf \xed\x9f\xbf";
    imi_field f[] = { IMI_FSTR("\xe2\x82\xac", s) };
    char want[256];
    snprintf(want, sizeof want, "\"msg\":\"%s\",\"\xe2\x82\xac\":\"%s\"}", s, s);
    expect_tail(IMI_LOG_JSON, s, f, 1, want);
}

static unsigned rnd_state = 12345;
static unsigned rnd(void)
{
    rnd_state = rnd_state * 1103515245 + 12345;
    return rnd_state >> 8;
}

Test(clog, random_bytes_always_valid_json)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, "svc\xff\"");
    imi_logger *sub = imi_logger_named(lg, "n\x80\n");
    char a[64], b[64], c[64];
    for (int i = 0; i < 3000; i++) {
        size_t na = rnd() % 63, nb = rnd() % 63, nc = rnd() % 63;
        for (size_t k = 0; k < 63; k++) {
            a[k] = (char)(rnd() & 0xff);
            b[k] = (char)(rnd() & 0xff);
            c[k] = (char)(rnd() & 0xff);
        }
        a[na] = b[nb] = 0;
        imi_field f[] = { IMI_FSTR(b, a), IMI_FBYTES(a, c, nc), IMI_FSTR(b, b) };
        imi_log(i % 2 ? sub : lg, IMI_LOG_INFO, NULL, c[0] ? c : "", f, 3);
    }
    imi_logger_free(lg);
    cr_assert_eq(check_lines(path, NULL, NULL), 3000);
}

/* ---- levels, service, trace id, sub-loggers ---- */

Test(clog, level_filtering)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_WARN, NULL);
    imi_logger *sub = imi_logger_named(lg, "sub");
    cr_assert(!imi_log_enabled(lg, IMI_LOG_INFO));
    cr_assert(imi_log_enabled(sub, IMI_LOG_ERROR));
    IMI_INFO(lg, NULL, "dropped", IMI_FINT("n", 1));
    imi_log(sub, IMI_LOG_DEBUG, NULL, "dropped", NULL, 0);
    imi_logf(lg, IMI_LOG_INFO, NULL, "dropped %d", 1);
    IMI_WARN(lg, NULL, "kept1", IMI_FINT("n", 1));
    imi_logger_set_level(sub, IMI_LOG_DEBUG); /* root-wide */
    cr_assert_eq(imi_logger_level(lg), IMI_LOG_DEBUG);
    IMI_DEBUG(lg, NULL, "kept2", IMI_FINT("n", 2));
    imi_logger_set_level(lg, IMI_LOG_OFF);
    imi_log(lg, IMI_LOG_ERROR, NULL, "dropped", NULL, 0);
    imi_log(lg, IMI_LOG_OFF, NULL, "dropped", NULL, 0);
    imi_logger_free(lg);
    size_t len;
    char *s = slurp(path, &len);
    cr_assert_null(strstr(s, "dropped"), "%s", s);
    cr_assert_not_null(strstr(s, "\"level\":\"warn\",\"msg\":\"kept1\""), "%s", s);
    cr_assert_not_null(strstr(s, "\"level\":\"debug\",\"msg\":\"kept2\""), "%s", s);
    cr_assert_eq(check_lines(path, NULL, NULL), 2);
    free(s);
}

Test(clog, level_names)
{
    cr_assert_eq(imi_log_level_parse("debug"), IMI_LOG_DEBUG);
    cr_assert_eq(imi_log_level_parse("INFO"), IMI_LOG_INFO);
    cr_assert_eq(imi_log_level_parse("warn"), IMI_LOG_WARN);
    cr_assert_eq(imi_log_level_parse("error"), IMI_LOG_ERROR);
    cr_assert_eq(imi_log_level_parse("off"), IMI_LOG_OFF);
    cr_assert_eq(imi_log_level_parse("verbose"), -1);
    cr_assert_eq(imi_log_level_parse(NULL), -1);
    cr_assert_str_eq(imi_log_level_name(IMI_LOG_WARN), "warn");
    cr_assert_str_eq(imi_log_level_name(IMI_LOG_OFF), "off");
}

Test(clog, head_order_service_and_trace_id)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, "im-logic");
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx *child = imi_ctx_child(ctx, 0);
    imi_ctx_set_trace_id(ctx, "abc123");
    IMI_INFO(lg, child, "with", IMI_FINT("n", 1));
    IMI_INFO(lg, NULL, "none", IMI_FINT("n", 2));
    imi_ctx_set_trace_id(ctx, NULL);
    IMI_INFO(lg, child, "cleared", IMI_FINT("n", 3));
    imi_ctx_free(child);
    imi_ctx_free(ctx);
    imi_logger_free(lg);
    size_t len;
    char *s = slurp(path, &len);
    cr_assert_eq(check_lines(path, NULL, NULL), 3);
    /* {"ts":"2026-11-25T19:22:26.123456Z","level":"info",... */
    cr_assert_eq(strncmp(s, "{\"ts\":\"", 7), 0);
    cr_assert(s[11] == '-' && s[14] == '-' && s[17] == 'T' && s[20] == ':' && s[26] == '.' &&
              s[33] == 'Z' && s[34] == '"', "%.40s", s);
    cr_assert_not_null(strstr(s, "Z\",\"level\":\"info\",\"service\":\"im-logic\","
                                 "\"trace_id\":\"abc123\",\"msg\":\"with\",\"n\":1}\n"));
    cr_assert_not_null(strstr(s, "\"service\":\"im-logic\",\"msg\":\"none\""));
    cr_assert_not_null(strstr(s, "\"service\":\"im-logic\",\"msg\":\"cleared\""));
    cr_assert_null(strstr(strstr(s, "trace_id") + 1, "trace_id"), "trace_id twice: %s", s);
    free(s);
}

Test(clog, no_service_no_logger_keys_for_bare_root)
{
    imi_field f[] = { IMI_FINT("n", 1) };
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    imi_log(lg, IMI_LOG_ERROR, NULL, "x", f, 1);
    imi_logger_free(lg);
    char *line = only_line();
    cr_assert_not_null(strstr(line, "\"level\":\"error\",\"msg\":\"x\",\"n\":1}"), "%s", line);
    free(line);
}

Test(clog, sub_logger_names_and_identity)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, "svc");
    imi_logger *a = imi_logger_named(lg, "a");
    imi_logger *ab = imi_logger_named(a, "b");
    cr_assert_not_null(a);
    cr_assert_not_null(ab);
    cr_assert_neq(a, lg);
    cr_assert_neq(a, ab);
    cr_assert_eq(imi_logger_named(lg, "a"), a);
    cr_assert_eq(imi_logger_named(a, "b"), ab);
    cr_assert_eq(imi_logger_named(lg, "a.b"), ab);
    cr_assert_neq(imi_logger_named(lg, "b"), ab);
    cr_assert_null(imi_logger_named(lg, ""));
    cr_assert_null(imi_logger_named(NULL, "x"));
    IMI_INFO(ab, NULL, "hi", IMI_FINT("n", 1));
    imi_logger_free(ab); /* not a root: no-op */
    IMI_INFO(a, NULL, "hi", IMI_FINT("n", 2));
    imi_logger_free(lg);
    size_t len;
    char *s = slurp(path, &len);
    cr_assert_not_null(strstr(s, "\"service\":\"svc\",\"logger\":\"a.b\",\"msg\":\"hi\",\"n\":1}"));
    cr_assert_not_null(strstr(s, "\"service\":\"svc\",\"logger\":\"a\",\"msg\":\"hi\",\"n\":2}"));
    cr_assert_eq(check_lines(path, NULL, NULL), 2);
    free(s);
}

static void *make_named(void *arg)
{
    imi_logger *lg = arg, **got = malloc(50 * sizeof *got);
    char name[16];
    for (int i = 0; i < 50; i++) {
        snprintf(name, sizeof name, "n%d", i);
        got[i] = imi_logger_named(lg, name);
    }
    return got;
}

Test(clog, concurrent_named_creation_same_pointers)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    pthread_t t[4];
    imi_logger **got[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, make_named, lg);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], (void **)&got[i]);
    for (int k = 0; k < 50; k++) {
        cr_assert_not_null(got[0][k]);
        for (int i = 1; i < 4; i++)
            cr_assert_eq(got[i][k], got[0][k]);
    }
    for (int i = 0; i < 4; i++)
        free(got[i]);
    imi_logger_free(lg);
}

/* ---- console ---- */

Test(clog, console_format)
{
    imi_logger *lg = open_log(IMI_LOG_CONSOLE, IMI_LOG_INFO, "svc");
    imi_logger *ab = imi_logger_named(imi_logger_named(lg, "a"), "b");
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_set_trace_id(ctx, "t1");
    IMI_INFO(ab, ctx, "user login", IMI_FSTR("user", "bob"), IMI_FINT("n", -3),
             IMI_FSTR("q", "a b"), IMI_FDUR("took", 1500000), IMI_FERR("err", IMI_ENOTFOUND),
             IMI_FBOOL("ok", true), IMI_FSTR("e", ""), IMI_FDBL("d", NAN));
    IMI_WARN(lg, NULL, "line\nbreak", IMI_FINT("n", 1));
    imi_ctx_free(ctx);
    imi_logger_free(lg);
    size_t len;
    char *s = slurp(path, &len);
    /* 2026-11-25T19:22:26.123Z INFO  [a.b] ... */
    cr_assert(len > 24 && s[4] == '-' && s[10] == 'T' && s[19] == '.' && s[23] == 'Z', "%s", s);
    const char *want1 = " INFO  [a.b] user login user=bob n=-3 q=\"a b\" took=1.5ms"
                        " err=IMI_ENOTFOUND ok=true e=\"\" d=NaN service=svc trace_id=t1\n";
    cr_assert_eq(strncmp(s + 24, want1, strlen(want1)), 0, "%s", s);
    const char *l2 = s + 24 + strlen(want1);
    cr_assert_str_eq(l2 + 24, " WARN  \"line\\nbreak\" n=1 service=svc\n");
    free(s);
}

/* ---- output: errors, rotation, threads ---- */

Test(clog, open_errors)
{
    imi_logger *lg = (imi_logger *)1;
    imi_log_options o = { .output = "/nonexistent-dir/x.log" };
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_EUNAVAILABLE);
    cr_assert_null(lg);
    o = (imi_log_options){ .level = 9 };
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_EINVALID);
    o = (imi_log_options){ .format = 7 };
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_EINVALID);
    cr_assert_eq(imi_logger_open(NULL, &lg), IMI_OK); /* defaults: stderr, info */
    cr_assert_eq(imi_logger_level(lg), IMI_LOG_INFO);
    imi_logger_free(lg);
    imi_logger_free(NULL);
}

Test(clog, creates_file_0644)
{
    umask(0);
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    imi_logger_free(lg);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0644);
}

Test(clog, appends_to_existing_file)
{
    FILE *f = fopen(path, "w");
    fputs("{\"old\":1}\n", f);
    fclose(f);
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    IMI_INFO(lg, NULL, "new", IMI_FINT("n", 1));
    imi_logger_free(lg);
    cr_assert_eq(check_lines(path, NULL, NULL), 2);
    size_t len;
    char *s = slurp(path, &len);
    cr_assert_eq(strncmp(s, "{\"old\":1}\n{", 11), 0, "%s", s);
    free(s);
}

typedef struct seqs {
    long last[16];
    size_t lines;
} seqs;

/* Lines carry "t":<thread>,"i":<seq>; per thread the seqs must rise. */
static void check_seq(const char *line, size_t n, void *arg)
{
    seqs *s = arg;
    const char *t = strstr(line, "\"t\":");
    cr_assert(t && t < line + n);
    int th = atoi(t + 4);
    long i = atol(strstr(t, "\"i\":") + 4);
    cr_assert(i > s->last[th], "thread %d: %ld after %ld", th, i, s->last[th]);
    s->last[th] = i;
    s->lines++;
}

static void log_seq(imi_logger *lg, int th, long i)
{
    IMI_INFO(lg, NULL, "rotating line with some padding to make it longer", IMI_FINT("t", th),
             IMI_FINT("i", i), IMI_FSTR("pad", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"));
}

static size_t count_rotated(unsigned upto, seqs *s)
{
    char p[160];
    size_t total = 0;
    for (unsigned k = upto; k >= 1; k--) {
        snprintf(p, sizeof p, "%s.%u", path, k);
        cr_assert_eq(access(p, F_OK), 0, "%s missing", p);
        struct stat st;
        stat(p, &st);
        cr_assert_leq(st.st_size, 4096, "%s is %ld bytes", p, (long)st.st_size);
        total += check_lines(p, check_seq, s);
    }
    return total + check_lines(path, check_seq, s);
}

Test(clog, rotation_keeps_n_files_of_whole_lines)
{
    imi_log_options o = { .level = IMI_LOG_INFO, .output = path, .rotate_bytes = 4096,
                          .rotate_keep = 2 };
    imi_logger *lg;
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_OK);
    for (long i = 0; i < 2000; i++)
        log_seq(lg, 0, i);
    imi_logger_free(lg);
    char p[160];
    snprintf(p, sizeof p, "%s.3", path);
    cr_assert_neq(access(p, F_OK), 0, "more than rotate_keep files");
    seqs s = { .last = { -1 } };
    size_t n = count_rotated(2, &s);
    cr_assert_gt(n, 40);
    cr_assert_eq(s.last[0], 1999, "newest line is not last");
}

Test(clog, rotation_default_keep_is_3)
{
    imi_log_options o = { .level = IMI_LOG_INFO, .output = path, .rotate_bytes = 4096 };
    imi_logger *lg;
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_OK);
    for (long i = 0; i < 500; i++)
        log_seq(lg, 0, i);
    imi_logger_free(lg);
    char p[160];
    snprintf(p, sizeof p, "%s.4", path);
    cr_assert_neq(access(p, F_OK), 0);
    seqs s = { .last = { -1 } };
    count_rotated(3, &s);
}

typedef struct worker {
    imi_logger *lg;
    int th, lines;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char name[8];
    snprintf(name, sizeof name, "w%d", w->th % 3);
    imi_logger *sub = imi_logger_named(w->lg, name);
    for (long i = 0; i < w->lines; i++)
        log_seq(i % 2 ? sub : w->lg, w->th, i);
    return NULL;
}

static void run_workers(imi_logger *lg, int n, int lines)
{
    pthread_t t[16];
    worker w[16];
    for (int i = 0; i < n; i++) {
        w[i] = (worker){ lg, i, lines };
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
}

Test(clog, threads_lines_whole_and_counted)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, "svc");
    run_workers(lg, 8, 2000);
    imi_logger_free(lg);
    seqs s;
    for (int i = 0; i < 16; i++)
        s.last[i] = -1;
    s.lines = 0;
    cr_assert_eq(check_lines(path, check_seq, &s), 16000);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(s.last[i], 1999);
}

Test(clog, threads_with_rotation)
{
    imi_log_options o = { .level = IMI_LOG_INFO, .output = path, .rotate_bytes = 4096,
                          .rotate_keep = 3 };
    imi_logger *lg;
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_OK);
    run_workers(lg, 4, 2000);
    imi_logger_free(lg);
    char p[160];
    snprintf(p, sizeof p, "%s.4", path);
    cr_assert_neq(access(p, F_OK), 0);
    for (unsigned k = 1; k <= 3; k++) {
        snprintf(p, sizeof p, "%s.%u", path, k);
        check_lines(p, NULL, NULL);
    }
    check_lines(path, NULL, NULL);
}

/* ---- over-long lines ---- */

static void check_truncated(size_t max)
{
    char *line = only_line();
    size_t n = strlen(line) + 1;
    cr_assert_leq(n, max, "line of %zu bytes", n);
    cr_assert_not_null(strstr(line, ",\"truncated\":true}"), "%.80s...", line);
    free(line);
}

Test(clog, long_message_truncated_valid)
{
    size_t n = 20000;
    char *m = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        m[i] = "ab\"\n\xe2\x82\xac\\"[i % 8];
    m[n] = 0;
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, "svc");
    IMI_INFO(lg, NULL, m, IMI_FINT("after", 1));
    imi_logger_free(lg);
    check_truncated(8192);
    free(m);
}

Test(clog, long_field_and_many_fields_truncated_valid)
{
    for (size_t cut = 7900; cut < 8200; cut += 7) {
        size_t n = cut;
        char *v = malloc(n + 1);
        for (size_t i = 0; i < n; i++)
            v[i] = "\xf0\x9f\x98\x80\x01x"[i % 6];
        v[n] = 0;
        imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
        IMI_INFO(lg, NULL, "m", IMI_FSTR("big", v), IMI_FINT("n", 1), IMI_FDBL("d", 0.5));
        imi_logger_free(lg);
        check_truncated(8192);
        unlink(path);
        free(v);
    }
    static char keys[2000][8];
    imi_field f[2000];
    for (int i = 0; i < 2000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        f[i] = i % 2 ? IMI_FUINT(keys[i], UINT64_MAX) : IMI_FDBL(keys[i], 1.0 / 3);
    }
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    imi_log(lg, IMI_LOG_INFO, NULL, "many", f, 2000);
    imi_logger_free(lg);
    check_truncated(8192);
}

Test(clog, logf_formats_and_truncates)
{
    imi_logger *lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    imi_logf(lg, IMI_LOG_INFO, NULL, "user %s took %d ms", "bo\"b", 12);
    imi_logger_free(lg);
    char *line = only_line();
    cr_assert_not_null(strstr(line, "\"msg\":\"user bo\\\"b took 12 ms\"}"), "%s", line);
    free(line);
    unlink(path);
    char *big = malloc(30000);
    memset(big, 'z', 29999);
    big[29999] = 0;
    lg = open_log(IMI_LOG_JSON, IMI_LOG_INFO, NULL);
    imi_logf(lg, IMI_LOG_INFO, NULL, "%s", big);
    imi_logger_free(lg);
    check_truncated(8192);
    free(big);
}
