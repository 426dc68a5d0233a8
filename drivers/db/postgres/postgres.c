/* The PostgreSQL db driver on libpq: a writer and any number of readers (URIs or
 * key=value connection strings, SSL through sslmode and friends), statements prepared once
 * per connection with `?` rewritten to $n, parameters sent as text (bytea as binary) with
 * their types inferred by the server, results in text form converted by column type. A
 * statement runs asynchronously so that the ctx deadline or cancel stops it on the server
 * (a cancel request, SQLSTATE 57014); server NOTICEs go to the instance's log. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include "iminfra/driver/db_driver.h"
#include "../stmt_id.h"

enum { OPT_WRITER, OPT_READERS, OPT_CONNECT_TIMEOUT, OPT_STMT_CACHE, OPT_APP_NAME,
       OPT_MULTI_STATEMENTS };

static const imi_option_spec pg_options[] = {
    [OPT_WRITER] = { .name = "writer", .type = IMI_OPT_STRING,
                     .flags = IMI_OPT_REQUIRED | IMI_OPT_SECRET,
                     .help = "the writer: postgresql://user:pw@host:port/db?params or "
                             "key=value pairs; TLS through libpq's sslmode (verify-full), "
                             "sslrootcert, sslcert, sslkey" },
    [OPT_READERS] = { .name = "readers", .type = IMI_OPT_LIST, .default_value = "",
                      .flags = IMI_OPT_SECRET,
                      .help = "readers (replicas), comma-separated connection URIs" },
    [OPT_CONNECT_TIMEOUT] = { .name = "connect_timeout", .type = IMI_OPT_DURATION,
                              .default_value = "5s", .help = "how long a connect may take" },
    [OPT_STMT_CACHE] = { .name = "stmt_cache", .type = IMI_OPT_INT, .default_value = "128",
                         .help = "prepared statements kept per connection" },
    [OPT_APP_NAME] = { .name = "application_name", .type = IMI_OPT_STRING,
                       .default_value = "im-infra", .help = "shown in pg_stat_activity" },
    [OPT_MULTI_STATEMENTS] = { .name = "multi_statements", .type = IMI_OPT_BOOL,
                               .default_value = "false",
                               .help = "let a statement without parameters run several "
                                       "';'-separated statements (the simple protocol); off: "
                                       "the server refuses such SQL with IMI_EINVALID before "
                                       "any of it runs" },
};

typedef struct pg_endpoint {
    char *conninfo;
    char name[160];            /* host:port/db, no secrets */
} pg_endpoint;

typedef struct pg_state {
    const imi_driver_env *env;
    const imi_host_api *host;
    pg_endpoint *eps;
    size_t n_eps;
    int64_t connect_timeout_ms;
    size_t cache_cap;
    const char *app_name;
    bool multi_statements;
} pg_state;

typedef struct pg_stmt {
    db_stmt_id id;
    uint64_t used;                 /* LRU clock */
    char name[24];
} pg_stmt;

typedef struct pg_conn pg_conn;

typedef struct pg_res {
    pg_conn *c;
    PGresult *res;
    int n_rows, n_cols, row;   /* row: current, -1 before the first */
    unsigned char *bytes;      /* a decoded bytea cell */
    size_t bytes_cap;
} pg_res;

struct pg_conn {
    pg_state *st;
    PGconn *pg;
    PGcancel *cancel;
    size_t endpoint;
    pg_stmt *stmts;
    size_t n_stmts;
    uint64_t clock, next_id;
    bool stuck;                /* a statement did not stop: never reuse */
    pg_res res;
    char *scratch;             /* parameter texts of one call */
    size_t scratch_cap;
    char last_state[6];        /* SQLSTATE of the last failure, "" when none */
    const imi_ctx *ctx;        /* of the call waiting for a result: NOTICEs carry its trace */
    int alarm_fd;              /* a timerfd that wakes a wait by its deadline; -1: none */
    int64_t alarm_ns;          /* when it fires (mono_ns); 0: not armed */
};

/* ---- errors --------------------------------------------------------------------------- */

static long sqlstate_native(const char *s)
{
    if (!s || strlen(s) != 5)
        return 0;
    char *end;
    long v = strtol(s, &end, 10);
    return *end ? strtol(s, NULL, 36) : v;
}

