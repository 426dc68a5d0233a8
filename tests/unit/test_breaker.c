/* breaker: tripping on consecutive failures and on a ratio, open rejects without calling,
 * half-open probes, stale results, callbacks, config, overrides, many threads. */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "iminfra/breaker.h"
#include "iminfra/retry.h"
#include "imi_test.h"

static int ret_code(void *ud, const imi_ctx *ctx)
{
    (void)ctx;
    int *p = ud;
    p[1]++;           /* calls made */
    return p[0];
}

static int call(imi_breaker *b, int code, int *calls)
{
    int st[2] = { code, 0 };
    int rc = imi_breaker_call(b, NULL, ret_code, st);
    if (calls)
        *calls += st[1];
    return rc;
}

typedef struct changes {
    pthread_mutex_t mu;
    int n;
    imi_breaker_state to[32];
    char name[32][32];
} changes;

static void on_change(void *ud, const char *name, imi_breaker_state from, imi_breaker_state to)
{
    changes *c = ud;
    (void)from;
    pthread_mutex_lock(&c->mu);
    if (c->n < 32) {
        c->to[c->n] = to;
        snprintf(c->name[c->n], sizeof c->name[0], "%s", name);
        c->n++;
    }
    pthread_mutex_unlock(&c->mu);
}

static imi_breaker_set *set_with(imi_breaker_policy p)
{
    imi_breaker_set *s;
    cr_assert_eq(imi_breaker_set_new(&p, NULL, &s), IMI_OK, "%s", imi_error_message());
    return s;
}

Test(breaker, trips_on_consecutive_failures_and_rejects_without_calling)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 3;
    p.failure_ratio = 0;
    p.open_ms = 60000;
    imi_breaker_set *s = set_with(p);
    changes ch = { .mu = PTHREAD_MUTEX_INITIALIZER };
    imi_breaker_set_on_change(s, on_change, &ch);
    imi_breaker *b = imi_breaker_get(s, "payments");
    cr_assert_not_null(b);
    cr_assert_eq(imi_breaker_get(s, "payments"), b, "one breaker per name");
    int calls = 0;
    cr_assert_eq(call(b, IMI_EUNAVAILABLE, &calls), IMI_EUNAVAILABLE);
    cr_assert_eq(call(b, IMI_EUNAVAILABLE, &calls), IMI_EUNAVAILABLE);
    cr_assert_eq(call(b, IMI_OK, &calls), IMI_OK);          /* resets the run */
    cr_assert_eq(call(b, IMI_ENOTFOUND, &calls), IMI_ENOTFOUND); /* not a failure */
    cr_assert_eq(call(b, IMI_ETIMEDOUT, &calls), IMI_ETIMEDOUT);
    cr_assert_eq(call(b, IMI_EUNAVAILABLE, &calls), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED);
    cr_assert_eq(call(b, IMI_EUNAVAILABLE, &calls), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    cr_assert_eq(calls, 7);
    for (int i = 0; i < 5; i++)
        cr_assert_eq(call(b, IMI_OK, &calls), IMI_EOPEN);
    cr_assert_eq(calls, 7, "an open breaker must not call");
    imi_breaker_stats st;
    imi_breaker_get_stats(b, &st);
    cr_assert_eq(st.rejected, 5);
    cr_assert_eq(st.opened, 1);
    cr_assert_eq(ch.n, 1);
    cr_assert_eq(ch.to[0], IMI_BREAKER_OPEN);
    cr_assert_str_eq(ch.name[0], "payments");
    cr_assert_eq(imi_breaker_get_state(imi_breaker_get(s, "other")), IMI_BREAKER_CLOSED,
                 "breakers are per resource");
    imi_breaker_set_free(s);
}

Test(breaker, trips_on_ratio_only_past_min_calls)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 0;
    p.failure_ratio = 0.5;
    p.min_calls = 10;
    p.window_ms = 60000;
    imi_breaker_set *s = set_with(p);
    imi_breaker *b = imi_breaker_get(s, "db");
    /* 4 failures out of 8: the ratio is there but not the volume */
    for (int i = 0; i < 8; i++)
        call(b, i % 2 ? IMI_EUNAVAILABLE : IMI_OK, NULL);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED);
    call(b, IMI_OK, NULL);  /* 9 calls, 4 failures */
    call(b, IMI_EUNAVAILABLE, NULL);  /* 10 calls, 5 failures: 0.5 */
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    imi_breaker_set_free(s);

    s = set_with(p);
    b = imi_breaker_get(s, "db");
    for (int i = 0; i < 30; i++)  /* one failure in three stays below 0.5 */
        call(b, i % 3 == 0 ? IMI_EUNAVAILABLE : IMI_OK, NULL);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED);
    imi_breaker_stats st;
    imi_breaker_get_stats(b, &st);
    cr_assert_eq(st.window_calls, 30);
    cr_assert_eq(st.window_failures, 10);
    imi_breaker_set_free(s);
}

