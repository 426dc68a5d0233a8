/* db: SQL over the driver chosen by config ([db] or [db.NAME]): one writer and zero or
 * more readers (replicas), a connection pool per endpoint, bound parameters only, typed
 * rows, transactions, slow-query logging and counters.
 *
 * Placeholders: every driver takes the same style, a positional `?` (the first `?` is
 * params[0], the second params[1] ...). A `?` inside a quoted string ('...', "...",
 * `...`), a bracket name ([x?], SQLite), a dollar-quoted string ($tag$...$tag$) or a
 * comment (-- to the end of the line, a C-style block comment, and # to the end of the
 * line in the "mysql" dialect) is text, not a placeholder. Where the dialects of the drivers disagree on which `?` are placeholders,
 * the statement is refused with IMI_EINVALID naming the offset and why, never guessed:
 * a backslash before a quote inside '...' or "..." that changes them (MySQL reads an
 * escape, standard SQL does not: write a quote as '', or pass the value as a parameter),
 * a `?` in a subscript (arr[?]), `?NNN`, `--` without a space after it, MySQL's
 * executable comments, nested block comments, and unterminated quotes. Drivers whose
 * server wants another style (postgres: $1, $2 ...) rewrite the statement; `:name` and
 * `$n` are not part of the contract. The number of `?` must equal the number of
 * parameters (IMI_EINVALID otherwise, before the driver is called).
 *
 * Routing: imi_db_query goes to a reader when the instance has readers (round-robin),
 * else to the writer; imi_db_query_writer, imi_db_exec and transactions always use the
 * writer. A reader sees the writer's data only as fast as replication brings it:
 * read-your-writes needs imi_db_query_writer or a transaction. A read that a reader
 * cannot serve (IMI_EUNAVAILABLE) is run again on the writer within the same ctx, and the
 * reader is skipped for 1 s; core key `reader_fallback = writer | fail` (default writer;
 * fail returns the error). See docs/clusters/sql.md.
 *
 * Config: the driver's options (imi drivers lists them) plus the core keys `driver`,
 * `driver_path`, `timeout` (default per-call deadline for a NULL ctx), `pool_size`
 * (connections per endpoint, default 4) and `slow_query` (a duration: statements that
 * take longer are logged at warn with the SQL and the elapsed time; 0 turns it off;
 * default 200ms; a threshold of 25 ticks of the coarse monotonic clock or more, 100ms
 * where it ticks every 4 ms, is timed on that clock, so the verdict and the elapsed time
 * logged are within one tick). Parameter values are never logged.
 *
 * Errors: IMI_EINVALID (bad SQL, wrong parameter count, type conversion), IMI_ECONFLICT
 * (constraint violation, serialization failure, deadlock), IMI_EUNAVAILABLE (the server
 * went away: retryable; the broken connection is dropped and the pool heals by itself),
 * IMI_ETIMEDOUT / IMI_ECANCELED (from the ctx, also mid-statement), IMI_ECLOSED,
 * IMI_ENOTSUP (an operation the driver does not advertise). The driver's message and
 * native code (SQLSTATE, errno) are in imi_error_message / imi_error_native.
 *
 * All handles of one instance are safe to use from many threads, except that one
 * imi_db_rows and one imi_db_tx belong to one thread at a time. Every rows and tx must be
 * finished (imi_db_rows_free, imi_db_commit / imi_db_rollback) before imi_db_free;
 * imi_db_close rolls back open transactions and ends open results, which then answer
 * IMI_ECLOSED until they are closed.
 */
#ifndef IMINFRA_DB_H
#define IMINFRA_DB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "iminfra/app.h"
#include "iminfra/buf.h"
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_db imi_db;
typedef struct imi_db_rows imi_db_rows;
typedef struct imi_db_tx imi_db_tx;

/* Capability bits (a driver's descriptor and imi_db_caps). exec and query are always
 * there. */
#define IMI_DB_CAP_TX       (1u << 0)  /* imi_db_begin / commit / rollback */
#define IMI_DB_CAP_READERS  (1u << 1)  /* readers (replicas) in config */
#define IMI_DB_CAP_CONTROL  (1u << 2)  /* imi_db_control: driver-defined commands (mock) */

