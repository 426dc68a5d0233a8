/* The libmariadb baseline of imi bench db: one connection, server-side prepared
 * statements, utf8mb4 and the driver's read and write timeouts (its net_timeout, 60 s by
 * default: libmariadb then waits with a timed poll, as for the driver), as the driver
 * does. */
#include "bench_db.h"
#ifdef IMI_BENCH_HAVE_LIBMARIADB
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct raw_my {
    MYSQL *my;
    MYSQL_STMT *sel, *ins;
    char buf[256];
    unsigned long len;
} raw_my;

static void raw_close(void *h)
{
    raw_my *r = h;
    if (r->sel)
        mysql_stmt_close(r->sel);
    if (r->ins)
        mysql_stmt_close(r->ins);
    mysql_close(r->my);
    free(r);
}

/* mysql://user:pw@host:port/db, the subset the benchmark needs. */
static int parse(const char *uri, char *user, char *pw, char *host, unsigned *port, char *db)
{
    *port = 3306;
    int n = sscanf(uri, "mysql://%63[^:@]:%63[^@]@%63[^:/]:%u/%63[^?]", user, pw, host, port, db);
    return n == 5 ? 0 : -1;
}

static void *raw_open(imi_app *app, const char *table, char *why, size_t why_len)
{
    const char *uri = imi_config_get(imi_app_config(app), "db", "writer", NULL);
    char user[64], pw[64], host[64], db[64], sql[256];
    unsigned port;
    if (!uri || parse(uri, user, pw, host, &port, db)) {
        snprintf(why, why_len, "the raw baseline reads mysql://user:pw@host:port/db URIs");
        return NULL;
    }
    raw_my *r = calloc(1, sizeof *r);
    if (!r || !(r->my = mysql_init(NULL))) {
        free(r);
        return NULL;
    }
    mysql_optionsv(r->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    int64_t net_ms = 60000;
    imi_config_get_duration_ms(imi_app_config(app), "db", "net_timeout", &net_ms);
    unsigned net_s = (unsigned)((net_ms + 999) / 1000);
    mysql_optionsv(r->my, MYSQL_OPT_READ_TIMEOUT, &net_s);
    mysql_optionsv(r->my, MYSQL_OPT_WRITE_TIMEOUT, &net_s);
    if (!mysql_real_connect(r->my, host, user, pw, db, port, NULL, 0))
        goto fail;
    r->sel = mysql_stmt_init(r->my);
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE id = ?", table);
    if (!r->sel || mysql_stmt_prepare(r->sel, sql, (unsigned long)strlen(sql)))
        goto fail;
    r->ins = mysql_stmt_init(r->my);
    snprintf(sql, sizeof sql, "INSERT INTO %s (id, v) VALUES (?, ?)", table);
    if (!r->ins || mysql_stmt_prepare(r->ins, sql, (unsigned long)strlen(sql)))
        goto fail;
    return r;
fail:
    snprintf(why, why_len, "libmariadb: %s", mysql_error(r->my));
    raw_close(r);
    return NULL;
}

static int raw_select(void *h, int64_t id)
{
    raw_my *r = h;
    MYSQL_BIND p = { .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &id };
    MYSQL_BIND out = { .buffer_type = MYSQL_TYPE_STRING, .buffer = r->buf,
                       .buffer_length = sizeof r->buf, .length = &r->len };
    if (mysql_stmt_bind_param(r->sel, &p) || mysql_stmt_execute(r->sel) ||
        mysql_stmt_store_result(r->sel) || mysql_stmt_bind_result(r->sel, &out))
        return -1;
    int rc = mysql_stmt_fetch(r->sel);
    mysql_stmt_free_result(r->sel);
    return rc == 0 && r->len > 0 ? 0 : -1;
}

static int raw_insert(void *h, int64_t id, const char *v)
{
    raw_my *r = h;
    MYSQL_BIND p[2] = {
        { .buffer_type = MYSQL_TYPE_LONGLONG, .buffer = &id },
        { .buffer_type = MYSQL_TYPE_STRING, .buffer = (void *)v,
          .buffer_length = (unsigned long)strlen(v) },
    };
    return mysql_stmt_bind_param(r->ins, p) || mysql_stmt_execute(r->ins) ? -1 : 0;
}

static const db_bench_raw raw = {
    .name = "libmariadb", .open = raw_open, .select = raw_select, .insert = raw_insert,
    .close = raw_close,
};

const db_bench_raw *bench_db_raw_mysql(void) { return &raw; }
#else
const db_bench_raw *bench_db_raw_mysql(void) { return NULL; }
#endif
