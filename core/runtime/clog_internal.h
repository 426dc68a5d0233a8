/* clog internals: the line builder, value formatting and the output sink. */
#ifndef IMI_CORE_CLOG_INTERNAL_H
#define IMI_CORE_CLOG_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
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

/* imi_clog_esc for a NUL-terminated string: short plain strings (keys) are
 * copied in the same pass that finds their end, without strlen or memcpy calls. */
static inline bool imi_clog_esc_cstr(imi_clog_buf *b, const char *s, bool json)
{
    const unsigned char *p = (const unsigned char *)s, *plain = imi_clog_plain[json];
    char *o = b->p, *lim = b->lim;
    /* Four bytes a step while there is room: each read is after a plain (non-NUL) byte. */
    while (lim - o >= 4 && plain[p[0]] && plain[p[1]] && plain[p[2]] && plain[p[3]]) {
        memcpy(o, p, 4);
        o += 4;
        p += 4;
    }
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
 * so writers need no lock and a write in flight lands whole in the old or the new file.
 *
 * Unbuffered (buf NULL): one write(2) per line from the caller.
 * Buffered: lines are appended to buf under mu; the caller writes buf out when a line does
 * not fit or at WARN and above, a timer thread every interval. buf holds whole lines only,
 * and each batch goes out in one write(2) loop.
 * Async: callers copy each line into a ring shared with one writer thread, taking no lock
 * (clog_ring.c); the writer writes runs of whole lines with writev(2). */
typedef struct imi_clog_sink {
    int fd;
    bool owned;            /* a file we opened */
    bool discard;          /* output = discard */
    char *path;
    uint64_t rotate_bytes; /* 0: never */
    unsigned keep;
    atomic_uint_fast64_t size; /* bytes in the current file, approximately */
    pthread_mutex_t rot_mu;    /* taken only to rotate */

    bool batched;          /* buffered or async: fixed at open */
    int pid;               /* the process that opened it: a forked child leaves it alone */
    char *buf;             /* buffered */
    size_t cap, len;
    bool async, drop, stop;
    int64_t interval_ns;
    pthread_mutex_t mu;
    pthread_cond_t wake;     /* the thread: data to write, or stop */
    pthread_cond_t room;     /* async callers waiting for room; the exit drain */
    pthread_t thread;
    bool has_thread;
    atomic_uint_fast64_t dropped;
    /* Async (clog_ring.c). Positions are lap << 32 | offset, offset < ring_cap. Each line
     * is an entry: an 8-byte header (0 until the line is in, then its length), the line,
     * padding to 8 bytes; the bytes past head are zero. */
    char *ring;
    size_t ring_cap;               /* a multiple of 8 */
    _Atomic uint64_t head;         /* reserved by callers up to here */
    _Atomic uint64_t claim;        /* taken for writing (writer or fatal signal) */
    _Atomic uint64_t tail;         /* written and zeroed: free for callers */
    atomic_bool sleeping, urgent, stopping;
    atomic_int waiters;            /* callers waiting for room, and the exit drain */
    /* Formats the "lines dropped" line into out (IMI_CLOG_LINE_MAX); returns its length. */
    size_t (*drop_line)(void *arg, uint64_t n, char *out);
    void *drop_arg;
} imi_clog_sink;

typedef struct imi_clog_sink_opts {
    const char *output; /* NULL or "stderr", "stdout", "discard", or a file path */
    uint64_t rotate_bytes;
    unsigned keep;
    size_t buffer;      /* 0: unbuffered */
    int64_t interval_ms;
    bool async, drop;
    size_t (*drop_line)(void *arg, uint64_t n, char *out);
    void *drop_arg;
} imi_clog_sink_opts;

/* IMI_OK or a negative imi code. */
int imi_clog_sink_open(imi_clog_sink *s, const imi_clog_sink_opts *o);
/* level: a line at WARN or above is on its way to the file before this returns
 * (buffered), or wakes the writer (async). */
void imi_clog_sink_write(imi_clog_sink *s, const char *line, size_t n, imi_log_level level);
void imi_clog_sink_close(imi_clog_sink *s);
/* Writes n bytes of whole lines to the fd (rotating first when due), retrying short writes. */
void imi_clog_fd_write(imi_clog_sink *s, const char *data, size_t n);

/* ts = CLOCK_MONOTONIC now + ns, for the sinks' timed waits. */
static inline void imi_clog_deadline_in(struct timespec *ts, int64_t ns)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += (time_t)(ns / 1000000000);
    ts->tv_nsec += (long)(ns % 1000000000);
    if (ts->tv_nsec >= 1000000000) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000;
    }
}

/* Buffered and async sinks (clog_buffer.c). */
int imi_clog_buffer_start(imi_clog_sink *s, const imi_clog_sink_opts *o);
void imi_clog_buffer_write(imi_clog_sink *s, const char *line, size_t n, imi_log_level level);
void imi_clog_buffer_stop(imi_clog_sink *s);
/* Buffered and async sinks flushed at exit() and before a fatal signal (clog_exit.c). */
int imi_clog_exit_register(imi_clog_sink *s);
void imi_clog_exit_unregister(imi_clog_sink *s);
/* Waits (bounded) until s has written what it holds; for exit(). */
void imi_clog_buffer_drain(imi_clog_sink *s);
/* Writes n bytes of whole lines from iov[0..cnt) like imi_clog_fd_write. */
struct iovec;
void imi_clog_fd_writev(imi_clog_sink *s, struct iovec *iov, int cnt, size_t n);
/* writev(2) of iov[0..cnt) to fd until all is written or it fails; async-signal-safe. */
void imi_clog_writev_all(int fd, struct iovec *iov, int cnt);

/* The async ring (clog_ring.c). */
int imi_clog_ring_start(imi_clog_sink *s);
void imi_clog_ring_write(imi_clog_sink *s, const char *line, size_t n, imi_log_level level);
void *imi_clog_ring_main(void *arg); /* the writer thread */
void imi_clog_ring_drain(imi_clog_sink *s);
/* After the writer thread stopped: writes what is left and frees the ring. */
void imi_clog_ring_stop(imi_clog_sink *s);
/* From a fatal signal's handler: writes the lines not yet taken, without a lock. */
void imi_clog_ring_fatal(imi_clog_sink *s);

/* Service and logger names and trace ids are cut to this many bytes, so the head of a
 * line is bounded and always fits. */
#define IMI_CLOG_NAME_MAX 256
/* Fields past this many in one call are dropped and the line marked truncated: the
 * duplicate-key check keeps the written keys in a table of this size. */
#define IMI_CLOG_FIELDS_MAX 256

/* Formats one line into out (IMI_CLOG_LINE_MAX bytes); returns its length. msg_len is
 * SIZE_MAX for a NUL-terminated msg. */
size_t imi_clog_format(char *out, const imi_logger *lg, imi_log_level level, const char *trace,
                       const char *span, const char *msg, size_t msg_len,
                       const imi_field *fields, size_t n_fields, bool cut);
/* The line an async sink writes for n lines dropped; arg is the root logger. */
size_t imi_clog_drop_line(void *arg, uint64_t n, char *out);

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
