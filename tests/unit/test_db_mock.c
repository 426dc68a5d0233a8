/* The scripted db mock, and through it the db front-end's own logic: routing, pool
 * healing after a broken connection, transaction state, ctx handling. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "iminfra/iminfra.h"
#include "iminfra/db_mock.h"

static imi_app *app;
static imi_db *db;

static void open_with(const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[db]\ndriver = mock\n%s\n", extra);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "mock.ini", "/tmp", &cfg), IMI_OK, "%s",
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

static void setup_plain(void) { open_with(""); }

#define MOCK(cmd, arg) cr_assert_eq(imi_db_mock(db, cmd, arg), IMI_OK, "%s %s: %s", cmd, arg, \
                                    imi_error_message())

static void assert_verified(void)
{
    imi_buf rep = IMI_BUF_INIT;
    int rc = imi_db_mock_verify(db, &rep);
    cr_assert_eq(rc, IMI_OK, "verify: %s", rep.data ? rep.data : "");
    imi_buf_free(&rep);
}

Test(db_mock, exec_with_args_and_affected, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "exec UPDATE users SET name = ?  WHERE id = ?");
    MOCK("args", "'bob', 7");
    MOCK("affected", "1");
    imi_db_param p[] = { IMI_DB_PTEXT("bob"), IMI_DB_PINT(7) };
    int64_t n = 0;
    cr_assert_eq(imi_db_exec(db, NULL, "UPDATE users\n  SET name = ? WHERE id = ?", p, 2, &n),
                 IMI_OK, "%s", imi_error_message());
    cr_assert_eq(n, 1);
    assert_verified();
    imi_buf calls = IMI_BUF_INIT;
    cr_assert_eq(imi_db_control(db, "calls", NULL, &calls), IMI_OK);
    cr_assert_str_eq(calls.data, "exec writer UPDATE users SET name = ? WHERE id = ? ['bob', 7]\n");
    imi_buf_free(&calls);
}

Test(db_mock, query_rows_every_type, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "query re:^SELECT .* FROM users");
    MOCK("columns", "id, name, score, avatar, active");
    MOCK("row", "1, 'it''s', 2.5, x'00ff00', true");
    MOCK("row", "2, null, -1e3, x'', false");
    imi_db_rows *r;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT id, name FROM users", NULL, 0, &r), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(imi_db_rows_columns(r), 5);
    cr_assert_str_eq(imi_db_rows_column_name(r, 3), "avatar");
    cr_assert_eq(imi_db_rows_next(r, NULL), 1);
    int64_t i;
    double d;
    bool b;
    const char *s;
    const void *blob;
    size_t len;
    cr_assert_eq(imi_db_rows_int(r, 0, &i), IMI_OK);
    cr_assert_eq(i, 1);
    cr_assert_eq(imi_db_rows_text(r, 1, &s, &len), IMI_OK);
    cr_assert_str_eq(s, "it's");
    cr_assert_eq(imi_db_rows_double(r, 2, &d), IMI_OK);
    cr_assert_eq(d, 2.5);
    cr_assert_eq(imi_db_rows_blob(r, 3, &blob, &len), IMI_OK);
    cr_assert_eq(len, 3);
    cr_assert_eq(memcmp(blob, "\0\xff\0", 3), 0);
    cr_assert_eq(imi_db_rows_bool(r, 4, &b), IMI_OK);
    cr_assert(b);
    cr_assert_eq(imi_db_rows_type(r, 4), IMI_DB_BOOL);
    cr_assert_eq(imi_db_rows_text(r, 4, &s, NULL), IMI_OK);
    cr_assert_str_eq(s, "true");
    cr_assert_eq(imi_db_rows_next(r, NULL), 1);
    cr_assert(imi_db_rows_is_null(r, 1));
    cr_assert_eq(imi_db_rows_text(r, 1, &s, NULL), IMI_ENOTFOUND);
    cr_assert_eq(imi_db_rows_int(r, 2, &i), IMI_OK);
    cr_assert_eq(i, -1000);
    cr_assert_eq(imi_db_rows_text(r, 2, &s, NULL), IMI_OK);
    cr_assert_str_eq(s, "-1000");
    cr_assert_eq(imi_db_rows_int(r, 3, &i), IMI_EINVALID);
    cr_assert_eq(imi_db_rows_next(r, NULL), 0);
    imi_db_rows_free(r);
    assert_verified();
}

Test(db_mock, unexpected_and_unmet_are_reported, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "exec INSERT INTO t VALUES (?)");
    MOCK("args", "1");
    MOCK("expect", "exec DELETE FROM t");
    imi_db_param wrong = IMI_DB_PINT(2);
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (?)", &wrong, 1, NULL), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "unexpected call exec writer INSERT INTO t VALUES (?) [2]"),
              "%s", imi_error_message());
    cr_assert(strstr(imi_error_message(), "expected exec INSERT INTO t VALUES (?) [1]"), "%s",
              imi_error_message());
    imi_buf rep = IMI_BUF_INIT;
    cr_assert_eq(imi_db_mock_verify(db, &rep), IMI_ECONFLICT);
    cr_assert(strstr(rep.data, "unmet: exec INSERT INTO t VALUES (?) [1]"), "%s", rep.data);
    cr_assert(strstr(rep.data, "unmet: exec DELETE FROM t"), "%s", rep.data);
    cr_assert(strstr(rep.data, "unexpected: exec writer INSERT INTO t VALUES (?) [2]"), "%s",
              rep.data);
    /* Types are exact: 1.0 is not 1. */
    imi_db_param dbl = IMI_DB_PDOUBLE(1.0);
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (?)", &dbl, 1, NULL), IMI_EINVALID);
    imi_db_param one = IMI_DB_PINT(1);
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (?)", &one, 1, NULL), IMI_OK);
    cr_assert_eq(imi_db_exec(db, NULL, "DELETE FROM t", NULL, 0, NULL), IMI_OK);
    cr_assert_eq(imi_db_control(db, "unmet", NULL, &rep), IMI_OK);
    cr_assert_eq(rep.len, 0, "%s", rep.data);
    cr_assert_eq(imi_db_mock_verify(db, &rep), IMI_ECONFLICT, "unexpected calls stay reported");
    cr_assert_eq(imi_db_mock(db, "reset", NULL), IMI_OK);
    assert_verified();
    imi_buf_free(&rep);
}

