/* The db driver vtable, split by lifetime (slot prefixes make each use greppable):
 *
 *   d_  the driver instance: open / close, its endpoints, connect, control
 *   c_  one connection to one endpoint: exec, query, transactions, ping, close
 *   r_  one result of a query: iterate rows, read values, close
 *
 * What the core does so that drivers don't: argument checks, ctx checks before a call,
 * the closed state, the connection pool (one per endpoint, `pool_size` connections,
 * waiting with the ctx deadline, dropping a connection that failed with
 * IMI_EUNAVAILABLE together with the idle ones of the same endpoint, connecting anew on
 * demand), reader round-robin, the transaction state machine (rollback on error), value
 * conversions between types, slow-query logging and counters. The core also scans the
 * SQL once: the driver gets the positions of the `?` placeholders (imi_db_stmt.marks)
 * and the parameter count already checked against them.
 *
 * Contracts for every slot:
 *  - `st` is the driver's private state (desc->state_size bytes, zeroed, allocated by
 *    the core). d_open initialises it and d_close releases it; d_close is called once,
 *    also after a failed d_open, after every connection was closed with c_close and
 *    never while a call is in flight. d_* slots are called from many threads at once.
 *  - A connection (`conn`, made by d_connect, owned by the driver) is used by one thread
 *    at a time, and not at all while one of its results is open: the core hands a
 *    connection to one caller and takes it back after r_close.
 *  - A result (`res`, made by c_query) is used by one thread at a time until r_close.
 *    Pointers it hands out (names, bytes) stay valid until the next r_next or r_close.
 *  - Slots that do I/O may block up to the ctx deadline (host->ctx_remaining_ms with
 *    env->default_timeout_ms), and should stop early when host->ctx_canceled says so.
 *  - Return IMI_OK or a negative imi code, with detail through host->error (native: the
 *    SQLSTATE as a number when there is one, else the client library's code). Map
 *    failures so that callers can act on them: IMI_EUNAVAILABLE only when the connection
 *    is unusable (the core then drops it: never return it for a failure the connection
 *    survives), IMI_EINVALID for bad SQL or values, IMI_ECONFLICT for constraint
 *    violations, serialization failures and deadlocks, IMI_ETIMEDOUT / IMI_ECANCELED when
 *    the ctx stopped the statement.
 *  - Slots marked optional may be NULL; the driver advertises them with capability bits.
 */
#ifndef IMINFRA_DRIVER_DB_DRIVER_H
#define IMINFRA_DRIVER_DB_DRIVER_H

#include "iminfra/driver/driver.h"
#include "iminfra/db.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One statement and its parameters, as the core hands it to the driver. */
typedef struct imi_db_stmt {
    uint32_t size;                  /* sizeof(imi_db_stmt) */
    const char *sql;                /* NUL-terminated */
    size_t sql_len;
    const size_t *marks;            /* byte offsets of the n_params `?` placeholders in sql */
    const imi_db_param *params;     /* n_params values, types checked by the core */
    size_t n_params;
    /* ---- end of ABI 1.0 ---- */
    /* The core's identity of this statement text, or NULL when it has none. Two
     * statements with the same non-NULL key have the same text for as long as the db
     * handle is open (every connection included), so a driver can find its prepared
     * statement by comparing keys instead of texts. The same text usually keeps one key;
     * it may have none (the core remembers a bounded number of texts). Read it only when
     * IMI_HAS_FIELD(s, imi_db_stmt, key): a core of ABI 1.0 does not set it. */
    const void *key;
    /* ---- end of ABI 1.1 ---- */
} imi_db_stmt;
/* Defined by headers that have imi_db_stmt.key: a driver that is also built against older
 * headers reads the key under #ifdef IMI_DB_STMT_KEY. */
#define IMI_DB_STMT_KEY 1

/* What d_endpoint tells about one endpoint. */
typedef struct imi_db_endpoint_info {
    uint32_t size;                  /* set by the core: sizeof what it can read */
    const char *name;               /* for logs and errors, without secrets: "127.0.0.1:5432/app" */
    unsigned max_conns;             /* 0: pool_size; else at most this many (sqlite :memory:: 1) */
    /* ---- end of ABI 1.0 ---- */
} imi_db_endpoint_info;

