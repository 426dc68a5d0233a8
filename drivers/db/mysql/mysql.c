/* The MySQL / MariaDB db driver on libmariadb: a writer and any number of readers
 * (mysql:// URIs), server-side prepared statements cached per connection (the binary
 * protocol: typed values both ways), utf8mb4. The ctx deadline becomes the session's
 * max_statement_time (MariaDB), set again only when it moves by more than a tenth, so
 * the server stops a statement that runs past it; a ctx cancel is seen between statements
 * (the client library blocks while one runs). */
#include <errno.h>
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/driver/db_driver.h"
#include "mysql_uri.h"
#include "../stmt_id.h"

enum { OPT_WRITER, OPT_READERS, OPT_CONNECT_TIMEOUT, OPT_NET_TIMEOUT, OPT_STMT_CACHE,
       OPT_MULTI_STATEMENTS };

static const imi_option_spec my_options[] = {
    [OPT_WRITER] = { .name = "writer", .type = IMI_OPT_STRING,
                     .flags = IMI_OPT_REQUIRED | IMI_OPT_SECRET,
                     .help = "the writer: mysql://user:pw@host:port/db[?params]; params: "
                             "ssl=true (require TLS), ssl_ca=FILE (require TLS and verify the "
                             "server's certificate and name against this CA), ssl_cert=FILE "
                             "and ssl_key=FILE (a client certificate), socket=PATH" },
    [OPT_READERS] = { .name = "readers", .type = IMI_OPT_LIST, .default_value = "",
                      .flags = IMI_OPT_SECRET, .help = "readers (replicas), comma-separated URIs" },
    [OPT_CONNECT_TIMEOUT] = { .name = "connect_timeout", .type = IMI_OPT_DURATION,
                              .default_value = "5s", .help = "how long a connect may take" },
    [OPT_NET_TIMEOUT] = { .name = "net_timeout", .type = IMI_OPT_DURATION,
                          .default_value = "60s",
                          .help = "a silent server past this is taken as gone (read/write)" },
    [OPT_STMT_CACHE] = { .name = "stmt_cache", .type = IMI_OPT_INT, .default_value = "128",
                         .help = "prepared statements kept per connection" },
    [OPT_MULTI_STATEMENTS] = { .name = "multi_statements", .type = IMI_OPT_BOOL,
                               .default_value = "false",
                               .help = "let an exec without parameters run several "
                                       "';'-separated statements (CLIENT_MULTI_STATEMENTS); "
                                       "off: the server refuses such SQL with IMI_EINVALID "
                                       "before any of it runs" },
};

typedef struct my_state {
    const imi_driver_env *env;
    const imi_host_api *host;
    my_uri *eps;
    char (*names)[160];
    size_t n_eps;
    unsigned connect_s, net_s;
    size_t cache_cap;
    bool multi_statements;
} my_state;

typedef struct my_stmt {
    db_stmt_id id;
    uint64_t used;                 /* LRU clock */
    MYSQL_STMT *stmt;
} my_stmt;

typedef struct my_conn my_conn;

typedef struct my_col {
    imi_db_type type;
    char *buf;
    size_t cap;
    unsigned long len;
    my_bool is_null, error;
    int64_t i;
    double d;
    bool is_unsigned;
} my_col;

typedef struct my_res {
    my_conn *c;
    MYSQL_STMT *stmt;
    MYSQL_FIELD *fields;       /* the statement's own, max_length updated by store_result */
    size_t n_cols;
} my_res;

struct my_conn {
    my_state *st;
    MYSQL *my;
    size_t endpoint;
    my_stmt *stmts;
    size_t n_stmts;
    uint64_t clock;
    double stmt_time_s;        /* the session's max_statement_time; 0: unlimited */
    bool broken;
    my_res res;
    my_col *cols;
    MYSQL_BIND *binds;
    size_t cols_cap;
};

/* ---- errors --------------------------------------------------------------------------- */

