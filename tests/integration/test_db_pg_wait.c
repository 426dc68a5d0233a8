/* The postgres driver's wait for a result: it sleeps on a per-connection alarm (a timerfd
 * armed across statements) instead of a poll timeout of its own. The alarm may fire before
 * a statement's deadline (it was armed for an earlier one) and must then only wake the wait,
 * which sleeps again without spinning; a deadline earlier than the alarm must still be kept;
 * an alarm that fired while the connection was idle must not end the next wait early.
 * Needs tools/services.sh start postgres ($IMI_PG_WRITER of tools/services.sh env, else
 * IMI_PG_PORT, default 15432). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static imi_app *app;
static imi_db *db;

/* One connection, so that every statement meets the alarm the previous one left. Its
 * first statement runs under a ctx: the alarm is then armed ~50 ms ahead (where the wait
 * looks at the ctx's cancel flag). */
static void open_db(const char *timeout)
{
    const char *writer = getenv("IMI_PG_WRITER"), *port = getenv("IMI_PG_PORT");
    char uri[256], ini[512];
    snprintf(uri, sizeof uri, "postgresql://imi:imi@127.0.0.1:%s/imi_test",
             port && *port ? port : "15432");
    snprintf(ini, sizeof ini, "[log]\nlevel = error\n[db]\ndriver = postgres\n"
             "writer = %s\npool_size = 1\ntimeout = %s\n", writer && *writer ? writer : uri,
             timeout);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(ini, "pg_wait.ini", ".", &cfg), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
    imi_ctx *ctx = imi_ctx_new(5000);
    imi_db_param p = IMI_DB_PDOUBLE(0.001);
    int rc = imi_db_exec(db, ctx, "SELECT pg_sleep(?)", &p, 1, NULL);
    imi_ctx_free(ctx);
    cr_assert_eq(rc, IMI_OK, "postgres is needed (tools/services.sh start postgres): %s",
                 imi_error_message());
}

static void close_db(void)
{
    imi_db_free(db);
    imi_app_free(app);
}

static double now_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs SELECT pg_sleep(secs) || 'x' (with ? for secs); the code, the wall and the CPU ms
 * of the calling thread it took. */
static int sleep_query(const imi_ctx *ctx, double secs, double *wall_ms, double *cpu_ms)
{
    imi_db_param p = IMI_DB_PDOUBLE(secs);
    double w0 = now_ms(CLOCK_MONOTONIC), c0 = now_ms(CLOCK_THREAD_CPUTIME_ID);
    imi_db_rows *r = NULL;
    int rc = imi_db_query_writer(db, ctx, "SELECT pg_sleep(?) IS NULL AS slept", &p, 1, &r);
    if (!rc) {
        cr_expect_eq(imi_db_rows_next(r, NULL), 1, "%s", imi_error_message());
        imi_db_rows_free(r);
    }
    *wall_ms = now_ms(CLOCK_MONOTONIC) - w0;
    *cpu_ms = now_ms(CLOCK_THREAD_CPUTIME_ID) - c0;
    return rc;
}

TestSuite(pg_wait, .timeout = 60, .fini = close_db);

/* The ctx call of open_db left the alarm armed ~50 ms ahead; the next call, without a
 * ctx, waits 1 s: the alarm wakes it early, it must sleep again. A wait that polled a
 * fired alarm again and again would burn most of that second in CPU (at least a few
 * hundred ms even on a loaded machine); a sleeping one takes a few ms. */
Test(pg_wait, an_early_alarm_only_wakes_the_wait)
{
    open_db("5s");
    double wall, cpu;
    int rc = sleep_query(NULL, 1, &wall, &cpu);
    cr_assert_eq(rc, IMI_OK, "a 1 s statement under timeout = 5s gave %s (%s)",
                 imi_strerror(rc), imi_error_message());
    cr_expect_geq(wall, 990, "the statement returned after %.0f ms", wall);
    cr_expect_lt(cpu, 100, "the wait took %.0f ms of CPU: it spins", cpu);
}

/* Once the first alarm has fired, a call without a ctx arms it for the 5 s default; a ctx
 * with a 200 ms deadline must still stop its statement at 200 ms. */
Test(pg_wait, a_deadline_before_the_alarm_is_kept)
{
    open_db("5s");
    double wall, cpu;
    usleep(100 * 1000);
    cr_assert_eq(sleep_query(NULL, 0.01, &wall, &cpu), IMI_OK, "%s", imi_error_message());
    imi_ctx *ctx = imi_ctx_new(200);
    int rc = sleep_query(ctx, 3, &wall, &cpu);
    imi_ctx_free(ctx);
    cr_expect_eq(rc, IMI_ETIMEDOUT, "a 3 s statement under a 200 ms ctx gave %s (%s)",
                 imi_strerror(rc), imi_error_message());
    cr_expect_lt(wall, 2000, "the statement ran %.0f ms under a 200 ms ctx", wall);
    cr_expect_eq(sleep_query(NULL, 0.01, &wall, &cpu), IMI_OK, "after the timeout: %s",
                 imi_error_message());
}

/* The alarm fires while the connection sits idle in the pool (it stays readable until set
 * again); the next statement must still get its whole default timeout, without spinning. */
Test(pg_wait, an_alarm_fired_while_idle_does_not_cut_the_next_wait)
{
    open_db("1500ms");
    double wall, cpu;
    cr_assert_eq(sleep_query(NULL, 0.01, &wall, &cpu), IMI_OK, "%s", imi_error_message());
    usleep(1700 * 1000);
    cr_assert_eq(sleep_query(NULL, 1, &wall, &cpu), IMI_OK, "a 1 s statement under "
                 "timeout = 1500ms after an idle 1.7 s: %s", imi_error_message());
    cr_expect_geq(wall, 990, "the statement returned after %.0f ms", wall);
    cr_expect_lt(cpu, 100, "the wait took %.0f ms of CPU: it spins", cpu);
    usleep(1700 * 1000);
    int rc = sleep_query(NULL, 5, &wall, &cpu);
    cr_expect_eq(rc, IMI_ETIMEDOUT, "a 5 s statement under timeout = 1500ms gave %s (%s)",
                 imi_strerror(rc), imi_error_message());
    cr_expect_geq(wall, 1490, "timed out after %.0f ms of 1500", wall);
    cr_expect_lt(wall, 4000, "the statement ran %.0f ms under timeout = 1500ms", wall);
    cr_expect_lt(cpu, 100, "the wait took %.0f ms of CPU: it spins", cpu);
}
