/* The scripted db mock driver: every call is checked against the expectations of the
 * script and answered as it says (rows, affected count, error, delay), and recorded.
 * See iminfra/db_mock.h for the script language. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mock.h"

enum { OPT_READERS, OPT_SCRIPT };

static const imi_option_spec mock_options[] = {
    [OPT_READERS] = { .name = "readers", .type = IMI_OPT_INT, .default_value = "0",
                      .help = "how many reader endpoints to pretend (reader1, reader2 ...)" },
    [OPT_SCRIPT] = { .name = "script", .type = IMI_OPT_PATH,
                     .help = "a file of script commands loaded at open (see iminfra/db_mock.h)" },
};

typedef struct mock_conn {
    mock_state *m;
    size_t endpoint;
} mock_conn;

typedef struct mock_res {
    mock_state *m;
    char **columns;
    size_t n_columns;
    mock_vals *rows;
    size_t n_rows;
    size_t at;                 /* 1-based index of the current row; 0 before the first */
} mock_res;

/* What an expectation answers, copied out under the lock. */
typedef struct mock_answer {
    int error;
    char text[256];
    int64_t delay_ms;
    int64_t affected;
    char **columns;
    size_t n_columns;
    mock_vals *rows;
    size_t n_rows;
} mock_answer;

static int load_script(mock_state *m, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return m->host->error(IMI_ECONFIG, 0, "mock: cannot read script %s", path);
    char line[4096];
    int rc = IMI_OK, n = 0;
    while (!rc && fgets(line, sizeof line, f)) {
        n++;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (!*p || *p == '#' || *p == ';')
            continue;
        char *arg = p + strcspn(p, " \t");
        if (*arg)
            *arg++ = '\0';
        rc = mock_command(m, p, arg);
        if (rc)
            m->host->error(IMI_ECONFIG, 0, "mock: %s:%d: bad command '%s'", path, n, p);
    }
    fclose(f);
    return rc ? IMI_ECONFIG : IMI_OK;
}

static int mock_open(void *st, const imi_driver_env *env)
{
    mock_state *m = st;
    m->host = env->host;
    m->env = env;
    m->ordered = true;
    pthread_mutex_init(&m->mu, NULL);
    int64_t readers = env->opts[OPT_READERS].i;
    if (readers < 0 || readers > 64)
        return m->host->error(IMI_ECONFIG, 0, "mock: readers must be 0..64");
    m->readers = (unsigned)readers;
    if (env->opts[OPT_SCRIPT].set && env->opts[OPT_SCRIPT].str && *env->opts[OPT_SCRIPT].str)
        return load_script(m, env->opts[OPT_SCRIPT].str);
    return IMI_OK;
}

static void forget(mock_state *m)
{
    for (size_t i = 0; i < m->n_ex; i++)
        mock_expect_free(&m->ex[i]);
    free(m->ex);
    free(m->calls);
    free(m->unexpected);
    m->ex = NULL;
    m->n_ex = 0;
    m->calls = m->unexpected = NULL;
    m->calls_len = m->unexpected_len = 0;
}

static void mock_close(void *st)
{
    mock_state *m = st;
    if (!m->host)
        return;
    forget(m);
    pthread_mutex_destroy(&m->mu);
}

static int mock_endpoint(void *st, size_t i, imi_db_endpoint_info *info)
{
    static const char *const names[] = { "mock", "reader1", "reader2", "reader3", "reader4" };
    mock_state *m = st;
    if (i > m->readers)
        return IMI_ENOTFOUND;
    info->name = i < 5 ? names[i] : "reader";
    return IMI_OK;
}

static int mock_connect(void *st, const imi_ctx *ctx, size_t endpoint, void **out)
{
    (void)ctx;
    mock_state *m = st;
    mock_conn *c = calloc(1, sizeof *c);
    if (!c)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    c->m = m;
    c->endpoint = endpoint;
    pthread_mutex_lock(&m->mu);
    m->opened++;
    pthread_mutex_unlock(&m->mu);
    *out = c;
    return IMI_OK;
}

static void mock_c_close(void *st, void *conn)
{
    mock_state *m = st;
    pthread_mutex_lock(&m->mu);
    m->closed++;
    pthread_mutex_unlock(&m->mu);
    free(conn);
}

static int mock_ping(void *conn, const imi_ctx *ctx)
{
    (void)conn;
    (void)ctx;
    return IMI_OK;
}