static int map_errno(my_conn *c, unsigned e)
{
    switch (e) {
    case 1062: case 1451: case 1452: case 1048: case 1213: case 1205: case 1216: case 1217:
    case 1557: case 1169: case 3819: case 4025:
        return IMI_ECONFLICT;
    case 1969: case 3024: return IMI_ETIMEDOUT;
    case 1317: return IMI_ECANCELED;
    case 1040: case 1053: case 1077: case 1079: case 1080: case 1152: case 1153: case 1154:
    case 1155: case 1156: case 1157: case 1158: case 1159: case 1160: case 1161: case 1927:
        c->broken = true;
        return IMI_EUNAVAILABLE;
    case 1044: case 1045: case 1049: case 1227: case 1142: case 1143:
        return IMI_EINVALID;
    default:
        break;
    }
    if (e >= 2000 && e < 3000) {      /* client errors: the connection is not to be trusted */
        c->broken = true;
        return e == 2008 ? IMI_ENOMEM : IMI_EUNAVAILABLE;
    }
    return e ? IMI_EINVALID : IMI_EDRIVER;
}

static int fail_my(my_conn *c, MYSQL_STMT *stmt, const char *what)
{
    unsigned e = stmt ? mysql_stmt_errno(stmt) : mysql_errno(c->my);
    const char *msg = stmt ? mysql_stmt_error(stmt) : mysql_error(c->my);
    const char *state = stmt ? mysql_stmt_sqlstate(stmt) : mysql_sqlstate(c->my);
    return c->st->host->error(map_errno(c, e), (long)e, "mysql %s: %u (%s) %s", what, e,
                              state ? state : "", msg ? msg : "");
}

/* ---- driver --------------------------------------------------------------------------- */

static int add_endpoint(my_state *s, const char *text, size_t n)
{
    char *one = strndup(text, n);
    my_uri *eps = realloc(s->eps, (s->n_eps + 1) * sizeof *eps);
    char (*names)[160] = realloc(s->names, (s->n_eps + 1) * sizeof *names);
    if (eps)
        s->eps = eps;
    if (names)
        s->names = names;
    if (!one || !eps || !names) {
        free(one);
        return s->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    char why[200];
    int rc = my_uri_parse(one, &s->eps[s->n_eps], why, sizeof why);
    free(one);
    if (rc) {
        my_uri_free(&s->eps[s->n_eps]);
        return s->host->error(IMI_ECONFIG, 0, "mysql: %s %zu: %s",
                              s->n_eps ? "reader" : "writer", s->n_eps ? s->n_eps : 0, why);
    }
    my_uri *u = &s->eps[s->n_eps];
    snprintf(s->names[s->n_eps], sizeof s->names[0], "%s:%u/%s", u->host, u->port,
             u->database ? u->database : "");
    s->n_eps++;
    return IMI_OK;
}

static int my_open(void *state, const imi_driver_env *env)
{
    my_state *s = state;
    s->env = env;
    s->host = env->host;
    const imi_opt_value *o = env->opts;
    int rc = add_endpoint(s, o[OPT_WRITER].str, strlen(o[OPT_WRITER].str));
    for (const char *p = o[OPT_READERS].str; !rc && p && *p;) {
        size_t n = strcspn(p, ",");
        const char *b = p, *e = p + n;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b)
            rc = add_endpoint(s, b, (size_t)(e - b));
        p += n + (p[n] == ',');
    }
    if (rc)
        return rc;
    if (o[OPT_CONNECT_TIMEOUT].i <= 0 || o[OPT_NET_TIMEOUT].i <= 0)
        return s->host->error(IMI_ECONFIG, 0, "mysql: connect_timeout and net_timeout must "
                              "be positive");
    s->connect_s = (unsigned)((o[OPT_CONNECT_TIMEOUT].i + 999) / 1000);
    s->net_s = (unsigned)((o[OPT_NET_TIMEOUT].i + 999) / 1000);
    if (o[OPT_STMT_CACHE].i < 1 || o[OPT_STMT_CACHE].i > 100000)
        return s->host->error(IMI_ECONFIG, 0, "mysql: stmt_cache must be 1..100000");
    s->cache_cap = (size_t)o[OPT_STMT_CACHE].i;
    s->multi_statements = o[OPT_MULTI_STATEMENTS].i != 0;
    /* The client library's global state, before threads use it. */
    if (mysql_library_init(0, NULL, NULL))
        return s->host->error(IMI_EDRIVER, 0, "mysql: the client library failed to start");
    return IMI_OK;
}

