/* Results: iteration, typed getters and the conversions between value types, so that
 * every driver converts the same way. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "db_internal.h"

int imi_db_rows_new(imi_db *db, void *res, db_conn *conn, imi_db_tx *tx, imi_db_rows **out)
{
    /* The connection's last result object when it has one (no allocation per query). */
    imi_db_rows *r = conn && conn->spare ? conn->spare : calloc(1, sizeof *r);
    if (!r)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if (conn && conn->spare) {
        conn->spare = NULL;
        memset(r, 0, sizeof *r);
    }
    r->link.kind = DB_LIVE_ROWS;
    r->db = db;
    r->res = res;
    r->conn = conn;
    r->tx = tx;
    r->n_cols = VT(db)->r_columns(res);
    if (tx || !conn) {
        imi_db_live_add(db, &r->link);
    } else {
        r->link.next = r->link.prev = &r->link;
        conn->rows = r;
    }
    *out = r;
    return IMI_OK;
}

/* Ends r; true when r was left with its connection for the next query (then nothing may
 * touch r any more: the connection is back in the pool, another thread may take both). */
static bool rows_end_keep(imi_db_rows *r)
{
    db_conn *c = !r->dead && !r->tx ? r->conn : NULL;
    if (!c || c->spare) {
        imi_db_rows_end(r);
        return false;
    }
    c->rows = NULL;
    VT(r->db)->r_close(r->res);
    r->res = NULL;
    r->conn = NULL;
    r->dead = true;
    c->spare = r;
    imi_db_pool_release(c->pool, c, false);
    return true;
}

void imi_db_rows_free(imi_db_rows *r)
{
    if (!r)
        return;
    imi_db *db = r->db;
    const imi_thread_slot *t = imi_thread();
    /* A result outside a transaction is on no shared list: while the handle is open,
     * close waits for this call, so it is ended without the live lock. */
    if (!r->tx && !imi_inflight_closed(&db->in, t)) {
        bool kept = rows_end_keep(r);
        db_leave_at(db, t);
        if (!kept)
            free(r);
        return;
    }
    pthread_mutex_lock(&db->live_mu);
    if (r->link.next != &r->link) {
        r->link.prev->next = r->link.next;
        r->link.next->prev = r->link.prev;
    }
    bool kept = rows_end_keep(r);
    pthread_mutex_unlock(&db->live_mu);
    if (!kept)
        free(r);
}

int imi_db_rows_next(imi_db_rows *r, const imi_ctx *ctx)
{
    if (!r)
        return imi_error_set(IMI_EINVALID, 0, "db: no rows");
    if (r->dead)
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", r->db->in.section);
    if (r->done)
        return 0;
    const imi_thread_slot *t = imi_thread();
    int rc = db_enter_at(r->db, ctx, t);
    if (rc)
        return rc;
    rc = VT(r->db)->r_next(r->res, ctx);
    if (rc > 1)
        rc = imi_error_set(IMI_EDRIVER, 0, "driver %s: next returned %d (1, 0 or an error "
                           "code)", r->db->in.desc->name, rc);
    r->on_row = rc == 1;
    r->done = rc != 1;
    if (rc < 0) {
        DB_COUNT(r->db, n_errors);
        if (r->tx)
            imi_db_tx_fail(r->tx, rc);
        else if (r->conn && db_conn_broken(r->db, r->conn, rc)) {
            /* The connection went away mid-result: drop it instead of pooling it. */
            VT(r->db)->r_close(r->res);
            r->res = NULL;
            r->dead = true;
            r->conn->rows = NULL;
            imi_db_pool_release(r->conn->pool, r->conn, true);
            r->conn = NULL;
        }
    }
    db_leave_at(r->db, t);
    return rc;
}

size_t imi_db_rows_columns(const imi_db_rows *r) { return r ? r->n_cols : 0; }

/* The driver's name for col; "" when it has none. */
static const char *column_name(const imi_db_rows *r, size_t col)
{
    const char *name = VT(r->db)->r_column_name(r->res, col);
    return name ? name : "";
}

const char *imi_db_rows_column_name(const imi_db_rows *r, size_t col)
{
    if (!r || r->dead || col >= r->n_cols)
        return NULL;
    return column_name(r, col);
}

