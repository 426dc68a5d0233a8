/* The placeholder scan of the db front-end: `?` outside quotes, dollar quotes and
 * comments. */
#include <criterion/criterion.h>
#include <string.h>
#include "db_internal.h"

static size_t scan(const char *sql, size_t *marks, size_t cap)
{
    return imi_db_sql_scan(sql, strlen(sql), marks, cap);
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
    cr_assert_eq(scan("SELECT 'a\\'?', ?", m, 8), 1);
    cr_assert_eq(scan("SELECT ? -- why?\n, ?", m, 8), 2);
    cr_assert_eq(scan("SELECT /* ? */ ? /* ?", m, 8), 1);
    cr_assert_eq(scan("SELECT $$ ? $$, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT $tag$ ? $$ ? $tag$, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT $1, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT a$b, ?", m, 8), 1);
    cr_assert_eq(scan("SELECT 'unterminated ?", m, 8), 0);
}

Test(db_sql, counts_past_capacity)
{
    size_t m[2];
    cr_assert_eq(scan("?,?,?,?,?", m, 2), 5);
    cr_assert_eq(m[1], 2);
}
