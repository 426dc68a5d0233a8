/* The postgres driver against a primary and its streaming replica (made with
 * pg_basebackup -R), both serving TLS from the test CA: reads routed to the replica see
 * what the writer committed once it has replayed; the replica stopped → reads fall back
 * to the writer within the call's deadline (or fail, reader_fallback = fail) and return to
 * the replica after it restarts; reads inside a transaction go to the writer;
 * sslmode=verify-full with the right CA and a clear refusal with the wrong one; a wrong
 * password is IMI_ECONFIG; multi-statement exec only with multi_statements = true.
 * Run by db_pg_replica.sh, which starts tools/clusters/pg-replica.sh and exports
 * IMI_PG_PRIMARY, IMI_PG_REPLICA, IMI_TLS_DIR, IMI_PG_CLUSTER (the script) and
 * IMI_PG_CLUSTER_DIR. Figures are printed as "measured: ...". */
#include <string.h>
#include <unistd.h>
#include "db_cluster_util.h"

static void cluster_ctl(const char *what)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash '%s' %s '%s'", need_env("IMI_PG_CLUSTER"), what,
             need_env("IMI_PG_CLUSTER_DIR"));
    cr_assert_eq(system(cmd), 0, "%s failed", cmd);
}

/* [db] on the primary as writer and the replica as reader, plus extra keys. */
static void open_pair(cluster_db *c, const char *extra)
{
    char keys[2048];
    snprintf(keys, sizeof keys, "driver = postgres\nwriter = %s\nreaders = %s\n%s",
             need_env("IMI_PG_PRIMARY"), need_env("IMI_PG_REPLICA"), extra);
    cr_assert_eq(cluster_open(c, keys), IMI_OK, "%s", imi_error_message());
}

static void exec_ok(imi_db *db, const char *sql)
{
    cr_assert_eq(imi_db_exec(db, NULL, sql, NULL, 0, NULL), IMI_OK, "%s: %s", sql,
                 imi_error_message());
}

Test(pg_replica, reads_on_the_replica_see_committed_rows)
{
    cluster_db c;
    open_pair(&c, "");
    exec_ok(c.db, "DROP TABLE IF EXISTS rep_rows");
    exec_ok(c.db, "CREATE TABLE rep_rows (id int PRIMARY KEY, v text)");
    int64_t t0 = 0;
    /* A warm connection to the replica, so that the lag below is replay, not connect. */
    cr_assert_eq(query_int(c.db, NULL, false, "SELECT 1", &t0), IMI_OK, "%s", imi_error_message());
    t0 = imi_now_mono_ns();
    imi_db_param p[] = { IMI_DB_PINT(1), IMI_DB_PTEXT("one") };
    cr_assert_eq(imi_db_exec(c.db, NULL, "INSERT INTO rep_rows VALUES (?, ?)", p, 2, NULL),
                 IMI_OK, "%s", imi_error_message());
    /* Poll the replica (bounded) until it has replayed the insert. */
    int64_t seen = 0, in_recovery = 0;
    int rc = IMI_ENOTFOUND, polls = 0;
    while (ms_since(t0) < 10000) {
        polls++;
        rc = query_int(c.db, NULL, false, "SELECT count(*) FROM rep_rows WHERE v = 'one'", &seen);
        if (!rc && seen == 1)
            break;
        usleep(2000);
    }
    double lag = ms_since(t0);
    cr_assert_eq(rc, IMI_OK, "the replica never answered: %s", imi_error_message());
    cr_assert_eq(seen, 1, "the replica did not replay the insert within 10 s");
    cr_assert_eq(query_int(c.db, NULL, false, "SELECT pg_is_in_recovery()", &in_recovery), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(in_recovery, 1, "the read was not served by the replica");
    /* The replica refuses writes: a read-only transaction (SQLSTATE 25006). */
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(c.db, NULL, "INSERT INTO rep_rows VALUES (2, 'two') RETURNING id",
                              NULL, 0, &r), IMI_EINVALID);
    imi_db_stats st;
    imi_db_get_stats(c.db, &st);
    cr_assert_geq(st.reader_queries, 2);
    printf("measured: replica replay visible after %.1f ms (%d polls)\n", lag, polls);
    cluster_close(&c);
}

Test(pg_replica, a_read_inside_a_transaction_goes_to_the_writer)
{
    cluster_db c;
    open_pair(&c, "");
    exec_ok(c.db, "DROP TABLE IF EXISTS rep_tx");
    exec_ok(c.db, "CREATE TABLE rep_tx (id int)");
    imi_db_tx *tx = NULL;
    cr_assert_eq(imi_db_begin(c.db, NULL, &tx), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_tx_exec(tx, NULL, "INSERT INTO rep_tx VALUES (7)", NULL, 0, NULL), IMI_OK,
                 "%s", imi_error_message());
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_tx_query(tx, NULL, "SELECT pg_is_in_recovery(), (SELECT count(*) FROM "
                                 "rep_tx)", NULL, 0, &r), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_rows_next(r, NULL), 1);
    bool recovery = true;
    int64_t n = 0;
    cr_assert_eq(imi_db_rows_bool(r, 0, &recovery), IMI_OK);
    cr_assert_eq(imi_db_rows_int(r, 1, &n), IMI_OK);
    imi_db_rows_free(r);
    cr_assert_not(recovery, "a read inside a transaction went to the replica");
    cr_assert_eq(n, 1, "the transaction does not see its own insert");
    cr_assert_eq(imi_db_commit(tx, NULL), IMI_OK, "%s", imi_error_message());
    cluster_close(&c);
}

