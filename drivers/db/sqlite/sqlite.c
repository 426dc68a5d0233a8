/* The sqlite db driver: a database file (or :memory:) as the writer and other files as
 * read-only readers. Each connection caches its prepared statements; a progress handler
 * stops a statement at the ctx deadline or cancel; the busy timeout waits out other
 * writers. sqlite takes the `?` placeholders of the common style as they are. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "iminfra/driver/db_driver.h"
#include "../stmt_id.h"

enum { OPT_PATH, OPT_READERS, OPT_BUSY_TIMEOUT, OPT_WAL, OPT_SYNCHRONOUS, OPT_STMT_CACHE,
       OPT_FOREIGN_KEYS, OPT_MULTI_STATEMENTS };

static const imi_option_spec sqlite_options[] = {
    [OPT_PATH] = { .name = "path", .type = IMI_OPT_PATH, .flags = IMI_OPT_REQUIRED,
                   .help = "the writer's database file (created when missing), or :memory:" },
    [OPT_READERS] = { .name = "readers", .type = IMI_OPT_LIST, .default_value = "",
                      .help = "database files opened read-only as readers (comma-separated)" },
    [OPT_BUSY_TIMEOUT] = { .name = "busy_timeout", .type = IMI_OPT_DURATION,
                           .default_value = "5s",
                           .help = "how long a statement waits for another writer's lock" },
    [OPT_WAL] = { .name = "wal", .type = IMI_OPT_BOOL, .default_value = "true",
                  .help = "put a database file in WAL mode (readers don't block the writer)" },
    [OPT_SYNCHRONOUS] = { .name = "synchronous", .type = IMI_OPT_STRING,
                          .default_value = "normal",
                          .help = "PRAGMA synchronous: off, normal, full or extra" },
    [OPT_STMT_CACHE] = { .name = "stmt_cache", .type = IMI_OPT_INT, .default_value = "64",
                         .help = "prepared statements cached per connection" },
    [OPT_FOREIGN_KEYS] = { .name = "foreign_keys", .type = IMI_OPT_BOOL,
                           .default_value = "true", .help = "enforce foreign keys" },
    [OPT_MULTI_STATEMENTS] = { .name = "multi_statements", .type = IMI_OPT_BOOL,
                               .default_value = "false",
                               .help = "let an exec without parameters run several statements "
                                       "separated by ';' (off: such SQL is refused with "
                                       "IMI_EINVALID before any of it runs)" },
};

typedef struct sq_state {
    const imi_driver_env *env;
    const imi_host_api *host;
    char **paths;                  /* [0] writer, [1..] readers */
    size_t n_paths;
    int busy_ms;
    bool wal, foreign_keys, multi_statements;
    char synchronous[16];
    size_t cache_cap;
} sq_state;

typedef struct sq_cached {
    db_stmt_id id;                 /* unset in the scratch entry of an uncached statement */
    uint64_t bool_cols;            /* bit i: column i is declared BOOLEAN */
    uint64_t used;                 /* LRU clock */
    sqlite3_stmt *stmt;
    bool bound_bytes;              /* text or blob parameters are bound: clear them after */
} sq_cached;

typedef struct sq_conn sq_conn;

/* sq_conn.deadline_ns of a statement under the default timeout, before a handler ran. */
#define SQ_DEADLINE_LATER INT64_MIN

/* The one result a connection can have open (the core never asks for two). */
typedef struct sq_res {
    sq_conn *c;
    sq_cached *q;
    int n_cols;
    bool pending;                  /* the first row was stepped by c_query */
    bool done;
    int typed_col, typed;          /* the column r_type looked at last and its sqlite type */
    sqlite3_value *typed_v;        /* and its value, until the next step or reset */
} sq_res;

struct sq_conn {
    sq_state *st;
    sqlite3 *db;
    size_t endpoint;
    sq_cached *cache;
    size_t n_cached;
    size_t last;                   /* the cache entry used last: checked before hashing */
    uint64_t clock;
    const imi_ctx *ctx;            /* of the statement running, for the progress handler */
    int64_t deadline_ns;           /* 0: don't interrupt; SQ_DEADLINE_LATER: see arm */
    int64_t busy_since_ns;
    sq_res res;
};

/* ---- errors --------------------------------------------------------------------------- */