Test(db_mock, ordered_and_unordered, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "exec A");
    MOCK("expect", "exec B");
    cr_assert_eq(imi_db_exec(db, NULL, "B", NULL, 0, NULL), IMI_EINVALID);
    MOCK("reset", NULL);
    MOCK("ordered", "false");
    MOCK("expect", "exec A");
    MOCK("expect", "exec B");
    cr_assert_eq(imi_db_exec(db, NULL, "B", NULL, 0, NULL), IMI_OK);
    cr_assert_eq(imi_db_exec(db, NULL, "A", NULL, 0, NULL), IMI_OK);
    cr_assert_eq(imi_db_exec(db, NULL, "A", NULL, 0, NULL), IMI_EINVALID, "an expectation is met once");
}

Test(db_mock, scripted_errors_and_pool_healing, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "exec INSERT x");
    MOCK("error", "IMI_ECONFLICT duplicate key value");
    MOCK("expect", "exec INSERT x");
    MOCK("error", "IMI_EUNAVAILABLE server closed the connection");
    MOCK("expect", "exec INSERT x");
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT x", NULL, 0, NULL), IMI_ECONFLICT);
    cr_assert(strstr(imi_error_message(), "duplicate key value"), "%s", imi_error_message());
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT x", NULL, 0, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT x", NULL, 0, NULL), IMI_OK, "the pool did not heal");
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_eq(st.conns_opened, 2, "a new connection replaces the broken one (%llu)",
                 (unsigned long long)st.conns_opened);
    cr_assert_eq(st.conns_broken, 1);
    cr_assert_eq(st.errors, 2);
    imi_buf c = IMI_BUF_INIT;
    cr_assert_eq(imi_db_control(db, "conns", NULL, &c), IMI_OK);
    cr_assert_str_eq(c.data, "opened 2 closed 1");
    imi_buf_free(&c);
    assert_verified();
}

