/* driver = chaos: faults injected in front of any driver, by rate, from a seed that
 * replays; and the resilience components (breaker, retry) tested through it. */
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "support/imi_test.h"

static imi_app *app_of(const char *ini)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "chaos.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

static imi_cache *cache_of(imi_app *app)
{
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    return c;
}

#define HEAD "[log]\nlevel = off\n[cache]\ndriver = chaos\ntarget = mem\n"

Test(chaos, rate_zero_is_the_target)
{
    imi_app *app = app_of(HEAD "max_entries = 10\n");
    imi_cache *c = cache_of(app);
    cr_assert_str_eq(imi_cache_driver_name(c), "mem");
    cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_OK);
    imi_buf v = IMI_BUF_INIT;
    cr_assert_eq(imi_cache_get(c, NULL, "k", &v), IMI_OK);
    imi_buf_free(&v);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(chaos, every_call_fails_with_the_chosen_code)
{
    imi_app *app = app_of(HEAD "chaos_error_rate = 1\nchaos_error = conflict\n");
    imi_cache *c = cache_of(app);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_ECONFLICT);
    cr_assert(strstr(imi_error_message(), "chaos: injected IMI_ECONFLICT"), "%s",
              imi_error_message());
    imi_cache_free(c);
    imi_app_free(app);
}

/* The outcome of n calls at error rate 0.5 from one seed, as a bit string. */
static void pattern(const char *seed, char *out, int n)
{
    char ini[256];
    snprintf(ini, sizeof ini, HEAD "chaos_error_rate = 0.5\nchaos_seed = %s\n", seed);
    imi_app *app = app_of(ini);
    imi_cache *c = cache_of(app);
    for (int i = 0; i < n; i++)
        out[i] = imi_cache_set(c, NULL, "k", "v", 1, 0) == IMI_OK ? '1' : '0';
    out[n] = '\0';
    imi_cache_free(c);
    imi_app_free(app);
}

Test(chaos, a_seed_replays_exactly)
{
    char a[65], b[65], other[65];
    pattern("42", a, 64);
    pattern("42", b, 64);
    pattern("43", other, 64);
    cr_assert_str_eq(a, b, "the same seed gave %s and %s", a, b);
    cr_assert_str_neq(a, other, "another seed gave the same pattern %s", a);
    int ok = 0;
    for (int i = 0; i < 64; i++)
        ok += a[i] == '1';
    cr_assert(ok > 16 && ok < 48, "rate 0.5 gave %d of 64: %s", ok, a);
}

