/* The db front-end's fast path (issue 14): the placeholder scan cached per statement
 * text must follow the text, not the buffer it sits in; the connection released last is
 * handed to the next caller without the pool lock, and a result object is reused per
 * connection, without losing a connection to a race (8 threads on a pool of one). The
 * statement key the core hands the drivers, and results that only close can find. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "iminfra/iminfra.h"

static imi_app *app;
static imi_db *db;

/* app and db opened on the config text. */
static void open_db(const char *text)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "fast.ini", "/tmp", &cfg), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
}

static void setup(void)
{
    open_db("[log]\nlevel = error\n[db]\ndriver = sqlite\npath = :memory:\n"
            "pool_size = 1\ntimeout = 20s\n");
    cr_assert_eq(imi_db_exec(db, NULL, "CREATE TABLE t (x INTEGER)", NULL, 0, NULL), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (0)", NULL, 0, NULL), IMI_OK,
                 "%s", imi_error_message());
}

static void teardown(void)
{
    imi_db_free(db);
    imi_app_free(app);
    db = NULL;
    app = NULL;
}

static int64_t select_int(const char *sql, const imi_db_param *p, size_t n, int *rc)
{
    imi_db_rows *r = NULL;
    int64_t v = -1;
    *rc = imi_db_query_writer(db, NULL, sql, p, n, &r);
    if (*rc)
        return -1;
    if (imi_db_rows_next(r, NULL) == 1)
        imi_db_rows_int(r, 0, &v);
    imi_db_rows_free(r);
    return v;
}

TestSuite(db_fast_path, .init = setup, .fini = teardown, .timeout = 60);

Test(db_fast_path, one_buffer_many_texts)
{
    char buf[128];
    imi_db_param two[] = { IMI_DB_PINT(40), IMI_DB_PINT(2) };
    int rc;
    snprintf(buf, sizeof buf, "SELECT ? + ?");
    cr_assert_eq(select_int(buf, two, 2, &rc), 42, "%s", imi_error_message());
    snprintf(buf, sizeof buf, "SELECT ? * 2");
    cr_assert_eq(select_int(buf, two, 1, &rc), 80, "%s", imi_error_message());
    select_int(buf, two, 2, &rc);
    cr_assert_eq(rc, IMI_EINVALID, "2 parameters for one placeholder were taken");
    cr_assert(strstr(imi_error_message(), "1 placeholder"), "%s", imi_error_message());
    snprintf(buf, sizeof buf, "SELECT ? + ?");
    cr_assert_eq(select_int(buf, two, 2, &rc), 42, "%s", imi_error_message());
}

/* Same length and the same 16 bytes at each end: only the middle tells them apart. */
Test(db_fast_path, texts_alike_at_both_ends)
{
    const char *a = "SELECT ? + 0 + ?        AS x WHERE 1 = 1 AND 2 = 2";
    const char *b = "SELECT ? + 0 + '?'      AS x WHERE 1 = 1 AND 2 = 2";
    cr_assert_eq(strlen(a), strlen(b));
    imi_db_param p[] = { IMI_DB_PINT(5), IMI_DB_PINT(6) };
    int rc;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(select_int(a, p, 2, &rc), 11, "%s", imi_error_message());
        select_int(b, p, 1, &rc);
        cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
        select_int(b, p, 2, &rc);
        cr_assert_eq(rc, IMI_EINVALID, "b has one placeholder, 2 parameters were taken");
    }
}

static void *hammer(void *arg)
{
    long *failures = arg;
    imi_db_param p = IMI_DB_PINT(7);
    for (int i = 0; i < 500; i++) {
        int rc;
        if (select_int("SELECT ? + 1", &p, 1, &rc) != 8)
            (*failures)++;
        /* a call without a result right after a result's close: the likeliest to take
         * the connection while the closing thread still finishes */
        if (imi_db_exec(db, NULL, "UPDATE t SET x = x + 1", NULL, 0, NULL))
            (*failures)++;
    }
    return NULL;
}

/* A lost connection makes every other thread wait until its deadline: the suite's
 * timeout fails the test. */
Test(db_fast_path, eight_threads_on_a_pool_of_one)
{
    enum { N = 8 };
    pthread_t th[N];
    long failures[N] = { 0 };
    for (int i = 0; i < N; i++)
        pthread_create(&th[i], NULL, hammer, &failures[i]);
    long total = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        total += failures[i];
    }
    cr_assert_eq(total, 0, "%ld of %d queries failed", total, N * 500);
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_eq(st.conns_opened, 1, "%llu connections opened on a pool of one",
                 (unsigned long long)st.conns_opened);
}

