/* The db front-end's top: the handle's open and close, routing between writer and
 * readers, and driver control. Layers, each calling only those below: db.c and db_tx.c;
 * db_rows.c; db_stmt.c (statements) and db_live.c (what is still open); db_pool.c. */
#include <stdlib.h>
#include <string.h>
#include "iminfra/clog.h"
#include "iminfra/error.h"
#include "db_internal.h"
#include "uid_internal.h"
#include "util.h"

#define DB_DEFAULT_POOL_SIZE 4
#define DB_DEFAULT_SLOW_MS 200
#define DB_MAX_POOL_SIZE 1024

/* The line of section.key in the config (an out-of-range value is always one it set). */
static int key_line(const imi_config *cfg, const char *section, const char *key)
{
    int line = 0;
    imi_config_get(cfg, section, key, &line);
    return line;
}

static int db_configure(imi_instance *in)
{
    imi_db *db = (imi_db *)in;
    pthread_mutex_init(&db->live_mu, NULL);
    db->live.next = db->live.prev = &db->live;
    const imi_config *cfg = imi_app_config(db->in.app);
    int64_t pool = DB_DEFAULT_POOL_SIZE, slow = DB_DEFAULT_SLOW_MS;
    int rc = imi_config_get_int(cfg, db->in.section, "pool_size", &pool);
    if (!rc)
        rc = imi_config_get_duration_ms(cfg, db->in.section, "slow_query", &slow);
    if (rc)
        return rc;
    if (pool < 1 || pool > DB_MAX_POOL_SIZE)
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] pool_size must be 1..%d, not %lld",
                             imi_config_name(cfg), key_line(cfg, db->in.section, "pool_size"),
                             db->in.section, DB_MAX_POOL_SIZE, (long long)pool);
    if (slow < 0)
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] slow_query must not be negative",
                             imi_config_name(cfg), key_line(cfg, db->in.section, "slow_query"),
                             db->in.section);
    db->pool_size = (unsigned)pool;
    db->slow_ns = slow * 1000000;
    /* Every statement is timed for the slow-query log: on the coarse clock (a few ns a
     * read, against ~25-150 for the precise one on a VM) when the threshold is at least 25
     * of its ticks (the default 200 ms is 50 ticks of 4 ms): the verdict is then off by
     * one tick at most, under 4%. */
    db->slow_coarse = db->slow_ns >= 25 * imi_coarse_tick_ns();
    return IMI_OK;
}

static int db_started(imi_instance *in) { return imi_db_pools_init((imi_db *)in); }

/* Results first, then transactions, then the pools' connections, then the driver. */
static void db_stopping(imi_instance *in)
{
    imi_db *db = (imi_db *)in;
    imi_db_live_end_all(db);
    imi_db_pools_destroy(db);
}

static void db_release(imi_instance *in)
{
    imi_db *db = (imi_db *)in;
    imi_db_sql_cache_free(db);
    pthread_mutex_destroy(&db->live_mu);
}

static const char *const db_keys[] = { "pool_size", "slow_query", "reader_fallback", NULL };

static const char *const db_ops[] = { "exec", "query", "query_writer", "ping", "begin",
                                      "commit", "rollback", "tx_exec", "tx_query" };

/* Statements by endpoint from the existing counters; pool gauges under each pool's lock,
 * as a call in flight so that close cannot destroy the pools meanwhile. */
static void db_extras(imi_instance *in, const imi_op_metrics *m, uint64_t *v)
{
    (void)m;
    imi_db *db = (imi_db *)in;
    if (!db)
        return;
#define LD(c) atomic_load_explicit(&db->c, memory_order_relaxed)
    uint64_t stmts = DB_SUM(db, execs) + DB_SUM(db, queries);
    uint64_t reader = DB_SUM(db, reader_queries);
    v[IMI_DB_X_WRITER_CALLS] = stmts - reader;
    v[IMI_DB_X_READER_CALLS] = reader;
    v[IMI_DB_X_POOL_WAITS] = LD(n_pool_waits);
#undef LD
    if (imi_instance_enter(in, NULL)) {
        imi_error_clear();
        return;
    }
    for (size_t i = 0; i < db->n_pools; i++) {
        db_pool *p = &db->pools[i];
        pthread_mutex_lock(&p->mu);
        /* the connection parked in the lock-free slot is idle too */
        unsigned idle = atomic_load(&p->hot) != NULL;
        for (db_conn *c = p->idle; c; c = c->next)
            idle++;
        v[IMI_DB_X_POOL_IDLE] += idle;
        v[IMI_DB_X_POOL_IN_USE] += p->open - idle;
        pthread_mutex_unlock(&p->mu);
    }
    db_leave(db);
}