Test(chaos, latency_and_timeouts_respect_the_deadline)
{
    imi_app *app = app_of(HEAD "chaos_latency = 80ms\nchaos_latency_rate = 1\n");
    imi_cache *c = cache_of(app);
    int64_t t0 = now_ms();
    cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_OK);
    cr_assert_geq(now_ms() - t0, 75, "no latency was added");
    imi_ctx *ctx = imi_ctx_new(20);
    t0 = now_ms();
    cr_assert_eq(imi_cache_set(c, ctx, "k", "v", 1, 0), IMI_ETIMEDOUT);
    cr_assert_lt(now_ms() - t0, 70, "the latency outlived the 20 ms deadline");
    imi_ctx_free(ctx);
    imi_cache_free(c);
    imi_app_free(app);

    app = app_of(HEAD "chaos_timeout_rate = 1\n");
    c = cache_of(app);
    ctx = imi_ctx_new(50);
    t0 = now_ms();
    cr_assert_eq(imi_cache_get(c, ctx, "k", &(imi_buf)IMI_BUF_INIT), IMI_ETIMEDOUT);
    cr_assert_geq(now_ms() - t0, 40, "an injected timeout waits out the deadline");
    imi_ctx_free(ctx);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(chaos, bad_settings_name_file_and_line)
{
    struct { const char *ini, *msg; } bad[] = {
        { HEAD "chaos_error_rate = 2\n", "chaos.ini:6: [cache] chaos_error_rate must be from 0 to 1" },
        { HEAD "chaos_error = sometimes\n", "chaos.ini:6: [cache] chaos_error = 'sometimes'" },
        { "[log]\nlevel = off\n[cache]\ndriver = chaos\n", "[cache] has no target" },
        { HEAD "chaos_typo = 1\n", "unknown key 'chaos_typo'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imi_app *app = app_of(bad[i].ini);
        imi_cache *c = NULL;
        cr_expect_eq(imi_cache_open(app, NULL, &c), IMI_ECONFIG, "%s", bad[i].ini);
        cr_expect(strstr(imi_error_message(), bad[i].msg), "'%s' not in: %s", bad[i].msg,
                  imi_error_message());
        imi_app_free(app);
    }
}

/* ---- breaker and retry over a failing backend ---- */

static int cache_set(void *ud, const imi_ctx *ctx, int attempt)
{
    (void)attempt;
    return imi_cache_set(ud, ctx, "k", "v", 1, 0);
}

static int cache_set_once(void *ud, const imi_ctx *ctx) { return cache_set(ud, ctx, 1); }

Test(chaos, breaker_opens_on_a_failing_backend_and_stops_calling_it)
{
    imi_app *app = app_of(HEAD "chaos_error_rate = 1\n[breaker]\nconsecutive_failures = 3\n"
                          "failure_ratio = 0\nopen_for = 10s\n");
    imi_cache *c = cache_of(app);
    imi_breaker_set *bs = NULL;
    cr_assert_eq(imi_breaker_set_open(app, &bs), IMI_OK, "%s", imi_error_message());
    imi_breaker *b = imi_breaker_get(bs, "cache");
    int unavailable = 0, open = 0;
    for (int i = 0; i < 10; i++) {
        int rc = imi_breaker_call(b, NULL, cache_set_once, c);
        unavailable += rc == IMI_EUNAVAILABLE;
        open += rc == IMI_EOPEN;
    }
    cr_assert_eq(unavailable, 3, "the breaker let %d failing calls through", unavailable);
    cr_assert_eq(open, 7);
    imi_breaker_set_free(bs);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(chaos, retry_rides_out_injected_failures)
{
    /* Seed 42 at rate 0.5: a failure here and there, never 8 in a row in 20 calls. */
    imi_app *app = app_of(HEAD "chaos_error_rate = 0.5\nchaos_seed = 42\n[retry]\n"
                          "max_attempts = 8\ninitial = 1ms\nmax_delay = 2ms\n");
    imi_cache *c = cache_of(app);
    imi_retry *r = NULL;
    cr_assert_eq(imi_retry_open(app, NULL, &r), IMI_OK, "%s", imi_error_message());
    int retried = 0;
    for (int i = 0; i < 20; i++) {
        int attempts = 0;
        cr_assert_eq(imi_retry_run(r, NULL, cache_set, c, &attempts), IMI_OK, "call %d: %s", i,
                     imi_error_message());
        retried += attempts > 1;
    }
    cr_assert_gt(retried, 0, "no call needed a retry: the faults did not reach the caller");
    imi_retry_free(r);
    imi_cache_free(c);
    imi_app_free(app);
}

/* A registration released while the keeper is renewing its lease: release waits for the
 * renewal and then frees the keeper's entry itself; the keeper must not free it on its way
 * out of the renewal, under the waiting thread (ASan reports the read if it does). Every
 * call waits 60 ms, so the keeper, renewing each 100 ms (a third of 300), is busy for 60 of
 * every 100 ms; release comes 130 to 160 ms after register returned, within the first
 * renewal. */
Test(chaos, deregister_while_the_keeper_renews)
{
    imi_app *app = app_of("[log]\nlevel = off\n[coord]\ndriver = chaos\ntarget = mem\n"
                          "chaos_latency = 60ms\nchaos_latency_rate = 1\n");
    imi_coord *c = NULL;
    cr_assert_eq(imi_coord_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    for (int i = 0; i < 4; i++) {
        imi_coord_registration *r = NULL;
        cr_assert_eq(imi_coord_register(c, NULL, "svc", NULL, "127.0.0.1:1", 300, &r), IMI_OK,
                     "%s", imi_error_message());
        struct timespec pause = { 0, (100 + 30 + 10 * i) * 1000000L };
        nanosleep(&pause, NULL);
        cr_assert_eq(imi_coord_deregister(r, NULL), IMI_OK, "%s", imi_error_message());
    }
    imi_coord_free(c);
    imi_app_free(app);
}