Test(breaker, window_forgets_old_calls)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 0;
    p.min_calls = 4;
    p.window_ms = 100;
    imi_breaker_set *s = set_with(p);
    imi_breaker *b = imi_breaker_get(s, "w");
    for (int i = 0; i < 3; i++)
        call(b, IMI_EUNAVAILABLE, NULL);
    sleep_ms(150);
    call(b, IMI_EUNAVAILABLE, NULL);  /* the three before are out of the window */
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED);
    imi_breaker_stats st;
    imi_breaker_get_stats(b, &st);
    cr_assert_eq(st.window_calls, 1);
    imi_breaker_set_free(s);
}

Test(breaker, half_open_probes_then_closes_after_successes)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 1;
    p.failure_ratio = 0;
    p.open_ms = 30;
    p.half_open_probes = 2;
    p.half_open_successes = 3;
    imi_breaker_set *s = set_with(p);
    changes ch = { .mu = PTHREAD_MUTEX_INITIALIZER };
    imi_breaker_set_on_change(s, on_change, &ch);
    imi_breaker *b = imi_breaker_get(s, "x");
    call(b, IMI_EUNAVAILABLE, NULL);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    imi_breaker_ticket t1, t2, t3;
    cr_assert_eq(imi_breaker_enter(b, &t1), IMI_EOPEN);
    sleep_ms(60);
    cr_assert_eq(imi_breaker_enter(b, &t1), IMI_OK);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_HALF_OPEN);
    cr_assert_eq(imi_breaker_enter(b, &t2), IMI_OK);
    cr_assert_eq(imi_breaker_enter(b, &t3), IMI_EOPEN, "only 2 probes at a time");
    imi_breaker_leave(b, t1, IMI_OK);
    cr_assert_eq(imi_breaker_enter(b, &t3), IMI_OK, "a finished probe frees a place");
    imi_breaker_leave(b, t2, IMI_OK);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_HALF_OPEN);
    imi_breaker_leave(b, t3, IMI_OK);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED);
    cr_assert_eq(ch.n, 3);
    cr_assert_eq(ch.to[0], IMI_BREAKER_OPEN);
    cr_assert_eq(ch.to[1], IMI_BREAKER_HALF_OPEN);
    cr_assert_eq(ch.to[2], IMI_BREAKER_CLOSED);
    imi_breaker_set_free(s);
}

Test(breaker, failed_probe_reopens_and_stale_results_are_dropped)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 2;
    p.failure_ratio = 0;
    p.open_ms = 30;
    imi_breaker_set *s = set_with(p);
    imi_breaker *b = imi_breaker_get(s, "x");
    imi_breaker_ticket old;
    cr_assert_eq(imi_breaker_enter(b, &old), IMI_OK);  /* admitted while closed */
    call(b, IMI_EUNAVAILABLE, NULL);
    call(b, IMI_EUNAVAILABLE, NULL);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    sleep_ms(60);
    imi_breaker_ticket probe;
    cr_assert_eq(imi_breaker_enter(b, &probe), IMI_OK);
    imi_breaker_leave(b, old, IMI_OK);  /* from the closed state before: ignored */
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_HALF_OPEN);
    imi_breaker_leave(b, probe, IMI_ETIMEDOUT);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    cr_assert_eq(call(b, IMI_OK, NULL), IMI_EOPEN, "open again, for open_for again");
    imi_breaker_stats st;
    imi_breaker_get_stats(b, &st);
    cr_assert_eq(st.opened, 2);
    cr_assert_eq(st.half_opened, 1);
    imi_breaker_set_free(s);
}

