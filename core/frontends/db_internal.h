/* The db front-end's insides, shared by db.c (open/close, routing), db_tx.c
 * (transactions), db_rows.c (results), db_stmt.c (statements), db_live.c (what is still
 * open), db_pool.c (connections per endpoint) and db_sql.c (placeholder scan). */
#ifndef IMI_CORE_DB_INTERNAL_H
#define IMI_CORE_DB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include "iminfra/db.h"
#include "iminfra/driver/db_driver.h"
#include "instance.h"

typedef struct db_pool db_pool;

/* A driver connection and the pool it returns to. */
typedef struct db_conn {
    void *drv;
    db_pool *pool;
    struct db_conn *next;       /* in the idle list */
    imi_db_rows *spare;         /* the last result object, reused by the next query */
    /* The result open on it outside a transaction: such results are on no shared list
     * (no lock per query); close finds them here, through the pool's list of all. */
    imi_db_rows *rows;
    struct db_conn *all_prev, *all_next;   /* every connection of the pool, under mu */
} db_conn;

/* The connections of one endpoint: idle ones in a list, at most `max` open in all. */
struct db_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* The connection released last, taken and given back without the mutex (the
     * uncontended path); the idle list holds the others. */
    _Atomic(db_conn *) hot;
    atomic_uint waiters;        /* callers waiting on cv: a release wakes them */
    db_conn *idle;
    db_conn *all;               /* every connection made and not yet closed */
    unsigned open;              /* idle + in use + being connected */
    unsigned max;
    size_t index;               /* 0: writer, 1..: readers */
    _Atomic int64_t down_until_ns; /* a reader that just failed: reads skip it until then */
    char name[160];
    imi_db *db;
};

/* Transactions and their results still open, so that close can end them (results on a
 * pooled connection are found through db_conn.rows). */
typedef enum db_live_kind { DB_LIVE_ROWS, DB_LIVE_TX } db_live_kind;
typedef struct db_live {
    struct db_live *prev, *next;
    db_live_kind kind;
} db_live;

/* The placeholder scan of a statement text, kept per instance (db_stmt.c). */
typedef struct db_sql_entry db_sql_entry;
#define DB_SQL_CACHE_SLOTS 64

typedef struct db_stripe {
    _Atomic uint64_t execs, queries, reader_queries;
    char pad[64 - 3 * sizeof(uint64_t)];
} db_stripe;

struct imi_db {
    imi_instance in;
    db_pool *pools;             /* [0] writer, [1..n_pools-1] readers */
    size_t n_pools;
    unsigned pool_size;
    int64_t slow_ns;            /* 0: off */
    bool slow_coarse;           /* slow_ns is many ticks of the coarse clock: time on it */
    atomic_uint rr;             /* reader round-robin */
    bool reader_fallback;       /* reader_fallback = writer: a failed read goes to the writer */

    pthread_mutex_t live_mu;
    db_live live;               /* list head */

    /* Filled once per slot and kept until release: readers need no lock. */
    _Atomic(db_sql_entry *) sql_cache[DB_SQL_CACHE_SLOTS];

    /* Counted once per statement: striped like the metrics (metrics.h), a thread adds on
     * its own stripe with a plain load and store instead of a locked add on one shared
     * line; readers sum the stripes (DB_SUM). */
    db_stripe stmts[IMI_METRIC_STRIPES];
    atomic_uint_fast64_t n_errors, n_slow, n_tx_begun, n_tx_committed, n_tx_rolled_back,
        n_conns_opened, n_conns_broken, n_pool_waits;
};

struct imi_db_rows {
    db_live link;
    imi_db *db;
    void *res;
    db_conn *conn;              /* returned to the pool at close; NULL inside a tx */
    imi_db_tx *tx;
    size_t n_cols;
    bool done;                  /* r_next said 0 or failed: no current row */
    bool on_row;
    bool dead;                  /* the driver result was closed (db closed) */
    char num[64];               /* a number formatted as text */
};

struct imi_db_tx {
    db_live link;
    imi_db *db;
    db_conn *conn;              /* NULL once aborted or ended */
    imi_db_rows *rows;          /* the open result of tx_query, if any */
    int failed_rc;              /* the code of the statement that aborted it, or 0 */
    bool dead;                  /* ended by db close */
};

/* The normalised vtable: slots past the driver's size are NULL. */
#define VT(db) ((const imi_db_driver *)(db)->in.vt)
#define DB_COUNT(db, counter) atomic_fetch_add_explicit(&(db)->counter, 1, memory_order_relaxed)
/* One more of a striped count (db_stripe's field) on the calling thread's stripe. */
#define DB_COUNT_AT(db, field, t) imi_metric_bump(&(db)->stmts[(t)->stripe].field, 1, (t)->owned)

#define DB_SUM(db, field) \
    imi_stripes_sum((db)->stmts, sizeof(db_stripe), offsetof(db_stripe, field))

/* The operations counted per call (metrics.h). */
enum {
    DB_OP_exec, DB_OP_query, DB_OP_query_writer, DB_OP_ping, DB_OP_begin, DB_OP_commit,
    DB_OP_rollback, DB_OP_tx_exec, DB_OP_tx_query, DB_OP_COUNT_
};
/* Counts one call of op that returned rc; t0 from imi_now_mono_ns() before it. */
static inline int db_record(imi_db *db, unsigned op, int rc, int64_t t0)
{
    return imi_instance_record(&db->in, op, rc, t0);
}

