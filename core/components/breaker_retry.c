/* imi_breaker_call_retry: the recommended composition, retry inside breaker, in one call.
 *
 * The breaker is entered once and sees one result per logical call. Before every attempt
 * after the first, the breaker's state is read again: when other calls opened it while
 * this one was backing off, no more attempts are made (retrying into an open breaker is
 * what the breaker exists to prevent). */
#include <stdbool.h>
#include "iminfra/breaker.h"
#include "iminfra/error.h"

typedef struct guarded {
    imi_breaker *b;
    imi_retry_fn fn;
    void *ud;
    imi_ctx *stop;     /* cancelled to end the retry loop; NULL when not needed */
    int last;          /* the last code fn returned */
    int ran;           /* attempts that called fn */
    bool stopped;      /* the breaker opened between attempts */
} guarded;

static int guarded_attempt(void *ud, const imi_ctx *ctx, int attempt)
{
    guarded *g = ud;
    if (attempt > 1 && imi_breaker_get_state(g->b) == IMI_BREAKER_OPEN) {
        g->stopped = true;
        imi_ctx_cancel(g->stop);
        return IMI_EOPEN;
    }
    g->ran++;
    g->last = g->fn(g->ud, ctx, attempt);
    return g->last;
}

int imi_breaker_call_retry(imi_breaker *b, const imi_retry *r, const imi_ctx *ctx,
                           imi_retry_fn fn, void *ud, int *attempts)
{
    if (attempts)
        *attempts = 0;
    if (!b || !r || !fn)
        return imi_error_set(IMI_EINVALID, 0, "imi_breaker_call_retry: breaker, retry and fn "
                             "are required");
    guarded g = { .b = b, .fn = fn, .ud = ud, .last = IMI_OK };
    /* IMI_EOPEN normally ends the loop (not retryable). When the application's retry_on
     * lists "open", a child ctx cancelled at the stop ends it instead. */
    if (imi_retry_retryable(r, IMI_EOPEN) && !(g.stop = imi_ctx_child(ctx, 0)))
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    imi_breaker_ticket t;
    int rc = imi_breaker_enter(b, &t);
    if (rc) {
        imi_ctx_free(g.stop);
        return rc;     /* rejected: nothing runs */
    }
    rc = imi_retry_run(r, g.stop ? g.stop : ctx, guarded_attempt, &g, NULL);
    imi_ctx_free(g.stop);
    if (attempts)
        *attempts = g.ran;
    /* After a stop the ticket is stale (the breaker changed state) and the report is
     * dropped; it is made all the same, as every enter needs its leave. */
    imi_breaker_leave(b, t, g.stopped ? g.last : rc);
    if (g.stopped)
        return imi_error_set(IMI_EOPEN, 0, "breaker '%s' opened after attempt %d failed with "
                             "%s; no more attempts", imi_breaker_name(b), g.ran,
                             imi_err_name(g.last));
    return rc;
}
