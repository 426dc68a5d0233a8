/* The mysql driver against MariaDB serving TLS from the test CA: ssl_ca verifies the
 * server, the wrong CA is refused with an error naming the TLS failure, a client
 * certificate (ssl_cert, ssl_key) logs in a REQUIRE X509 user, a wrong password is
 * IMI_ECONFIG (as on postgres), and multi-statement exec only runs with
 * multi_statements = true. Run by db_mysql_tls.sh, which starts
 * tools/clusters/mariadb-tls.sh and exports IMI_MYSQL_TLS, IMI_MYSQL_X509 and IMI_TLS_DIR. */
#include <string.h>
#include "db_cluster_util.h"

/* Opens [db] on uri + "?" + params (params may be empty) with extra keys. */
static int open_uri(cluster_db *c, const char *uri, const char *params, const char *extra)
{
    char keys[2048];
    snprintf(keys, sizeof keys, "driver = mysql\nwriter = %s%s%s\n%s", uri, *params ? "?" : "",
             params, extra);
    return cluster_open(c, keys);
}

/* The TLS parameters; ${IMI_TLS_DIR} is expanded by the config, which keeps the line
 * under the config's length limit. */
static void tls_params(char *out, size_t cap, const char *ca, bool client_cert)
{
    need_env("IMI_TLS_DIR");
    snprintf(out, cap, "ssl_ca=${IMI_TLS_DIR}/%s%s", ca,
             client_cert ? "&ssl_cert=${IMI_TLS_DIR}/client.pem&ssl_key=${IMI_TLS_DIR}/client.key"
                         : "");
}

/* The session's TLS cipher ("" when the connection is plain). */
static void expect_cipher(imi_db *db)
{
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query_writer(db, NULL, "SELECT VARIABLE_VALUE FROM "
                                     "information_schema.SESSION_STATUS WHERE VARIABLE_NAME = "
                                     "'Ssl_cipher'", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_db_rows_next(r, NULL), 1);
    const char *cipher = NULL;
    cr_assert_eq(imi_db_rows_text(r, 0, &cipher, NULL), IMI_OK);
    cr_assert(cipher && *cipher, "the connection is not encrypted");
    printf("measured: mysql TLS cipher %s\n", cipher);
    imi_db_rows_free(r);
}

Test(mysql_tls, verified_with_the_test_ca)
{
    char params[1024];
    tls_params(params, sizeof params, "ca.pem", false);
    cluster_db c;
    cr_assert_eq(open_uri(&c, need_env("IMI_MYSQL_TLS"), params, ""), IMI_OK, "%s",
                 imi_error_message());
    expect_cipher(c.db);
    cluster_close(&c);
}

Test(mysql_tls, the_wrong_ca_is_refused)
{
    char params[1024];
    tls_params(params, sizeof params, "other-ca.pem", false);
    cluster_db c;
    cr_assert_eq(open_uri(&c, need_env("IMI_MYSQL_TLS"), params, ""), IMI_OK, "%s",
                 imi_error_message());
    int rc = imi_db_ping(c.db, NULL);
    cr_assert_eq(rc, IMI_ECONFIG, "%s: %s", imi_err_name(rc), imi_error_message());
    printf("refused as expected: %s\n", imi_error_message());
    cr_assert(strstr(imi_error_message(), "TLS handshake failed"), "%s", imi_error_message());
    cr_assert_null(strstr(imi_error_message(), "imi:imi"), "the password leaked: %s",
                   imi_error_message());
    cluster_close(&c);
}

Test(mysql_tls, a_client_certificate_logs_in_an_x509_user)
{
    char params[1024];
    tls_params(params, sizeof params, "ca.pem", true);
    cluster_db c;
    cr_assert_eq(open_uri(&c, need_env("IMI_MYSQL_X509"), params, ""), IMI_OK, "%s",
                 imi_error_message());
    expect_cipher(c.db);
    cluster_close(&c);
    /* Without the certificate the same user is refused. */
    tls_params(params, sizeof params, "ca.pem", false);
    cr_assert_eq(open_uri(&c, need_env("IMI_MYSQL_X509"), params, ""), IMI_OK, "%s",
                 imi_error_message());
    int rc = imi_db_ping(c.db, NULL);
    cr_assert_eq(rc, IMI_ECONFIG, "%s: %s", imi_err_name(rc), imi_error_message());
    printf("refused as expected: %s\n", imi_error_message());
    cluster_close(&c);
}

/* The same code as the postgres driver's (test_db_pg_replica.c). */
Test(mysql_tls, a_wrong_password_is_a_config_error)
{
    const char *uri = need_env("IMI_MYSQL_TLS");
    const char *pw = strstr(uri, "imi:imi@");
    cr_assert_not_null(pw);
    char wrong[512];
    snprintf(wrong, sizeof wrong, "%.*simi:wrong@%s", (int)(pw - uri), uri, pw + strlen("imi:imi@"));
    cluster_db c;
    cr_assert_eq(open_uri(&c, wrong, "", ""), IMI_OK, "%s", imi_error_message());
    int rc = imi_db_ping(c.db, NULL);
    cr_assert_eq(rc, IMI_ECONFIG, "%s: %s", imi_err_name(rc), imi_error_message());
    printf("refused as expected: %s\n", imi_error_message());
    cr_assert(strstr(imi_error_message(), "Access denied"), "%s", imi_error_message());
    cluster_close(&c);
}

static void exec_ok(imi_db *db, const char *sql)
{
    cr_assert_eq(imi_db_exec(db, NULL, sql, NULL, 0, NULL), IMI_OK, "%s: %s", sql,
                 imi_error_message());
}

Test(mysql_tls, multi_statement_exec_is_refused_by_default)
{
    cluster_db c;
    cr_assert_eq(open_uri(&c, need_env("IMI_MYSQL_TLS"), "", ""), IMI_OK, "%s",
                 imi_error_message());
    exec_ok(c.db, "DROP TABLE IF EXISTS my_multi");
    exec_ok(c.db, "CREATE TABLE my_multi (id int)");
    int rc = imi_db_exec(c.db, NULL, "SELECT 1; DROP TABLE my_multi", NULL, 0, NULL);
    cr_assert_eq(rc, IMI_EINVALID, "%s: %s", imi_err_name(rc), imi_error_message());
    cr_assert(strstr(imi_error_message(), "multi_statements"), "%s", imi_error_message());
    rc = imi_db_exec(c.db, NULL, "INSERT INTO my_multi VALUES (1); SELECT 1", NULL, 0, NULL);
    cr_assert_eq(rc, IMI_EINVALID, "%s: %s", imi_err_name(rc), imi_error_message());
    int64_t n = -1;
    cr_assert_eq(query_int(c.db, NULL, true, "SELECT count(*) FROM my_multi", &n), IMI_OK,
                 "the table is gone: %s", imi_error_message());
    cr_assert_eq(n, 0, "the statement before the ';' ran");
    cluster_close(&c);
}

Test(mysql_tls, multi_statement_exec_runs_when_enabled)
{
    cluster_db c;
    cr_assert_eq(open_uri(&c, need_env("IMI_MYSQL_TLS"), "", "multi_statements = true"), IMI_OK,
                 "%s", imi_error_message());
    exec_ok(c.db, "DROP TABLE IF EXISTS my_multi_on");
    exec_ok(c.db, "CREATE TABLE my_multi_on (id int); INSERT INTO my_multi_on VALUES (1), (2)");
    int64_t n = -1;
    cr_assert_eq(query_int(c.db, NULL, true, "SELECT count(*) FROM my_multi_on", &n), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(n, 2);
    cluster_close(&c);
}
