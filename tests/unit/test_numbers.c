/* One rule for numbers: durations, sizes, TTLs, rates and epochs are range-checked where
 * they are parsed or passed in, with the range in the error, and unit conversions
 * saturate or refuse instead of wrapping. A set that returns IMI_OK keeps its data. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "breaker_internal.h"

static imi_app *app_of(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "n.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

/* ---- config parsers ------------------------------------------------------------------- */

Test(numbers, durations_out_of_range_or_not_decimal_are_refused)
{
    static const char *const bad[] = {
        "9223372036854775807", "nan", "inf", "0x1p63ms", "0x10", "-1", "-5s", "1e300",
        "2562047788015h", "3153600000001", "876001h", "1e19ms", "", "s", ".ms", "1e", "+5s",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = -7;
        cr_expect_eq(imi_parse_duration_ms(bad[i], &v), IMI_EINVALID, "'%s' was accepted as %lld",
                     bad[i], (long long)v);
    }
    int64_t v;
    cr_assert_eq(imi_parse_duration_ms("3153600000000", &v), IMI_OK);
    cr_assert_eq(v, IMI_DURATION_MAX_MS);
    cr_assert_eq(imi_parse_duration_ms("876000h", &v), IMI_OK);
    cr_assert_eq(v, IMI_DURATION_MAX_MS);
    cr_assert_eq(imi_parse_duration_ms("1.5s", &v), IMI_OK);
    cr_assert_eq(v, 1500);
    cr_assert_eq(imi_parse_duration_ms("0", &v), IMI_OK);
    cr_assert_eq(v, 0);
    cr_assert_eq(imi_parse_duration_ms("250MS", &v), IMI_OK);
    cr_assert_eq(v, 250);
}

Test(numbers, sizes_out_of_range_are_refused)
{
    static const char *const bad[] = { "9223372036854775807", "1025g", "1e13", "nan", "-1k",
                                       "0x400", "inf" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v;
        cr_expect_eq(imi_parse_size(bad[i], &v), IMI_EINVALID, "'%s' was accepted", bad[i]);
    }
    int64_t v;
    cr_assert_eq(imi_parse_size("1024g", &v), IMI_OK);
    cr_assert_eq(v, IMI_SIZE_MAX);
    cr_assert_eq(imi_parse_size("64k", &v), IMI_OK);
    cr_assert_eq(v, 65536);
}

Test(numbers, doubles_are_finite_decimals)
{
    static const char *const bad[] = { "nan", "NAN", "inf", "-inf", "infinity", "0x1p3", "1e999",
                                       "", "1.2.3", " 1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double d;
        cr_expect_eq(imi_parse_double(bad[i], &d), IMI_EINVALID, "'%s' was accepted", bad[i]);
    }
    double d;
    cr_assert_eq(imi_parse_double("-0.25", &d), IMI_OK);
    cr_assert_eq(d, -0.25);
    cr_assert_eq(imi_parse_double("1e-3", &d), IMI_OK);
    cr_assert_eq(d, 1e-3);
}

Test(numbers, config_errors_name_file_line_and_range)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[a]\nx = 1\nt = 9223372036854775807\n", "n.ini", ".", &cfg),
                 IMI_OK);
    int64_t v = 0;
    cr_assert_eq(imi_config_get_duration_ms(cfg, "a", "t", &v), IMI_ECONFIG);
    const char *m = imi_error_message();
    cr_assert(strstr(m, "n.ini:3: [a] t = '9223372036854775807' is not a duration from 0 to "
                        "3153600000000ms"), "%s", m);
    imi_config_free(cfg);
}

/* ---- ctx ---------------------------------------------------------------------------- */

