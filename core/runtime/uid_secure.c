/* Unpredictable bytes for identifiers a client could abuse (UUID random bits, tokens):
 * getrandom(2) read in per-thread batches, so that most calls are a memcpy. A batch is
 * never used twice: bytes are wiped as they are handed out, and a child after fork
 * drops what its parent had left (the fork generation tells). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "uid_internal.h"

#define BATCH 4096

static _Thread_local struct {
    unsigned char buf[BATCH];
    size_t left;            /* unused bytes at the end of buf */
    unsigned gen;
} pool;

static void refill(unsigned gen)
{
    size_t got = 0;
    while (got < BATCH) {
        ssize_t n = getrandom(pool.buf + got, BATCH - got, 0);
        if (n > 0)
            got += (size_t)n;
        else if (n < 0 && errno != EINTR)
            break;
    }
    if (got < BATCH) /* no getrandom (old kernel, seccomp): glibc's own CSPRNG */
        arc4random_buf(pool.buf + got, BATCH - got);
    pool.left = BATCH;
    pool.gen = gen;
}

void imi_random_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    unsigned gen = imi_fork_generation();
    if (pool.gen != gen)
        pool.left = 0;
    while (n) {
        if (!pool.left)
            refill(gen);
        size_t k = n < pool.left ? n : pool.left;
        unsigned char *src = pool.buf + BATCH - pool.left;
        memcpy(p, src, k);
        memset(src, 0, k);
        pool.left -= k;
        p += k;
        n -= k;
    }
}