/* The imi code of a failed result (or of the connection when res is NULL). why: the code
 * to give a statement we canceled ourselves. */
static int fail_res(pg_conn *c, const PGresult *res, int why, const char *what)
{
    const imi_host_api *h = c->st->host;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c->pg);
    snprintf(c->last_state, sizeof c->last_state, "%s", state ? state : "");
    if (!msg || !*msg)
        msg = PQerrorMessage(c->pg);
    char text[400];
    snprintf(text, sizeof text, "%s", msg ? msg : "");
    text[strcspn(text, "\n")] = '\0';
    int code = IMI_EDRIVER;
    if (PQstatus(c->pg) == CONNECTION_BAD)
        code = IMI_EUNAVAILABLE;
    else if (!state)
        code = IMI_EDRIVER;
    else if (!strcmp(state, "57014"))
        code = why ? why : IMI_ETIMEDOUT;
    else if (!strncmp(state, "23", 2) || !strcmp(state, "40001") || !strcmp(state, "40P01") ||
             !strcmp(state, "55P03"))
        code = IMI_ECONFLICT;
    else if (!strncmp(state, "42", 2) || !strncmp(state, "22", 2) || !strncmp(state, "0A", 2) ||
             !strncmp(state, "25", 2) || !strncmp(state, "26", 2) || !strncmp(state, "2B", 2))
        code = IMI_EINVALID;
    else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2))
        code = IMI_EUNAVAILABLE;
    return h->error(code, sqlstate_native(state), "postgres %s: %s%s%s", what,
                    state ? state : "", state ? " " : "", text);
}

/* ---- driver --------------------------------------------------------------------------- */

static int add_endpoint(pg_state *s, const char *conninfo, size_t n)
{
    pg_endpoint *grown = realloc(s->eps, (s->n_eps + 1) * sizeof *grown);
    if (!grown)
        return s->host->error(IMI_ENOMEM, 0, "out of memory");
    s->eps = grown;
    pg_endpoint *e = &s->eps[s->n_eps];
    *e = (pg_endpoint){ .conninfo = strndup(conninfo, n) };
    if (!e->conninfo)
        return s->host->error(IMI_ENOMEM, 0, "out of memory");
    s->n_eps++;
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(e->conninfo, &err);
    if (!opts) {
        int rc = s->host->error(IMI_ECONFIG, 0, "postgres: %s %zu: %s",
                                s->n_eps == 1 ? "writer" : "reader", s->n_eps - 1,
                                err ? err : "out of memory");
        PQfreemem(err);
        return rc;
    }
    const char *host = "", *port = "5432", *db = "";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "host") || (!strcmp(o->keyword, "hostaddr") && !*host))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
    }
    snprintf(e->name, sizeof e->name, "%s:%s/%s", *host ? host : "localhost", port, db);
    PQconninfoFree(opts);
    return IMI_OK;
}

static int pg_open(void *state, const imi_driver_env *env)
{
    pg_state *s = state;
    s->env = env;
    s->host = env->host;
    const imi_opt_value *o = env->opts;
    if (!o[OPT_WRITER].str || !*o[OPT_WRITER].str)
        return s->host->error(IMI_ECONFIG, 0, "postgres: writer is empty");
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
    s->connect_timeout_ms = o[OPT_CONNECT_TIMEOUT].i;
    if (s->connect_timeout_ms <= 0)
        return s->host->error(IMI_ECONFIG, 0, "postgres: connect_timeout must be positive");
    if (o[OPT_STMT_CACHE].i < 1 || o[OPT_STMT_CACHE].i > 100000)
        return s->host->error(IMI_ECONFIG, 0, "postgres: stmt_cache must be 1..100000");
    s->cache_cap = (size_t)o[OPT_STMT_CACHE].i;
    s->app_name = o[OPT_APP_NAME].str;
    s->multi_statements = o[OPT_MULTI_STATEMENTS].i != 0;
    return IMI_OK;
}

static void pg_close(void *state)
{
    pg_state *s = state;
    for (size_t i = 0; i < s->n_eps; i++)
        free(s->eps[i].conninfo);
    free(s->eps);
}

