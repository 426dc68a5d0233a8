/* The db conformance suite, SQL: parameter types and conversions, transactions, reader
 * routing, injection attempts, errors and broken connections. */
#include "db_suite.h"

void imi_conf_db_every_param_type(imi_conf_t *t)
{
    OPEN_DB(t, db);
    char tbl[64];
    table(t, "types", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, "
                         "s TEXT, b %s, f BOOLEAN)", tbl, blob_type(db)));
    static const unsigned char bin[] = { 0, 1, 2, 0, 255, 254, '\'', '"', '\\', 0 };
    const char *text = "héllo 'wörld' \"q\" \\ ? $1 -- /* x */ 日本";
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, i, d, s, b, f) VALUES (?, ?, ?, ?, ?, ?)", tbl);
    imi_db_param p[] = { IMI_DB_PINT(1), IMI_DB_PINT(INT64_MIN + 1), IMI_DB_PDOUBLE(-2.5e-3),
                         IMI_DB_PTEXT(text), IMI_DB_PBLOB(bin, sizeof bin), IMI_DB_PBOOL(true) };
    int64_t affected = 0;
    CONF_OK(t, imi_db_exec(db, NULL, sql, p, 6, &affected));
    CONF_CHECK(t, affected == 1, "insert affected %lld rows", (long long)affected);
    imi_db_param nulls[] = { IMI_DB_PINT(2), IMI_DB_PNULL(), IMI_DB_PNULL(), IMI_DB_PTEXT(NULL),
                             IMI_DB_PNULL(), IMI_DB_PNULL() };
    CONF_OK(t, imi_db_exec(db, NULL, sql, nulls, 6, NULL));
    imi_db_param edge[] = { IMI_DB_PINT(3), IMI_DB_PINT(INT64_MAX), IMI_DB_PDOUBLE(1e300),
                            IMI_DB_PTEXTN("", 0), IMI_DB_PBLOB(NULL, 0), IMI_DB_PBOOL(false) };
    CONF_OK(t, imi_db_exec(db, NULL, sql, edge, 6, NULL));

    snprintf(sql, sizeof sql, "SELECT id, i, d, s, b, f FROM %s ORDER BY id", tbl);
    imi_db_rows *r;
    CONF_OK(t, imi_db_query_writer(db, NULL, sql, NULL, 0, &r));
    CONF_CHECK(t, imi_db_rows_columns(r) == 6, "%zu columns", imi_db_rows_columns(r));
    static const char *const names[] = { "id", "i", "d", "s", "b", "f" };
    for (size_t c = 0; c < 6; c++) {
        const char *n = imi_db_rows_column_name(r, c);
        CONF_CHECK(t, n && !strcmp(n, names[c]), "column %zu is named %s", c, n ? n : "NULL");
    }
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    int64_t i = 0;
    double d = 0;
    bool f = false;
    const char *s;
    const void *b;
    size_t len;
    CONF_OK(t, imi_db_rows_int(r, 0, &i));
    CONF_CHECK(t, i == 1, "id %lld", (long long)i);
    CONF_CHECK(t, imi_db_rows_type(r, 1) == IMI_DB_INT, "i is %s",
               imi_db_type_name(imi_db_rows_type(r, 1)));
    CONF_OK(t, imi_db_rows_int(r, 1, &i));
    CONF_CHECK(t, i == INT64_MIN + 1, "int64 came back as %lld", (long long)i);
    CONF_CHECK(t, imi_db_rows_type(r, 2) == IMI_DB_DOUBLE, "d is %s",
               imi_db_type_name(imi_db_rows_type(r, 2)));
    CONF_OK(t, imi_db_rows_double(r, 2, &d));
    CONF_CHECK(t, d == -2.5e-3, "double came back as %.17g", d);
    CONF_CHECK(t, imi_db_rows_type(r, 3) == IMI_DB_TEXT, "s is %s",
               imi_db_type_name(imi_db_rows_type(r, 3)));
    CONF_OK(t, imi_db_rows_text(r, 3, &s, &len));
    CONF_CHECK(t, len == strlen(text) && !strcmp(s, text), "text came back as '%s'", s);
    CONF_CHECK(t, imi_db_rows_type(r, 4) == IMI_DB_BLOB, "b is %s",
               imi_db_type_name(imi_db_rows_type(r, 4)));
    CONF_OK(t, imi_db_rows_blob(r, 4, &b, &len));
    CONF_CHECK(t, len == sizeof bin && !memcmp(b, bin, len), "blob came back as %zu bytes", len);
    CONF_OK(t, imi_db_rows_bool(r, 5, &f));
    CONF_CHECK(t, f, "bool true came back false");
    CONF_CHECK(t, imi_db_rows_type(r, 5) == IMI_DB_BOOL || imi_db_rows_type(r, 5) == IMI_DB_INT,
               "f is %s", imi_db_type_name(imi_db_rows_type(r, 5)));

    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    for (size_t c = 1; c < 6; c++) {
        CONF_CHECK(t, imi_db_rows_is_null(r, c), "column %zu of the NULL row is not NULL", c);
        CONF_CHECK(t, imi_db_rows_type(r, c) == IMI_DB_NULL, "NULL has type %s",
                   imi_db_type_name(imi_db_rows_type(r, c)));
    }
    CONF_CHECK_RC(t, imi_db_rows_int(r, 1, &i), IMI_ENOTFOUND);
    CONF_CHECK_RC(t, imi_db_rows_text(r, 3, &s, &len), IMI_ENOTFOUND);

    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    CONF_OK(t, imi_db_rows_int(r, 1, &i));
    CONF_CHECK(t, i == INT64_MAX, "INT64_MAX came back as %lld", (long long)i);
    CONF_OK(t, imi_db_rows_double(r, 2, &d));
    CONF_CHECK(t, d == 1e300, "1e300 came back as %.17g", d);
    CONF_CHECK(t, !imi_db_rows_is_null(r, 3), "empty text read back as NULL");
    CONF_OK(t, imi_db_rows_text(r, 3, &s, &len));
    CONF_CHECK(t, len == 0 && !*s, "empty text came back as %zu bytes", len);
    CONF_CHECK(t, !imi_db_rows_is_null(r, 4), "empty blob read back as NULL");
    CONF_OK(t, imi_db_rows_blob(r, 4, &b, &len));
    CONF_CHECK(t, len == 0, "empty blob came back as %zu bytes", len);
    CONF_OK(t, imi_db_rows_bool(r, 5, &f));
    CONF_CHECK(t, !f, "bool false came back true");
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 0);
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 0);
    imi_db_rows_free(r);

    /* Parameters in a WHERE clause, each type. */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE i = ? AND d = ? AND s = ? AND f = ?",
             tbl);
    imi_db_param w[] = { IMI_DB_PINT(INT64_MIN + 1), IMI_DB_PDOUBLE(-2.5e-3), IMI_DB_PTEXT(text),
                         IMI_DB_PBOOL(true) };
    CONF_OK(t, scalar(db, sql, w, 4, &i));
    CONF_CHECK(t, i == 1, "WHERE with every type matched %lld rows", (long long)i);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s WHERE i IS NULL AND s IS NULL", tbl);
    CONF_OK(t, scalar(db, sql, NULL, 0, &i));
    CONF_CHECK(t, i == 1, "IS NULL matched %lld rows", (long long)i);
    drop(db, tbl);
    imi_conf_free(t, db);
}

