/* The redis driver's routing: which node serves a call, and reading the topology again
 * when it changed (the sentinels' master, the cluster's slot map). */
#include <string.h>
#include "redis.h"

/* Topology reads at most this often: a failover makes every call ask at once. */
#define REFRESH_GAP_NS 100000000

void rds_topology_stale(rds *r)
{
    if (r->mode != RDS_SINGLE)
        atomic_store(&r->stale, true);
}

rnode *rds_node_at(rds *r, const char *host, int port)
{
    size_t n = atomic_load(&r->n_nodes);
    for (size_t i = 0; i < n; i++) /* host and port of cluster nodes never change */
        if (r->nodes[i]->port == port && !strcmp(r->nodes[i]->host, host))
            return r->nodes[i];
    pthread_mutex_lock(&r->mu);
    rnode *found = NULL;
    n = atomic_load(&r->n_nodes);
    for (size_t i = 0; i < n && !found; i++)
        if (r->nodes[i]->port == port && !strcmp(r->nodes[i]->host, host))
            found = r->nodes[i];
    if (!found && n < RDS_MAX_NODES && (found = rds_node_new(r, host, port))) {
        found->idx = n;
        r->nodes[n] = found;
        atomic_store(&r->n_nodes, n + 1); /* published after the node is complete */
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

int rds_refresh(rds *r, int64_t deadline_ns)
{
    if (!atomic_load(&r->stale))
        return IMI_OK;
    pthread_mutex_lock(&r->mu);
    int64_t now = r->host->mono_ns();
    bool due = atomic_load(&r->stale) && now - r->refreshed_ns >= REFRESH_GAP_NS;
    if (due)
        r->refreshed_ns = now;
    pthread_mutex_unlock(&r->mu);
    if (!due)
        return IMI_OK; /* another thread reads it, or did so a moment ago */
    atomic_store(&r->stale, false);
    int rc = r->mode == RDS_SENTINEL ? rds_sentinel_resolve(r, deadline_ns)
                                     : rds_cluster_refresh(r, deadline_ns);
    if (rc)
        atomic_store(&r->stale, true);
    return rc;
}

rnode *rds_pick(rds *r, const char *key, size_t klen, int64_t deadline_ns, int *rc)
{
    *rc = IMI_OK;
    rnode *n = r->nodes[0];
    if (r->mode != RDS_SINGLE) {
        *rc = rds_refresh(r, deadline_ns);
        if (*rc && r->mode == RDS_SENTINEL)
            return NULL; /* no sentinel answered: the master is unknown */
        *rc = IMI_OK;
    }
    if (r->mode == RDS_CLUSTER) {
        rnode *owner = rds_slot_owner(r, key ? rds_key_slot(key, klen) : 0);
        if (owner)
            n = owner;
        else if (key)
            rds_topology_stale(r); /* the seed answers MOVED meanwhile */
    }
    return n;
}

int rds_route(rds *r, const char *key, size_t klen, int64_t deadline_ns, rlease *l)
{
    int rc;
    rnode *n = rds_pick(r, key, klen, deadline_ns, &rc);
    return n ? rds_node_acquire(r, n, deadline_ns, l) : rc;
}
