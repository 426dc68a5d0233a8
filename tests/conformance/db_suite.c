/* The db conformance suite: every db driver must pass it. Its SQL runs unchanged on
 * sqlite, PostgreSQL and MySQL/MariaDB (BIGINT, DOUBLE PRECISION, BOOLEAN, TEXT,
 * VARCHAR; only the blob type is asked of the dialect). Tables are named per case and
 * run, and dropped at the end.
 *
 * Reader routing is proven, not assumed: the config under test points the readers at a
 * database other than the writer's, and an optional [db.reader_seed] section opens that
 * reader database as a writer so the suite can put rows there that the writer lacks. */
#include "db_suite.h"

/* ---- cases ------------------------------------------------------------------------------ */

static void bad_options(imi_conf_t *t)
{
    static const char *const cases[][3] = {
        { "db", "pool_size", "0" },
        { "db", "pool_size", "lots" },
        { "db", "slow_query", "soon" },
        { "db", "no_such_option", "1" },
        { "db", "timeout", "-" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        variant v = { 0 };
        int rc = open_variant(t, &v, cases[i], 3);
        bool had_db = v.db != NULL;
        close_variant(&v);
        CONF_CHECK(t, rc == IMI_ECONFIG && !had_db, "open with %s = %s gave %s (%s)",
                   cases[i][1], cases[i][2], imi_err_name(rc), imi_error_message());
    }
    variant v = { 0 };
    const char *kv[] = { "db", "driver", "no_such_driver_xyz" };
    int rc = open_variant(t, &v, kv, 3);
    close_variant(&v);
    CONF_CHECK(t, rc != IMI_OK, "a driver that does not exist opened");
}

/* A ctx that ends mid-result stops the fetch (the rest of the ctx checks: all_kinds.c). */
static void canceled_ctx_stops_a_fetch(imi_conf_t *t)
{
    OPEN_DB(t, db);
    imi_db_rows *r = NULL;
    CONF_OK(t, imi_db_query_writer(db, NULL, "SELECT 1 UNION ALL SELECT 2", NULL, 0, &r));
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_cancel(ctx);
    int rc = imi_db_rows_next(r, ctx);
    imi_ctx_free(ctx);
    imi_db_rows_free(r);
    imi_conf_free(t, db);
    CONF_CHECK(t, rc == IMI_ECANCELED, "rows_next with a canceled ctx gave %s", imi_err_name(rc));
}

/* A statement that runs for minutes, on every dialect: MariaDB stops a recursive CTE at
 * 1000 iterations by default, so the rows come from a cross join. */
#define ROWS_1000 "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) "
#define LONG_SQL ROWS_1000 "SELECT count(*) FROM c a, c b, c d"

static void deadline_stops_a_running_statement(imi_conf_t *t)
{
    OPEN_DB(t, db);
    imi_ctx *ctx = imi_ctx_new(300);
    int64_t t0 = imi_now_mono_ns();
    imi_db_rows *r = NULL;
    int rc = imi_db_query_writer(db, ctx, LONG_SQL, NULL, 0, &r);
    if (rc == IMI_OK) {
        rc = imi_db_rows_next(r, ctx);
        imi_db_rows_free(r);
    }
    double ms = (double)(imi_now_mono_ns() - t0) / 1e6;
    imi_ctx_free(ctx);
    CONF_CHECK(t, rc == IMI_ETIMEDOUT, "a 300 ms deadline on a long statement gave %s (%s)",
               rc > 0 ? "a row" : imi_err_name(rc), rc > 0 ? "it ran to the end" : imi_error_message());
    CONF_CHECK(t, ms < 3000, "the statement ran %.0f ms past a 300 ms deadline", ms);
    /* The connection is usable afterwards. */
    int64_t one = 0;
    CONF_OK(t, scalar(db, "SELECT 1", NULL, 0, &one));
    CONF_CHECK(t, one == 1, "SELECT 1 gave %lld", (long long)one);
    imi_conf_free(t, db);
}

static void capabilities(imi_conf_t *t)
{
    OPEN_DB(t, db);
    uint64_t caps = imi_db_caps(db);
    if (!(caps & IMI_DB_CAP_TX)) {
        imi_db_tx *tx;
        CONF_CHECK_RC(t, imi_db_begin(db, NULL, &tx), IMI_ENOTSUP);
    }
    if (!(caps & IMI_DB_CAP_CONTROL)) {
        imi_buf out = IMI_BUF_INIT;
        CONF_CHECK_RC(t, imi_db_control(db, "anything", NULL, &out), IMI_ENOTSUP);
        imi_buf_free(&out);
    }
    if (!(caps & IMI_DB_CAP_READERS))
        CONF_CHECK(t, imi_db_reader_count(db) == 0, "readers without the capability");
    imi_conf_free(t, db);
}

static void slow_query_logged(imi_conf_t *t)
{
    char log_path[256];
    snprintf(log_path, sizeof log_path, "/tmp/imi-conf-%s.log", t->unique);
    const char *kv[] = { "db", "slow_query", "1ms", "log", "output", log_path,
                         "log", "level", "warn" };
    variant v = { 0 };
    int rc = open_variant(t, &v, kv, 9);
    if (rc) {
        close_variant(&v);
        unlink(log_path);
        CONF_CHECK(t, false, "open with slow_query = 1ms: %s", imi_error_message());
    }
    /* A million rows: 10-200 ms on every backend; its parameter must not be logged. */
    imi_db_param p = IMI_DB_PTEXT("secret-param-value");
    imi_db_rows *r = NULL;
    rc = imi_db_query_writer(v.db, NULL, ROWS_1000 "SELECT count(*), ? FROM c a, c b", &p, 1,
                             &r);
    if (!rc)
        rc = imi_db_rows_next(r, NULL) == 1 ? IMI_OK : IMI_EINTERNAL;
    imi_db_rows_free(r);
    imi_db_stats st;
    imi_db_get_stats(v.db, &st);
    close_variant(&v);
    size_t len = 0;
    char *text = NULL;
    FILE *f = fopen(log_path, "r");
    if (f) {
        text = calloc(1, 1 << 16);
        len = text ? fread(text, 1, (1 << 16) - 1, f) : 0;
        fclose(f);
    }
    unlink(log_path);
    bool has_line = text && strstr(text, "slow query") && strstr(text, "SELECT count(*), ? FROM");
    bool leaked = text && strstr(text, "secret-param-value");
    free(text);
    CONF_CHECK(t, rc == IMI_OK, "the slow query failed: %s", imi_err_name(rc));
    CONF_CHECK(t, st.slow >= 1, "no statement counted as slow");
    CONF_CHECK(t, has_line, "no 'slow query' line with the SQL in the log (%zu bytes)", len);
    CONF_CHECK(t, !leaked, "a parameter value was logged");
}

/* Each part on a fresh handle: with a pool of one (sqlite :memory:) an open result holds
 * the only connection. */
static void close_ends_open_rows_and_tx(imi_conf_t *t)
{
    imi_db *db = NULL;
    CONF_OK(t, imi_db_open(t->app, NULL, &db));
    imi_db_rows *r = NULL;
    CONF_OK(t, imi_db_query_writer(db, NULL, "SELECT 1 UNION ALL SELECT 2", NULL, 0, &r));
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), 1);
    CONF_OK(t, imi_db_close(db));
    int64_t v;
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_db_rows_int(r, 0, &v), IMI_ECLOSED);
    imi_db_rows_free(r);
    imi_db_free(db);

    CONF_OK(t, imi_db_open(t->app, NULL, &db));
    if (!(imi_db_caps(db) & IMI_DB_CAP_TX)) {
        imi_db_free(db);
        return;
    }
    imi_db_tx *tx = NULL;
    CONF_OK(t, imi_db_begin(db, NULL, &tx));
    CONF_OK(t, imi_db_tx_query(tx, NULL, "SELECT 1", NULL, 0, &r));
    CONF_OK(t, imi_db_close(db));
    CONF_CHECK_RC(t, imi_db_rows_next(r, NULL), IMI_ECLOSED);
    imi_db_rows_free(r);
    CONF_CHECK_RC(t, imi_db_tx_exec(tx, NULL, "SELECT 1", NULL, 0, NULL), IMI_ECLOSED);
    CONF_CHECK_RC(t, imi_db_commit(tx, NULL), IMI_ECLOSED);
    imi_db_free(db);
}

