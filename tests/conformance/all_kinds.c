/* The cases DESIGN.md lists for all kinds, written once over a kind's hooks (contract.h).
 * Handles are freed on every path: a failed check records the failure and goes on to the
 * cleanup, so a failed case never leaks what it opened. */
#include "contract.h"

#define MAX_CALLS 16

/* Checks that every call answered want; records the first that did not. */
static bool all_answer(imi_conf_t *t, const char *when, const imi_conf_call *c, size_t n,
                       int want)
{
    for (size_t i = 0; i < n; i++)
        if (c[i].rc != want) {
            imi_conf_fail(t, __FILE__, __LINE__, "%s: %s returned %s, expected %s", when,
                          c[i].name, imi_err_name(c[i].rc), imi_err_name(want));
            return false;
        }
    return true;
}

/* Records a failure unless rc is want. */
static bool answers(imi_conf_t *t, const char *what, int rc, int want)
{
    if (rc == want)
        return true;
    imi_conf_fail(t, __FILE__, __LINE__, "%s returned %s, expected %s (%s)", what,
                  imi_err_name(rc), imi_err_name(want), imi_error_message());
    return false;
}

void imi_conf_open_ping_close_twice(imi_conf_t *t, const imi_conf_kind *k)
{
    void *h = NULL;
    CONF_OK(t, k->open(t->app, &h));
    imi_conf_call c[MAX_CALLS];
    const char *name = k->driver_name(h);
    /* judged by behaviour: any non-empty name (the loader checks a name asked for) */
    bool ok = answers(t, "ping", k->ping(h, NULL), IMI_OK) &&
              (name && name[0] ? true : (imi_conf_fail(t, __FILE__, __LINE__, "no driver name"),
                                         false)) &&
              answers(t, "close", k->close(h), IMI_OK) &&
              answers(t, "a second close", k->close(h), IMI_ECLOSED) &&
              answers(t, "ping after close", k->ping(h, NULL), IMI_ECLOSED);
    if (ok)
        all_answer(t, "after close", c, k->calls(t, h, NULL, c, MAX_CALLS), IMI_ECLOSED);
    k->free(h);
}

void imi_conf_canceled_and_expired_ctx(imi_conf_t *t, const imi_conf_kind *k)
{
    void *h = NULL;
    CONF_OK(t, k->open(t->app, &h));
    imi_conf_call c[MAX_CALLS];
    imi_ctx *canceled = imi_ctx_new(0), *passed = imi_ctx_new(0), *live = imi_ctx_new(5000);
    imi_ctx_cancel(canceled);
    imi_ctx_set_deadline_ns(passed, imi_now_mono_ns() - 1000000);
    bool ok = answers(t, "ping with a cancelled ctx", k->ping(h, canceled), IMI_ECANCELED) &&
              all_answer(t, "cancelled ctx", c, k->calls(t, h, canceled, c, MAX_CALLS),
                         IMI_ECANCELED) &&
              answers(t, "ping past the deadline", k->ping(h, passed), IMI_ETIMEDOUT) &&
              all_answer(t, "passed deadline", c, k->calls(t, h, passed, c, MAX_CALLS),
                         IMI_ETIMEDOUT);
    if (ok)
        answers(t, "ping with a live deadline", k->ping(h, live), IMI_OK);
    imi_ctx_free(canceled);
    imi_ctx_free(passed);
    imi_ctx_free(live);
    k->free(h);
}
