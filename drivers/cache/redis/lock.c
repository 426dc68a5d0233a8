/* The redis driver's lock and token bucket: each one Lua script, so that the check and
 * the change are one atomic step on the server.
 *
 * The lock is `SET key owner PX ttl` (NX when free); release and renew compare the owner
 * first. The bucket is a hash {t: tokens, a: last refill in server microseconds}, refilled
 * from the server's clock (TIME: allowed since redis 5 replicates script effects), and
 * expiring once it would be full again. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "redis.h"

const char *const rds_scripts[N_SCRIPTS] = {
    [SCRIPT_LOCK] =
        "local v = redis.call('GET', KEYS[1])\n"
        "if v == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end\n"
        "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end\n"
        "return 0\n",
    /* ARGV[2] = 0: release; else renew for ARGV[2] ms. -1: not held, 0: other owner. */
    [SCRIPT_OWNER] =
        "local v = redis.call('GET', KEYS[1])\n"
        "if v == false then return -1 end\n"
        "if v ~= ARGV[1] then return 0 end\n"
        "if ARGV[2] == '0' then redis.call('DEL', KEYS[1])\n"
        "else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
        "return 1\n",
    /* ARGV: rate per second, burst, n. Returns {granted 0/1, retry after ms}. */
    [SCRIPT_TAKE] =
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
        "return {ok, wait}\n",
};

int rds_lock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner,
             int64_t ttl_ms)
{
    rds *r = st;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    redisReply *rep;
    long long got;
    int rc = rds_script(r, ctx, SCRIPT_LOCK, "lock", key, klen, 2, (const char *[]){ owner, ttl },
                        &rep);
    if (rc || (rc = rds_expect_int(r, rep, 0, 1, "lock", &got)))
        return rc;
    return got == 1 ? IMI_OK : r->host->error(IMI_ECONFLICT, 0, "lock is held by another owner");
}

static int owner_op(rds *r, const imi_ctx *ctx, const char *key, size_t klen,
                    const char *owner, int64_t ttl_ms)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    redisReply *rep;
    const char *what = ttl_ms ? "lock renew" : "unlock";
    long long got;
    int rc = rds_script(r, ctx, SCRIPT_OWNER, what, key, klen, 2, (const char *[]){ owner, ttl },
                        &rep);
    if (rc || (rc = rds_expect_int(r, rep, -1, 1, what, &got)))
        return rc;
    return got == 1   ? IMI_OK
           : got == 0 ? r->host->error(IMI_ECONFLICT, 0, "lock is held by another owner")
                      : r->host->error(IMI_ENOTFOUND, 0, "lock is not held");
}

int rds_unlock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner)
{
    return owner_op(st, ctx, key, klen, owner, 0);
}

int rds_lock_renew(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                   const char *owner, int64_t ttl_ms)
{
    return owner_op(st, ctx, key, klen, owner, ttl_ms);
}

int rds_take(void *st, const imi_ctx *ctx, const char *key, size_t klen, double rate,
             int64_t burst, int64_t n, int64_t *retry_after_ms)
{
    rds *r = st;
    char a[40], b[24], c[24];
    snprintf(a, sizeof a, "%.17g", rate);
    snprintf(b, sizeof b, "%lld", (long long)burst);
    snprintf(c, sizeof c, "%lld", (long long)n);
    redisReply *rep;
    int rc = rds_script(r, ctx, SCRIPT_TAKE, "take", key, klen, 3, (const char *[]){ a, b, c },
                        &rep);
    if (rc || (rc = rds_expect(r, rep, REDIS_REPLY_ARRAY, "take")))
        return rc;
    /* {granted 0 or 1, retry after ms >= 0} */
    if (rep->elements != 2 || rep->element[0]->type != REDIS_REPLY_INTEGER ||
        rep->element[1]->type != REDIS_REPLY_INTEGER || rep->element[0]->integer < 0 ||
        rep->element[0]->integer > 1 || rep->element[1]->integer < 0)
        return rds_bad_reply(r, rep, "take", "not {0 or 1, retry after ms}");
    *retry_after_ms = rep->element[1]->integer;
    rc = rep->element[0]->integer == 1
             ? IMI_OK
             : r->host->error(IMI_ELIMITED, 0, "rate limited: retry after %lld ms",
                              (long long)*retry_after_ms);
    freeReplyObject(rep);
    return rc;
}
