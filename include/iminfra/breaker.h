/* breaker: one circuit breaker per resource name.
 *
 * Closed: calls go through. It trips (opens) after `consecutive_failures` failures in a
 * row, or when failures / calls over the last `window` reach `failure_ratio` with at
 * least `min_calls` calls in that window. Open: calls are rejected with IMI_EOPEN without
 * being made, for `open_for`; then half-open: up to `half_open_probes` calls at a time go
 * through; a failed probe opens it again, `half_open_successes` successful ones close it.
 * Which result codes are failures is `failure_on` (others, IMI_ENOTFOUND say, show the
 * backend answering). A result reported for a call admitted before the last state change
 * is not counted: it belongs to a breaker state that is gone.
 *
 * The closed path takes no lock and reads no clock unless a ratio is set (then one read
 * of the coarse monotonic clock). Look a breaker up once by name (imi_breaker_get) and
 * keep the handle; it lives as long as its set.
 *
 * Config: [breaker] holds the default policy, [breaker.NAME] the policy of resource NAME
 * (its keys override [breaker]'s):
 *   consecutive_failures = 5      ; 0: off
 *   failure_ratio        = 0.5    ; 0: off
 *   window               = 10s
 *   min_calls            = 20
 *   open_for             = 5s
 *   half_open_probes     = 1
 *   half_open_successes  = 1
 *   failure_on           = unavailable, timedout, internal, driver
 * Overrides (from coord, see reload.h) are "key = value" lists over the same keys; the
 * name "default" overrides the policy of names that have neither a [breaker.NAME] section
 * nor an override of their own. A breaker whose policy changes starts afresh, closed; the
 * others keep their state.
 *
 * State changes are logged (logger "breaker": warn when opening, info otherwise),
 * counted, and passed to the set's callback. retry nests inside breaker: the breaker sees
 * one result per logical call, after retry gave up or succeeded.
 *
 * Threads: a set and its breakers are safe to use from many threads (calls, overrides,
 * stats); the change callback runs on the thread that made the change.
 */
#ifndef IMINFRA_BREAKER_H
#define IMINFRA_BREAKER_H

#include <stdint.h>
#include "iminfra/app.h"
#include "iminfra/clog.h"
#include "iminfra/ctx.h"
#include "iminfra/retry.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum imi_breaker_state {
    IMI_BREAKER_CLOSED = 0,
    IMI_BREAKER_OPEN = 1,
    IMI_BREAKER_HALF_OPEN = 2
} imi_breaker_state;

typedef struct imi_breaker_policy {
    int consecutive_failures;
    double failure_ratio;
    int64_t window_ms;
    int min_calls;
    int64_t open_ms;
    int half_open_probes;
    int half_open_successes;
    uint32_t failure_on;       /* mask of IMI_CODE_BIT(code) (retry.h) */
} imi_breaker_policy;

imi_breaker_policy imi_breaker_policy_default(void);

typedef struct imi_breaker_set imi_breaker_set;
typedef struct imi_breaker imi_breaker;

/* Called on the thread that made the change, after it was made. */
typedef void (*imi_breaker_change_fn)(void *ud, const char *name, imi_breaker_state from,
                                      imi_breaker_state to);

/* Policies from [breaker] and [breaker.NAME] sections; logs through the app's logger. */
int imi_breaker_set_open(imi_app *app, imi_breaker_set **out);
/* Without config: every resource gets policy dflt. logger may be NULL. */
int imi_breaker_set_new(const imi_breaker_policy *dflt, imi_logger *logger,
                        imi_breaker_set **out);
/* Frees the set and every breaker of it. */
void imi_breaker_set_free(imi_breaker_set *s);
/* Replaces the callback (NULL: none). */
void imi_breaker_set_on_change(imi_breaker_set *s, imi_breaker_change_fn fn, void *ud);

/* Sets (text) or removes (text NULL) the override of name, then gives every breaker its
 * new effective policy. IMI_ECONFIG (naming origin) when the text does not parse; nothing
 * changes then. origin (may be NULL) names where the text came from in messages. */
int imi_breaker_set_override(imi_breaker_set *s, const char *name, const char *text,
                             const char *origin);

/* The breaker of a resource, made on first use. NULL only when out of memory. */
imi_breaker *imi_breaker_get(imi_breaker_set *s, const char *name);
const char *imi_breaker_name(const imi_breaker *b);
imi_breaker_state imi_breaker_get_state(const imi_breaker *b);
/* The policy in force (copied out). */
void imi_breaker_get_policy(const imi_breaker *b, imi_breaker_policy *out);
const char *imi_breaker_state_name(imi_breaker_state st);

/* A call in two steps, for callers that cannot use imi_breaker_call: enter decides
 * (IMI_OK, or IMI_EOPEN when the call must not be made) and fills *ticket; leave reports
 * the call's result code. Every successful enter must be followed by one leave. */
typedef uint64_t imi_breaker_ticket;
int imi_breaker_enter(imi_breaker *b, imi_breaker_ticket *ticket);
void imi_breaker_leave(imi_breaker *b, imi_breaker_ticket ticket, int rc);

typedef int (*imi_breaker_fn)(void *ud, const imi_ctx *ctx);
/* IMI_EOPEN without calling fn when the breaker rejects; else fn's result. */
int imi_breaker_call(imi_breaker *b, const imi_ctx *ctx, imi_breaker_fn fn, void *ud);

typedef struct imi_breaker_stats {
    uint64_t rejected;     /* calls refused with IMI_EOPEN */
    uint64_t opened;       /* transitions to open */
    uint64_t half_opened;
    uint64_t closed;       /* transitions back to closed */
    uint64_t window_calls; /* calls and failures in the current window (ratio on) */
    uint64_t window_failures;
} imi_breaker_stats;
void imi_breaker_get_stats(const imi_breaker *b, imi_breaker_stats *out);

/* Retry inside breaker in one call: the breaker is entered once (IMI_EOPEN without
 * calling fn when it rejects) and sees the one result left after r retried fn. Retries
 * never run while the breaker is open: when other calls open it during the backoff, no
 * further attempt is made and the call returns IMI_EOPEN. *attempts (may be NULL) counts
 * the attempts that called fn. */
int imi_breaker_call_retry(imi_breaker *b, const imi_retry *r, const imi_ctx *ctx,
                           imi_retry_fn fn, void *ud, int *attempts);

#ifdef __cplusplus
}
#endif
#endif
