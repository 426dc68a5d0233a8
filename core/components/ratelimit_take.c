/* Taking tokens: GCRA over one atomic word for local buckets, the cache for distributed
 * ones, and waiting.
 *
 * GCRA keeps tat, the time at which the bucket will be full again (if nothing more is
 * taken). Taking n tokens moves it to max(tat, now) + n * interval; that is allowed while
 * the result stays within tau (= burst * interval) of now.
 *
 * No sum here can wrap: spec_parse keeps tau, and so n * interval (n <= burst), within
 * 100 years in ns, and tat within tau of the clock, so tat + inc stays under 3 * 10^18 ns
 * past boot. */
#include <errno.h>
#include <time.h>
#include "iminfra/error.h"
#include "metrics.h"
#include "ratelimit_internal.h"
#include "uid_internal.h"

static int limited(int64_t wait_ns, int64_t *retry_after_ms)
{
    if (retry_after_ms)
        *retry_after_ms = (wait_ns + 999999) / 1000000;
    return IMI_ELIMITED;
}

/* The exact answer on the precise clock. */
static int take_precise(imi_ratelimit_bucket *b, const rl_params *p, int64_t inc,
                        int64_t *retry_after_ms)
{
    int64_t now = imi_now_mono_ns();
    int64_t tat = atomic_load_explicit(&b->tat, memory_order_relaxed);
    for (;;) {
        int64_t nt = (tat > now ? tat : now) + inc;
        if (nt - now > p->tau_ns)
            return limited(nt - p->tau_ns - now, retry_after_ms);
        if (atomic_compare_exchange_weak_explicit(&b->tat, &tat, nt, memory_order_relaxed,
                                                  memory_order_relaxed))
            return IMI_OK;
    }
}

int imi_ratelimit_take_local(imi_ratelimit_bucket *b, const rl_params *p, int64_t n,
                             int64_t *retry_after_ms)
{
    int64_t inc = n * p->interval_ns;
    /* The coarse clock lags the precise one by less than a tick (two, to be safe). While
     * tat is further ahead than that, max(tat, now) is tat on either clock, and a grant
     * on the lagging clock is a grant on the precise one too. */
    int64_t now = imi_coarse_mono_ns(), margin = 2 * imi_coarse_tick_ns();
    int64_t tat = atomic_load_explicit(&b->tat, memory_order_relaxed);
    while (tat - now >= margin) {
        int64_t nt = tat + inc;
        if (nt - now > p->tau_ns)
            break;
        if (atomic_compare_exchange_weak_explicit(&b->tat, &tat, nt, memory_order_relaxed,
                                                  memory_order_relaxed))
            return IMI_OK;
    }
    return take_precise(b, p, inc, retry_after_ms);
}

int imi_ratelimit_take_remote(imi_ratelimit_bucket *b, const rl_params *p,
                              const imi_ctx *ctx, int64_t n, int64_t *retry_after_ms)
{
    imi_ratelimit *rl = b->rl;
    imi_cache *c = atomic_load_explicit(&rl->cache, memory_order_acquire);
    int rc = c ? imi_cache_take(c, ctx, b->key, p->rate, p->burst, n, retry_after_ms)
               : imi_error_set(IMI_EUNAVAILABLE, 0, "no cache");
    if (rc == IMI_OK || rc == IMI_ELIMITED || rc == IMI_ECANCELED || rc == IMI_EINVALID)
        return rc;
    if (rc == IMI_ETIMEDOUT && imi_ctx_err(ctx))
        return IMI_ETIMEDOUT;  /* the caller's deadline, not the backend */
    atomic_fetch_add_explicit(&rl->backend_errors, 1, memory_order_relaxed);
    int64_t now = imi_now_mono_ns();
    int64_t last = atomic_load_explicit(&rl->last_error_log_ns, memory_order_relaxed);
    if (rl->log && now - last >= 1000000000 &&
        atomic_compare_exchange_strong(&rl->last_error_log_ns, &last, now))
        IMI_WARN(rl->log, ctx, "rate limit backend failed",
                 IMI_FSTR("rule", b->rule->name), IMI_FERR("err", rc),
                 IMI_FSTR("detail", imi_error_message()),
                 IMI_FSTR("policy", rl->fail_open ? "open: allowed" : "closed: refused"));
    if (rl->fail_open)
        return IMI_OK;
    if (retry_after_ms)
        *retry_after_ms = 0;
    return imi_error_set(IMI_ELIMITED, rc, "[%s] rule %s: the cache failed (%s) and "
                         "on_backend_error = closed", rl->section, b->rule->name,
                         imi_err_name(rc));
}

int imi_ratelimit_allow_n(imi_ratelimit_bucket *b, const imi_ctx *ctx, int64_t n,
                          int64_t *retry_after_ms)
{
    if (!b)
        return imi_error_set(IMI_EINVALID, 0, "ratelimit: no bucket");
    const rl_params *p = atomic_load_explicit(&b->rule->p, memory_order_acquire);
    if (!p)
        return IMI_OK;
    if (n < 1 || n > p->burst)
        return imi_error_set(IMI_EINVALID, 0, "ratelimit %s: n = %lld is outside [1, burst %lld]",
                             b->rule->name, (long long)n, (long long)p->burst);
    int rc = !p->distributed ? imi_ratelimit_take_local(b, p, n, retry_after_ms)
                             : imi_ratelimit_take_remote(b, p, ctx, n, retry_after_ms);
    imi_metrics_count_ratelimit(rc);
    return rc;
}

int imi_ratelimit_wait(imi_ratelimit_bucket *b, const imi_ctx *ctx, int64_t n)
{
    for (;;) {
        int rc = imi_ctx_err(ctx);
        if (rc)
            return rc;
        int64_t after = 0;
        rc = imi_ratelimit_allow_n(b, ctx, n, &after);
        if (rc != IMI_ELIMITED)
            return rc;
        int64_t wait_ns = (after > 0 ? after : 1) * 1000000;
        int64_t deadline = imi_ctx_deadline_ns(ctx), now = imi_now_mono_ns();
        if (deadline && now + wait_ns > deadline)
            return imi_error_set(IMI_ETIMEDOUT, 0, "ratelimit %s: %lld token(s) come after "
                                 "the deadline", b->rule->name, (long long)n);
        /* sleep in slices so that a cancel is seen soon */
        int64_t end = now + wait_ns;
        while ((now = imi_now_mono_ns()) < end) {
            if (imi_ctx_canceled(ctx))
                return imi_error_set(IMI_ECANCELED, 0, "ratelimit %s: cancelled while "
                                     "waiting", b->rule->name);
            int64_t left = end - now > 5000000 ? 5000000 : end - now;
            struct timespec ts = { .tv_sec = 0, .tv_nsec = left };
            nanosleep(&ts, NULL);
        }
    }
}
