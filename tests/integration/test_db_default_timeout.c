/* The component's timeout stops a long statement run without a ctx, on every SQL driver:
 * sqlite and postgres start that default deadline lazily (no clock read before a
 * statement), so a regression would let the statement run on, or stop every statement at
 * once. The connection works afterwards. postgres and mysql need tools/services.sh start
 * postgres mysql (IMI_PG_PORT, default 15432; IMI_MYSQL_PORT, default 13306). */
#include <stdio.h>
#include <stdlib.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

/* Runs for minutes on every dialect (as the conformance suite's deadline case). */
#define LONG_SQL "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE " \
                 "x < 1000) SELECT count(*) FROM c a, c b, c d"

static void long_statement_stops(const char *driver_lines)
{
    char ini[512];
    snprintf(ini, sizeof ini, "[log]\nlevel = error\n[db]\n%stimeout = 300ms\npool_size = 1\n",
             driver_lines);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(ini, "timeout.ini", "/tmp", &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_db *db;
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_ping(db, NULL), IMI_OK, "the server is needed (tools/services.sh "
                 "start): %s", imi_error_message());
    int64_t t0 = imi_now_mono_ns();
    imi_db_rows *r = NULL;
    int rc = imi_db_query_writer(db, NULL, LONG_SQL, NULL, 0, &r);
    if (rc == IMI_OK) {
        rc = imi_db_rows_next(r, NULL);
        imi_db_rows_free(r);
    }
    double ms = (double)(imi_now_mono_ns() - t0) / 1e6;
    cr_expect_eq(rc, IMI_ETIMEDOUT, "a long statement under timeout = 300ms gave %s (%s)",
                 rc > 0 ? "a row" : imi_err_name(rc), rc > 0 ? "it ran to the end"
                                                             : imi_error_message());
    cr_expect_lt(ms, 3000, "the statement ran %.0f ms under timeout = 300ms", ms);
    cr_expect_gt(ms, 200, "the statement stopped after %.0f ms, before its 300 ms", ms);
    /* Short statements still run, again and again, on the same connection. */
    for (int i = 0; i < 3; i++) {
        r = NULL;
        cr_assert_eq(imi_db_query_writer(db, NULL, "SELECT 1", NULL, 0, &r), IMI_OK, "%s",
                     imi_error_message());
        int64_t one = 0;
        cr_expect_eq(imi_db_rows_next(r, NULL), 1, "%s", imi_error_message());
        cr_expect_eq(imi_db_rows_int(r, 0, &one), IMI_OK, "%s", imi_error_message());
        cr_expect_eq(one, 1);
        imi_db_rows_free(r);
    }
    imi_db_free(db);
    imi_app_free(app);
}

static const char *port(const char *var, const char *dflt)
{
    const char *p = getenv(var);
    return p && *p ? p : dflt;
}

TestSuite(db_default_timeout, .timeout = 30);

Test(db_default_timeout, sqlite)
{
    long_statement_stops("driver = sqlite\npath = :memory:\n");
}

Test(db_default_timeout, postgres)
{
    char lines[256];
    snprintf(lines, sizeof lines, "driver = postgres\nwriter = postgresql://imi:imi@127.0.0.1:"
             "%s/imi_test\n", port("IMI_PG_PORT", "15432"));
    long_statement_stops(lines);
}

Test(db_default_timeout, mysql)
{
    char lines[256];
    snprintf(lines, sizeof lines, "driver = mysql\nwriter = mysql://imi:imi@127.0.0.1:%s/"
             "imi_test\n", port("IMI_MYSQL_PORT", "13306"));
    long_statement_stops(lines);
}
