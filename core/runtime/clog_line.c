/* clog: building one line in a thread-local buffer and writing it.
 *
 * A line never allocates: it is built in line_buf. When it would not fit, the value being
 * written is cut between escape units (or a number dropped whole), later fields are
 * dropped and the line ends with "truncated":true, so it stays one valid JSON object. */
#include <stdarg.h>
#include <stdio.h>
#include "clog_internal.h"
#include "iminfra/error.h"

/* msg_len for a NUL-terminated msg whose length is not known yet. */
#define MSG_CSTR SIZE_MAX

static _Thread_local char line_buf[IMI_CLOG_LINE_MAX];
static _Thread_local char msg_buf[IMI_CLOG_LINE_MAX];

/* Padded to 24 bytes: copied whole, the pointer then moved by the length. */
static const char json_levels[][24] = {
    "\",\"level\":\"debug\"", "\",\"level\":\"info\"", "\",\"level\":\"warn\"",
    "\",\"level\":\"error\"",
};
static const size_t json_level_lens[] = { 17, 16, 16, 17 };
static const char *const con_levels[] = { " DEBUG", " INFO ", " WARN ", " ERROR" };

/* "IMI_ETIMEDOUT" quoted, by -code: the names are plain ASCII, so they need no escaping
 * and their lengths are known at compile time. */
static const struct {
    const char *s;
    size_t n;
} json_errs[] = {
#define JSON_ERR_(name, val, msg) \
    [-(val)] = { "\"IMI_" #name "\"", sizeof("IMI_" #name) + 1 },
    IMI_ERRNO_MAP(JSON_ERR_)
#undef JSON_ERR_
};

/* "s" escaped. False when cut: the string is still closed. */
static bool json_str(imi_clog_buf *b, const char *s, size_t n)
{
    if (!IMI_CLOG_PUT_LIT(b, "\""))
        return false;
    bool ok = imi_clog_esc(b, s, n, true);
    imi_clog_put_tail(b, "\"", 1);
    return ok;
}

static bool json_cstr(imi_clog_buf *b, const char *s)
{
    if (!IMI_CLOG_PUT_LIT(b, "\""))
        return false;
    bool ok = imi_clog_esc(b, s, strlen(s), true); /* 8 bytes a step past libc's strlen */
    imi_clog_put_tail(b, "\"", 1);
    return ok;
}

/* Writes f's value; returns false when it did not fit. *keep says whether what was
 * written stays (a cut string) or the field must be rolled back (a number). */
static bool json_value(imi_clog_buf *b, const imi_field *f, bool *keep)
{
    *keep = false;
    switch (f->type) {
    case IMI_F_STR:
        if (!f->v.s)
            return IMI_CLOG_PUT_LIT(b, "null");
        *keep = b->lim - b->p >= 1; /* the opening quote fits: keep the cut string */
        return json_cstr(b, f->v.s);
    case IMI_F_BYTES:
        if (!f->v.bytes.ptr)
            return IMI_CLOG_PUT_LIT(b, "null");
        *keep = b->lim - b->p >= 1;
        return json_str(b, f->v.bytes.ptr, f->v.bytes.len);
    case IMI_F_ERR:
        /* compared before negating: -INT_MIN does not exist */
        if (f->v.err <= 0 && f->v.err > -(int)(sizeof json_errs / sizeof json_errs[0]))
            return imi_clog_put(b, json_errs[-f->v.err].s, json_errs[-f->v.err].n);
        return json_cstr(b, imi_err_name(f->v.err));
    case IMI_F_INT:      return imi_clog_i64(b, f->v.i);
    case IMI_F_UINT:     return imi_clog_u64(b, f->v.u);
    case IMI_F_DOUBLE:   return imi_clog_dbl(b, f->v.d, true);
    case IMI_F_DURATION: return imi_clog_dur_ms(b, f->v.ns);
    case IMI_F_BOOL:
        return f->v.b ? IMI_CLOG_PUT_LIT(b, "true") : IMI_CLOG_PUT_LIT(b, "false");
    }
    return IMI_CLOG_PUT_LIT(b, "null");
}

/* The n (2 .. 16) bytes at a and b are equal: two overlapping loads each, no memcmp call
 * (libc's is not inlined for odd sizes). */
static inline bool eq_small(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8), memcpy(&a1, a + n - 8, 8);
        memcpy(&b0, b, 8), memcpy(&b1, b + n - 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    if (n >= 4) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, a, 4), memcpy(&a1, a + n - 4, 4);
        memcpy(&b0, b, 4), memcpy(&b1, b + n - 4, 4);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    uint16_t a0, a1, b0, b1;
    memcpy(&a0, a, 2), memcpy(&a1, a + n - 2, 2);
    memcpy(&b0, b, 2), memcpy(&b1, b + n - 2, 2);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
}

