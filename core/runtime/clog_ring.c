/* clog async sink: a ring of whole lines that callers fill without a lock and one writer
 * thread empties with writev(2).
 *
 * A caller reserves an entry by advancing head with a compare-and-swap, copies its line in
 * and publishes it by storing the line's length in the entry's header (release). The
 * writer takes the run of published entries from claim (a compare-and-swap, which a fatal
 * signal's handler may win instead: each batch is written once), writes them, zeroes them
 * and moves tail, which frees the room. Lines of one thread keep their order (their
 * reservations do), and a line is never split: an entry is written whole or not at all.
 *
 * Sleeping: the writer sleeps on wake (under mu) with `sleeping` set; a caller takes mu to
 * signal only when the writer sleeps and there is a reason: a WARN line, or the ring just
 * passed half full. A caller waits on room (under mu) only when the ring is full and
 * on_full is block. Both sides publish, then check the other (sequentially consistent), so
 * that one of them always sees the other. */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "clog_internal.h"
#include "iminfra/error.h"

#define OFF_MASK 0xffffffffull
#define BATCH_IOV 512                /* iovecs per writev: 256 lines at least */
#define STUCK_SPINS 2000              /* checks of the next line before sleeping */
#define STUCK_YIELDS 20               /* then sched_yield()s */
#define STUCK_WAIT_NS 100000          /* then sleeps of this long */
#define DRAIN_WAIT_NS 2000000000LL    /* at exit, for the writer to catch up */

static inline uint64_t pos_add(uint64_t pos, size_t n, size_t cap)
{
    uint64_t off = (pos & OFF_MASK) + n, lap = pos >> 32;
    if (off >= cap) {
        off -= cap;
        lap++;
    }
    return lap << 32 | off;
}

/* Bytes from a to b (b not behind a). */
static inline size_t pos_dist(uint64_t a, uint64_t b, size_t cap)
{
    return (size_t)((uint32_t)((b >> 32) - (a >> 32)) * (uint64_t)cap + (b & OFF_MASK) -
                    (a & OFF_MASK));
}

static inline _Atomic uint64_t *header(const imi_clog_sink *s, uint64_t pos)
{
    return (_Atomic uint64_t *)(void *)(s->ring + (pos & OFF_MASK));
}

static inline size_t entry_size(size_t n)
{
    return 8 + ((n + 7) & ~(size_t)7);
}

int imi_clog_ring_start(imi_clog_sink *s)
{
    /* The memory of the two buffers it stands for: a line takes 8 to 15 bytes more. */
    s->ring_cap = (2 * s->cap + 7) & ~(size_t)7;
    s->ring = calloc(1, s->ring_cap);
    if (!s->ring)
        return imi_error_set(IMI_ENOMEM, 0, "log queue of %zu bytes: out of memory",
                             s->ring_cap);
    atomic_init(&s->head, 0);
    atomic_init(&s->claim, 0);
    atomic_init(&s->tail, 0);
    atomic_init(&s->sleeping, false);
    atomic_init(&s->urgent, false);
    atomic_init(&s->stopping, false);
    atomic_init(&s->waiters, 0);
    return IMI_OK;
}

static void wake_writer(imi_clog_sink *s)
{
    pthread_mutex_lock(&s->mu);
    pthread_cond_signal(&s->wake);
    pthread_mutex_unlock(&s->mu);
}

/* Reserves need bytes: the entry's position, or false when full and the line is dropped.
 * *used_before: bytes in the ring before it. */
static bool reserve(imi_clog_sink *s, size_t need, uint64_t *at, size_t *used_before)
{
    size_t cap = s->ring_cap;
    uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);
    for (;;) {
        uint64_t t = atomic_load_explicit(&s->tail, memory_order_acquire);
        size_t used = pos_dist(t, h, cap);
        if (used <= cap && cap - used >= need) {
            if (atomic_compare_exchange_weak_explicit(&s->head, &h, pos_add(h, need, cap),
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                *at = h;
                *used_before = used;
                return true;
            }
            continue;
        }
        /* h may be older than t (others reserved and were written meanwhile). */
        uint64_t now = atomic_load_explicit(&s->head, memory_order_relaxed);
        if (now != h) {
            h = now;
            continue;
        }
        if (s->drop || atomic_load(&s->stopping) || need > cap)
            return false;
        /* Full, on_full = block: wait for the writer to free room. */
        pthread_mutex_lock(&s->mu);
        atomic_fetch_add(&s->waiters, 1);
        for (;;) {
            h = atomic_load(&s->head);
            t = atomic_load(&s->tail);
            used = pos_dist(t, h, cap);
            if (used <= cap && cap - used >= need) {
                if (atomic_compare_exchange_strong(&s->head, &h, pos_add(h, need, cap)))
                    break;
                continue;
            }
            if (atomic_load(&s->stopping)) {
                atomic_fetch_sub(&s->waiters, 1);
                pthread_mutex_unlock(&s->mu);
                return false;
            }
            atomic_store(&s->urgent, true);
            pthread_cond_signal(&s->wake);
            pthread_cond_wait(&s->room, &s->mu);
        }
        atomic_fetch_sub(&s->waiters, 1);
        pthread_mutex_unlock(&s->mu);
        *at = h;
        *used_before = used;
        return true;
    }
}