static void my_close(void *state)
{
    my_state *s = state;
    for (size_t i = 0; i < s->n_eps; i++)
        my_uri_free(&s->eps[i]);
    free(s->eps);
    free(s->names);
}

static int my_endpoint(void *state, size_t i, imi_db_endpoint_info *info)
{
    my_state *s = state;
    if (i >= s->n_eps)
        return IMI_ENOTFOUND;
    info->name = s->names[i];
    return IMI_OK;
}

static void my_c_close(void *state, void *conn)
{
    (void)state;
    my_conn *c = conn;
    for (size_t i = 0; i < c->n_stmts; i++) {
        mysql_stmt_close(c->stmts[i].stmt);
        free(c->stmts[i].id.sql);
    }
    free(c->stmts);
    for (size_t i = 0; i < c->cols_cap; i++)
        free(c->cols[i].buf);
    free(c->cols);
    free(c->binds);
    if (c->my)
        mysql_close(c->my);
    free(c);
}

static int my_connect(void *state, const imi_ctx *ctx, size_t endpoint, void **out)
{
    my_state *s = state;
    my_uri *u = &s->eps[endpoint];
    my_conn *c = calloc(1, sizeof *c);
    if (!c || !(c->my = mysql_init(NULL))) {
        free(c);
        return s->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    c->st = s;
    c->endpoint = endpoint;
    int64_t ms = s->host->ctx_remaining_ms(ctx, s->env->default_timeout_ms);
    unsigned connect_s = (unsigned)((ms + 999) / 1000);
    if (connect_s > s->connect_s || connect_s == 0)
        connect_s = s->connect_s;
    mysql_optionsv(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &connect_s);
    mysql_optionsv(c->my, MYSQL_OPT_READ_TIMEOUT, &s->net_s);
    mysql_optionsv(c->my, MYSQL_OPT_WRITE_TIMEOUT, &s->net_s);
    mysql_optionsv(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    bool tls = u->ssl || u->ssl_ca || u->ssl_cert;
    if (tls) {
        my_bool on = 1;
        mysql_optionsv(c->my, MYSQL_OPT_SSL_ENFORCE, &on);
        if (u->ssl_ca) {
            mysql_optionsv(c->my, MYSQL_OPT_SSL_CA, u->ssl_ca);
            mysql_optionsv(c->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &on);
        }
        if (u->ssl_cert)
            mysql_optionsv(c->my, MYSQL_OPT_SSL_CERT, u->ssl_cert);
        if (u->ssl_key)
            mysql_optionsv(c->my, MYSQL_OPT_SSL_KEY, u->ssl_key);
    }
    unsigned long flags = CLIENT_FOUND_ROWS | (s->multi_statements ? CLIENT_MULTI_STATEMENTS : 0);
    if (!mysql_real_connect(c->my, u->host, u->user, u->password, u->database, u->port,
                            u->socket, flags)) {
        /* Refusals that retrying cannot mend are IMI_ECONFIG, as the postgres driver
         * reports its own: access denied (a wrong password), an unknown database, and a
         * TLS handshake that failed (the server's certificate not from ssl_ca, or no TLS
         * on the server). */
        unsigned e = mysql_errno(c->my);
        bool config = e == 1045 || e == 1049 || e == 1044 || e == 1698 || e == 2026;
        int rc = s->host->error(config ? IMI_ECONFIG : IMI_EUNAVAILABLE, (long)e,
                                "mysql: connect to %s: %s%s%s", s->names[endpoint],
                                e == 2026 ? "TLS handshake failed: " : "", mysql_error(c->my),
                                config ? " (not retried: fix the config)" : "");
        my_c_close(s, c);
        return rc;
    }
    *out = c;
    return IMI_OK;
}

/* ---- the deadline ------------------------------------------------------------------------ */

/* Keeps max_statement_time between 90% and 100% of what is left of the deadline, so that
 * the server stops a statement that would run past it, without a round trip per call. */
static int arm(my_conn *c, const imi_ctx *ctx)
{
    const imi_host_api *h = c->st->host;
    double want = (double)h->ctx_remaining_ms(ctx, c->st->env->default_timeout_ms) / 1000.0;
    if (want < 0.001)
        want = 0.001;
    if (c->stmt_time_s <= want && c->stmt_time_s >= want * 0.9)
        return IMI_OK;
    char sql[64];
    snprintf(sql, sizeof sql, "SET max_statement_time = %.3f", want);
    if (mysql_real_query(c->my, sql, (unsigned long)strlen(sql)))
        return fail_my(c, NULL, "set max_statement_time");
    c->stmt_time_s = want;
    return IMI_OK;
}

/* ---- statements ----------------------------------------------------------------------- */

static int prepared(my_conn *c, const imi_db_stmt *s, MYSQL_STMT **out)
{
    db_stmt_probe probe = db_stmt_probe_of(s);
    for (size_t i = 0; i < c->n_stmts; i++) {
        my_stmt *p = &c->stmts[i];
        if (db_stmt_id_is(&p->id, &probe)) {
            p->used = ++c->clock;
            *out = p->stmt;
            return IMI_OK;
        }
    }
    if (c->n_stmts >= c->st->cache_cap) {
        my_stmt *lru = &c->stmts[0];
        for (size_t i = 1; i < c->n_stmts; i++)
            if (c->stmts[i].used < lru->used)
                lru = &c->stmts[i];
        mysql_stmt_close(lru->stmt);
        free(lru->id.sql);
        *lru = c->stmts[--c->n_stmts];
    }
    my_stmt *grown = realloc(c->stmts, (c->n_stmts + 1) * sizeof *grown);
    if (!grown)
        return c->st->host->error(IMI_ENOMEM, 0, "out of memory");
    c->stmts = grown;
    MYSQL_STMT *stmt = mysql_stmt_init(c->my);
    if (!stmt)
        return fail_my(c, NULL, "prepare");
    if (mysql_stmt_prepare(stmt, s->sql, (unsigned long)s->sql_len)) {
        int rc = fail_my(c, stmt, "prepare");
        mysql_stmt_close(stmt);
        return rc;
    }
    unsigned long n_server = mysql_stmt_param_count(stmt);
    if (n_server != s->n_params) {
        mysql_stmt_close(stmt);
        return c->st->host->error(IMI_EINVALID, 0, "mysql: the server counts %lu placeholders, "
                                  "not %zu", n_server, s->n_params);
    }
    my_bool on = 1;
    mysql_stmt_attr_set(stmt, STMT_ATTR_UPDATE_MAX_LENGTH, &on);
    my_stmt *p = &c->stmts[c->n_stmts];
    if (!db_stmt_id_set(&p->id, &probe)) {
        mysql_stmt_close(stmt);
        return c->st->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    p->used = ++c->clock;
    p->stmt = stmt;
    c->n_stmts++;
    *out = stmt;
    return IMI_OK;
}

/* Binds s's parameters and executes stmt. One function: libmariadb reads the bound
 * buffers (the booleans' bytes here) at mysql_stmt_execute, not at bind time, so they must
 * outlive the execute (a bool read from a returned frame came back false). */
static int bind_and_execute(my_conn *c, MYSQL_STMT *stmt, const imi_db_stmt *s)
{
    enum { SMALL = 16 };
    MYSQL_BIND small[SMALL], *b = small;
    my_bool bools[SMALL], *bv = bools;
    if (s->n_params > SMALL) {
        b = calloc(s->n_params, sizeof *b);
        bv = calloc(s->n_params, sizeof *bv);
        if (!b || !bv) {
            free(b);
            free(bv);
            return c->st->host->error(IMI_ENOMEM, 0, "out of memory");
        }
    }
    memset(b, 0, s->n_params * sizeof *b);
    for (size_t i = 0; i < s->n_params; i++) {
        const imi_db_param *p = &s->params[i];
        switch (p->type) {
        case IMI_DB_NULL: b[i].buffer_type = MYSQL_TYPE_NULL; break;
        case IMI_DB_INT:
            b[i].buffer_type = MYSQL_TYPE_LONGLONG;
            b[i].buffer = (void *)&p->v.i;
            break;
        case IMI_DB_BOOL:
            bv[i] = p->v.b ? 1 : 0;
            b[i].buffer_type = MYSQL_TYPE_TINY;
            b[i].buffer = &bv[i];
            break;
        case IMI_DB_DOUBLE:
            b[i].buffer_type = MYSQL_TYPE_DOUBLE;
            b[i].buffer = (void *)&p->v.d;
            break;
        case IMI_DB_TEXT:
        case IMI_DB_BLOB:
            b[i].buffer_type = p->type == IMI_DB_TEXT ? MYSQL_TYPE_STRING : MYSQL_TYPE_BLOB;
            b[i].buffer = (void *)(p->v.s.ptr ? p->v.s.ptr : "");
            b[i].buffer_length = (unsigned long)p->v.s.len;
            break;
        }
    }
    int rc = s->n_params && mysql_stmt_bind_param(stmt, b) ? fail_my(c, stmt, "bind") : IMI_OK;
    if (!rc && mysql_stmt_execute(stmt))
        rc = fail_my(c, stmt, "execute");
    if (b != small) {
        free(b);
        free(bv);
    }
    return rc;
}

/* Runs the text protocol for a statement without parameters (maybe several). */
static int exec_text(my_conn *c, const imi_db_stmt *s, int64_t *affected)
{
    if (mysql_real_query(c->my, s->sql, (unsigned long)s->sql_len)) {
        /* Without CLIENT_MULTI_STATEMENTS the server parses the text as one statement:
         * several of them are a syntax error (1064) and none runs. */
        if (!c->st->multi_statements && mysql_errno(c->my) == 1064 &&
            memchr(s->sql, ';', s->sql_len))
            return c->st->host->error(IMI_EINVALID, 1064, "mysql exec: 1064 %s (the SQL may "
                                      "hold more than one statement: multi_statements = "
                                      "false)", mysql_error(c->my));
        return fail_my(c, NULL, "exec");
    }
    *affected = 0;
    int more;
    do {
        MYSQL_RES *r = mysql_store_result(c->my);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(c->my) == 0)
            *affected += (int64_t)mysql_affected_rows(c->my);
        else
            return fail_my(c, NULL, "exec");
        more = mysql_next_result(c->my);
        if (more > 0)
            return fail_my(c, NULL, "exec");
    } while (more == 0);
    return IMI_OK;
}

static int execute(my_conn *c, const imi_ctx *ctx, const imi_db_stmt *s, MYSQL_STMT **out)
{
    int rc = arm(c, ctx);
    MYSQL_STMT *stmt = NULL;
    if (!rc)
        rc = prepared(c, s, &stmt);
    if (!rc)
        rc = bind_and_execute(c, stmt, s);
    *out = stmt;
    return rc;
}

static int my_exec(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, int64_t *affected)
{
    my_conn *c = conn;
    if (s->n_params == 0) {
        int rc = arm(c, ctx);
        return rc ? rc : exec_text(c, s, affected);
    }
    MYSQL_STMT *stmt;
    int rc = execute(c, ctx, s, &stmt);
    if (rc)
        return rc;
    *affected = (int64_t)mysql_stmt_affected_rows(stmt);
    if (mysql_stmt_field_count(stmt)) {
        if (mysql_stmt_store_result(stmt))
            rc = fail_my(c, stmt, "exec");
        mysql_stmt_free_result(stmt);
    }
    return rc;
}

static imi_db_type col_type(const MYSQL_FIELD *f)
{
    switch (f->type) {
    case MYSQL_TYPE_TINY:
        return f->length == 1 ? IMI_DB_BOOL : IMI_DB_INT;
    case MYSQL_TYPE_SHORT: case MYSQL_TYPE_INT24: case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_YEAR:
        return IMI_DB_INT;
    case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE:
        return IMI_DB_DOUBLE;
    case MYSQL_TYPE_BIT: case MYSQL_TYPE_GEOMETRY:
        return IMI_DB_BLOB;
    case MYSQL_TYPE_TINY_BLOB: case MYSQL_TYPE_MEDIUM_BLOB: case MYSQL_TYPE_LONG_BLOB:
    case MYSQL_TYPE_BLOB: case MYSQL_TYPE_STRING: case MYSQL_TYPE_VAR_STRING:
    case MYSQL_TYPE_VARCHAR:
        return f->charsetnr == 63 ? IMI_DB_BLOB : IMI_DB_TEXT;   /* 63: binary */
    default:
        return IMI_DB_TEXT;
    }
}

/* Binds each column to a buffer of its type, sized by the stored result's max length. */
static int bind_results(my_conn *c, my_res *r)
{
    size_t n = r->n_cols;
    if (n > c->cols_cap) {
        my_col *cols = realloc(c->cols, n * sizeof *cols);
        if (cols)
            c->cols = cols;
        MYSQL_BIND *binds = realloc(c->binds, n * sizeof *binds);
        if (binds)
            c->binds = binds;
        if (!cols || !binds)
            return c->st->host->error(IMI_ENOMEM, 0, "out of memory");
        memset(c->cols + c->cols_cap, 0, (n - c->cols_cap) * sizeof *cols);
        c->cols_cap = n;
    }
    MYSQL_FIELD *f = r->fields;
    memset(c->binds, 0, n * sizeof *c->binds);
    for (size_t i = 0; i < n; i++) {
        my_col *col = &c->cols[i];
        MYSQL_BIND *b = &c->binds[i];
        col->type = col_type(&f[i]);
        col->is_unsigned = (f[i].flags & UNSIGNED_FLAG) != 0;
        b->is_null = &col->is_null;
        b->length = &col->len;
        b->error = &col->error;
        if (col->type == IMI_DB_INT || col->type == IMI_DB_BOOL) {
            b->buffer_type = MYSQL_TYPE_LONGLONG;
            b->buffer = &col->i;
            b->is_unsigned = col->is_unsigned;
        } else if (col->type == IMI_DB_DOUBLE) {
            b->buffer_type = MYSQL_TYPE_DOUBLE;
            b->buffer = &col->d;
        } else {
            size_t need = f[i].max_length + 1;
            if (need > col->cap) {
                char *buf = realloc(col->buf, need);
                if (!buf)
                    return c->st->host->error(IMI_ENOMEM, 0, "out of memory");
                col->buf = buf;
                col->cap = need;
            }
            b->buffer_type = col->type == IMI_DB_BLOB ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
            b->buffer = col->buf;
            b->buffer_length = (unsigned long)col->cap;
        }
    }
    return mysql_stmt_bind_result(r->stmt, c->binds) ? fail_my(c, r->stmt, "bind result")
                                                     : IMI_OK;
}

static int my_query(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, void **out)
{
    my_conn *c = conn;
    MYSQL_STMT *stmt;
    int rc = execute(c, ctx, s, &stmt);
    if (rc)
        return rc;
    if (mysql_stmt_store_result(stmt))
        return fail_my(c, stmt, "query");
    my_res *r = &c->res;
    *r = (my_res){ .c = c, .stmt = stmt, .n_cols = mysql_stmt_field_count(stmt),
                   .fields = mariadb_stmt_fetch_fields(stmt) };
    if (!r->fields)
        r->n_cols = 0;
    if (r->n_cols && (rc = bind_results(c, r))) {
        mysql_stmt_free_result(stmt);
        return rc;
    }
    *out = r;
    return IMI_OK;
}

static int simple(my_conn *c, const imi_ctx *ctx, const char *sql)
{
    int rc = ctx ? arm(c, ctx) : IMI_OK;
    if (!rc && mysql_real_query(c->my, sql, (unsigned long)strlen(sql)))
        rc = fail_my(c, NULL, sql);
    return rc;
}

static int my_ping(void *conn, const imi_ctx *ctx)
{
    (void)ctx;
    my_conn *c = conn;
    return mysql_ping(c->my) ? fail_my(c, NULL, "ping") : IMI_OK;
}

static int my_begin(void *conn, const imi_ctx *ctx) { return simple(conn, ctx, "BEGIN"); }
static int my_commit(void *conn, const imi_ctx *ctx) { return simple(conn, ctx, "COMMIT"); }

static int my_rollback(void *conn, const imi_ctx *ctx)
{
    (void)ctx;
    return simple(conn, NULL, "ROLLBACK") ? IMI_EUNAVAILABLE : IMI_OK;
}

static bool my_broken(void *conn) { return ((my_conn *)conn)->broken; }

/* ---- results -------------------------------------------------------------------------- */

static size_t my_r_columns(void *res) { return ((my_res *)res)->n_cols; }

static const char *my_r_column_name(void *res, size_t col)
{
    my_res *r = res;
    return r->fields[col].name;
}

static int my_r_next(void *res, const imi_ctx *ctx)
{
    (void)ctx;
    my_res *r = res;
    if (!r->n_cols)
        return 0;
    int rc = mysql_stmt_fetch(r->stmt);
    if (rc == 0)
        return 1;
    if (rc == MYSQL_NO_DATA)
        return 0;
    if (rc == MYSQL_DATA_TRUNCATED)
        return r->c->st->host->error(IMI_EDRIVER, 0, "mysql: a value did not fit its buffer");
    return fail_my(r->c, r->stmt, "fetch");
}

static imi_db_type my_r_type(void *res, size_t col)
{
    my_res *r = res;
    my_col *c = &r->c->cols[col];
    return c->is_null ? IMI_DB_NULL : c->type;
}

static int my_r_int(void *res, size_t col, int64_t *out)
{
    my_res *r = res;
    my_col *c = &r->c->cols[col];
    if (c->is_unsigned && c->i < 0)
        return r->c->st->host->error(IMI_EINVALID, 0, "mysql: unsigned value above INT64_MAX");
    *out = c->i;
    return IMI_OK;
}

static int my_r_double(void *res, size_t col, double *out)
{
    *out = ((my_res *)res)->c->cols[col].d;
    return IMI_OK;
}

static int my_r_bytes(void *res, size_t col, const void **out, size_t *len)
{
    my_col *c = &((my_res *)res)->c->cols[col];
    c->buf[c->len < c->cap ? c->len : c->cap - 1] = '\0';
    *out = c->buf;
    *len = c->len;
    return IMI_OK;
}

static void my_r_close(void *res)
{
    my_res *r = res;
    mysql_stmt_free_result(r->stmt);
}

static const imi_db_driver my_vtable = {
    .size = sizeof(imi_db_driver),
    .dialect = "mysql",
    .d_open = my_open,
    .d_close = my_close,
    .d_endpoint = my_endpoint,
    .d_connect = my_connect,
    .c_close = my_c_close,
    .c_ping = my_ping,
    .c_exec = my_exec,
    .c_query = my_query,
    .c_begin = my_begin,
    .c_commit = my_commit,
    .c_rollback = my_rollback,
    .r_columns = my_r_columns,
    .r_column_name = my_r_column_name,
    .r_next = my_r_next,
    .r_type = my_r_type,
    .r_int = my_r_int,
    .r_double = my_r_double,
    .r_bytes = my_r_bytes,
    .r_close = my_r_close,
    .c_broken = my_broken,
};

static const imi_driver_desc my_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_DB,
    .name = "mysql",
    .version = "1.0.0",
    .description = "MySQL / MariaDB through libmariadb: writer and readers, server-side "
                   "prepared statements",
    .caps = IMI_DB_CAP_TX | IMI_DB_CAP_READERS,
    .options = my_options,
    .n_options = IMI_COUNT_OF(my_options),
    .state_size = sizeof(my_state),
    .vtable = &my_vtable,
};

IMI_DRIVER_DEFINE(my_desc)
