/* Shared by the files of the db conformance suite (db_suite*.c): helpers, and the
 * cases that live outside db_suite.c, whose table lists them all. */
#ifndef IMI_TESTS_CONFORMANCE_DB_SUITE_H
#define IMI_TESTS_CONFORMANCE_DB_SUITE_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "contract.h"
#include "imi_test.h"

/* The free function of a kept db handle (imi_conf_keep). */
static inline void conf_free_db(void *h) { imi_db_free(h); }

/* Opens the default db of the config under test, kept for the runner to free if the
 * case fails before imi_conf_free; fails the case if it can't. */
#define OPEN_DB(t, db) \
    imi_db *db = NULL; \
    CONF_OK(t, imi_db_open((t)->app, NULL, &db)); \
    imi_conf_keep(t, conf_free_db, db)

/* A table name unique to the case and run, safe as an identifier on every dialect. */
static inline const char *table(const imi_conf_t *t, const char *suffix, char *buf, size_t cap)
{
    uint64_t h = 1469598103934665603u;
    for (const char *p = t->unique; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211u;
    snprintf(buf, cap, "imi_%012llx_%s", (unsigned long long)(h & 0xffffffffffffull), suffix);
    return buf;
}

static inline const char *blob_type(imi_db *db)
{
    const char *d = imi_db_dialect(db);
    return !strcmp(d, "postgresql") ? "BYTEA" : !strcmp(d, "mysql") ? "LONGBLOB" : "BLOB";
}

static inline int execf(imi_db *db, const char *fmt, const char *tbl, const char *extra)
{
    char sql[1024];
    snprintf(sql, sizeof sql, fmt, tbl, extra);
    return imi_db_exec(db, NULL, sql, NULL, 0, NULL);
}

static inline void drop(imi_db *db, const char *tbl)
{
    execf(db, "DROP TABLE IF EXISTS %s%s", tbl, "");
}

/* One integer from a query on the writer: count(*) and the like. */
static inline int scalar(imi_db *db, const char *sql, const imi_db_param *p, size_t n, int64_t *out)
{
    imi_db_rows *r = NULL;
    int rc = imi_db_query_writer(db, NULL, sql, p, n, &r);
    if (rc)
        return rc;
    rc = imi_db_rows_next(r, NULL);
    rc = rc == 1 ? imi_db_rows_int(r, 0, out) : rc == 0 ? IMI_ENOTFOUND : rc;
    imi_db_rows_free(r);
    return rc;
}

static inline int64_t count_rows(imi_db *db, const char *tbl)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", tbl);
    int64_t n = -1;
    return scalar(db, sql, NULL, 0, &n) ? -1 : n;
}

/* A second app over a copy of the config under test with section.key = value set. */
typedef struct variant {
    imi_app *app;
    imi_db *db;
} variant;

static inline int open_variant(imi_conf_t *t, variant *v, const char *const *kv, size_t n_kv)
{
    imi_config *cfg = imi_config_copy(imi_app_config(t->app));
    if (!cfg)
        return IMI_ENOMEM;
    for (size_t i = 0; i + 2 < n_kv + 1; i += 3)
        imi_config_set(cfg, kv[i], kv[i + 1], kv[i + 2]);
    int rc = imi_app_open_config(cfg, &v->app);
    if (rc)
        return rc;
    return imi_db_open(v->app, NULL, &v->db);
}

static inline void close_variant(variant *v)
{
    imi_db_free(v->db);
    imi_app_free(v->app);
    *v = (variant){ 0 };
}

/* Cases of db_suite_*.c */
void imi_conf_db_every_param_type(imi_conf_t *t);
void imi_conf_db_conversions_and_empty_result(imi_conf_t *t);
void imi_conf_db_tx_commit_and_rollback(imi_conf_t *t);
void imi_conf_db_tx_rollback_on_error(imi_conf_t *t);
void imi_conf_db_reader_writer_routing(imi_conf_t *t);
void imi_conf_db_injection_stays_data(imi_conf_t *t);
void imi_conf_db_errors_and_broken_connection(imi_conf_t *t);

#endif
