/* The snowflake generator: one atomic word (ms since epoch << 12 | sequence) taken with
 * compare-and-swap, a worker id that a source holds, and the thread that keeps it. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/error.h"
#include "iminfra/uid.h"
#include "uid_internal.h"

#define SEQ_MASK ((1 << IMI_UID_SEQ_BITS) - 1)
#define MAX_MS ((1LL << IMI_UID_TIME_BITS) - 1)

struct imi_uid {
    _Atomic uint64_t last;          /* ms since epoch << SEQ_BITS | last sequence used */
    atomic_int worker;              /* -1: none held */
    _Atomic int64_t valid_until;    /* coarse monotonic ns; INT64_MAX: always */
    unsigned fork_gen;
    imi_uid_options o;
    imi_uid_clock clock;
    int64_t (*coarse_ms)(void *ud);  /* a cheap clock that may lag now_ms by a few ms */
    int64_t coarse_lag_ms;
    /* the keeper of a source's worker id */
    imi_uid_source src;
    bool src_held, thread_started, stop, lost;  /* src_held: keeper's own */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    void (*cleanup)(void *);
    void *cleanup_ud;
};

void imi_uid_set_cleanup(imi_uid *u, void (*fn)(void *), void *ud)
{
    u->cleanup = fn;
    u->cleanup_ud = ud;
}

/* ---- the real clock ----------------------------------------------------------------------- */

static int64_t real_now_ms(void *ud)
{
    (void)ud;
    return imi_now_real_ns() / 1000000;
}

static void real_wait_until(void *ud, int64_t unix_ms)
{
    (void)ud;
    for (;;) {
        int64_t left_ns = unix_ms * 1000000 - imi_now_real_ns();
        if (left_ns <= 0)
            return;
        if (left_ns > 2000000) { /* sleep, leaving the last ms to the spin below */
            struct timespec ts = { .tv_sec = (left_ns - 1000000) / 1000000000,
                                   .tv_nsec = (left_ns - 1000000) % 1000000000 };
            nanosleep(&ts, NULL);
        }
    }
}

static int64_t real_coarse_ms(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

imi_uid_options imi_uid_options_default(void)
{
    return (imi_uid_options){ .epoch_ms = IMI_UID_DEFAULT_EPOCH_MS, .max_clock_back_ms = 1000 };
}

/* ---- issuing ------------------------------------------------------------------------------ */

int imi_uid_next(imi_uid *u, int64_t *id)
{
    if (!u || !id)
        return imi_error_set(IMI_EINVALID, 0, "uid: a generator and an output are required");
    int w = atomic_load_explicit(&u->worker, memory_order_acquire);
    if (w < 0)
        return imi_error_set(IMI_EUNAVAILABLE, 0, "uid: no worker id is held now");
    int64_t valid = atomic_load_explicit(&u->valid_until, memory_order_acquire);
    if (valid != INT64_MAX && imi_coarse_mono_ns() >= valid)
        return imi_error_set(IMI_EUNAVAILABLE, 0, "uid: worker id %d not confirmed in time", w);
    if (imi_fork_generation() != u->fork_gen)
        return imi_error_set(IMI_EUNAVAILABLE, 0, "uid: generator inherited through fork; "
                             "open one in this process");
    /* The coarse clock (a few ns) serves while it shows a new ms, or while the last ms
     * still has sequence left and the coarse clock is no further behind it than its lag:
     * the last ms came from a clock read, so it is not ahead of the real time. The
     * precise clock is read once the sequence is used up or the coarse clock is too far
     * behind, and it alone decides about a clock stepping back. */
    uint64_t cur = atomic_load_explicit(&u->last, memory_order_relaxed), nv;
    for (;;) {
        int64_t last_ms = (int64_t)(cur >> IMI_UID_SEQ_BITS);
        int64_t now = u->coarse_ms(u->clock.ud) - u->o.epoch_ms;
        bool full = (cur & SEQ_MASK) == SEQ_MASK;
        if (now > last_ms && now <= MAX_MS) {
            nv = (uint64_t)now << IMI_UID_SEQ_BITS;
        } else if (!full && now >= 0 && last_ms - now <= u->coarse_lag_ms) {
            nv = cur + 1;
        } else {
            now = u->clock.now_ms(u->clock.ud) - u->o.epoch_ms;
            if (now < 0 || now > MAX_MS)
                return imi_error_set(IMI_EUNAVAILABLE, 0, "uid: the clock is outside the "
                                     "41-bit range of the epoch");
            if (now < last_ms) {
                if (last_ms - now > u->o.max_clock_back_ms)
                    return imi_error_set(IMI_EUNAVAILABLE, 0, "uid: the clock stepped back "
                                         "%lld ms, more than max_clock_back (%lld ms)",
                                         (long long)(last_ms - now),
                                         (long long)u->o.max_clock_back_ms);
                u->clock.wait_until_ms(u->clock.ud, last_ms + u->o.epoch_ms);
                cur = atomic_load_explicit(&u->last, memory_order_relaxed);
                continue;
            }
            if (now == last_ms && full) {
                u->clock.wait_until_ms(u->clock.ud, last_ms + 1 + u->o.epoch_ms);
                cur = atomic_load_explicit(&u->last, memory_order_relaxed);
                continue;
            }
            nv = now > last_ms ? (uint64_t)now << IMI_UID_SEQ_BITS : cur + 1;
        }
        if (atomic_compare_exchange_weak_explicit(&u->last, &cur, nv, memory_order_relaxed,
                                                  memory_order_relaxed))
            break;
    }
    *id = (int64_t)(((nv >> IMI_UID_SEQ_BITS) << (IMI_UID_WORKER_BITS + IMI_UID_SEQ_BITS)) |
                    ((uint64_t)w << IMI_UID_SEQ_BITS) | (nv & SEQ_MASK));
    return IMI_OK;
}

int imi_uid_worker(const imi_uid *u)
{
    if (!u)
        return -1;
    return atomic_load_explicit(&((imi_uid *)u)->worker, memory_order_acquire);
}

int64_t imi_uid_epoch(const imi_uid *u) { return u ? u->o.epoch_ms : 0; }

int imi_uid_parse_epoch(int64_t epoch_ms, int64_t id, imi_uid_parts *out)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "uid parse: no output");
    if (id < 0)
        return imi_error_set(IMI_EINVALID, 0, "uid: %lld is not a snowflake id", (long long)id);
    out->unix_ms = (id >> (IMI_UID_WORKER_BITS + IMI_UID_SEQ_BITS)) + epoch_ms;
    out->worker = (int)((id >> IMI_UID_SEQ_BITS) & IMI_UID_MAX_WORKER);
    out->sequence = (int)(id & SEQ_MASK);
    return IMI_OK;
}

