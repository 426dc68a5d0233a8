/* imi bench db: the same statements through im-infra and through the backend's own C
 * client on the same database, in one run. */
#ifndef IMI_TOOLS_BENCH_DB_H
#define IMI_TOOLS_BENCH_DB_H

#include <stdint.h>
#include "iminfra/iminfra.h"

/* The bench's table, rows and value: the raw baseline of a private database (sqlite
 * :memory:) builds the same one. */
#define BENCH_DB_COLUMNS "(id BIGINT PRIMARY KEY, v VARCHAR(64))"
#define BENCH_DB_PREFILL 1000
#define BENCH_DB_PREFILLED "prefilled value"

/* A backend's raw client doing what the benchmark does through im-infra: a prepared
 * point select of one row's text column, and a prepared single-row insert. */
typedef struct db_bench_raw {
    const char *name;                                    /* "sqlite3", "libpq" ... */
    /* Connects to the database the config's [db] writer names; NULL with a message in
     * why when it can't. */
    void *(*open)(imi_app *app, const char *table, char *why, size_t why_len);
    int (*select)(void *h, int64_t id);                  /* 0 when the row was read */
    int (*insert)(void *h, int64_t id, const char *v);   /* 0 when inserted */
    void (*close)(void *h);
} db_bench_raw;

/* NULL when the tool was built without that client library. */
const db_bench_raw *bench_db_raw_sqlite(void);
const db_bench_raw *bench_db_raw_postgres(void);
const db_bench_raw *bench_db_raw_mysql(void);

#endif