/* A failure drops the pool's idle connections too, so that after a server restart one
 * call fails, not one per pooled connection. */
Test(db_mock, broken_connection_drops_idle_siblings)
{
    open_with("pool_size = 3");
    imi_db_rows *r[3];
    MOCK("ordered", "false");
    for (int i = 0; i < 3; i++) {
        MOCK("expect", "query SELECT 1");
        MOCK("columns", "x");
    }
    for (int i = 0; i < 3; i++)
        cr_assert_eq(imi_db_query(db, NULL, "SELECT 1", NULL, 0, &r[i]), IMI_OK);
    for (int i = 0; i < 3; i++)
        imi_db_rows_free(r[i]);
    MOCK("expect", "exec X");
    MOCK("error", "IMI_EUNAVAILABLE gone");
    MOCK("expect", "exec X");
    cr_assert_eq(imi_db_exec(db, NULL, "X", NULL, 0, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_db_exec(db, NULL, "X", NULL, 0, NULL), IMI_OK);
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_eq(st.conns_broken, 3);
    cr_assert_eq(st.conns_opened, 4);
    teardown();
}

Test(db_mock, transactions, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "begin");
    MOCK("expect", "exec INSERT a");
    MOCK("expect", "query SELECT a");
    MOCK("columns", "a");
    MOCK("row", "1");
    MOCK("expect", "commit");
    imi_db_tx *tx;
    cr_assert_eq(imi_db_begin(db, NULL, &tx), IMI_OK);
    cr_assert_eq(imi_db_tx_exec(tx, NULL, "INSERT a", NULL, 0, NULL), IMI_OK);
    imi_db_rows *r;
    cr_assert_eq(imi_db_tx_query(tx, NULL, "SELECT a", NULL, 0, &r), IMI_OK);
    cr_assert_eq(imi_db_commit(tx, NULL), IMI_EINVALID, "commit with an open result");
    imi_db_rows_free(r);
    imi_buf rep = IMI_BUF_INIT;
    cr_assert_eq(imi_db_mock_verify(db, &rep), IMI_ECONFLICT);
    cr_assert(strstr(rep.data, "unexpected: rollback writer"), "%s", rep.data);
    MOCK("reset", NULL);

    /* A failing statement rolls back at once; commit reports the failure. */
    MOCK("expect", "begin");
    MOCK("expect", "exec INSERT b");
    MOCK("error", "IMI_ECONFLICT unique violation");
    MOCK("expect", "rollback");
    cr_assert_eq(imi_db_begin(db, NULL, &tx), IMI_OK);
    cr_assert_eq(imi_db_tx_exec(tx, NULL, "INSERT b", NULL, 0, NULL), IMI_ECONFLICT);
    assert_verified();
    cr_assert_eq(imi_db_tx_exec(tx, NULL, "INSERT c", NULL, 0, NULL), IMI_ECONFLICT);
    cr_assert(strstr(imi_error_message(), "aborted"), "%s", imi_error_message());
    cr_assert_eq(imi_db_commit(tx, NULL), IMI_ECONFLICT);
    assert_verified();
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_eq(st.tx_begun, 2);
    cr_assert_eq(st.tx_committed, 0);
    cr_assert_eq(st.tx_rolled_back, 2);
    imi_buf_free(&rep);
}

