/* ratelimit: token buckets per (rule, resource).
 *
 * A rule gives a rate and a burst: a bucket holds at most `burst` tokens, refills at
 * `rate` tokens per second and starts full; a call takes n tokens or is refused with
 * IMI_ELIMITED (and how long until n tokens are there). Each (rule, resource) pair, say
 * ("login", "user:42"), has its own bucket.
 *
 * Local buckets live in this process: one atomic word each (the "theoretical arrival
 * time" of GCRA, the same bucket in another form), taken with a compare-and-swap, no
 * lock. They read the coarse monotonic clock and fall back to the precise one only when
 * the answer depends on the last few ms (a bucket about to be full, or a refusal).
 * Distributed buckets live in the cache (imi_cache_take): every process sharing that
 * cache shares them. When the cache fails, `on_backend_error` decides: open lets the call
 * through, closed refuses it with IMI_ELIMITED; either way the failure is counted and
 * logged (at most once a second).
 *
 * Config: [ratelimit] (or an independent limiter [ratelimit.NAME]):
 *   mode             = local        ; or distributed: the default of every rule
 *   cache            =              ; the cache instance of distributed rules ("": [cache])
 *   key_prefix       = rl:          ; cache key: <key_prefix><rule>:<resource>
 *   on_backend_error = open         ; or closed
 *   max_buckets      = 100000       ; local buckets imi_ratelimit_check keeps at most
 *   unknown_rule     = deny         ; or allow: what imi_ratelimit_check does for a rule
 *                                   ; that is not configured (deny: IMI_ENOTFOUND)
 *   rule.login       = 10/s burst 20
 *   rule.api         = 6000/m distributed
 * A rule is RATE/UNIT (UNIT: s, m, h or d; RATE may have a fraction), then optionally
 * "burst N" (default: RATE rounded up, at least 1) and "local" or "distributed".
 * Rules can be set, changed and removed at run time (imi_ratelimit_set_rule, and from
 * coord, see reload.h): a change applies at once to existing buckets, which keep their
 * level. A call on a rule that no longer exists is allowed.
 *
 * Threads: a limiter and its buckets are safe to use from many threads (lock-free local
 * buckets); rules may be changed while other threads take tokens.
 */
#ifndef IMINFRA_RATELIMIT_H
#define IMINFRA_RATELIMIT_H

#include <stdint.h>
#include "iminfra/app.h"
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The range of a rule: rate from one token a day to 1e9 tokens a second, burst from 1 to
 * 10^12 and at most what refills in 100 years (IMI_DURATION_MAX_MS) at that rate. A spec
 * outside is refused with the range in the error. imi_cache_take (distributed rules)
 * takes the same ranges. */
#define IMI_RATELIMIT_RATE_MIN (1.0 / 86400)   /* tokens per second */
#define IMI_RATELIMIT_RATE_MAX 1e9
#define IMI_RATELIMIT_BURST_MAX 1000000000000LL

typedef struct imi_ratelimit imi_ratelimit;
typedef struct imi_ratelimit_bucket imi_ratelimit_bucket;

/* name NULL or "": [ratelimit]; else [ratelimit.NAME]. Opens the cache when a rule is
 * distributed. */
int imi_ratelimit_open(imi_app *app, const char *name, imi_ratelimit **out);
/* Frees the limiter, its buckets and the cache it opened. */
void imi_ratelimit_free(imi_ratelimit *rl);

/* Sets (spec) or removes (spec NULL) the run-time version of a rule; removing it goes
 * back to the config's rule, if any. IMI_ECONFIG naming origin (may be NULL) when spec
 * does not parse, IMI_ECONFIG too for a distributed rule when the limiter has no cache. */
int imi_ratelimit_set_rule(imi_ratelimit *rl, const char *rule, const char *spec,
                           const char *origin);

/* The bucket of (rule, resource), made on first use and kept until the limiter is freed:
 * look it up once, call it often. NULL with IMI_ENOTFOUND as the error when the rule does
 * not exist (IMI_ENOMEM when out of memory). */
imi_ratelimit_bucket *imi_ratelimit_get(imi_ratelimit *rl, const char *rule,
                                        const char *resource);

/* Takes n tokens: IMI_OK, or IMI_ELIMITED with *retry_after_ms (may be NULL) the wait
 * until n tokens could be there. n larger than the burst can never be granted:
 * IMI_EINVALID. Local buckets ignore ctx; distributed ones pass it to the cache. */
int imi_ratelimit_allow_n(imi_ratelimit_bucket *b, const imi_ctx *ctx, int64_t n,
                          int64_t *retry_after_ms);
static inline int imi_ratelimit_allow(imi_ratelimit_bucket *b, const imi_ctx *ctx)
{
    return imi_ratelimit_allow_n(b, ctx, 1, (int64_t *)0);
}
/* Waits until n tokens are granted: IMI_OK, IMI_ETIMEDOUT at once when the wait would
 * pass the ctx deadline, IMI_ECANCELED when ctx is cancelled while waiting. */
int imi_ratelimit_wait(imi_ratelimit_bucket *b, const imi_ctx *ctx, int64_t n);

/* imi_ratelimit_get + imi_ratelimit_allow_n in one call, for many or short-lived
 * resources: its local buckets are dropped once full again (a full bucket is what a new
 * one would be) when the table has doubled, so memory follows the resources in use, not
 * every resource ever seen. When max_buckets of them are all in use, a new resource is
 * treated like a failed backend (on_backend_error: open allows, closed refuses with
 * IMI_ELIMITED; counted in imi_ratelimit_backend_errors). A bucket that
 * imi_ratelimit_get handed out is never dropped and does not count against max_buckets.
 * A rule that is not configured (a typo, or removed by a reload) is IMI_ENOTFOUND, never
 * a silent "no limit", unless the section says unknown_rule = allow. */
int imi_ratelimit_check(imi_ratelimit *rl, const imi_ctx *ctx, const char *rule,
                        const char *resource, int64_t n, int64_t *retry_after_ms);

typedef struct imi_ratelimit_rule_info {
    double rate;          /* tokens per second */
    int64_t burst;
    int distributed;
} imi_ratelimit_rule_info;
/* IMI_ENOTFOUND when there is no such rule now. */
int imi_ratelimit_rule(imi_ratelimit *rl, const char *rule, imi_ratelimit_rule_info *info);
/* Cache failures met by distributed rules since open. */
uint64_t imi_ratelimit_backend_errors(const imi_ratelimit *rl);

#ifdef __cplusplus
}
#endif
#endif
