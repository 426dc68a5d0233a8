/* The placeholder scan of the db front-end: `?` outside quotes, names, dollar quotes and
 * comments, and refused where the drivers' dialects disagree. */
#include <criterion/criterion.h>
#include <string.h>
#include "db_internal.h"
#include "iminfra/error.h"

static size_t scan(const char *sql, size_t *marks, size_t cap)
{
    return imi_db_sql_scan(sql, strlen(sql), 0, marks, cap);
}

Test(db_sql, counts_placeholders)
{
    size_t m[8];
    cr_assert_eq(scan("SELECT 1", m, 8), 0);
    cr_assert_eq(scan("SELECT ?", m, 8), 1);
    cr_assert_eq(m[0], 7);
    cr_assert_eq(scan("INSERT INTO t VALUES (?,?,?)", m, 8), 3);
    cr_assert_eq(m[2], 26);
}

Test(db_sql, skips_quotes_and_comments)
{
    size_t m[8];
    cr_assert_eq(scan("SELECT '?', \"?\", `?`, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT 'it''s ?', ?", m, 8), 1);
    cr_assert_eq(scan("SELECT ? -- why?\n, ?", m, 8), 2);
    cr_assert_eq(scan("SELECT /* ? */ ? /* ?", m, 8), 1);
    cr_assert_eq(scan("SELECT $$ ? $$, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT $tag$ ? $$ ? $tag$, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT $1, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT a$b, ?", m, 8), 1);
}

Test(db_sql, hash_comments_in_the_mysql_dialect_only)
{
    size_t m[8];
    const char *sql = "SELECT ? # why? it's\n, ?";
    unsigned mysql = imi_db_sql_flags("mysql");
    cr_assert_eq(mysql, IMI_DB_SQL_HASH_COMMENTS);
    cr_assert_eq(imi_db_sql_scan(sql, strlen(sql), mysql, m, 8), 2);
    cr_assert_eq(m[0], 7);
    cr_assert_eq(m[1], 23);
    cr_assert_eq(imi_db_sql_scan("a # ?", 5, mysql, m, 8), 0);
    cr_assert_eq(imi_db_sql_scan("'#' , ?", 7, mysql, m, 8), 1);
    /* Elsewhere `#` is an operator: the quote after it opens a string. */
    cr_assert_eq(imi_db_sql_flags("postgresql"), 0);
    cr_assert_eq(imi_db_sql_flags(NULL), 0);
    cr_assert_eq(scan(sql, m, 8), IMI_DB_SQL_REFUSED);
    cr_assert_eq(scan("SELECT a # ? FROM t", m, 8), 1);
}

Test(db_sql, counts_past_capacity)
{
    size_t m[2];
    cr_assert_eq(scan("?,?,?,?,?", m, 2), 5);
    cr_assert_eq(m[1], 2);
}

/* A refusal: the sentinel, and an IMI_EINVALID detail that says where and why. */
static void assert_refused(const char *sql, const char *why)
{
    size_t m[8];
    imi_error_clear();
    cr_assert_eq(scan(sql, m, 8), IMI_DB_SQL_REFUSED, "%s was not refused", sql);
    cr_assert_eq(imi_error_code(), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "db: SQL refused at offset"), "%s", imi_error_message());
    cr_assert(strstr(imi_error_message(), why), "%s: %s", sql, imi_error_message());
}

/* 'a\' ends the string in standard SQL (SQLite, PostgreSQL) and not in MySQL: the
 * placeholders differ, so neither reading is guessed. */
Test(db_sql, backslash_before_a_quote_is_refused)
{
    assert_refused("SELECT 'a\\', ?", "backslash");
    assert_refused("SELECT 'a\\'?', ?", "backslash");
    assert_refused("SELECT E'it\\'s', ?", "backslash");
    assert_refused("SELECT \"a\\\", ?", "backslash");
}

/* Where both readings agree, a backslash is harmless. */
Test(db_sql, backslash_that_changes_nothing)
{
    size_t m[8];
    cr_assert_eq(scan("SELECT 'C:\\dir\\x', ?", m, 8), 1);
    cr_assert_eq(scan("SELECT 'a\\\\', ?", m, 8), 1);
    cr_assert_eq(m[0], 14);
    cr_assert_eq(scan("SELECT `a\\`, ?", m, 8), 1);     /* no escape in backquotes */
}

/* [x?] is a bracket name in SQLite and T-SQL: no placeholder in it. */
Test(db_sql, bracket_names)
{
    size_t m[8];
    cr_assert_eq(scan("SELECT [x?] FROM t WHERE a = ?", m, 8), 1);
    cr_assert_eq(m[0], 29);
    cr_assert_eq(scan("SELECT t.[x?],[y?] FROM t", m, 8), 0);
    cr_assert_eq(scan("SELECT ([?]) FROM t", m, 8), 0);
    cr_assert_eq(scan("SELECT arr[1], ? FROM t", m, 8), 1);    /* a subscript, no ? in it */
    assert_refused("SELECT arr[?] FROM t", "subscript");
    assert_refused("SELECT (a)[b[?]] FROM t", "subscript");
    assert_refused("SELECT [x? FROM t", "unterminated [name]");
}

Test(db_sql, other_refusals)
{
    assert_refused("SELECT 'unterminated ?", "unterminated quote");
    assert_refused("SELECT $tag$ ? ", "unterminated dollar quote");
    assert_refused("SELECT ?1", "numbered placeholder");
    assert_refused("SELECT 1 --x ?\n", "MySQL does not read as a comment");
    assert_refused("SELECT /*! ? */ 1", "MySQL runs as code");
    assert_refused("SELECT /* /* */ ? */ 1", "comment inside a comment");
    size_t m[8];
    cr_assert_eq(scan("SELECT 1 --x\n, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT 1 -- ?\n, ?", m, 8), 1);
}

/* Through the front-end: SQL the scanner refuses is IMI_EINVALID with its reason, before
 * any connection is used (it used to be taken as a huge placeholder count). */
Test(db_sql, refused_sql_is_einvalid_through_the_front_end)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[log]\nlevel = off\n[db]\ndriver = sqlite\npath = :memory:\n",
                                  "t.ini", ".", &cfg), IMI_OK);
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_db *db;
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
    imi_db_param p = { .type = IMI_DB_INT, .v.i = 1 };
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT 'a\\' , ?", &p, 1, NULL), IMI_EINVALID);
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT ?1", &p, 1, NULL), IMI_EINVALID);
    imi_db_free(db);
    imi_app_free(app);
}
