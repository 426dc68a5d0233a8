/* clog internals: the line builder, value formatting and the output sink. */
#ifndef IMI_CORE_CLOG_INTERNAL_H
#define IMI_CORE_CLOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "iminfra/clog.h"

#define IMI_CLOG_LINE_MAX 8192 /* one line, newline included */
/* Bytes kept free past the builder's limit for what closes a cut line: a quote,
 * `,"truncated":true}` and the newline (or the console equivalent). */
#define IMI_CLOG_RESERVE 32

/* Appends to [p, lim); past lim only the closing bytes of the line are written. */
typedef struct imi_clog_buf {
    char *p;
    char *lim;
    bool trunc; /* something was cut or dropped */
} imi_clog_buf;

/* All or nothing: false (and nothing written) when s does not fit. */
static inline bool imi_clog_put(imi_clog_buf *b, const char *s, size_t n)
{
    /* Signed: the closing quote of a value may already sit one byte past lim. */
    if (b->lim - b->p < (ptrdiff_t)n) {
        b->trunc = true;
        return false;
    }
    memcpy(b->p, s, n);
    b->p += n;
    return true;
}

/* Writes into the reserve: only for the bytes that close a line. */
static inline void imi_clog_put_tail(imi_clog_buf *b, const char *s, size_t n)
{
    memcpy(b->p, s, n);
    b->p += n;
}

#define IMI_CLOG_PUT_LIT(b, lit) imi_clog_put((b), (lit), sizeof(lit) - 1)

/* Escapes s: control characters as \n, \t, \u00XX ..., invalid UTF-8 as \ufffd and, when
 * json, '"' and '\\'. Cuts between escape units when the limit is reached and then returns
 * false, so what was written is always well-formed. */
bool imi_clog_esc(imi_clog_buf *b, const char *s, size_t n, bool json);
/* imi_clog_plain[json][c]: byte c goes out as it is (no escape, no UTF-8 check). */
extern const unsigned char imi_clog_plain[2][256];

/* imi_clog_esc for a NUL-terminated string: short plain strings (keys, most values) are
 * copied in the same pass that finds their end, without strlen or memcpy calls. */
static inline bool imi_clog_esc_cstr(imi_clog_buf *b, const char *s, bool json)
{
    const unsigned char *p = (const unsigned char *)s, *plain = imi_clog_plain[json];
    char *o = b->p, *lim = b->lim;
    while (o < lim && plain[*p])
        *o++ = (char)*p++;
    b->p = o;
    if (!*p)
        return true;
    return imi_clog_esc(b, (const char *)p, strlen((const char *)p), json);
}

/* True when a console value must be quoted (empty, spaces, '=', quotes, control bytes). */
bool imi_clog_needs_quote(const char *s, size_t n);

bool imi_clog_i64(imi_clog_buf *b, int64_t v);
bool imi_clog_u64(imi_clog_buf *b, uint64_t v);
/* Finite: the shortest fixed form when one with <= 6 decimals round-trips, else %.17g.
 * NaN and infinities: "NaN", "Infinity", "-Infinity", quoted when json. */
bool imi_clog_dbl(imi_clog_buf *b, double v, bool json);
/* Nanoseconds as milliseconds with up to 6 decimals, exact: 12500000 -> 12.5. */
bool imi_clog_dur_ms(imi_clog_buf *b, int64_t ns);

/* "2026-11-25T19:22:26.123456Z" (frac_digits 6) or "...26.123Z" (3); returns its length.
 * out needs 28 bytes. The date part is cached per thread per second. */
size_t imi_clog_ts(char *out, int frac_digits);

/* Where lines go. The fd never changes while open: rotation dup2()s the new file onto it,
 * so writers need no lock and a write in flight lands whole in the old or the new file. */
typedef struct imi_clog_sink {
    int fd;
    bool owned;            /* a file we opened */
    char *path;
    uint64_t rotate_bytes; /* 0: never */
    unsigned keep;
    atomic_uint_fast64_t size; /* bytes in the current file, approximately */
    pthread_mutex_t rot_mu;    /* taken only to rotate */
} imi_clog_sink;

/* output: NULL or "stderr", "stdout", or a file path. IMI_OK or a negative imi code. */
int imi_clog_sink_open(imi_clog_sink *s, const char *output, uint64_t rotate_bytes,
                       unsigned keep);
void imi_clog_sink_write(imi_clog_sink *s, const char *line, size_t n);
void imi_clog_sink_close(imi_clog_sink *s);

/* Service and logger names are cut to this many bytes, so the head of a line is bounded
 * and always fits. */
#define IMI_CLOG_NAME_MAX 256

struct imi_logger {
    struct clog_root *root;
    char *name;         /* full dotted name; NULL for the root */
    char *json_head;    /* ,"service":"...","logger":"..." */
    size_t json_head_len;
    char *con_name;     /* " [a.b]" */
    size_t con_name_len;
};

typedef struct clog_root {
    imi_logger self; /* first: a root's imi_logger * is its clog_root * */
    atomic_int level;
    imi_log_format format;
    char *service;     /* NULL: none */
    char *con_service; /* " service=..." */
    size_t con_service_len;
    imi_clog_sink sink;
    pthread_mutex_t mu; /* guards kids */
    imi_logger **kids;
    size_t n_kids, cap_kids;
} clog_root;

#endif
