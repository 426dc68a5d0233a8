/* The redis driver's string operations. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redis.h"

#define ARGS(...) (const char *[]){ __VA_ARGS__ }
#define LENS(...) (const size_t[]){ __VA_ARGS__ }

/* A command whose reply is an integer: *n receives it. */
static int cmd_int(rds *r, const imi_ctx *ctx, long long *n, int argc, const char **argv,
                   const size_t *lens)
{
    redisReply *rep;
    int rc = rds_cmd(r, ctx, &rep, argc, argv, lens);
    if (rc || (rc = rds_expect(r, rep, REDIS_REPLY_INTEGER)))
        return rc;
    *n = rep->integer;
    freeReplyObject(rep);
    return IMI_OK;
}

int rds_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val)
{
    rds *r = st;
    redisReply *rep;
    int rc = rds_cmd(r, ctx, &rep, 2, ARGS("GET", key), LENS(3, klen));
    if (rc)
        return rc;
    if (rep->type == REDIS_REPLY_NIL)
        rc = rds_miss(r);
    else if (rep->type == REDIS_REPLY_STRING)
        rc = r->host->buf_set(val, rep->str, rep->len);
    else
        return rds_expect(r, rep, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    return rc;
}

/* SET key val [NX] [PX ttl]: IMI_EEXISTS when NX found the key. */
static int set_cmd(rds *r, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
                   size_t len, int64_t ttl_ms, bool nx)
{
    char ttl[24];
    const char *argv[6] = { "SET", key, val };
    size_t lens[6] = { 3, klen, len };
    int argc = 3;
    if (nx) {
        argv[argc] = "NX";
        lens[argc++] = 2;
    }
    if (ttl_ms > 0) {
        argv[argc] = "PX";
        lens[argc++] = 2;
        lens[argc] = (size_t)snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
        argv[argc++] = ttl;
    }
    redisReply *rep;
    int rc = rds_cmd(r, ctx, &rep, argc, argv, lens);
    if (rc)
        return rc;
    rc = rep->type == REDIS_REPLY_NIL ? IMI_EEXISTS : IMI_OK;
    freeReplyObject(rep);
    return rc;
}

int rds_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
            size_t len, int64_t ttl_ms)
{
    return set_cmd(st, ctx, key, klen, val, len, ttl_ms, false);
}

int rds_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
              size_t len, int64_t ttl_ms)
{
    return set_cmd(st, ctx, key, klen, val, len, ttl_ms, true);
}

int rds_del(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    long long n;
    int rc = cmd_int(st, ctx, &n, 2, ARGS("DEL", key), LENS(3, klen));
    return rc ? rc : n ? IMI_OK : rds_miss(st);
}

int rds_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    long long n;
    int rc = cmd_int(st, ctx, &n, 2, ARGS("EXISTS", key), LENS(6, klen));
    return rc ? rc : n ? IMI_OK : rds_miss(st);
}

int rds_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms)
{
    char ttl[24];
    size_t tl = (size_t)snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    long long n;
    int rc = cmd_int(st, ctx, &n, 3, ARGS("PEXPIRE", key, ttl), LENS(7, klen, tl));
    return rc ? rc : n ? IMI_OK : rds_miss(st);
}

int rds_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms)
{
    long long n;
    int rc = cmd_int(st, ctx, &n, 2, ARGS("PTTL", key), LENS(4, klen));
    if (rc)
        return rc;
    if (n == -2)
        return rds_miss(st);
    *ttl_ms = n < 0 ? -1 : n;
    return IMI_OK;
}

int rds_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
             int64_t *result)
{
    char d[24];
    size_t dl = (size_t)snprintf(d, sizeof d, "%" PRId64, delta);
    long long n;
    int rc = cmd_int(st, ctx, &n, 3, ARGS("INCRBY", key, d), LENS(6, klen, dl));
    if (!rc)
        *result = n;
    return rc;
}

int rds_mget(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             size_t n, imi_buf *vals, int *found)
{
    rds *r = st;
    const char **argv = malloc((n + 1) * sizeof *argv);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    int rc = argv && lens ? IMI_OK : r->host->error(IMI_ENOMEM, 0, "out of memory");
    redisReply *rep = NULL;
    if (!rc) {
        argv[0] = "MGET";
        lens[0] = 4;
        memcpy(argv + 1, keys, n * sizeof *argv);
        memcpy(lens + 1, klens, n * sizeof *lens);
        rc = rds_cmd(r, ctx, &rep, (int)n + 1, argv, lens);
    }
    free(argv);
    free(lens);
    if (rc || (rc = rds_expect(r, rep, REDIS_REPLY_ARRAY)))
        return rc;
    for (size_t i = 0; i < n; i++)
        found[i] = 0;
    for (size_t i = 0; i < n && i < rep->elements && !rc; i++) {
        const redisReply *e = rep->element[i];
        found[i] = e->type == REDIS_REPLY_STRING;
        if (found[i])
            rc = r->host->buf_set(&vals[i], e->str, e->len);
    }
    freeReplyObject(rep);
    return rc;
}

int rds_mset(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             const imi_bytes *vals, size_t n, int64_t ttl_ms)
{
    rds *r = st;
    if (ttl_ms == 0) { /* one MSET */
        const char **argv = malloc((2 * n + 1) * sizeof *argv);
        size_t *lens = malloc((2 * n + 1) * sizeof *lens);
        int rc = argv && lens ? IMI_OK : r->host->error(IMI_ENOMEM, 0, "out of memory");
        redisReply *rep = NULL;
        if (!rc) {
            argv[0] = "MSET";
            lens[0] = 4;
            for (size_t i = 0; i < n; i++) {
                argv[1 + 2 * i] = keys[i];
                lens[1 + 2 * i] = klens[i];
                argv[2 + 2 * i] = vals[i].data;
                lens[2 + 2 * i] = vals[i].len;
            }
            rc = rds_cmd(r, ctx, &rep, (int)(2 * n + 1), argv, lens);
        }
        free(argv);
        free(lens);
        if (rep)
            freeReplyObject(rep);
        return rc;
    }
    /* with a TTL: SET ... PX for each key, pipelined in one round trip */
    char ttl[24];
    size_t tl = (size_t)snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    const char **argv = malloc(n * 5 * sizeof *argv);
    size_t *lens = malloc(n * 5 * sizeof *lens);
    int *argcs = malloc(n * sizeof *argcs);
    const char *const **argvs = malloc(n * sizeof *argvs);
    const size_t **lensv = malloc(n * sizeof *lensv);
    redisReply **reps = calloc(n, sizeof *reps);
    int rc = argv && lens && argcs && argvs && lensv && reps
                 ? IMI_OK : r->host->error(IMI_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < n && !rc; i++) {
        const char **a = argv + 5 * i;
        size_t *l = lens + 5 * i;
        a[0] = "SET", l[0] = 3;
        a[1] = keys[i], l[1] = klens[i];
        a[2] = vals[i].data, l[2] = vals[i].len;
        a[3] = "PX", l[3] = 2;
        a[4] = ttl, l[4] = tl;
        argcs[i] = 5;
        argvs[i] = a;
        lensv[i] = l;
    }
    if (!rc)
        rc = rds_pipeline(r, ctx, n, argcs, argvs, lensv, reps);
    for (size_t i = 0; i < n && reps; i++) {
        if (!rc && reps[i] && reps[i]->type == REDIS_REPLY_ERROR)
            rc = rds_reply_error(r, reps[i]);
        if (reps[i])
            freeReplyObject(reps[i]);
    }
    free(argv), free(lens), free(argcs), free(argvs), free(lensv), free(reps);
    return rc;
}
