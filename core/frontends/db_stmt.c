/* Statements: parameters checked and placeholders found before a connection is taken,
 * then one driver call with its counters and the slow-query log. */
#include <stdlib.h>
#include <string.h>
#include "iminfra/clog.h"
#include "iminfra/error.h"
#include "db_internal.h"
#include "util.h"

static int check_params(const imi_db_param *params, size_t n)
{
    if (n && !params)
        return imi_error_set(IMI_EINVALID, 0, "db: %zu parameters but params is NULL", n);
    for (size_t i = 0; i < n; i++) {
        const imi_db_param *p = &params[i];
        if (p->type > IMI_DB_BOOL)
            return imi_error_set(IMI_EINVALID, 0, "db: parameter %zu has no valid type", i + 1);
        if ((p->type == IMI_DB_TEXT || p->type == IMI_DB_BLOB) && !p->v.s.ptr && p->v.s.len)
            return imi_error_set(IMI_EINVALID, 0, "db: parameter %zu is NULL with length %zu",
                                 i + 1, p->v.s.len);
    }
    return IMI_OK;
}

static void log_slow(imi_db *db, const imi_ctx *ctx, db_conn *conn, const char *sql,
                     int64_t elapsed, int rc)
{
    DB_COUNT(db, n_slow);
    IMI_WARN(db->in.logger, ctx, "slow query", IMI_FSTR("sql", sql), IMI_FDUR("elapsed", elapsed),
             IMI_FSTR("endpoint", conn->pool->name), IMI_FERR("rc", rc));
}

int db_sql_prepare(db_sql *q, const char *sql, const imi_db_param *params, size_t n)
{
    q->marks = q->small;
    if (!sql || !*sql)
        return imi_error_set(IMI_EINVALID, 0, "db: SQL is %s", sql ? "empty" : "NULL");
    int rc = check_params(params, n);
    if (rc)
        return rc;
    size_t len = strlen(sql);
    size_t cap = sizeof q->small / sizeof q->small[0];
    size_t found = imi_db_sql_scan(sql, len, q->small, cap);
    if (found == IMI_DB_SQL_REFUSED)
        return IMI_EINVALID; /* the scanner said why */
    if (found > cap) {
        if (!(q->marks = malloc(found * sizeof *q->marks)))
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        imi_db_sql_scan(sql, len, q->marks, found);
    }
    if (found != n) {
        db_sql_done(q);
        return imi_error_set(IMI_EINVALID, 0, "db: the SQL has %zu placeholder%s but %zu "
                             "parameter%s given", found, found == 1 ? "" : "s", n,
                             n == 1 ? " was" : "s were");
    }
    q->st = (imi_db_stmt){ .size = sizeof q->st, .sql = sql, .sql_len = len, .marks = q->marks,
                           .params = params, .n_params = n };
    return IMI_OK;
}

void db_sql_done(db_sql *q)
{
    if (q->marks != q->small)
        free(q->marks);
    q->marks = q->small;
}

int db_run(imi_db *db, db_conn *conn, const imi_ctx *ctx, const db_sql *q, int64_t *affected,
           void **res)
{
    int64_t t0 = imi_now_mono_ns();
    int rc;
    if (res) {
        DB_COUNT(db, n_queries);
        if (conn->pool->index)
            DB_COUNT(db, n_reader_queries);
        *res = NULL;
        rc = VT(db)->c_query(conn->drv, ctx, &q->st, res);
        if (!rc && !*res)
            rc = imi_error_set(IMI_EDRIVER, 0, "driver %s: query returned no result",
                               db->in.desc->name);
    } else {
        DB_COUNT(db, n_execs);
        int64_t ignored = 0;
        rc = VT(db)->c_exec(conn->drv, ctx, &q->st, affected ? affected : &ignored);
    }
    if (rc)
        DB_COUNT(db, n_errors);
    int64_t elapsed = imi_now_mono_ns() - t0;
    if (db->slow_ns && elapsed >= db->slow_ns)
        log_slow(db, ctx, conn, q->st.sql, elapsed, rc);
    return rc;
}
