/* The redis driver's string operations. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redis.h"

#define ARGS(...) (const char *[]){ __VA_ARGS__ }
#define LENS(...) (const size_t[]){ __VA_ARGS__ }

/* A command whose reply is an integer in lo..hi: *n receives it. */
static int cmd_int(rds *r, const imi_ctx *ctx, long long *n, long long lo, long long hi,
                   int argc, const char **argv, const size_t *lens)
{
    redisReply *rep;
    int rc = rds_cmd(r, ctx, &rep, argc, argv, lens);
    return rc ? rc : rds_expect_int(r, rep, lo, hi, argv[0], n);
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
        return rds_expect(r, rep, REDIS_REPLY_STRING, "GET");
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
    if (rep->type == REDIS_REPLY_NIL && nx) /* NX found the key */
        rc = IMI_EEXISTS;
    else if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "OK"))
        return rds_bad_reply(r, rep, "SET", rep->type == REDIS_REPLY_STATUS
                             ? "a status other than OK" : rds_type_name(rep->type));
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
    int rc = cmd_int(st, ctx, &n, 0, 1, 2, ARGS("DEL", key), LENS(3, klen));
    return rc ? rc : n ? IMI_OK : rds_miss(st);
}

int rds_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen)
{
    long long n;
    int rc = cmd_int(st, ctx, &n, 0, 1, 2, ARGS("EXISTS", key), LENS(6, klen));
    return rc ? rc : n ? IMI_OK : rds_miss(st);
}

int rds_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms)
{
    char ttl[24];
    size_t tl = (size_t)snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    long long n;
    int rc = cmd_int(st, ctx, &n, 0, 1, 3, ARGS("PEXPIRE", key, ttl), LENS(7, klen, tl));
    return rc ? rc : n ? IMI_OK : rds_miss(st);
}

int rds_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms)
{
    long long n;
    /* -2: no such key, -1: no expiry */
    int rc = cmd_int(st, ctx, &n, -2, INT64_MAX, 2, ARGS("PTTL", key), LENS(4, klen));
    if (rc)
        return rc;
    if (n == -2)
        return rds_miss(st);
    *ttl_ms = n;
    return IMI_OK;
}

int rds_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
             int64_t *result)
{
    char d[24];
    size_t dl = (size_t)snprintf(d, sizeof d, "%" PRId64, delta);
    long long n;
    int rc = cmd_int(st, ctx, &n, INT64_MIN, INT64_MAX, 3, ARGS("INCRBY", key, d), LENS(6, klen, dl));
    if (!rc)
        *result = n;
    return rc;
}
