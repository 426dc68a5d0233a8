/* UUID random bits come from the kernel's CSPRNG (getrandom), not from a fast generator
 * whose four outputs reveal every later one: every random byte of every UUID is a byte
 * getrandom handed out, and a child after fork never repeats its parent's bytes.
 * The test defines getrandom itself: the static core calls this one, which counts. */
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "uid_internal.h"

static atomic_ullong bytes_from_kernel;

ssize_t getrandom(void *buf, size_t len, unsigned int flags)
{
    long n = syscall(SYS_getrandom, buf, len, flags);
    if (n > 0)
        atomic_fetch_add(&bytes_from_kernel, (unsigned long long)n);
    return n;
}

Test(uid_secure, every_uuid_bit_comes_from_getrandom)
{
    enum { N = 20000 };
    unsigned long long before = atomic_load(&bytes_from_kernel);
    for (int i = 0; i < N; i++) {
        imi_uuid u = imi_uuid_v4();
        cr_assert_eq(imi_uuid_version(&u), 4);
    }
    unsigned long long v4 = atomic_load(&bytes_from_kernel) - before;
    cr_assert_geq(v4 + 4096, 16ull * N, /* a batch may be left from before */ "%d UUID v4 drew %llu bytes from getrandom", N, v4);
    before = atomic_load(&bytes_from_kernel);
    for (int i = 0; i < N; i++)
        (void)imi_uuid_v7();
    unsigned long long v7 = atomic_load(&bytes_from_kernel) - before;
    cr_assert_geq(v7 + 4096, 8ull * N, "%d UUID v7 drew %llu bytes from getrandom", N, v7);
}

Test(uid_secure, bytes_are_handed_out_once)
{
    unsigned char a[64], b[64];
    imi_random_bytes(a, sizeof a);
    imi_random_bytes(b, sizeof b);
    cr_assert(memcmp(a, b, sizeof a), "the same 64 bytes twice");
    unsigned char big[10000];
    imi_random_bytes(big, sizeof big); /* more than one batch */
    int zeros = 0;
    for (size_t i = 0; i < sizeof big; i++)
        zeros += !big[i];
    cr_assert_lt(zeros, 100, "%d zero bytes in 10000: wiped bytes handed out?", zeros);
}

Test(uid_secure, a_child_never_repeats_its_parents_bytes)
{
    unsigned char first[16], parent[16], child[16];
    imi_random_bytes(first, sizeof first); /* the parent's batch now has bytes left */
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        imi_random_bytes(child, sizeof child);
        _exit(write(fd[1], child, sizeof child) == (ssize_t)sizeof child ? 0 : 1);
    }
    imi_random_bytes(parent, sizeof parent);
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert_eq(read(fd[0], child, sizeof child), (ssize_t)sizeof child);
    close(fd[0]);
    close(fd[1]);
    cr_assert(memcmp(parent, child, sizeof child), "parent and child drew the same bytes");
}