/* Finds the expectation a call meets (under the lock) and copies its answer. */
static int match(mock_conn *c, mock_call call, const imi_db_stmt *s, mock_answer *a)
{
    mock_state *m = c->m;
    bool reader = c->endpoint > 0;
    const char *sql = s ? s->sql : "";
    char *norm = s ? mock_normalize_sql(s->sql, s->sql_len) : NULL;
    if (s && !norm)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    const imi_db_param *p = s ? s->params : NULL;
    size_t n = s ? s->n_params : 0;
    pthread_mutex_lock(&m->mu);
    mock_describe_call(&m->calls, &m->calls_len, call, reader, norm ? norm : sql, p, n);
    mock_expect *found = NULL, *next = NULL;
    for (size_t i = 0; i < m->n_ex && !found; i++) {
        mock_expect *e = &m->ex[i];
        if (e->met)
            continue;
        if (!next)
            next = e;
        if (mock_expect_matches(e, call, norm, sql, p, n, reader))
            found = e;
        else if (m->ordered)
            break;
    }
    int rc = IMI_OK;
    if (found) {
        found->met = true;
        *a = (mock_answer){ .error = found->error, .delay_ms = found->delay_ms,
                            .affected = found->affected, .columns = found->columns,
                            .n_columns = found->n_columns, .rows = found->rows,
                            .n_rows = found->n_rows };
        snprintf(a->text, sizeof a->text, "%s", found->error_text ? found->error_text : "");
    } else {
        mock_describe_call(&m->unexpected, &m->unexpected_len, call, reader, norm ? norm : sql,
                           p, n);
        char *what = NULL, *want = NULL;
        size_t wl = 0, nl = 0;
        mock_describe_call(&what, &wl, call, reader, norm ? norm : sql, p, n);
        if (next)
            mock_describe_expect(&want, &nl, next);
        if (what && wl)
            what[wl - 1] = '\0';
        if (want && nl)
            want[nl - 1] = '\0';
        rc = m->host->error(IMI_EINVALID, 0, "mock: unexpected call %s; expected %s",
                            what ? what : "?", want ? want : "nothing more");
        free(what);
        free(want);
    }
    pthread_mutex_unlock(&m->mu);
    free(norm);
    return rc;
}

/* Waits out a scripted delay within the call's ctx. */
static int wait_delay(mock_state *m, const imi_ctx *ctx, int64_t delay_ms)
{
    const imi_host_api *h = m->host;
    int64_t now = h->mono_ns();
    int64_t until = now + delay_ms * 1000000;
    int64_t deadline = now + h->ctx_remaining_ms(ctx, m->env->default_timeout_ms) * 1000000;
    while ((now = h->mono_ns()) < until) {
        if (h->ctx_canceled(ctx))
            return h->error(IMI_ECANCELED, 0, "mock: canceled during a scripted delay");
        if (now >= deadline)
            return h->error(IMI_ETIMEDOUT, 0, "mock: deadline passed during a scripted delay");
        int64_t step = until - now < 5000000 ? until - now : 5000000;
        struct timespec ts = { 0, (long)step };
        nanosleep(&ts, NULL);
    }
    return IMI_OK;
}

static int respond(mock_conn *c, const imi_ctx *ctx, mock_call call, const imi_db_stmt *s,
                   mock_answer *a)
{
    int rc = match(c, call, s, a);
    if (!rc && a->delay_ms)
        rc = wait_delay(c->m, ctx, a->delay_ms);
    if (!rc && a->error)
        rc = c->m->host->error(a->error, 0, "mock: %s", a->text);
    return rc;
}

static int mock_exec(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, int64_t *affected)
{
    mock_answer a;
    int rc = respond(conn, ctx, MC_EXEC, s, &a);
    if (!rc)
        *affected = a.affected;
    return rc;
}

static int mock_query(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, void **out)
{
    mock_conn *c = conn;
    mock_answer a;
    int rc = respond(c, ctx, MC_QUERY, s, &a);
    if (rc)
        return rc;
    mock_res *r = calloc(1, sizeof *r);
    if (!r)
        return c->m->host->error(IMI_ENOMEM, 0, "out of memory");
    *r = (mock_res){ .m = c->m, .columns = a.columns, .n_columns = a.n_columns,
                     .rows = a.rows, .n_rows = a.n_rows };
    *out = r;
    return IMI_OK;
}

static int mock_begin(void *conn, const imi_ctx *ctx)
{
    mock_answer a;
    return respond(conn, ctx, MC_BEGIN, NULL, &a);
}

static int mock_commit(void *conn, const imi_ctx *ctx)
{
    mock_answer a;
    return respond(conn, ctx, MC_COMMIT, NULL, &a);
}