/* The type of a parameter or of a value in a row. */
typedef enum imi_db_type {
    IMI_DB_NULL = 0,
    IMI_DB_INT,     /* int64 */
    IMI_DB_DOUBLE,
    IMI_DB_TEXT,    /* UTF-8 bytes */
    IMI_DB_BLOB,    /* bytes, may hold NUL */
    IMI_DB_BOOL
} imi_db_type;

/* One bound parameter. Build them with the IMI_DB_P* macros. Text and blob bytes are
 * borrowed for the duration of the call. */
typedef struct imi_db_param {
    imi_db_type type;
    union {
        int64_t i;
        double d;
        bool b;
        struct {
            const void *ptr;
            size_t len;
        } s;
    } v;
} imi_db_param;

#define IMI_DB_PNULL()       ((imi_db_param){ .type = IMI_DB_NULL })
#define IMI_DB_PINT(x)       ((imi_db_param){ .type = IMI_DB_INT, .v.i = (int64_t)(x) })
#define IMI_DB_PDOUBLE(x)    ((imi_db_param){ .type = IMI_DB_DOUBLE, .v.d = (double)(x) })
#define IMI_DB_PBOOL(x)      ((imi_db_param){ .type = IMI_DB_BOOL, .v.b = (x) })
#define IMI_DB_PTEXTN(p, n)  ((imi_db_param){ .type = IMI_DB_TEXT, .v.s = { (p), (n) } })
#define IMI_DB_PBLOB(p, n)   ((imi_db_param){ .type = IMI_DB_BLOB, .v.s = { (p), (n) } })
/* A C string; NULL binds SQL NULL. */
static inline imi_db_param imi_db_ptext_(const char *str)
{
    return str ? IMI_DB_PTEXTN(str, strlen(str)) : IMI_DB_PNULL();
}
#define IMI_DB_PTEXT(str) imi_db_ptext_(str)

/* Counters since open (imi_db_stats). */
typedef struct imi_db_stats {
    uint64_t execs;            /* imi_db_exec and imi_db_tx_exec calls */
    uint64_t queries;          /* every query call */
    uint64_t reader_queries;   /* of those, answered by a reader */
    uint64_t errors;           /* calls that failed in the driver */
    uint64_t slow;             /* statements logged as slow */
    uint64_t tx_begun, tx_committed, tx_rolled_back;
    uint64_t conns_opened;     /* connections made (first and replacements) */
    uint64_t conns_broken;     /* connections dropped after a failure */
    uint64_t pool_waits;       /* acquires that waited for a busy pool */
} imi_db_stats;

/* name NULL or "": the [db] section; "orders": [db.orders]. Opening makes no
 * connection yet: connections are made on first use (imi_db_ping checks them). */
int imi_db_open(imi_app *app, const char *name, imi_db **out);
/* Rolls back open transactions, ends open results, closes every connection; later calls
 * return IMI_ECLOSED. A second close returns IMI_ECLOSED. */
int imi_db_close(imi_db *db);
/* Closes if needed and frees the handle. */
void imi_db_free(imi_db *db);

uint64_t imi_db_caps(const imi_db *db);
const char *imi_db_driver_name(const imi_db *db);
/* The SQL dialect of the driver: "sqlite", "postgresql", "mysql", or another name a
 * custom driver chooses (the mock says "mock"). Lets callers pick dialect-specific SQL. */
const char *imi_db_dialect(const imi_db *db);
size_t imi_db_reader_count(const imi_db *db);
void imi_db_get_stats(const imi_db *db, imi_db_stats *out);

/* Checks one connection of the writer and of every reader. */
int imi_db_ping(imi_db *db, const imi_ctx *ctx);

/* Runs a statement on the writer. *affected (may be NULL) receives the number of rows
 * changed. */
int imi_db_exec(imi_db *db, const imi_ctx *ctx, const char *sql, const imi_db_param *params,
                size_t n_params, int64_t *affected);

/* Runs a query on a reader (round-robin) or, without readers, on the writer. On success
 * *rows is a result positioned before the first row; it holds a pooled connection until
 * imi_db_rows_free. On failure *rows is NULL. */