void imi_conf_db_conversions_and_empty_result(imi_conf_t *t)
{
    OPEN_DB(t, db);
    imi_db_rows *r;
    CONF_OK(t, imi_db_query(db, NULL, "SELECT 42 AS a, 2.5 AS b, 'abc' AS c, '17' AS d, 1 AS e",
                            NULL, 0, &r));
    CONF_CHECK_RC(t, imi_db_rows_int(r, 0, &(int64_t){ 0 }), IMI_EINVALID); /* before next */
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    int64_t i;
    double d;
    bool b;
    const char *s;
    size_t len;
    CONF_OK(t, imi_db_rows_double(r, 0, &d));
    CONF_CHECK(t, d == 42, "int as double: %g", d);
    CONF_OK(t, imi_db_rows_text(r, 0, &s, &len));
    CONF_CHECK(t, !strcmp(s, "42") && len == 2, "int as text: '%s'", s);
    CONF_OK(t, imi_db_rows_double(r, 1, &d));
    CONF_CHECK(t, d == 2.5, "2.5 read back as %g", d);
    CONF_CHECK_RC(t, imi_db_rows_int(r, 1, &i), IMI_EINVALID);
    CONF_CHECK_RC(t, imi_db_rows_int(r, 2, &i), IMI_EINVALID);
    CONF_OK(t, imi_db_rows_int(r, 3, &i));
    CONF_CHECK(t, i == 17, "'17' as int: %lld", (long long)i);
    CONF_OK(t, imi_db_rows_bool(r, 4, &b));
    CONF_CHECK(t, b, "1 as bool is false");
    CONF_CHECK_RC(t, imi_db_rows_int(r, 9, &i), IMI_EINVALID);
    CONF_CHECK(t, imi_db_rows_column_name(r, 9) == NULL, "name of a column out of range");
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 0);
    imi_db_rows_free(r);

    char tbl[64], sql[256];
    table(t, "empty", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v TEXT)%s", tbl, ""));
    snprintf(sql, sizeof sql, "SELECT id, v FROM %s WHERE id = ?", tbl);
    imi_db_param p = IMI_DB_PINT(-1);
    CONF_OK(t, imi_db_query_writer(db, NULL, sql, &p, 1, &r));
    CONF_CHECK(t, imi_db_rows_columns(r) == 2, "an empty result has %zu columns",
               imi_db_rows_columns(r));
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 0);
    CONF_CHECK_RC(t, imi_db_rows_text(r, 1, &s, &len), IMI_EINVALID);
    imi_db_rows_free(r);
    int64_t affected = -1;
    snprintf(sql, sizeof sql, "UPDATE %s SET v = 'x' WHERE id = ?", tbl);
    CONF_OK(t, imi_db_exec(db, NULL, sql, &p, 1, &affected));
    CONF_CHECK(t, affected == 0, "an update of nothing affected %lld", (long long)affected);
    drop(db, tbl);
    imi_conf_free(t, db);
}