typedef struct worker {
    imi_db *db;
    const char *ins, *sel;
    int id;
    int failures;
    char why[200];
} worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 100; i++) {
        imi_db_param p[] = { IMI_DB_PINT(w->id * 1000 + i), IMI_DB_PINT(w->id) };
        int rc = imi_db_exec(w->db, NULL, w->ins, p, 2, NULL);
        imi_db_rows *r = NULL;
        if (!rc)
            rc = imi_db_query_writer(w->db, NULL, w->sel, &p[1], 1, &r);
        int64_t n = 0;
        if (!rc)
            rc = imi_db_rows_next(r, NULL) == 1 ? imi_db_rows_int(r, 0, &n) : IMI_EINTERNAL;
        imi_db_rows_free(r);
        if (!rc && n != i + 1)
            rc = IMI_EINTERNAL;
        if ((imi_db_caps(w->db) & IMI_DB_CAP_TX) && !rc && i % 10 == 0) {
            imi_db_tx *tx;
            rc = imi_db_begin(w->db, NULL, &tx);
            if (!rc)
                rc = imi_db_rollback(tx, NULL);
        }
        if (rc && !w->failures++)
            snprintf(w->why, sizeof w->why, "%s: %s", imi_err_name(rc), imi_error_message());
    }
    return NULL;
}

