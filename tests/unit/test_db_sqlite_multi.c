/* Multi-statement exec on the sqlite driver: refused before anything runs unless the
 * driver option multi_statements is on (issue 13: "SELECT 1; DROP TABLE t" ran both). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "iminfra/iminfra.h"

static imi_app *app;
static imi_db *db;

static void open_with(const char *extra)
{
    char text[512];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[db]\ndriver = sqlite\npath = :memory:\n"
             "pool_size = 1\n%s\n", extra);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "multi.ini", "/tmp", &cfg), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_exec(db, NULL, "CREATE TABLE t (x INTEGER)", NULL, 0, NULL), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (1)", NULL, 0, NULL), IMI_OK,
                 "%s", imi_error_message());
}

static void teardown(void)
{
    imi_db_free(db);
    imi_app_free(app);
    db = NULL;
    app = NULL;
}

static void setup_default(void) { open_with(""); }
static void setup_on(void) { open_with("multi_statements = true"); }

/* Rows in t, or -1 when the table is gone. */
static int64_t rows_in_t(void)
{
    imi_db_rows *r = NULL;
    if (imi_db_query(db, NULL, "SELECT count(*) FROM t", NULL, 0, &r))
        return -1;
    int64_t n = -1;
    if (imi_db_rows_next(r, NULL) == 1)
        imi_db_rows_int(r, 0, &n);
    imi_db_rows_free(r);
    return n;
}

Test(db_sqlite_multi, refused_by_default_and_nothing_runs, .init = setup_default,
     .fini = teardown)
{
    int rc = imi_db_exec(db, NULL, "SELECT 1; DROP TABLE t", NULL, 0, NULL);
    cr_assert_eq(rc, IMI_EINVALID, "rc %d: %s", rc, imi_error_message());
    cr_assert(strstr(imi_error_message(), "multi_statements"), "%s", imi_error_message());
    cr_assert_eq(rows_in_t(), 1, "the table must survive");
    /* The first statement must not run either. */
    rc = imi_db_exec(db, NULL, "INSERT INTO t VALUES (2); SELECT 1", NULL, 0, NULL);
    cr_assert_eq(rc, IMI_EINVALID, "rc %d: %s", rc, imi_error_message());
    cr_assert_eq(rows_in_t(), 1, "the insert before the ';' must not run");
}

Test(db_sqlite_multi, one_statement_with_trailing_blanks_passes, .init = setup_default,
     .fini = teardown)
{
    static const char *const ok[] = { "INSERT INTO t VALUES (5);", "INSERT INTO t VALUES (5); ;\n",
                                      "INSERT INTO t VALUES (5); -- done",
                                      "INSERT INTO t VALUES (5); /* done */ ;" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert_eq(imi_db_exec(db, NULL, ok[i], NULL, 0, NULL), IMI_OK, "%s: %s", ok[i],
                     imi_error_message());
    cr_assert_eq(rows_in_t(), 5);
    /* A ';' inside a string literal is no statement boundary. */
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t SELECT length('a; DROP TABLE t')", NULL, 0,
                             NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(rows_in_t(), 6);
}

Test(db_sqlite_multi, allowed_when_on, .init = setup_on, .fini = teardown)
{
    int64_t n = 0;
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (2); INSERT INTO t VALUES (3)", NULL,
                             0, &n), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(n, 2);
    cr_assert_eq(rows_in_t(), 3);
    /* With parameters it stays one statement per call. */
    imi_db_param p[] = { IMI_DB_PINT(4) };
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (?); DROP TABLE t", p, 1, NULL),
                 IMI_EINVALID);
    cr_assert_eq(rows_in_t(), 3);
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT 1; DROP TABLE t", NULL, 0, NULL), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(rows_in_t(), -1, "on: both statements run");
}
