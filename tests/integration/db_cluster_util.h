/* Helpers shared by the db cluster tests (test_db_pg_replica.c, test_db_mysql_tls.c): the
 * topology's variables, a db opened from a config text, one-value queries, a clock. */
#ifndef IMI_TESTS_DB_CLUSTER_UTIL_H
#define IMI_TESTS_DB_CLUSTER_UTIL_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include "iminfra/iminfra.h"

/* A variable the test script exports; its absence fails the test (never a skip). */
static inline const char *need_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run this test through its script under ctest "
              "(tests/integration/db_*.sh), which starts the servers", name);
    return v;
}

typedef struct cluster_db {
    imi_app *app;
    imi_db *db;
} cluster_db;

/* Opens [db] from the given keys (driver, writer, ...); returns imi_db_open's code. */
static inline int cluster_open(cluster_db *c, const char *keys)
{
    char text[4096];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[db]\ntimeout = 5s\n%s\n", keys);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "cluster.ini", "/tmp", &cfg), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &c->app), IMI_OK, "%s", imi_error_message());
    c->db = NULL;
    return imi_db_open(c->app, NULL, &c->db);
}

static inline void cluster_close(cluster_db *c)
{
    imi_db_free(c->db);
    imi_app_free(c->app);
    *c = (cluster_db){ 0 };
}

/* The first column of the first row as an int (bools as 0/1): a query on a reader, or on
 * the writer when writer is true. Returns the call's code; *out untouched on failure. */
static inline int query_int(imi_db *db, const imi_ctx *ctx, bool writer, const char *sql,
                            int64_t *out)
{
    imi_db_rows *r = NULL;
    int rc = writer ? imi_db_query_writer(db, ctx, sql, NULL, 0, &r)
                    : imi_db_query(db, ctx, sql, NULL, 0, &r);
    if (rc)
        return rc;
    rc = imi_db_rows_next(r, ctx);
    if (rc == 1)
        rc = imi_db_rows_int(r, 0, out);
    else if (rc == 0)
        rc = IMI_ENOTFOUND;
    imi_db_rows_free(r);
    return rc;
}

static inline double ms_since(int64_t t0_ns) { return (double)(imi_now_mono_ns() - t0_ns) / 1e6; }

#endif
