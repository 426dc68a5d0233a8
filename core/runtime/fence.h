/* The two sides of the closed flag's store-load handshake (instance.h). A call publishes
 * its in-flight count and then reads `closed`; a close publishes `closed` and then reads
 * the counts. Each side needs a full barrier between its store and its load, or both may
 * read the old values. Calls are many and closes rare, so where the kernel offers it the
 * whole cost goes to the close: membarrier(2) makes every running thread of the process
 * execute a full barrier, and the call side needs only a compiler barrier. Without
 * membarrier (old kernel, seccomp, valgrind) both sides use a real fence.
 * ThreadSanitizer models no fence (GCC refuses them under -fsanitize=thread), so a TSan
 * build (IMI_FENCE_TSAN) uses neither: its calls count with a seq_cst read-modify-write
 * and read `closed` seq_cst, as close does, which it understands. */
#ifndef IMI_CORE_FENCE_H
#define IMI_CORE_FENCE_H

#include <stdatomic.h>
#include <stdbool.h>

#if defined(__SANITIZE_THREAD__)
#define IMI_FENCE_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define IMI_FENCE_TSAN 1
#endif
#endif

/* Decided once, before the first instance opens (imi_fence_init), and never changed. */
extern bool imi_fence_asymmetric;

/* Registers with membarrier when it can; idempotent and thread-safe. */
void imi_fence_init(void);

/* The call side: between publishing a count and reading `closed`. */
static inline void imi_fence_light(void)
{
#ifndef IMI_FENCE_TSAN
    if (__builtin_expect(imi_fence_asymmetric, 1))
        atomic_signal_fence(memory_order_seq_cst);
    else
        atomic_thread_fence(memory_order_seq_cst);
#endif
}

/* The close side: between setting `closed` and reading the counts. */
void imi_fence_heavy(void);

#endif