typedef struct imi_db_driver {
    uint32_t size;                  /* sizeof(imi_db_driver) */
    const char *dialect;            /* "sqlite", "postgresql", "mysql" ...: imi_db_dialect */

    /* ---- driver ---- */
    int (*d_open)(void *st, const imi_driver_env *env);
    void (*d_close)(void *st);
    /* Endpoint i: 0 is the writer, 1..n the readers. IMI_ENOTFOUND past the last one.
     * Called after d_open; the answer must not change while the instance is open. */
    int (*d_endpoint)(void *st, size_t i, imi_db_endpoint_info *info);
    /* Makes a connection to endpoint i. May block up to the ctx deadline. On failure
     * *conn is left NULL (IMI_EUNAVAILABLE when the server cannot be reached). */
    int (*d_connect)(void *st, const imi_ctx *ctx, size_t endpoint, void **conn);

    /* ---- connection ---- */
    /* Closes and frees conn. Never fails; may be called on a broken connection. */
    void (*c_close)(void *st, void *conn);
    int (*c_ping)(void *conn, const imi_ctx *ctx);
    /* Runs a statement; *affected receives the rows changed (never NULL). A statement that
     * returns rows is run and its rows discarded. */
    int (*c_exec)(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, int64_t *affected);
    /* Runs a query; *res receives the result, positioned before the first row. */
    int (*c_query)(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, void **res);
    /* Transactions (optional, IMI_DB_CAP_TX). begin starts a read-write transaction that
     * takes the write lock early where the backend has one (sqlite: BEGIN IMMEDIATE).
     * rollback must leave the connection outside any transaction, also after a failed
     * statement; a rollback that fails should return IMI_EUNAVAILABLE so the core drops
     * the connection rather than reuse it mid-transaction. */
    int (*c_begin)(void *conn, const imi_ctx *ctx);
    int (*c_commit)(void *conn, const imi_ctx *ctx);
    int (*c_rollback)(void *conn, const imi_ctx *ctx);

    /* ---- result ---- */
    size_t (*r_columns)(void *res);
    const char *(*r_column_name)(void *res, size_t col);
    /* 1: a row is current; 0: no more rows; negative: an error (the result is finished). */
    int (*r_next)(void *res, const imi_ctx *ctx);
    /* The type of the current row's value (IMI_DB_NULL for NULL). col is in range. */
    imi_db_type (*r_type)(void *res, size_t col);
    /* Called only when r_type said IMI_DB_INT or IMI_DB_BOOL (0/1). */
    int (*r_int)(void *res, size_t col, int64_t *out);
    /* Called only when r_type said IMI_DB_DOUBLE. */
    int (*r_double)(void *res, size_t col, double *out);
    /* Called only when r_type said IMI_DB_TEXT or IMI_DB_BLOB. Text must be
     * NUL-terminated at *len; blobs need not be. */
    int (*r_bytes)(void *res, size_t col, const void **out, size_t *len);
    void (*r_close)(void *res);

    /* ---- optional ---- */
    /* A driver-defined command (IMI_DB_CAP_CONTROL), see imi_db_control. May be called
     * from many threads at once, also while connections are in use. */
    int (*d_control)(void *st, const char *cmd, const char *arg, imi_buf *out);
    /* After a failed call on conn: true when the connection must not be reused (the
     * server went away, or a statement could not be stopped). The core then drops it
     * like after IMI_EUNAVAILABLE. NULL: only IMI_EUNAVAILABLE drops a connection. */
    bool (*c_broken)(void *conn);
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_db_driver;

/* The smallest vtable the core accepts: the ABI 1.0 layout. */
#define IMI_DB_DRIVER_SIZE_1_0 IMI_SIZE_THROUGH(imi_db_driver, c_broken)

#ifdef __cplusplus
}
#endif
#endif