typedef struct retry_ud { int calls; } retry_ud;
static int flaky(void *ud, const imi_ctx *ctx, int attempt)
{
    (void)ctx;
    (void)attempt;
    ((retry_ud *)ud)->calls++;
    return IMI_EUNAVAILABLE;
}
typedef struct nest { imi_retry *r; retry_ud ru; } nest;
static int with_retry(void *ud, const imi_ctx *ctx)
{
    nest *n = ud;
    return imi_retry_run(n->r, ctx, flaky, &n->ru, NULL);
}

Test(breaker, retry_nests_inside_breaker)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 2;
    p.failure_ratio = 0;
    p.open_ms = 60000;
    imi_breaker_set *s = set_with(p);
    imi_breaker *b = imi_breaker_get(s, "x");
    imi_retry_policy rp = { .max_attempts = 3, .retry_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) };
    nest n = { 0 };
    cr_assert_eq(imi_retry_new(&rp, NULL, NULL, NULL, &n.r), IMI_OK);
    cr_assert_eq(imi_breaker_call(b, NULL, with_retry, &n), IMI_EUNAVAILABLE);
    cr_assert_eq(n.ru.calls, 3);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_CLOSED, "3 attempts are one failure");
    cr_assert_eq(imi_breaker_call(b, NULL, with_retry, &n), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);
    cr_assert_eq(imi_breaker_call(b, NULL, with_retry, &n), IMI_EOPEN);
    cr_assert_eq(n.ru.calls, 6, "no attempt once open");
    imi_retry_free(n.r);
    imi_breaker_set_free(s);
}

static imi_app *app_of(const char *text)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "b.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

Test(breaker, config_sections_and_errors)
{
    imi_app *app = app_of("[log]\nlevel = off\n[breaker]\nconsecutive_failures = 7\n"
                          "open_for = 2s\n[breaker.payments]\nconsecutive_failures = 2\n"
                          "failure_on = unavailable\n");
    imi_breaker_set *s;
    cr_assert_eq(imi_breaker_set_open(app, &s), IMI_OK, "%s", imi_error_message());
    imi_breaker_policy p;
    imi_breaker_get_policy(imi_breaker_get(s, "payments"), &p);
    cr_assert_eq(p.consecutive_failures, 2);
    cr_assert_eq(p.open_ms, 2000, "inherited from [breaker]");
    cr_assert_eq(p.failure_on, IMI_CODE_BIT(IMI_EUNAVAILABLE));
    imi_breaker_get_policy(imi_breaker_get(s, "other"), &p);
    cr_assert_eq(p.consecutive_failures, 7);
    imi_breaker_set_free(s);
    imi_app_free(app);

    const char *bad[][2] = {
        { "[breaker]\nconsecutive_failure = 3\n", "b.ini:2: unknown key 'consecutive_failure'" },
        { "[breaker.x]\n\nfailure_ratio = 1.5\n", "b.ini:3: failure_ratio" },
        { "[breaker]\nhalf_open_probes = 0\n", "b.ini:2: half_open_probes" },
        { "[breaker]\nopen_for = later\n", "b.ini:2: open_for" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        app = app_of(bad[i][0]);
        cr_assert_eq(imi_breaker_set_open(app, &s), IMI_ECONFIG);
        cr_assert(strstr(imi_error_message(), bad[i][1]), "'%s' not in '%s'", bad[i][1],
                  imi_error_message());
        imi_app_free(app);
    }
}

Test(breaker, overrides_keep_state_of_unchanged_breakers)
{
    imi_app *app = app_of("[log]\nlevel = off\n[breaker]\nconsecutive_failures = 1\n"
                          "failure_ratio = 0\nopen_for = 60s\n[breaker.a]\n[breaker.b]\n");
    imi_breaker_set *s;
    cr_assert_eq(imi_breaker_set_open(app, &s), IMI_OK, "%s", imi_error_message());
    imi_breaker *a = imi_breaker_get(s, "a"), *b = imi_breaker_get(s, "b");
    imi_breaker *c = imi_breaker_get(s, "c");
    call(a, IMI_EUNAVAILABLE, NULL);
    call(b, IMI_EUNAVAILABLE, NULL);
    call(c, IMI_EUNAVAILABLE, NULL);
    cr_assert_eq(imi_breaker_get_state(a), IMI_BREAKER_OPEN);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);

    cr_assert_eq(imi_breaker_set_override(s, "a", "consecutive_failures = 4; open_for = 1s",
                                          "coord key a"), IMI_OK, "%s", imi_error_message());
    imi_breaker_policy p;
    imi_breaker_get_policy(a, &p);
    cr_assert_eq(p.consecutive_failures, 4);
    cr_assert_eq(p.open_ms, 1000);
    cr_assert_eq(imi_breaker_get_state(a), IMI_BREAKER_CLOSED, "changed policy: afresh");
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN, "unchanged policy: state kept");
    cr_assert_eq(imi_breaker_get_state(c), IMI_BREAKER_OPEN);

    /* the same text again changes nothing */
    call(a, IMI_EUNAVAILABLE, NULL);
    cr_assert_eq(imi_breaker_set_override(s, "a", "open_for=1s, consecutive_failures=4", NULL),
                 IMI_OK);
    cr_assert_eq(imi_breaker_set_override(s, "a", "consecutive_failures = 4\nopen_for = 1000ms",
                                          NULL), IMI_OK);
    /* "default" reaches names without a section of their own only */
    cr_assert_eq(imi_breaker_set_override(s, "default", "consecutive_failures = 9", NULL), IMI_OK);
    imi_breaker_get_policy(c, &p);
    cr_assert_eq(p.consecutive_failures, 9);
    cr_assert_eq(imi_breaker_get_state(c), IMI_BREAKER_CLOSED);
    cr_assert_eq(imi_breaker_get_state(b), IMI_BREAKER_OPEN);

    /* a bad override is refused and changes nothing */
    cr_assert_eq(imi_breaker_set_override(s, "a", "failure_ratio = lots", "coord key x/a"),
                 IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "coord key x/a"), "%s", imi_error_message());
    imi_breaker_get_policy(a, &p);
    cr_assert_eq(p.consecutive_failures, 4);

    /* removing it goes back to the file's policy */
    cr_assert_eq(imi_breaker_set_override(s, "a", NULL, NULL), IMI_OK);
    imi_breaker_get_policy(a, &p);
    cr_assert_eq(p.consecutive_failures, 1);
    imi_breaker_set_free(s);
    imi_app_free(app);
}

