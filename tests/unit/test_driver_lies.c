/* Drivers that load and run but break the contract in what they hand back (bad_drivers/
 * *_liar.c): the core checks what crosses the boundary, so the caller gets IMI_EDRIVER
 * naming the driver instead of a crash, an out-of-bounds read or a value the contract
 * does not allow. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static imi_app *app;
static imi_db *db;

/* Opens the app of a config whose [kind] is the liar driver of that kind, with the
 * section's further lines in extra; log is the [log] section's lines. */
static void open_app(const char *log, const char *kind, const char *extra)
{
    char text[1024];
    snprintf(text, sizeof text, "[log]\n%s[%s]\ndriver = liar\ndriver_path = %s\n%s", log, kind,
             IMI_TEST_DRIVER_DIR, extra);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "lies.ini", "/tmp", &cfg), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
}

static void open_db(const char *lie)
{
    char extra[64];
    snprintf(extra, sizeof extra, "lie = %s\n", lie);
    open_app("level = off\n", "db", extra);
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
}

static void close_db(void)
{
    imi_db_free(db);
    imi_app_free(app);
    db = NULL;
    app = NULL;
}

TestSuite(driver_lies, .fini = close_db);

/* The one row of the liar's one column, ready to read. */
static imi_db_rows *one_row(const char *lie)
{
    open_db(lie);
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT v", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_db_rows_next(r, NULL), 1, "%s", imi_error_message());
    return r;
}

static void expect_edriver(int rc, const char *what)
{
    cr_expect_eq(rc, IMI_EDRIVER, "%s: %s (%s)", what, imi_err_name(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), "liar"), "%s: the error does not name the driver: %s",
              what, imi_error_message());
}

Test(driver_lies, a_type_that_is_no_type)
{
    imi_db_rows *r = one_row("type");
    const char *s;
    int64_t i;
    double d;
    bool b;
    const void *p;
    size_t n;
    expect_edriver(imi_db_rows_text(r, 0, &s, &n), "text");
    expect_edriver(imi_db_rows_int(r, 0, &i), "int");
    expect_edriver(imi_db_rows_double(r, 0, &d), "double");
    expect_edriver(imi_db_rows_bool(r, 0, &b), "bool");
    expect_edriver(imi_db_rows_blob(r, 0, &p, &n), "blob");
    cr_expect_eq(imi_db_rows_type(r, 0), IMI_DB_NULL, "an unknown type reached the caller");
    imi_db_rows_free(r);
}

Test(driver_lies, text_at_null_with_a_length)
{
    imi_db_rows *r = one_row("null_text");
    const char *s;
    int64_t i;
    bool b;
    const void *p;
    size_t n;
    expect_edriver(imi_db_rows_text(r, 0, &s, &n), "text");
    expect_edriver(imi_db_rows_int(r, 0, &i), "int");
    expect_edriver(imi_db_rows_bool(r, 0, &b), "bool");
    expect_edriver(imi_db_rows_blob(r, 0, &p, &n), "blob");
    imi_db_rows_free(r);
}

Test(driver_lies, empty_text_at_null_is_an_empty_string)
{
    imi_db_rows *r = one_row("null_empty");
    const char *s = NULL;
    size_t n = 9;
    cr_assert_eq(imi_db_rows_text(r, 0, &s, &n), IMI_OK, "%s", imi_error_message());
    cr_expect(s && !*s && n == 0, "empty text came back as %p / %zu", (const void *)s, n);
    int64_t i;
    cr_expect_eq(imi_db_rows_int(r, 0, &i), IMI_EINVALID, "%s", imi_error_message());
    imi_db_rows_free(r);
}

Test(driver_lies, text_without_its_nul)
{
    imi_db_rows *r = one_row("unterminated");
    const char *s;
    size_t n;
    int64_t i = 0;
    double d;
    expect_edriver(imi_db_rows_text(r, 0, &s, &n), "text");
    expect_edriver(imi_db_rows_int(r, 0, &i), "int");
    expect_edriver(imi_db_rows_double(r, 0, &d), "double");
    imi_db_rows_free(r);
}