Test(db_mock, reader_round_robin)
{
    open_with("readers = 2");
    cr_assert_eq(imi_db_reader_count(db), 2);
    MOCK("expect", "query SELECT 1");
    MOCK("on", "reader");
    MOCK("columns", "x");
    MOCK("expect", "query SELECT 1");
    MOCK("on", "reader");
    MOCK("columns", "x");
    MOCK("expect", "query SELECT 1");
    MOCK("on", "writer");
    MOCK("columns", "x");
    MOCK("expect", "exec UPDATE");
    MOCK("on", "writer");
    imi_db_rows *r;
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(imi_db_query(db, NULL, "SELECT 1", NULL, 0, &r), IMI_OK, "%s",
                     imi_error_message());
        imi_db_rows_free(r);
    }
    cr_assert_eq(imi_db_query_writer(db, NULL, "SELECT 1", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    imi_db_rows_free(r);
    cr_assert_eq(imi_db_exec(db, NULL, "UPDATE", NULL, 0, NULL), IMI_OK, "%s", imi_error_message());
    assert_verified();
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_eq(st.reader_queries, 2);
    /* Both readers were used: each holds one connection. */
    imi_buf c = IMI_BUF_INIT;
    cr_assert_eq(imi_db_control(db, "conns", NULL, &c), IMI_OK);
    cr_assert_str_eq(c.data, "opened 3 closed 0");
    imi_buf_free(&c);
    teardown();
}

Test(db_mock, delay_meets_deadline_and_cancel, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "exec SLOW");
    MOCK("delay", "2s");
    imi_ctx *ctx = imi_ctx_new(50);
    int64_t t0 = imi_now_mono_ns();
    cr_assert_eq(imi_db_exec(db, ctx, "SLOW", NULL, 0, NULL), IMI_ETIMEDOUT);
    cr_assert_lt(imi_now_mono_ns() - t0, 1000000000LL);
    imi_ctx_free(ctx);
    MOCK("expect", "exec FAST");
    MOCK("delay", "5ms");
    cr_assert_eq(imi_db_exec(db, NULL, "FAST", NULL, 0, NULL), IMI_OK);
}

Test(db_mock, script_file_option)
{
    char path[] = "/tmp/imi-mock-script-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    const char *script = "# users service\n"
                         "expect query SELECT name FROM users WHERE id = ?\n"
                         "args 42\n"
                         "columns name\n"
                         "row 'alice'\n"
                         "\n"
                         "expect exec DELETE FROM users WHERE id = ?\n"
                         "args any\n"
                         "affected 1\n";
    cr_assert_eq(write(fd, script, strlen(script)), (ssize_t)strlen(script));
    close(fd);
    char opt[128];
    snprintf(opt, sizeof opt, "script = %s", path);
    open_with(opt);
    imi_db_param id = IMI_DB_PINT(42);
    imi_db_rows *r;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT name FROM users WHERE id = ?", &id, 1, &r), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(imi_db_rows_next(r, NULL), 1);
    const char *s;
    cr_assert_eq(imi_db_rows_text(r, 0, &s, NULL), IMI_OK);
    cr_assert_str_eq(s, "alice");
    imi_db_rows_free(r);
    int64_t n;
    imi_db_param other = IMI_DB_PTEXT("anything");
    cr_assert_eq(imi_db_exec(db, NULL, "DELETE FROM users WHERE id = ?", &other, 1, &n), IMI_OK);
    cr_assert_eq(n, 1);
    assert_verified();
    teardown();
    unlink(path);
}

Test(db_mock, bad_script_and_options)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse("[db]\ndriver = mock\nreaders = -1\n", "m.ini", "/tmp", &cfg),
                 IMI_OK);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK);
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_ECONFIG);
    imi_app_free(app);
    cr_assert_eq(imi_config_parse("[db]\ndriver = mock\nscript = /nonexistent/x\n", "m.ini",
                                  "/tmp", &cfg), IMI_OK);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK);
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_ECONFIG);
    imi_app_free(app);
    app = NULL;
    db = NULL;
    open_with("");
    cr_assert_eq(imi_db_mock(db, "row", "1"), IMI_EINVALID, "row before expect");
    cr_assert_eq(imi_db_mock(db, "expect", "select x"), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "expect", "query re:("), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "expect", "query SELECT 1"), IMI_OK);
    cr_assert_eq(imi_db_mock(db, "row", "1"), IMI_EINVALID, "row without columns");
    cr_assert_eq(imi_db_mock(db, "args", "'open"), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "args", "1 2"), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "error", "IMI_NOPE"), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "frobnicate", ""), IMI_EINVALID);
    teardown();
}