static int pg_endpoint_info(void *state, size_t i, imi_db_endpoint_info *info)
{
    pg_state *s = state;
    if (i >= s->n_eps)
        return IMI_ENOTFOUND;
    info->name = s->eps[i].name;
    return IMI_OK;
}

/* Server NOTICE / WARNING messages, to the instance's log with the trace id of the call
 * they came in. WARNING is a warning; NOTICE, INFO, LOG and DEBUG are the server talking
 * about routine things ("relation already exists, skipping" for every CREATE TABLE IF NOT
 * EXISTS), so debug. */
static void on_notice(void *arg, const PGresult *res)
{
    pg_conn *c = arg;
    const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
    const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    imi_host_log_level lvl = sev && !strcmp(sev, "WARNING") ? IMI_HOST_LOG_WARN
                                                            : IMI_HOST_LOG_DEBUG;
    c->st->host->log(c->st->env->logger, lvl, c->ctx, "postgres %s from %s: %s",
                     sev ? sev : "NOTICE", c->st->eps[c->endpoint].name, msg ? msg : "");
}

static void pg_c_close(void *state, void *conn)
{
    (void)state;
    pg_conn *c = conn;
    if (c->res.res)
        PQclear(c->res.res);
    free(c->res.bytes);
    for (size_t i = 0; i < c->n_stmts; i++)
        free(c->stmts[i].id.sql);
    free(c->stmts);
    free(c->scratch);
    if (c->cancel)
        PQfreeCancel(c->cancel);
    if (c->alarm_fd >= 0)
        close(c->alarm_fd);
    PQfinish(c->pg);
    free(c);
}

/* A failed connect that retrying cannot mend is IMI_ECONFIG, as the mysql driver reports
 * its refusals: the server refused the credentials (a wrong or missing password, no
 * pg_hba.conf entry, a database that does not exist) or the server's certificate failed
 * verification (sslmode=verify-ca/verify-full against another CA or name). libpq gives no
 * SQLSTATE for a failed connect, so this reads its message; anything else (refused, down,
 * starting up, too many clients) stays IMI_EUNAVAILABLE. */
static int connect_code(PGconn *pg, const char *msg)
{
    static const char *const refusals[] = {
        "password authentication failed", "authentication failed", "pg_hba.conf",
        "password must be", "no password supplied", "does not exist",
        "certificate verify failed", "server certificate for", "root certificate file",
    };
    if (!pg)
        return IMI_EUNAVAILABLE;
    if (PQconnectionNeedsPassword(pg))
        return IMI_ECONFIG;
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++)
        if (strstr(msg, refusals[i]))
            return IMI_ECONFIG;
    return IMI_EUNAVAILABLE;
}

static int pg_connect(void *state, const imi_ctx *ctx, size_t endpoint, void **out)
{
    pg_state *s = state;
    int64_t ms = s->host->ctx_remaining_ms(ctx, s->env->default_timeout_ms);
    if (ms > s->connect_timeout_ms)
        ms = s->connect_timeout_ms;
    char timeout[32];
    /* libpq counts whole seconds and takes less than 2 as 2. */
    snprintf(timeout, sizeof timeout, "%lld", (long long)(ms + 999) / 1000);
    const char *keys[] = { "dbname", "connect_timeout", "client_encoding", "application_name",
                           NULL };
    const char *vals[] = { s->eps[endpoint].conninfo, timeout, "UTF8", s->app_name, NULL };
    pg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return s->host->error(IMI_ENOMEM, 0, "out of memory");
    c->st = s;
    c->endpoint = endpoint;
    /* Without it (out of descriptors) every wait carries its own timeout. */
    c->alarm_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK) {
        char msg[400];
        snprintf(msg, sizeof msg, "%s", c->pg ? PQerrorMessage(c->pg) : "out of memory");
        msg[strcspn(msg, "\n")] = '\0';
        int code = connect_code(c->pg, msg);
        pg_c_close(s, c);
        return s->host->error(code, 0, "postgres: connect to %s: %s%s", s->eps[endpoint].name,
                              msg, code == IMI_ECONFIG ? " (not retried: fix the config)" : "");
    }
    PQsetNoticeReceiver(c->pg, on_notice, c);
    c->cancel = PQgetCancel(c->pg);
    *out = c;
    return IMI_OK;
}

