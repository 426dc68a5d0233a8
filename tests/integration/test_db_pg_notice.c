/* PostgreSQL NOTICEs ("relation ... already exists, skipping" on every CREATE TABLE IF
 * NOT EXISTS) are logged at debug, with the trace id of the call they came in; nothing at
 * info. Needs tools/services.sh start postgres (IMI_PG_PORT, default 15432). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static char log_path[64];

/* Runs CREATE TABLE IF NOT EXISTS twice (the second one draws the NOTICE) with a traced
 * ctx, logging at level; returns the log file's text (static). */
static const char *create_twice(const char *level)
{
    const char *port = getenv("IMI_PG_PORT");
    snprintf(log_path, sizeof log_path, "/tmp/imi-pg-notice-%d.log", (int)getpid());
    unlink(log_path);
    char ini[512];
    snprintf(ini, sizeof ini, "[log]\nlevel = %s\nformat = json\noutput = %s\n[db]\n"
             "driver = postgres\nwriter = postgresql://imi:imi@127.0.0.1:%s/imi_test\n"
             "pool_size = 1\n", level, log_path, port && *port ? port : "15432");
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(ini, "pg.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_db *db;
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "postgres is needed (tools/services.sh "
                 "start postgres): %s", imi_error_message());
    imi_ctx *ctx = imi_ctx_new(5000);
    imi_ctx_set_trace_id(ctx, "pg-notice-trace");
    for (int i = 0; i < 2; i++)
        cr_assert_eq(imi_db_exec(db, ctx, "CREATE TABLE IF NOT EXISTS imi_notice_t (a INT)",
                                 NULL, 0, NULL), IMI_OK, "%s", imi_error_message());
    imi_db_exec(db, ctx, "DROP TABLE imi_notice_t", NULL, 0, NULL);
    imi_ctx_free(ctx);
    imi_db_free(db);
    imi_app_free(app);
    static char text[65536];
    FILE *f = fopen(log_path, "r");
    size_t n = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f)
        fclose(f);
    text[n] = '\0';
    unlink(log_path);
    return text;
}

Test(pg_notice, notice_at_debug_with_the_trace_id)
{
    const char *text = create_twice("debug");
    const char *line = strstr(text, "already exists");
    cr_assert_not_null(line, "no NOTICE line at debug:\n%s", text);
    while (line > text && line[-1] != '\n')
        line--;
    const char *end = strchr(line, '\n');
    char one[2048];
    snprintf(one, sizeof one, "%.*s", end ? (int)(end - line) : (int)strlen(line), line);
    cr_assert(strstr(one, "\"level\":\"debug\""), "%s", one);
    cr_assert(strstr(one, "\"trace_id\":\"pg-notice-trace\""), "%s", one);
}

Test(pg_notice, nothing_at_info)
{
    const char *text = create_twice("info");
    cr_assert_null(strstr(text, "already exists"), "a NOTICE at info:\n%s", text);
}
