/* The heavy side of the asymmetric barrier (fence.h), over membarrier(2). */
#include <linux/membarrier.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "fence.h"

bool imi_fence_asymmetric;

static pthread_once_t once = PTHREAD_ONCE_INIT;

static long membarrier(int cmd)
{
    return syscall(SYS_membarrier, cmd, 0, 0);
}

static void decide(void)
{
#ifndef IMI_FENCE_TSAN /* a TSan build uses seq_cst operations instead (fence.h) */
    long cmds = membarrier(MEMBARRIER_CMD_QUERY);
    imi_fence_asymmetric = cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
                           membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#endif
}

void imi_fence_init(void)
{
    pthread_once(&once, decide);
}

void imi_fence_heavy(void)
{
#ifndef IMI_FENCE_TSAN
    atomic_thread_fence(memory_order_seq_cst);
#endif
    if (!imi_fence_asymmetric)
        return;
    if (membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return;
    /* Refused only to a process that is not registered: a child forked from the one that
     * registered may not be. Register again, else the slow global barrier (no
     * registration needed), so that the guarantee holds whatever happens. */
    if (membarrier(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0 &&
        membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) == 0)
        return;
    membarrier(MEMBARRIER_CMD_GLOBAL);
}
