/* What is still open on a db handle (results and transactions) and how each ends: the
 * bottom of the db front-end with the pool, so that results, transactions and close can
 * all end things without calling each other. */
#include <stdlib.h>
#include "iminfra/error.h"
#include "db_internal.h"

void imi_db_live_add(imi_db *db, db_live *l)
{
    pthread_mutex_lock(&db->live_mu);
    l->next = db->live.next;
    l->prev = &db->live;
    db->live.next->prev = l;
    db->live.next = l;
    pthread_mutex_unlock(&db->live_mu);
}

void imi_db_live_remove(imi_db *db, db_live *l)
{
    pthread_mutex_lock(&db->live_mu);
    l->prev->next = l->next;
    l->next->prev = l->prev;
    l->next = l->prev = l;
    pthread_mutex_unlock(&db->live_mu);
}

/* Called with the live list locked, or once the handle left it. */
void imi_db_rows_end(imi_db_rows *r)
{
    if (r->dead)
        return;
    r->dead = true;
    r->on_row = false;
    VT(r->db)->r_close(r->res);
    r->res = NULL;
    if (r->tx) {
        r->tx->rows = NULL;
    } else if (r->conn) {
        r->conn->rows = NULL;
        imi_db_pool_release(r->conn->pool, r->conn, false);
    }
    r->conn = NULL;
}

/* Rolls back on the driver and gives the connection back (dropped if that fails). */
void imi_db_tx_abort(imi_db_tx *tx)
{
    imi_db *db = tx->db;
    if (!tx->conn)
        return;
    int rc = VT(db)->c_rollback(tx->conn->drv, NULL);
    imi_db_pool_release(tx->conn->pool, tx->conn, rc != IMI_OK);
    tx->conn = NULL;
    DB_COUNT(db, n_tx_rolled_back);
}

void imi_db_tx_fail(imi_db_tx *tx, int rc)
{
    if (!tx->failed_rc)
        tx->failed_rc = rc;
    if (!tx->conn)
        return;
    if (db_conn_broken(tx->db, tx->conn, rc)) {
        /* The connection is gone and the server rolled back with it. */
        if (tx->rows)
            imi_db_rows_end(tx->rows);
        imi_db_pool_release(tx->conn->pool, tx->conn, true);
        tx->conn = NULL;
        DB_COUNT(tx->db, n_tx_rolled_back);
    } else if (!tx->rows) {
        imi_db_tx_abort(tx);
    }
}

void imi_db_tx_end(imi_db_tx *tx)
{
    if (tx->dead)
        return;
    tx->dead = true;
    if (tx->rows)
        imi_db_rows_end(tx->rows);
    imi_db_tx_abort(tx);
}

/* Ends what is still open (results first: a tx's result uses the tx's connection). */
void imi_db_live_end_all(imi_db *db)
{
    pthread_mutex_lock(&db->live_mu);
    imi_db_pools_end_rows(db);
    for (int pass = 0; pass < 2; pass++) {
        db_live *l = db->live.next;
        while (l != &db->live) {
            db_live *next = l->next;
            if (pass == 0 && l->kind == DB_LIVE_ROWS)
                imi_db_rows_end((imi_db_rows *)l);
            else if (pass == 1 && l->kind == DB_LIVE_TX)
                imi_db_tx_end((imi_db_tx *)l);
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

