/* The redis driver behind Redis Sentinel: the sentinels name the master
 * (SENTINEL get-master-addr-by-name), and every new connection to it checks with ROLE
 * that it is still the master, since a sentinel may answer before a failover is done. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "redis.h"

static struct timeval tv_of_ms(int64_t ms)
{
    if (ms < 1)
        ms = 1;
    return (struct timeval){ .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
}

/* A port as text, all of it digits, 1..65535; 0 when not. */
static int port_of(const redisReply *e)
{
    if (e->type != REDIS_REPLY_STRING || !e->len || e->len > 5)
        return 0;
    int port = 0;
    for (size_t i = 0; i < e->len; i++) {
        if (e->str[i] < '0' || e->str[i] > '9')
            return 0;
        port = port * 10 + (e->str[i] - '0');
    }
    return port <= 65535 ? port : 0;
}

/* One command to a sentinel, its reply before the deadline; IMI_OK or the failure's code. */
static int sentinel_cmd(rds *r, const rds_addr *s, redisContext *c, int64_t deadline_ns,
                        const char *what, int argc, const char **argv, redisReply **out)
{
    if (redisAppendCommandArgv(c, argc, argv, NULL) != REDIS_OK)
        return r->host->error(IMI_ENOMEM, 0, "redis: sentinel %s:%d: %s: out of memory",
                              s->host, s->port, what);
    switch (rds_wait(r, c, deadline_ns, NULL, out)) {
    case RDS_WAIT_OK:
        return IMI_OK;
    case RDS_WAIT_LATE:
        return r->host->error(IMI_ETIMEDOUT, 0, "redis: sentinel %s:%d: %s: timed out", s->host,
                              s->port, what);
    case RDS_WAIT_BIG:
        return r->host->error(IMI_EDRIVER, 0, "redis: sentinel %s:%d: %s: a reply larger than "
                              "max_reply_size", s->host, s->port, what);
    default:
        break;
    }
    int code = c->err == REDIS_ERR_PROTOCOL ? IMI_EDRIVER
               : c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
                   ? IMI_ETIMEDOUT : IMI_EUNAVAILABLE;
    return r->host->error(code, c->err, "redis: sentinel %s:%d: %s: %s", s->host, s->port, what,
                          c->errstr[0] ? c->errstr : "connection closed");
}

/* Asks one sentinel; IMI_OK with the master's address in a, IMI_ENOTFOUND when it does
 * not know the name (a nil reply), IMI_EDRIVER for a reply that cannot be. */
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
    int64_t until = r->host->mono_ns() + limit * 1000000; /* this sentinel's share */
    redisSetTimeout(c, tv_of_ms(limit));
    int rc = IMI_OK;
    redisReply *rep = NULL;
    char text[RDS_TEXT_MAX];
    if (r->sentinel_password && *r->sentinel_password) {
        bool user = r->sentinel_user && *r->sentinel_user;
        const char *argv[] = { "AUTH", user ? r->sentinel_user : r->sentinel_password,
                               r->sentinel_password };
        rc = sentinel_cmd(r, s, c, until, "AUTH", user ? 3 : 2, argv, &rep);
        if (!rc && rep->type == REDIS_REPLY_ERROR)
            rc = r->host->error(IMI_ECONFIG, 0, "redis: sentinel %s:%d refused AUTH: %s",
                                s->host, s->port, rds_text(rep->str, rep->len, text));
        if (rep)
            freeReplyObject(rep);
        rep = NULL;
    }
    if (!rc) {
        const char *argv[] = { "SENTINEL", "get-master-addr-by-name", r->master_name };
        rc = sentinel_cmd(r, s, c, until, "SENTINEL get-master-addr-by-name", 3, argv, &rep);
    }
    if (rc) {
        /* recorded */
    } else if (rep->type == REDIS_REPLY_ERROR) {
        rc = r->host->error(!strncmp(rep->str, "NOAUTH", 6) ? IMI_ECONFIG : IMI_EUNAVAILABLE,
                            0, "redis: sentinel %s:%d: %s", s->host, s->port,
                            rds_text(rep->str, rep->len, text));
    } else if (rep->type == REDIS_REPLY_NIL) {
        rc = r->host->error(IMI_ENOTFOUND, 0, "redis: sentinel %s:%d knows no master named "
                            "'%s'", s->host, s->port, r->master_name);
    } else if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
               rep->element[0]->type != REDIS_REPLY_STRING || !rep->element[0]->len ||
               rep->element[0]->len >= sizeof a->host ||
               memchr(rep->element[0]->str, '\0', rep->element[0]->len) ||
               !(a->port = port_of(rep->element[1]))) {
        rc = r->host->error(IMI_EDRIVER, rep->type, "redis: sentinel %s:%d: SENTINEL "
                            "get-master-addr-by-name: unexpected reply (wanted {host, port})",
                            s->host, s->port);
    } else {
        memcpy(a->host, rep->element[0]->str, rep->element[0]->len);
        a->host[rep->element[0]->len] = '\0';
    }
    if (rep)
        freeReplyObject(rep);
    redisFree(c);
    return rc;
}

int rds_sentinel_resolve(rds *r, int64_t deadline_ns)
{
    int rc = IMI_EUNAVAILABLE;
    size_t unknown = 0, garbled = 0;
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
        garbled += rc == IMI_EDRIVER;
    }
    if (garbled == r->n_sentinels) /* each answered, none as a sentinel does: the last's */
        return rc;                 /* detail stands */
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
    redisReply *rep;
    if ((rc = rds_lease_cmd(r, l, "ROLE", 1, (const char *[]){ "ROLE" }, NULL, &rep)))
        return rc;
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
