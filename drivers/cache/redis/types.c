/* The redis driver's hashes, sets and sorted sets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redis.h"

#define ARGS(...) (const char *[]){ __VA_ARGS__ }
#define LENS(...) (const size_t[]){ __VA_ARGS__ }

/* A command answering an integer: IMI_OK when it is non-zero, else `zero`. */
static int cmd_flag(rds *r, const imi_ctx *ctx, int zero, int argc, const char **argv,
                    const size_t *lens)
{
    redisReply *rep;
    int rc = rds_cmd(r, ctx, &rep, argc, argv, lens);
    if (rc || (rc = rds_expect(r, rep, REDIS_REPLY_INTEGER)))
        return rc;
    rc = rep->integer ? IMI_OK : zero == IMI_ENOTFOUND ? rds_miss(r) : zero;
    freeReplyObject(rep);
    return rc;
}

/* A command answering a bulk string or nil: IMI_ENOTFOUND for nil. */
static int cmd_bulk(rds *r, const imi_ctx *ctx, redisReply **out, int argc, const char **argv,
                    const size_t *lens)
{
    int rc = rds_cmd(r, ctx, out, argc, argv, lens);
    if (rc)
        return rc;
    if ((*out)->type == REDIS_REPLY_NIL) {
        freeReplyObject(*out);
        return rds_miss(r);
    }
    return rds_expect(r, *out, REDIS_REPLY_STRING);
}

/* Hands an array reply to fn: pairs (item, value) or (member, score), or single members. */
static int each(rds *r, redisReply *rep, int pairs, int scores, imi_cache_each_fn fn, void *ud)
{
    int rc = rds_expect(r, rep, REDIS_REPLY_ARRAY);
    if (rc)
        return rc;
    size_t step = pairs ? 2 : 1;
    for (size_t i = 0; i + step <= rep->elements; i += step) {
        const redisReply *a = rep->element[i], *b = pairs ? rep->element[i + 1] : NULL;
        double score = scores && b ? strtod(b->str, NULL) : 0;
        if (fn(ud, a->str, a->len, pairs && !scores ? b->str : NULL,
               pairs && !scores ? b->len : 0, score))
            break;
    }
    freeReplyObject(rep);
    return IMI_OK;
}

int rds_hset(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             const void *val, size_t len)
{
    redisReply *rep;
    int rc = rds_cmd(st, ctx, &rep, 4, ARGS("HSET", key, field, val),
                     LENS(4, klen, strlen(field), len));
    if (!rc)
        freeReplyObject(rep);
    return rc;
}

int rds_hget(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             imi_buf *val)
{
    rds *r = st;
    redisReply *rep;
    int rc = cmd_bulk(r, ctx, &rep, 3, ARGS("HGET", key, field), LENS(4, klen, strlen(field)));
    if (rc)
        return rc;
    rc = r->host->buf_set(val, rep->str, rep->len);
    freeReplyObject(rep);
    return rc;
}

int rds_hdel(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field)
{
    return cmd_flag(st, ctx, IMI_ENOTFOUND, 3, ARGS("HDEL", key, field),
                    LENS(4, klen, strlen(field)));
}

int rds_hgetall(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                imi_cache_each_fn fn, void *ud)
{
    redisReply *rep;
    int rc = rds_cmd(st, ctx, &rep, 2, ARGS("HGETALL", key), LENS(7, klen));
    return rc ? rc : each(st, rep, 1, 0, fn, ud);
}

int rds_sadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len)
{
    return cmd_flag(st, ctx, IMI_EEXISTS, 3, ARGS("SADD", key, m), LENS(4, klen, len));
}

int rds_srem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len)
{
    return cmd_flag(st, ctx, IMI_ENOTFOUND, 3, ARGS("SREM", key, m), LENS(4, klen, len));
}

int rds_sismember(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m,
                  size_t len)
{
    return cmd_flag(st, ctx, IMI_ENOTFOUND, 3, ARGS("SISMEMBER", key, m), LENS(9, klen, len));
}

int rds_smembers(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                 imi_cache_each_fn fn, void *ud)
{
    redisReply *rep;
    int rc = rds_cmd(st, ctx, &rep, 2, ARGS("SMEMBERS", key), LENS(8, klen));
    return rc ? rc : each(st, rep, 0, 0, fn, ud);
}

int rds_zadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m,
             size_t len, double score)
{
    char s[40];
    size_t sl = (size_t)(isinf(score) ? snprintf(s, sizeof s, "%sinf", score < 0 ? "-" : "+")
                                      : snprintf(s, sizeof s, "%.17g", score));
    redisReply *rep;
    int rc = rds_cmd(st, ctx, &rep, 4, ARGS("ZADD", key, s, m), LENS(4, klen, sl, len));
    if (!rc)
        freeReplyObject(rep);
    return rc;
}

int rds_zrem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len)
{
    return cmd_flag(st, ctx, IMI_ENOTFOUND, 3, ARGS("ZREM", key, m), LENS(4, klen, len));
}

int rds_zscore(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m,
               size_t len, double *score)
{
    redisReply *rep;
    int rc = cmd_bulk(st, ctx, &rep, 3, ARGS("ZSCORE", key, m), LENS(6, klen, len));
    if (rc)
        return rc;
    *score = strtod(rep->str, NULL);
    freeReplyObject(rep);
    return IMI_OK;
}

int rds_zrange(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t start,
               int64_t stop, imi_cache_each_fn fn, void *ud)
{
    char a[24], b[24];
    size_t al = (size_t)snprintf(a, sizeof a, "%lld", (long long)start);
    size_t bl = (size_t)snprintf(b, sizeof b, "%lld", (long long)stop);
    redisReply *rep;
    int rc = rds_cmd(st, ctx, &rep, 5, ARGS("ZRANGE", key, a, b, "WITHSCORES"),
                     LENS(6, klen, al, bl, 10));
    return rc ? rc : each(st, rep, 1, 1, fn, ud);
}