void imi_conf_db_tx_commit_and_rollback(imi_conf_t *t)
{
    OPEN_DB(t, db);
    imi_db_tx *tx;
    if (!(imi_db_caps(db) & IMI_DB_CAP_TX)) {
        CONF_CHECK_RC(t, imi_db_begin(db, NULL, &tx), IMI_ENOTSUP);
        imi_conf_free(t, db);
        return;
    }
    char tbl[64], ins[256];
    table(t, "tx", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v VARCHAR(64))%s", tbl, ""));
    snprintf(ins, sizeof ins, "INSERT INTO %s (id, v) VALUES (?, ?)", tbl);

    CONF_OK(t, imi_db_begin(db, NULL, &tx));
    imi_db_param p[] = { IMI_DB_PINT(1), IMI_DB_PTEXT("committed") };
    CONF_OK(t, imi_db_tx_exec(tx, NULL, ins, p, 2, NULL));
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tbl);
    imi_db_rows *r;
    CONF_OK(t, imi_db_tx_query(tx, NULL, sql, NULL, 0, &r));
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    int64_t n = 0;
    CONF_OK(t, imi_db_rows_int(r, 0, &n));
    CONF_CHECK(t, n == 1, "the tx does not see its own insert (%lld)", (long long)n);
    CONF_CHECK_RC(t, imi_db_tx_exec(tx, NULL, ins, p, 2, NULL), IMI_EINVALID); /* rows open */
    imi_db_rows_free(r);
    CONF_OK(t, imi_db_commit(tx, NULL));
    CONF_CHECK(t, count_rows(db, tbl) == 1, "after commit: %lld rows",
               (long long)count_rows(db, tbl));

    CONF_OK(t, imi_db_begin(db, NULL, &tx));
    imi_db_param q[] = { IMI_DB_PINT(2), IMI_DB_PTEXT("rolled back") };
    CONF_OK(t, imi_db_tx_exec(tx, NULL, ins, q, 2, NULL));
    CONF_OK(t, imi_db_rollback(tx, NULL));
    CONF_CHECK(t, count_rows(db, tbl) == 1, "after rollback: %lld rows",
               (long long)count_rows(db, tbl));

    /* The connection of a rolled back tx is reusable: a new tx works at once. */
    CONF_OK(t, imi_db_begin(db, NULL, &tx));
    CONF_OK(t, imi_db_tx_exec(tx, NULL, ins, q, 2, NULL));
    CONF_OK(t, imi_db_commit(tx, NULL));
    CONF_CHECK(t, count_rows(db, tbl) == 2, "after the second commit: %lld rows",
               (long long)count_rows(db, tbl));
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    CONF_CHECK(t, st.tx_begun == 3 && st.tx_committed == 2 && st.tx_rolled_back == 1,
               "tx counters %llu/%llu/%llu", (unsigned long long)st.tx_begun,
               (unsigned long long)st.tx_committed, (unsigned long long)st.tx_rolled_back);
    drop(db, tbl);
    imi_conf_free(t, db);
}

