/* The redis cache driver (hiredis): options, open/close/ping, the descriptor.
 * hiredis 0.14 as Debian 12 ships it has no TLS: connections are plain TCP. */
#include <stdlib.h>
#include <string.h>
#include "redis.h"

enum { OPT_ADDR, OPT_USER, OPT_PASSWORD, OPT_DB, OPT_POOL_SIZE, OPT_CONNECT_TIMEOUT,
       OPT_COMMAND_TIMEOUT };

static const imi_option_spec rds_options[] = {
    [OPT_ADDR] = { .name = "addr", .type = IMI_OPT_STRING, .default_value = "127.0.0.1:6379",
                   .help = "host:port of the redis server" },
    [OPT_USER] = { .name = "user", .type = IMI_OPT_STRING,
                   .help = "ACL user (redis 6+); with password: AUTH user password" },
    [OPT_PASSWORD] = { .name = "password", .type = IMI_OPT_STRING, .flags = IMI_OPT_SECRET,
                       .help = "password sent with AUTH on every new connection" },
    [OPT_DB] = { .name = "db", .type = IMI_OPT_INT, .default_value = "0",
                 .help = "database index chosen with SELECT" },
    [OPT_POOL_SIZE] = { .name = "pool_size", .type = IMI_OPT_INT, .default_value = "8",
                        .help = "connections at most; a call waits for a free one within "
                                "its deadline" },
    [OPT_CONNECT_TIMEOUT] = { .name = "connect_timeout", .type = IMI_OPT_DURATION,
                              .default_value = "2s", .help = "longest wait for a new connection" },
    [OPT_COMMAND_TIMEOUT] = { .name = "command_timeout", .type = IMI_OPT_DURATION,
                              .default_value = "0",
                              .help = "longest wait per call, under the ctx deadline "
                                      "(0: the deadline alone)" },
};

static int parse_addr(rds *r, const char *addr)
{
    const char *colon = strrchr(addr, ':');
    size_t n = colon ? (size_t)(colon - addr) : strlen(addr);
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 6379;
    if (addr[0] == '[' && n >= 2 && addr[n - 1] == ']') { /* [::1]:6379 */
        addr++;
        n -= 2;
    }
    if (!n || n >= sizeof r->host_name || (colon && (*end || port <= 0 || port > 65535)))
        return r->host->error(IMI_ECONFIG, 0, "addr '%s' is not host:port", addr);
    memcpy(r->host_name, addr, n);
    r->host_name[n] = '\0';
    r->port = (int)port;
    return IMI_OK;
}

static int rds_open(void *st, const imi_driver_env *env)
{
    rds *r = st;
    r->env = env;
    r->host = env->host;
    const imi_opt_value *o = env->opts;
    int rc = parse_addr(r, o[OPT_ADDR].str);
    if (rc)
        return rc;
    r->user = o[OPT_USER].set ? o[OPT_USER].str : NULL;
    r->password = o[OPT_PASSWORD].set ? o[OPT_PASSWORD].str : NULL;
    r->db = o[OPT_DB].i;
    r->connect_timeout_ms = o[OPT_CONNECT_TIMEOUT].i > 0 ? o[OPT_CONNECT_TIMEOUT].i : 2000;
    r->command_timeout_ms = o[OPT_COMMAND_TIMEOUT].i;
    if (r->db < 0)
        return r->host->error(IMI_ECONFIG, 0, "db must not be negative");
    if (o[OPT_POOL_SIZE].i < 1 || o[OPT_POOL_SIZE].i > 1024)
        return r->host->error(IMI_ECONFIG, 0, "pool_size must be 1 to 1024");
    r->n_conns = (size_t)o[OPT_POOL_SIZE].i;
    r->conns = calloc(r->n_conns, sizeof *r->conns);
    if (!r->conns)
        return r->host->error(IMI_ENOMEM, 0, "out of memory");
    if ((rc = rds_pool_init(r)))
        return rc;
    /* One connection now: a wrong password or db fails the open; a server that is down
     * does not (calls report IMI_EUNAVAILABLE until it is up). */
    rlease l;
    rc = rds_acquire(r, NULL, &l);
    if (!rc)
        rds_release(r, &l, false);
    else if (rc != IMI_ECONFIG)
        r->host->log(env->logger, IMI_HOST_LOG_WARN, NULL, "redis %s:%d not reachable at open",
                     r->host_name, r->port);
    return rc == IMI_ECONFIG ? rc : IMI_OK;
}

static void rds_close(void *st)
{
    rds *r = st;
    rds_pool_free(r);
    free(r->conns);
    r->conns = NULL;
}

static int rds_ping(void *st, const imi_ctx *ctx)
{
    redisReply *rep;
    int rc = rds_cmd(st, ctx, &rep, 1, (const char *[]){ "PING" }, (const size_t[]){ 4 });
    if (!rc)
        freeReplyObject(rep);
    return rc;
}

static const imi_cache_driver rds_vtable = {
    .size = sizeof(imi_cache_driver),
    .open = rds_open,
    .close = rds_close,
    .ping = rds_ping,
    .get = rds_get,
    .set = rds_set,
    .setnx = rds_setnx,
    .del = rds_del,
    .exists = rds_exists,
    .expire = rds_expire,
    .ttl = rds_ttl,
    .incr = rds_incr,
    .mget = rds_mget,
    .mset = rds_mset,
    .hset = rds_hset,
    .hget = rds_hget,
    .hdel = rds_hdel,
    .hgetall = rds_hgetall,
    .sadd = rds_sadd,
    .srem = rds_srem,
    .sismember = rds_sismember,
    .smembers = rds_smembers,
    .zadd = rds_zadd,
    .zrem = rds_zrem,
    .zscore = rds_zscore,
    .zrange = rds_zrange,
    .lock = rds_lock,
    .unlock = rds_unlock,
    .lock_renew = rds_lock_renew,
    .take = rds_take,
};

static const imi_driver_desc rds_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_CACHE,
    .name = "redis",
    .version = "0.1.0",
    .description = "redis over hiredis (no TLS): strings, hashes, sets, sorted sets, "
                   "lock and token bucket as Lua scripts, a connection pool",
    .caps = IMI_CACHE_CAP_HASH | IMI_CACHE_CAP_SET | IMI_CACHE_CAP_ZSET | IMI_CACHE_CAP_LOCK |
            IMI_CACHE_CAP_TOKEN_BUCKET,
    .options = rds_options,
    .n_options = IMI_COUNT_OF(rds_options),
    .state_size = sizeof(rds),
    .vtable = &rds_vtable,
};

IMI_DRIVER_DEFINE(rds_desc)
