/* The redis cache driver (hiredis): options, open/close/ping, the descriptor.
 * hiredis 0.14 as Debian 12 ships it has no TLS: connections are plain TCP. */
#include <stdlib.h>
#include <string.h>
#include "redis.h"

enum { OPT_ADDR, OPT_USER, OPT_PASSWORD, OPT_DB, OPT_POOL_SIZE, OPT_CONNECT_TIMEOUT,
       OPT_COMMAND_TIMEOUT, OPT_CLUSTER, OPT_SENTINELS, OPT_MASTER, OPT_SENTINEL_USER,
       OPT_SENTINEL_PASSWORD, OPT_MAX_REPLY };

static const imi_option_spec rds_options[] = {
    [OPT_ADDR] = { .name = "addr", .type = IMI_OPT_STRING, .default_value = "127.0.0.1:6379",
                   .help = "host:port of the redis server (cluster: seed nodes, "
                           "comma-separated)" },
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
    [OPT_CLUSTER] = { .name = "cluster", .type = IMI_OPT_BOOL, .default_value = "false",
                      .help = "Redis Cluster: keys routed by slot from the seeds in addr" },
    [OPT_SENTINELS] = { .name = "sentinels", .type = IMI_OPT_LIST,
                        .help = "host:port of Redis Sentinels (comma-separated): they name "
                                "the master; addr is then unused" },
    [OPT_MASTER] = { .name = "master", .type = IMI_OPT_STRING,
                     .help = "the master's name the sentinels monitor (with sentinels)" },
    [OPT_SENTINEL_USER] = { .name = "sentinel_user", .type = IMI_OPT_STRING,
                            .help = "ACL user for the sentinels (with sentinel_password)" },
    [OPT_SENTINEL_PASSWORD] = { .name = "sentinel_password", .type = IMI_OPT_STRING,
                                .flags = IMI_OPT_SECRET,
                                .help = "password sent with AUTH to the sentinels" },
    [OPT_MAX_REPLY] = { .name = "max_reply_size", .type = IMI_OPT_SIZE, .default_value = "1G",
                        .help = "largest reply read (64k to 16G): a server declaring or sending "
                                "more fails the call with IMI_EDRIVER rather than fill memory" },
};

/* Splits a comma-separated list of host:port into out (at most max). */
static int parse_list(rds *r, const char *what, const char *text, rds_addr *out, size_t max,
                      size_t *n)
{
    *n = 0;
    for (const char *p = text; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (*n == max)
            return r->host->error(IMI_ECONFIG, 0, "%s: more than %zu addresses", what, max);
        int rc = rds_parse_addr(r, p, len, &out[*n]);
        if (rc) {
            size_t lead = strspn(p, " \t");
            lead = lead < len ? lead : len;
            size_t shown = len - lead;
            while (shown && (p[lead + shown - 1] == ' ' || p[lead + shown - 1] == '\t'))
                shown--;
            return r->host->error(rc, 0, "%s: '%.*s' is not host:port", what, (int)shown,
                                  p + lead);
        }
        (*n)++;
        p += len + (comma != NULL);
    }
    return *n ? IMI_OK : r->host->error(IMI_ECONFIG, 0, "%s is empty", what);
}

/* The nodes to start from: the server, the seeds, or the master yet to be named. */
static int topology(rds *r, const imi_opt_value *o)
{
    bool cluster = o[OPT_CLUSTER].i, sentinel = o[OPT_SENTINELS].set;
    if (cluster && sentinel)
        return r->host->error(IMI_ECONFIG, 0, "cluster = true and sentinels exclude each other");
    if (sentinel != o[OPT_MASTER].set || (o[OPT_MASTER].set && !*o[OPT_MASTER].str))
        return r->host->error(IMI_ECONFIG, 0, "sentinels and master go together: the sentinels "
                              "are asked for the master of that name");
    if (cluster && r->db)
        return r->host->error(IMI_ECONFIG, 0, "db must be 0 with cluster = true (a cluster has "
                              "one database)");
    r->mode = cluster ? RDS_CLUSTER : sentinel ? RDS_SENTINEL : RDS_SINGLE;
    rds_addr seeds[RDS_MAX_SENTINELS];
    size_t n = 0;
    int rc = IMI_OK;
    if (sentinel) {
        r->master_name = o[OPT_MASTER].str;
        rc = parse_list(r, "sentinels", o[OPT_SENTINELS].str, r->sentinels, RDS_MAX_SENTINELS,
                        &r->n_sentinels);
        seeds[n++] = (rds_addr){ .host = "", .port = 0 }; /* named by the sentinels */
    } else {
        rc = parse_list(r, "addr", o[OPT_ADDR].str, seeds, RDS_MAX_SENTINELS, &n);
        if (!rc && n > 1 && !cluster)
            rc = r->host->error(IMI_ECONFIG, 0, "addr names %zu servers: one, or set cluster = "
                                "true (or sentinels and master)", n);
    }
    for (size_t i = 0; i < n && !rc; i++)
        if (!rds_node_at(r, seeds[i].host, seeds[i].port))
            rc = r->host->error(IMI_ENOMEM, 0, "out of memory");
    atomic_store(&r->stale, r->mode != RDS_SINGLE);
    return rc;
}