void imi_clog_ring_write(imi_clog_sink *s, const char *line, size_t n, imi_log_level level)
{
    size_t cap = s->ring_cap, need = entry_size(n), used;
    uint64_t at;
    if (!reserve(s, need, &at, &used)) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        return;
    }
    /* The header never wraps (8-byte aligned, cap a multiple of 8); the line may. */
    size_t d = (size_t)(at & OFF_MASK) + 8;
    if (d == cap)
        d = 0;
    size_t first = cap - d < n ? cap - d : n;
    memcpy(s->ring + d, line, first);
    if (first < n)
        memcpy(s->ring, line + first, n - first);
    atomic_store_explicit(header(s, at), (uint64_t)n, memory_order_release);
    /* Wake the writer at once for WARN and above, and when the ring passes a quarter
     * full (see due()); only when it sleeps (it looks at head and urgent after setting
     * sleeping). */
    bool warn = level >= IMI_LOG_WARN;
    if (warn || (used < cap / 4 && used + need >= cap / 4)) {
        if (warn)
            atomic_store(&s->urgent, true);
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load(&s->sleeping))
            wake_writer(s);
    }
}

/* Takes the run of published entries from claim (at most BATCH_IOV iovecs): its end, and
 * the iovecs in iov; *from == the returned end when there is nothing to take, or when
 * a fatal signal's handler took it first. */
static uint64_t take(imi_clog_sink *s, struct iovec *iov, int *cnt, size_t *bytes,
                     uint64_t *from)
{
    size_t cap = s->ring_cap;
    uint64_t c = atomic_load_explicit(&s->claim, memory_order_acquire), e = c;
    /* Up to head at most: in a full ring, the header past the last entry is the first's. */
    uint64_t h = atomic_load_explicit(&s->head, memory_order_acquire);
    int k = 0;
    size_t total = 0;
    while (e != h && k <= BATCH_IOV - 2) {
        uint64_t n = atomic_load_explicit(header(s, e), memory_order_acquire);
        if (!n)
            break;
        size_t d = (size_t)(e & OFF_MASK) + 8;
        if (d == cap)
            d = 0;
        size_t first = cap - d < n ? cap - d : (size_t)n;
        iov[k++] = (struct iovec){ .iov_base = s->ring + d, .iov_len = first };
        if (first < n)
            iov[k++] = (struct iovec){ .iov_base = s->ring, .iov_len = (size_t)n - first };
        total += (size_t)n;
        e = pos_add(e, entry_size((size_t)n), cap);
    }
    *from = c;
    *cnt = k;
    *bytes = total;
    if (e == c || !atomic_compare_exchange_strong(&s->claim, &c, e))
        *from = e;
    return e;
}

/* Zeroes [a, b), so that a header there reads 0 until its line is in. */
static void zero(imi_clog_sink *s, uint64_t a, uint64_t b)
{
    size_t cap = s->ring_cap, n = pos_dist(a, b, cap), off = (size_t)(a & OFF_MASK);
    size_t first = cap - off < n ? cap - off : n;
    memset(s->ring + off, 0, first);
    memset(s->ring, 0, n - first);
}

/* Writes everything published; returns the bytes of lines written. */
static size_t flush_ring(imi_clog_sink *s)
{
    struct iovec iov[BATCH_IOV];
    size_t done = 0;
    for (;;) {
        int cnt;
        size_t bytes;
        uint64_t from, end = take(s, iov, &cnt, &bytes, &from);
        if (from == end)
            return done;
        imi_clog_fd_writev(s, iov, cnt, bytes);
        zero(s, from, end);
        atomic_store(&s->tail, end);
        done += bytes;
    }
}

