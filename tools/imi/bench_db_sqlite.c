/* The sqlite3 baseline of imi bench db: the driver's work done by hand, with the same
 * pragmas, on the same file. With `path = :memory:` each side has a private database of
 * the same rows, and the comparison runs without a syscall a statement (a file database
 * takes two fcntl locks a read): what the framework costs apart from the syscalls. */
#include "bench_db.h"
#ifdef IMI_BENCH_HAVE_SQLITE3
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct raw_sqlite {
    sqlite3 *db;
    sqlite3_stmt *sel, *ins;
} raw_sqlite;

static void raw_close(void *h)
{
    raw_sqlite *r = h;
    sqlite3_finalize(r->sel);
    sqlite3_finalize(r->ins);
    sqlite3_close_v2(r->db);
    free(r);
}

static int raw_select(void *h, int64_t id)
{
    raw_sqlite *r = h;
    sqlite3_bind_int64(r->sel, 1, id);
    int rc = sqlite3_step(r->sel);
    int ok = rc == SQLITE_ROW && sqlite3_column_text(r->sel, 0) != NULL;
    sqlite3_reset(r->sel);
    return ok ? 0 : -1;
}

static int raw_insert(void *h, int64_t id, const char *v)
{
    raw_sqlite *r = h;
    sqlite3_bind_int64(r->ins, 1, id);
    sqlite3_bind_text(r->ins, 2, v, -1, SQLITE_STATIC);
    int rc = sqlite3_step(r->ins);
    sqlite3_reset(r->ins);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* The bench's rows in the baseline's own :memory: database, through its insert. */
static int fill(raw_sqlite *r)
{
    int rc = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL);
    for (int64_t id = 1; !rc && id <= BENCH_DB_PREFILL; id++)
        rc = raw_insert(r, id, BENCH_DB_PREFILLED);
    return rc || sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL) ? -1 : 0;
}

static void *raw_open(imi_app *app, const char *table, char *why, size_t why_len)
{
    const imi_config *cfg = imi_app_config(app);
    const char *path = imi_config_get(cfg, "db", "path", NULL);
    const char *sync = imi_config_get(cfg, "db", "synchronous", NULL);
    if (!path) {
        snprintf(why, why_len, "the raw baseline needs [db] path");
        return NULL;
    }
    bool private_db = !strcmp(path, ":memory:");
    char full[4096];
    if (path[0] == '/' || private_db)
        snprintf(full, sizeof full, "%s", path);
    else
        snprintf(full, sizeof full, "%s/%s", imi_config_dir(cfg), path);
    raw_sqlite *r = calloc(1, sizeof *r);
    char sql[256];
    if (!r || sqlite3_open_v2(full, &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL))
        goto fail;
    /* A private database gets the bench's table here, its rows once the insert is ready. */
    snprintf(sql, sizeof sql, "CREATE TABLE %s " BENCH_DB_COLUMNS, table);
    if (private_db && sqlite3_exec(r->db, sql, NULL, NULL, NULL))
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s", sync ? sync : "normal");
    sqlite3_busy_timeout(r->db, 5000);
    if (sqlite3_exec(r->db, sql, NULL, NULL, NULL) ||
        sqlite3_exec(r->db, "PRAGMA foreign_keys=ON", NULL, NULL, NULL))
        goto fail;
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE id = ?", table);
    if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->sel, NULL))
        goto fail;
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, v) VALUES (?, ?)", table);
    if (sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &r->ins, NULL))
        goto fail;
    if (private_db && fill(r))
        goto fail;
    return r;
fail:
    snprintf(why, why_len, "sqlite3: %s", r && r->db ? sqlite3_errmsg(r->db) : "out of memory");
    if (r)
        raw_close(r);
    return NULL;
}

static const db_bench_raw raw = {
    .name = "sqlite3", .open = raw_open, .select = raw_select, .insert = raw_insert,
    .close = raw_close,
};

const db_bench_raw *bench_db_raw_sqlite(void) { return &raw; }
#else
const db_bench_raw *bench_db_raw_sqlite(void) { return NULL; }
#endif