/* Keys clog writes itself. A user field with one of these names, or whose name starts
 * with "fields.", is written as "fields.<name>": the line keeps one "level" (the real one)
 * and the renaming can be undone by removing one "fields." prefix. Checked on the key as
 * written, which equals the name for these plain ASCII names. */
static inline bool reserved_key(const char *k, size_t n)
{
#define IS(lit) eq_small(k, lit, sizeof(lit) - 1)
    if (n >= 7 && IS("fields."))
        return true;
    switch (n) {
    case 2: return IS("ts");
    case 3: return IS("msg");
    case 5: return IS("level");
    case 6: return IS("logger");
    case 7: return IS("service") || IS("span_id");
    case 8: return IS("trace_id");
    case 9: return IS("truncated");
    case 16: return IS("duplicate_fields");
    }
    return false;
#undef IS
}

/* The keys written so far on a line, as offsets into it, to keep every key once. The
 * written form is compared: escaping is canonical, so equal text is an equal key. */
typedef struct keyset {
    const char *base;
    uint64_t filter; /* a bit per key hash seen */
    size_t n;
    unsigned dups;
    uint32_t sig[IMI_CLOG_FIELDS_MAX]; /* length and first bytes: most keys differ there */
    uint16_t off[IMI_CLOG_FIELDS_MAX], len[IMI_CLOG_FIELDS_MAX];
} keyset;

/* Length and first, middle and last bytes of a key as written. */
static inline uint32_t key_sig(const char *k, size_t n)
{
    const unsigned char *u = (const unsigned char *)k;
    return n ? (uint32_t)n ^ (uint32_t)u[0] << 8 ^ (uint32_t)u[n / 2] << 16 ^
                   (uint32_t)u[n - 1] << 24
             : 0;
}

/* True when the key written at [k, k + n) is new on this line (and now recorded); src
 * holds the same n bytes (compared instead of k when they are the caller's, which are
 * not still on their way to memory), sig is key_sig of them. */
static inline bool key_new_sig(keyset *ks, const char *k, const char *src, size_t n,
                               uint32_t sig)
{
    uint64_t bit = 1ull << ((sig * 2654435761u) >> 26);
    if (ks->filter & bit)
        for (size_t i = 0; i < ks->n; i++)
            if (ks->sig[i] == sig && ks->len[i] == n && !memcmp(ks->base + ks->off[i], src, n))
                return false;
    ks->filter |= bit;
    ks->sig[ks->n] = sig;
    ks->off[ks->n] = (uint16_t)(k - ks->base);
    ks->len[ks->n++] = (uint16_t)n;
    return true;
}

static inline bool key_new(keyset *ks, const char *k, size_t n)
{
    return key_new_sig(ks, k, k, n, key_sig(k, n));
}

/* Writes a field's key as the format writes it, then the "fields." prefix in front of it
 * when it is reserved. */
static bool put_key(imi_clog_buf *b, const char *key, bool json)
{
    char *k = b->p;
    if (json) {
        if (!imi_clog_esc_cstr(b, key, true))
            return false;
    } else {
        size_t n = strlen(key);
        if (imi_clog_needs_quote(key, n)) {
            if (!IMI_CLOG_PUT_LIT(b, "\"") || !imi_clog_esc(b, key, n, true) ||
                !IMI_CLOG_PUT_LIT(b, "\""))
                return false;
        } else if (!imi_clog_esc(b, key, n, false)) {
            return false;
        }
    }
    size_t n = (size_t)(b->p - k);
    if (!reserved_key(k, n))
        return true;
    if (b->lim - b->p < 7) {
        b->trunc = true;
        return false;
    }
    memmove(k + 7, k, n);
    memcpy(k, "fields.", 7);
    b->p += 7;
    return true;
}

/* The longest key the fast path takes. */
#define FAST_KEY 32