/* ---- the asynchronous round trip ------------------------------------------------------- */

/* Whether a wait that must end by `until` can sleep on the connection's alarm instead of a
 * timeout of its own. A poll timeout arms and cancels a kernel timer on every wait, which
 * on a virtual machine costs about a microsecond of CPU per statement (a point select
 * here takes 15 us of client CPU); the alarm stays armed across statements and is set
 * again only once it has fired (at most once per timeout, or per 50 ms with a ctx), so a
 * wait costs a plain poll, as libpq's own blocking wait does. An alarm that fires before
 * `until` only wakes the loop, which looks at the clock and waits again. */
static bool wait_by_alarm(pg_conn *c, int64_t now, int64_t until)
{
    if (c->alarm_fd < 0 || until <= now)
        return false;
    if (c->alarm_ns <= now) {
        int64_t in = until - now;
        struct itimerspec it = { .it_value = { in / 1000000000, (long)(in % 1000000000) } };
        if (timerfd_settime(c->alarm_fd, 0, &it, NULL) < 0)
            return false;
        c->alarm_ns = until;
    }
    return c->alarm_ns <= until;   /* armed for later: this wait takes a timeout */
}

/* Waits for the results of what was sent; keeps the last one (the first error wins). On
 * the deadline or a cancel, asks the server to cancel the statement and waits a little
 * for it to say so; a connection that stays silent is marked stuck. */
static int wait_result_in(pg_conn *c, const imi_ctx *ctx, PGresult **out, const char *what)
{
    const imi_host_api *h = c->st->host;
    /* A ctx's deadline is absolute; the default timeout is counted from the first look at
     * the clock below, before the first wait (no clock read up front). */
    int64_t deadline = h->ctx_deadline_ns(ctx);
    int64_t grace = 0;
    int why = 0;
    PGresult *keep = NULL;
    *out = NULL;
    int sock = PQsocket(c->pg);
    for (;;) {
        int fl = PQflush(c->pg);
        if (fl < 0)
            break;
        if (fl == 0 && !PQisBusy(c->pg)) {
            PGresult *r = PQgetResult(c->pg);
            if (!r)
                break;
            ExecStatusType st = PQresultStatus(r);
            bool bad = st == PGRES_FATAL_ERROR || st == PGRES_BAD_RESPONSE ||
                       st == PGRES_NONFATAL_ERROR;
            if (keep && (PQresultStatus(keep) == PGRES_FATAL_ERROR || !bad)) {
                PQclear(bad ? r : keep);
                if (!bad)
                    keep = r;
            } else {
                if (keep)
                    PQclear(keep);
                keep = r;
            }
            if (PQstatus(c->pg) == CONNECTION_BAD)
                break;
            continue;
        }
        int64_t now = h->mono_ns();
        if (!deadline)
            deadline = now + c->st->env->default_timeout_ms * 1000000;
        if (!why && (now >= deadline || h->ctx_canceled(ctx))) {
            why = h->ctx_canceled(ctx) ? IMI_ECANCELED : IMI_ETIMEDOUT;
            char err[256];
            if (!c->cancel || !PQcancel(c->cancel, err, sizeof err))
                grace = now;          /* could not ask: give up on the connection now */
            else
                grace = now + 2000000000LL;
        }
        if (why && now >= grace) {
            c->stuck = true;
            if (keep)
                PQclear(keep);
            return h->error(why, 0, "postgres %s: %s; the connection did not stop the "
                            "statement and is dropped", what,
                            why == IMI_ECANCELED ? "canceled" : "deadline exceeded");
        }
        int64_t until = why ? grace : deadline;
        if (ctx && until - now > 50000000)
            until = now + 50000000;   /* look at the cancel flag now and then */
        struct pollfd pfd[2] = {
            { .fd = sock, .events = (short)(POLLIN | (fl == 1 ? POLLOUT : 0)) },
            { .fd = c->alarm_fd, .events = POLLIN },
        };
        if (!why && wait_by_alarm(c, now, until)) {
            if (poll(pfd, 2, -1) < 0 && errno != EINTR)
                break;
        } else {
            int64_t wait_ns = until > now ? until - now : 0;
            struct timespec ts = { wait_ns / 1000000000, (long)(wait_ns % 1000000000) };
            if (ppoll(pfd, 1, &ts, NULL) < 0 && errno != EINTR)
                break;
        }
        if ((pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(c->pg))
            break;
    }
    ExecStatusType st = keep ? PQresultStatus(keep) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY) {
        *out = keep;
        return IMI_OK;
    }
    int rc = fail_res(c, keep, why, what);
    if (keep)
        PQclear(keep);
    return rc;
}

