/* ratelimit: rule syntax, local buckets (burst, refill, never over-granting under
 * threads), wait, run-time rules, distributed buckets on the mem cache, fail-open and
 * fail-closed. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "iminfra/ratelimit.h"
#include "ratelimit_internal.h"
#include "imi_test.h"

static imi_app *app_of(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "r.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

static imi_ratelimit *open_rl(imi_app *app, const char *name)
{
    imi_ratelimit *rl;
    cr_assert_eq(imi_ratelimit_open(app, name, &rl), IMI_OK, "%s", imi_error_message());
    return rl;
}

Test(ratelimit, rule_syntax)
{
    imi_app *app = app_of("[log]\nlevel = off\n[ratelimit]\nrule.login = 10/s burst 20\n"
                          "rule.api = 600/m\nrule.slow = 0.5/s\nrule.day = 1000/d burst 5\n");
    imi_ratelimit *rl = open_rl(app, NULL);
    imi_ratelimit_rule_info in;
    cr_assert_eq(imi_ratelimit_rule(rl, "login", &in), IMI_OK);
    cr_assert_float_eq(in.rate, 10.0, 1e-9);
    cr_assert_eq(in.burst, 20);
    cr_assert_not(in.distributed);
    cr_assert_eq(imi_ratelimit_rule(rl, "api", &in), IMI_OK);
    cr_assert_float_eq(in.rate, 10.0, 1e-9);
    cr_assert_eq(in.burst, 600);
    cr_assert_eq(imi_ratelimit_rule(rl, "slow", &in), IMI_OK);
    cr_assert_eq(in.burst, 1);
    cr_assert_eq(imi_ratelimit_rule(rl, "nope", &in), IMI_ENOTFOUND);
    cr_assert_null(imi_ratelimit_get(rl, "nope", "x"));
    cr_assert_eq(imi_error_code(), IMI_ENOTFOUND);
    /* A misspelt rule fails closed: an unknown rule is an error, not "no limit". */
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "nope", "x", 1, NULL), IMI_ENOTFOUND);
    cr_assert(strstr(imi_error_message(), "has no rule 'nope'"), "%s", imi_error_message());
    imi_ratelimit_free(rl);
    imi_app_free(app);
    /* ... unless the config says unknown rules pass. */
    app = app_of("[log]\nlevel = off\n[ratelimit]\nunknown_rule = allow\nrule.a = 1/s\n");
    rl = open_rl(app, NULL);
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "nope", "x", 1, NULL), IMI_OK);
    imi_ratelimit_free(rl);
    imi_app_free(app);
    app = app_of("[log]\nlevel = off\n[ratelimit]\nunknown_rule = maybe\n");
    cr_assert_eq(imi_ratelimit_open(app, NULL, &rl), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "unknown_rule = 'maybe' is not deny or allow"), "%s",
              imi_error_message());
    imi_app_free(app);

    const char *bad[][2] = {
        { "[ratelimit]\nrule.a = 10/x\n", "r.ini:2: rule.a: '10/x' is not RATE/UNIT" },
        { "[ratelimit]\n\nrule.a = 10/s burst\n", "r.ini:3: rule.a: burst" },
        { "[ratelimit]\nrule.a = 10/s bursty\n", "r.ini:2: rule.a: 'bursty'" },
        { "[ratelimit]\nrule.a = -1/s\n", "r.ini:2" },
        { "[ratelimit]\nrules.a = 1/s\n", "r.ini:2: unknown key 'rules.a'" },
        { "[ratelimit]\nmode = global\n", "r.ini:2: mode" },
        { "[ratelimit]\non_backend_error = maybe\n", "r.ini:2: on_backend_error" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        app = app_of(bad[i][0]);
        cr_assert_eq(imi_ratelimit_open(app, NULL, &rl), IMI_ECONFIG, "%s", bad[i][0]);
        cr_assert(strstr(imi_error_message(), bad[i][1]), "'%s' not in '%s'", bad[i][1],
                  imi_error_message());
        imi_app_free(app);
    }
}

