/* A database server restarted between queries: at most one call fails, with
 * IMI_EUNAVAILABLE, and the pool heals by itself; while the server is down calls fail
 * fast with IMI_EUNAVAILABLE. Needs tools/services.sh start postgres mariadb (it
 * restarts them through the same script). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "iminfra/iminfra.h"

static int services(const char *verb, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash %s/tools/services.sh %s %s >/dev/null 2>&1",
             IMI_TEST_SOURCE_DIR, verb, name);
    return system(cmd);
}

static imi_db *open_db(imi_app **app, const char *config)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/configs/%s", IMI_TEST_SOURCE_DIR, config);
    cr_assert_eq(imi_app_open(path, app), IMI_OK, "%s", imi_error_message());
    imi_db *db = NULL;
    cr_assert_eq(imi_db_open(*app, NULL, &db), IMI_OK, "%s", imi_error_message());
    return db;
}

/* Makes the writer's pool hold n idle connections. */
static void fill_pool(imi_db *db, int n)
{
    imi_db_rows *r[8];
    for (int i = 0; i < n; i++)
        cr_assert_eq(imi_db_query_writer(db, NULL, "SELECT 1", NULL, 0, &r[i]), IMI_OK,
                     "%s (is the server started? tools/services.sh start)", imi_error_message());
    for (int i = 0; i < n; i++)
        imi_db_rows_free(r[i]);
}

static void restart_heals(const char *config, const char *service)
{
    imi_app *app;
    imi_db *db = open_db(&app, config);
    imi_db_param p = IMI_DB_PINT(7);
    fill_pool(db, 4);
    cr_assert_eq(services("stop", service), 0, "stopping %s", service);
    cr_assert_eq(services("start", service), 0, "starting %s", service);
    int failures = 0;
    for (int i = 0; i < 10; i++) {
        imi_db_rows *r = NULL;
        int rc = imi_db_query_writer(db, NULL, "SELECT ?", &p, 1, &r);
        if (rc) {
            failures++;
            cr_assert_eq(rc, IMI_EUNAVAILABLE, "call %d after the restart: %s (%s)", i,
                         imi_err_name(rc), imi_error_message());
        } else {
            cr_assert_eq(imi_db_rows_next(r, NULL), 1);
        }
        imi_db_rows_free(r);
    }
    cr_assert_leq(failures, 1, "%d calls failed after the restart", failures);
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_geq(st.conns_opened, 5, "no new connection after the restart");

    /* Down: calls fail fast and clearly; back up: the next call works. */
    fill_pool(db, 2);
    cr_assert_eq(services("stop", service), 0);
    imi_ctx *ctx = imi_ctx_new(3000);
    int64_t t0 = imi_now_mono_ns();
    int rc = IMI_OK;
    for (int i = 0; i < 3; i++)
        rc = rc ? rc : imi_db_exec(db, ctx, "SELECT 1", NULL, 0, NULL);
    int rc2 = imi_db_exec(db, ctx, "SELECT 1", NULL, 0, NULL);
    double ms = (double)(imi_now_mono_ns() - t0) / 1e6;
    imi_ctx_free(ctx);
    int up = services("start", service);
    cr_assert_eq(rc, IMI_EUNAVAILABLE, "a call with the server down gave %s", imi_err_name(rc));
    cr_assert_eq(rc2, IMI_EUNAVAILABLE, "a connect to a stopped server gave %s",
                 imi_err_name(rc2));
    cr_assert_lt(ms, 3000, "failing took %.0f ms", ms);
    cr_assert_eq(up, 0);
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT 1", NULL, 0, NULL), IMI_OK, "%s",
                 imi_error_message());
    imi_db_free(db);
    imi_app_free(app);
}

Test(db_restart, postgres, .timeout = 120)
{
    restart_heals("db_postgres.ini", "postgres");
}

Test(db_restart, mariadb, .timeout = 120)
{
    restart_heals("db_mysql.ini", "mariadb");
}
