/* Shared by uid, retry and ratelimit inside the core: a fast random source and clocks. */
#ifndef IMI_CORE_UID_INTERNAL_H
#define IMI_CORE_UID_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Uniform 64-bit values from a per-thread xoshiro256** seeded from getrandom(2), reseeded
 * in a child after fork so that parent and child never share a sequence. Not for keys. */
uint64_t imi_rand64(void);

/* n bytes from a CSPRNG (getrandom in per-thread batches; see uid_secure.c): for UUIDs,
 * lock owner and instance tokens, anything a client must not predict. */
void imi_random_bytes(void *out, size_t n);

/* Bumped in the child at every fork (counting from the first call of this or of
 * imi_rand64): state made before a fork can tell it is in a copy. */
unsigned imi_fork_generation(void);

struct imi_uid;
/* fn(ud) runs last in imi_uid_free, after the worker id was given back (in a forked
 * child: without giving it back, which is the parent's). */
void imi_uid_set_cleanup(struct imi_uid *u, void (*fn)(void *), void *ud);

/* CLOCK_MONOTONIC_COARSE in ns (a few ns to read, ticks of about 1-4 ms). */
static inline int64_t imi_coarse_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The tick of the coarse clock in ns, read once. */
int64_t imi_coarse_tick_ns(void);

#endif
