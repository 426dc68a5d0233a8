/* imi bench ratelimit, distributed: im-infra's allow on a redis cache against a raw
 * EVALSHA of the same token-bucket script through hiredis, on the same server, one
 * connection each, taking turns in rounds in the same run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "bench_ratelimit.h"
#include "iminfra/iminfra.h"

#ifndef IMI_BENCH_HAVE_HIREDIS
const char *imi_bench_ratelimit_remote(const imi_bench_opts *o, double *dist, double *raw,
                                       int *rc)
{
    (void)o;
    *dist = *raw = 0;
    *rc = 0;
    return "skipped (hiredis was not built into imi)";
}
#else
#include <hiredis/hiredis.h>

#define REMOTE_OPS 20000L
#define ROUNDS 10  /* short turns each, so that noise from a shared machine hits both */

/* The redis driver's token-bucket script, word for word (drivers/cache/redis/lock.c). */
static const char take_script[] =
    "local rate, burst, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local b = redis.call('HMGET', KEYS[1], 't', 'a')\n"
    "local tokens, at = tonumber(b[1]), tonumber(b[2])\n"
    "if tokens == nil or at == nil then tokens, at = burst, now end\n"
    "if now > at then tokens = math.min(burst, tokens + (now - at) * rate / 1000000) end\n"
    "local ok, wait = 0, 0\n"
    "if tokens >= n then tokens = tokens - n; ok = 1\n"
    "else wait = math.ceil((n - tokens) * 1000 / rate) end\n"
    "redis.call('HSET', KEYS[1], 't', string.format('%.17g', tokens), 'a', "
    "string.format('%.0f', math.max(now, at)))\n"
    "redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) * 1000 / rate) + 1000)\n"
    "return {ok, wait}\n";

static redisContext *raw_connect(const imi_config *cfg, char *sha, size_t shasz)
{
    const char *addr = imi_config_get(cfg, "cache", "addr", NULL);
    const char *pw = imi_config_get(cfg, "cache", "password", NULL);
    const char *db = imi_config_get(cfg, "cache", "db", NULL);
    char host[256] = "127.0.0.1";
    int port = 6379;
    if (addr) {
        const char *colon = strrchr(addr, ':');
        size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
        if (n && n < sizeof host) {
            memcpy(host, addr, n);
            host[n] = '\0';
        }
        if (colon)
            port = atoi(colon + 1);
    }
    redisContext *rc = redisConnect(host, port);
    if (!rc || rc->err) {
        redisFree(rc);
        return NULL;
    }
    redisReply *r;
    if (pw && *pw && (r = redisCommand(rc, "AUTH %s", pw)))
        freeReplyObject(r);
    if (db && *db && (r = redisCommand(rc, "SELECT %s", db)))
        freeReplyObject(r);
    r = redisCommand(rc, "SCRIPT LOAD %s", take_script);
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r)
            freeReplyObject(r);
        redisFree(rc);
        return NULL;
    }
    snprintf(sha, shasz, "%s", r->str);
    freeReplyObject(r);
    return rc;
}

static double raw_round(redisContext *rc, const char *sha, long ops)
{
    int64_t t0 = imi_now_mono_ns();
    for (long i = 0; i < ops; i++) {
        const char *argv[] = { "EVALSHA", sha, "1", "rl:bench:raw", "1000000000", "1000000000",
                               "1" };
        redisReply *r = redisCommandArgv(rc, 7, argv, NULL);
        if (!r || r->type != REDIS_REPLY_ARRAY) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        freeReplyObject(r);
    }
    return (double)ops / ((double)(imi_now_mono_ns() - t0) / 1e9);
}

static double dist_round(imi_ratelimit_bucket *b, long ops)
{
    int64_t t0 = imi_now_mono_ns();
    for (long i = 0; i < ops; i++)
        if (imi_ratelimit_allow(b, NULL) != IMI_OK)
            return -1;
    return (double)ops / ((double)(imi_now_mono_ns() - t0) / 1e9);
}

const char *imi_bench_ratelimit_remote(const imi_bench_opts *o, double *dist, double *raw,
                                       int *rc)
{
    *dist = *raw = 0;
    *rc = 0;
    imi_config *cfg;
    if (imi_config_load(o->config_path ? o->config_path : imi_default_config_path(), &cfg))
        return "skipped (the config did not load)";
    const char *drv = imi_config_get(cfg, "cache", "driver", NULL);
    if (!drv || strcmp(drv, "redis")) {
        imi_config_free(cfg);
        return "skipped (the config's [cache] is not redis)";
    }
    imi_config_set(cfg, "log", "level", "off");
    imi_config_set(cfg, "ratelimit", "mode", "distributed");
    imi_config_set(cfg, "ratelimit", "cache", "");
    imi_config_set(cfg, "ratelimit", "on_backend_error", "closed");
    imi_config_set(cfg, "ratelimit", "rule.bench", "1000000000/s burst 1000000000");
    char sha[64];
    redisContext *rctx = raw_connect(cfg, sha, sizeof sha);
    imi_app *app;
    if (imi_app_open_config(cfg, &app)) {
        redisFree(rctx);
        *rc = 1;
        return imi_error_message();
    }
    imi_ratelimit *rl = NULL;
    imi_ratelimit_bucket *b = NULL;
    if (!rctx || imi_ratelimit_open(app, NULL, &rl) || !(b = imi_ratelimit_get(rl, "bench", "x"))) {
        fprintf(stderr, "imi: bench ratelimit: %s\n", rctx ? imi_error_message()
                                                           : "raw redis connection failed");
        *rc = 1;
    }
    long ops = o->ops > 0 && o->ops < REMOTE_OPS ? o->ops : REMOTE_OPS;
    /* calls per second over all turns: total calls / total time of each side */
    double td = 0, tr = 0;
    long per = ops / ROUNDS;
    for (int i = 0; !*rc && i < ROUNDS; i++) {
        double d = dist_round(b, per), r = raw_round(rctx, sha, per);
        if (d < 0 || r < 0) {
            fprintf(stderr, "imi: bench ratelimit: a distributed call failed: %s\n",
                    imi_error_message());
            *rc = 1;
        }
        td += (double)per / d;
        tr += (double)per / r;
    }
    double bd = td > 0 ? (double)per * ROUNDS / td : 0, br = tr > 0 ? (double)per * ROUNDS / tr : 0;
    imi_ratelimit_free(rl);
    imi_app_free(app);
    if (rctx)
        redisFree(rctx);
    if (*rc)
        return "failed";
    *dist = bd;
    *raw = br;
    return NULL;
}
#endif