static int map_code(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_CONSTRAINT: return IMI_ECONFLICT;
    case SQLITE_BUSY: case SQLITE_LOCKED: return IMI_ECONFLICT;
    case SQLITE_ERROR: case SQLITE_RANGE: case SQLITE_MISMATCH: case SQLITE_TOOBIG:
    case SQLITE_READONLY: case SQLITE_AUTH: return IMI_EINVALID;
    case SQLITE_NOMEM: return IMI_ENOMEM;
    case SQLITE_IOERR: case SQLITE_CORRUPT: case SQLITE_NOTADB: case SQLITE_CANTOPEN:
    case SQLITE_FULL: case SQLITE_PROTOCOL: return IMI_EUNAVAILABLE;
    default: return IMI_EDRIVER;
    }
}

/* The error of the last call on c, with the interrupt turned into the ctx's reason. */
static int fail(sq_conn *c, int rc, const char *what)
{
    const imi_host_api *h = c->st->host;
    if ((rc & 0xff) == SQLITE_INTERRUPT) {
        if (h->ctx_canceled(c->ctx))
            return h->error(IMI_ECANCELED, rc, "sqlite: %s: canceled", what);
        return h->error(IMI_ETIMEDOUT, rc, "sqlite: %s: deadline exceeded", what);
    }
    return h->error(map_code(rc), sqlite3_extended_errcode(c->db), "sqlite: %s: %s", what,
                    sqlite3_errmsg(c->db));
}

/* ---- driver --------------------------------------------------------------------------- */

static void free_paths(sq_state *s)
{
    for (size_t i = 0; i < s->n_paths; i++)
        free(s->paths[i]);
    free(s->paths);
    s->paths = NULL;
    s->n_paths = 0;
}

static int add_path(sq_state *s, const char *p, size_t n)
{
    const char *dir = s->env->config_dir;
    bool rel = p[0] != '/' && p[0] != ':' && dir && *dir;
    size_t need = n + (rel ? strlen(dir) + 1 : 0) + 1;
    char *out = malloc(need);
    char **grown = realloc(s->paths, (s->n_paths + 1) * sizeof *grown);
    if (!out || !grown) {
        free(out);
        if (grown)
            s->paths = grown;
        return s->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    s->paths = grown;
    if (rel)
        snprintf(out, need, "%s/%.*s", dir, (int)n, p);
    else
        snprintf(out, need, "%.*s", (int)n, p);
    s->paths[s->n_paths++] = out;
    return IMI_OK;
}

/* A database file must be in a folder that exists: say so at open, not at first use. */
static int check_dir(sq_state *s, const char *path, const char *opt)
{
    if (path[0] == ':')
        return IMI_OK;
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path)
        return IMI_OK;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    struct stat sb;
    if (stat(dir, &sb) || !S_ISDIR(sb.st_mode))
        return s->host->error(IMI_ECONFIG, errno, "sqlite: %s '%s': folder %s does not exist",
                              opt, path, dir);
    return IMI_OK;
}

static int sqlite_open(void *state, const imi_driver_env *env)
{
    sq_state *s = state;
    s->env = env;
    s->host = env->host;
    const imi_opt_value *o = env->opts;
    if (!o[OPT_PATH].str || !*o[OPT_PATH].str)
        return s->host->error(IMI_ECONFIG, 0, "sqlite: path is empty");
    int rc = add_path(s, o[OPT_PATH].str, strlen(o[OPT_PATH].str));
    if (!rc)
        rc = check_dir(s, s->paths[0], "path");
    for (const char *p = o[OPT_READERS].str; !rc && p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *b = p, *e = p + n;
        while (b < e && (*b == ' ' || *b == '\t'))
            b++;
        while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
            e--;
        if (e > b && !(rc = add_path(s, b, (size_t)(e - b))))
            rc = check_dir(s, s->paths[s->n_paths - 1], "readers");
        p = comma ? comma + 1 : p + n;
    }
    if (rc)
        return rc;
    if (o[OPT_BUSY_TIMEOUT].i < 0 || o[OPT_BUSY_TIMEOUT].i > INT_MAX)
        return s->host->error(IMI_ECONFIG, 0, "sqlite: busy_timeout out of range");
    s->busy_ms = (int)o[OPT_BUSY_TIMEOUT].i;
    s->wal = o[OPT_WAL].i != 0;
    s->foreign_keys = o[OPT_FOREIGN_KEYS].i != 0;
    static const char *const sync_modes[] = { "off", "normal", "full", "extra" };
    bool known = false;
    for (size_t i = 0; i < 4; i++)
        known |= !strcasecmp(o[OPT_SYNCHRONOUS].str, sync_modes[i]);
    if (!known)
        return s->host->error(IMI_ECONFIG, 0, "sqlite: synchronous = '%s' is not off, normal, "
                              "full or extra", o[OPT_SYNCHRONOUS].str);
    snprintf(s->synchronous, sizeof s->synchronous, "%s", o[OPT_SYNCHRONOUS].str);
    if (o[OPT_STMT_CACHE].i < 0 || o[OPT_STMT_CACHE].i > 4096)
        return s->host->error(IMI_ECONFIG, 0, "sqlite: stmt_cache must be 0..4096");
    s->cache_cap = (size_t)o[OPT_STMT_CACHE].i;
    s->multi_statements = o[OPT_MULTI_STATEMENTS].i != 0;
    return IMI_OK;
}

