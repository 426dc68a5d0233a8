/* retry: runs a call again while it fails with a retryable code, with a backoff between
 * attempts, until it succeeds, the attempts or the elapsed time run out, or the ctx's
 * deadline or cancel stops it.
 *
 * Delay before attempt k+1 (k = 1, 2, ...): constant: initial; exponential:
 * initial * multiplier^(k-1). Either is capped at max_delay. With full jitter the sleep is
 * uniform in [0, delay]. A retry is not started when its sleep would end past max_elapsed
 * (counted from the first attempt) or past the ctx deadline.
 *
 * Config: [retry] (or [retry.NAME], whose keys override [retry]'s):
 *   max_attempts = 3        ; attempts in all, the first one included (0: unbounded)
 *   max_elapsed  = 10s      ; 0: unbounded
 *   backoff      = exponential   ; or constant
 *   initial      = 100ms
 *   max_delay    = 5s
 *   multiplier   = 2
 *   jitter       = full     ; or none
 *   retry_on     = unavailable, timedout   ; error code names, "none" for nothing
 * A handle is immutable once made and safe to use from many threads.
 */
#ifndef IMINFRA_RETRY_H
#define IMINFRA_RETRY_H

#include <stdbool.h>
#include <stdint.h>
#include "iminfra/app.h"
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The bit of an error code in a code mask: IMI_CODE_BIT(IMI_EUNAVAILABLE). */
#define IMI_CODE_BIT(code) (1u << (unsigned)-(code))

typedef enum imi_backoff {
    IMI_BACKOFF_EXPONENTIAL = 0,
    IMI_BACKOFF_CONSTANT = 1
} imi_backoff;

typedef struct imi_retry_policy {
    int max_attempts;          /* 0: unbounded */
    int64_t max_elapsed_ms;    /* 0: unbounded */
    imi_backoff backoff;
    int64_t initial_ms;
    int64_t max_delay_ms;      /* cap of one delay; 0: no cap */
    double multiplier;         /* exponential; values below 1 count as 1 */
    bool jitter;               /* full jitter */
    uint32_t retry_on;         /* mask of IMI_CODE_BIT(code) */
} imi_retry_policy;

/* The defaults written above. */
imi_retry_policy imi_retry_policy_default(void);

/* Decides whether a failed attempt's code is worth another attempt; replaces retry_on. */
typedef bool (*imi_retry_pred)(void *ud, int code);

/* Time, sleep and randomness, replaceable for tests. now_ns is monotonic. sleep_ns
 * returns IMI_OK after the full sleep, or IMI_ECANCELED at once when ctx is cancelled
 * during it. rand64 gives uniform 64-bit values. */
typedef struct imi_retry_hooks {
    int64_t (*now_ns)(void *ud);
    int (*sleep_ns)(void *ud, const imi_ctx *ctx, int64_t ns);
    uint64_t (*rand64)(void *ud);
    void *ud;
} imi_retry_hooks;

typedef struct imi_retry imi_retry;

/* [retry] when name is NULL or "", else [retry.NAME] over [retry]. */
int imi_retry_open(imi_app *app, const char *name, imi_retry **out);
/* From a policy; pred (may be NULL) replaces retry_on; hooks (may be NULL) replace the
 * real clock, sleep and random source. */
int imi_retry_new(const imi_retry_policy *p, imi_retry_pred pred, void *pred_ud,
                  const imi_retry_hooks *hooks, imi_retry **out);
void imi_retry_free(imi_retry *r);
const imi_retry_policy *imi_retry_get_policy(const imi_retry *r);

/* One attempt: attempt counts from 1. Its return value is the code retry looks at. */
typedef int (*imi_retry_fn)(void *ud, const imi_ctx *ctx, int attempt);

/* Runs fn until it returns IMI_OK or retry stops. Returns IMI_OK, fn's last code when it
 * is not retryable or attempts / max_elapsed ran out, IMI_ECANCELED when ctx was
 * cancelled, IMI_ETIMEDOUT when the ctx deadline came first (the error detail then names
 * the last code). *attempts (may be NULL) is how many attempts ran. */
int imi_retry_run(const imi_retry *r, const imi_ctx *ctx, imi_retry_fn fn, void *ud,
                  int *attempts);

/* Whether code is retryable under r (never for IMI_OK, IMI_ECANCELED). */
bool imi_retry_retryable(const imi_retry *r, int code);
/* The delay before attempt `attempt` + 1, before jitter. */
int64_t imi_retry_delay_ms(const imi_retry_policy *p, int attempt);

#ifdef __cplusplus
}
#endif
#endif
