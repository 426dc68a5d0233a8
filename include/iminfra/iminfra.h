/* im-infra: every public header of the library.
 * Threads: each header says, in its first comment, what may run on many threads at once.
 */
#ifndef IMINFRA_IMINFRA_H
#define IMINFRA_IMINFRA_H

#include "iminfra/error.h"
#include "iminfra/ctx.h"
#include "iminfra/buf.h"
#include "iminfra/config.h"
#include "iminfra/clog.h"
#include "iminfra/app.h"
#include "iminfra/cache.h"
#include "iminfra/coord.h"
#include "iminfra/db.h"
#include "iminfra/mq.h"
#include "iminfra/uid.h"
#include "iminfra/retry.h"
#include "iminfra/breaker.h"
#include "iminfra/ratelimit.h"
#include "iminfra/reload.h"
#include "iminfra/ctx_log.h"
#include "iminfra/metrics.h"

#endif
