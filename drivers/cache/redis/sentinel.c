/* The redis driver behind Redis Sentinel: the sentinels name the master
 * (SENTINEL get-master-addr-by-name), and every new connection to it checks with ROLE
 * that it is still the master, since a sentinel may answer before a failover is done. */
#include <stdlib.h>
#include <string.h>
#include "redis.h"

static struct timeval tv_of_ms(int64_t ms)
{
    if (ms < 1)
        ms = 1;
    return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

/* Asks one sentinel; IMI_OK with the master's address in a, IMI_ENOTFOUND when it does
 * not know the name. */
static int ask(rds *r, const rds_addr *s, int64_t deadline_ns, rds_addr *a)
{
    int64_t left_ms = (deadline_ns - r->host->mono_ns()) / 1000000;
    if (left_ms <= 0)
        return r->host->error(IMI_ETIMEDOUT, 0, "redis: deadline exceeded asking the sentinels");
    int64_t limit = left_ms < r->connect_timeout_ms ? left_ms : r->connect_timeout_ms;
    redisContext *c = redisConnectWithTimeout(s->host, s->port, tv_of_ms(limit));
    if (!c || c->err) {
        int rc = r->host->error(IMI_EUNAVAILABLE, 0, "redis: sentinel %s:%d: %s", s->host,
                                s->port, c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return rc;
    }
    redisSetTimeout(c, tv_of_ms(limit));
    int rc = IMI_OK;
    redisReply *rep = NULL;
    if (r->sentinel_password && *r->sentinel_password) {
        bool user = r->sentinel_user && *r->sentinel_user;
        const char *argv[] = { "AUTH", user ? r->sentinel_user : r->sentinel_password,
                               r->sentinel_password };
        rep = redisCommandArgv(c, user ? 3 : 2, argv, NULL);
        if (rep && rep->type == REDIS_REPLY_ERROR)
            rc = r->host->error(IMI_ECONFIG, 0, "redis: sentinel %s:%d refused AUTH: %s",
                                s->host, s->port, rep->str);
        if (rep)
            freeReplyObject(rep);
        rep = NULL;
    }
    if (!rc) {
        const char *argv[] = { "SENTINEL", "get-master-addr-by-name", r->master_name };
        rep = redisCommandArgv(c, 3, argv, NULL);
        if (!rep)
            rc = r->host->error(IMI_EUNAVAILABLE, 0, "redis: sentinel %s:%d: %s", s->host,
                                s->port, c->errstr[0] ? c->errstr : "connection closed");
        else if (rep->type == REDIS_REPLY_ERROR)
            rc = r->host->error(!strncmp(rep->str, "NOAUTH", 6) ? IMI_ECONFIG : IMI_EUNAVAILABLE,
                                0, "redis: sentinel %s:%d: %s", s->host, s->port, rep->str);
        else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
                 rep->element[0]->type != REDIS_REPLY_STRING ||
                 rep->element[1]->type != REDIS_REPLY_STRING)
            rc = r->host->error(IMI_ENOTFOUND, 0, "redis: sentinel %s:%d knows no master "
                                "named '%s'", s->host, s->port, r->master_name);
        else {
            long port = strtol(rep->element[1]->str, NULL, 10);
            snprintf(a->host, sizeof a->host, "%s", rep->element[0]->str);
            a->port = (int)port;
            if (port <= 0 || port > 65535 || !a->host[0])
                rc = r->host->error(IMI_EUNAVAILABLE, 0, "redis: sentinel %s:%d gave a bad "
                                    "address for '%s'", s->host, s->port, r->master_name);
        }
    }
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return rc;
}

int rds_sentinel_resolve(rds *r, int64_t deadline_ns)
{
    int rc = IMI_EUNAVAILABLE;
    size_t unknown = 0;
    for (size_t i = 0; i < r->n_sentinels; i++) {
        rds_addr a;
        /* The first sentinel that answers wins; a wrong sentinel_password is final. */
        if (!(rc = ask(r, &r->sentinels[i], deadline_ns, &a))) {
            rds_node_move(r->nodes[0], a.host, a.port);
            return IMI_OK;
        }
        if (rc == IMI_ECONFIG || rc == IMI_ETIMEDOUT)
            return rc;
        unknown += rc == IMI_ENOTFOUND;
    }
    if (unknown == r->n_sentinels) /* every sentinel answered: the name is wrong */
        return r->host->error(IMI_ECONFIG, 0, "redis: none of the %zu sentinels monitors a "
                              "master named '%s' (option master)", r->n_sentinels,
                              r->master_name);
    return r->host->error(IMI_EUNAVAILABLE, 0, "redis: no sentinel of %zu named the master "
                          "'%s'", r->n_sentinels, r->master_name);
}

int rds_sentinel_check_role(rds *r, rlease *l)
{
    int rc = rds_arm(r, l);
    if (rc)
        return rc;
    redisReply *rep = redisCommand(l->c->rc, "ROLE");
    if (!rep)
        return rds_io_error(r, l->n, l->c->rc, "ROLE");
    bool master = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
                  rep->element[0]->type == REDIS_REPLY_STRING &&
                  !strcmp(rep->element[0]->str, "master");
    if (!master) {
        char name[300];
        rds_node_name(l->n, name, sizeof name);
        rds_topology_stale(r);
        rc = r->host->error(IMI_EUNAVAILABLE, 0, "redis %s is not the master of '%s' (a "
                            "failover is under way)", name, r->master_name);
    }
    freeReplyObject(rep);
    return rc;
}