/* More statement texts than the core remembers (64 slots): some have a key
 * (imi_db_stmt.key), some share a slot and have none. The driver finds each one's
 * statement by key or by text, never another text's. */
Test(db_fast_path, more_texts_than_the_core_keeps)
{
    enum { TEXTS = 200 };
    char sql[64];
    imi_db_param p = IMI_DB_PINT(1000);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < TEXTS; i++) {
            int k = round == 1 ? TEXTS - 1 - i : i;
            snprintf(sql, sizeof sql, "SELECT ? + %d", k);
            int rc;
            int64_t v = select_int(sql, &p, 1, &rc);
            cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
            cr_assert_eq(v, 1000 + k, "'%s' gave %lld", sql, (long long)v);
        }
    }
}

/* Results open on three pooled connections (on no shared list) are ended by close: each
 * reads IMI_ECLOSED after it, and freeing them then is safe (ASan). */
Test(db_fast_path, close_ends_results_on_every_connection)
{
    teardown();     /* a file of its own: :memory: has one connection */
    char path[64], text[256];
    snprintf(path, sizeof path, "/tmp/imi-fast-close-%d.db", (int)getpid());
    snprintf(text, sizeof text, "[log]\nlevel = error\n[db]\ndriver = sqlite\npath = %s\n"
             "pool_size = 3\n", path);
    open_db(text);
    imi_db_rows *r[3] = { NULL };
    for (int i = 0; i < 3; i++) {
        imi_db_param p = IMI_DB_PINT(i);
        cr_assert_eq(imi_db_query(db, NULL, "SELECT ?", &p, 1, &r[i]), IMI_OK, "%s",
                     imi_error_message());
        cr_assert_eq(imi_db_rows_next(r[i], NULL), 1, "%s", imi_error_message());
    }
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    cr_assert_eq(st.conns_opened, 3, "three open results hold three connections");
    imi_db_rows_free(r[1]);
    cr_assert_eq(imi_db_close(db), IMI_OK, "%s", imi_error_message());
    int64_t v;
    cr_expect_eq(imi_db_rows_int(r[0], 0, &v), IMI_ECLOSED, "a result outlived close");
    cr_expect_eq(imi_db_rows_int(r[2], 0, &v), IMI_ECLOSED, "a result outlived close");
    cr_expect_eq(imi_db_rows_next(r[2], NULL), IMI_ECLOSED);
    imi_db_rows_free(r[0]);
    imi_db_rows_free(r[2]);
    teardown();
    unlink(path);
}

/* A slow_query of many coarse-clock ticks is timed on that clock: a statement well over
 * it is logged and counted, quick ones are not. */
Test(db_fast_path, slow_query_on_the_coarse_clock)
{
    teardown();
    char log_path[64], text[256];
    snprintf(log_path, sizeof log_path, "/tmp/imi-fast-slow-%d.log", (int)getpid());
    snprintf(text, sizeof text, "[log]\nlevel = warn\noutput = %s\n[db]\ndriver = sqlite\n"
             "path = :memory:\nslow_query = 100ms\ntimeout = 60s\n", log_path);
    open_db(text);
    int rc;
    for (int i = 0; i < 100; i++)
        cr_assert_eq(select_int("SELECT 1", NULL, 0, &rc), 1, "%s", imi_error_message());
    /* Counting five million generated rows: well over 100 ms on any machine that runs it. */
    int64_t t0 = imi_now_mono_ns();
    int64_t n = select_int("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                           "WHERE x < 5000000) SELECT count(*) FROM c", NULL, 0, &rc);
    int64_t took = imi_now_mono_ns() - t0;
    cr_assert_eq(n, 5000000, "%s", imi_error_message());
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    teardown();
    FILE *f = fopen(log_path, "r");
    char buf[4096] = "";
    size_t len = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[len] = '\0';
    if (f)
        fclose(f);
    unlink(log_path);
    cr_assert_gt(took, 150000000, "the slow statement took only %lld ns", (long long)took);
    cr_expect_eq(st.slow, 1, "%llu statements counted slow, not 1", (unsigned long long)st.slow);
    cr_expect(strstr(buf, "slow query") && strstr(buf, "WITH RECURSIVE"), "log: %s", buf);
    cr_expect(!strstr(buf, "SELECT 1\""), "a quick statement was logged slow: %s", buf);
}
