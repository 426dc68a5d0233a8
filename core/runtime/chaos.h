/* Fault injection: `driver = chaos` with `target = NAME|PATH.so` opens the target driver
 * (with its own options in the same section) and makes calls of the component fail, wait
 * or time out at the rates the chaos_* keys set, from a seeded generator so that a failing
 * run replays exactly (single-threaded). Injected before the driver is called, the same for
 * every kind; at rate 0 the component behaves as its target (the conformance suites run so).
 *
 *   chaos_error_rate   = 0      ; share of calls that fail without reaching the driver
 *   chaos_error        = unavailable   ; the code they fail with (timedout, conflict ...)
 *   chaos_latency      = 0ms    ; delay added to a share of calls ...
 *   chaos_latency_rate = 0      ; ... this share
 *   chaos_timeout_rate = 0      ; share of calls that wait out their deadline: IMI_ETIMEDOUT
 *   chaos_seed         = 0      ; 0: a random seed, logged at open so the run can be replayed */
#ifndef IMI_CORE_CHAOS_H
#define IMI_CORE_CHAOS_H

#include "iminfra/config.h"
#include "iminfra/ctx.h"

typedef struct imi_chaos imi_chaos;

/* The section keys chaos adds to the front-end's and the target's. */
extern const char *const imi_chaos_keys[];

/* Reads the chaos_* keys of section; *out NULL when the section's driver is not chaos. */
int imi_chaos_from_config(const imi_config *cfg, const char *section, imi_chaos **out);
void imi_chaos_free(imi_chaos *ch);
uint64_t imi_chaos_seed(const imi_chaos *ch);

/* Before a driver call: IMI_OK to go on (maybe after a delay), else the injected code. */
int imi_chaos_enter(imi_chaos *ch, const imi_ctx *ctx, int64_t default_timeout_ms);

#endif
