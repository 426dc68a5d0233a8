/* imi demo: db. A table of users, rows inserted in a committed transaction, a second
 * transaction rolled back, and a parameterised query read with typed getters. The SQL is
 * the part SQLite, PostgreSQL and MySQL share, so it runs unchanged on each. */
#include <stdio.h>
#include "demo.h"

static const struct user {
    int64_t id;
    const char *name, *email;
    double karma;
    bool active;
} users[] = {
    { 1, "alice", "alice@example.com", 4.5, true },
    { 2, "bob", "bob@example.com", 1.25, false },
    { 3, "carol", "carol@example.com", 3.0, true },
};
#define N_USERS (sizeof users / sizeof users[0])

static const char insert_sql[] =
    "INSERT INTO demo_users (id, name, email, karma, active) VALUES (?, ?, ?, ?, ?)";

static int insert_user(imi_db_tx *tx, const imi_ctx *ctx, const struct user *u)
{
    imi_db_param p[] = { IMI_DB_PINT(u->id), IMI_DB_PTEXT(u->name), IMI_DB_PTEXT(u->email),
                         IMI_DB_PDOUBLE(u->karma), IMI_DB_PBOOL(u->active) };
    return imi_db_tx_exec(tx, ctx, insert_sql, p, 5, NULL);
}

static int create_schema(imi_db *db, const imi_ctx *ctx)
{
    int rc = imi_db_exec(db, ctx, "DROP TABLE IF EXISTS demo_users", NULL, 0, NULL);
    if (!rc)
        rc = imi_db_exec(db, ctx,
                         "CREATE TABLE demo_users (id BIGINT PRIMARY KEY, "
                         "name VARCHAR(64) NOT NULL, email VARCHAR(128) NOT NULL UNIQUE, "
                         "karma DOUBLE PRECISION NOT NULL, active BOOLEAN NOT NULL)",
                         NULL, 0, NULL);
    if (!rc)
        demo_say("created table demo_users (id, name, email, karma, active)");
    return rc;
}

static int committed_tx(imi_db *db, const imi_ctx *ctx)
{
    imi_db_tx *tx;
    int rc = imi_db_begin(db, ctx, &tx);
    if (rc)
        return rc;
    demo_say("begin");
    for (size_t i = 0; i < N_USERS; i++) {
        if ((rc = insert_user(tx, ctx, &users[i]))) {
            imi_db_rollback(tx, ctx);
            return rc;
        }
        demo_say("  insert %s (id %lld)", users[i].name, (long long)users[i].id);
    }
    if ((rc = imi_db_commit(tx, ctx)))
        return rc;
    demo_say("commit");
    return IMI_OK;
}

static int count_named(imi_db *db, const imi_ctx *ctx, const char *name, int64_t *n)
{
    imi_db_rows *rows;
    imi_db_param p[] = { IMI_DB_PTEXT(name) };
    int rc = imi_db_query_writer(db, ctx, "SELECT COUNT(*) FROM demo_users WHERE name = ?", p,
                                 1, &rows);
    if (rc)
        return rc;
    rc = imi_db_rows_next(rows, ctx);
    rc = rc == 1 ? imi_db_rows_int(rows, 0, n) : rc < 0 ? rc : demo_fail("COUNT(*) gave no row");
    imi_db_rows_free(rows);
    return rc;
}

static int rolled_back_tx(imi_db *db, const imi_ctx *ctx)
{
    static const struct user mallory = { 4, "mallory", "mallory@example.com", 0.5, true };
    imi_db_tx *tx;
    int rc = imi_db_begin(db, ctx, &tx);
    if (rc)
        return rc;
    demo_say("begin");
    if ((rc = insert_user(tx, ctx, &mallory))) {
        imi_db_rollback(tx, ctx);
        return rc;
    }
    demo_say("  insert %s (id %lld)", mallory.name, (long long)mallory.id);
    if ((rc = imi_db_rollback(tx, ctx)))
        return rc;
    demo_say("rollback");
    int64_t n = -1;
    if ((rc = count_named(db, ctx, mallory.name, &n)))
        return rc;
    demo_say("rows named %s after the rollback: %lld", mallory.name, (long long)n);
    return n == 0 ? IMI_OK : demo_fail("the rolled-back row is there (%lld)", (long long)n);
}

/* Reads one row with the typed getters and prints it. */
static int print_row(imi_db_rows *rows)
{
    int64_t id;
    const char *name, *email;
    double karma;
    bool active;
    int rc;
    if ((rc = imi_db_rows_int(rows, 0, &id)) || (rc = imi_db_rows_text(rows, 1, &name, NULL)) ||
        (rc = imi_db_rows_text(rows, 2, &email, NULL)) ||
        (rc = imi_db_rows_double(rows, 3, &karma)) || (rc = imi_db_rows_bool(rows, 4, &active)))
        return rc;
    demo_say("  id=%lld name=%-6s email=%-18s karma=%.2f active=%s", (long long)id, name, email,
             karma, active ? "true" : "false");
    return IMI_OK;
}

static int query_users(imi_db *db, const imi_ctx *ctx)
{
    const double min_karma = 2.0;
    imi_db_param p[] = { IMI_DB_PDOUBLE(min_karma) };
    imi_db_rows *rows;
    /* On the writer: what was just committed, also where readers lag behind. */
    int rc = imi_db_query_writer(db, ctx,
                                 "SELECT id, name, email, karma, active FROM demo_users "
                                 "WHERE karma >= ? ORDER BY id", p, 1, &rows);
    if (rc)
        return rc;
    demo_say("SELECT ... WHERE karma >= ? with ? = %.1f (int, text, double, bool columns):",
             min_karma);
    int n = 0;
    while ((rc = imi_db_rows_next(rows, ctx)) == 1) {
        if ((rc = print_row(rows)))
            break;
        n++;
    }
    imi_db_rows_free(rows);
    if (rc < 0)
        return rc;
    return n == 2 ? IMI_OK : demo_fail("the query gave %d rows, not 2", n);
}

int demo_db(imi_app *app)
{
    imi_db *db;
    int rc = imi_db_open(app, NULL, &db);
    if (rc)
        return rc;
    demo_say("opened [db] on driver '%s' (dialect %s, %zu reader(s))", imi_db_driver_name(db),
             imi_db_dialect(db), imi_db_reader_count(db));
    imi_ctx *ctx = imi_ctx_new(10000);
    if (!(rc = create_schema(db, ctx)) && !(rc = committed_tx(db, ctx)) &&
        !(rc = rolled_back_tx(db, ctx)) && !(rc = query_users(db, ctx))) {
        imi_db_stats st;
        imi_db_get_stats(db, &st);
        demo_say("counters: execs %llu, queries %llu, transactions begun %llu, committed %llu, "
                 "rolled back %llu", (unsigned long long)st.execs,
                 (unsigned long long)st.queries, (unsigned long long)st.tx_begun,
                 (unsigned long long)st.tx_committed, (unsigned long long)st.tx_rolled_back);
    }
    imi_ctx_free(ctx);
    imi_db_free(db);
    return rc;
}