Test(db_mock, front_end_checks, .init = setup_plain, .fini = teardown)
{
    imi_db_param p = IMI_DB_PINT(1);
    /* Refused before the driver: the mock records nothing. */
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT ?, ?", &p, 1, NULL), IMI_EINVALID);
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT '?'", &p, 1, NULL), IMI_EINVALID);
    imi_db_param bad = { .type = (imi_db_type)99 };
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT ?", &bad, 1, NULL), IMI_EINVALID);
    cr_assert_eq(imi_db_exec(db, NULL, "SELECT ?", NULL, 1, NULL), IMI_EINVALID);
    imi_buf calls = IMI_BUF_INIT;
    cr_assert_eq(imi_db_control(db, "calls", NULL, &calls), IMI_OK);
    cr_assert_eq(calls.len, 0, "%s", calls.data);
    imi_buf_free(&calls);
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    cr_assert_eq(imi_db_exec(db, ctx, "SELECT 1", NULL, 0, NULL), IMI_ECANCELED);
    imi_ctx_free(ctx);
    cr_assert_str_eq(imi_db_dialect(db), "mock");
    cr_assert_eq(imi_db_control(db, "", NULL, NULL), IMI_EINVALID);
}

typedef struct worker {
    int id;
    int failures;
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 50; i++) {
        imi_db_param p = IMI_DB_PINT(w->id);
        if (imi_db_exec(db, NULL, "INSERT t VALUES (?)", &p, 1, NULL))
            w->failures++;
    }
    return NULL;
}

/* Many threads against a pool of 2: every call is answered, the pool waits. */
Test(db_mock, many_threads)
{
    open_with("pool_size = 2");
    MOCK("ordered", "false");
    enum { N = 8 };
    for (int i = 0; i < N * 50; i++) {
        MOCK("expect", "exec INSERT t VALUES (?)");
        MOCK("delay", "100us");
    }
    pthread_t th[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){ .id = i };
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int failures = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    cr_assert_eq(failures, 0);
    assert_verified();
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_leq(st.conns_opened, 2);
    teardown();
}

/* A busy pool makes callers wait within their deadline, then answers IMI_ETIMEDOUT (or
 * IMI_ECANCELED) naming the pool; a freed connection wakes a waiter. */
Test(db_mock, pool_exhausted_waits_within_deadline)
{
    open_with("pool_size = 1");
    MOCK("ordered", "false");
    for (int i = 0; i < 2; i++) {
        MOCK("expect", "query SELECT 1");
        MOCK("columns", "x");
    }
    imi_db_rows *held, *r;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT 1", NULL, 0, &held), IMI_OK);
    imi_ctx *ctx = imi_ctx_new(100);
    int64_t t0 = imi_now_mono_ns();
    cr_assert_eq(imi_db_query(db, ctx, "SELECT 1", NULL, 0, &r), IMI_ETIMEDOUT);
    int64_t waited = imi_now_mono_ns() - t0;
    imi_ctx_free(ctx);
    cr_assert(strstr(imi_error_message(), "busy"), "%s", imi_error_message());
    cr_assert_geq(waited, 90000000LL);
    cr_assert_lt(waited, 1000000000LL);
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_eq(st.pool_waits, 1);
    imi_db_rows_free(held);
    cr_assert_eq(imi_db_query(db, NULL, "SELECT 1", NULL, 0, &r), IMI_OK);
    imi_db_rows_free(r);
    assert_verified();
    teardown();
}

/* Rows hold as many values as there were columns when they were given: more columns
 * afterwards would make the driver read past each row. */
Test(db_mock, columns_after_a_row_are_refused, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "query SELECT a FROM t");
    MOCK("columns", "a");
    MOCK("row", "1");
    cr_assert_eq(imi_db_mock(db, "columns", "b, c"), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "'columns' after a 'row'"), "%s", imi_error_message());
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT a FROM t", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_db_rows_columns(r), 1);
    cr_assert_eq(imi_db_rows_next(r, NULL), 1);
    int64_t v = 0;
    cr_assert_eq(imi_db_rows_int(r, 0, &v), IMI_OK);
    cr_assert_eq(v, 1);
    imi_db_rows_free(r);
    assert_verified();
}

