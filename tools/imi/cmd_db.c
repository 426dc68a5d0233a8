/* imi db [-c FILE] exec|query SQL [PARAM...] [--instance NAME] [--writer] [--json] */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "json_out.h"

/* PARAM: TYPE:VALUE with TYPE int, double, bool, text, blob (hex) or null; without a
 * prefix: null, true/false, an integer, a number, else text. */
static int parse_param(const char *arg, imi_db_param *p, unsigned char **blob)
{
    static const char *const types[] = { "int:", "double:", "bool:", "text:", "blob:", "null:" };
    int t = -1;
    for (int i = 0; i < 6; i++)
        if (!strncmp(arg, types[i], strlen(types[i]))) {
            t = i;
            arg += strlen(types[i]);
        }
    char *end;
    if (t == -1 || t == 0) {
        errno = 0;
        long long v = strtoll(arg, &end, 10);
        if (*arg && !*end && !errno) {
            *p = IMI_DB_PINT(v);
            return 0;
        }
        if (t == 0)
            return -1;
    }
    if (t == -1 || t == 1) {
        double d = strtod(arg, &end);
        if (*arg && !*end) {
            *p = IMI_DB_PDOUBLE(d);
            return 0;
        }
        if (t == 1)
            return -1;
    }
    if (t == -1 || t == 2) {
        if (!strcmp(arg, "true") || !strcmp(arg, "false")) {
            *p = IMI_DB_PBOOL(!strcmp(arg, "true"));
            return 0;
        }
        if (t == 2)
            return -1;
    }
    if ((t == -1 && !strcmp(arg, "null")) || t == 5) {
        *p = IMI_DB_PNULL();
        return 0;
    }
    if (t == 4) {
        size_t n = strlen(arg);
        if (n % 2)
            return -1;
        *blob = malloc(n / 2 + 1);
        for (size_t i = 0; *blob && i < n / 2; i++) {
            char hex[3] = { arg[2 * i], arg[2 * i + 1], 0 };
            if (!isxdigit((unsigned char)hex[0]) || !isxdigit((unsigned char)hex[1]))
                return -1;
            (*blob)[i] = (unsigned char)strtol(hex, NULL, 16);
        }
        *p = IMI_DB_PBLOB(*blob, n / 2);
        return *blob ? 0 : -1;
    }
    *p = IMI_DB_PTEXT(arg);
    return 0;
}

/* One value; a value the getters cannot read (a driver's broken answer) is the error,
 * never an empty cell or a JSON object without its value. */
static int print_value(imi_db_rows *r, size_t col, bool json)
{
    imi_db_type t = imi_db_rows_type(r, col);
    const void *b;
    const char *s;
    size_t len;
    int rc = IMI_OK;
    if (t == IMI_DB_NULL && imi_db_rows_is_null(r, col)) {
        fputs(json ? "null" : "NULL", stdout);
    } else if (t == IMI_DB_BLOB) {
        if ((rc = imi_db_rows_blob(r, col, &b, &len)))
            return rc;
        fputs(json ? "\"\\\\x" : "\\x", stdout);
        for (size_t i = 0; i < len; i++)
            printf("%02x", ((const unsigned char *)b)[i]);
        if (json)
            fputc('"', stdout);
    } else if (!(rc = imi_db_rows_text(r, col, &s, &len))) {
        if (json && t == IMI_DB_TEXT)
            json_str(stdout, s);
        else
            fwrite(s, 1, len, stdout);
    }
    return rc;
}