Test(numbers, huge_ctx_timeout_is_no_deadline_in_practice)
{
    imi_ctx *ctx = imi_ctx_new(INT64_MAX);
    cr_assert_eq(imi_ctx_err(ctx), IMI_OK, "born expired: %s", imi_error_message());
    cr_assert_gt(imi_ctx_remaining_ms(ctx, 1), IMI_DURATION_MAX_MS - 60000);
    imi_ctx *child = imi_ctx_child(ctx, INT64_MAX / 2);
    cr_assert_eq(imi_ctx_err(child), IMI_OK);
    imi_ctx_free(child);
    imi_ctx_free(ctx);
    cr_assert_eq(imi_ms_to_ns_sat(INT64_MAX), IMI_DURATION_MAX_MS * 1000000);
    cr_assert_eq(imi_ms_to_ns_sat(-5), 0);
}

/* ---- ratelimit ---------------------------------------------------------------------- */

static int rule_error(const char *spec, char *msg, size_t cap)
{
    imi_app *app = app_of("[log]\nlevel = off\n");
    imi_ratelimit *rl;
    cr_assert_eq(imi_ratelimit_open(app, NULL, &rl), IMI_OK, "%s", imi_error_message());
    int rc = imi_ratelimit_set_rule(rl, "r", spec, "test");
    snprintf(msg, cap, "%s", imi_error_message());
    if (!rc) {
        /* accepted: it must then grant its burst, never deny everything */
        imi_ratelimit_rule_info in;
        cr_assert_eq(imi_ratelimit_rule(rl, "r", &in), IMI_OK);
        int64_t after = -1;
        cr_assert_eq(imi_ratelimit_check(rl, NULL, "r", "x", in.burst, &after), IMI_OK,
                     "'%s' denies its burst (retry after %lld ms)", spec, (long long)after);
        if (in.rate < 1000) { /* faster ones refill between two calls */
            cr_assert_eq(imi_ratelimit_check(rl, NULL, "r", "x", 1, &after), IMI_ELIMITED,
                         "'%s' grants more than its burst", spec);
            cr_assert(after > 0 && after <= IMI_DURATION_MAX_MS, "retry after %lld",
                      (long long)after);
        }
    }
    imi_ratelimit_free(rl);
    imi_app_free(app);
    return rc;
}

Test(numbers, ratelimit_rates_and_bursts_at_the_edges)
{
    char m[512];
    cr_assert_eq(rule_error("1/d burst 200000", m, sizeof m), IMI_ECONFIG);
    cr_assert(strstr(m, "burst is from 1 to 36500"), "%s", m);
    cr_assert_eq(rule_error("1e-300/s", m, sizeof m), IMI_ECONFIG);
    cr_assert(strstr(m, "outside 1/d to 1000000000/s"), "%s", m);
    cr_assert_eq(rule_error("1e300/s", m, sizeof m), IMI_ECONFIG);
    cr_assert_eq(rule_error("nan/s", m, sizeof m), IMI_ECONFIG);
    cr_assert_eq(rule_error("inf/s", m, sizeof m), IMI_ECONFIG);
    cr_assert_eq(rule_error("0.5/d", m, sizeof m), IMI_ECONFIG);
    cr_assert_eq(rule_error("1/s burst 1000000000001", m, sizeof m), IMI_ECONFIG);
    cr_assert(strstr(m, "from 1 to 1000000000000"), "%s", m);
    cr_assert_eq(rule_error("1/d burst 36500", m, sizeof m), IMI_OK, "%s", m);
    cr_assert_eq(rule_error("1/d", m, sizeof m), IMI_OK, "%s", m);
    cr_assert_eq(rule_error("1000000000/s", m, sizeof m), IMI_OK, "%s", m);
    cr_assert_eq(rule_error("1000000000/s burst 1000000000000", m, sizeof m), IMI_OK, "%s", m);
    cr_assert_eq(rule_error("86400000000000/d", m, sizeof m), IMI_ECONFIG, "%s", m);
    cr_assert(strstr(m, "the burst (by default RATE) is from 1 to 1000000000000"), "%s", m);
    cr_assert_eq(rule_error("86400000000000/d burst 1000", m, sizeof m), IMI_OK, "%s", m);
}

