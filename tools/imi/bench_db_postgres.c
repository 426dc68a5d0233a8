/* The libpq baseline of imi bench db: one connection, statements prepared once,
 * PQexecPrepared with text parameters, as the driver does; a select reads the row's value
 * as imi_db_rows_text does. */
#include "bench_db.h"
#ifdef IMI_BENCH_HAVE_LIBPQ
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void raw_close(void *h) { PQfinish(h); }

static int prepare(PGconn *pg, const char *name, const char *sql, int n)
{
    PGresult *r = PQprepare(pg, name, sql, n, NULL);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static void *raw_open(imi_app *app, const char *table, char *why, size_t why_len)
{
    const char *uri = imi_config_get(imi_app_config(app), "db", "writer", NULL);
    PGconn *pg = uri ? PQconnectdb(uri) : NULL;
    char sql[256];
    if (!pg || PQstatus(pg) != CONNECTION_OK)
        goto fail;
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE id = $1", table);
    if (prepare(pg, "sel", sql, 1))
        goto fail;
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, v) VALUES ($1, $2)", table);
    if (prepare(pg, "ins", sql, 2))
        goto fail;
    return pg;
fail:
    snprintf(why, why_len, "libpq: %s", pg ? PQerrorMessage(pg) : "no [db] writer");
    PQfinish(pg);
    return NULL;
}

static int raw_select(void *h, int64_t id)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)id);
    const char *vals[] = { v };
    PGresult *r = PQexecPrepared(h, "sel", 1, vals, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
             !PQgetisnull(r, 0, 0) && PQgetvalue(r, 0, 0)[0] && PQgetlength(r, 0, 0) > 0;
    PQclear(r);
    return ok ? 0 : -1;
}

static int raw_insert(void *h, int64_t id, const char *val)
{
    char v[32];
    snprintf(v, sizeof v, "%lld", (long long)id);
    const char *vals[] = { v, val };
    PGresult *r = PQexecPrepared(h, "ins", 2, vals, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    return ok ? 0 : -1;
}

static const db_bench_raw raw = {
    .name = "libpq", .open = raw_open, .select = raw_select, .insert = raw_insert,
    .close = raw_close,
};

const db_bench_raw *bench_db_raw_postgres(void) { return &raw; }
#else
const db_bench_raw *bench_db_raw_postgres(void) { return NULL; }
#endif
