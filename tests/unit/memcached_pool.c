/* The memcached driver's handle pool (drivers/cache/memcached/pool.c), compiled in with a
 * stand-in host: no server is needed, since handles connect only when a call talks.
 *  - a thread gets back the handle it released last, call after call, while other
 *    threads take and give back theirs (each talks over one connection of its own);
 *  - a handle parked by a thread serves another thread whose slot is empty: when the pool
 *    has no free one, and rather than a new connection;
 *  - a caller waiting in the pool gets the handle released while it waits, whichever
 *    comes first, the release or the wait;
 *  - a caller that finds no free handle waits until its deadline, no less;
 *  - the deadline, pool_size and the handles themselves survive a storm of threads: no
 *    handle is lost and never more than pool_size are out. */
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif
#include "../../drivers/cache/memcached/pool.c"

/* ---- a stand-in host ------------------------------------------------------------------ */

static _Thread_local char last_error[256];
static _Atomic int64_t deadline_for_ctx; /* the deadline of every non-NULL ctx */

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int64_t ctx_deadline(const imi_ctx *ctx) { return ctx ? deadline_for_ctx : 0; }

static int record_error(int code, long native, const char *fmt, ...)
{
    (void)native;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return code;
}

int mc_error(mc *m, memcached_st *h, memcached_return_t r, const char *what)
{
    (void)h;
    return m->host->error(IMI_EDRIVER, r, "memcached: %s: %s", what, memcached_strerror(NULL, r));
}

static const imi_host_api host = {
    .size = sizeof host,
    .error = record_error,
    .mono_ns = mono,
    .real_ns = mono,
    .ctx_deadline_ns = ctx_deadline,
};
static const imi_driver_env env = { .size = sizeof env, .host = &host,
                                    .default_timeout_ms = 10000 };
/* any non-NULL pointer: the stand-in reads deadline_for_ctx instead */
static const imi_ctx *const with_deadline = (const imi_ctx *)&env;

static mc *pool_open(uint32_t size)
{
    mc *m = calloc(1, sizeof *m);
    cr_assert(m);
    *m = (mc){ .env = &env, .host = &host, .master = memcached_create(NULL),
               .connect_timeout_ms = 1000 };
    cr_assert(m->master);
    cr_assert_eq(mc_pool_open(m, size), IMI_OK, "%s", last_error);
    return m;
}

static void pool_close(mc *m)
{
    mc_pool_close(m);
    memcached_free(m->master);
    free(m);
}

static memcached_st *take(mc *m, mc_lease *l)
{
    cr_assert_eq(mc_acquire(m, NULL, l), IMI_OK, "%s", last_error);
    cr_assert(l->h);
    return l->h;
}

/* ---- each thread keeps its handle ------------------------------------------------------ */

#define KEEP_THREADS 4
#define KEEP_ROUNDS 200

typedef struct keeper {
    mc *m;
    pthread_barrier_t *all;
    memcached_st *first;
    int changes;          /* rounds in which the thread got another handle than its first */
} keeper;

static void *keep(void *arg)
{
    keeper *k = arg;
    for (int r = 0; r < KEEP_ROUNDS; r++) {
        mc_lease l;
        memcached_st *h = take(k->m, &l);
        if (!r)
            k->first = h;
        else if (h != k->first)
            k->changes++;
        pthread_barrier_wait(k->all); /* every thread holds one: they all release at once */
        mc_release(k->m, &l);
        pthread_barrier_wait(k->all);
    }
    return NULL;
}

Test(memcached_pool, a_thread_keeps_its_handle)
{
    mc *m = pool_open(KEEP_THREADS);
    pthread_barrier_t all;
    pthread_barrier_init(&all, NULL, KEEP_THREADS);
    keeper k[KEEP_THREADS];
    pthread_t th[KEEP_THREADS];
    for (int i = 0; i < KEEP_THREADS; i++) {
        k[i] = (keeper){ .m = m, .all = &all };
        pthread_create(&th[i], NULL, keep, &k[i]);
    }
    for (int i = 0; i < KEEP_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < KEEP_THREADS; i++) {
        cr_expect_eq(k[i].changes, 0, "thread %d got another thread's handle in %d of %d "
                     "rounds", i, k[i].changes, KEEP_ROUNDS - 1);
        for (int j = 0; j < i; j++)
            cr_expect_neq(k[i].first, k[j].first, "threads %d and %d share a handle", i, j);
    }
    pthread_barrier_destroy(&all);
    pool_close(m);
}

/* ---- a parked handle serves another thread --------------------------------------------- */

typedef struct caller {
    mc *m;
    int rc;
    memcached_st *got;
    bool keep;            /* hold the handle (do not release it) */
    mc_lease l;
    char why[256];        /* the error recorded on the caller's thread */
    int64_t done_ns;      /* when mc_acquire returned */
} caller;

static void *call(void *arg)
{
    caller *c = arg;
    c->rc = mc_acquire(c->m, with_deadline, &c->l);
    c->done_ns = mono();
    c->got = c->l.h;
    memcpy(c->why, last_error, sizeof c->why);
    if (!c->keep)
        mc_release(c->m, &c->l);
    return NULL;
}

static caller run(mc *m, bool keep)
{
    caller c = { .m = m, .keep = keep };
    pthread_t th;
    pthread_create(&th, NULL, call, &c);
    pthread_join(th, NULL);
    return c;
}

