/* Statements: parameters checked and placeholders found before a connection is taken,
 * then one driver call with its counters and the slow-query log. */
#include <stdlib.h>
#include <string.h>
#include "iminfra/clog.h"
#include "iminfra/error.h"
#include "db_internal.h"
#include "uid_internal.h"
#include "util.h"

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

/* A statement text seen before and where its placeholders are. */
struct db_sql_entry {
    size_t len, n;
    size_t *marks;              /* n offsets */
    char sql[];                 /* len bytes and a NUL */
};

/* A cheap hash of the text: its length and 16 bytes at each end (statements of a program
 * differ there: table, columns, conditions), read as four words. Byte by byte, this hash
 * was most of what the core spent on a repeated statement (~300 instructions). */
static uint64_t word_at(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static size_t slot_of(const char *sql, size_t len)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL * (len + 1);
    if (len >= 16) {
        const char *tail = sql + len - 16;
        h = (h ^ word_at(sql)) * 0xff51afd7ed558ccdULL;
        h = (h ^ word_at(sql + 8)) * 0xff51afd7ed558ccdULL;
        h = (h ^ word_at(tail)) * 0xc4ceb9fe1a85ec53ULL;
        h = (h ^ word_at(tail + 8)) * 0xc4ceb9fe1a85ec53ULL;
    } else {
        for (size_t i = 0; i < len; i++)
            h = (h ^ (unsigned char)sql[i]) * 1099511628211ULL;
    }
    return (size_t)(h >> 58) % DB_SQL_CACHE_SLOTS;
}

static const db_sql_entry *cache_find(imi_db *db, const char *sql, size_t len, size_t slot)
{
    const db_sql_entry *e = atomic_load_explicit(&db->sql_cache[slot], memory_order_acquire);
    return e && e->len == len && !memcmp(e->sql, sql, len) ? e : NULL;
}

/* Keeps the scan of sql when its slot is free; a taken slot keeps its first text, so an
 * entry is never freed while another thread reads it (they all go at release). Returns
 * the entry now holding sql, or NULL. */
static const db_sql_entry *cache_add(imi_db *db, const char *sql, size_t len, size_t slot,
                                     const size_t *marks, size_t n)
{
    if (atomic_load_explicit(&db->sql_cache[slot], memory_order_relaxed))
        return NULL;
    db_sql_entry *e = malloc(sizeof *e + len + 1 + n * sizeof *marks + sizeof(size_t));
    if (!e)
        return NULL;    /* only a cache: the next call scans again */
    e->len = len;
    e->n = n;
    memcpy(e->sql, sql, len + 1);
    /* the offsets after the text, aligned */
    size_t at = (sizeof *e + len + 1 + sizeof(size_t) - 1) / sizeof(size_t) * sizeof(size_t);
    e->marks = (size_t *)((char *)e + at);
    memcpy(e->marks, marks, n * sizeof *marks);
    db_sql_entry *none = NULL;
    if (!atomic_compare_exchange_strong_explicit(&db->sql_cache[slot], &none, e,
                                                 memory_order_release, memory_order_relaxed)) {
        free(e);
        return NULL;
    }
    return e;
}

void imi_db_sql_cache_free(imi_db *db)
{
    for (size_t i = 0; i < DB_SQL_CACHE_SLOTS; i++)
        free(atomic_exchange(&db->sql_cache[i], NULL));
}

int imi_db_sql_prepare(imi_db *db, db_sql *q, const char *sql, const imi_db_param *params,
                       size_t n)
{
    q->marks = q->small;
    q->owned = false;
    if (!sql || !*sql)
        return imi_error_set(IMI_EINVALID, 0, "db: SQL is %s", sql ? "empty" : "NULL");
    int rc = check_params(params, n);
    if (rc)
        return rc;
    size_t len = strlen(sql), slot = slot_of(sql, len), found;
    const db_sql_entry *e = cache_find(db, sql, len, slot);
    if (e) {
        found = e->n;
        q->marks = e->marks;
    } else {
        size_t cap = sizeof q->small / sizeof q->small[0];
        unsigned flags = imi_db_sql_flags(VT(db)->dialect);
        found = imi_db_sql_scan(sql, len, flags, q->small, cap);
        if (found == IMI_DB_SQL_REFUSED)
            return IMI_EINVALID; /* the scanner said why; never cached */
        if (found > cap) {
            if (!(q->marks = malloc(found * sizeof *q->marks)))
                return imi_error_set(IMI_ENOMEM, 0, "out of memory");
            q->owned = true;
            imi_db_sql_scan(sql, len, flags, q->marks, found);
        }
        e = cache_add(db, sql, len, slot, q->marks, found);
    }
    if (found != n) {
        imi_db_sql_done(q);
        return imi_error_set(IMI_EINVALID, 0, "db: the SQL has %zu placeholder%s but %zu "
                             "parameter%s given", found, found == 1 ? "" : "s", n,
                             n == 1 ? " was" : "s were");
    }
    q->st = (imi_db_stmt){ .size = sizeof q->st, .sql = sql, .sql_len = len, .marks = q->marks,
                           .params = params, .n_params = n, .key = e };
    return IMI_OK;
}

void imi_db_sql_done(db_sql *q)
{
    if (q->owned)
        free(q->marks);
    q->marks = q->small;
    q->owned = false;
}

/* The slow-query log's clock (db->slow_coarse says which); 0 when the log is off. */
static inline int64_t slow_clock(const imi_db *db)
{
    if (!db->slow_ns)
        return 0;
    return db->slow_coarse ? imi_coarse_mono_ns() : imi_now_mono_ns();
}

int imi_db_run(imi_db *db, db_conn *conn, const imi_ctx *ctx, const db_sql *q, int64_t *affected,
               void **res, const imi_thread_slot *t)
{
    int64_t t0 = slow_clock(db);
    int rc;
    if (res) {
        DB_COUNT_AT(db, queries, t);
        if (conn->pool->index)
            DB_COUNT_AT(db, reader_queries, t);
        *res = NULL;
        rc = VT(db)->c_query(conn->drv, ctx, &q->st, res);
        if (!rc && !*res)
            rc = imi_error_set(IMI_EDRIVER, 0, "driver %s: query returned no result",
                               db->in.desc->name);
    } else {
        DB_COUNT_AT(db, execs, t);
        int64_t ignored = 0;
        rc = VT(db)->c_exec(conn->drv, ctx, &q->st, affected ? affected : &ignored);
    }
    if (rc)
        DB_COUNT(db, n_errors);
    int64_t elapsed = slow_clock(db) - t0;
    if (db->slow_ns && elapsed >= db->slow_ns)
        log_slow(db, ctx, conn, q->st.sql, elapsed, rc);
    return rc;
}