/* Enter/leave around driver calls: IMI_ECLOSED after close, ctx errors. The _at forms
 * take the calling thread's slot (imi_thread), found once per API call. */
static inline int db_enter(imi_db *db, const imi_ctx *ctx) { return imi_instance_enter(&db->in, ctx); }
static inline void db_leave(imi_db *db) { imi_instance_leave(&db->in); }
static inline int db_enter_at(imi_db *db, const imi_ctx *ctx, const imi_thread_slot *t)
{
    return imi_instance_enter_at(&db->in, ctx, t);
}
static inline void db_leave_at(imi_db *db, const imi_thread_slot *t)
{
    imi_instance_leave_at(&db->in, t);
}

/* ---- db_live.c ---- */
void imi_db_live_add(imi_db *db, db_live *l);
/* Ends the results open on pooled connections (at close, with the live list locked and
 * no call in flight). */
void imi_db_pools_end_rows(imi_db *db);
void imi_db_live_remove(imi_db *db, db_live *l);
/* Ends every result, then every transaction, still open (at close). */
void imi_db_live_end_all(imi_db *db);
/* Closes the driver result and gives back the connection; the handle stays. Called with
 * the live list locked, or once the handle left it. */
void imi_db_rows_end(imi_db_rows *r);
/* Rolls back and gives back the connection; the handle stays (close of the db). */
void imi_db_tx_end(imi_db_tx *tx);
/* A statement of tx failed with rc: roll back now (or when its rows close). */
void imi_db_tx_fail(imi_db_tx *tx, int rc);
/* Rolls back on the driver and gives the connection back (dropped if that fails). */
void imi_db_tx_abort(imi_db_tx *tx);

/* ---- db_stmt.c ---- */
/* A statement checked and scanned before any connection is taken. */
typedef struct db_sql {
    imi_db_stmt st;
    size_t small[32];
    size_t *marks;              /* small, a malloc'd array, or a cache entry's */
    bool owned;                 /* marks was malloc'd here */
} db_sql;
/* Checks the SQL and parameters and finds the placeholders (from db's cache of statement
 * texts when it was seen before): IMI_EINVALID when the count differs from n. imi_db_sql_done
 * releases it (also after a failed prepare: no-op). */
int imi_db_sql_prepare(imi_db *db, db_sql *q, const char *sql, const imi_db_param *params,
                       size_t n);
void imi_db_sql_done(db_sql *q);
/* Frees the cache of statement texts (at release). */
void imi_db_sql_cache_free(imi_db *db);
/* Runs a prepared statement on conn: call, count, log when slow. res: a query. */
int imi_db_run(imi_db *db, db_conn *conn, const imi_ctx *ctx, const db_sql *q, int64_t *affected,
               void **res, const imi_thread_slot *t);

/* ---- db_pool.c ---- */
int imi_db_pools_init(imi_db *db);
void imi_db_pools_destroy(imi_db *db);     /* closes every idle connection */
int imi_db_pool_acquire(db_pool *p, const imi_ctx *ctx, db_conn **out);
/* Reader fallback (reader_fallback = writer | fail, default writer). imi_db_pool_route: the pool
 * to use for p, the writer while p is a reader that failed within the last second.
 * imi_db_pool_fallback: after a call on p failed with rc, the pool to try it on next (the
 * writer, when p is a reader, rc is IMI_EUNAVAILABLE and the ctx still has time), else NULL;
 * it marks the reader down. At most one fallback per call, within the same ctx. */
db_pool *imi_db_pool_route(imi_db *db, db_pool *p);
db_pool *imi_db_pool_fallback(imi_db *db, db_pool *p, const imi_ctx *ctx, int rc);
/* broken: the connection failed with IMI_EUNAVAILABLE; it is closed together with the
 * pool's idle connections (they likely died with it). */
void imi_db_pool_release(db_pool *p, db_conn *c, bool broken);

/* After a call on c returned rc: must the connection be dropped? */
static inline bool db_conn_broken(const imi_db *db, db_conn *c, int rc)
{
    if (rc == IMI_OK)
        return false;
    if (rc == IMI_EUNAVAILABLE)
        return true;
    return VT(db)->c_broken && VT(db)->c_broken(c->drv);
}

/* ---- db_rows.c ---- */
int imi_db_rows_new(imi_db *db, void *res, db_conn *conn, imi_db_tx *tx, imi_db_rows **out);

/* ---- db_sql.c ---- */
/* Scans sql for `?` placeholders outside quotes, names, dollar quotes and comments.
 * Writes up to cap offsets into marks and returns how many there are in all, or
 * IMI_DB_SQL_REFUSED (with the error detail set: IMI_EINVALID naming the offset and why)
 * when the drivers' dialects would not agree on them (see db_sql.c). flags: what the
 * driver's dialect adds, from imi_db_sql_flags. */
#define IMI_DB_SQL_REFUSED SIZE_MAX
#define IMI_DB_SQL_HASH_COMMENTS 1u     /* `#` to the end of the line is a comment */
unsigned imi_db_sql_flags(const char *dialect);
size_t imi_db_sql_scan(const char *sql, size_t len, unsigned flags, size_t *marks,
                       size_t cap);

#endif
