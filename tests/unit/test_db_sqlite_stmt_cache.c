/* The sqlite driver's statement cache: statements taken in turn through a cache smaller
 * than their number (evictions on every call), the same text in other buffers, and one
 * statement repeated (found before hashing) all give each statement's own result. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "iminfra/iminfra.h"

static imi_app *app;
static imi_db *db;

static void open_cache(int size)
{
    char text[256];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[db]\ndriver = sqlite\npath = :memory:\n"
             "pool_size = 1\nstmt_cache = %d\n", size);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "cache.ini", "/tmp", &cfg), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
}

static void teardown(void)
{
    imi_db_free(db);
    imi_app_free(app);
    db = NULL;
    app = NULL;
}

/* The one integer a statement with one parameter returns. */
static int64_t one(const char *sql, int64_t arg)
{
    imi_db_param p = IMI_DB_PINT(arg);
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, sql, &p, 1, &r), IMI_OK, "%s: %s", sql,
                 imi_error_message());
    int64_t v = -1;
    cr_assert_eq(imi_db_rows_next(r, NULL), 1, "%s: no row", sql);
    cr_assert_eq(imi_db_rows_int(r, 0, &v), IMI_OK, "%s: %s", sql, imi_error_message());
    imi_db_rows_free(r);
    return v;
}

static void turns(int cache)
{
    open_cache(cache);
    static const char *sql[] = { "SELECT ? + 1", "SELECT ? * 2", "SELECT ? - 3" };
    for (int64_t i = 0; i < 300; i++) {
        int k = (int)(i % 3);
        char copy[32]; /* the same text in a buffer of its own each time */
        snprintf(copy, sizeof copy, "%s", sql[k]);
        int64_t want = k == 0 ? i + 1 : k == 1 ? i * 2 : i - 3;
        cr_assert_eq(one(i % 2 ? copy : sql[k], i), want, "cache %d, call %lld: %s", cache,
                     (long long)i, sql[k]);
        if (i % 50 == 0) /* one statement many times in a row */
            for (int j = 0; j < 5; j++)
                cr_assert_eq(one(sql[k], j), k == 0 ? j + 1 : k == 1 ? j * 2 : j - 3);
    }
}

/* A value the driver refuses is reported at its config line, as the core's own checks are. */
Test(db_sqlite_stmt_cache, out_of_range_names_file_and_line)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse("[log]\nlevel = error\n[db]\ndriver = sqlite\npath = :memory:\n"
                                  "stmt_cache = 5000\n", "cache.ini", "/tmp", &cfg), IMI_OK);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "cache.ini:6: "), "%s", imi_error_message());
    cr_assert(strstr(imi_error_message(), "stmt_cache"), "%s", imi_error_message());
    imi_app_free(app);
    app = NULL;
}

Test(db_sqlite_stmt_cache, smaller_than_the_statements, .fini = teardown) { turns(2); }
Test(db_sqlite_stmt_cache, one_entry, .fini = teardown) { turns(1); }
Test(db_sqlite_stmt_cache, large_enough, .fini = teardown) { turns(64); }
