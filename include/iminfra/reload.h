/* reload: settings kept in coord and applied while the service runs.
 *
 * One watch on a key prefix (say "config/im-logic/") feeds:
 *   <prefix>log/level          debug | info | warn | error | off: the root logger's level
 *   <prefix>breaker/<name>     a breaker policy override (breaker.h), "k = v; k = v"
 *   <prefix>ratelimit/<rule>   a rate limit rule (ratelimit.h), "10/s burst 20"
 * What is there at start is applied before imi_reload_start returns; later puts apply
 * when they arrive, and a delete goes back to the config's setting. A value that does
 * not parse is logged (logger "reload", with its key and what is wrong) and ignored:
 * the setting in force stays. Events come in revision order; after the watch reports
 * lost history, the prefix is read again whole.
 *
 * Threads: start and stop a reload on one thread; values are applied on the watch's thread,
 * and the targets they feed are safe to change while the application uses them.
 */
#ifndef IMINFRA_RELOAD_H
#define IMINFRA_RELOAD_H

#include "iminfra/breaker.h"
#include "iminfra/clog.h"
#include "iminfra/coord.h"
#include "iminfra/ratelimit.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_reload imi_reload;

/* What to feed; any may be NULL. They must outlive the reload. */
typedef struct imi_reload_targets {
    imi_logger *logger;
    imi_breaker_set *breakers;
    imi_ratelimit *ratelimit;
} imi_reload_targets;

/* log: where to report bad values (NULL: targets->logger, else nothing). */
int imi_reload_start(imi_coord *c, const imi_ctx *ctx, const char *prefix,
                     const imi_reload_targets *targets, imi_logger *log, imi_reload **out);
/* Stops the watch; the settings applied stay in force. */
void imi_reload_stop(imi_reload *r);
/* Values applied and values refused since start. */
void imi_reload_counts(const imi_reload *r, uint64_t *applied, uint64_t *refused);

#ifdef __cplusplus
}
#endif
#endif
