/* The db front-end: instance, routing between writer and readers, statements (scan,
 * checks, slow-query log, counters) and driver control. Results are in db_rows.c,
 * transactions in db_tx.c, the pool in db_pool.c. */
#include <stdlib.h>
#include <string.h>
#include "iminfra/clog.h"
#include "iminfra/error.h"
#include "db_internal.h"
#include "util.h"

#define DB_DEFAULT_POOL_SIZE 4
#define DB_DEFAULT_SLOW_MS 200
#define DB_MAX_POOL_SIZE 1024

static int unsupported(const imi_db *db, const char *what)
{
    return imi_error_set(IMI_ENOTSUP, 0, "[%s] driver %s does not support %s", db->in.section,
                         db->in.desc->name, what);
}

static int check_vtable(const imi_db *db)
{
    const imi_db_driver *vt = db->vt;
    if (!vt->d_open || !vt->d_close || !vt->d_endpoint || !vt->d_connect || !vt->c_close ||
        !vt->c_ping || !vt->c_exec || !vt->c_query || !vt->r_columns || !vt->r_column_name ||
        !vt->r_next || !vt->r_type || !vt->r_int || !vt->r_double || !vt->r_bytes ||
        !vt->r_close)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s refused: a required db slot is NULL",
                             db->in.desc->name);
    uint64_t caps = db->in.desc->caps;
    if ((caps & IMI_DB_CAP_TX) && (!vt->c_begin || !vt->c_commit || !vt->c_rollback))
        return imi_error_set(IMI_EDRIVER, 0, "driver %s refused: it advertises transactions "
                             "without the c_begin/c_commit/c_rollback slots", db->in.desc->name);
    if ((caps & IMI_DB_CAP_CONTROL) && !DB_SLOT(db, d_control))
        return imi_error_set(IMI_EDRIVER, 0, "driver %s refused: it advertises control "
                             "without the d_control slot", db->in.desc->name);
    return IMI_OK;
}

static int read_core_keys(imi_db *db)
{
    const imi_config *cfg = imi_app_config(db->in.app);
    int64_t pool = DB_DEFAULT_POOL_SIZE, slow = DB_DEFAULT_SLOW_MS;
    int rc = imi_config_get_int(cfg, db->in.section, "pool_size", &pool);
    if (!rc)
        rc = imi_config_get_duration_ms(cfg, db->in.section, "slow_query", &slow);
    if (rc)
        return rc;
    if (pool < 1 || pool > DB_MAX_POOL_SIZE)
        return imi_error_set(IMI_ECONFIG, 0, "%s: [%s] pool_size must be 1..%d, not %lld",
                             imi_config_name(cfg), db->in.section, DB_MAX_POOL_SIZE,
                             (long long)pool);
    if (slow < 0)
        return imi_error_set(IMI_ECONFIG, 0, "%s: [%s] slow_query must not be negative",
                             imi_config_name(cfg), db->in.section);
    db->pool_size = (unsigned)pool;
    db->slow_ns = slow * 1000000;
    return IMI_OK;
}

int imi_db_open(imi_app *app, const char *name, imi_db **out)
{
    static const char *const core_keys[] = { IMI_INSTANCE_CORE_KEYS, "pool_size", "slow_query",
                                             "reader_fallback", NULL };
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_db_open: app and out are required");
    *out = NULL;
    imi_db *db = calloc(1, sizeof *db);
    if (!db)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    int rc = imi_instance_init(&db->in, app, IMI_KIND_DB, name, core_keys,
                               offsetof(imi_db_driver, d_control));
    if (rc) {
        free(db);
        return rc;
    }
    db->vt = db->in.vtable;
    pthread_mutex_init(&db->live_mu, NULL);
    db->live.next = db->live.prev = &db->live;
    if ((rc = check_vtable(db)) || (rc = read_core_keys(db))) {
        imi_db_free(db);
        return rc;
    }
    rc = db->vt->d_open(db->in.state, &db->in.env);
    db->in.opened = true;
    if (!rc)
        rc = db_pools_init(db);
    if (rc) {
        imi_error_prefix("[%s] driver %s failed to open", db->in.section, db->in.desc->name);
        imi_db_free(db);
        return rc;
    }
    *out = db;
    return IMI_OK;
}

/* Ends what is still open (results first: a tx's result uses the tx's connection). */
static void end_live(imi_db *db)
{
    pthread_mutex_lock(&db->live_mu);
    for (int pass = 0; pass < 2; pass++) {
        db_live *l = db->live.next;
        while (l != &db->live) {
            db_live *next = l->next;
            if (pass == 0 && l->kind == DB_LIVE_ROWS)
                db_rows_end((imi_db_rows *)l);
            else if (pass == 1 && l->kind == DB_LIVE_TX)
                db_tx_end((imi_db_tx *)l);
            else {
                l = next;
                continue;
            }
            l->prev->next = l->next;
            l->next->prev = l->prev;
            l->next = l->prev = l;
            l = next;
        }
    }
    pthread_mutex_unlock(&db->live_mu);
}

