/* The memcached driver's handle pool: libmemcachedutil's pool (its size limit, its wait
 * for a free handle, its growth by cloning) behind one parking slot per thread.
 *
 * A handle released goes into the releasing thread's slot and is taken back from there by
 * the same thread's next call with one atomic exchange: no mutex, and a thread keeps
 * talking over one connection, as it would with a handle of its own. Threads are numbered
 * as they first call; thread t parks in slot t % n_parked, so up to n_parked threads each
 * have a slot to themselves. A thread whose slot is empty takes a handle parked by
 * another thread (so that a thread that is gone leaves its handle to the next one, and no
 * connection is opened while one is idle), else a free handle of the pool (which grows up
 * to pool_size), and only then waits until its deadline for a handle to be released.
 *
 * Parked handles count as in use for the pool, so a caller about to wait must see them:
 * it raises waiters before it scans the slots, and a release parks only while no caller
 * waits, and checks waiters again after parking (both sequentially consistent): either
 * the scan sees the parked handle, or the release sees the waiter, hands its handle to
 * the pool and wakes the waiters. */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>
#include <time.h>
#include "mc.h"

/* Enough slots for the threads of one process to rarely share one; each on its own cache
 * line, so that threads parking side by side do not pass one line between cores. */
#define MC_PARKED_MAX 64

struct mc_parked {
    alignas(64) _Atomic(memcached_st *) h;
};

static atomic_uint mc_threads;              /* threads numbered so far */
static _Thread_local unsigned mc_thread_no; /* this thread's number + 1; 0: none yet */

static unsigned thread_no(void)
{
    if (!mc_thread_no)
        mc_thread_no = atomic_fetch_add_explicit(&mc_threads, 1, memory_order_relaxed) + 1;
    return mc_thread_no - 1;
}

int mc_pool_open(mc *m, uint32_t size)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the host's mono_ns deadlines */
    int e = pthread_cond_init(&m->wait_cv, &ca);
    pthread_condattr_destroy(&ca);
    if (e || pthread_mutex_init(&m->wait_mu, NULL)) {
        if (!e)
            pthread_cond_destroy(&m->wait_cv);
        return m->host->error(IMI_ENOMEM, e, "memcached: cannot set up the handle pool's wait");
    }
    m->wait_ready = true;
    m->n_parked = size < MC_PARKED_MAX ? size : MC_PARKED_MAX;
    m->parked = aligned_alloc(alignof(struct mc_parked), m->n_parked * sizeof *m->parked);
    if (!m->parked)
        return m->host->error(IMI_ENOMEM, 0, "memcached: no memory for the handle pool");
    for (size_t i = 0; i < m->n_parked; i++)
        atomic_init(&m->parked[i].h, NULL);
    m->pool = memcached_pool_create(m->master, 1, size);
    if (!m->pool)
        return m->host->error(IMI_ENOMEM, 0, "memcached: cannot create the handle pool");
    return IMI_OK;
}

void mc_pool_close(mc *m)
{
    for (size_t i = 0; m->parked && i < m->n_parked; i++) {
        memcached_st *h = atomic_exchange(&m->parked[i].h, NULL);
        if (h)
            memcached_pool_release(m->pool, h); /* destroy frees what the pool holds */
    }
    free(m->parked);
    m->parked = NULL;
    if (m->pool)
        memcached_pool_destroy(m->pool);
    m->pool = NULL;
    if (m->wait_ready) {
        pthread_cond_destroy(&m->wait_cv);
        pthread_mutex_destroy(&m->wait_mu);
    }
    m->wait_ready = false;
}

/* Bounds every socket wait of this call by what is left of its deadline (libmemcached
 * keeps them as int32 ms: a far deadline is cut there rather than wrapped negative). The
 * handle's struct shows what it has: calls with the default timeout set nothing. */
static void set_timeouts(mc *m, memcached_st *h, int64_t left)
{
    int64_t ms = (left + 999999) / 1000000;
    int32_t poll = ms < INT32_MAX ? (int32_t)ms : INT32_MAX;
    int32_t conn = m->connect_timeout_ms < poll ? (int32_t)m->connect_timeout_ms : poll;
    if (h->poll_timeout != poll)
        memcached_behavior_set(h, MEMCACHED_BEHAVIOR_POLL_TIMEOUT, (uint64_t)poll);
    if (h->connect_timeout != conn)
        memcached_behavior_set(h, MEMCACHED_BEHAVIOR_CONNECT_TIMEOUT, (uint64_t)conn);
}

/* A handle parked in another slot than the caller's, taken from it (NULL: none). */
static memcached_st *take_parked(mc *m, size_t mine)
{
    for (size_t i = 1; i <= m->n_parked; i++) {
        _Atomic(memcached_st *) *slot = &m->parked[(mine + i) % m->n_parked].h;
        memcached_st *h = atomic_load(slot) ? atomic_exchange(slot, NULL) : NULL;
        if (h)
            return h;
    }
    return NULL;
}