static void report_drops(imi_clog_sink *s)
{
    uint64_t n = atomic_exchange(&s->dropped, 0);
    if (n && s->drop_line) {
        char line[IMI_CLOG_LINE_MAX];
        imi_clog_fd_write(s, line, s->drop_line(s->drop_arg, n, line));
    }
}

/* Why the writer should not sleep: stop, a WARN line or someone waiting for room (both
 * set urgent), or a quarter of the ring in use (half of one of the two buffers the ring
 * stands for: the batch size of old). */
static bool due(imi_clog_sink *s)
{
    return atomic_load(&s->stopping) || atomic_load(&s->urgent) ||
           pos_dist(atomic_load(&s->tail), atomic_load(&s->head), s->ring_cap) >=
               s->ring_cap / 4;
}

/* The entry at claim is published. */
static bool next_ready(imi_clog_sink *s)
{
    uint64_t c = atomic_load_explicit(&s->claim, memory_order_relaxed);
    return c != atomic_load_explicit(&s->head, memory_order_relaxed) &&
           atomic_load_explicit(header(s, c), memory_order_relaxed) != 0;
}

void *imi_clog_ring_main(void *arg)
{
    imi_clog_sink *s = arg;
    bool stuck = false;
    for (;;) {
        if (atomic_load(&s->stopping) && atomic_load(&s->head) == atomic_load(&s->claim))
            break;
        if (stuck) {
            /* The next line is reserved but its caller is still copying it: that takes
             * well under a microsecond, unless the caller lost its core meanwhile. */
            int i = 0;
            while (i < STUCK_SPINS && !next_ready(s))
                i++;
            /* Then give the core away: to that caller, when it waits for one. */
            for (int y = 0; i == STUCK_SPINS && y < STUCK_YIELDS; y++) {
                sched_yield();
                if (next_ready(s))
                    i = 0;
            }
            if (i == STUCK_SPINS) {
                struct timespec ts = { 0, STUCK_WAIT_NS };
                nanosleep(&ts, NULL);
            }
        } else {
            pthread_mutex_lock(&s->mu);
            atomic_store(&s->sleeping, true);
            struct timespec dl;
            imi_clog_deadline_in(&dl, s->interval_ns);
            while (!due(s) && pthread_cond_timedwait(&s->wake, &s->mu, &dl) != ETIMEDOUT) {
            }
            atomic_store(&s->sleeping, false);
            pthread_mutex_unlock(&s->mu);
        }
        /* An exchange, not a store: when it takes a caller's true it also takes what that
         * caller published before setting it. */
        atomic_exchange(&s->urgent, false);
        size_t wrote = flush_ring(s);
        report_drops(s);
        if (atomic_load(&s->waiters) > 0) {
            pthread_mutex_lock(&s->mu);
            pthread_cond_broadcast(&s->room);
            pthread_mutex_unlock(&s->mu);
        }
        stuck = !wrote && atomic_load(&s->head) != atomic_load(&s->claim);
    }
    return NULL;
}

void imi_clog_ring_drain(imi_clog_sink *s)
{
    pthread_mutex_lock(&s->mu);
    atomic_fetch_add(&s->waiters, 1);
    struct timespec dl;
    imi_clog_deadline_in(&dl, DRAIN_WAIT_NS);
    while (atomic_load(&s->tail) != atomic_load(&s->head) || atomic_load(&s->dropped)) {
        atomic_store(&s->urgent, true);
        pthread_cond_signal(&s->wake);
        if (pthread_cond_timedwait(&s->room, &s->mu, &dl) == ETIMEDOUT)
            break;
    }
    atomic_fetch_sub(&s->waiters, 1);
    pthread_mutex_unlock(&s->mu);
}

void imi_clog_ring_stop(imi_clog_sink *s)
{
    if (s->ring)
        flush_ring(s); /* lines put in after the writer's last pass */
    report_drops(s);
    free(s->ring);
    s->ring = NULL;
}

void imi_clog_ring_fatal(imi_clog_sink *s)
{
    /* Async-signal-safe: atomics, writev(2). A batch the writer took is its own (when its
     * writev is in flight as the process dies, that batch may be cut). */
    struct iovec iov[BATCH_IOV];
    for (;;) {
        int cnt;
        size_t bytes;
        uint64_t from, end = take(s, iov, &cnt, &bytes, &from);
        if (from == end)
            return;
        imi_clog_writev_all(s->fd, iov, cnt);
    }
}