static void sqlite_close(void *state)
{
    free_paths(state);
}

static int sqlite_endpoint(void *state, size_t i, imi_db_endpoint_info *info)
{
    sq_state *s = state;
    if (i >= s->n_paths)
        return IMI_ENOTFOUND;
    info->name = s->paths[i];
    /* Every connection to :memory: is a database of its own: one connection shares it. */
    info->max_conns = !strcmp(s->paths[i], ":memory:") ? 1 : 0;
    return IMI_OK;
}

/* The deadline of the statement running, fixed at the first look when it is the default
 * timeout (see arm). */
static int64_t deadline_at(sq_conn *c, int64_t now)
{
    if (c->deadline_ns == SQ_DEADLINE_LATER)
        c->deadline_ns = now + c->st->env->default_timeout_ms * 1000000;
    return c->deadline_ns;
}

/* Stops a running statement at the deadline or on cancel (SQLITE_INTERRUPT). */
static int progress(void *arg)
{
    sq_conn *c = arg;
    if (!c->deadline_ns)
        return 0;
    const imi_host_api *h = c->st->host;
    int64_t now = h->mono_ns();
    return now >= deadline_at(c, now) || h->ctx_canceled(c->ctx);
}

/* Before a statement: the ctx's deadline is absolute and needs no clock. Without one the
 * default timeout starts when the progress or busy handler first runs (after 1000
 * virtual machine steps, or at the first lock wait: microseconds in), so a short
 * statement, where neither runs, reads no clock at all. */
static void arm(sq_conn *c, const imi_ctx *ctx)
{
    int64_t d = c->st->host->ctx_deadline_ns(ctx);
    c->ctx = ctx;
    c->deadline_ns = d ? d : SQ_DEADLINE_LATER;
}

static void disarm(sq_conn *c)
{
    c->ctx = NULL;
    c->deadline_ns = 0;
}