static void shut(imi_db *db)
{
    if (!db->in.opened)
        return;
    end_live(db);
    db_pools_destroy(db);
    db->vt->d_close(db->in.state);
    db->in.opened = false;
}

int imi_db_close(imi_db *db)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "imi_db_close: no handle");
    int rc = imi_instance_begin_close(&db->in);
    if (rc)
        return rc;
    shut(db);
    return IMI_OK;
}

void imi_db_free(imi_db *db)
{
    if (!db)
        return;
    if (!atomic_load(&db->in.closed))
        imi_db_close(db);
    else
        shut(db);
    pthread_mutex_destroy(&db->live_mu);
    imi_instance_release(&db->in);
    free(db);
}

uint64_t imi_db_caps(const imi_db *db) { return db ? db->in.desc->caps : 0; }
const char *imi_db_driver_name(const imi_db *db) { return db ? db->in.desc->name : NULL; }
const char *imi_db_dialect(const imi_db *db)
{
    return db && db->vt->dialect ? db->vt->dialect : "";
}
size_t imi_db_reader_count(const imi_db *db) { return db && db->n_pools ? db->n_pools - 1 : 0; }

void imi_db_stats_get(const imi_db *db, imi_db_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!db)
        return;
#define LOAD(f) atomic_load_explicit(&((imi_db *)db)->f, memory_order_relaxed)
    *out = (imi_db_stats){
        .execs = LOAD(n_execs), .queries = LOAD(n_queries),
        .reader_queries = LOAD(n_reader_queries), .errors = LOAD(n_errors),
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

/* ---- the shared call path ---------------------------------------------------------------- */

int db_enter(imi_db *db, const imi_ctx *ctx)
{
    if (imi_instance_enter(&db->in))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", db->in.section);
    int rc = imi_ctx_err(ctx);
    if (rc)
        imi_instance_leave(&db->in);
    return rc;
}

void db_leave(imi_db *db) { imi_instance_leave(&db->in); }

void db_live_add(imi_db *db, db_live *l)
{
    pthread_mutex_lock(&db->live_mu);
    l->next = db->live.next;
    l->prev = &db->live;
    db->live.next->prev = l;
    db->live.next = l;
    pthread_mutex_unlock(&db->live_mu);
}

void db_live_remove(imi_db *db, db_live *l)
{
    pthread_mutex_lock(&db->live_mu);
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = l;
    pthread_mutex_unlock(&db->live_mu);
}

static int check_params(const imi_db_param *params, size_t n)
{
    if (n && !params)
        return imi_error_set(IMI_EINVALID, 0, "db: %zu parameters but params is NULL", n);
    for (size_t i = 0; i < n; i++) {
        const imi_db_param *p = &params[i];
        if (p->type > IMI_DB_BOOL)
            return imi_error_set(IMI_EINVALID, 0, "db: parameter %zu has no valid type", i + 1);
        if ((p->type == IMI_DB_TEXT || p->type == IMI_DB_BLOB) && !p->v.s.ptr && p->v.s.len)
            return imi_error_set(IMI_EINVALID, 0, "db: parameter %zu is NULL with length %zu",
                                 i + 1, p->v.s.len);
    }
    return IMI_OK;
}

static void log_slow(imi_db *db, const imi_ctx *ctx, db_conn *conn, const char *sql,
                     int64_t elapsed, int rc)
{
    DB_COUNT(db, n_slow);
    IMI_WARN(db->in.logger, ctx, "slow query", IMI_FSTR("sql", sql), IMI_FDUR("elapsed", elapsed),
             IMI_FSTR("endpoint", conn->pool->name), IMI_FERR("rc", rc));
}

int db_sql_prepare(db_sql *q, const char *sql, const imi_db_param *params, size_t n)
{
    q->marks = q->small;
    if (!sql || !*sql)
        return imi_error_set(IMI_EINVALID, 0, "db: SQL is %s", sql ? "empty" : "NULL");
    int rc = check_params(params, n);
    if (rc)
        return rc;
    size_t len = strlen(sql);
    size_t cap = sizeof q->small / sizeof q->small[0];
    size_t found = imi_db_sql_scan(sql, len, q->small, cap);
    if (found > cap) {
        if (!(q->marks = malloc(found * sizeof *q->marks)))
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        imi_db_sql_scan(sql, len, q->marks, found);
    }
    if (found != n) {
        db_sql_done(q);
        return imi_error_set(IMI_EINVALID, 0, "db: the SQL has %zu placeholder%s but %zu "
                             "parameter%s given", found, found == 1 ? "" : "s", n,
                             n == 1 ? " was" : "s were");
    }
    q->st = (imi_db_stmt){ .size = sizeof q->st, .sql = sql, .sql_len = len, .marks = q->marks,
                           .params = params, .n_params = n };
    return IMI_OK;
}

void db_sql_done(db_sql *q)
{
    if (q->marks != q->small)
        free(q->marks);
    q->marks = q->small;
}

int db_run(imi_db *db, db_conn *conn, const imi_ctx *ctx, const db_sql *q, int64_t *affected,
           void **res)
{
    int64_t t0 = imi_now_mono_ns();
    int rc;
    if (res) {
        DB_COUNT(db, n_queries);
        if (conn->pool->index)
            DB_COUNT(db, n_reader_queries);
        *res = NULL;
        rc = db->vt->c_query(conn->drv, ctx, &q->st, res);
        if (!rc && !*res)
            rc = imi_error_set(IMI_EDRIVER, 0, "driver %s: query returned no result",
                               db->in.desc->name);
    } else {
        DB_COUNT(db, n_execs);
        int64_t ignored = 0;
        rc = db->vt->c_exec(conn->drv, ctx, &q->st, affected ? affected : &ignored);
    }
    if (rc)
        DB_COUNT(db, n_errors);
    int64_t elapsed = imi_now_mono_ns() - t0;
    if (db->slow_ns && elapsed >= db->slow_ns)
        log_slow(db, ctx, conn, q->st.sql, elapsed, rc);
    return rc;
}


/* One statement on a pooled connection of pool p: acquire, run, release. For a query
 * the connection goes with the result and comes back at imi_db_rows_close. */
static int pooled(imi_db *db, db_pool *p, const imi_ctx *ctx, const char *sql,
                  const imi_db_param *params, size_t n, int64_t *affected, imi_db_rows **rows)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "db: no handle");
    db_sql q;
    int rc = db_sql_prepare(&q, sql, params, n);
    if (rc)
        return rc;
    if ((rc = db_enter(db, ctx))) {
        db_sql_done(&q);
        return rc;
    }
    db_conn *conn;
    void *res = NULL;
    /* A read that a reader cannot serve goes to the writer (db_pool_fallback). */
    for (db_pool *next;; p = next) {
        p = db_pool_route(db, p);
        if ((rc = db_pool_acquire(p, ctx, &conn))) {
            if ((next = db_pool_fallback(db, p, ctx, rc)))
                continue;
            DB_COUNT(db, n_errors);
            db_leave(db);
            db_sql_done(&q);
            return rc;
        }
        rc = db_run(db, conn, ctx, &q, affected, rows ? &res : NULL);
        if (!rc || !(next = db_pool_fallback(db, p, ctx, rc)))
            break;
        db_pool_release(p, conn, db_conn_broken(db, conn, rc));
    }
    db_sql_done(&q);
    if (!rc && rows) {
        rc = db_rows_new(db, res, conn, NULL, rows);
        if (rc) {
            db->vt->r_close(res);
            db_pool_release(p, conn, false);
        }
    } else {
        db_pool_release(p, conn, db_conn_broken(db, conn, rc));
    }
    db_leave(db);
    return rc;
}