void imi_conf_db_tx_rollback_on_error(imi_conf_t *t)
{
    OPEN_DB(t, db);
    if (!(imi_db_caps(db) & IMI_DB_CAP_TX)) {
        imi_conf_free(t, db);
        return;
    }
    char tbl[64], ins[256];
    table(t, "txerr", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v VARCHAR(64))%s", tbl, ""));
    snprintf(ins, sizeof ins, "INSERT INTO %s (id, v) VALUES (?, ?)", tbl);
    imi_db_param p[] = { IMI_DB_PINT(1), IMI_DB_PTEXT("first") };
    imi_db_tx *tx;
    CONF_OK(t, imi_db_begin(db, NULL, &tx));
    CONF_OK(t, imi_db_tx_exec(tx, NULL, ins, p, 2, NULL));
    CONF_CHECK_RC(t, imi_db_tx_exec(tx, NULL, ins, p, 2, NULL), IMI_ECONFLICT); /* duplicate */
    imi_db_param p2[] = { IMI_DB_PINT(2), IMI_DB_PTEXT("second") };
    CONF_CHECK_RC(t, imi_db_tx_exec(tx, NULL, ins, p2, 2, NULL), IMI_ECONFLICT); /* aborted */
    CONF_CHECK_RC(t, imi_db_commit(tx, NULL), IMI_ECONFLICT);
    CONF_CHECK(t, count_rows(db, tbl) == 0, "a failed tx left %lld rows",
               (long long)count_rows(db, tbl));

    /* A bad statement inside a tx aborts it too; the writer keeps working after. */
    CONF_OK(t, imi_db_begin(db, NULL, &tx));
    CONF_OK(t, imi_db_tx_exec(tx, NULL, ins, p, 2, NULL));
    int rc = imi_db_tx_exec(tx, NULL, "SELEKT nonsense FROM nowhere", NULL, 0, NULL);
    CONF_CHECK(t, rc == IMI_EINVALID, "bad SQL in a tx gave %s", imi_err_name(rc));
    CONF_CHECK_RC(t, imi_db_rollback(tx, NULL), IMI_OK);
    CONF_CHECK(t, count_rows(db, tbl) == 0, "an aborted tx left %lld rows",
               (long long)count_rows(db, tbl));
    CONF_OK(t, imi_db_exec(db, NULL, ins, p, 2, NULL));
    CONF_CHECK(t, count_rows(db, tbl) == 1, "the writer lost an insert after a failed tx");
    drop(db, tbl);
    imi_conf_free(t, db);
}