/* Rows as tab-separated lines under a header, or one JSON object per row. */
static int print_rows(imi_db_rows *r, const imi_ctx *ctx, bool json)
{
    size_t n = imi_db_rows_columns(r);
    if (!json) {
        for (size_t c = 0; c < n; c++)
            printf("%s%s", c ? "\t" : "", imi_db_rows_column_name(r, c));
        putchar('\n');
    }
    int rc;
    while ((rc = imi_db_rows_next(r, ctx)) == 1) {
        if (json)
            putchar('{');
        for (size_t c = 0; c < n; c++) {
            if (json) {
                printf("%s", c ? "," : "");
                json_str(stdout, imi_db_rows_column_name(r, c));
                putchar(':');
            } else if (c) {
                putchar('\t');
            }
            if ((rc = print_value(r, c, json))) {
                putchar('\n');
                return rc;
            }
        }
        puts(json ? "}" : "");
    }
    return rc < 0 ? rc : IMI_OK;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_config(&imi_cmd_db, &argc, argv, &bad);
    const char *instance = cli_take_opt(&argc, argv, "--instance", &bad);
    bool writer = cli_take_flag(&argc, argv, "--writer");
    bool json = cli_take_flag(&argc, argv, "--json");
    if (bad || argc < 3)
        return cli_usage(&imi_cmd_db, "needs exec or query and the SQL");
    const char *op = argv[1], *sql = argv[2];
    bool query = !strcmp(op, "query");
    if (!query && strcmp(op, "exec"))
        return cli_usage(&imi_cmd_db, "unknown operation '%s'", op);
    size_t n = (size_t)(argc - 3);
    imi_db_param *params = calloc(n + 1, sizeof *params);
    unsigned char **blobs = calloc(n + 1, sizeof *blobs);
    int code = IMI_EXIT_OK;
    for (size_t i = 0; i < n && params && blobs && !code; i++)
        if (parse_param(argv[3 + i], &params[i], &blobs[i]))
            code = cli_usage(&imi_cmd_db, "parameter %zu '%s' is not valid", i + 1, argv[3 + i]);
    imi_app *app = NULL;
    if (!params || !blobs)
        code = cli_fail(IMI_ENOMEM, "db");
    else if (!code && !(app = cli_open_app(path)))
        code = IMI_EXIT_ERROR;
    imi_db *db = NULL;
    if (!code) {
        int rc = imi_db_open(app, instance, &db);
        if (rc)
            code = cli_fail(rc, "db %s", instance ? instance : "[db]");
        else
            cli_note_in_process(app, "db", instance, imi_db_driver_name(db));
    }
    if (!code) {
        imi_ctx *ctx = imi_ctx_new(0);
        int rc;
        if (query) {
            imi_db_rows *r = NULL;
            rc = writer ? imi_db_query_writer(db, ctx, sql, params, n, &r)
                        : imi_db_query(db, ctx, sql, params, n, &r);
            if (!rc)
                rc = print_rows(r, ctx, json);
            imi_db_rows_free(r);
        } else {
            int64_t affected = 0;
            if (!(rc = imi_db_exec(db, ctx, sql, params, n, &affected)))
                printf(json ? "{\"affected\":%lld}\n" : "%lld row(s) affected\n",
                       (long long)affected);
        }
        imi_ctx_free(ctx);
        if (rc)
            code = cli_fail(rc, "db %s", op);
    }
    imi_db_free(db);
    if (app)
        imi_app_free(app);
    for (size_t i = 0; blobs && i < n; i++)
        free(blobs[i]);
    free(blobs);
    free(params);
    return code;
}

const imi_cmd imi_cmd_db = {
    .name = "db",
    .summary = "run one SQL statement: exec or query, with bound parameters",
    .usage = "usage: imi db [-c FILE] exec|query SQL [PARAM...] [--instance NAME] [--writer] "
             "[--json]\n"
             "  SQL uses ? placeholders, one PARAM each. A PARAM is TYPE:VALUE (int, double,\n"
             "  bool, text, blob as hex, null:) or, without a type, null, true/false, an\n"
             "  integer, a number, else text. query prints a header and tab-separated rows\n"
             "  (NULL, blobs as \\xHEX), or one JSON object per row with --json; it reads\n"
             "  from a reader unless --writer.\n",
    .run = run,
};
