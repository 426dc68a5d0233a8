/* Helpers every test shares: sleeping, a millisecond clock, polling for a condition, and
 * comparing a buffer. Header-only (static inline), for unit, integration, stress and
 * conformance tests alike; EVENTUALLY is there when Criterion was included first. */
#ifndef IMI_TESTS_SUPPORT_IMI_TEST_H
#define IMI_TESTS_SUPPORT_IMI_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include "iminfra/iminfra.h"

static inline void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

/* The monotonic clock in milliseconds. */
static inline int64_t now_ms(void) { return imi_now_mono_ns() / 1000000; }

/* true when b holds exactly the len bytes at want. */
static inline bool buf_is(const imi_buf *b, const void *want, size_t len)
{
    return b->len == len && (len == 0 || !memcmp(b->data, want, len));
}

/* Polls cond every 2 ms for up to ms milliseconds; ok receives its last value. For
 * conditions that become true on another thread's schedule. */
#define WAIT_FOR(cond, ms, ok)                                               \
    do {                                                                     \
        int64_t wait_end_ = imi_now_mono_ns() + (int64_t)(ms) * 1000000;     \
        while (!((ok) = (cond)) && imi_now_mono_ns() < wait_end_)            \
            sleep_ms(2);                                                     \
    } while (0)

#ifdef cr_assert
/* Asserts that cond becomes true within 3 s. */
#define EVENTUALLY(cond)                                                     \
    do {                                                                     \
        bool eventually_ok_;                                                 \
        WAIT_FOR(cond, 3000, eventually_ok_);                                \
        cr_assert(eventually_ok_, "never: %s", #cond);                       \
    } while (0)
#endif

#endif
