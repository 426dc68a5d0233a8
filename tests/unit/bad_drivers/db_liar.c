/* A db driver whose results break the contract, one way per `lie` option, for
 * test_driver_lies.c: every query returns one row of one column, and what the driver says
 * about that value is the lie.
 *   type          r_type answers 77, no imi_db_type
 *   null_text     TEXT, and r_bytes gives a NULL pointer with a length of 5
 *   null_empty    TEXT, and r_bytes gives a NULL pointer with a length of 0
 *   unterminated  TEXT "12345678" cut at 4 bytes: no NUL at the length
 *   null_name     a NULL value whose column has a NULL name
 *   no_result     c_query succeeds without a result
 *   next_code     r_next answers 42 (no row, no end, no error)
 *   host          open logs and fails with a NULL format
 *   endless       d_endpoint never answers IMI_ENOTFOUND */
#include <stdio.h>
#include <string.h>
#include "iminfra/driver/db_driver.h"

typedef struct liar {
    char lie[32];
    int conn;               /* the one connection's storage */
    int res;                /* the one result's storage */
    int pending;            /* rows left */
} liar;

static const imi_option_spec liar_options[] = {
    { .name = "lie", .type = IMI_OPT_STRING, .flags = IMI_OPT_REQUIRED,
      .help = "which contract this driver breaks" },
};

static liar *the;           /* results and connections reach the state through it */

static bool lying(const char *what) { return !strcmp(the->lie, what); }

static int l_open(void *st, const imi_driver_env *env)
{
    the = st;
    snprintf(the->lie, sizeof the->lie, "%s", env->opts[0].str);
    if (lying("host")) {
        const char *volatile none = NULL; /* past the compiler's format check */
        env->host->log(env->logger, IMI_HOST_LOG_ERROR, NULL, none);
        return env->host->error(IMI_EUNAVAILABLE, 0, none);
    }
    return IMI_OK;
}

static void l_close(void *st) { (void)st; }

static int l_endpoint(void *st, size_t i, imi_db_endpoint_info *info)
{
    (void)st;
    if (i && !lying("endless"))
        return IMI_ENOTFOUND;
    info->name = "liar";
    info->max_conns = 1;
    return IMI_OK;
}

static int l_connect(void *st, const imi_ctx *ctx, size_t endpoint, void **conn)
{
    (void)ctx;
    (void)endpoint;
    *conn = &((liar *)st)->conn;
    return IMI_OK;
}

static void l_c_close(void *st, void *conn) { (void)st; (void)conn; }
static int l_ping(void *conn, const imi_ctx *ctx) { (void)conn; (void)ctx; return IMI_OK; }

static int l_exec(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, int64_t *affected)
{
    (void)conn;
    (void)ctx;
    (void)s;
    *affected = 0;
    return IMI_OK;
}

static int l_query(void *conn, const imi_ctx *ctx, const imi_db_stmt *s, void **res)
{
    (void)conn;
    (void)ctx;
    (void)s;
    the->pending = 1;
    *res = lying("no_result") ? NULL : &the->res;
    return IMI_OK;
}

static size_t l_columns(void *res) { (void)res; return 1; }

static const char *l_column_name(void *res, size_t col)
{
    (void)res;
    (void)col;
    return lying("null_name") ? NULL : "v";
}

static int l_next(void *res, const imi_ctx *ctx)
{
    (void)res;
    (void)ctx;
    if (lying("next_code"))
        return 42;
    return the->pending-- > 0 ? 1 : 0;
}

static imi_db_type l_type(void *res, size_t col)
{
    (void)res;
    (void)col;
    if (lying("type"))
        return (imi_db_type)77;
    return lying("null_name") ? IMI_DB_NULL : IMI_DB_TEXT;
}

static int l_int(void *res, size_t col, int64_t *out)
{
    (void)res;
    (void)col;
    *out = 0;
    return IMI_OK;
}

static int l_double(void *res, size_t col, double *out)
{
    (void)res;
    (void)col;
    *out = 0;
    return IMI_OK;
}

static int l_bytes(void *res, size_t col, const void **out, size_t *len)
{
    (void)res;
    (void)col;
    static const char digits[] = "12345678";
    *out = lying("null_text") || lying("null_empty") ? NULL : digits;
    *len = lying("null_text") ? 5 : lying("null_empty") ? 0 : lying("unterminated") ? 4 : 8;
    return IMI_OK;
}

static void l_r_close(void *res) { (void)res; }

static const imi_db_driver liar_vtable = {
    .size = sizeof(imi_db_driver),
    .dialect = "sqlite",
    .d_open = l_open,
    .d_close = l_close,
    .d_endpoint = l_endpoint,
    .d_connect = l_connect,
    .c_close = l_c_close,
    .c_ping = l_ping,
    .c_exec = l_exec,
    .c_query = l_query,
    .r_columns = l_columns,
    .r_column_name = l_column_name,
    .r_next = l_next,
    .r_type = l_type,
    .r_int = l_int,
    .r_double = l_double,
    .r_bytes = l_bytes,
    .r_close = l_r_close,
};

static const imi_driver_desc liar_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_DB,
    .name = "liar",
    .version = "0.0.1",
    .description = "a db driver whose results break the contract (tests)",
    .options = liar_options,
    .n_options = 1,
    .state_size = sizeof(liar),
    .vtable = &liar_vtable,
};

IMI_DRIVER_DEFINE(liar_desc)
