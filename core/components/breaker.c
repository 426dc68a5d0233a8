/* The breaker state machine: closed -> open -> half-open -> closed, lock-free.
 *
 * One 64-bit word holds the state, the probes in flight and the probe successes of the
 * half-open state, and a generation that every transition bumps. A ticket remembers the
 * generation its call was admitted in, so that a result from an older state is dropped
 * instead of being counted against the new one. The failure ratio is kept in
 * BRK_BUCKETS time buckets, each one word: a 16-bit tag (which bucket period it counts),
 * 24-bit failures and 24-bit calls; a bucket whose counts would overflow is halved,
 * which keeps its ratio. */
#include <stdlib.h>
#include <string.h>
#include "breaker_internal.h"
#include "iminfra/error.h"
#include "iminfra/retry.h"
#include "metrics.h"
#include "uid_internal.h"

#define ST_MASK      0x3ull
#define PROBES_SHIFT 2
#define OKS_SHIFT    17
#define CNT_MASK     0x7fffull
#define GEN_SHIFT    32

static inline unsigned st_state(uint64_t w) { return (unsigned)(w & ST_MASK); }
static inline uint64_t st_probes(uint64_t w) { return (w >> PROBES_SHIFT) & CNT_MASK; }
static inline uint64_t st_oks(uint64_t w) { return (w >> OKS_SHIFT) & CNT_MASK; }
static inline uint32_t st_gen(uint64_t w) { return (uint32_t)(w >> GEN_SHIFT); }
static inline uint64_t st_make(uint32_t gen, unsigned state)
{
    return ((uint64_t)gen << GEN_SHIFT) | state;
}

#define B_TAG_SHIFT 48
#define B_FAIL_SHIFT 24
#define B_CNT_MAX 0xffffffull

const char *imi_breaker_state_name(imi_breaker_state st)
{
    switch (st) {
    case IMI_BREAKER_CLOSED: return "closed";
    case IMI_BREAKER_OPEN: return "open";
    case IMI_BREAKER_HALF_OPEN: return "half-open";
    }
    return "?";
}

/* ---- the window ---------------------------------------------------------------------- */

static void window_add(imi_breaker *b, const brk_policy *pol, bool fail)
{
    uint64_t idx = (uint64_t)imi_coarse_mono_ns() / (uint64_t)pol->bucket_ns;
    uint64_t tag = idx & 0xffff;
    _Atomic uint64_t *slot = &b->buckets[idx % BRK_BUCKETS];
    uint64_t v = atomic_load_explicit(slot, memory_order_relaxed), nv;
    /* The usual case is one add; a racing reset to a new period may take this call
     * along into that period, which is off by one call at a bucket edge. */
    if ((v >> B_TAG_SHIFT) == tag && (v & B_CNT_MAX) < B_CNT_MAX - 64 &&
        ((v >> B_FAIL_SHIFT) & B_CNT_MAX) < B_CNT_MAX - 64) {
        atomic_fetch_add_explicit(slot, 1 + ((uint64_t)fail << B_FAIL_SHIFT),
                                  memory_order_relaxed);
        return;
    }
    do {
        uint64_t calls = v & B_CNT_MAX, fails = (v >> B_FAIL_SHIFT) & B_CNT_MAX;
        if ((v >> B_TAG_SHIFT) != tag)
            calls = fails = 0;
        else if (calls == B_CNT_MAX)
            calls /= 2, fails /= 2;
        calls++;
        fails += fail;
        nv = (tag << B_TAG_SHIFT) | (fails << B_FAIL_SHIFT) | calls;
    } while (!atomic_compare_exchange_weak_explicit(slot, &v, nv, memory_order_relaxed,
                                                    memory_order_relaxed));
}

static void window_sum(const imi_breaker *b, const brk_policy *pol, uint64_t *calls,
                       uint64_t *fails)
{
    *calls = *fails = 0;
    if (!pol->bucket_ns)
        return;
    uint64_t idx = (uint64_t)imi_coarse_mono_ns() / (uint64_t)pol->bucket_ns;
    for (int i = 0; i < BRK_BUCKETS; i++) {
        uint64_t v = atomic_load_explicit(&b->buckets[i], memory_order_relaxed);
        if (((idx - (v >> B_TAG_SHIFT)) & 0xffff) >= BRK_BUCKETS)
            continue;
        *calls += v & B_CNT_MAX;
        *fails += (v >> B_FAIL_SHIFT) & B_CNT_MAX;
    }
}

static void window_clear(imi_breaker *b)
{
    for (int i = 0; i < BRK_BUCKETS; i++)
        atomic_store_explicit(&b->buckets[i], 0, memory_order_relaxed);
}

/* ---- transitions ------------------------------------------------------------------------ */