/* Copies a key of plain bytes (at most FAST_KEY) to o: its length, or -1 when it is
 * longer or holds a byte to escape. Four bytes a step; each read follows a plain,
 * hence non-NUL, byte. */
static inline ptrdiff_t plain_key(char *o, const char *key)
{
    const unsigned char *u = (const unsigned char *)key, *plain = imi_clog_plain[1];
    size_t n = 0;
    while (n < FAST_KEY && plain[u[n]] && plain[u[n + 1]] && plain[u[n + 2]] &&
           plain[u[n + 3]]) {
        memcpy(o + n, u + n, 4);
        n += 4;
    }
    while (n < FAST_KEY && plain[u[n]]) {
        o[n] = (char)u[n];
        n++;
    }
    return u[n] ? -1 : (ptrdiff_t)n;
}

/* ,"key":value. Returns 1 when written, 0 when skipped as a duplicate key, -1 when the
 * line is full: write no more fields. */
static int json_field(imi_clog_buf *b, keyset *ks, const imi_field *f)
{
    char *start = b->p;
    bool keep = false;
    const char *key = f->key ? f->key : "";
    /* Fast path: a short plain key, not reserved, with room. Its checks read the caller's
     * bytes, not the copy just written (reading back bytes stored in pieces stalls). */
    if (b->lim - start >= FAST_KEY + 8) {
        ptrdiff_t n = plain_key(start + 2, key);
        if (n >= 0 && !reserved_key(key, (size_t)n)) {
            memcpy(start, ",\"", 2);
            memcpy(start + 2 + n, "\":", 2);
            if (!key_new_sig(ks, start + 2, key, (size_t)n, key_sig(key, (size_t)n))) {
                ks->dups++;
                return 0;
            }
            b->p = start + 4 + n;
            if (json_value(b, f, &keep))
                return 1;
            goto cut;
        }
    }
    if (IMI_CLOG_PUT_LIT(b, ",\"") && put_key(b, key, true)) {
        if (!key_new(ks, start + 2, (size_t)(b->p - start - 2))) {
            b->p = start;
            ks->dups++;
            return 0;
        }
        if (IMI_CLOG_PUT_LIT(b, "\":") && json_value(b, f, &keep))
            return 1;
    }
cut:
    if (!keep)
        b->p = start;
    b->trunc = true;
    return -1;
}

/* Writes the fields; a line ends after IMI_CLOG_FIELDS_MAX of them. */
static void put_fields(imi_clog_buf *b, keyset *ks, const imi_field *fields, size_t n,
                       int (*one)(imi_clog_buf *, keyset *, const imi_field *))
{
    for (size_t i = 0; i < n; i++) {
        if (ks->n == IMI_CLOG_FIELDS_MAX) {
            b->trunc = true;
            return;
        }
        if (one(b, ks, &fields[i]) < 0)
            return;
    }
}

/* The count of fields dropped as duplicates, e.g. ,"duplicate_fields":2 */
static void put_dups(imi_clog_buf *b, const keyset *ks, bool json)
{
    if (!ks->dups)
        return;
    char *start = b->p;
    if (!(json ? IMI_CLOG_PUT_LIT(b, ",\"duplicate_fields\":")
               : IMI_CLOG_PUT_LIT(b, " duplicate_fields=")) ||
        !imi_clog_u64(b, ks->dups)) {
        b->p = start;
        b->trunc = true;
    }
}