/* The type of col in the current row, or a negative code when there is none. */
static int value_type(const imi_db_rows *r, size_t col)
{
    if (!r)
        return imi_error_set(IMI_EINVALID, 0, "db: no rows");
    if (r->dead)
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", r->db->in.section);
    if (!r->on_row)
        return imi_error_set(IMI_EINVALID, 0, "db: no current row (call imi_db_rows_next)");
    if (col >= r->n_cols)
        return imi_error_set(IMI_EINVALID, 0, "db: column %zu of %zu", col, r->n_cols);
    int t = (int)VT(r->db)->r_type(r->res, col);
    if (t < IMI_DB_NULL || t > IMI_DB_BOOL)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s: column %zu has type %d, no imi_db_type",
                             r->db->in.desc->name, col, t);
    return t;
}

imi_db_type imi_db_rows_type(const imi_db_rows *r, size_t col)
{
    int t = value_type(r, col);
    return t < 0 ? IMI_DB_NULL : (imi_db_type)t;
}

bool imi_db_rows_is_null(const imi_db_rows *r, size_t col)
{
    return value_type(r, col) == IMI_DB_NULL;
}

static int type_error(const imi_db_rows *r, size_t col, int t, const char *want)
{
    if (t == IMI_DB_NULL)
        return imi_error_set(IMI_ENOTFOUND, 0, "db: column %zu (%s) is NULL", col,
                             column_name(r, col));
    return imi_error_set(IMI_EINVALID, 0, "db: column %zu (%s) holds %s, not %s", col,
                         column_name(r, col), imi_db_type_name(t), want);
}

/* The unusual answers of r_bytes, out of the getters' common path: an error, an empty
 * value at NULL (read as ""), bytes at NULL with a length, text without its NUL. */
__attribute__((noinline, cold)) static int bytes_odd(const imi_db_rows *r, size_t col, int rc,
                                                     const void *p, size_t n, const void **out,
                                                     size_t *len)
{
    if (rc)
        return rc;
    if (!p && n)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s: column %zu is %zu bytes at NULL",
                             r->db->in.desc->name, col, n);
    if (p)
        return imi_error_set(IMI_EDRIVER, 0, "driver %s: the text of column %zu has no NUL "
                             "at its length", r->db->in.desc->name, col);
    *out = "";
    *len = 0;
    return IMI_OK;
}

/* The bytes of a TEXT or BLOB value, checked: no NULL pointer with a length, and text
 * NUL-terminated at its length (the getters parse it and callers use it as a C string). */
static inline int bytes_of(const imi_db_rows *r, size_t col, bool text, const void **out,
                           size_t *len)
{
    const void *p = NULL;
    size_t n = 0;
    int rc = VT(r->db)->r_bytes(r->res, col, &p, &n);
    if (__builtin_expect(rc || !p || (text && ((const char *)p)[n] != '\0'), 0))
        return bytes_odd(r, col, rc, p, n, out, len);
    *out = p;
    *len = n;
    return IMI_OK;
}

static inline int text_of(imi_db_rows *r, size_t col, const char **s, size_t *len)
{
    const void *p;
    int rc = bytes_of(r, col, true, &p, len);
    if (!rc)
        *s = p;
    return rc;
}

int imi_db_rows_int(const imi_db_rows *rows, size_t col, int64_t *out)
{
    imi_db_rows *r = (imi_db_rows *)rows; /* its number scratch only */
    int t = value_type(r, col);
    if (t < 0)
        return t;
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "db: no output");
    if (t == IMI_DB_INT || t == IMI_DB_BOOL)
        return VT(r->db)->r_int(r->res, col, out);
    if (t == IMI_DB_DOUBLE) {
        double d;
        int rc = VT(r->db)->r_double(r->res, col, &d);
        if (rc)
            return rc;
        if (d != floor(d) || d < -9223372036854775808.0 || d >= 9223372036854775808.0)
            return imi_error_set(IMI_EINVALID, 0, "db: column %zu holds %g, not an integer", col, d);
        *out = (int64_t)d;
        return IMI_OK;
    }
    if (t == IMI_DB_TEXT) {
        const char *s;
        size_t len;
        int rc = text_of(r, col, &s, &len);
        if (rc)
            return rc;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (len && end == s + len && !errno) {
            *out = v;
            return IMI_OK;
        }
    }
    return type_error(r, col, t, "an integer");
}