static void many_threads(imi_conf_t *t)
{
    OPEN_DB(t, db);
    enum { N = 8 };
    char tbl[64], ins[256], sel[256];
    table(t, "mt", tbl, sizeof tbl);
    CONF_OK(t, execf(db, "CREATE TABLE %s (id BIGINT PRIMARY KEY, w BIGINT)%s", tbl, ""));
    snprintf(ins, sizeof ins, "INSERT INTO %s (id, w) VALUES (?, ?)", tbl);
    snprintf(sel, sizeof sel, "SELECT count(*) FROM %s WHERE w = ?", tbl);
    pthread_t th[N];
    worker w[N];
    for (int i = 0; i < N; i++) {
        w[i] = (worker){ .db = db, .ins = ins, .sel = sel, .id = i };
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int failures = 0;
    const char *why = "";
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (w[i].failures && !failures)
            why = w[i].why;
        failures += w[i].failures;
    }
    CONF_CHECK(t, failures == 0, "%d calls failed under %d threads, first: %s", failures, N, why);
    CONF_CHECK(t, count_rows(db, tbl) == N * 100, "%lld rows after %d inserts",
               (long long)count_rows(db, tbl), N * 100);
    imi_db_stats st;
    imi_db_get_stats(db, &st);
    CONF_CHECK(t, st.execs >= N * 100 && st.errors == 0, "stats: %llu execs, %llu errors",
               (unsigned long long)st.execs, (unsigned long long)st.errors);
    drop(db, tbl);
    imi_conf_free(t, db);
}

/* ---- the driver contract, shared by every kind (contract.h) ------------------------- */

static int kind_open(imi_app *app, void **out)
{
    imi_db *h = NULL;
    int rc = imi_db_open(app, NULL, &h);
    *out = h;
    return rc;
}

static void kind_free(void *h) { imi_db_free(h); }
static int kind_close(void *h) { return imi_db_close(h); }
static int kind_ping(void *h, const imi_ctx *ctx) { return imi_db_ping(h, ctx); }
static const char *kind_name(void *h) { return imi_db_driver_name(h); }

/* The calls every state check makes: exec, query on a reader and on the writer, begin
 * when transactions are advertised. */
static size_t kind_calls(imi_conf_t *t, void *h, const imi_ctx *ctx, imi_conf_call *out,
                         size_t cap)
{
    (void)t;
    imi_db *db = h;
    imi_db_rows *r = NULL;
    imi_db_tx *tx = NULL;
    size_t i = 0;
    out[i++] = (imi_conf_call){ "exec", imi_db_exec(db, ctx, "SELECT 1", NULL, 0, NULL) };
    out[i++] = (imi_conf_call){ "query", imi_db_query(db, ctx, "SELECT 1", NULL, 0, &r) };
    imi_db_rows_free(r);
    r = NULL;
    out[i++] = (imi_conf_call){ "query_writer",
                                imi_db_query_writer(db, ctx, "SELECT 1", NULL, 0, &r) };
    imi_db_rows_free(r);
    if ((imi_db_caps(db) & IMI_DB_CAP_TX) && i < cap) {
        out[i++] = (imi_conf_call){ "begin", imi_db_begin(db, ctx, &tx) };
        if (tx)
            imi_db_rollback(tx, NULL);
    }
    return i;
}

static const imi_conf_kind db_kind = {
    .kind = "db",
    .required_slot = "c_query",
    .open = kind_open,
    .free = kind_free,
    .close = kind_close,
    .ping = kind_ping,
    .driver_name = kind_name,
    .calls = kind_calls,
};

static void open_fails_cleanly(imi_conf_t *t) { imi_conf_open_fails_cleanly(t, &db_kind); }
static void open_ping_close_twice(imi_conf_t *t) { imi_conf_open_ping_close_twice(t, &db_kind); }
static void canceled_and_expired_ctx(imi_conf_t *t)
{
    imi_conf_canceled_and_expired_ctx(t, &db_kind);
}
static void required_slot_null_refused(imi_conf_t *t)
{
    imi_conf_required_slot_null_refused(t, &db_kind);
}

static const imi_conf_case cases[] = {
    { "open_ping_close_twice", open_ping_close_twice },
    { "bad_options", bad_options },
    { "every_param_type", imi_conf_db_every_param_type },
    { "conversions_and_empty_result", imi_conf_db_conversions_and_empty_result },
    { "tx_commit_and_rollback", imi_conf_db_tx_commit_and_rollback },
    { "tx_rollback_on_error", imi_conf_db_tx_rollback_on_error },
    { "reader_writer_routing", imi_conf_db_reader_writer_routing },
    { "injection_stays_data", imi_conf_db_injection_stays_data },
    { "errors_and_broken_connection", imi_conf_db_errors_and_broken_connection },
    { "canceled_and_expired_ctx", canceled_and_expired_ctx },
    { "canceled_ctx_stops_a_fetch", canceled_ctx_stops_a_fetch },
    { "deadline_stops_a_running_statement", deadline_stops_a_running_statement },
    { "capabilities", capabilities },
    { "slow_query_logged", slow_query_logged },
    { "close_ends_open_rows_and_tx", close_ends_open_rows_and_tx },
    { "many_threads", many_threads },
    { "open_fails_cleanly", open_fails_cleanly },
    { "required_slot_null_refused", required_slot_null_refused },
};

const imi_conf_suite imi_conf_db_suite = {
    .kind = "db",
    .cases = cases,
    .n_cases = sizeof cases / sizeof cases[0],
};