/* A handle parked or free in the pool (or a new one while the pool is below pool_size);
 * NULL with *r MEMCACHED_NOTFOUND when all are out. */
static memcached_st *try_take(mc *m, size_t mine, memcached_return_t *r)
{
    memcached_st *h = take_parked(m, mine);
    return h ? h : memcached_pool_fetch(m->pool, NULL, r); /* NULL: do not wait */
}

/* No handle in the caller's slot: one parked by another thread (an idle one, or one
 * left by a thread that is gone), else a free one of the pool or a new one while the pool
 * is below pool_size, else a wait until the deadline. The wait is this driver's own:
 * libmemcachedutil's ends at time(NULL) + the time given, whole seconds of the wall
 * clock, so up to a second before the deadline (a caller given 300 ms gave up after 0
 * to 175 ms). */
static memcached_st *fetch(mc *m, size_t mine, int64_t deadline_ns, memcached_return_t *r)
{
    memcached_st *h = try_take(m, mine, r);
    if (h || *r != MEMCACHED_NOTFOUND)
        return h;
    struct timespec until = { .tv_sec = deadline_ns / 1000000000,
                              .tv_nsec = deadline_ns % 1000000000 };
    pthread_mutex_lock(&m->wait_mu);
    atomic_fetch_add(&m->waiters, 1);
    /* a release that missed this count parked its handle or gave it to the pool before:
     * try_take finds it; one that sees the count signals under wait_mu, so not before
     * this caller waits */
    while (!(h = try_take(m, mine, r)) && *r == MEMCACHED_NOTFOUND) {
        if (pthread_cond_timedwait(&m->wait_cv, &m->wait_mu, &until) == ETIMEDOUT) {
            if (!(h = try_take(m, mine, r)) && *r == MEMCACHED_NOTFOUND)
                *r = MEMCACHED_TIMEOUT;
            break;
        }
    }
    atomic_fetch_sub(&m->waiters, 1);
    pthread_mutex_unlock(&m->wait_mu);
    return h;
}

int mc_acquire(mc *m, const imi_ctx *ctx, mc_lease *l)
{
    int64_t now = m->host->mono_ns();
    int64_t deadline = ctx ? m->host->ctx_deadline_ns(ctx) : 0;
    if (!deadline)
        deadline = now + m->env->default_timeout_ms * 1000000;
    int64_t left = deadline - now;
    l->deadline_ns = deadline;
    l->slot = thread_no() % m->n_parked;
    if (left <= 0) {
        l->h = NULL;
        return m->host->error(IMI_ETIMEDOUT, 0, "memcached: deadline exceeded");
    }
    l->h = atomic_exchange(&m->parked[l->slot].h, NULL);
    if (!l->h) {
        memcached_return_t r = MEMCACHED_SUCCESS;
        if (!(l->h = fetch(m, l->slot, deadline, &r)))
            return r == MEMCACHED_TIMEOUT
                       ? m->host->error(IMI_ETIMEDOUT, 0, "memcached: no free handle before "
                                        "the deadline (pool_size)")
                   : r == MEMCACHED_SUCCESS /* the pool could not clone a new handle */
                       ? m->host->error(IMI_ENOMEM, 0, "memcached: cannot create a client "
                                        "handle for the pool")
                       : mc_error(m, NULL, r, "pool");
        if ((left = deadline - m->host->mono_ns()) <= 0) { /* it came as the time ran out */
            mc_release(m, l);
            return m->host->error(IMI_ETIMEDOUT, 0, "memcached: no free handle before the "
                                  "deadline (pool_size)");
        }
    }
    set_timeouts(m, l->h, left);
    return IMI_OK;
}

void mc_release(mc *m, mc_lease *l)
{
    memcached_st *h = l->h;
    l->h = NULL;
    if (!h)
        return;
    _Atomic(memcached_st *) *slot = &m->parked[l->slot].h;
    memcached_st *none = NULL;
    /* parked only while nobody waits; a caller that started waiting meanwhile scans the
     * slots or is handed the handle through the pool (see the top of this file) */
    if (atomic_load(&m->waiters) == 0 && atomic_compare_exchange_strong(slot, &none, h)) {
        if (atomic_load(&m->waiters) == 0)
            return;
        h = atomic_exchange(slot, NULL);
        if (!h)
            return; /* a waiter took it */
    }
    memcached_pool_release(m->pool, h);
    if (atomic_load(&m->waiters) > 0) {
        pthread_mutex_lock(&m->wait_mu);
        pthread_cond_signal(&m->wait_cv);
        pthread_mutex_unlock(&m->wait_mu);
    }
}