int imi_db_rows_double(const imi_db_rows *rows, size_t col, double *out)
{
    imi_db_rows *r = (imi_db_rows *)rows; /* its number scratch only */
    int t = value_type(r, col);
    if (t < 0)
        return t;
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "db: no output");
    if (t == IMI_DB_DOUBLE)
        return VT(r->db)->r_double(r->res, col, out);
    if (t == IMI_DB_INT || t == IMI_DB_BOOL) {
        int64_t i;
        int rc = VT(r->db)->r_int(r->res, col, &i);
        *out = (double)i;
        return rc;
    }
    if (t == IMI_DB_TEXT) {
        const char *s;
        size_t len;
        int rc = text_of(r, col, &s, &len);
        if (rc)
            return rc;
        char *end;
        double d = strtod(s, &end);
        if (len && end == s + len) {
            *out = d;
            return IMI_OK;
        }
    }
    return type_error(r, col, t, "a number");
}

int imi_db_rows_bool(const imi_db_rows *rows, size_t col, bool *out)
{
    imi_db_rows *r = (imi_db_rows *)rows; /* its number scratch only */
    int t = value_type(r, col);
    if (t < 0)
        return t;
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "db: no output");
    if (t == IMI_DB_INT || t == IMI_DB_BOOL) {
        int64_t i;
        int rc = VT(r->db)->r_int(r->res, col, &i);
        if (!rc && (i == 0 || i == 1)) {
            *out = i == 1;
            return IMI_OK;
        }
        if (rc)
            return rc;
    } else if (t == IMI_DB_TEXT) {
        const char *s;
        size_t len;
        int rc = text_of(r, col, &s, &len);
        if (rc)
            return rc;
        static const char *const yes[] = { "t", "true", "1", "TRUE" };
        static const char *const no[] = { "f", "false", "0", "FALSE" };
        for (size_t i = 0; i < 4; i++) {
            if (!strcmp(s, yes[i]) || !strcmp(s, no[i])) {
                *out = !strcmp(s, yes[i]);
                return IMI_OK;
            }
        }
    }
    return type_error(r, col, t, "a boolean");
}

int imi_db_rows_text(const imi_db_rows *rows, size_t col, const char **out, size_t *len)
{
    imi_db_rows *r = (imi_db_rows *)rows; /* its number scratch only */
    int t = value_type(r, col);
    if (t < 0)
        return t;
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "db: no output");
    size_t n = 0;
    int rc = IMI_OK;
    if (t == IMI_DB_TEXT) {
        rc = text_of(r, col, out, &n);
    } else if (t == IMI_DB_INT) {
        int64_t i = 0;
        rc = VT(r->db)->r_int(r->res, col, &i);
        n = (size_t)snprintf(r->num, sizeof r->num, "%" PRId64, i);
        *out = r->num;
    } else if (t == IMI_DB_BOOL) {
        int64_t i = 0;
        rc = VT(r->db)->r_int(r->res, col, &i);
        n = (size_t)snprintf(r->num, sizeof r->num, "%s", i ? "true" : "false");
        *out = r->num;
    } else if (t == IMI_DB_DOUBLE) {
        double d = 0;
        rc = VT(r->db)->r_double(r->res, col, &d);
        n = (size_t)snprintf(r->num, sizeof r->num, "%.17g", d);
        *out = r->num;
    } else {
        return type_error(r, col, t, "text");
    }
    if (len)
        *len = n;
    return rc;
}

int imi_db_rows_blob(const imi_db_rows *rows, size_t col, const void **out, size_t *len)
{
    imi_db_rows *r = (imi_db_rows *)rows; /* its number scratch only */
    int t = value_type(r, col);
    if (t < 0)
        return t;
    if (!out || !len)
        return imi_error_set(IMI_EINVALID, 0, "db: blob needs out and len");
    if (t == IMI_DB_BLOB || t == IMI_DB_TEXT)
        return bytes_of(r, col, t == IMI_DB_TEXT, out, len);
    return type_error(r, col, t, "bytes");
}