static int mock_rollback(void *conn, const imi_ctx *ctx)
{
    mock_answer a;
    return respond(conn, ctx, MC_ROLLBACK, NULL, &a);
}

static size_t mock_r_columns(void *res) { return ((mock_res *)res)->n_columns; }
static const char *mock_r_column_name(void *res, size_t col)
{
    return ((mock_res *)res)->columns[col];
}

static int mock_r_next(void *res, const imi_ctx *ctx)
{
    mock_res *r = res;
    if (r->m->host->ctx_err(ctx))
        return r->m->host->ctx_err(ctx);
    if (r->at >= r->n_rows)
        return 0;
    r->at++;
    return 1;
}

static const mock_val *cell(void *res, size_t col)
{
    mock_res *r = res;
    return &r->rows[r->at - 1].v[col];
}

static imi_db_type mock_r_type(void *res, size_t col) { return cell(res, col)->type; }

static int mock_r_int(void *res, size_t col, int64_t *out)
{
    *out = cell(res, col)->i;
    return IMI_OK;
}

static int mock_r_double(void *res, size_t col, double *out)
{
    *out = cell(res, col)->d;
    return IMI_OK;
}

static int mock_r_bytes(void *res, size_t col, const void **out, size_t *len)
{
    const mock_val *v = cell(res, col);
    *out = v->s ? v->s : "";
    *len = v->len;
    return IMI_OK;
}

static void mock_r_close(void *res) { free(res); }

static int report(mock_state *m, imi_buf *out, const char *text, size_t len)
{
    if (out)
        return m->host->buf_set(out, text ? text : "", text ? len : 0);
    return IMI_OK;
}

static int mock_control(void *st, const char *cmd, const char *arg, imi_buf *out)
{
    mock_state *m = st;
    pthread_mutex_lock(&m->mu);
    int rc = IMI_OK;
    char *text = NULL;
    size_t len = 0;
    if (!strcmp(cmd, "verify") || !strcmp(cmd, "unmet")) {
        bool verify = !strcmp(cmd, "verify");
        for (size_t i = 0; i < m->n_ex; i++) {
            if (m->ex[i].met)
                continue;
            mock_append(&text, &len, "%s", verify ? "unmet: " : "");
            mock_describe_expect(&text, &len, &m->ex[i]);
        }
        if (verify && m->unexpected_len)
            mock_append(&text, &len, "unexpected: %s", m->unexpected);
        rc = report(m, out, text, len);
        if (!rc && verify && len)
            rc = m->host->error(IMI_ECONFLICT, 0, "mock: the script was not met: %s", text);
    } else if (!strcmp(cmd, "calls")) {
        rc = report(m, out, m->calls, m->calls_len);
    } else if (!strcmp(cmd, "unexpected")) {
        rc = report(m, out, m->unexpected, m->unexpected_len);
    } else if (!strcmp(cmd, "conns")) {
        mock_append(&text, &len, "opened %u closed %u", m->opened, m->closed);
        rc = report(m, out, text, len);
    } else if (!strcmp(cmd, "reset")) {
        forget(m);
        m->ordered = true;
    } else {
        rc = mock_command(m, cmd, arg);
    }
    pthread_mutex_unlock(&m->mu);
    free(text);
    return rc;
}

static const imi_db_driver mock_vtable = {
    .size = sizeof(imi_db_driver),
    .dialect = "mock",
    .d_open = mock_open,
    .d_close = mock_close,
    .d_endpoint = mock_endpoint,
    .d_connect = mock_connect,
    .c_close = mock_c_close,
    .c_ping = mock_ping,
    .c_exec = mock_exec,
    .c_query = mock_query,
    .c_begin = mock_begin,
    .c_commit = mock_commit,
    .c_rollback = mock_rollback,
    .r_columns = mock_r_columns,
    .r_column_name = mock_r_column_name,
    .r_next = mock_r_next,
    .r_type = mock_r_type,
    .r_int = mock_r_int,
    .r_double = mock_r_double,
    .r_bytes = mock_r_bytes,
    .r_close = mock_r_close,
    .d_control = mock_control,
};

static const imi_driver_desc mock_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_DB,
    .name = "mock",
    .version = "1.0.0",
    .description = "scripted expectations for unit tests (like sqlmock)",
    .caps = IMI_DB_CAP_TX | IMI_DB_CAP_READERS | IMI_DB_CAP_CONTROL,
    .options = mock_options,
    .n_options = IMI_COUNT_OF(mock_options),
    .state_size = sizeof(mock_state),
    .vtable = &mock_vtable,
};

IMI_DRIVER_DEFINE(mock_desc)