static void announce(imi_breaker *b, unsigned from, unsigned to, const char *why)
{
    imi_breaker_set *s = b->set;
    _Atomic uint64_t *counter = to == IMI_BREAKER_OPEN ? &b->opened
                                : to == IMI_BREAKER_HALF_OPEN ? &b->half_opened : &b->closed;
    atomic_fetch_add_explicit(counter, 1, memory_order_relaxed);
    imi_metrics_count_breaker((int)to);
    if (s->log) {
        imi_log_level lvl = to == IMI_BREAKER_OPEN ? IMI_LOG_WARN : IMI_LOG_INFO;
        IMI_LOG_FIELDS_(s->log, lvl, NULL, "breaker state change",
                        IMI_FSTR("breaker", b->name),
                        IMI_FSTR("from", imi_breaker_state_name((imi_breaker_state)from)),
                        IMI_FSTR("to", imi_breaker_state_name((imi_breaker_state)to)),
                        IMI_FSTR("why", why));
    }
    const brk_callback *cb = atomic_load_explicit(&s->cb, memory_order_acquire);
    if (cb && cb->fn)
        cb->fn(cb->ud, b->name, (imi_breaker_state)from, (imi_breaker_state)to);
}

/* Moves from the exact word `from` to state `to` in a new generation; false when another
 * thread changed the word first. */
static bool transition(imi_breaker *b, uint64_t from, unsigned to, const char *why)
{
    uint32_t gen = st_gen(from) + 1;
    if (to == IMI_BREAKER_OPEN)
        atomic_store_explicit(&b->opened_ns, imi_coarse_mono_ns(), memory_order_relaxed);
    uint64_t nw = st_make(gen, to);
    if (!atomic_compare_exchange_strong_explicit(&b->state, &from, nw, memory_order_acq_rel,
                                                 memory_order_relaxed))
        return false;
    if (to == IMI_BREAKER_OPEN)
        atomic_store_explicit(&b->opened_gen, gen, memory_order_release);
    if (to == IMI_BREAKER_CLOSED) {
        atomic_store_explicit(&b->consec, 0, memory_order_relaxed);
        window_clear(b);
    }
    announce(b, st_state(from), to, why);
    return true;
}

void imi_breaker_install(imi_breaker *b, brk_policy *pol)
{
    const brk_policy *old = atomic_load_explicit(&b->pol, memory_order_relaxed);
    if (old && !memcmp(&old->p, &pol->p, sizeof pol->p))
        return;
    atomic_store_explicit(&b->pol, pol, memory_order_release);
    if (!old)
        return;
    for (;;) {
        uint64_t w = atomic_load_explicit(&b->state, memory_order_acquire);
        if (st_state(w) == IMI_BREAKER_CLOSED || transition(b, w, IMI_BREAKER_CLOSED,
                                                             "policy changed"))
            break;
    }
    atomic_store(&b->consec, 0);
    window_clear(b);
}

/* ---- the call path ---------------------------------------------------------------------- */

int imi_breaker_enter(imi_breaker *b, imi_breaker_ticket *ticket)
{
    if (!b || !ticket)
        return imi_error_set(IMI_EINVALID, 0, "breaker enter: a breaker and a ticket are "
                             "required");
    uint64_t w = atomic_load_explicit(&b->state, memory_order_acquire);
    for (;;) {
        switch (st_state(w)) {
        case IMI_BREAKER_CLOSED:
            *ticket = (uint64_t)st_gen(w) << 1;
            return IMI_OK;
        case IMI_BREAKER_OPEN: {
            const brk_policy *pol = atomic_load_explicit(&b->pol, memory_order_acquire);
            bool known = atomic_load_explicit(&b->opened_gen, memory_order_acquire) == st_gen(w);
            int64_t since = imi_coarse_mono_ns() -
                            atomic_load_explicit(&b->opened_ns, memory_order_relaxed);
            if (!known || since < pol->open_ns) {
                atomic_fetch_add_explicit(&b->rejected, 1, memory_order_relaxed);
                return imi_error_set(IMI_EOPEN, 0, "breaker '%s' is open", b->name);
            }
            transition(b, w, IMI_BREAKER_HALF_OPEN, "open_for elapsed");
            w = atomic_load_explicit(&b->state, memory_order_acquire);
            continue;
        }
        default: { /* half-open: admit up to half_open_probes at a time */
            const brk_policy *pol = atomic_load_explicit(&b->pol, memory_order_acquire);
            if (st_probes(w) >= (uint64_t)pol->p.half_open_probes) {
                atomic_fetch_add_explicit(&b->rejected, 1, memory_order_relaxed);
                return imi_error_set(IMI_EOPEN, 0, "breaker '%s' is half-open and busy "
                                     "probing", b->name);
            }
            if (atomic_compare_exchange_weak_explicit(&b->state, &w,
                                                      w + (1ull << PROBES_SHIFT),
                                                      memory_order_acq_rel,
                                                      memory_order_acquire)) {
                *ticket = ((uint64_t)st_gen(w) << 1) | 1;
                return IMI_OK;
            }
        }
        }
    }
}