static void json_line(imi_clog_buf *b, keyset *ks, const imi_logger *lg,
                      imi_log_level level, const char *trace, const char *span, const char *msg,
                      size_t msg_len, const imi_field *fields, size_t n_fields)
{
    /* The head of a line always fits (names are cut to IMI_CLOG_NAME_MAX): fixed-size
     * copies, no length checks. */
    memcpy(b->p, "{\"ts\":\"", 7);
    b->p += 7;
    b->p += imi_clog_ts(b->p, 6);
    memcpy(b->p, json_levels[level], 24);
    b->p += json_level_lens[level];
    for (size_t i = 0; i < lg->json_head_len; i += 16) /* json_head has 16 bytes spare */
        memcpy(b->p + i, lg->json_head + i, 16);
    b->p += lg->json_head_len;
    /* Each key goes out with its opening quote or not at all, so a cut line never holds
     * a key without a value; the closing quote has its byte in the reserve. */
    if (trace && IMI_CLOG_PUT_LIT(b, ",\"trace_id\":\"")) {
        imi_clog_esc(b, trace, strnlen(trace, IMI_CLOG_NAME_MAX), true);
        imi_clog_put_tail(b, "\"", 1);
    }
    if (span && IMI_CLOG_PUT_LIT(b, ",\"span_id\":\"")) {
        imi_clog_esc(b, span, strnlen(span, IMI_CLOG_NAME_MAX), true);
        imi_clog_put_tail(b, "\"", 1);
    }
    if (IMI_CLOG_PUT_LIT(b, ",\"msg\":\"")) {
        bool ok = imi_clog_esc(b, msg, msg_len == MSG_CSTR ? strlen(msg) : msg_len, true);
        imi_clog_put_tail(b, "\"", 1);
        if (ok)
            put_fields(b, ks, fields, n_fields, json_field);
    }
    put_dups(b, ks, true);
    if (b->trunc)
        imi_clog_put_tail(b, ",\"truncated\":true", 17);
    imi_clog_put_tail(b, "}\n", 2);
}

/* A console string value: bare when it reads unambiguously, else quoted and escaped. */
static bool con_str(imi_clog_buf *b, const char *s, size_t n, bool *keep)
{
    *keep = b->lim - b->p >= 1;
    if (imi_clog_needs_quote(s, n))
        return json_str(b, s, n);
    *keep = true;
    return imi_clog_esc(b, s, n, false);
}

static bool con_value(imi_clog_buf *b, const imi_field *f, bool *keep)
{
    *keep = false;
    switch (f->type) {
    case IMI_F_STR:
        return f->v.s ? con_str(b, f->v.s, strlen(f->v.s), keep) : IMI_CLOG_PUT_LIT(b, "null");
    case IMI_F_BYTES:
        return f->v.bytes.ptr ? con_str(b, f->v.bytes.ptr, f->v.bytes.len, keep)
                              : IMI_CLOG_PUT_LIT(b, "null");
    case IMI_F_ERR: {
        const char *name = imi_err_name(f->v.err);
        return imi_clog_put(b, name, strlen(name));
    }
    case IMI_F_INT:    return imi_clog_i64(b, f->v.i);
    case IMI_F_UINT:   return imi_clog_u64(b, f->v.u);
    case IMI_F_DOUBLE: return imi_clog_dbl(b, f->v.d, false);
    case IMI_F_DURATION:
        return imi_clog_dur_ms(b, f->v.ns) && IMI_CLOG_PUT_LIT(b, "ms");
    case IMI_F_BOOL:
        return f->v.b ? IMI_CLOG_PUT_LIT(b, "true") : IMI_CLOG_PUT_LIT(b, "false");
    }
    return IMI_CLOG_PUT_LIT(b, "null");
}

static int con_field(imi_clog_buf *b, keyset *ks, const imi_field *f)
{
    char *start = b->p;
    bool keep = false;
    if (IMI_CLOG_PUT_LIT(b, " ") && put_key(b, f->key ? f->key : "", false)) {
        if (!key_new(ks, start + 1, (size_t)(b->p - start - 1))) {
            b->p = start;
            ks->dups++;
            return 0;
        }
        if (IMI_CLOG_PUT_LIT(b, "=") && con_value(b, f, &keep))
            return 1;
    }
    if (!keep)
        b->p = start;
    b->trunc = true;
    return -1;
}

/* A console message is bare unless it could be read as something else: a field (`=`), a
 * quoted string, an escape, a logger name ("[" first) or a line break. */
static bool msg_needs_quote(const char *s, size_t n)
{
    if (n && s[0] == '[')
        return true;
    for (size_t i = 0; i < n; i++) {
        unsigned c = (unsigned char)s[i];
        if (c < ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f)
            return true;
    }
    return false;
}