Test(driver_lies, a_null_column_name)
{
    imi_db_rows *r = one_row("null_name");
    const char *s;
    cr_expect_eq(imi_db_rows_text(r, 0, &s, NULL), IMI_ENOTFOUND, "%s", imi_error_message());
    cr_expect(strstr(imi_error_message(), "column 0"), "%s", imi_error_message());
    const char *name = imi_db_rows_column_name(r, 0);
    cr_expect(name && !*name, "a NULL column name reached the caller");
    imi_db_rows_free(r);
}

Test(driver_lies, a_query_without_a_result)
{
    open_db("no_result");
    imi_db_rows *r = NULL;
    expect_edriver(imi_db_query(db, NULL, "SELECT v", NULL, 0, &r), "query");
    cr_expect_null(r);
    /* the connection is still usable */
    cr_expect_eq(imi_db_exec(db, NULL, "UPDATE t SET v = 1", NULL, 0, NULL), IMI_OK, "%s",
                 imi_error_message());
}

Test(driver_lies, a_next_code_that_is_no_answer)
{
    open_db("next_code");
    imi_db_rows *r = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT v", NULL, 0, &r), IMI_OK, "%s",
                 imi_error_message());
    expect_edriver(imi_db_rows_next(r, NULL), "next");
    cr_expect_eq(imi_db_rows_next(r, NULL), 0, "a finished result went on");
    imi_db_rows_free(r);
}

/* ---- mq: deliveries ------------------------------------------------------------------ */

typedef struct seen {
    int calls;
    char body[16];
} seen;

static int count_calls(void *ud, const imi_mq_msg *m)
{
    seen *s = ud;
    s->calls++;
    const char *body = m->body ? m->body : "";
    snprintf(s->body, sizeof s->body, "%.*s", (int)m->body_len, body);
    return IMI_OK;
}

Test(driver_lies, broken_deliveries_never_reach_the_handler)
{
    char report[] = "/tmp/imi-lies-XXXXXX";
    int fd = mkstemp(report);
    cr_assert_geq(fd, 0);
    close(fd);
    char extra[600];
    snprintf(extra, sizeof extra, "report = %s\n", report);
    open_app("level = off\n", "mq", extra);
    imi_mq *mq;
    cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
    const char *topics[] = { "t" };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    seen s = { 0 };
    imi_mq_sub *sub;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, count_calls, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    imi_mq_sub_free(sub); /* waits for the driver's delivering thread */
    imi_mq_free(mq);
    FILE *f = fopen(report, "r");
    cr_assert(f);
    int rcs[8], n = 0;
    while (n < 8 && fscanf(f, "%d", &rcs[n]) == 1)
        n++;
    fclose(f);
    unlink(report);
    cr_assert_eq(n, 8, "the driver made %d deliveries of 8", n);
    for (int i = 0; i < 7; i++)
        cr_expect_eq(rcs[i], IMI_EDRIVER, "broken delivery %d was answered %s", i,
                     imi_err_name(rcs[i]));
    cr_expect_eq(rcs[7], IMI_OK, "the good delivery was answered %s", imi_err_name(rcs[7]));
    cr_expect_eq(s.calls, 1, "the handler saw %d messages, not only the good one", s.calls);
    cr_expect_str_eq(s.body, "ok");
}

/* ---- coord: listings and watch events ------------------------------------------------ */