static int wait_result(pg_conn *c, const imi_ctx *ctx, PGresult **out, const char *what)
{
    c->ctx = ctx;   /* for the NOTICEs that arrive meanwhile (on_notice) */
    int rc = wait_result_in(c, ctx, out, what);
    c->ctx = NULL;
    return rc;
}

static int run_simple(pg_conn *c, const imi_ctx *ctx, const char *sql, PGresult **out)
{
    if (!PQsendQuery(c->pg, sql))
        return fail_res(c, NULL, 0, "send");
    PGresult *r = NULL;
    int rc = wait_result(c, ctx, &r, "statement");
    if (out)
        *out = r;
    else if (r)
        PQclear(r);
    return rc;
}

/* ---- prepared statements --------------------------------------------------------------- */

/* The SQL with each `?` mark made $1, $2 ... */
static char *rewrite(const imi_db_stmt *s)
{
    char *out = malloc(s->sql_len + s->n_params * 7 + 1);
    if (!out)
        return NULL;
    size_t o = 0, from = 0;
    for (size_t i = 0; i < s->n_params; i++) {
        memcpy(out + o, s->sql + from, s->marks[i] - from);
        o += s->marks[i] - from;
        o += (size_t)sprintf(out + o, "$%zu", i + 1);
        from = s->marks[i] + 1;
    }
    memcpy(out + o, s->sql + from, s->sql_len - from + 1);
    return out;
}

static void forget_stmt(pg_conn *c, pg_stmt *p)
{
    char sql[48];
    snprintf(sql, sizeof sql, "DEALLOCATE %s", p->name);
    run_simple(c, NULL, sql, NULL);
    free(p->id.sql);
    *p = c->stmts[--c->n_stmts];
}