/* ---- uid epoch, breaker open_for ------------------------------------------------------ */

Test(numbers, uid_epoch_out_of_range_is_refused)
{
    static const char *const bad[] = { "2147483647-12-31", "99999-01-01", "9223372036854775807",
                                       "1969-12-31" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[log]\nlevel = off\n[uid]\nworker_id = 1\nepoch = %s\n",
                 bad[i]);
        imi_app *app = app_of(text);
        imi_uid *u = NULL;
        cr_expect_eq(imi_uid_open(app, NULL, &u), IMI_ECONFIG, "epoch %s accepted", bad[i]);
        cr_expect(strstr(imi_error_message(), "from 1970-01-01"), "%s", imi_error_message());
        imi_uid_free(u);
        imi_app_free(app);
    }
}

Test(numbers, breaker_open_for_out_of_range_is_refused)
{
    imi_app *app = app_of("[log]\nlevel = off\n[breaker]\nopen_for = 9300000000000ms\n");
    imi_breaker_set *s = NULL;
    cr_assert_eq(imi_breaker_set_open(app, &s), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "n.ini:4: open_for = '9300000000000ms' is "
                                          "not a duration from 0 to 3153600000000ms"),
              "%s", imi_error_message());
    imi_app_free(app);

    imi_breaker_policy p = imi_breaker_policy_default();
    p.open_ms = INT64_MAX / 1000;
    cr_assert_eq(imi_breaker_set_new(&p, NULL, &s), IMI_EINVALID);

    /* at the longest open_for the open breaker stays open */
    p.open_ms = IMI_DURATION_MAX_MS;
    p.consecutive_failures = 1;
    cr_assert_eq(imi_breaker_set_new(&p, NULL, &s), IMI_OK, "%s", imi_error_message());
    imi_breaker *b = imi_breaker_get(s, "r");
    imi_breaker_ticket t;
    cr_assert_eq(imi_breaker_enter(b, &t), IMI_OK);
    imi_breaker_leave(b, t, IMI_EUNAVAILABLE);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    cr_assert_eq(imi_breaker_enter(b, &t), IMI_EOPEN, "the open breaker let a call through");
    imi_breaker_set_free(s);
}

Test(numbers, breaker_policies_compare_by_field_not_by_padding)
{
    imi_breaker_policy a, b;
    memset(&a, 0x00, sizeof a);
    memset(&b, 0xa5, sizeof b);  /* different padding bytes, the same fields */
    imi_breaker_policy d = imi_breaker_policy_default();
    a.consecutive_failures = b.consecutive_failures = d.consecutive_failures;
    a.failure_ratio = b.failure_ratio = d.failure_ratio;
    a.window_ms = b.window_ms = d.window_ms;
    a.min_calls = b.min_calls = d.min_calls;
    a.open_ms = b.open_ms = d.open_ms;
    a.half_open_probes = b.half_open_probes = d.half_open_probes;
    a.half_open_successes = b.half_open_successes = d.half_open_successes;
    a.failure_on = b.failure_on = d.failure_on;
    cr_assert(imi_breaker_policy_equal(&a, &b));
    b.open_ms++;
    cr_assert_not(imi_breaker_policy_equal(&a, &b));
}

/* ---- in-process drivers ---------------------------------------------------------------- */

