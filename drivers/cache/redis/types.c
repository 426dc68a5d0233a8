/* The redis driver's hashes, sets and sorted sets. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redis.h"

#define ARGS(...) (const char *[]){ __VA_ARGS__ }
#define LENS(...) (const size_t[]){ __VA_ARGS__ }

/* A command on one field or member answering 0 or 1: IMI_OK for 1, else `zero`. */
static int cmd_flag(rds *r, const imi_ctx *ctx, int zero, int argc, const char **argv,
                    const size_t *lens)
{
    redisReply *rep;
    long long n;
    int rc = rds_cmd(r, ctx, &rep, argc, argv, lens);
    if (rc || (rc = rds_expect_int(r, rep, 0, 1, argv[0], &n)))
        return rc;
    return n ? IMI_OK : zero == IMI_ENOTFOUND ? rds_miss(r) : zero;
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
    return rds_expect(r, *out, REDIS_REPLY_STRING, argv[0]);
}

/* Hands an array reply to `what` to fn: pairs (item, value) or (member, score), or single
 * members. The whole reply is checked first, so that fn never sees part of a bad one. */
static int each(rds *r, redisReply *rep, int pairs, int scores, const char *what,
                imi_cache_each_fn fn, void *ud)
{
    int rc = rds_expect(r, rep, REDIS_REPLY_ARRAY, what);
    if (rc)
        return rc;
    size_t step = pairs ? 2 : 1;
    if (rep->elements % step)
        return rds_bad_reply(r, rep, what, "an odd number of elements");
    double score;
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        if (e->type != REDIS_REPLY_STRING)
            return rds_bad_reply(r, rep, what, "an element that is not a bulk string");
        if (scores && i % 2 && rds_parse_score(e, &score))
            return rds_bad_reply(r, rep, what, "a score that is not a number");
    }
    for (size_t i = 0; i < rep->elements; i += step) {
        const redisReply *a = rep->element[i], *b = pairs ? rep->element[i + 1] : NULL;
        score = 0;
        if (scores)
            rds_parse_score(b, &score);
        if (fn(ud, a->str, a->len, pairs && !scores ? b->str : NULL,
               pairs && !scores ? b->len : 0, score))
            break;
    }
    freeReplyObject(rep);
    return IMI_OK;
}

/* A write of one field or member answering how many it added: 0 or 1. */
static int cmd_added(rds *r, const imi_ctx *ctx, int argc, const char **argv, const size_t *lens)
{
    redisReply *rep;
    long long n;
    int rc = rds_cmd(r, ctx, &rep, argc, argv, lens);
    return rc ? rc : rds_expect_int(r, rep, 0, 1, argv[0], &n);
}

int rds_hset(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             const void *val, size_t len)
{
    return cmd_added(st, ctx, 4, ARGS("HSET", key, field, val), LENS(4, klen, strlen(field), len));
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
    return rc ? rc : each(st, rep, 1, 0, "HGETALL", fn, ud);
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
    return rc ? rc : each(st, rep, 0, 0, "SMEMBERS", fn, ud);
}

int rds_zadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m,
             size_t len, double score)
{
    char s[40];
    size_t sl = (size_t)(isinf(score) ? snprintf(s, sizeof s, "%sinf", score < 0 ? "-" : "+")
                                      : snprintf(s, sizeof s, "%.17g", score));
    return cmd_added(st, ctx, 4, ARGS("ZADD", key, s, m), LENS(4, klen, sl, len));
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
    if (rds_parse_score(rep, score))
        return rds_bad_reply(st, rep, "ZSCORE", "a score that is not a number");
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
    return rc ? rc : each(st, rep, 1, 1, "ZRANGE", fn, ud);
}
