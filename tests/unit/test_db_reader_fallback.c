/* Reader fallback in the db front-end, on the scripted mock: a read that a reader cannot
 * serve (IMI_EUNAVAILABLE) goes to the writer under reader_fallback = writer (the
 * default), fails under reader_fallback = fail, and a read inside a transaction never
 * goes to a reader. The PostgreSQL replica test (tests/integration/db_pg_replica.sh) shows
 * the same against a real streaming replica. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include "iminfra/iminfra.h"
#include "iminfra/db_mock.h"

static imi_app *app;
static imi_db *db;

static int open_with(const char *extra)
{
    char text[512];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[db]\ndriver = mock\nreaders = 1\n%s\n",
             extra);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "fallback.ini", "/tmp", &cfg), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return imi_db_open(app, NULL, &db);
}

static void teardown(void)
{
    imi_db_free(db);
    imi_app_free(app);
    db = NULL;
    app = NULL;
}

#define MOCK(cmd, arg) cr_assert_eq(imi_db_mock(db, cmd, arg), IMI_OK, "%s %s: %s", cmd, arg, \
                                    imi_error_message())

static void assert_verified(void)
{
    imi_buf rep = IMI_BUF_INIT;
    int rc = imi_db_mock_verify(db, &rep);
    cr_assert_eq(rc, IMI_OK, "verify: %s", rep.data ? rep.data : "");
    imi_buf_free(&rep);
}

static void reader_down_then(const char *then_on)
{
    MOCK("expect", "query SELECT 1");
    MOCK("on", "reader");
    MOCK("error", "IMI_EUNAVAILABLE replica stopped");
    if (then_on) {
        MOCK("expect", "query SELECT 1");
        MOCK("on", then_on);
        MOCK("columns", "x");
        MOCK("row", "1");
    }
}

Test(db_reader_fallback, default_goes_to_the_writer, .fini = teardown)
{
    cr_assert_eq(open_with(""), IMI_OK, "%s", imi_error_message());
    reader_down_then("writer");
    /* Within the next second reads skip the reader that just failed. */
    MOCK("expect", "query SELECT 1");
    MOCK("on", "writer");
    MOCK("columns", "x");
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT 1", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_db_rows_next(r, NULL), 1);
    imi_db_rows_free(r);
    cr_assert_eq(imi_db_query(db, NULL, "SELECT 1", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    imi_db_rows_free(r);
    assert_verified();
}

Test(db_reader_fallback, fail_keeps_the_error, .fini = teardown)
{
    cr_assert_eq(open_with("reader_fallback = fail"), IMI_OK, "%s", imi_error_message());
    reader_down_then(NULL);
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT 1", NULL, 0, &r), IMI_EUNAVAILABLE);
    cr_assert_null(r);
    assert_verified();
}

Test(db_reader_fallback, other_errors_are_not_retried, .fini = teardown)
{
    cr_assert_eq(open_with(""), IMI_OK, "%s", imi_error_message());
    MOCK("expect", "query SELECT nope");
    MOCK("on", "reader");
    MOCK("error", "IMI_EINVALID syntax");
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT nope", NULL, 0, &r), IMI_EINVALID);
    assert_verified();
}

Test(db_reader_fallback, read_in_a_transaction_uses_the_writer, .fini = teardown)
{
    cr_assert_eq(open_with(""), IMI_OK, "%s", imi_error_message());
    MOCK("expect", "begin");
    MOCK("on", "writer");
    MOCK("expect", "query SELECT 1");
    MOCK("on", "writer");
    MOCK("columns", "x");
    MOCK("expect", "commit");
    MOCK("on", "writer");
    imi_db_tx *tx = NULL;
    cr_assert_eq(imi_db_begin(db, NULL, &tx), IMI_OK, "%s", imi_error_message());
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_tx_query(tx, NULL, "SELECT 1", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    imi_db_rows_free(r);
    cr_assert_eq(imi_db_commit(tx, NULL), IMI_OK, "%s", imi_error_message());
    assert_verified();
}

Test(db_reader_fallback, bad_value_is_a_config_error, .fini = teardown)
{
    cr_assert_eq(open_with("reader_fallback = sometimes"), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "fallback.ini:6"), "%s", imi_error_message());
    cr_assert(strstr(imi_error_message(), "writer or fail"), "%s", imi_error_message());
}