Test(numbers, cache_mem_keeps_what_it_accepts)
{
    imi_app *app = app_of("[log]\nlevel = off\n[cache]\ndriver = mem\n");
    imi_cache *c;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    int rc = imi_cache_set(c, NULL, "k", "v", 1, INT64_MAX);
    imi_buf v = IMI_BUF_INIT;
    if (rc == IMI_OK)
        cr_assert_eq(imi_cache_get(c, NULL, "k", &v), IMI_OK, "set OK, then the key was gone");
    else
        cr_assert_eq(rc, IMI_EINVALID);
    /* The front-end refuses first; the driver's own check stays behind it. */
    cr_assert(strstr(imi_error_message(), "to 3153600000000 ms"), "%s", imi_error_message());
    cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, IMI_CACHE_TTL_MAX_MS), IMI_OK);
    cr_assert_eq(imi_cache_get(c, NULL, "k", &v), IMI_OK);
    int64_t left;
    cr_assert_eq(imi_cache_ttl(c, NULL, "k", &left), IMI_OK);
    cr_assert_gt(left, IMI_CACHE_TTL_MAX_MS - 60000);
    cr_assert_eq(imi_cache_expire(c, NULL, "k", INT64_MAX), IMI_EINVALID);
    cr_assert_eq(imi_cache_get(c, NULL, "k", &v), IMI_OK, "a refused expire changed the key");
    cr_assert_eq(imi_cache_setnx(c, NULL, "n", "v", 1, INT64_MAX / 1000), IMI_EINVALID);
    cr_assert_eq(imi_cache_lock(c, NULL, "l", "me", INT64_MAX), IMI_EINVALID);
    /* a token bucket at the slowest rate and a large burst: no wrapped expiry */
    int64_t after = -1;
    cr_assert_eq(imi_cache_take(c, NULL, "b", IMI_RATELIMIT_RATE_MIN, 36500, 36500, &after),
                 IMI_OK);
    cr_assert_eq(imi_cache_take(c, NULL, "b", IMI_RATELIMIT_RATE_MIN, 36500, 1, &after),
                 IMI_ELIMITED, "the bucket refilled at once");
    cr_assert(after > 86000000 && after <= 86400000 + 1000, "retry after %lld", (long long)after);
    imi_buf_free(&v);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(numbers, coord_mem_refuses_leases_it_cannot_keep)
{
    imi_app *app = app_of("[log]\nlevel = off\n[coord]\ndriver = mem\nnamespace = numbers\n");
    imi_coord *c;
    cr_assert_eq(imi_coord_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    int64_t lease = 0, granted = 0;
    int rc = imi_coord_lease_grant(c, NULL, INT64_MAX, &lease, &granted);
    if (rc == IMI_OK) {
        int64_t rev;
        cr_assert_eq(imi_coord_put_lease(c, NULL, "k", "v", 1, lease, &rev), IMI_OK,
                     "a lease of INT64_MAX ms was granted and is gone at once: %s",
                     imi_error_message());
    } else {
        cr_assert_eq(rc, IMI_EINVALID, "%s", imi_error_message());
        cr_assert(strstr(imi_error_message(), "1 to 3153600000000 ms"), "%s",
                  imi_error_message());
    }
    cr_assert_eq(imi_coord_lease_grant(c, NULL, IMI_COORD_LEASE_TTL_MAX_MS, &lease, &granted),
                 IMI_OK, "%s", imi_error_message());
    int64_t rev;
    cr_assert_eq(imi_coord_put_lease(c, NULL, "k", "v", 1, lease, &rev), IMI_OK);
    cr_assert_eq(imi_coord_lease_revoke(c, NULL, lease), IMI_OK);
    imi_coord_free(c);
    imi_app_free(app);
}

Test(numbers, mq_mem_bounds_bytes_as_well_as_messages)
{
    imi_app *app = app_of("[log]\nlevel = off\n[mq]\ndriver = mem\nnamespace = numbers\n"
                          "max_queue = 1000\nmax_bytes = 64k\n");
    imi_mq *mq;
    cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
    static char body[10000];
    imi_mq_msg m = { .topic = "t", .body = body, .body_len = sizeof body };
    int sent = 0, rc = IMI_OK;
    while (sent < 100) {
        imi_ctx *ctx = imi_ctx_new(50);
        rc = imi_mq_publish(mq, ctx, &m);
        imi_ctx_free(ctx);
        if (rc)
            break;
        sent++;
    }
    cr_assert_eq(rc, IMI_ETIMEDOUT, "%s", imi_error_message());
    cr_assert_eq(sent, 6, "64k held %d messages of 10000 bytes", sent);
    cr_assert(strstr(imi_error_message(), "max_bytes=65536"), "%s", imi_error_message());
    static char huge[70000];
    imi_mq_msg h = { .topic = "u", .body = huge, .body_len = sizeof huge };
    cr_assert_eq(imi_mq_publish(mq, NULL, &h), IMI_EINVALID, "%s", imi_error_message());
    imi_mq_free(mq);
    imi_app_free(app);
}

/* ---- retry ---------------------------------------------------------------------------- */

static int64_t fake_now(void *ud) { (void)ud; return 1000; }
static int fake_sleep(void *ud, const imi_ctx *ctx, int64_t ns)
{
    (void)ctx;
    int64_t *slept = ud;
    cr_assert_geq(ns, slept[0], "a delay of %lld ns after one of %lld", (long long)ns,
                  (long long)slept[0]);
    slept[0] = ns;
    return IMI_OK;
}
static int always_down(void *ud, const imi_ctx *ctx, int attempt)
{
    (void)ud;
    (void)ctx;
    (void)attempt;
    return IMI_EUNAVAILABLE;
}

Test(numbers, retry_backoff_saturates_instead_of_wrapping)
{
    imi_retry_policy p = imi_retry_policy_default();
    p.max_attempts = 40;
    p.max_elapsed_ms = 0;
    p.initial_ms = 1000;
    p.multiplier = 10;
    p.max_delay_ms = 0;
    p.jitter = false;
    cr_assert_eq(imi_retry_delay_ms(&p, 39), IMI_DURATION_MAX_MS);
    p.multiplier = NAN;
    cr_assert_eq(imi_retry_delay_ms(&p, 5), 1000);
    p.multiplier = 10;
    int64_t slept[1] = { 0 };
    imi_retry_hooks h = { .now_ns = fake_now, .sleep_ns = fake_sleep, .ud = slept };
    imi_retry *r;
    cr_assert_eq(imi_retry_new(&p, NULL, NULL, &h, &r), IMI_OK, "%s", imi_error_message());
    int attempts = 0;
    cr_assert_eq(imi_retry_run(r, NULL, always_down, NULL, &attempts), IMI_EUNAVAILABLE);
    cr_assert_eq(attempts, 40);
    cr_assert_eq(slept[0], IMI_DURATION_MAX_MS * 1000000);
    imi_retry_free(r);
    p.initial_ms = INT64_MAX;
    cr_assert_eq(imi_retry_new(&p, NULL, NULL, &h, &r), IMI_EINVALID);
}

/* ---- uid source validity ------------------------------------------------------------------ */

static int src_acquire(void *ud, int *worker) { (void)ud; *worker = 7; return IMI_OK; }
static int src_check(void *ud) { (void)ud; return IMI_OK; }
static void src_release(void *ud) { (void)ud; }

Test(numbers, uid_source_valid_for_saturates)
{
    imi_uid_source src = { .acquire = src_acquire, .check = src_check, .release = src_release,
                           .check_every_ms = INT64_MAX / 2, .valid_for_ms = INT64_MAX };
    imi_uid *u;
    cr_assert_eq(imi_uid_new_with_source(NULL, &src, &u), IMI_OK, "%s", imi_error_message());
    int64_t id;
    cr_assert_eq(imi_uid_next(u, &id), IMI_OK, "a worker id valid for ever expired at once: %s",
                 imi_error_message());
    imi_uid_free(u);
    imi_uid_options o = imi_uid_options_default();
    o.epoch_ms = INT64_MAX;
    cr_assert_eq(imi_uid_new(&o, 1, &u), IMI_EINVALID);
}