static imi_coord *open_coord(void)
{
    open_app("level = off\n", "coord", "");
    imi_coord *c;
    cr_assert_eq(imi_coord_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    return c;
}

static int count_kv(void *ud, const char *key, const void *val, size_t len,
                    const imi_coord_meta *meta)
{
    (void)meta;
    int *n = ud;
    if (key && !strcmp(key, "k") && len == 1 && !memcmp(val, "v", 1))
        (*n)++;
    else
        *n = -1000;
    return 0;
}

Test(driver_lies, broken_list_entries_never_reach_the_callback)
{
    imi_coord *c = open_coord();
    for (int i = 0; i < 3; i++) {
        int n = 0;
        expect_edriver(imi_coord_list(c, NULL, "", count_kv, &n, NULL), "list");
        cr_expect_eq(n, 0, "broken entry %d reached the callback", i);
    }
    int n = 0;
    cr_expect_eq(imi_coord_list(c, NULL, "", count_kv, &n, NULL), IMI_OK, "%s",
                 imi_error_message());
    cr_expect_eq(n, 1, "the good entry was seen %d times", n);
    imi_coord_free(c);
}

static void count_event(void *ud, const imi_coord_event *ev)
{
    int *n = ud;
    if (ev && ev->type == IMI_COORD_EVENT_PUT && ev->key && !strcmp(ev->key, "k") &&
        ev->value_len == 1 && !memcmp(ev->value, "v", 1))
        (*n)++;
    else
        *n = -1000;
}

Test(driver_lies, broken_watch_events_never_reach_the_callback)
{
    imi_coord *c = open_coord();
    int n = 0;
    imi_coord_watch *w;
    cr_assert_eq(imi_coord_watch_start(c, NULL, "k", 0, 0, count_event, &n, &w), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_coord_watch_cancel(w), IMI_OK); /* joins the driver's thread */
    cr_expect_eq(n, 1, "the watch saw %d good events (negative: a broken one)", n);
    imi_coord_free(c);
}

/* ---- cache: iterations and values ---------------------------------------------------- */

static int count_items(void *ud, const void *item, size_t item_len, const void *val,
                       size_t val_len, double score)
{
    (void)val, (void)val_len, (void)score;
    int *n = ud;
    if (item && item_len == 1 && !memcmp(item, "a", 1))
        (*n)++;
    else
        *n = -1000;
    return 0;
}

Test(driver_lies, broken_items_and_values_never_reach_the_caller)
{
    open_app("level = off\n", "cache", "");
    imi_cache *c;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    int n = 0;
    expect_edriver(imi_cache_hgetall(c, NULL, "h", count_items, &n), "hgetall");
    expect_edriver(imi_cache_smembers(c, NULL, "s", count_items, &n), "smembers");
    expect_edriver(imi_cache_zrange(c, NULL, "z", 0, -1, count_items, &n), "zrange");
    cr_expect_eq(n, 0, "a broken item reached the callback (%d)", n);
    imi_buf v = IMI_BUF_INIT;
    int rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_eq(rc, IMI_EINVALID, "get: %s (%s)", imi_err_name(rc), imi_error_message());
    imi_buf_free(&v);
    imi_cache_free(c);
}

/* The buffer every driver fills refuses what would overflow or read from NULL. */
Test(driver_lies, a_buffer_refuses_null_data_and_lengths_that_wrap)
{
    imi_buf b = IMI_BUF_INIT;
    cr_assert_eq(imi_buf_set(&b, "abc", 3), IMI_OK);
    cr_expect_eq(imi_buf_append(&b, NULL, 5), IMI_EINVALID);
    cr_expect_eq(imi_buf_append(&b, "x", SIZE_MAX), IMI_ENOMEM);
    cr_expect_eq(imi_buf_append(&b, "x", SIZE_MAX - 2), IMI_ENOMEM);
    cr_expect_eq(imi_buf_append(NULL, "x", 1), IMI_EINVALID);
    cr_expect_eq(imi_buf_append(&b, NULL, 0), IMI_OK);
    cr_expect(b.len == 3 && !memcmp(b.data, "abc", 4), "the buffer changed: %zu", b.len);
    imi_buf_free(&b);
}

Test(driver_lies, a_log_line_or_error_without_a_format)
{
    open_app("level = error\noutput = discard\n", "db", "lie = host\n");
    int rc = imi_db_open(app, NULL, &db);
    cr_expect_eq(rc, IMI_EUNAVAILABLE, "%s (%s)", imi_err_name(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), "no message"), "%s", imi_error_message());
}

Test(driver_lies, endpoints_without_end, .timeout = 30)
{
    open_app("level = off\n", "db", "lie = endless\n");
    expect_edriver(imi_db_open(app, NULL, &db), "open");
    cr_expect_null(db);
}
