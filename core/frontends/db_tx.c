/* Transactions: one writer connection from begin to commit or rollback; the first
 * statement that fails in the driver rolls the transaction back. */
#include <stdlib.h>
#include "iminfra/error.h"
#include "db_internal.h"

static int begin(imi_db *db, const imi_ctx *ctx, imi_db_tx **out)
{
    if (!db || !out)
        return imi_error_set(IMI_EINVALID, 0, "db: begin needs a handle and tx");
    *out = NULL;
    if (!(db->in.caps & IMI_DB_CAP_TX))
        return imi_error_set(IMI_ENOTSUP, 0, "[%s] driver %s does not support transactions",
                             db->in.section, db->in.desc->name);
    int rc = db_enter(db, ctx);
    if (rc)
        return rc;
    imi_db_tx *tx = calloc(1, sizeof *tx);
    if (!tx) {
        db_leave(db);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    tx->link.kind = DB_LIVE_TX;
    tx->db = db;
    rc = imi_db_pool_acquire(&db->pools[0], ctx, &tx->conn);
    if (!rc) {
        rc = VT(db)->c_begin(tx->conn->drv, ctx);
        if (rc) {
            DB_COUNT(db, n_errors);
            imi_db_pool_release(tx->conn->pool, tx->conn, db_conn_broken(db, tx->conn, rc));
        }
    }
    if (rc) {
        free(tx);
        db_leave(db);
        return rc;
    }
    DB_COUNT(db, n_tx_begun);
    imi_db_live_add(db, &tx->link);
    db_leave(db);
    *out = tx;
    return IMI_OK;
}

/* The state checks every statement of a tx starts with. */
static int tx_usable(imi_db_tx *tx)
{
    if (tx->dead)
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", tx->db->in.section);
    if (tx->failed_rc)
        return imi_error_set(IMI_ECONFLICT, 0, "db: transaction aborted: an earlier statement "
                             "failed with %s", imi_err_name(tx->failed_rc));
    if (tx->rows)
        return imi_error_set(IMI_EINVALID, 0, "db: close the transaction's result first");
    return IMI_OK;
}

static int tx_statement(imi_db_tx *tx, const imi_ctx *ctx, const char *sql,
                        const imi_db_param *params, size_t n, int64_t *affected,
                        imi_db_rows **rows)
{
    if (!tx)
        return imi_error_set(IMI_EINVALID, 0, "db: no transaction");
    imi_db *db = tx->db;
    int rc = tx_usable(tx);
    if (rc)
        return rc;
    db_sql q;
    if ((rc = imi_db_sql_prepare(db, &q, sql, params, n)))
        return rc;
    if ((rc = db_enter(db, ctx))) {
        imi_db_sql_done(&q);
        return rc;
    }
    void *res = NULL;
    rc = imi_db_run(db, tx->conn, ctx, &q, affected, rows ? &res : NULL, imi_thread());
    imi_db_sql_done(&q);
    if (!rc && rows) {
        if ((rc = imi_db_rows_new(db, res, NULL, tx, rows)))
            VT(db)->r_close(res);
        else
            tx->rows = *rows;
    }
    if (rc)
        imi_db_tx_fail(tx, rc);
    db_leave(db);
    return rc;
}

int imi_db_begin(imi_db *db, const imi_ctx *ctx, imi_db_tx **out)
{
    int64_t t0 = imi_call_t0((imi_instance *)(db));
    int rc = begin(db, ctx, out);
    return db && out ? db_record(db, DB_OP_begin, rc, t0) : rc;
}

int imi_db_tx_exec(imi_db_tx *tx, const imi_ctx *ctx, const char *sql,
                   const imi_db_param *params, size_t n_params, int64_t *affected)
{
    int64_t t0 = imi_call_t0((imi_instance *)(tx ? tx->db : NULL));
    int rc = tx_statement(tx, ctx, sql, params, n_params, affected, NULL);
    return tx ? db_record(tx->db, DB_OP_tx_exec, rc, t0) : rc;
}

int imi_db_tx_query(imi_db_tx *tx, const imi_ctx *ctx, const char *sql,
                    const imi_db_param *params, size_t n_params, imi_db_rows **rows)
{
    if (rows)
        *rows = NULL;
    if (!rows)
        return imi_error_set(IMI_EINVALID, 0, "db: query needs rows");
    int64_t t0 = imi_call_t0((imi_instance *)(tx ? tx->db : NULL));
    int rc = tx_statement(tx, ctx, sql, params, n_params, NULL, rows);
    return tx ? db_record(tx->db, DB_OP_tx_query, rc, t0) : rc;
}

/* Ends tx: commit when asked and possible, else rollback; frees the handle. */
static int finish(imi_db_tx *tx, const imi_ctx *ctx, bool commit)
{
    if (!tx)
        return imi_error_set(IMI_EINVALID, 0, "db: no transaction");
    imi_db *db = tx->db;
    pthread_mutex_lock(&db->live_mu);
    bool dead = tx->dead;
    if (!dead) {
        tx->link.prev->next = tx->link.next;
        tx->link.next->prev = tx->link.prev;
        tx->link.next = tx->link.prev = &tx->link;
    }
    pthread_mutex_unlock(&db->live_mu);
    int rc = IMI_OK;
    if (dead) {
        rc = imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", db->in.section);
    } else if (db_enter(db, NULL)) {
        rc = imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", db->in.section);
    } else {
        if (tx->rows) {
            imi_db_rows *r = tx->rows;
            imi_db_live_remove(db, &r->link);
            imi_db_rows_end(r);
            if (commit)
                rc = imi_error_set(IMI_EINVALID, 0, "db: commit with an open result: "
                                   "rolled back");
        }
        if (!rc && commit && tx->failed_rc) {
            rc = imi_error_set(tx->failed_rc, 0, "db: transaction rolled back: a statement "
                               "failed with %s", imi_err_name(tx->failed_rc));
        } else if (!rc && commit && tx->conn) {
            rc = imi_ctx_err(ctx);
            if (!rc)
                rc = VT(db)->c_commit(tx->conn->drv, ctx);
            if (!rc) {
                DB_COUNT(db, n_tx_committed);
                imi_db_pool_release(tx->conn->pool, tx->conn, false);
                tx->conn = NULL;
            } else {
                DB_COUNT(db, n_errors);
                if (db_conn_broken(db, tx->conn, rc)) {
                    imi_db_pool_release(tx->conn->pool, tx->conn, true);
                    tx->conn = NULL;
                    DB_COUNT(db, n_tx_rolled_back);
                }
            }
        }
        imi_db_tx_abort(tx);
        db_leave(db);
    }
    free(tx);
    return rc;
}

/* finish frees tx: the db is read before. */
static int finish_counted(imi_db_tx *tx, const imi_ctx *ctx, bool commit)
{
    imi_db *db = tx ? tx->db : NULL;
    int64_t t0 = imi_call_t0((imi_instance *)(db));
    int rc = finish(tx, ctx, commit);
    return db ? db_record(db, commit ? DB_OP_commit : DB_OP_rollback, rc, t0) : rc;
}

int imi_db_commit(imi_db_tx *tx, const imi_ctx *ctx) { return finish_counted(tx, ctx, true); }
int imi_db_rollback(imi_db_tx *tx, const imi_ctx *ctx) { return finish_counted(tx, ctx, false); }