Test(ratelimit, local_burst_then_refill)
{
    imi_app *app = app_of("[log]\nlevel = off\n[ratelimit]\nrule.r = 100/s burst 5\n");
    imi_ratelimit *rl = open_rl(app, NULL);
    imi_ratelimit_bucket *b = imi_ratelimit_get(rl, "r", "user:1");
    cr_assert_not_null(b);
    cr_assert_eq(imi_ratelimit_get(rl, "r", "user:1"), b, "one bucket per pair");
    for (int i = 0; i < 5; i++)
        cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_OK, "token %d", i);
    int64_t after = -1;
    cr_assert_eq(imi_ratelimit_allow_n(b, NULL, 1, &after), IMI_ELIMITED);
    cr_assert(after >= 1 && after <= 10, "retry after %lld ms", (long long)after);
    cr_assert_eq(imi_ratelimit_allow(imi_ratelimit_get(rl, "r", "user:2"), NULL), IMI_OK,
                 "buckets are per resource");
    cr_assert_eq(imi_ratelimit_allow_n(b, NULL, 6, NULL), IMI_EINVALID);
    sleep_ms(35);  /* 3.5 tokens at 100/s */
    int got = 0;
    while (imi_ratelimit_allow(b, NULL) == IMI_OK)
        got++;
    cr_assert(got >= 3 && got <= 5, "%d tokens after 35ms", got);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}

typedef struct grab {
    imi_ratelimit_bucket *b;
    atomic_long *granted;
} grab;

static void *grab_run(void *arg)
{
    grab *g = arg;
    for (int i = 0; i < 200000; i++)
        if (imi_ratelimit_allow(g->b, NULL) == IMI_OK)
            atomic_fetch_add(g->granted, 1);
    return NULL;
}

Test(ratelimit, local_never_over_grants_under_threads)
{
    /* 1000 tokens, and well under one more in the time the threads run */
    imi_app *app = app_of("[log]\nlevel = off\n[ratelimit]\nrule.r = 1/h burst 1000\n"
                          "rule.fast = 1000/s burst 10\n");
    imi_ratelimit *rl = open_rl(app, NULL);
    atomic_long granted = 0;
    grab g = { imi_ratelimit_get(rl, "r", "shared"), &granted };
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, grab_run, &g);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(atomic_load(&granted), 1000);

    /* a fast rule: grants over a measured time stay within burst + rate * time */
    atomic_store(&granted, 0);
    g.b = imi_ratelimit_get(rl, "fast", "shared");
    int64_t t0 = imi_now_mono_ns();
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, grab_run, &g);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    double secs = (double)(imi_now_mono_ns() - t0) / 1e9;
    long most = 10 + (long)(1000 * secs) + 1;
    cr_assert(atomic_load(&granted) <= most, "%ld granted in %.3fs, at most %ld",
              atomic_load(&granted), secs, most);
    cr_assert(atomic_load(&granted) >= 10);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}

Test(ratelimit, wait_within_the_deadline)
{
    imi_app *app = app_of("[log]\nlevel = off\n[ratelimit]\nrule.r = 20/s burst 1\n");
    imi_ratelimit *rl = open_rl(app, NULL);
    imi_ratelimit_bucket *b = imi_ratelimit_get(rl, "r", "x");
    cr_assert_eq(imi_ratelimit_wait(b, NULL, 1), IMI_OK);
    int64_t t0 = imi_now_mono_ns();
    cr_assert_eq(imi_ratelimit_wait(b, NULL, 1), IMI_OK);  /* ~50 ms */
    int64_t took = imi_now_mono_ns() - t0;
    cr_assert(took >= 35000000 && took < 500000000, "waited %lld ns", (long long)took);
    imi_ctx *ctx = imi_ctx_new(10);
    t0 = imi_now_mono_ns();
    cr_assert_eq(imi_ratelimit_wait(b, ctx, 1), IMI_ETIMEDOUT);
    cr_assert(imi_now_mono_ns() - t0 < 8000000, "gave up at once");
    imi_ctx_free(ctx);
    ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    cr_assert_eq(imi_ratelimit_wait(b, ctx, 1), IMI_ECANCELED);
    imi_ctx_free(ctx);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}