static const imi_frontend db_frontend = {
    .kind = IMI_KIND_DB,
    .handle_size = sizeof(imi_db),
    .keys = db_keys,
    .ops = db_ops,
    .n_ops = DB_OP_COUNT_,
    .read_extras = db_extras,
    .configure = db_configure,
    .started = db_started,
    .stopping = db_stopping,
    .release = db_release,
};

int imi_db_open(imi_app *app, const char *name, imi_db **out)
{
    return imi_instance_open(app, &db_frontend, name, (imi_instance **)out);
}

int imi_db_close(imi_db *db) { return imi_instance_close(db ? &db->in : NULL); }
void imi_db_free(imi_db *db) { imi_instance_free(db ? &db->in : NULL); }
uint64_t imi_db_caps(const imi_db *db) { return db ? db->in.caps : 0; }
const char *imi_db_driver_name(const imi_db *db) { return db ? db->in.desc->name : NULL; }
const char *imi_db_dialect(const imi_db *db)
{
    return db && VT(db)->dialect ? VT(db)->dialect : "";
}
size_t imi_db_reader_count(const imi_db *db) { return db && db->n_pools ? db->n_pools - 1 : 0; }

void imi_db_get_stats(const imi_db *db, imi_db_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!db)
        return;
#define LOAD(f) atomic_load_explicit(&((imi_db *)db)->f, memory_order_relaxed)
    *out = (imi_db_stats){
        .execs = DB_SUM(db, execs), .queries = DB_SUM(db, queries),
        .reader_queries = DB_SUM(db, reader_queries), .errors = LOAD(n_errors),
        .slow = LOAD(n_slow), .tx_begun = LOAD(n_tx_begun),
        .tx_committed = LOAD(n_tx_committed), .tx_rolled_back = LOAD(n_tx_rolled_back),
        .conns_opened = LOAD(n_conns_opened), .conns_broken = LOAD(n_conns_broken),
        .pool_waits = LOAD(n_pool_waits),
    };
#undef LOAD
}

const char *imi_db_type_name(imi_db_type type)
{
    switch (type) {
    case IMI_DB_NULL: return "NULL";
    case IMI_DB_INT: return "INT";
    case IMI_DB_DOUBLE: return "DOUBLE";
    case IMI_DB_TEXT: return "TEXT";
    case IMI_DB_BLOB: return "BLOB";
    case IMI_DB_BOOL: return "BOOL";
    }
    return "?";
}

/* One statement on a pooled connection of pool p: acquire, run, release. For a query
 * the connection goes with the result and comes back at imi_db_rows_free. */
static int pooled(imi_db *db, db_pool *p, const imi_ctx *ctx, const char *sql,
                  const imi_db_param *params, size_t n, int64_t *affected, imi_db_rows **rows,
                  const imi_thread_slot *t)
{
    db_sql q;
    int rc = imi_db_sql_prepare(db, &q, sql, params, n);
    if (rc)
        return rc;
    if ((rc = db_enter_at(db, ctx, t))) {
        imi_db_sql_done(&q);
        return rc;
    }
    db_conn *conn;
    void *res = NULL;
    /* A read that a reader cannot serve goes to the writer (imi_db_pool_fallback). */
    for (db_pool *next;; p = next) {
        p = imi_db_pool_route(db, p);
        if ((rc = imi_db_pool_acquire(p, ctx, &conn))) {
            if ((next = imi_db_pool_fallback(db, p, ctx, rc)))
                continue;
            DB_COUNT(db, n_errors);
            db_leave_at(db, t);
            imi_db_sql_done(&q);
            return rc;
        }
        rc = imi_db_run(db, conn, ctx, &q, affected, rows ? &res : NULL, t);
        if (!rc || !(next = imi_db_pool_fallback(db, p, ctx, rc)))
            break;
        imi_db_pool_release(p, conn, db_conn_broken(db, conn, rc));
    }
    imi_db_sql_done(&q);
    if (!rc && rows) {
        rc = imi_db_rows_new(db, res, conn, NULL, rows);
        if (rc) {
            VT(db)->r_close(res);
            imi_db_pool_release(p, conn, false);
        }
    } else {
        imi_db_pool_release(p, conn, db_conn_broken(db, conn, rc));
    }
    db_leave_at(db, t);
    return rc;
}

