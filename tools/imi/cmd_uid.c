/* imi uid [-c FILE] next [-n N] | parse ID | uuid [--v7] [-n N] */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

#define MAX_COUNT 100000000L

/* -n N: 1 .. MAX_COUNT, else 0 (*n_text says what was given). */
static long count_arg(int *argc, char **argv, int *bad, const char **n_text)
{
    const char *n = *n_text = cli_take_opt(argc, argv, "-n", bad);
    if (!n)
        return 1;
    char *end;
    errno = 0;
    long v = strtol(n, &end, 10);
    return end == n || *end || errno == ERANGE || v < 1 || v > MAX_COUNT ? 0 : v;
}

static int cmd_next(imi_app *app, long n)
{
    imi_uid *u;
    int rc = imi_uid_open(app, NULL, &u);
    if (rc)
        return cli_fail(rc, "uid: open [uid]");
    for (long i = 0; i < n; i++) {
        int64_t id;
        if ((rc = imi_uid_next(u, &id))) {
            imi_uid_free(u);
            return cli_fail(rc, "uid next");
        }
        printf("%lld\n", (long long)id);
    }
    imi_uid_free(u);
    return IMI_EXIT_OK;
}

static int cmd_parse(imi_app *app, const char *s)
{
    char *end;
    errno = 0;
    long long id = strtoll(s, &end, 10);
    if (end == s || *end || errno == ERANGE || id < 0)
        return cli_usage(&imi_cmd_uid, "'%s' is not a snowflake id (0 to 2^63 - 1)", s);
    imi_uid *u;
    int rc = imi_uid_open(app, NULL, &u);
    if (rc)
        return cli_fail(rc, "uid: open [uid]");
    imi_uid_parts p;
    imi_uid_parse(u, id, &p);
    time_t secs = (time_t)(p.unix_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    printf("time     %04d-%02d-%02dT%02d:%02d:%02d.%03dZ (%lld ms)\nworker   %d\n"
           "sequence %d\n", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(p.unix_ms % 1000), (long long)p.unix_ms, p.worker, p.sequence);
    imi_uid_free(u);
    return IMI_EXIT_OK;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *config = cli_take_config(&imi_cmd_uid, &argc, argv, &bad);
    const char *n_text = NULL;
    long n = count_arg(&argc, argv, &bad, &n_text);
    bool v7 = cli_take_flag(&argc, argv, "--v7");
    if (!bad && !n)
        return cli_usage(&imi_cmd_uid, "-n takes 1 to %ld, not '%s'", MAX_COUNT, n_text);
    if (bad || argc < 2)
        return cli_usage(&imi_cmd_uid, "say next, parse ID or uuid");
    if (!strcmp(argv[1], "uuid") && argc == 2) {
        char s[IMI_UUID_STR_LEN + 1];
        for (long i = 0; i < n; i++) {
            imi_uuid u = v7 ? imi_uuid_v7() : imi_uuid_v4();
            imi_uuid_format(&u, s);
            puts(s);
        }
        return IMI_EXIT_OK;
    }
    bool next = !strcmp(argv[1], "next") && argc == 2;
    bool parse = !strcmp(argv[1], "parse") && argc == 3;
    if (!next && !parse)
        return cli_usage(&imi_cmd_uid, "say next, parse ID or uuid");
    imi_app *app = cli_open_app(config);
    if (!app)
        return IMI_EXIT_ERROR;
    int code = next ? cmd_next(app, n) : cmd_parse(app, argv[2]);
    imi_app_free(app);
    return code;
}

const imi_cmd imi_cmd_uid = {
    .name = "uid",
    .summary = "snowflake ids from [uid] (worker id from coord or fixed), UUIDs",
    .usage = "usage: imi uid [-c FILE] next [-n N]      N snowflake ids, one a line\n"
             "       imi uid [-c FILE] parse ID         time, worker and sequence of an id\n"
             "       imi uid uuid [--v7] [-n N]         UUID v4 (or v7)\n",
    .run = run,
};