/* The replica stopped: with reader_fallback = writer (the default) a read is served by
 * the writer within its deadline; with fail it fails within it; after the replica starts
 * again reads go back to it. */
Test(pg_replica, replica_stopped_reads_fall_back_to_the_writer, .timeout = 120)
{
    cluster_db fb, strict;
    open_pair(&fb, "");
    open_pair(&strict, "reader_fallback = fail");
    int64_t rec = 0;
    /* Warm connections to the replica sit idle in both pools. */
    cr_assert_eq(query_int(fb.db, NULL, false, "SELECT pg_is_in_recovery()", &rec), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(rec, 1);
    cr_assert_eq(query_int(strict.db, NULL, false, "SELECT pg_is_in_recovery()", &rec), IMI_OK);
    cluster_ctl("stop-replica");

    imi_ctx *ctx = imi_ctx_new(3000);
    int64_t t0 = imi_now_mono_ns();
    int rc = query_int(fb.db, ctx, false, "SELECT pg_is_in_recovery()", &rec);
    double first = ms_since(t0);
    cr_assert_eq(rc, IMI_OK, "the read did not fall back: %s", imi_error_message());
    cr_assert_eq(rec, 0, "the read was not served by the writer");
    cr_assert_lt(first, 3000.0, "the fallback outlived the deadline");
    t0 = imi_now_mono_ns();
    rc = query_int(fb.db, ctx, false, "SELECT pg_is_in_recovery()", &rec);
    double second = ms_since(t0);
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    cr_assert_eq(rec, 0);
    imi_ctx_free(ctx);

    /* A connect to the stopped replica (idle connections dropped) fails over too. */
    usleep(1100000);   /* past the second reads skip a failed reader */
    ctx = imi_ctx_new(3000);
    t0 = imi_now_mono_ns();
    rc = query_int(fb.db, ctx, false, "SELECT pg_is_in_recovery()", &rec);
    double reconnect = ms_since(t0);
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    cr_assert_eq(rec, 0);
    imi_ctx_free(ctx);

    ctx = imi_ctx_new(3000);
    t0 = imi_now_mono_ns();
    rc = query_int(strict.db, ctx, false, "SELECT pg_is_in_recovery()", &rec);
    double failed = ms_since(t0);
    cr_assert_eq(rc, IMI_EUNAVAILABLE, "reader_fallback = fail: %s (%s)", imi_err_name(rc),
                 imi_error_message());
    cr_assert_lt(failed, 3000.0);
    imi_ctx_free(ctx);

    cluster_ctl("start-replica");
    t0 = imi_now_mono_ns();
    rec = 0;
    while (ms_since(t0) < 20000) {
        if (!query_int(fb.db, NULL, false, "SELECT pg_is_in_recovery()", &rec) && rec == 1)
            break;
        usleep(50000);
    }
    double back = ms_since(t0);
    cr_assert_eq(rec, 1, "reads did not return to the replica within 20 s of its restart");

    /* The replica crashes (pg_ctl -m immediate: no goodbye to its clients). */
    cluster_ctl("kill-replica");
    ctx = imi_ctx_new(3000);
    t0 = imi_now_mono_ns();
    rc = query_int(fb.db, ctx, false, "SELECT pg_is_in_recovery()", &rec);
    double crashed = ms_since(t0);
    cr_assert_eq(rc, IMI_OK, "the read did not fall back after a crash: %s", imi_error_message());
    cr_assert_eq(rec, 0);
    cr_assert_lt(crashed, 3000.0);
    imi_ctx_free(ctx);
    cluster_ctl("start-replica");
    printf("measured: replica crashed (-m immediate): the read served by the writer in %.1f "
           "ms\n", crashed);
    printf("measured: replica stopped: first read served by the writer in %.1f ms, the next "
           "in %.1f ms, a read needing a new connection in %.1f ms; reader_fallback = fail "
           "answered IMI_EUNAVAILABLE in %.1f ms; reads back on the replica %.0f ms after it "
           "accepted connections again\n", first, second, reconnect, failed, back);
    cluster_close(&strict);
    cluster_close(&fb);
}

/* The primary's URI with host localhost (the certificate's name) and TLS parameters. */
static void tls_uri(char *out, size_t cap, const char *ca)
{
    const char *primary = need_env("IMI_PG_PRIMARY");
    const char *at = strstr(primary, "127.0.0.1");
    cr_assert_not_null(at);
    need_env("IMI_TLS_DIR");   /* expanded by the config */
    snprintf(out, cap, "%.*slocalhost%s?sslmode=verify-full&sslrootcert=${IMI_TLS_DIR}/%s",
             (int)(at - primary), primary, at + strlen("127.0.0.1"), ca);
}

Test(pg_replica, verify_full_with_the_test_ca)
{
    char uri[1024], keys[1200];
    tls_uri(uri, sizeof uri, "ca.pem");
    snprintf(keys, sizeof keys, "driver = postgres\nwriter = %s\n", uri);
    cluster_db c;
    cr_assert_eq(cluster_open(&c, keys), IMI_OK, "%s", imi_error_message());
    int64_t ssl = 0;
    cr_assert_eq(query_int(c.db, NULL, true, "SELECT ssl FROM pg_stat_ssl WHERE pid = "
                           "pg_backend_pid()", &ssl), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(ssl, 1, "the connection is not encrypted");
    cluster_close(&c);
}

Test(pg_replica, verify_full_with_the_wrong_ca_is_refused)
{
    char uri[1024], keys[1200];
    tls_uri(uri, sizeof uri, "other-ca.pem");
    snprintf(keys, sizeof keys, "driver = postgres\nwriter = %s\n", uri);
    cluster_db c;
    cr_assert_eq(cluster_open(&c, keys), IMI_OK, "%s", imi_error_message());
    int rc = imi_db_ping(c.db, NULL);
    cr_assert_eq(rc, IMI_ECONFIG, "%s: %s", imi_err_name(rc), imi_error_message());
    printf("refused as expected: %s\n", imi_error_message());
    cr_assert(strstr(imi_error_message(), "certificate verify failed"), "%s", imi_error_message());
    cr_assert_null(strstr(imi_error_message(), "imi:imi"), "the password leaked: %s",
                   imi_error_message());
    cluster_close(&c);
}

/* The same code as the mysql driver's (test_db_mysql_tls.c). */
Test(pg_replica, a_wrong_password_is_a_config_error)
{
    const char *primary = need_env("IMI_PG_PRIMARY");
    const char *pw = strstr(primary, "imi:imi@");
    cr_assert_not_null(pw);
    char keys[1200];
    snprintf(keys, sizeof keys, "driver = postgres\nwriter = %.*simi:wrong@%s\n",
             (int)(pw - primary), primary, pw + strlen("imi:imi@"));
    cluster_db c;
    cr_assert_eq(cluster_open(&c, keys), IMI_OK, "%s", imi_error_message());
    int64_t one = 0;
    int rc = query_int(c.db, NULL, true, "SELECT 1", &one);
    cr_assert_eq(rc, IMI_ECONFIG, "%s: %s", imi_err_name(rc), imi_error_message());
    printf("refused as expected: %s\n", imi_error_message());
    cr_assert(strstr(imi_error_message(), "password authentication failed"), "%s",
              imi_error_message());
    cluster_close(&c);
}

Test(pg_replica, multi_statement_exec_is_refused_by_default)
{
    cluster_db c;
    open_pair(&c, "");
    exec_ok(c.db, "DROP TABLE IF EXISTS rep_multi");
    exec_ok(c.db, "CREATE TABLE rep_multi (id int)");
    int rc = imi_db_exec(c.db, NULL, "SELECT 1; DROP TABLE rep_multi", NULL, 0, NULL);
    cr_assert_eq(rc, IMI_EINVALID, "%s: %s", imi_err_name(rc), imi_error_message());
    cr_assert(strstr(imi_error_message(), "multi_statements"), "%s", imi_error_message());
    rc = imi_db_exec(c.db, NULL, "INSERT INTO rep_multi VALUES (1); SELECT 1", NULL, 0, NULL);
    cr_assert_eq(rc, IMI_EINVALID, "%s: %s", imi_err_name(rc), imi_error_message());
    int64_t n = -1;
    cr_assert_eq(query_int(c.db, NULL, true, "SELECT count(*) FROM rep_multi", &n), IMI_OK,
                 "the table is gone: %s", imi_error_message());
    cr_assert_eq(n, 0, "the statement before the ';' ran");
    /* One statement with a trailing ';' is still one statement. */
    exec_ok(c.db, "INSERT INTO rep_multi VALUES (2);");
    cluster_close(&c);
}

Test(pg_replica, multi_statement_exec_runs_when_enabled)
{
    cluster_db c;
    open_pair(&c, "multi_statements = true");
    exec_ok(c.db, "DROP TABLE IF EXISTS rep_multi_on");
    exec_ok(c.db, "CREATE TABLE rep_multi_on (id int); INSERT INTO rep_multi_on VALUES (1), (2)");
    int64_t n = -1;
    cr_assert_eq(query_int(c.db, NULL, true, "SELECT count(*) FROM rep_multi_on", &n), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(n, 2);
    cluster_close(&c);
}
