/* imi_breaker_call_retry: one breaker result per logical call, no call while open, and no
 * retry once the breaker opened during the backoff. */
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

typedef struct script {
    int codes[8];      /* what attempt k returns: codes[k - 1]; the last given one repeats */
    int n;
    int calls;
} script;

static int scripted(void *ud, const imi_ctx *ctx, int attempt)
{
    (void)ctx;
    script *s = ud;
    s->calls++;
    return s->codes[attempt - 1 < s->n ? attempt - 1 : s->n - 1];
}

/* The backoff sleep: no real wait; optionally trips the breaker as other calls would. */
typedef struct sleeper {
    imi_breaker *trip;
    int sleeps;
} sleeper;

static int fail_once(void *ud, const imi_ctx *ctx)
{
    (void)ud, (void)ctx;
    return IMI_EUNAVAILABLE;
}

static int fake_sleep(void *ud, const imi_ctx *ctx, int64_t ns)
{
    (void)ns;
    sleeper *sl = ud;
    if (imi_ctx_canceled(ctx))
        return IMI_ECANCELED;   /* as the real sleep: no wait once cancelled */
    sl->sleeps++;
    if (sl->trip)
        while (imi_breaker_get_state(sl->trip) != IMI_BREAKER_OPEN)
            imi_breaker_call(sl->trip, NULL, fail_once, NULL);
    return IMI_OK;
}

static imi_breaker_set *set;
static imi_breaker *b;
static imi_retry *r;
static sleeper sl;

static void make(int consecutive, uint32_t extra_retry_on)
{
    imi_breaker_policy bp = imi_breaker_policy_default();
    bp.consecutive_failures = consecutive;
    bp.failure_ratio = 0;
    bp.open_ms = 60000;
    cr_assert_eq(imi_breaker_set_new(&bp, NULL, &set), IMI_OK);
    b = imi_breaker_get(set, "users-db");
    imi_retry_policy rp = imi_retry_policy_default();
    rp.max_attempts = 4;
    rp.jitter = false;
    rp.retry_on |= extra_retry_on;
    sl = (sleeper){ 0 };
    imi_retry_hooks h = { .sleep_ns = fake_sleep, .ud = &sl };
    cr_assert_eq(imi_retry_new(&rp, NULL, NULL, &h, &r), IMI_OK);
}

static void unmake(void)
{
    imi_retry_free(r);
    imi_breaker_set_free(set);
}

Test(breaker_retry, retries_then_success_is_one_success)
{
    make(2, 0);
    script s = { .codes = { IMI_EUNAVAILABLE, IMI_EUNAVAILABLE, IMI_OK }, .n = 3 };
    int n = -1;
    cr_assert_eq(imi_breaker_call_retry(b, r, NULL, scripted, &s, &n), IMI_OK);
    cr_assert_eq(n, 3);
    cr_assert_eq(s.calls, 3);
    /* Two failed attempts would have opened a 2-failure breaker had each been counted. */
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED);
    unmake();
}

Test(breaker_retry, a_failed_call_counts_once_after_retry_gave_up)
{
    make(2, 0);
    script s = { .codes = { IMI_EUNAVAILABLE }, .n = 1 };
    int n = 0;
    cr_assert_eq(imi_breaker_call_retry(b, r, NULL, scripted, &s, &n), IMI_EUNAVAILABLE);
    cr_assert_eq(n, 4);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED);
    cr_assert_eq(imi_breaker_call_retry(b, r, NULL, scripted, &s, &n), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    unmake();
}

Test(breaker_retry, open_breaker_never_calls)
{
    make(1, 0);
    imi_breaker_call(b, NULL, fail_once, NULL);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    script s = { .codes = { IMI_OK }, .n = 1 };
    int n = -1;
    cr_assert_eq(imi_breaker_call_retry(b, r, NULL, scripted, &s, &n), IMI_EOPEN);
    cr_assert_eq(s.calls, 0);
    cr_assert_eq(n, 0);
    cr_assert_eq(sl.sleeps, 0);
    unmake();
}

Test(breaker_retry, no_retry_once_the_breaker_opened_during_backoff)
{
    make(1, 0);
    sl.trip = b;   /* other calls open the breaker while this one backs off */
    script s = { .codes = { IMI_EUNAVAILABLE, IMI_OK }, .n = 2 };
    int n = -1;
    cr_assert_eq(imi_breaker_call_retry(b, r, NULL, scripted, &s, &n), IMI_EOPEN);
    cr_assert_eq(s.calls, 1, "attempt 2 ran into an open breaker");
    cr_assert_eq(n, 1);
    cr_assert(strstr(imi_error_message(), "users-db"), "%s", imi_error_message());
    unmake();
}

Test(breaker_retry, stops_even_when_retry_on_lists_open)
{
    make(1, IMI_CODE_BIT(IMI_EOPEN));
    sl.trip = b;
    script s = { .codes = { IMI_EUNAVAILABLE, IMI_OK }, .n = 2 };
    int n = -1;
    cr_assert_eq(imi_breaker_call_retry(b, r, NULL, scripted, &s, &n), IMI_EOPEN);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(sl.sleeps, 1, "backed off again after the stop: %d sleeps", sl.sleeps);
    unmake();
}

Test(breaker_retry, bad_arguments)
{
    make(1, 0);
    cr_assert_eq(imi_breaker_call_retry(b, NULL, NULL, scripted, NULL, NULL), IMI_EINVALID);
    cr_assert_eq(imi_breaker_call_retry(NULL, r, NULL, scripted, NULL, NULL), IMI_EINVALID);
    cr_assert_eq(imi_breaker_call_retry(b, r, NULL, NULL, NULL, NULL), IMI_EINVALID);
    unmake();
}
