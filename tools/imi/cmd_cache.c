/* imi cache [-c FILE] get|set|del|ttl KEY [VALUE] [--ttl SECONDS] [--instance NAME] */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* Exit code of a call: 0, 3 for a miss, 1 (with the error printed) otherwise. */
static int outcome(int rc, const char *op, const char *key)
{
    if (rc == IMI_OK)
        return IMI_EXIT_OK;
    if (rc == IMI_ENOTFOUND) {
        fprintf(stderr, "imi: cache %s %s: not found\n", op, key);
        return IMI_EXIT_NOTFOUND;
    }
    return cli_fail(rc, "cache %s %s", op, key);
}

static int do_op(imi_cache *c, const char *op, const char *key, const char *value,
                 int64_t ttl_ms)
{
    imi_ctx *ctx = imi_ctx_new(0); /* the instance's timeout */
    int rc;
    if (!strcmp(op, "get")) {
        imi_buf v = IMI_BUF_INIT;
        if ((rc = imi_cache_get(c, ctx, key, &v)) == IMI_OK) {
            fwrite(v.data, 1, v.len, stdout);
            fputc('\n', stdout);
        }
        imi_buf_free(&v);
    } else if (!strcmp(op, "set")) {
        rc = imi_cache_set(c, ctx, key, value, strlen(value), ttl_ms);
    } else if (!strcmp(op, "del")) {
        rc = imi_cache_del(c, ctx, key);
    } else {
        int64_t left = 0;
        if ((rc = imi_cache_ttl(c, ctx, key, &left)) == IMI_OK) {
            if (left < 0)
                puts("-1");
            else
                printf("%.3f\n", (double)left / 1000.0);
        }
    }
    imi_ctx_free(ctx);
    return outcome(rc, op, key);
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_config(&imi_cmd_cache, &argc, argv, &bad);
    const char *ttl = cli_take_opt(&argc, argv, "--ttl", &bad);
    const char *instance = cli_take_opt(&argc, argv, "--instance", &bad);
    if (bad || argc < 3)
        return cli_usage(&imi_cmd_cache, "needs an operation and a key");
    const char *op = argv[1], *key = argv[2];
    bool is_set = !strcmp(op, "set");
    if (!is_set && strcmp(op, "get") && strcmp(op, "del") && strcmp(op, "ttl"))
        return cli_usage(&imi_cmd_cache, "unknown operation '%s'", op);
    if (argc != (is_set ? 4 : 3))
        return cli_usage(&imi_cmd_cache, is_set ? "set needs KEY and VALUE" : "%s takes one KEY", op);
    int64_t ttl_ms = 0;
    if (ttl) {
        char *end;
        double s = strtod(ttl, &end);
        if (*end || !(s > 0) || s > 1e9 || !is_set)
            return cli_usage(&imi_cmd_cache, "--ttl takes a positive number of seconds, with set");
        ttl_ms = (int64_t)ceil(s * 1000.0);
    }
    imi_app *app = cli_open_app(path);
    if (!app)
        return IMI_EXIT_ERROR;
    imi_cache *c = NULL;
    int rc = imi_cache_open(app, instance, &c);
    if (!rc)
        cli_note_in_process(app, "cache", instance, imi_cache_driver_name(c));
    int code = rc ? cli_fail(rc, "cache %s", instance ? instance : "[cache]")
                  : do_op(c, op, key, is_set ? argv[3] : NULL, ttl_ms);
    imi_cache_free(c);
    imi_app_free(app);
    return code;
}

const imi_cmd imi_cmd_cache = {
    .name = "cache",
    .summary = "get, set, delete a key or read its ttl on the configured cache",
    .usage = "usage: imi cache [-c FILE] get|set|del|ttl KEY [VALUE] [--ttl SECONDS] "
             "[--instance NAME]\n"
             "  get prints the value and a newline; ttl prints the seconds left (-1: none).\n"
             "  --instance NAME uses [cache.NAME]. The instance's prefix goes before KEY.\n"
             "  Exits 3 when the key is not there.\n",
    .run = run,
};