int imi_db_query(imi_db *db, const imi_ctx *ctx, const char *sql, const imi_db_param *params,
                 size_t n_params, imi_db_rows **rows);
/* The same, always on the writer (read-your-writes). */
int imi_db_query_writer(imi_db *db, const imi_ctx *ctx, const char *sql,
                        const imi_db_param *params, size_t n_params, imi_db_rows **rows);

/* ---- rows ------------------------------------------------------------------------------
 * Column indexes start at 0. Values read with the getters stay valid until the next
 * imi_db_rows_next or imi_db_rows_free. Getters convert where no information is lost:
 * int <-> bool (0/1), int -> double, a whole double -> int, text that parses fully as a
 * number -> int/double, "t"/"f"/"true"/"false"/"0"/"1" -> bool, any non-blob value ->
 * text (numbers formatted). Other conversions return IMI_EINVALID; a NULL value returns
 * IMI_ENOTFOUND (test imi_db_rows_is_null first for nullable columns); a column index out
 * of range returns IMI_EINVALID. */

/* 1 when a row is current, 0 after the last row, or a negative code (the result is then
 * finished; close it). The ctx bounds the fetch (NULL: the instance's timeout). */
int imi_db_rows_next(imi_db_rows *rows, const imi_ctx *ctx);
size_t imi_db_rows_columns(const imi_db_rows *rows);
const char *imi_db_rows_column_name(const imi_db_rows *rows, size_t col);
/* The type of the current row's value in col: IMI_DB_NULL when it is NULL. */
imi_db_type imi_db_rows_type(const imi_db_rows *rows, size_t col);
bool imi_db_rows_is_null(const imi_db_rows *rows, size_t col);
int imi_db_rows_int(const imi_db_rows *rows, size_t col, int64_t *out);
int imi_db_rows_double(const imi_db_rows *rows, size_t col, double *out);
int imi_db_rows_bool(const imi_db_rows *rows, size_t col, bool *out);
/* *out is NUL-terminated at *len (len may be NULL). */
int imi_db_rows_text(const imi_db_rows *rows, size_t col, const char **out, size_t *len);
/* Blob or text bytes. */
int imi_db_rows_blob(const imi_db_rows *rows, size_t col, const void **out, size_t *len);
/* Ends the result and returns its connection to the pool. NULL is a no-op. */
void imi_db_rows_free(imi_db_rows *rows);

/* ---- transactions (IMI_DB_CAP_TX) -------------------------------------------------------
 * A transaction holds one writer connection from begin to commit or rollback. When a
 * statement inside it fails in the driver, the transaction is rolled back at once: later
 * statements return IMI_ECONFLICT ("transaction aborted") and commit returns the code of
 * the statement that failed. commit and rollback always free the tx, whatever they
 * return. A rollback (asked for, or after a failed statement or commit) runs to its end
 * within the [db] timeout whatever ctx's deadline, so that its connection can be used
 * again; one that fails drops the connection, which ends the transaction server-side. */
int imi_db_begin(imi_db *db, const imi_ctx *ctx, imi_db_tx **tx);
int imi_db_tx_exec(imi_db_tx *tx, const imi_ctx *ctx, const char *sql,
                   const imi_db_param *params, size_t n_params, int64_t *affected);
/* The result must be closed before the next statement of the tx and before commit. */
int imi_db_tx_query(imi_db_tx *tx, const imi_ctx *ctx, const char *sql,
                    const imi_db_param *params, size_t n_params, imi_db_rows **rows);
int imi_db_commit(imi_db_tx *tx, const imi_ctx *ctx);
int imi_db_rollback(imi_db_tx *tx, const imi_ctx *ctx);

/* ---- driver control (IMI_DB_CAP_CONTROL) ------------------------------------------------
 * A driver-defined command: cmd is a word, arg its text (may be NULL), out (may be NULL)
 * receives the driver's text answer. The mock driver is scripted this way (see
 * iminfra/db_mock.h). */
int imi_db_control(imi_db *db, const char *cmd, const char *arg, imi_buf *out);

/* "INT", "TEXT" ... for messages. */
const char *imi_db_type_name(imi_db_type type);

#ifdef __cplusplus
}
#endif
#endif