Test(memcached_pool, a_parked_handle_serves_another_thread)
{
    mc *m = pool_open(2);
    deadline_for_ctx = mono() + 5000000000LL;
    mc_lease mine;
    memcached_st *a = take(m, &mine);        /* this thread's slot stays empty */
    caller x = run(m, false);                /* the pool's second handle, parked by x */
    cr_assert_eq(x.rc, IMI_OK, "%s", x.why);
    cr_assert_neq(x.got, a);
    /* y numbers after x: with two slots it parks where this thread does, which is empty;
     * the pool has no free handle, so y must find the one x parked rather than wait */
    caller y = run(m, false);
    cr_expect_eq(y.rc, IMI_OK, "a call waited while a handle was parked");
    cr_expect_eq(y.got, x.got);
    mc_release(m, &mine);
    pool_close(m);
}

Test(memcached_pool, threads_one_after_another_share_one_handle)
{
    /* each new thread parks in a slot of its own: it takes the idle handle its
     * predecessor parked rather than open another connection */
    mc *m = pool_open(4);
    deadline_for_ctx = mono() + 5000000000LL;
    caller first = run(m, false);
    cr_assert_eq(first.rc, IMI_OK, "%s", first.why);
    for (int i = 0; i < 10; i++) {
        caller next = run(m, false);
        cr_assert_eq(next.rc, IMI_OK, "%s", next.why);
        cr_expect_eq(next.got, first.got, "thread %d got another handle while one was idle", i);
    }
    pool_close(m);
}

/* ---- a waiter gets the handle released -------------------------------------------------- */

Test(memcached_pool, a_waiter_gets_the_handle_released)
{
    mc *m = pool_open(2);
    for (int i = 0; i < 40; i++) {
        mc_lease l1, l2;
        take(m, &l1);
        memcached_st *b = take(m, &l2);      /* both out: the next caller waits */
        deadline_for_ctx = mono() + 10000000000LL;
        caller w = { .m = m, .keep = true };
        pthread_t th;
        pthread_create(&th, NULL, call, &w);
        /* release before, while or after the waiter counts itself in */
        struct timespec pause = { .tv_nsec = (i % 4) * 500000L };
        nanosleep(&pause, NULL);
        mc_release(m, &l2);
        pthread_join(th, NULL);
        cr_assert_eq(w.rc, IMI_OK, "round %d: the waiter got no handle: %s", i, w.why);
        cr_assert_eq(w.got, b, "round %d: the waiter got a handle still out", i);
        mc_release(m, &w.l);
        mc_release(m, &l1);
    }
    pool_close(m);
}

Test(memcached_pool, no_free_handle_before_the_deadline)
{
    mc *m = pool_open(1);
    mc_lease l;
    take(m, &l);
    caller w;
    for (int i = 0; i < 4; i++) {
        /* the wait lasts until the deadline, not until a whole second of the wall clock
         * (libmemcachedutil's own wait gave up after 0 to 175 ms of 300) */
        deadline_for_ctx = mono() + 120000000; /* 120 ms */
        w = run(m, false);
        cr_expect_eq(w.rc, IMI_ETIMEDOUT);
        cr_expect_null(w.got);
        cr_expect(strstr(w.why, "pool_size"), "the error does not name pool_size: %s", w.why);
        cr_expect_geq(w.done_ns, deadline_for_ctx, "gave up %.1f ms before the deadline",
                      (double)(deadline_for_ctx - w.done_ns) / 1e6);
    }
    deadline_for_ctx = mono() - 1; /* already passed: no wait at all */
    w = run(m, false);
    cr_expect_eq(w.rc, IMI_ETIMEDOUT);
    mc_release(m, &l);
    deadline_for_ctx = mono() + 5000000000LL;
    w = run(m, false);
    cr_expect_eq(w.rc, IMI_OK, "the handle released is free again");
    pool_close(m);
}

/* ---- many threads, few handles ------------------------------------------------------- */

#define STORM_THREADS 12
#define STORM_CALLS 3000

typedef struct stormer {
    mc *m;
    atomic_int *out;      /* handles out at once */
    int failures, over;
} stormer;

static void *storm(void *arg)
{
    stormer *s = arg;
    for (int i = 0; i < STORM_CALLS; i++) {
        mc_lease l;
        if (mc_acquire(s->m, NULL, &l)) {
            s->failures++;
            continue;
        }
        if (atomic_fetch_add(s->out, 1) + 1 > 3)
            s->over++;
        if (i % 64 == 0)
            sched_yield(); /* hold it a while now and then, so that others wait */
        atomic_fetch_sub(s->out, 1);
        mc_release(s->m, &l);
    }
    return NULL;
}

Test(memcached_pool, many_threads_lose_no_handle)
{
    mc *m = pool_open(3);
    atomic_int out = 0;
    stormer s[STORM_THREADS];
    pthread_t th[STORM_THREADS];
    for (int i = 0; i < STORM_THREADS; i++) {
        s[i] = (stormer){ .m = m, .out = &out };
        pthread_create(&th[i], NULL, storm, &s[i]);
    }
    for (int i = 0; i < STORM_THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < STORM_THREADS; i++) {
        cr_expect_eq(s[i].failures, 0, "thread %d: %d calls got no handle", i, s[i].failures);
        cr_expect_eq(s[i].over, 0, "thread %d saw more than pool_size handles out", i);
    }
    /* all three handles are still there, and a fourth is not */
    mc_lease l[3];
    for (int i = 0; i < 3; i++)
        take(m, &l[i]);
    cr_expect(l[0].h != l[1].h && l[1].h != l[2].h && l[0].h != l[2].h);
    deadline_for_ctx = mono() + 20000000; /* 20 ms */
    caller w = run(m, false);
    cr_expect_eq(w.rc, IMI_ETIMEDOUT, "a fourth handle out of a pool of 3");
    for (int i = 0; i < 3; i++)
        mc_release(m, &l[i]);
    pool_close(m);
#if defined(__SANITIZE_ADDRESS__)
    /* every handle went back to the pool, parked ones too (LeakSanitizer's report at exit
     * would not fail the test) */
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "close leaked handles (see above)");
#endif
}