Test(ratelimit, run_time_rules)
{
    imi_app *app = app_of("[log]\nlevel = off\n[ratelimit]\nrule.r = 1/h burst 2\n");
    imi_ratelimit *rl = open_rl(app, NULL);
    imi_ratelimit_bucket *b = imi_ratelimit_get(rl, "r", "x");
    cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_ELIMITED);
    /* a bigger burst applies at once to the existing bucket */
    cr_assert_eq(imi_ratelimit_set_rule(rl, "r", "1/h burst 4", "coord key rl/r"), IMI_OK);
    cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_ELIMITED);
    cr_assert_eq(imi_ratelimit_set_rule(rl, "r", "fast", "coord key rl/r"), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "coord key rl/r"), "%s", imi_error_message());
    /* removal goes back to the config's rule */
    cr_assert_eq(imi_ratelimit_set_rule(rl, "r", NULL, NULL), IMI_OK);
    imi_ratelimit_rule_info in;
    cr_assert_eq(imi_ratelimit_rule(rl, "r", &in), IMI_OK);
    cr_assert_eq(in.burst, 2);
    /* a rule that only exists at run time, then is removed: no limit */
    cr_assert_eq(imi_ratelimit_set_rule(rl, "new", "1/h burst 1", NULL), IMI_OK);
    imi_ratelimit_bucket *n = imi_ratelimit_get(rl, "new", "x");
    cr_assert_not_null(n);
    cr_assert_eq(imi_ratelimit_allow(n, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_allow(n, NULL), IMI_ELIMITED);
    cr_assert_eq(imi_ratelimit_set_rule(rl, "new", NULL, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_allow(n, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_rule(rl, "new", &in), IMI_ENOTFOUND);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}

#define DIST_CFG(mode)                                                                  \
    "[log]\nlevel = off\n[cache.rl]\ndriver = mem\n[ratelimit]\nmode = distributed\n"  \
    "cache = rl\non_backend_error = " mode "\nrule.r = 1/h burst 3\nrule.l = 1/h burst 1 local\n"

Test(ratelimit, distributed_on_the_mem_cache)
{
    imi_app *app = app_of(DIST_CFG("open"));
    imi_ratelimit *a = open_rl(app, NULL), *b = open_rl(app, NULL);
    imi_ratelimit_rule_info in;
    cr_assert_eq(imi_ratelimit_rule(a, "r", &in), IMI_OK);
    cr_assert(in.distributed);
    cr_assert_eq(imi_ratelimit_rule(a, "l", &in), IMI_OK);
    cr_assert_not(in.distributed);
    /* two limiters on one cache instance share nothing (mem caches are per open) ... */
    imi_ratelimit_bucket *ba = imi_ratelimit_get(a, "r", "u");
    for (int i = 0; i < 3; i++)
        cr_assert_eq(imi_ratelimit_allow(ba, NULL), IMI_OK, "%s", imi_error_message());
    int64_t after = 0;
    cr_assert_eq(imi_ratelimit_allow_n(ba, NULL, 1, &after), IMI_ELIMITED);
    cr_assert(after > 1000, "retry after %lld ms", (long long)after);
    cr_assert_eq(imi_ratelimit_backend_errors(a), 0);
    /* ... and the cache key is <key_prefix><rule>:<resource> */
    imi_buf v = IMI_BUF_INIT;
    imi_cache *c = atomic_load(&a->cache);
    cr_assert_eq(imi_cache_exists(c, NULL, "rl:r:u"), IMI_OK);
    imi_buf_free(&v);
    imi_ratelimit_free(b);
    imi_ratelimit_free(a);
    imi_app_free(app);
}

Test(ratelimit, backend_down_fail_open_and_closed)
{
    const char *modes[] = { "open", "closed" };
    for (int m = 0; m < 2; m++) {
        imi_app *app = app_of(m ? DIST_CFG("closed") : DIST_CFG("open"));
        imi_ratelimit *rl = open_rl(app, NULL);
        imi_ratelimit_bucket *b = imi_ratelimit_get(rl, "r", "u");
        cr_assert_eq(imi_ratelimit_allow(b, NULL), IMI_OK);
        /* the backend goes away: every take fails with IMI_ECLOSED */
        imi_cache_close(atomic_load(&rl->cache));
        for (int i = 0; i < 5; i++)
            cr_assert_eq(imi_ratelimit_allow(b, NULL), m ? IMI_ELIMITED : IMI_OK, "%s",
                         modes[m]);
        cr_assert_eq(imi_ratelimit_backend_errors(rl), 5);
        /* local rules do not care */
        cr_assert_eq(imi_ratelimit_allow(imi_ratelimit_get(rl, "l", "u"), NULL), IMI_OK);
        imi_ratelimit_free(rl);
        imi_app_free(app);
    }
}

Test(ratelimit, named_limiter_is_its_own_section)
{
    imi_app *app = app_of("[log]\nlevel = off\n[ratelimit]\nrule.a = 1/s\n"
                          "[ratelimit.edge]\nrule.b = 5/s\n");
    imi_ratelimit *rl = open_rl(app, "edge");
    imi_ratelimit_rule_info in;
    cr_assert_eq(imi_ratelimit_rule(rl, "b", &in), IMI_OK);
    cr_assert_eq(imi_ratelimit_rule(rl, "a", &in), IMI_ENOTFOUND);
    imi_ratelimit_free(rl);
    cr_assert_eq(imi_ratelimit_open(app, "nope", &rl), IMI_ECONFIG);
    imi_app_free(app);
}