static int rds_open(void *st, const imi_driver_env *env)
{
    rds *r = st;
    r->env = env;
    r->host = env->host;
    const imi_opt_value *o = env->opts;
    r->user = o[OPT_USER].set ? o[OPT_USER].str : NULL;
    r->password = o[OPT_PASSWORD].set ? o[OPT_PASSWORD].str : NULL;
    r->sentinel_user = o[OPT_SENTINEL_USER].set ? o[OPT_SENTINEL_USER].str : NULL;
    r->sentinel_password = o[OPT_SENTINEL_PASSWORD].set ? o[OPT_SENTINEL_PASSWORD].str : NULL;
    r->db = o[OPT_DB].i;
    r->connect_timeout_ms = o[OPT_CONNECT_TIMEOUT].i > 0 ? o[OPT_CONNECT_TIMEOUT].i : 2000;
    r->command_timeout_ms = o[OPT_COMMAND_TIMEOUT].i;
    if (r->db < 0)
        return r->host->error(IMI_ECONFIG, 0, "db must not be negative");
    r->max_reply = o[OPT_MAX_REPLY].i;
    if (r->max_reply < 65536 || r->max_reply > ((int64_t)16 << 30))
        return r->host->error(IMI_ECONFIG, 0, "max_reply_size must be 64k to 16G, not %lld",
                              (long long)r->max_reply);
    if (o[OPT_POOL_SIZE].i < 1 || o[OPT_POOL_SIZE].i > 1024)
        return r->host->error(IMI_ECONFIG, 0, "pool_size must be 1 to 1024");
    r->pool_size = (size_t)o[OPT_POOL_SIZE].i;
    int rc = rds_pool_init(r);
    if (!rc)
        rc = topology(r, o);
    if (rc)
        return rc;
    /* One connection now: a wrong password or db (or a server not in cluster mode)
     * fails the open; a server that is down does not (calls report IMI_EUNAVAILABLE
     * until it is up). */
    int64_t deadline = rds_deadline(r, NULL);
    rlease l;
    if (r->mode == RDS_CLUSTER) { /* a node answered with the slot map: reachable */
        if (!(rc = rds_cluster_refresh(r, deadline)))
            atomic_store(&r->stale, false);
    } else if (!(rc = rds_route(r, NULL, 0, deadline, &l))) {
        rds_release(r, &l, false);
    }
    /* A server that answers, but not as redis does (garbage for AUTH, SELECT, CLUSTER
     * SLOTS or the sentinels' question), fails the open as a wrong setting does. */
    bool final = rc == IMI_ECONFIG || rc == IMI_EDRIVER;
    if (rc && !final)
        r->host->log(env->logger, IMI_HOST_LOG_WARN, NULL, "redis %s not reachable at open",
                     r->mode == RDS_SENTINEL ? "master (via the sentinels)"
                     : r->mode == RDS_CLUSTER ? "cluster" : "server");
    return final ? rc : IMI_OK;
}

static void rds_close(void *st)
{
    rds *r = st;
    rds_pool_free(r);
}

static int rds_ping(void *st, const imi_ctx *ctx)
{
    rds *r = st;
    if (r->mode == RDS_CLUSTER)
        return rds_cluster_ping(r, ctx);
    redisReply *rep;
    int rc = rds_cmd(r, ctx, &rep, 1, (const char *[]){ "PING" }, (const size_t[]){ 4 });
    return rc ? rc : rds_pong(r, rep);
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
    .description = "redis over hiredis (no TLS), one server, behind Sentinel or a Cluster: "
                   "strings, hashes, sets, sorted sets, lock and token bucket as Lua "
                   "scripts, a connection pool per node",
    .caps = IMI_CACHE_CAP_HASH | IMI_CACHE_CAP_SET | IMI_CACHE_CAP_ZSET | IMI_CACHE_CAP_LOCK |
            IMI_CACHE_CAP_TOKEN_BUCKET,
    .options = rds_options,
    .n_options = IMI_COUNT_OF(rds_options),
    .state_size = sizeof(rds),
    .vtable = &rds_vtable,
};

IMI_DRIVER_DEFINE(rds_desc)