/* 2026-11-25T19:22:26.123Z INFO  [a.b] msg key=value ... service=x trace_id=... */
static void console_line(imi_clog_buf *b, keyset *ks, const imi_logger *lg,
                         imi_log_level level, const char *trace, const char *span,
                         const char *msg, size_t msg_len, const imi_field *fields,
                         size_t n_fields)
{
    const clog_root *r = lg->root;
    size_t trace_len = trace ? strnlen(trace, IMI_CLOG_NAME_MAX) : 0;
    if (msg_len == MSG_CSTR)
        msg_len = strlen(msg);
    char *lim = b->lim;
    /* Keep room for what ends the line: service and trace id (at worst all escaped). */
    size_t span_len = span ? strnlen(span, IMI_CLOG_NAME_MAX) : 0;
    b->lim -= r->con_service_len + (trace ? 12 + 6 * trace_len : 0) +
              (span ? 11 + 6 * span_len : 0) + 24;
    b->p += imi_clog_ts(b->p, 3);
    imi_clog_put(b, con_levels[level], 6);
    imi_clog_put(b, lg->con_name, lg->con_name_len);
    IMI_CLOG_PUT_LIT(b, " ");
    if (msg_needs_quote(msg, msg_len) ? json_str(b, msg, msg_len)
                                      : imi_clog_esc(b, msg, msg_len, false))
        put_fields(b, ks, fields, n_fields, con_field);
    b->lim = lim;
    put_dups(b, ks, false);
    imi_clog_put(b, r->con_service, r->con_service_len);
    if (trace) {
        bool keep;
        IMI_CLOG_PUT_LIT(b, " trace_id=");
        con_str(b, trace, trace_len, &keep);
    }
    if (span) {
        bool keep;
        IMI_CLOG_PUT_LIT(b, " span_id=");
        con_str(b, span, span_len, &keep);
    }
    if (b->trunc)
        imi_clog_put_tail(b, " truncated=true", 15);
    imi_clog_put_tail(b, "\n", 1);
}

size_t imi_clog_format(char *out, const imi_logger *lg, imi_log_level level, const char *trace,
                       const char *span, const char *msg, size_t msg_len,
                       const imi_field *fields, size_t n_fields, bool cut)
{
    imi_clog_buf b = { out, out + IMI_CLOG_LINE_MAX - IMI_CLOG_RESERVE, cut };
    keyset ks;
    ks.base = out;
    ks.filter = 0;
    ks.n = 0;
    ks.dups = 0;
    if (lg->root->format == IMI_LOG_CONSOLE)
        console_line(&b, &ks, lg, level, trace, span, msg, msg_len, fields, n_fields);
    else
        json_line(&b, &ks, lg, level, trace, span, msg, msg_len, fields, n_fields);
    return (size_t)(b.p - out);
}

size_t imi_clog_drop_line(void *arg, uint64_t n, char *out)
{
    const imi_field f = IMI_FUINT("dropped", n);
    return imi_clog_format(out, arg, IMI_LOG_WARN, NULL, NULL,
                           "clog: lines dropped, the log queue was full", MSG_CSTR, &f, 1,
                           false);
}

static void log_line(imi_logger *lg, imi_log_level level, const imi_ctx *ctx,
                     const char *msg, size_t msg_len, const imi_field *fields,
                     size_t n_fields, bool cut)
{
    const char *trace = ctx ? imi_ctx_trace_id(ctx) : NULL;
    const char *span = ctx ? imi_ctx_span_id(ctx) : NULL;
    size_t n = imi_clog_format(line_buf, lg, level, trace, span, msg, msg_len, fields,
                               n_fields, cut);
    imi_clog_sink_write(&lg->root->sink, line_buf, n, level);
}

/* imi_log_enabled, inlined. */
static inline bool enabled(const imi_logger *lg, imi_log_level level)
{
    return lg && (unsigned)level < IMI_LOG_OFF &&
           (int)level >= atomic_load_explicit(&lg->root->level, memory_order_relaxed);
}

void imi_log(imi_logger *lg, imi_log_level level, const imi_ctx *ctx, const char *msg,
             const imi_field *fields, size_t n_fields)
{
    if (!enabled(lg, level))
        return;
    if (!msg)
        msg = "";
    log_line(lg, level, ctx, msg, MSG_CSTR, fields, fields ? n_fields : 0, false);
}

void imi_logf(imi_logger *lg, imi_log_level level, const imi_ctx *ctx, const char *fmt, ...)
{
    if (!enabled(lg, level) || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg_buf, sizeof msg_buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    bool cut = (size_t)n >= sizeof msg_buf;
    log_line(lg, level, ctx, msg_buf, cut ? sizeof msg_buf - 1 : (size_t)n, NULL, 0, cut);
}