void imi_conf_db_reader_writer_routing(imi_conf_t *t)
{
    OPEN_DB(t, db);
    size_t readers = imi_db_reader_count(db);
    char tbl[64], sql[256];
    table(t, "route", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v VARCHAR(64))%s", tbl, ""));
    CONF_OK(t, execf(db, "INSERT INTO %s (id, v) VALUES (1, 'writer')%s", tbl, ""));
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE id = 1", tbl);
    imi_db_rows *r;
    const char *s;
    CONF_OK(t, imi_db_query_writer(db, NULL, sql, NULL, 0, &r));
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    CONF_OK(t, imi_db_rows_text(r, 0, &s, NULL));
    CONF_CHECK(t, !strcmp(s, "writer"), "query_writer read '%s'", s);
    imi_db_rows_free(r);
    imi_db_stats st;
    if (readers == 0) {
        CONF_OK(t, imi_db_query(db, NULL, sql, NULL, 0, &r));
        imi_db_rows_free(r);
        imi_db_get_stats(db, &st);
        CONF_CHECK(t, st.reader_queries == 0, "no readers, yet %llu reader queries",
                   (unsigned long long)st.reader_queries);
        drop(db, tbl);
        imi_conf_free(t, db);
        return;
    }
    /* The readers' database lacks the writer's table: every reader proves it. */
    for (size_t i = 0; i < readers; i++) {
        int rc = imi_db_query(db, NULL, sql, NULL, 0, &r);
        imi_db_rows_free(r);
        CONF_CHECK(t, rc == IMI_EINVALID, "query through reader %zu saw the writer's table (%s)",
                   i, imi_err_name(rc));
    }
    imi_db_get_stats(db, &st);
    CONF_CHECK(t, st.reader_queries == readers, "%llu reader queries, expected %zu",
               (unsigned long long)st.reader_queries, readers);
    /* With a seed section, rows put in the readers' database come back through readers. */
    imi_db *seed = NULL;
    if (imi_config_has_section(imi_app_config(t->app), "db.reader_seed")) {
        CONF_OK(t, imi_db_open(t->app, "reader_seed", &seed));
        CONF_OK(t, execf(seed, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v VARCHAR(64))%s", tbl, ""));
        CONF_OK(t, execf(seed, "INSERT INTO %s (id, v) VALUES (1, 'reader')%s", tbl, ""));
        for (size_t i = 0; i < readers; i++) {
            CONF_OK(t, imi_db_query(db, NULL, sql, NULL, 0, &r));
            CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
            CONF_OK(t, imi_db_rows_text(r, 0, &s, NULL));
            bool ok = !strcmp(s, "reader");
            imi_db_rows_free(r);
            CONF_CHECK(t, ok, "a query through a reader did not read the reader's row");
        }
        CONF_OK(t, imi_db_query_writer(db, NULL, sql, NULL, 0, &r));
        CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
        CONF_OK(t, imi_db_rows_text(r, 0, &s, NULL));
        bool ok = !strcmp(s, "writer");
        imi_db_rows_free(r);
        CONF_CHECK(t, ok, "query_writer did not read the writer's row");
        /* Writes never go to a reader. */
        CONF_OK(t, execf(db, "INSERT INTO %s (id, v) VALUES (2, 'w2')%s", tbl, ""));
        CONF_CHECK(t, count_rows(seed, tbl) == 1, "an exec reached the readers' database");
        drop(seed, tbl);
        imi_db_free(seed);
    }
    drop(db, tbl);
    imi_conf_free(t, db);
}

void imi_conf_db_injection_stays_data(imi_conf_t *t)
{
    OPEN_DB(t, db);
    char tbl[64], sql[256];
    table(t, "inj", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v TEXT)%s", tbl, ""));
    static const char *const evil[] = {
        "'; DROP TABLE %s; --", "Robert'); DROP TABLE students;--", "' OR '1'='1",
        "\\'; SELECT 1; --", "?", "$1", "/* ? */ ?", "\"quoted\" `tick`", "\x01\x7f",
    };
    size_t n = sizeof evil / sizeof evil[0];
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, v) VALUES (?, ?)", tbl);
    for (size_t i = 0; i < n; i++) {
        imi_db_param p[] = { IMI_DB_PINT((int64_t)i), IMI_DB_PTEXT(evil[i]) };
        CONF_OK(t, imi_db_exec(db, NULL, sql, p, 2, NULL));
    }
    CONF_CHECK(t, count_rows(db, tbl) == (int64_t)n, "the table holds %lld rows, not %zu",
               (long long)count_rows(db, tbl), n);
    snprintf(sql, sizeof sql, "SELECT id FROM %s WHERE v = ?", tbl);
    for (size_t i = 0; i < n; i++) {
        imi_db_param p = IMI_DB_PTEXT(evil[i]);
        imi_db_rows *r;
        CONF_OK(t, imi_db_query_writer(db, NULL, sql, &p, 1, &r));
        CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
        int64_t id = -1;
        CONF_OK(t, imi_db_rows_int(r, 0, &id));
        int more = imi_db_rows_next(r, NULL);
        imi_db_rows_free(r);
        CONF_CHECK(t, id == (int64_t)i && more == 0, "'%s' matched id %lld (more: %d)", evil[i],
                   (long long)id, more);
    }
    /* A `?` in a string literal, a comment or a quoted identifier is not a placeholder. */
    imi_db_param one = IMI_DB_PTEXT("x");
    imi_db_rows *r;
    CONF_OK(t, imi_db_query(db, NULL, "SELECT '?' AS q, ? AS p -- trailing ?", &one, 1, &r));
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    const char *s;
    CONF_OK(t, imi_db_rows_text(r, 0, &s, NULL));
    CONF_CHECK(t, !strcmp(s, "?"), "the literal '?' read back as '%s'", s);
    CONF_OK(t, imi_db_rows_text(r, 1, &s, NULL));
    CONF_CHECK(t, !strcmp(s, "x"), "the parameter read back as '%s'", s);
    imi_db_rows_free(r);
    /* A parameter count that differs from the placeholders is refused before the driver. */
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, sql, NULL, 0, NULL), IMI_EINVALID);
    imi_db_param two[] = { IMI_DB_PINT(1), IMI_DB_PINT(2) };
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, sql, two, 2, NULL), IMI_EINVALID);
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, "", NULL, 0, NULL), IMI_EINVALID);
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, NULL, NULL, 0, NULL), IMI_EINVALID);
    drop(db, tbl);
    imi_conf_free(t, db);
}

