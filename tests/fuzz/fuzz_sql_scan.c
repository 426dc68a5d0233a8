/* Fuzz target: the `?` placeholder scanner of the db front-end (core/db_sql.c) with
 * SQLite as the oracle. For one statement SQLite prepares whose parameters are all plain
 * `?`, the scanner must count exactly sqlite3_bind_parameter_count, or refuse the
 * statement; a different count is a crash. Every mark must point at a '?'. The scan in
 * the mysql dialect (`#` comments) is checked for the same invariants. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "db_internal.h"

static sqlite3 *db;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    /* Names the corpus uses, so that statements over them prepare. */
    if (sqlite3_open(":memory:", &db) != SQLITE_OK ||
        sqlite3_exec(db, "CREATE TABLE t(a, b, \"x?\", [y?], `z?`, \"a\\\", [b\\]);", NULL,
                     NULL, NULL) != SQLITE_OK)
        abort();
    return 0;
}

/* SQLite's count when sql is one statement with only anonymous `?` parameters; -1 when
 * the oracle has nothing to say (does not prepare, several statements, named ones). */
static int sqlite_count(const char *sql, size_t len)
{
    sqlite3_stmt *st = NULL, *next = NULL;
    const char *tail;
    if (sqlite3_prepare_v2(db, sql, (int)len, &st, &tail) != SQLITE_OK || !st)
        return -1;
    int n = sqlite3_bind_parameter_count(st);
    for (int i = 1; i <= n; i++)
        if (sqlite3_bind_parameter_name(st, i))
            n = -1;
    size_t rest = len - (size_t)(tail - sql);
    if (n >= 0 && rest && (sqlite3_prepare_v2(db, tail, (int)rest, &next, NULL) != SQLITE_OK || next))
        n = -1;
    sqlite3_finalize(next);
    sqlite3_finalize(st);
    return n;
}

/* The scan with flags: the count must not depend on the capacity and every mark must
 * point at a '?', in order. Returns the count or IMI_DB_SQL_REFUSED. */
static size_t checked_scan(const char *sql, size_t len, unsigned flags)
{
    size_t small[4];
    size_t found = imi_db_sql_scan(sql, len, flags, small, 4);
    if (found == IMI_DB_SQL_REFUSED)
        return found;
    size_t *marks = malloc((found + 1) * sizeof *marks);
    if (!marks)
        abort();
    if (imi_db_sql_scan(sql, len, flags, marks, found) != found)
        abort();
    for (size_t i = 0; i < found; i++)
        if (marks[i] >= len || sql[marks[i]] != '?' || (i && marks[i] <= marks[i - 1]))
            abort();
    free(marks);
    return found;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1024)
        return 0;
    char *sql = malloc(size + 1);
    if (!sql)
        return 0;
    memcpy(sql, data, size);
    sql[size] = '\0';
    size_t len = strlen(sql);           /* the front-end takes a C string */
    size_t found = checked_scan(sql, len, 0);
    if (found != IMI_DB_SQL_REFUSED) {
        int want = sqlite_count(sql, len);
        if (want >= 0 && (size_t)want != found) {
            fprintf(stderr, "scanner counts %zu placeholders, SQLite %d: %s\n", found, want, sql);
            abort();
        }
    }
    /* The mysql dialect differs only where there is a `#`. */
    size_t hash = checked_scan(sql, len, IMI_DB_SQL_HASH_COMMENTS);
    if (!strchr(sql, '#') && hash != found)
        abort();
    free(sql);
    return 0;
}
