/* A per-thread xoshiro256** generator, seeded from getrandom(2) and reseeded after fork:
 * fast, for jitter and sampling only; four outputs reveal every later one, so nothing a
 * client sees comes from it (identifiers use imi_random_bytes, uid_secure.c). */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include "uid_internal.h"

static atomic_uint fork_gen = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void on_fork_child(void) { atomic_fetch_add(&fork_gen, 1); }
static void install_atfork(void) { pthread_atfork(NULL, NULL, on_fork_child); }

static _Thread_local struct { uint64_t s[4]; unsigned gen; } rng;

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static void seed(unsigned gen)
{
    pthread_once(&atfork_once, install_atfork);
    uint64_t s[4] = { 0 };
    size_t got = 0;
    while (got < sizeof s) {
        ssize_t n = getrandom((char *)s + got, sizeof s - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got < sizeof s) { /* no getrandom: mix what differs between threads and processes */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        s[0] ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15u;
        s[1] ^= (uint64_t)(uintptr_t)&rng;
        s[2] ^= (uint64_t)ts.tv_sec;
    }
    if (!(s[0] | s[1] | s[2] | s[3]))
        s[0] = 1;
    memcpy(rng.s, s, sizeof s);
    rng.gen = gen;
}

uint64_t imi_rand64(void)
{
    unsigned gen = atomic_load_explicit(&fork_gen, memory_order_relaxed);
    if (rng.gen != gen)
        seed(gen);
    uint64_t *s = rng.s;
    uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

unsigned imi_fork_generation(void)
{
    pthread_once(&atfork_once, install_atfork);
    return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

int64_t imi_coarse_tick_ns(void)
{
    static atomic_llong tick;
    long long t = atomic_load_explicit(&tick, memory_order_relaxed);
    if (!t) {
        struct timespec ts;
        t = clock_getres(CLOCK_MONOTONIC_COARSE, &ts) ? 10000000
                                                      : (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
        if (t <= 0)
            t = 10000000;
        atomic_store_explicit(&tick, t, memory_order_relaxed);
    }
    return t;
}
