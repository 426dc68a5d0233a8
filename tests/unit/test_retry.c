/* retry: the exact schedule under a fake clock, jitter bounds, codes, limits, ctx. */
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "iminfra/retry.h"

typedef struct fake {
    int64_t now;
    int64_t sleeps[64];
    int n_sleeps;
    uint64_t rnd;          /* what rand64 returns */
    imi_ctx *cancel_on_sleep;
} fake;

static int64_t f_now(void *ud) { return ((fake *)ud)->now; }
static uint64_t f_rand(void *ud) { return ((fake *)ud)->rnd; }
static int f_sleep(void *ud, const imi_ctx *ctx, int64_t ns)
{
    fake *f = ud;
    (void)ctx;
    if (f->n_sleeps < 64)
        f->sleeps[f->n_sleeps++] = ns;
    if (f->cancel_on_sleep) {
        imi_ctx_cancel(f->cancel_on_sleep);
        return IMI_ECANCELED;
    }
    f->now += ns;
    return IMI_OK;
}

typedef struct script {
    const int *codes;   /* returned by attempt i (1-based), IMI_OK past the end */
    int n;
    int calls;
    int64_t *at;        /* fake time of each call */
    fake *f;
} script;

static int scripted(void *ud, const imi_ctx *ctx, int attempt)
{
    script *s = ud;
    (void)ctx;
    cr_assert_eq(attempt, s->calls + 1);
    if (s->at)
        s->at[s->calls] = s->f->now;
    s->calls++;
    return attempt <= s->n ? s->codes[attempt - 1] : IMI_OK;
}

static imi_retry *make(const imi_retry_policy *p, fake *f)
{
    imi_retry_hooks h = { .now_ns = f_now, .sleep_ns = f_sleep, .rand64 = f_rand, .ud = f };
    imi_retry *r = NULL;
    cr_assert_eq(imi_retry_new(p, NULL, NULL, &h, &r), IMI_OK);
    return r;
}

#define MS 1000000LL

Test(retry, exponential_schedule_with_cap_is_exact)
{
    fake f = { .now = 1000 * MS };
    imi_retry_policy p = { .max_attempts = 7, .backoff = IMI_BACKOFF_EXPONENTIAL,
                           .initial_ms = 100, .max_delay_ms = 1000, .multiplier = 2,
                           .retry_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) };
    imi_retry *r = make(&p, &f);
    int codes[10];
    for (int i = 0; i < 10; i++)
        codes[i] = IMI_EUNAVAILABLE;
    int64_t at[10];
    script s = { .codes = codes, .n = 10, .at = at, .f = &f };
    int attempts = 0;
    cr_assert_eq(imi_retry_run(r, NULL, scripted, &s, &attempts), IMI_EUNAVAILABLE);
    cr_assert_eq(attempts, 7);
    cr_assert_eq(s.calls, 7);
    const int64_t want[] = { 100, 200, 400, 800, 1000, 1000 };
    cr_assert_eq(f.n_sleeps, 6);
    for (int i = 0; i < 6; i++) {
        cr_assert_eq(f.sleeps[i], want[i] * MS, "sleep %d: %lld", i, (long long)f.sleeps[i]);
    }
    const int64_t when[] = { 0, 100, 300, 700, 1500, 2500, 3500 };
    for (int i = 0; i < 7; i++)
        cr_assert_eq(at[i] - 1000 * MS, when[i] * MS);
    imi_retry_free(r);
}

Test(retry, constant_schedule_and_success_stops)
{
    fake f = { 0 };
    imi_retry_policy p = { .max_attempts = 10, .backoff = IMI_BACKOFF_CONSTANT, .initial_ms = 30,
                           .retry_on = IMI_CODE_BIT(IMI_ETIMEDOUT) };
    imi_retry *r = make(&p, &f);
    int codes[] = { IMI_ETIMEDOUT, IMI_ETIMEDOUT, IMI_ETIMEDOUT };
    script s = { .codes = codes, .n = 3, .f = &f };
    int attempts;
    cr_assert_eq(imi_retry_run(r, NULL, scripted, &s, &attempts), IMI_OK);
    cr_assert_eq(attempts, 4);
    cr_assert_eq(f.n_sleeps, 3);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(f.sleeps[i], 30 * MS);
    cr_assert_eq(f.now, 90 * MS);
    imi_retry_free(r);
}