int imi_db_exec(imi_db *db, const imi_ctx *ctx, const char *sql, const imi_db_param *params,
                size_t n_params, int64_t *affected)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "db: no handle");
    return pooled(db, &db->pools[0], ctx, sql, params, n_params, affected, NULL);
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
    return pooled(db, reader_pool(db), ctx, sql, params, n_params, NULL, rows);
}

int imi_db_query_writer(imi_db *db, const imi_ctx *ctx, const char *sql,
                        const imi_db_param *params, size_t n_params, imi_db_rows **rows)
{
    if (rows)
        *rows = NULL;
    if (!db || !rows)
        return imi_error_set(IMI_EINVALID, 0, "db: query needs a handle and rows");
    return pooled(db, &db->pools[0], ctx, sql, params, n_params, NULL, rows);
}

int imi_db_ping(imi_db *db, const imi_ctx *ctx)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "db: no handle");
    int rc = db_enter(db, ctx);
    if (rc)
        return rc;
    for (size_t i = 0; i < db->n_pools && !rc; i++) {
        db_conn *conn;
        if ((rc = db_pool_acquire(&db->pools[i], ctx, &conn)))
            break;
        rc = db->vt->c_ping(conn->drv, ctx);
        db_pool_release(&db->pools[i], conn, db_conn_broken(db, conn, rc));
        if (rc)
            imi_error_prefix("[%s] %s", db->in.section, db->pools[i].name);
    }
    db_leave(db);
    return rc;
}

int imi_db_control(imi_db *db, const char *cmd, const char *arg, imi_buf *out)
{
    if (!db)
        return imi_error_set(IMI_EINVALID, 0, "db: no handle");
    if (!(db->in.desc->caps & IMI_DB_CAP_CONTROL) || !DB_SLOT(db, d_control))
        return unsupported(db, "control commands");
    if (!cmd || !*cmd)
        return imi_error_set(IMI_EINVALID, 0, "db: control needs a command");
    int rc = db_enter(db, NULL);
    if (rc)
        return rc;
    rc = db->vt->d_control(db->in.state, cmd, arg, out);
    db_leave(db);
    return rc;
}