/* SQL that makes the server end this very connection, per dialect; NULL when the backend
 * has none (sqlite: a connection is a file handle). */
static const char *kill_self_sql(imi_db *db)
{
    const char *d = imi_db_dialect(db);
    if (!strcmp(d, "postgresql"))
        return "SELECT pg_terminate_backend(pg_backend_pid())";
    if (!strcmp(d, "mysql"))
        return "KILL CONNECTION_ID()";
    return NULL;
}

void imi_conf_db_errors_and_broken_connection(imi_conf_t *t)
{
    OPEN_DB(t, db);
    char tbl[64], sql[256];
    table(t, "err", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, v TEXT NOT NULL)%s", tbl, ""));
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, "SELEKT 1", NULL, 0, NULL), IMI_EINVALID);
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, "SELECT * FROM imi_no_such_table_xyz", NULL, 0, NULL),
                  IMI_EINVALID);
    imi_db_rows *r = NULL;
    CONF_CHECK_RC(t, imi_db_query_writer(db, NULL, "SELECT nope FROM imi_no_such_table_xyz",
                                         NULL, 0, &r), IMI_EINVALID);
    CONF_CHECK(t, r == NULL, "a failed query left rows");
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, v) VALUES (?, ?)", tbl);
    imi_db_param p[] = { IMI_DB_PINT(1), IMI_DB_PTEXT("a") };
    CONF_OK(t, imi_db_exec(db, NULL, sql, p, 2, NULL));
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, sql, p, 2, NULL), IMI_ECONFLICT);
    imi_db_param nul[] = { IMI_DB_PINT(2), IMI_DB_PNULL() };
    CONF_CHECK_RC(t, imi_db_exec(db, NULL, sql, nul, 2, NULL), IMI_ECONFLICT);
    CONF_CHECK(t, imi_error_native() != 0 || *imi_error_message(),
               "a constraint error carries no detail");
    /* Failures leave every pooled connection usable. */
    for (int i = 0; i < 8; i++)
        CONF_CHECK(t, count_rows(db, tbl) == 1, "after errors the writer reads %lld rows",
                   (long long)count_rows(db, tbl));
    const char *kill = kill_self_sql(db);
    if (kill) {
        imi_db_stats before, after;
        imi_db_get_stats(db, &before);
        int rc = imi_db_exec(db, NULL, kill, NULL, 0, NULL);
        /* The server may end the session before or after answering. */
        if (rc == IMI_OK)
            rc = imi_db_exec(db, NULL, "SELECT 1", NULL, 0, NULL);
        CONF_CHECK(t, rc == IMI_OK || rc == IMI_EUNAVAILABLE, "killing the session gave %s (%s)",
                   imi_err_name(rc), imi_error_message());
        for (int i = 0; i < 4; i++)
            CONF_CHECK(t, count_rows(db, tbl) == 1, "the pool did not heal: %s",
                       imi_error_message());
        imi_db_get_stats(db, &after);
        CONF_CHECK(t, after.conns_broken > before.conns_broken &&
                          after.conns_opened > before.conns_opened,
                   "no connection was replaced (broken %llu->%llu, opened %llu->%llu)",
                   (unsigned long long)before.conns_broken, (unsigned long long)after.conns_broken,
                   (unsigned long long)before.conns_opened, (unsigned long long)after.conns_opened);
    }
    drop(db, tbl);
    imi_conf_free(t, db);
}