/* The name of the prepared statement for s, preparing it on a miss. */
static int prepared(pg_conn *c, const imi_ctx *ctx, const imi_db_stmt *s, const char **name)
{
    db_stmt_probe probe = db_stmt_probe_of(s);
    for (size_t i = 0; i < c->n_stmts; i++) {
        pg_stmt *p = &c->stmts[i];
        if (db_stmt_id_is(&p->id, &probe)) {
            p->used = ++c->clock;
            *name = p->name;
            return IMI_OK;
        }
    }
    if (c->n_stmts >= c->st->cache_cap) {
        pg_stmt *lru = &c->stmts[0];
        for (size_t i = 1; i < c->n_stmts; i++)
            if (c->stmts[i].used < lru->used)
                lru = &c->stmts[i];
        forget_stmt(c, lru);
    }
    pg_stmt *grown = realloc(c->stmts, (c->n_stmts + 1) * sizeof *grown);
    if (!grown)
        return c->st->host->error(IMI_ENOMEM, 0, "out of memory");
    c->stmts = grown;
    pg_stmt *p = &c->stmts[c->n_stmts];
    p->used = ++c->clock;
    snprintf(p->name, sizeof p->name, "imi_%llu", (unsigned long long)++c->next_id);
    char *text = rewrite(s);
    if (!text || !db_stmt_id_set(&p->id, &probe)) {
        free(text);
        return c->st->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    int rc = PQsendPrepare(c->pg, p->name, text, (int)s->n_params, NULL)
                 ? IMI_OK : fail_res(c, NULL, 0, "prepare");
    free(text);
    PGresult *r = NULL;
    if (!rc)
        rc = wait_result(c, ctx, &r, "prepare");
    if (r)
        PQclear(r);
    if (rc) {
        free(p->id.sql);
        return rc;
    }
    c->n_stmts++;
    *name = p->name;
    return IMI_OK;
}

/* Writes v in decimal and its NUL at w; returns the byte after the NUL. (snprintf takes
 * ~300 instructions for what this does in ~40.) */
static char *int_text(char *w, int64_t v)
{
    char tmp[24], *t = tmp + sizeof tmp;
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do
        *--t = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--t = '-';
    size_t n = (size_t)(tmp + sizeof tmp - t);
    memcpy(w, t, n);
    w[n] = '\0';
    return w + n + 1;
}

/* Sends the values: text for all but bytea, which goes as binary. */
static int send_prepared(pg_conn *c, const char *name, const imi_db_stmt *s)
{
    enum { SMALL = 16 };
    const char *vals_s[SMALL];
    int lens_s[SMALL], fmts_s[SMALL];
    const char **vals = vals_s;
    int *lens = lens_s, *fmts = fmts_s;
    size_t n = s->n_params;
    if (n > SMALL) {
        vals = malloc(n * sizeof *vals);
        lens = malloc(n * sizeof *lens);
        fmts = malloc(n * sizeof *fmts);
    }
    /* Numbers are formatted into one scratch buffer; text gets a NUL-terminated copy. */
    size_t need = 0;
    for (size_t i = 0; i < n; i++)
        need += s->params[i].type == IMI_DB_TEXT ? s->params[i].v.s.len + 1 : 32;
    if (need > c->scratch_cap) {
        char *grown = realloc(c->scratch, need);
        if (grown) {
            c->scratch = grown;
            c->scratch_cap = need;
        }
    }
    int rc = IMI_OK;
    bool binary = false;
    if (!vals || !lens || !fmts || need > c->scratch_cap)
        rc = c->st->host->error(IMI_ENOMEM, 0, "out of memory");
    char *w = c->scratch;
    for (size_t i = 0; i < n && !rc; i++) {
        const imi_db_param *p = &s->params[i];
        fmts[i] = 0;
        lens[i] = 0;
        vals[i] = w;
        switch (p->type) {
        case IMI_DB_NULL: vals[i] = NULL; break;
        case IMI_DB_INT: w = int_text(w, p->v.i); break;
        case IMI_DB_BOOL: w += snprintf(w, 32, "%s", p->v.b ? "true" : "false") + 1; break;
        case IMI_DB_DOUBLE: w += snprintf(w, 32, "%.17g", p->v.d) + 1; break;
        case IMI_DB_TEXT:
            if (p->v.s.len && memchr(p->v.s.ptr, 0, p->v.s.len)) {
                rc = c->st->host->error(IMI_EINVALID, 0, "postgres: text parameter %zu holds "
                                        "a NUL byte (use a blob)", i + 1);
                break;
            }
            if (p->v.s.len)
                memcpy(w, p->v.s.ptr, p->v.s.len);
            w[p->v.s.len] = '\0';
            w += p->v.s.len + 1;
            break;
        case IMI_DB_BLOB:
            vals[i] = p->v.s.len ? p->v.s.ptr : "";
            lens[i] = (int)p->v.s.len;
            fmts[i] = 1;
            binary = true;
            break;
        }
    }
    /* All text: no lengths and no format codes, as libpq's callers usually send. */
    if (!rc && !PQsendQueryPrepared(c->pg, name, (int)n, vals, binary ? lens : NULL,
                                    binary ? fmts : NULL, 0))
        rc = fail_res(c, NULL, 0, "send");
    if (vals != vals_s) {
        free(vals);
        free(lens);
        free(fmts);
    }
    return rc;
}

/* Runs a statement without parameters through the extended protocol (unnamed, not
 * cached): the server parses it whole before running any of it and refuses several
 * statements (SQLSTATE 42601), so "SELECT 1; DROP TABLE t" runs nothing. */
static int run_one(pg_conn *c, const imi_ctx *ctx, const imi_db_stmt *s, PGresult **out)
{
    if (!PQsendQueryParams(c->pg, s->sql, 0, NULL, NULL, NULL, NULL, 0))
        return fail_res(c, NULL, 0, "send");
    int rc = wait_result(c, ctx, out, "statement");
    if (rc == IMI_EINVALID && !strcmp(c->last_state, "42601") &&
        strstr(PQerrorMessage(c->pg), "multiple commands"))
        rc = c->st->host->error(IMI_EINVALID, 42601, "postgres: the SQL holds more than one "
                                "statement (multi_statements = false)");
    return rc;
}

/* Runs s: without parameters, the simple protocol when multi_statements is on (it may
 * then be a script of several statements), else one statement; with parameters, the
 * cached prepared statement. A plan invalidated by a schema change is prepared again once. */
static int run(pg_conn *c, const imi_ctx *ctx, const imi_db_stmt *s, PGresult **out)
{
    if (s->n_params == 0)
        return c->st->multi_statements ? run_simple(c, ctx, s->sql, out)
                                       : run_one(c, ctx, s, out);
    for (int attempt = 0;; attempt++) {
        const char *name = NULL;
        int rc = prepared(c, ctx, s, &name);
        if (!rc)
            rc = send_prepared(c, name, s);
        if (!rc)
            rc = wait_result(c, ctx, out, "statement");
        if (rc != IMI_EINVALID || attempt > 0 || !name ||
            !strstr(PQerrorMessage(c->pg), "cached plan"))
            return rc;
        for (size_t i = 0; i < c->n_stmts; i++)
            if (!strcmp(c->stmts[i].name, name)) {
                forget_stmt(c, &c->stmts[i]);
                break;
            }
    }
}

static int pg_exec(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, int64_t *affected)
{
    pg_conn *c = conn;
    PGresult *r = NULL;
    int rc = run(c, ctx, s, &r);
    if (!rc) {
        const char *n = PQcmdTuples(r);
        *affected = n && *n ? strtoll(n, NULL, 10) : 0;
    }
    if (r)
        PQclear(r);
    return rc;
}

static int pg_query(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, void **out)
{
    pg_conn *c = conn;
    PGresult *r = NULL;
    int rc = run(c, ctx, s, &r);
    if (rc)
        return rc;
    c->res.c = c;
    c->res.res = r;
    c->res.n_rows = PQntuples(r);
    c->res.n_cols = PQnfields(r);
    c->res.row = -1;
    *out = &c->res;
    return IMI_OK;
}

static int pg_ping(void *conn, const imi_ctx *ctx)
{
    return run_simple(conn, ctx, "SELECT 1", NULL);
}

static int pg_begin(void *conn, const imi_ctx *ctx) { return run_simple(conn, ctx, "BEGIN", NULL); }

static int pg_commit(void *conn, const imi_ctx *ctx)
{
    pg_conn *c = conn;
    PGresult *r = NULL;
    int rc = run_simple(c, ctx, "COMMIT", &r);
    /* COMMIT of a failed transaction answers ROLLBACK without an error. */
    if (!rc && r && !strcmp(PQcmdStatus(r), "ROLLBACK"))
        rc = c->st->host->error(IMI_ECONFLICT, 0, "postgres: the transaction was rolled back");
    if (r)
        PQclear(r);
    return rc;
}

static int pg_rollback(void *conn, const imi_ctx *ctx)
{
    (void)ctx;
    pg_conn *c = conn;
    if (PQtransactionStatus(c->pg) == PQTRANS_IDLE)
        return IMI_OK;
    return run_simple(c, NULL, "ROLLBACK", NULL) ? IMI_EUNAVAILABLE : IMI_OK;
}

static bool pg_broken(void *conn)
{
    pg_conn *c = conn;
    return c->stuck || PQstatus(c->pg) != CONNECTION_OK ||
           PQtransactionStatus(c->pg) == PQTRANS_ACTIVE;
}

/* ---- results -------------------------------------------------------------------------- */

static size_t pg_r_columns(void *res) { return (size_t)((pg_res *)res)->n_cols; }
static const char *pg_r_column_name(void *res, size_t col)
{
    return PQfname(((pg_res *)res)->res, (int)col);
}

static int pg_r_next(void *res, const imi_ctx *ctx)
{
    (void)ctx;
    pg_res *r = res;
    if (r->row + 1 >= r->n_rows) {
        r->row = r->n_rows;
        return 0;
    }
    r->row++;
    return 1;
}

static imi_db_type pg_r_type(void *res, size_t col)
{
    pg_res *r = res;
    if (PQgetisnull(r->res, r->row, (int)col))
        return IMI_DB_NULL;
    switch (PQftype(r->res, (int)col)) {
    case 20: case 21: case 23: case 26: return IMI_DB_INT;      /* int8 int2 int4 oid */
    case 700: case 701: return IMI_DB_DOUBLE;                   /* float4 float8 */
    case 16: return IMI_DB_BOOL;
    case 17: return IMI_DB_BLOB;                                /* bytea */
    default: return IMI_DB_TEXT;
    }
}

static int pg_r_int(void *res, size_t col, int64_t *out)
{
    pg_res *r = res;
    const char *v = PQgetvalue(r->res, r->row, (int)col);
    if (PQftype(r->res, (int)col) == 16) {
        *out = v[0] == 't';
        return IMI_OK;
    }
    char *end;
    errno = 0;
    *out = strtoll(v, &end, 10);
    return *end || errno ? r->c->st->host->error(IMI_EINVALID, 0, "postgres: '%s' is no "
                                                 "integer", v) : IMI_OK;
}

static int pg_r_double(void *res, size_t col, double *out)
{
    pg_res *r = res;
    const char *v = PQgetvalue(r->res, r->row, (int)col);
    char *end;
    *out = strtod(v, &end);
    return *end ? r->c->st->host->error(IMI_EINVALID, 0, "postgres: '%s' is no number", v)
                : IMI_OK;
}

static int hexv(char ch)
{
    return ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                                              : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10 : -1;
}

static int pg_r_bytes(void *res, size_t col, const void **out, size_t *len)
{
    pg_res *r = res;
    const char *v = PQgetvalue(r->res, r->row, (int)col);
    size_t n = (size_t)PQgetlength(r->res, r->row, (int)col);
    if (PQftype(r->res, (int)col) != 17) {
        *out = v;
        *len = n;
        return IMI_OK;
    }
    /* bytea in text form: \x followed by hex digits (bytea_output = hex). */
    if (n < 2 || v[0] != '\\' || v[1] != 'x')
        return r->c->st->host->error(IMI_EDRIVER, 0, "postgres: bytea not in hex form "
                                     "(set bytea_output = hex)");
    size_t m = (n - 2) / 2;
    if (m + 1 > r->bytes_cap) {
        unsigned char *grown = realloc(r->bytes, m + 1);
        if (!grown)
            return r->c->st->host->error(IMI_ENOMEM, 0, "out of memory");
        r->bytes = grown;
        r->bytes_cap = m + 1;
    }
    for (size_t i = 0; i < m; i++)
        r->bytes[i] = (unsigned char)(hexv(v[2 + 2 * i]) << 4 | hexv(v[3 + 2 * i]));
    r->bytes[m] = 0;
    *out = r->bytes;
    *len = m;
    return IMI_OK;
}

static void pg_r_close(void *res)
{
    pg_res *r = res;
    PQclear(r->res);
    r->res = NULL;
}

static const imi_db_driver pg_vtable = {
    .size = sizeof(imi_db_driver),
    .dialect = "postgresql",
    .d_open = pg_open,
    .d_close = pg_close,
    .d_endpoint = pg_endpoint_info,
    .d_connect = pg_connect,
    .c_close = pg_c_close,
    .c_ping = pg_ping,
    .c_exec = pg_exec,
    .c_query = pg_query,
    .c_begin = pg_begin,
    .c_commit = pg_commit,
    .c_rollback = pg_rollback,
    .r_columns = pg_r_columns,
    .r_column_name = pg_r_column_name,
    .r_next = pg_r_next,
    .r_type = pg_r_type,
    .r_int = pg_r_int,
    .r_double = pg_r_double,
    .r_bytes = pg_r_bytes,
    .r_close = pg_r_close,
    .c_broken = pg_broken,
};

static const imi_driver_desc pg_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_DB,
    .name = "postgres",
    .version = "1.0.0",
    .description = "PostgreSQL through libpq: writer and readers, prepared statements",
    .caps = IMI_DB_CAP_TX | IMI_DB_CAP_READERS,
    .options = pg_options,
    .n_options = IMI_COUNT_OF(pg_options),
    .state_size = sizeof(pg_state),
    .vtable = &pg_vtable,
};

IMI_DRIVER_DEFINE(pg_desc)