Test(retry, full_jitter_bounds)
{
    fake f = { 0 };
    imi_retry_policy p = { .max_attempts = 4, .initial_ms = 100, .multiplier = 3,
                           .max_delay_ms = 10000, .jitter = true,
                           .retry_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) };
    int codes[] = { IMI_EUNAVAILABLE, IMI_EUNAVAILABLE, IMI_EUNAVAILABLE, IMI_EUNAVAILABLE };
    /* the largest random value gives the whole delay, zero gives no sleep at all */
    f.rnd = 0;
    imi_retry *r = make(&p, &f);
    script s = { .codes = codes, .n = 4, .f = &f };
    cr_assert_eq(imi_retry_run(r, NULL, scripted, &s, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(f.n_sleeps, 0);
    cr_assert_eq(f.now, 0);
    f.rnd = 100 * MS;  /* = delay 1 exactly: rand % (d + 1) */
    s.calls = 0;
    cr_assert_eq(imi_retry_run(r, NULL, scripted, &s, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(f.n_sleeps, 3);
    cr_assert_eq(f.sleeps[0], 100 * MS);
    cr_assert_eq(f.sleeps[1], 100 * MS);  /* 100ms % (300ms + 1) */
    imi_retry_free(r);

    /* the real random source: every sleep within [0, delay], and not all the same */
    imi_retry_hooks h = { .now_ns = f_now, .sleep_ns = f_sleep, .ud = &f };
    cr_assert_eq(imi_retry_new(&p, NULL, NULL, &h, &r), IMI_OK);
    int64_t lo = INT64_MAX, hi = 0;
    for (int round = 0; round < 200; round++) {
        f.n_sleeps = 0;
        s.calls = 0;
        imi_retry_run(r, NULL, scripted, &s, NULL);
        cr_assert_eq(f.n_sleeps, 3);
        for (int i = 0; i < 3; i++) {
            int64_t d = imi_retry_delay_ms(&p, i + 1) * MS;
            cr_assert(f.sleeps[i] >= 0 && f.sleeps[i] <= d, "sleep %lld past %lld",
                      (long long)f.sleeps[i], (long long)d);
        }
        lo = f.sleeps[0] < lo ? f.sleeps[0] : lo;
        hi = f.sleeps[0] > hi ? f.sleeps[0] : hi;
    }
    cr_assert(hi - lo > 50 * MS, "jitter spread only %lld ns", (long long)(hi - lo));
    imi_retry_free(r);
}

Test(retry, non_retryable_code_returns_at_once)
{
    fake f = { 0 };
    imi_retry_policy p = imi_retry_policy_default();
    imi_retry *r = make(&p, &f);
    int codes[] = { IMI_EUNAVAILABLE, IMI_ENOTFOUND };
    script s = { .codes = codes, .n = 2, .f = &f };
    int attempts;
    cr_assert_eq(imi_retry_run(r, NULL, scripted, &s, &attempts), IMI_ENOTFOUND);
    cr_assert_eq(attempts, 2);
    cr_assert(imi_retry_retryable(r, IMI_EUNAVAILABLE));
    cr_assert(imi_retry_retryable(r, IMI_ETIMEDOUT));
    cr_assert_not(imi_retry_retryable(r, IMI_EINVALID));
    cr_assert_not(imi_retry_retryable(r, IMI_ECANCELED));
    cr_assert_not(imi_retry_retryable(r, IMI_OK));
    imi_retry_free(r);
}

static bool only_conflict(void *ud, int code)
{
    (*(int *)ud)++;
    return code == IMI_ECONFLICT;
}

Test(retry, predicate_replaces_codes)
{
    fake f = { 0 };
    imi_retry_policy p = { .max_attempts = 5, .initial_ms = 1 };
    imi_retry_hooks h = { .now_ns = f_now, .sleep_ns = f_sleep, .rand64 = f_rand, .ud = &f };
    int asked = 0;
    imi_retry *r;
    cr_assert_eq(imi_retry_new(&p, only_conflict, &asked, &h, &r), IMI_OK);
    int codes[] = { IMI_ECONFLICT, IMI_ECONFLICT, IMI_EUNAVAILABLE };
    script s = { .codes = codes, .n = 3, .f = &f };
    cr_assert_eq(imi_retry_run(r, NULL, scripted, &s, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(s.calls, 3);
    cr_assert_eq(asked, 3);
    imi_retry_free(r);
}

Test(retry, max_elapsed_stops_before_a_sleep_past_it)
{
    fake f = { 0 };
    imi_retry_policy p = { .max_attempts = 0, .max_elapsed_ms = 1000, .initial_ms = 300,
                           .backoff = IMI_BACKOFF_CONSTANT,
                           .retry_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) };
    imi_retry *r = make(&p, &f);
    int codes[100];
    for (int i = 0; i < 100; i++)
        codes[i] = IMI_EUNAVAILABLE;
    script s = { .codes = codes, .n = 100, .f = &f };
    cr_assert_eq(imi_retry_run(r, NULL, scripted, &s, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(s.calls, 4);           /* at 0, 300, 600, 900; 1200 would pass 1000 */
    cr_assert_eq(f.now, 900 * MS);
    imi_retry_free(r);
}

Test(retry, ctx_deadline_and_cancel)
{
    fake f = { .now = imi_now_mono_ns() };
    imi_retry_policy p = { .max_attempts = 0, .initial_ms = 400, .backoff = IMI_BACKOFF_CONSTANT,
                           .retry_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) };
    imi_retry *r = make(&p, &f);
    int codes[100];
    for (int i = 0; i < 100; i++)
        codes[i] = IMI_EUNAVAILABLE;
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_set_deadline_ns(ctx, f.now + 1000 * MS);
    script s = { .codes = codes, .n = 100, .f = &f };
    cr_assert_eq(imi_retry_run(r, ctx, scripted, &s, NULL), IMI_ETIMEDOUT);
    cr_assert_eq(s.calls, 3);           /* at 0, 400, 800; 1200 is past the deadline */
    cr_assert(strstr(imi_error_message(), "IMI_EUNAVAILABLE"), "%s", imi_error_message());
    imi_ctx_free(ctx);

    ctx = imi_ctx_new(0);
    f.cancel_on_sleep = ctx;
    s.calls = 0;
    cr_assert_eq(imi_retry_run(r, ctx, scripted, &s, NULL), IMI_ECANCELED);
    cr_assert_eq(s.calls, 1);
    cr_assert_eq(imi_retry_run(r, ctx, scripted, &s, NULL), IMI_ECANCELED);
    cr_assert_eq(s.calls, 1, "a cancelled ctx runs nothing");
    imi_ctx_free(ctx);
    imi_retry_free(r);
}

Test(retry, real_sleep_wakes_on_cancel)
{
    imi_retry_policy p = { .max_attempts = 0, .initial_ms = 60000,
                           .backoff = IMI_BACKOFF_CONSTANT,
                           .retry_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) };
    imi_retry *r;
    cr_assert_eq(imi_retry_new(&p, NULL, NULL, NULL, &r), IMI_OK);
    imi_ctx *ctx = imi_ctx_new(300);
    int codes[] = { IMI_EUNAVAILABLE };
    script s = { .codes = codes, .n = 1 };
    int64_t t0 = imi_now_mono_ns();
    cr_assert_eq(imi_retry_run(r, ctx, scripted, &s, NULL), IMI_ETIMEDOUT);
    cr_assert(imi_now_mono_ns() - t0 < 200 * MS, "did not stop before a sleep past the deadline");
    imi_ctx_free(ctx);
    imi_retry_free(r);
}

Test(retry, open_from_config)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[retry]\nmax_attempts = 5\ninitial = 50ms\n"
                                  "retry_on = unavailable, IMI_ECONFLICT\n"
                                  "[retry.db]\nbackoff = constant\njitter = none\n",
                                  "t.ini", ".", &cfg), IMI_OK);
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_retry *r;
    cr_assert_eq(imi_retry_open(app, "db", &r), IMI_OK, "%s", imi_error_message());
    const imi_retry_policy *p = imi_retry_get_policy(r);
    cr_assert_eq(p->max_attempts, 5);
    cr_assert_eq(p->initial_ms, 50);
    cr_assert_eq(p->backoff, IMI_BACKOFF_CONSTANT);
    cr_assert_not(p->jitter);
    cr_assert_eq(p->retry_on, IMI_CODE_BIT(IMI_EUNAVAILABLE) | IMI_CODE_BIT(IMI_ECONFLICT));
    imi_retry_free(r);
    cr_assert_eq(imi_retry_open(app, "nope", &r), IMI_ECONFIG);
    imi_app_free(app);

    const char *bad[][2] = {
        { "[retry]\nmax_atempts = 5\n", "t.ini:2: unknown key 'max_atempts'" },
        { "[retry]\n\nbackoff = linear\n", "t.ini:3: backoff" },
        { "[retry]\nretry_on = unavailable, bogus\n", "t.ini:2: retry_on: 'bogus'" },
        { "[retry]\ninitial = soon\n", "t.ini:2: initial" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(imi_config_parse(bad[i][0], "t.ini", ".", &cfg), IMI_OK);
        cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK);
        cr_assert_eq(imi_retry_open(app, NULL, &r), IMI_ECONFIG);
        cr_assert(strstr(imi_error_message(), bad[i][1]), "'%s' not in '%s'", bad[i][1],
                  imi_error_message());
        imi_app_free(app);
    }
}
