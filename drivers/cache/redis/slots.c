/* The redis driver's cluster slot map: the owner of each slot as CLUSTER SLOTS and MOVED
 * replies tell it (a key's slot is keyslot.c's). Only masters serve calls: replicas are
 * not read from. */
#include <stdlib.h>
#include <string.h>
#include "redis.h"

rnode *rds_slot_owner(rds *r, unsigned slot)
{
    pthread_rwlock_rdlock(&r->map_mu);
    unsigned at = r->slot_node[slot % RDS_SLOTS];
    pthread_rwlock_unlock(&r->map_mu);
    return at ? r->nodes[at - 1] : NULL;
}

void rds_cluster_moved(rds *r, unsigned slot, const char *host, int port)
{
    rnode *n = rds_node_at(r, host, port);
    if (!n)
        return;
    size_t i = n->idx;
    pthread_rwlock_wrlock(&r->map_mu);
    r->slot_node[slot % RDS_SLOTS] = (uint8_t)(i + 1);
    pthread_rwlock_unlock(&r->map_mu);
}

/* Why one CLUSTER SLOTS entry {first slot, last slot, {host, port, ...}, replicas...}
 * cannot be, or NULL. */
static const char *bad_entry(const redisReply *e)
{
    if (e->type != REDIS_REPLY_ARRAY || e->elements < 3)
        return "an entry that is not {first, last, master, ...}";
    const redisReply *lo = e->element[0], *hi = e->element[1], *m = e->element[2];
    if (lo->type != REDIS_REPLY_INTEGER || hi->type != REDIS_REPLY_INTEGER)
        return "slot numbers that are not integers";
    if (lo->integer < 0 || hi->integer >= RDS_SLOTS || lo->integer > hi->integer)
        return "a slot range not within 0..16383";
    if (m->type != REDIS_REPLY_ARRAY || m->elements < 2 ||
        m->element[0]->type != REDIS_REPLY_STRING || m->element[1]->type != REDIS_REPLY_INTEGER)
        return "a master that is not {host, port, ...}";
    if (m->element[0]->len >= sizeof ((rnode *)0)->host || memchr(m->element[0]->str, '\0',
                                                                 m->element[0]->len))
        return "a master host that is too long";
    if (m->element[1]->integer <= 0 || m->element[1]->integer > 65535)
        return "a master port not within 1..65535";
    return NULL;
}

/* Applies one CLUSTER SLOTS reply (asked of node `from`) to map; IMI_OK if well formed. */
static int parse_slots(rds *r, const rnode *from, const redisReply *rep, uint8_t *map)
{
    if (rep->type == REDIS_REPLY_ARRAY && !rep->elements)
        return r->host->error(IMI_EUNAVAILABLE, 0, "redis %s:%d: CLUSTER SLOTS gave no slots",
                              from->host, from->port);
    if (rep->type != REDIS_REPLY_ARRAY)
        return r->host->error(IMI_EDRIVER, rep->type, "redis %s:%d: CLUSTER SLOTS: unexpected %s "
                              "reply (wanted array)", from->host, from->port,
                              rds_type_name(rep->type));
    for (size_t i = 0; i < rep->elements; i++) {
        const redisReply *e = rep->element[i];
        const char *why = bad_entry(e);
        if (why)
            return r->host->error(IMI_EDRIVER, 0, "redis %s:%d: CLUSTER SLOTS: unexpected reply: "
                                  "%s (entry %zu)", from->host, from->port, why, i);
        long long lo = e->element[0]->integer, hi = e->element[1]->integer;
        const redisReply *m = e->element[2];
        /* An empty or "?" address is the node asked (the way redis spells "me"). */
        const char *host = m->element[0]->len && strcmp(m->element[0]->str, "?")
                               ? m->element[0]->str : from->host;
        rnode *n = rds_node_at(r, host, (int)m->element[1]->integer);
        size_t at = n ? n->idx : RDS_MAX_NODES;
        if (at == RDS_MAX_NODES)
            return r->host->error(IMI_ENOMEM, 0, "redis: more than %d cluster nodes",
                                  RDS_MAX_NODES);
        for (long long s = lo; s <= hi; s++)
            map[s] = (uint8_t)(at + 1);
    }
    return IMI_OK;
}

/* CLUSTER SLOTS on one node. */
static int ask(rds *r, rnode *n, int64_t deadline_ns, uint8_t *map)
{
    int64_t limit = r->host->mono_ns() + r->connect_timeout_ms * 1000000;
    rlease l;
    int rc = rds_node_acquire(r, n, deadline_ns < limit ? deadline_ns : limit, &l);
    if (rc)
        return rc;
    redisReply *rep;
    rc = rds_lease_cmd(r, &l, "CLUSTER SLOTS", 2, (const char *[]){ "CLUSTER", "SLOTS" }, NULL,
                       &rep);
    rds_release(r, &l, rc != IMI_OK);
    if (rc) {
        rds_node_fail(n);
        return rc;
    }
    char text[RDS_TEXT_MAX];
    const char *s = rds_text(rep->str, rep->type == REDIS_REPLY_ERROR ? rep->len : 0, text);
    /* A node restarting (LOADING) or busy with a script answers later: not a setting. */
    bool later = !strncmp(s, "LOADING", 7) || !strncmp(s, "BUSY", 4) ||
                 !strncmp(s, "MASTERDOWN", 10) || !strncmp(s, "TRYAGAIN", 8);
    rc = rep->type != REDIS_REPLY_ERROR ? parse_slots(r, n, rep, map)
         : later ? r->host->error(IMI_EUNAVAILABLE, 0, "redis %s:%d: CLUSTER SLOTS: %s", n->host,
                                  n->port, s)
                 : r->host->error(IMI_ECONFIG, 0, "redis %s:%d: CLUSTER SLOTS: %s (cluster = "
                                  "true needs redis in cluster mode)", n->host, n->port, s);
    freeReplyObject(rep);
    return rc;
}

int rds_cluster_refresh(rds *r, int64_t deadline_ns)
{
    uint8_t *map = calloc(RDS_SLOTS, 1);
    if (!map)
        return r->host->error(IMI_ENOMEM, 0, "out of memory");
    int rc = IMI_EUNAVAILABLE;
    /* The nodes known so far, starting with the seeds; one that answers is enough. */
    size_t n = atomic_load(&r->n_nodes);
    for (size_t i = 0; i < n && rc; i++) {
        memset(map, 0, RDS_SLOTS);
        rc = ask(r, r->nodes[i], deadline_ns, map);
        if (rc == IMI_ETIMEDOUT && r->host->mono_ns() >= deadline_ns)
            break;
    }
    if (!rc) {
        pthread_rwlock_wrlock(&r->map_mu);
        memcpy(r->slot_node, map, RDS_SLOTS);
        pthread_rwlock_unlock(&r->map_mu);
    }
    free(map);
    return rc;
}