int imi_uid_parse(const imi_uid *u, int64_t id, imi_uid_parts *out)
{
    if (!u)
        return imi_error_set(IMI_EINVALID, 0, "uid parse: no generator");
    return imi_uid_parse_epoch(u->o.epoch_ms, id, out);
}

/* ---- making one --------------------------------------------------------------------------- */

static int make(const imi_uid_options *o, imi_uid **out)
{
    imi_uid_options opt = o ? *o : imi_uid_options_default();
    if (opt.max_clock_back_ms < 0 || opt.epoch_ms < 0 ||
        opt.max_clock_back_ms > IMI_DURATION_MAX_MS || opt.epoch_ms > 253402300799999LL)
        return imi_error_set(IMI_EINVALID, 0, "uid: epoch must be from 0 to 253402300799999 "
                             "(unix ms, year 9999) and max_clock_back from 0 to %lld ms",
                             (long long)IMI_DURATION_MAX_MS);
    imi_uid *u = calloc(1, sizeof *u);
    if (!u)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    u->o = opt;
    u->clock = opt.clock ? *opt.clock : (imi_uid_clock){ real_now_ms, real_wait_until, NULL };
    u->o.clock = NULL;
    if (opt.clock) {  /* a clock of the caller's is its own coarse clock */
        u->coarse_ms = u->clock.now_ms;
        u->coarse_lag_ms = 0;
    } else {
        u->coarse_ms = real_coarse_ms;
        u->coarse_lag_ms = 2 * imi_coarse_tick_ns() / 1000000 + 1;
    }
    atomic_init(&u->worker, -1);
    atomic_init(&u->valid_until, INT64_MAX);
    u->fork_gen = imi_fork_generation();
    pthread_mutex_init(&u->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&u->cond, &ca);
    pthread_condattr_destroy(&ca);
    *out = u;
    return IMI_OK;
}

int imi_uid_new(const imi_uid_options *o, int worker, imi_uid **out)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "imi_uid_new: out is required");
    *out = NULL;
    if (worker < 0 || worker > IMI_UID_MAX_WORKER)
        return imi_error_set(IMI_EINVALID, 0, "uid: worker id %d is outside [0, %d]", worker,
                             IMI_UID_MAX_WORKER);
    int rc = make(o, out);
    if (!rc)
        atomic_store(&(*out)->worker, worker);
    return rc;
}