int imi_db_exec(imi_db *db, const imi_ctx *ctx, const char *sql, const imi_db_param *params,
                size_t n_params, int64_t *affected)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "db: no handle");
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at(&db->in, t);
    return imi_instance_record_at(&db->in, DB_OP_exec,
                                  pooled(db, &db->pools[0], ctx, sql, params, n_params,
                                         affected, NULL, t), t0, t);
}

static db_pool *reader_pool(imi_db *db)
{
    if (db->n_pools < 2)
        return &db->pools[0];
    unsigned i = atomic_fetch_add_explicit(&db->rr, 1, memory_order_relaxed);
    return &db->pools[1 + i % (db->n_pools - 1)];
}

int imi_db_query(imi_db *db, const imi_ctx *ctx, const char *sql, const imi_db_param *params,
                 size_t n_params, imi_db_rows **rows)
{
    if (rows)
        *rows = NULL;
    if (!db || !rows)
        return imi_error_set(IMI_EINVALID, 0, "db: query needs a handle and rows");
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at(&db->in, t);
    return imi_instance_record_at(&db->in, DB_OP_query,
                                  pooled(db, reader_pool(db), ctx, sql, params, n_params, NULL,
                                         rows, t), t0, t);
}

int imi_db_query_writer(imi_db *db, const imi_ctx *ctx, const char *sql,
                        const imi_db_param *params, size_t n_params, imi_db_rows **rows)
{
    if (rows)
        *rows = NULL;
    if (!db || !rows)
        return imi_error_set(IMI_EINVALID, 0, "db: query needs a handle and rows");
    imi_thread_slot *t = imi_thread();
    int64_t t0 = imi_call_t0_at(&db->in, t);
    return imi_instance_record_at(&db->in, DB_OP_query_writer,
                                  pooled(db, &db->pools[0], ctx, sql, params, n_params, NULL,
                                         rows, t), t0, t);
}

static int ping(imi_db *db, const imi_ctx *ctx)
{
    int rc = db_enter(db, ctx);
    if (rc)
        return rc;
    for (size_t i = 0; i < db->n_pools && !rc; i++) {
        db_conn *conn;
        if ((rc = imi_db_pool_acquire(&db->pools[i], ctx, &conn)))
            break;
        rc = VT(db)->c_ping(conn->drv, ctx);
        imi_db_pool_release(&db->pools[i], conn, db_conn_broken(db, conn, rc));
        if (rc)
            imi_error_prefix("[%s] %s", db->in.section, db->pools[i].name);
    }
    db_leave(db);
    return rc;
}

int imi_db_ping(imi_db *db, const imi_ctx *ctx)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "db: no handle");
    int64_t t0 = imi_call_t0((imi_instance *)(db));
    return db_record(db, DB_OP_ping, ping(db, ctx), t0);
}

int imi_db_control(imi_db *db, const char *cmd, const char *arg, imi_buf *out)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "db: no handle");
    if (imi_instance_need(&db->in, IMI_DB_CAP_CONTROL, "control commands"))
        return IMI_ENOTSUP;
    if (!cmd || !*cmd)
        return imi_error_set(IMI_EINVALID, 0, "db: control needs a command");
    int rc = db_enter(db, NULL);
    if (rc)
        return rc;
    rc = VT(db)->d_control(db->in.state, cmd, arg, out);
    db_leave(db);
    return rc;
}