static void trip_check(imi_breaker *b, const brk_policy *pol, uint64_t w)
{
    int c = atomic_fetch_add_explicit(&b->consec, 1, memory_order_relaxed) + 1;
    if (pol->p.consecutive_failures && c >= pol->p.consecutive_failures) {
        transition(b, w, IMI_BREAKER_OPEN, "consecutive failures");
        return;
    }
    if (!pol->bucket_ns)
        return;
    uint64_t calls, fails;
    window_sum(b, pol, &calls, &fails);
    if (calls >= (uint64_t)pol->p.min_calls && calls &&
        (double)fails >= pol->p.failure_ratio * (double)calls)
        transition(b, w, IMI_BREAKER_OPEN, "failure ratio");
}

static void probe_done(imi_breaker *b, const brk_policy *pol, uint64_t w, uint32_t gen,
                       bool fail)
{
    for (;;) {
        if (st_gen(w) != gen || st_state(w) != IMI_BREAKER_HALF_OPEN)
            return;
        if (fail) {
            if (transition(b, w, IMI_BREAKER_OPEN, "a probe failed"))
                return;
        } else if (st_oks(w) + 1 >= (uint64_t)pol->p.half_open_successes) {
            if (transition(b, w, IMI_BREAKER_CLOSED, "probes succeeded"))
                return;
        } else {
            uint64_t nw = w - (1ull << PROBES_SHIFT) + (1ull << OKS_SHIFT);
            if (atomic_compare_exchange_weak_explicit(&b->state, &w, nw, memory_order_acq_rel,
                                                      memory_order_acquire))
                return;
            continue;
        }
        w = atomic_load_explicit(&b->state, memory_order_acquire);
    }
}

void imi_breaker_leave(imi_breaker *b, imi_breaker_ticket ticket, int rc)
{
    if (!b)
        return;
    const brk_policy *pol = atomic_load_explicit(&b->pol, memory_order_acquire);
    bool fail = rc < 0 && rc >= IMI_ERRNO_MIN_ && (pol->p.failure_on & IMI_CODE_BIT(rc));
    uint64_t w = atomic_load_explicit(&b->state, memory_order_acquire);
    uint32_t gen = (uint32_t)(ticket >> 1);
    if (ticket & 1) {
        probe_done(b, pol, w, gen, fail);
        return;
    }
    if (st_gen(w) != gen || st_state(w) != IMI_BREAKER_CLOSED)
        return;
    if (pol->bucket_ns)
        window_add(b, pol, fail);
    if (fail)
        trip_check(b, pol, w);
    else if (atomic_load_explicit(&b->consec, memory_order_relaxed))
        atomic_store_explicit(&b->consec, 0, memory_order_relaxed);
}

int imi_breaker_call(imi_breaker *b, const imi_ctx *ctx, imi_breaker_fn fn, void *ud)
{
    if (!fn)
        return imi_error_set(IMI_EINVALID, 0, "breaker call: no function");
    imi_breaker_ticket t;
    int rc = imi_breaker_enter(b, &t);
    if (rc)
        return rc;
    rc = fn(ud, ctx);
    imi_breaker_leave(b, t, rc);
    return rc;
}

imi_breaker_state imi_breaker_get_state(const imi_breaker *b)
{
    if (!b)
        return IMI_BREAKER_CLOSED;
    return (imi_breaker_state)st_state(atomic_load_explicit(&b->state, memory_order_acquire));
}

const char *imi_breaker_name(const imi_breaker *b) { return b ? b->name : ""; }

void imi_breaker_get_policy(const imi_breaker *b, imi_breaker_policy *out)
{
    if (!out)
        return;
    if (!b) {
        *out = imi_breaker_policy_default();
        return;
    }
    *out = atomic_load_explicit(&b->pol, memory_order_acquire)->p;
}

void imi_breaker_get_stats(const imi_breaker *b, imi_breaker_stats *out)
{
    if (!out)
        return;
    if (!b) {
        *out = (imi_breaker_stats){ 0 };
        return;
    }
    const brk_policy *pol = atomic_load_explicit(&b->pol, memory_order_acquire);
    *out = (imi_breaker_stats){
        .rejected = atomic_load(&b->rejected),
        .opened = atomic_load(&b->opened),
        .half_opened = atomic_load(&b->half_opened),
        .closed = atomic_load(&b->closed),
    };
    window_sum(b, pol, &out->window_calls, &out->window_failures);
}