/* ---- many threads --------------------------------------------------------------------- */

typedef struct hammer {
    imi_breaker *b;
    atomic_int *inflight_probes;
    atomic_int *max_probes;
    atomic_long *calls;
    int id;
} hammer;

static void *hammer_run(void *arg)
{
    hammer *h = arg;
    unsigned seed = (unsigned)h->id * 7919u + 1;
    for (int i = 0; i < 100000; i++) {
        imi_breaker_ticket t;
        if (imi_breaker_enter(h->b, &t))
            continue;
        atomic_fetch_add(h->calls, 1);
        if (t & 1) {
            int now = atomic_fetch_add(h->inflight_probes, 1) + 1;
            int m = atomic_load(h->max_probes);
            while (now > m && !atomic_compare_exchange_weak(h->max_probes, &m, now))
                ;
            atomic_fetch_sub(h->inflight_probes, 1);
        }
        seed = seed * 1103515245u + 12345u;
        imi_breaker_leave(h->b, t, (seed >> 16) % 4 == 0 ? IMI_EUNAVAILABLE : IMI_OK);
    }
    return NULL;
}

Test(breaker, many_threads_keep_the_probe_bound)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 3;
    p.failure_ratio = 0.3;
    p.min_calls = 50;
    p.window_ms = 50;
    p.open_ms = 1;
    p.half_open_probes = 2;
    p.half_open_successes = 2;
    imi_breaker_set *s = set_with(p);
    atomic_int inflight = 0, maxp = 0;
    atomic_long calls = 0;
    hammer h[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (hammer){ imi_breaker_get(s, "hot"), &inflight, &maxp, &calls, i };
        pthread_create(&t[i], NULL, hammer_run, &h[i]);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    imi_breaker_stats st;
    imi_breaker_get_stats(h[0].b, &st);
    cr_assert(atomic_load(&maxp) <= 2, "%d probes at once", atomic_load(&maxp));
    cr_assert(st.opened > 0);
    /* every transition leaves the state the previous one entered */
    cr_assert(st.closed <= st.half_opened && st.half_opened <= st.opened);
    cr_assert(st.opened <= st.closed + st.half_opened + 1);
    cr_assert_eq((long)st.rejected + atomic_load(&calls), 400000);
    imi_breaker_set_free(s);
}