/* A delay is range-checked before it is converted: 1e300 ms does not fit an int64. */
Test(db_mock, delay_out_of_range_is_refused, .init = setup_plain, .fini = teardown)
{
    MOCK("expect", "exec DELETE FROM t");
    static const char *const bad[] = { "1e300", "1e300us", "inf", "nan", "-1", "3600001",
                                       "3601s", "9223372036854775807" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(imi_db_mock(db, "delay", bad[i]), IMI_EINVALID, "delay %s", bad[i]);
        cr_assert(strstr(imi_error_message(), "out of range"), "%s", imi_error_message());
    }
    MOCK("delay", "3600s");
    MOCK("delay", "0");
    int64_t n;
    cr_assert_eq(imi_db_exec(db, NULL, "DELETE FROM t", NULL, 0, &n), IMI_OK);
}

/* glibc's regcomp expands nested intervals: this one never finished. Such patterns are
 * refused at once; ordinary ones still work. */
Test(db_mock, explosive_regex_is_refused, .init = setup_plain, .fini = teardown, .timeout = 20)
{
    cr_assert_eq(imi_db_mock(db, "expect", "query re:(a{1,1000}b){1,1000}"), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "too large once its repeats"), "%s",
              imi_error_message());
    /* Found by fuzz_mock_script: each stacked or nested '+' doubles glibc's work. */
    cr_assert_eq(imi_db_mock(db, "expect", "query re:a++++++++++++++++++++++++"), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "expect", "query re:((((((((((((a+)+)+)+)+)+)+)+)+)+)+)+)"),
                 IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "expect", "query re:(a{1,40}){1,40}"), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "expect", "query re:(.?.?.?.?.?.?.?.?.?.?.?.?.?.?.?.?){64}"),
                 IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "expect", "query re:(a*)b\\1"), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "back-reference"), "%s", imi_error_message());
    /* Found by the CI fuzz smoke run: stacked stars took glibc's regcomp over 10 s. */
    cr_assert_eq(imi_db_mock(db, "expect", "query re:^U***********+*******A"), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "already repeated"), "%s", imi_error_message());
    cr_assert_eq(imi_db_mock(db, "expect", "query re:(a*)*"), IMI_EINVALID);
    cr_assert_eq(imi_db_mock(db, "expect", "query re:(a|b*)+"), IMI_EINVALID);
    char long_re[300] = "query re:";
    memset(long_re + 9, 'a', 260);
    long_re[269] = '\0';
    cr_assert_eq(imi_db_mock(db, "expect", long_re), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "at most 256"), "%s", imi_error_message());
    /* Many repeats side by side cost only their sum. */
    MOCK("expect", "query re:^UPDATE [a-z]+ SET [a-z_]+ = .+, [a-z]+ = .+ WHERE [a-z]+ = .+$");
    MOCK("expect", "query re:^SELECT [a-z]{1,10} FROM t[0-9]{2}$");
    MOCK("ordered", "false");
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT abc FROM t42", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    imi_db_rows_free(r);
    cr_assert_eq(imi_db_query(db, NULL, "UPDATE u SET n_x = 1, m = 2 WHERE id = 3", NULL, 0, &r),
                 IMI_OK, "%s", imi_error_message());
    imi_db_rows_free(r);
    assert_verified();
}

/* A value out of range is refused with the file and line that set it. */
Test(db_mock, out_of_range_settings_name_file_and_line)
{
    static const char *const bad[][2] = {
        { "pool_size = 0", "mock.ini:5: [db] pool_size must be 1..1024, not 0" },
        { "pool_size = 99999", "mock.ini:5: [db] pool_size must be 1..1024, not 99999" },
        { "slow_query = -5ms", "mock.ini:5: [db] slow_query = '-5ms' is not a duration from 0" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[log]\nlevel = error\n[db]\ndriver = mock\n%s\n", bad[i][0]);
        imi_config *cfg = NULL;
        cr_assert_eq(imi_config_parse(text, "mock.ini", "/tmp", &cfg), IMI_OK);
        imi_app *a = NULL;
        cr_assert_eq(imi_app_open_config(cfg, &a), IMI_OK, "%s", imi_error_message());
        imi_db *d = NULL;
        cr_expect_eq(imi_db_open(a, NULL, &d), IMI_ECONFIG, "'%s' accepted", bad[i][0]);
        cr_expect(strstr(imi_error_message(), bad[i][1]), "%s", imi_error_message());
        imi_db_free(d);
        imi_app_free(a);
    }
}