static int run_simple(sq_conn *c, const char *sql)
{
    int rc = sqlite3_exec(c->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? IMI_OK : fail(c, rc, sql);
}

/* Waits for another connection's lock: up to busy_timeout, and never past the deadline
 * of the statement that waits. */
static int busy_wait(void *arg, int count)
{
    sq_conn *c = arg;
    const imi_host_api *h = c->st->host;
    int64_t now = h->mono_ns();
    if (count == 0)
        c->busy_since_ns = now;
    if (now - c->busy_since_ns >= (int64_t)c->st->busy_ms * 1000000 ||
        (c->deadline_ns && now >= deadline_at(c, now)) || h->ctx_canceled(c->ctx))
        return 0;
    int us = count < 10 ? 100 * (count + 1) : 2000;
    struct timespec ts = { 0, us * 1000L };
    nanosleep(&ts, NULL);
    return 1;
}

static void sqlite_c_close(void *state, void *conn);

static int sqlite_connect(void *state, const imi_ctx *ctx, size_t endpoint, void **out)
{
    (void)ctx;
    sq_state *s = state;
    sq_conn *c = calloc(1, sizeof *c);
    if (!c)
        return s->host->error(IMI_ENOMEM, 0, "out of memory");
    c->st = s;
    c->endpoint = endpoint;
    int flags = SQLITE_OPEN_NOMUTEX | (endpoint ? SQLITE_OPEN_READONLY
                                                : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    int rc = sqlite3_open_v2(s->paths[endpoint], &c->db, flags, NULL);
    if (rc != SQLITE_OK) {
        int code = map_code(rc);
        s->host->error(code == IMI_EINVALID ? IMI_EUNAVAILABLE : code, rc,
                       "sqlite: open %s: %s", s->paths[endpoint],
                       c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        sqlite3_close_v2(c->db);
        free(c);
        return code == IMI_EINVALID ? IMI_EUNAVAILABLE : code;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_handler(c->db, busy_wait, c);
    sqlite3_progress_handler(c->db, 1000, progress, c);
    char pragma[96];
    rc = IMI_OK;
    if (!endpoint && s->wal && strcmp(s->paths[0], ":memory:"))
        rc = run_simple(c, "PRAGMA journal_mode=WAL");
    if (!rc) {
        snprintf(pragma, sizeof pragma, "PRAGMA synchronous=%s", s->synchronous);
        rc = run_simple(c, pragma);
    }
    if (!rc && s->foreign_keys)
        rc = run_simple(c, "PRAGMA foreign_keys=ON");
    if (rc) {
        sqlite_c_close(s, c);
        return rc == IMI_EINVALID ? s->host->error(IMI_EUNAVAILABLE, 0, "sqlite: %s: cannot "
                                                   "set up the connection", s->paths[endpoint])
                                  : rc;
    }
    *out = c;
    return IMI_OK;
}

static void sqlite_c_close(void *state, void *conn)
{
    (void)state;
    sq_conn *c = conn;
    for (size_t i = 0; i < c->n_cached; i++) {
        sqlite3_finalize(c->cache[i].stmt);
        free(c->cache[i].id.sql);
    }
    free(c->cache);
    sqlite3_close_v2(c->db);
    free(c);
}

/* ---- statements ----------------------------------------------------------------------- */

static uint64_t bool_columns(sqlite3_stmt *stmt)
{
    uint64_t mask = 0;
    int n = sqlite3_column_count(stmt);
    for (int i = 0; i < n && i < 64; i++) {
        const char *t = sqlite3_column_decltype(stmt, i);
        if (t && strcasestr(t, "BOOL"))
            mask |= 1ull << i;
    }
    return mask;
}

/* Past blanks, comments and empty statements (';'): what is left is another statement. */
static const char *skip_blank(const char *t)
{
    while (t && *t) {
        if (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r' || *t == '\f' || *t == ';') {
            t++;
        } else if (t[0] == '-' && t[1] == '-') {
            t += strcspn(t, "\n");
        } else if (t[0] == '/' && t[1] == '*') {
            const char *end = strstr(t + 2, "*/");
            t = end ? end + 2 : t + strlen(t);   /* sqlite ends an open comment at the end */
        } else {
            break;
        }
    }
    return t;
}

/* The cached statement for s, prepared on a miss (evicting the least recently used).
 * *tail is true when the SQL holds more than one statement (it is then not cached). */
static int prepare(sq_conn *c, const imi_db_stmt *s, sq_cached **out, sq_cached *scratch,
                   const char **tail)
{
    db_stmt_probe probe = db_stmt_probe_of(s);
    /* A loop running one statement finds it here with one compare, without the hash. */
    if (c->last < c->n_cached && db_stmt_id_same(&c->cache[c->last].id, &probe)) {
        sq_cached *e = &c->cache[c->last];
        e->used = ++c->clock;
        *out = e;
        *tail = NULL;
        return IMI_OK;
    }
    for (size_t i = 0; i < c->n_cached; i++) {
        sq_cached *e = &c->cache[i];
        if (db_stmt_id_is(&e->id, &probe)) {
            e->used = ++c->clock;
            c->last = i;
            *out = e;
            *tail = NULL;
            return IMI_OK;
        }
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v3(c->db, s->sql, (int)s->sql_len, SQLITE_PREPARE_PERSISTENT,
                                &stmt, tail);
    if (rc != SQLITE_OK)
        return fail(c, rc, "prepare");
    if (!stmt)
        return c->st->host->error(IMI_EINVALID, 0, "sqlite: the SQL holds no statement");
    if (sqlite3_bind_parameter_count(stmt) != (int)s->n_params) {
        sqlite3_finalize(stmt);
        return c->st->host->error(IMI_EINVALID, 0, "sqlite: the statement has parameters "
                                  "other than `?` (use only the `?` style)");
    }
    const char *t = skip_blank(*tail);
    bool multi = t && *t;
    *tail = multi ? t : NULL;
    sq_cached *e = scratch;
    db_stmt_id id;
    /* The copy of the text first: without memory the statement runs uncached. */
    if (!multi && c->st->cache_cap && db_stmt_id_set(&id, &probe)) {
        if (c->n_cached < c->st->cache_cap) {
            sq_cached *grown = realloc(c->cache, (c->n_cached + 1) * sizeof *grown);
            if (grown) {
                c->cache = grown;
                e = &c->cache[c->n_cached++];
            }
        } else {
            e = &c->cache[0];
            for (size_t i = 1; i < c->n_cached; i++)
                if (c->cache[i].used < e->used)
                    e = &c->cache[i];
            sqlite3_finalize(e->stmt);
            free(e->id.sql);
        }
        if (e == scratch) {
            free(id.sql);
        } else {
            *e = (sq_cached){ .id = id };
            c->last = (size_t)(e - c->cache);
        }
    }
    e->stmt = stmt;
    e->used = ++c->clock;
    e->bool_cols = bool_columns(stmt);
    *out = e;
    return IMI_OK;
}

/* Every call binds all parameters anew, so only text and blobs need clearing: a copy to
 * free (queries), a pointer into the caller's memory not to keep (exec). */
static void unbind(sq_cached *e)
{
    if (e->bound_bytes) {
        sqlite3_clear_bindings(e->stmt);
        e->bound_bytes = false;
    }
}

/* Done with a statement: cached ones are reset for reuse, the rest finalized. */
static void done_with(sq_cached *e, sq_cached *scratch)
{
    if (e == scratch) {
        sqlite3_finalize(e->stmt);
        e->stmt = NULL;
    } else {
        sqlite3_reset(e->stmt);
        unbind(e);
    }
}

static int bind_all(sq_conn *c, sq_cached *e, const imi_db_stmt *s, bool copy)
{
    sqlite3_stmt *stmt = e->stmt;
    sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
    for (size_t i = 0; i < s->n_params; i++) {
        const imi_db_param *p = &s->params[i];
        int at = (int)i + 1, rc = SQLITE_OK;
        switch (p->type) {
        case IMI_DB_NULL: rc = sqlite3_bind_null(stmt, at); break;
        case IMI_DB_INT: rc = sqlite3_bind_int64(stmt, at, p->v.i); break;
        case IMI_DB_BOOL: rc = sqlite3_bind_int64(stmt, at, p->v.b ? 1 : 0); break;
        case IMI_DB_DOUBLE: rc = sqlite3_bind_double(stmt, at, p->v.d); break;
        case IMI_DB_TEXT:
            e->bound_bytes = true;
            rc = sqlite3_bind_text64(stmt, at, p->v.s.ptr ? p->v.s.ptr : "", p->v.s.len, how,
                                     SQLITE_UTF8);
            break;
        case IMI_DB_BLOB:
            e->bound_bytes = true;
            rc = sqlite3_bind_blob64(stmt, at, p->v.s.ptr ? p->v.s.ptr : "", p->v.s.len, how);
            break;
        }
        if (rc != SQLITE_OK)
            return fail(c, rc, "bind");
    }
    return IMI_OK;
}

/* Runs the statements after the first one of a multi-statement exec (no parameters). */
static int exec_rest(sq_conn *c, const char *tail, int64_t *affected)
{
    while (tail && *tail) {
        sqlite3_stmt *stmt = NULL;
        int rc = sqlite3_prepare_v2(c->db, tail, -1, &stmt, &tail);
        if (rc != SQLITE_OK)
            return fail(c, rc, "prepare");
        if (!stmt)
            break;
        while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
            ;
        sqlite3_finalize(stmt);
        if (rc != SQLITE_DONE)
            return fail(c, rc, "exec");
        *affected += sqlite3_changes64(c->db);
    }
    return IMI_OK;
}

static int sqlite_exec(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, int64_t *affected)
{
    sq_conn *c = conn;
    sq_cached scratch = { 0 }, *e;
    const char *tail;
    int rc = prepare(c, s, &e, &scratch, &tail);
    if (rc)
        return rc;
    /* Refused before the first statement steps, so nothing of it runs. */
    if (tail && !c->st->multi_statements) {
        done_with(e, &scratch);
        return c->st->host->error(IMI_EINVALID, 0, "sqlite: the SQL holds more than one "
                                  "statement (multi_statements = false)");
    }
    if (tail && s->n_params) {
        done_with(e, &scratch);
        return c->st->host->error(IMI_EINVALID, 0, "sqlite: one statement per call when it "
                                  "has parameters");
    }
    arm(c, ctx);
    if (!(rc = bind_all(c, e, s, false))) {
        int src;
        while ((src = sqlite3_step(e->stmt)) == SQLITE_ROW)
            ;
        if (src != SQLITE_DONE)
            rc = fail(c, src, "exec");
        else
            *affected = sqlite3_changes64(c->db);
    }
    done_with(e, &scratch);
    if (!rc && tail)
        rc = exec_rest(c, tail, affected);
    disarm(c);
    return rc;
}

static int sqlite_query(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, void **out)
{
    sq_conn *c = conn;
    sq_cached scratch = { 0 }, *e;
    const char *tail;
    int rc = prepare(c, s, &e, &scratch, &tail);
    if (rc)
        return rc;
    if (tail || e == &scratch) {
        /* A result outlives this call: it needs a cached statement. */
        done_with(e, &scratch);
        return c->st->host->error(tail ? IMI_EINVALID : IMI_ENOMEM, 0, "sqlite: %s",
                                  tail ? "a query is one statement" : "statement cache is off "
                                  "or full (stmt_cache)");
    }
    arm(c, ctx);
    /* Parameters are copied: later steps of the result run after this call returns. */
    if ((rc = bind_all(c, e, s, true))) {
        done_with(e, &scratch);
        disarm(c);
        return rc;
    }
    int src = sqlite3_step(e->stmt);
    if (src != SQLITE_ROW && src != SQLITE_DONE) {
        rc = fail(c, src, "query");
        done_with(e, &scratch);
        disarm(c);
        return rc;
    }
    disarm(c);
    c->res = (sq_res){ .c = c, .q = e, .n_cols = sqlite3_column_count(e->stmt),
                       .pending = src == SQLITE_ROW, .done = src == SQLITE_DONE,
                       .typed_col = -1 };
    *out = &c->res;
    return IMI_OK;
}

static int sqlite_ping(void *conn, const imi_ctx *ctx)
{
    sq_conn *c = conn;
    arm(c, ctx);
    int rc = run_simple(c, "SELECT count(*) FROM sqlite_master");
    disarm(c);
    return rc;
}

static int sqlite_begin(void *conn, const imi_ctx *ctx)
{
    sq_conn *c = conn;
    arm(c, ctx);
    int rc = run_simple(c, "BEGIN IMMEDIATE");
    disarm(c);
    return rc;
}

static int sqlite_commit(void *conn, const imi_ctx *ctx)
{
    sq_conn *c = conn;
    arm(c, ctx);
    int rc = run_simple(c, "COMMIT");
    disarm(c);
    return rc;
}

static int sqlite_rollback(void *conn, const imi_ctx *ctx)
{
    (void)ctx;
    sq_conn *c = conn;
    if (sqlite3_get_autocommit(c->db))
        return IMI_OK;                 /* sqlite already rolled back (e.g. disk full) */
    int rc = run_simple(c, "ROLLBACK");
    return rc ? c->st->host->error(IMI_EUNAVAILABLE, 0, "sqlite: rollback failed: %s",
                                   sqlite3_errmsg(c->db))
              : IMI_OK;
}

/* ---- results -------------------------------------------------------------------------- */

static size_t sqlite_r_columns(void *res) { return (size_t)((sq_res *)res)->n_cols; }

static const char *sqlite_r_column_name(void *res, size_t col)
{
    return sqlite3_column_name(((sq_res *)res)->q->stmt, (int)col);
}

static int sqlite_r_next(void *res, const imi_ctx *ctx)
{
    sq_res *r = res;
    r->typed_col = -1;             /* a new row: types may differ */
    if (r->pending) {
        r->pending = false;
        return 1;
    }
    if (r->done)
        return 0;
    arm(r->c, ctx);
    int rc = sqlite3_step(r->q->stmt);
    if (rc != SQLITE_ROW)
        r->done = true;
    rc = rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : fail(r->c, rc, "next row");
    disarm(r->c);
    return rc;
}

static imi_db_type sqlite_r_type(void *res, size_t col)
{
    sq_res *r = res;
    r->typed_col = (int)col;
    /* The getter that follows reads this value object directly: the sqlite3_value_*
     * calls skip the statement's checks that every sqlite3_column_* call repeats. The
     * connection is NOMUTEX, where sqlite makes no difference between protected and
     * unprotected values. */
    r->typed_v = sqlite3_column_value(r->q->stmt, (int)col);
    r->typed = sqlite3_value_type(r->typed_v);
    switch (r->typed) {
    case SQLITE_INTEGER:
        return col < 64 && (r->q->bool_cols >> col & 1) ? IMI_DB_BOOL : IMI_DB_INT;
    case SQLITE_FLOAT: return IMI_DB_DOUBLE;
    case SQLITE_TEXT: return IMI_DB_TEXT;
    case SQLITE_BLOB: return IMI_DB_BLOB;
    default: return IMI_DB_NULL;
    }
}

/* The value of col: the one r_type read when it was this column (the core's getters
 * call r_type first), else the statement's. */
static sqlite3_value *value_of(sq_res *r, size_t col)
{
    return r->typed_col == (int)col ? r->typed_v : sqlite3_column_value(r->q->stmt, (int)col);
}

static int sqlite_r_int(void *res, size_t col, int64_t *out)
{
    *out = sqlite3_value_int64(value_of(res, col));
    return IMI_OK;
}

static int sqlite_r_double(void *res, size_t col, double *out)
{
    *out = sqlite3_value_double(value_of(res, col));
    return IMI_OK;
}

static int sqlite_r_bytes(void *res, size_t col, const void **out, size_t *len)
{
    sq_res *r = res;
    sqlite3_value *v = value_of(r, col);
    const void *p = sqlite3_value_type(v) == SQLITE_BLOB ? sqlite3_value_blob(v)
                                                         : (const void *)sqlite3_value_text(v);
    *len = (size_t)sqlite3_value_bytes(v);
    if (!p && *len)
        return r->c->st->host->error(IMI_ENOMEM, 0, "sqlite: out of memory reading a value");
    *out = p ? p : "";
    return IMI_OK;
}

static void sqlite_r_close(void *res)
{
    sq_res *r = res;
    sqlite3_reset(r->q->stmt);
    unbind(r->q);
    r->q = NULL;
}

static const imi_db_driver sqlite_vtable = {
    .size = sizeof(imi_db_driver),
    .dialect = "sqlite",
    .d_open = sqlite_open,
    .d_close = sqlite_close,
    .d_endpoint = sqlite_endpoint,
    .d_connect = sqlite_connect,
    .c_close = sqlite_c_close,
    .c_ping = sqlite_ping,
    .c_exec = sqlite_exec,
    .c_query = sqlite_query,
    .c_begin = sqlite_begin,
    .c_commit = sqlite_commit,
    .c_rollback = sqlite_rollback,
    .r_columns = sqlite_r_columns,
    .r_column_name = sqlite_r_column_name,
    .r_next = sqlite_r_next,
    .r_type = sqlite_r_type,
    .r_int = sqlite_r_int,
    .r_double = sqlite_r_double,
    .r_bytes = sqlite_r_bytes,
    .r_close = sqlite_r_close,
};

static const imi_driver_desc sqlite_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_DB,
    .name = "sqlite",
    .version = "1.0.0",
    .description = "SQLite " SQLITE_VERSION ": a file or :memory: as writer, files as readers",
    .caps = IMI_DB_CAP_TX | IMI_DB_CAP_READERS,
    .options = sqlite_options,
    .n_options = IMI_COUNT_OF(sqlite_options),
    .state_size = sizeof(sq_state),
    .vtable = &sqlite_vtable,
};

IMI_DRIVER_DEFINE(sqlite_desc)