/* ---- the keeper of a source's id ---------------------------------------------------------- */

static int take(imi_uid *u)
{
    int w = -1;
    int64_t t0 = imi_coarse_mono_ns();
    int rc = u->src.acquire(u->src.ud, &w);
    if (rc)
        return rc;
    if (w < 0 || w > IMI_UID_MAX_WORKER) {
        u->src.release(u->src.ud);
        return imi_error_set(IMI_EINVALID, 0, "uid: the source gave worker id %d", w);
    }
    u->src_held = true;
    atomic_store(&u->valid_until, t0 + imi_ms_to_ns_sat(u->src.valid_for_ms));
    atomic_store(&u->worker, w);
    return IMI_OK;
}

static void wait_locked(imi_uid *u, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t ns = ts.tv_nsec + (ms % 1000) * 1000000;
    ts.tv_sec += ms / 1000 + ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    while (!u->stop && !u->lost &&
           pthread_cond_timedwait(&u->cond, &u->mu, &ts) != ETIMEDOUT)
        ;
}

static void *keeper(void *arg)
{
    imi_uid *u = arg;
    pthread_mutex_lock(&u->mu);
    while (!u->stop) {
        bool lost = u->lost;
        u->lost = false;
        pthread_mutex_unlock(&u->mu);
        int rc;
        if (lost || atomic_load(&u->worker) < 0) {
            atomic_store(&u->worker, -1);
            if (u->src_held)
                u->src.release(u->src.ud);
            u->src_held = false;
            rc = take(u);
        } else {
            int64_t t0 = imi_coarse_mono_ns();
            rc = u->src.check(u->src.ud);
            if (rc == IMI_OK)
                atomic_store(&u->valid_until, t0 + imi_ms_to_ns_sat(u->src.valid_for_ms));
            else if (rc == IMI_ECONFLICT)
                imi_uid_worker_lost(u);
        }
        pthread_mutex_lock(&u->mu);
        int64_t every = u->src.check_every_ms;
        if (atomic_load(&u->worker) < 0 && rc)
            every = every < 1000 ? every : 1000;  /* retry a failed take sooner */
        wait_locked(u, every);
    }
    pthread_mutex_unlock(&u->mu);
    return NULL;
}

void imi_uid_worker_lost(imi_uid *u)
{
    if (!u)
        return;
    atomic_store(&u->worker, -1);
    pthread_mutex_lock(&u->mu);
    u->lost = true;
    pthread_cond_broadcast(&u->cond);
    pthread_mutex_unlock(&u->mu);
}

int imi_uid_new_with_source(const imi_uid_options *o, const imi_uid_source *src,
                            imi_uid **out)
{
    if (!out || !src || !src->acquire || !src->check || !src->release ||
        src->check_every_ms <= 0 || src->valid_for_ms <= 0)
        return imi_error_set(IMI_EINVALID, 0, "imi_uid_new_with_source: a complete source "
                             "and out are required");
    *out = NULL;
    imi_uid *u = NULL;
    int rc = make(o, &u);
    if (rc)
        return rc;
    u->src = *src;
    if ((rc = take(u))) {
        imi_uid_free(u);
        return rc;
    }
    if (pthread_create(&u->thread, NULL, keeper, u)) {
        imi_uid_free(u);
        return imi_error_set(IMI_EINTERNAL, errno, "uid: cannot start its thread");
    }
    u->thread_started = true;
    *out = u;
    return IMI_OK;
}

void imi_uid_free(imi_uid *u)
{
    if (!u)
        return;
    /* A forked child has no keeper thread to join, and the worker id is the parent's:
     * giving it back would let another process issue the parent's ids. The mutex and
     * cond are not destroyed: the keeper may have held them at the fork. The cleanup
     * frees the source's memory, and forgets an inherited coord handle. */
    if (imi_fork_generation() != u->fork_gen) {
        if (u->cleanup)
            u->cleanup(u->cleanup_ud);
        free(u);
        return;
    }
    if (u->thread_started) {
        pthread_mutex_lock(&u->mu);
        u->stop = true;
        pthread_cond_broadcast(&u->cond);
        pthread_mutex_unlock(&u->mu);
        pthread_join(u->thread, NULL);
    }
    if (u->src_held)
        u->src.release(u->src.ud);
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cond);
    if (u->cleanup)
        u->cleanup(u->cleanup_ud);
    free(u);
}
