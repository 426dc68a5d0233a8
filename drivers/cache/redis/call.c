/* The redis driver's command paths: one command, a pipeline, reply errors, scripts. */
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include "redis.h"

/* The Lua scripts behind the lock and the token bucket (see lock.c). */
extern const char *const rds_scripts[N_SCRIPTS];

const char *rds_text(const char *s, size_t len, char *buf)
{
    size_t n = 0;
    for (size_t i = 0; s && i < len && n < RDS_TEXT_MAX - 4; i++)
        buf[n++] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    if (s && len > n) /* cut */
        memcpy(buf + n, "...", 3), n += 3;
    buf[n] = '\0';
    return buf;
}

const char *rds_type_name(int type)
{
    switch (type) {
    case REDIS_REPLY_STRING: return "bulk string";
    case REDIS_REPLY_ARRAY: return "array";
    case REDIS_REPLY_INTEGER: return "integer";
    case REDIS_REPLY_NIL: return "nil";
    case REDIS_REPLY_STATUS: return "status";
    case REDIS_REPLY_ERROR: return "error";
    default: return "unknown";
    }
}

int rds_reply_error(rds *r, const redisReply *rep, const char *what)
{
    char t[RDS_TEXT_MAX];
    const char *s = rds_text(rep->str, rep->str ? rep->len : 0, t);
    if (!strncmp(s, "WRONGTYPE", 9))
        return r->host->error(IMI_EINVALID, 0, "redis: %s: key holds a value of another type",
                              what);
    if (strstr(s, "not an integer") || strstr(s, "overflow") || strstr(s, "not a valid float"))
        return r->host->error(IMI_EINVALID, 0, "redis: %s: %s", what, s);
    if (!strncmp(s, "LOADING", 7) || !strncmp(s, "READONLY", 8) || !strncmp(s, "MASTERDOWN", 10) ||
        !strncmp(s, "BUSY", 4) || !strncmp(s, "CLUSTERDOWN", 11) || !strncmp(s, "TRYAGAIN", 8))
        return r->host->error(IMI_EUNAVAILABLE, 0, "redis: %s: %s", what, s);
    if (!strncmp(s, "NOAUTH", 6) || !strncmp(s, "WRONGPASS", 9) || !strncmp(s, "NOPERM", 6))
        return r->host->error(IMI_ECONFIG, 0, "redis: %s: %s", what, s);
    if (!strncmp(s, "OOM", 3))
        return r->host->error(IMI_ENOMEM, 0, "redis: %s: %s", what, s);
    return r->host->error(IMI_EDRIVER, 0, "redis: %s: %s", what, s);
}

int rds_miss(void *st)
{
    rds *r = st;
    return r->host->error(IMI_ENOTFOUND, 0, "redis: no such key");
}

int rds_expect(rds *r, redisReply *rep, int type, const char *what)
{
    if (rep->type == type)
        return IMI_OK;
    int t = rep->type;
    freeReplyObject(rep);
    return r->host->error(IMI_EDRIVER, t, "redis: %s: unexpected %s reply (wanted %s)", what,
                          rds_type_name(t), rds_type_name(type));
}

int rds_bad_reply(rds *r, redisReply *rep, const char *what, const char *why)
{
    if (rep)
        freeReplyObject(rep);
    return r->host->error(IMI_EDRIVER, 0, "redis: %s: unexpected reply: %s", what, why);
}

int rds_expect_int(rds *r, redisReply *rep, long long lo, long long hi, const char *what,
                   long long *n)
{
    int rc = rds_expect(r, rep, REDIS_REPLY_INTEGER, what);
    if (rc)
        return rc;
    if (rep->integer < lo || rep->integer > hi) {
        long long v = rep->integer;
        freeReplyObject(rep);
        return r->host->error(IMI_EDRIVER, 0, "redis: %s: unexpected reply: %lld (wanted %lld "
                              "to %lld)", what, v, lo, hi);
    }
    *n = rep->integer;
    freeReplyObject(rep);
    return IMI_OK;
}

int rds_parse_score(const redisReply *e, double *out)
{
    char buf[64];
    if (e->type != REDIS_REPLY_STRING || !e->len || e->len >= sizeof buf)
        return IMI_EDRIVER;
    memcpy(buf, e->str, e->len);
    buf[e->len] = '\0';
    char *end;
    double d = strtod(buf, &end);
    if (*end || end == buf || isnan(d))
        return IMI_EDRIVER;
    *out = d;
    return IMI_OK;
}

int rds_pong(rds *r, redisReply *rep)
{
    int rc = rds_expect(r, rep, REDIS_REPLY_STATUS, "PING");
    if (rc)
        return rc;
    if (strcmp(rep->str, "PONG"))
        return rds_bad_reply(r, rep, "PING", "a status other than PONG");
    freeReplyObject(rep);
    return IMI_OK;
}

/* One command on a leased connection: a reply (error replies too: the caller decides,
 * e.g. on NOSCRIPT), or the code of an I/O error that broke the connection. */
static int exchange(rds *r, rlease *l, int argc, const char **argv, const size_t *lens,
                    redisReply **out)
{
    return rds_lease_cmd(r, l, argv[0], argc, argv, lens, out);
}

/* What an error reply asks of the call: nothing (final), go to another node, or wait. */
enum { REPLY_FINAL, REPLY_MOVED, REPLY_ASK, REPLY_RETRY };

static int reply_kind(rds *r, const redisReply *rep, unsigned *slot, rds_addr *to)
{
    if (!rep || rep->type != REDIS_REPLY_ERROR || r->mode == RDS_SINGLE)
        return REPLY_FINAL;
    const char *s = rep->str;
    bool moved = !strncmp(s, "MOVED ", 6), ask = !strncmp(s, "ASK ", 4);
    if ((moved || ask) && r->mode == RDS_CLUSTER) { /* MOVED 3999 127.0.0.1:6381 */
        char *end;
        unsigned long n = strtoul(s + (moved ? 6 : 4), &end, 10);
        if (*end != ' ' || n >= RDS_SLOTS || rds_parse_addr(r, end + 1, strlen(end + 1), to))
            return REPLY_FINAL;
        *slot = (unsigned)n;
        return moved ? REPLY_MOVED : REPLY_ASK;
    }
    /* Refused without running: a slot being moved or without a master, a replica (the
     * master we knew was demoted), a master without its replicas or still loading. */
    if (!strncmp(s, "TRYAGAIN", 8) || !strncmp(s, "CLUSTERDOWN", 11) ||
        !strncmp(s, "READONLY", 8) || !strncmp(s, "MASTERDOWN", 10) || !strncmp(s, "LOADING", 7))
        return REPLY_RETRY;
    return REPLY_FINAL;
}

/* Waits a moment before trying again, within the deadline; `why` (the code of the last
 * failure, its detail recorded) when the deadline or a cancel comes first. */
static int pause_retry(rds *r, const imi_ctx *ctx, int64_t deadline_ns, int why)
{
    int64_t wake = r->host->mono_ns() + 50000000;
    if (wake >= deadline_ns)
        return why;
    struct timespec ts = { .tv_sec = 0, .tv_nsec = 50000000 };
    nanosleep(&ts, NULL);
    return r->host->ctx_canceled(ctx) ? r->host->error(IMI_ECANCELED, 0, "redis: canceled") : 0;
}

/* Redirects a call may follow before giving up (a slot map in flux). */
#define MAX_HOPS 16

/* Runs one command on the node that serves key, following MOVED and ASK, and waiting out
 * a failover (no node to dial, TRYAGAIN, CLUSTERDOWN, READONLY) until the deadline. */
static int run(rds *r, const imi_ctx *ctx, int64_t deadline_ns, const char *key, size_t klen,
               int argc, const char **argv, const size_t *lens, redisReply **out)
{
    rnode *ask_node = NULL;
    *out = NULL;
    for (int hops = 0;;) {
        rlease l;
        bool asking = ask_node != NULL;
        int rc = asking ? rds_node_acquire(r, ask_node, deadline_ns, &l)
                        : rds_route(r, key, klen, deadline_ns, &l);
        ask_node = NULL;
        if (rc) { /* nothing was sent */
            if (r->mode == RDS_SINGLE || rc != IMI_EUNAVAILABLE)
                return rc;
            rds_topology_stale(r);
            if ((rc = pause_retry(r, ctx, deadline_ns, rc)))
                return rc;
            continue;
        }
        if (asking) { /* the slot is moving: the target serves this one command */
            rc = exchange(r, &l, 1, (const char *[]){ "ASKING" }, NULL, out);
            if (!rc)
                freeReplyObject(*out);
            *out = NULL;
        }
        if (!rc)
            rc = exchange(r, &l, argc, argv, lens, out);
        rnode *n = l.n;
        rds_release(r, &l, rc != IMI_OK);
        if (rc) { /* sent, perhaps run: not retried */
            if (rc == IMI_EUNAVAILABLE && r->mode != RDS_SINGLE) {
                rds_node_fail(n);
                rds_topology_stale(r);
            }
            return rc;
        }
        unsigned slot;
        rds_addr to;
        int kind = reply_kind(r, *out, &slot, &to);
        if (kind == REPLY_FINAL)
            return IMI_OK;
        rc = rds_reply_error(r, *out, argv[0]);
        freeReplyObject(*out);
        *out = NULL;
        if (kind == REPLY_RETRY) {
            rds_topology_stale(r);
            if ((rc = pause_retry(r, ctx, deadline_ns, rc)))
                return rc;
            continue;
        }
        if (++hops > MAX_HOPS)
            return r->host->error(IMI_EUNAVAILABLE, 0, "redis: %s: more than %d redirects for "
                                  "one call", argv[0], MAX_HOPS);
        if (kind == REPLY_MOVED) {
            rds_cluster_moved(r, slot, to.host, to.port);
            rds_topology_stale(r); /* one slot moved: others probably did too */
        } else if (!(ask_node = rds_node_at(r, to.host, to.port))) {
            return r->host->error(IMI_ENOMEM, 0, "redis: more than %d cluster nodes",
                                  RDS_MAX_NODES);
        }
    }
}

/* An error reply becomes its code. */
static int settle(rds *r, int rc, redisReply **out, const char *what)
{
    if (!rc && (*out)->type == REDIS_REPLY_ERROR) {
        rc = rds_reply_error(r, *out, what);
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}

/* rds_cmd routes by argv[1]: the key of every keyed command the driver sends. */
int rds_cmd(rds *r, const imi_ctx *ctx, redisReply **out, int argc, const char **argv,
            const size_t *lens)
{
    const char *key = argc >= 2 ? argv[1] : NULL;
    size_t klen = argc >= 2 ? (lens ? lens[1] : strlen(argv[1])) : 0;
    int rc = run(r, ctx, rds_deadline(r, ctx), key, klen, argc, argv, lens, out);
    return settle(r, rc, out, argv[0]);
}

/* Sends what was appended to a connection (hiredis writes only when a reply is read). */
static int flush(rds *r, rlease *l)
{
    int done = 0, rc;
    while (!done) {
        if (redisBufferWrite(l->c->rc, &done) != REDIS_OK)
            return rds_io_error(r, l->n, l->c->rc, "pipeline");
        if (!done && (rc = rds_arm(r, l))) /* a server slow to read: what is left */
            return rc;
    }
    return IMI_OK;
}

int rds_scatter(rds *r, const imi_ctx *ctx, int64_t deadline_ns, size_t n,
                const char *const *keys, const size_t *klens, const int *argcs,
                const char *const *const *argvs, const size_t *const *lens,
                redisReply **replies)
{
    memset(replies, 0, n * sizeof *replies);
    if (n == 1)
        return run(r, ctx, deadline_ns, keys[0], klens[0], argcs[0], (const char **)argvs[0],
                   lens[0], &replies[0]);
    rnode **node = malloc(n * sizeof *node); /* per command; NULL: run it alone */
    rlease *held = calloc(RDS_MAX_NODES, sizeof *held); /* per node index */
    size_t *pending = calloc(RDS_MAX_NODES, sizeof *pending);
    if (!node || !held || !pending) {
        free(node), free(held), free(pending);
        return r->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    int rc = IMI_OK, ignored;
    rnode *bad = NULL; /* the node whose connection failed */
    for (size_t i = 0; i < n; i++)
        if ((node[i] = rds_pick(r, keys[i], klens[i], deadline_ns, &ignored)))
            pending[node[i]->idx]++;
    /* One connection per node, taken in node order: two calls never wait on each other's
     * pools crosswise. A node that cannot be reached leaves its commands to run alone. */
    for (size_t x = 0; x < RDS_MAX_NODES; x++)
        if (pending[x] && rds_node_acquire(r, r->nodes[x], deadline_ns, &held[x]))
            pending[x] = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        if (node[i] && !held[node[i]->idx].c)
            node[i] = NULL;
        if (node[i] && redisAppendCommandArgv(held[node[i]->idx].c->rc, argcs[i],
                                              (const char **)argvs[i], lens[i]) != REDIS_OK)
            rc = r->host->error(IMI_ENOMEM, 0, "redis: out of memory");
    }
    for (size_t x = 0; x < RDS_MAX_NODES && !rc; x++) /* every node at work at once */
        if (held[x].c && (rc = flush(r, &held[x])))
            bad = held[x].n;
    for (size_t i = 0; i < n && !rc; i++) {
        if (!node[i])
            continue;
        rlease *l = &held[node[i]->idx];
        if ((rc = rds_lease_reply(r, l, argvs[i][0], &replies[i])))
            bad = l->n;
        else
            pending[node[i]->idx]--;
    }
    for (size_t x = 0; x < RDS_MAX_NODES; x++) {
        if (!held[x].c)
            continue;
        /* replies left unread: the stream is out of step */
        rds_release(r, &held[x], pending[x] > 0);
    }
    if (bad && rc == IMI_EUNAVAILABLE && r->mode != RDS_SINGLE) {
        rds_node_fail(bad);
        rds_topology_stale(r);
    }
    /* Commands the node did not run (MOVED, ASK, a replica's READONLY), or whose node
     * could not be reached: one by one, with run's redirects and retries. */
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned slot;
        rds_addr to;
        if (node[i] && reply_kind(r, replies[i], &slot, &to) == REPLY_FINAL)
            continue;
        if (replies[i])
            freeReplyObject(replies[i]);
        replies[i] = NULL;
        rc = run(r, ctx, deadline_ns, keys[i], klens[i], argcs[i], (const char **)argvs[i],
                 lens[i], &replies[i]);
    }
    if (rc)
        for (size_t i = 0; i < n; i++)
            if (replies[i]) {
                freeReplyObject(replies[i]);
                replies[i] = NULL;
            }
    free(node), free(held), free(pending);
    return rc;
}

/* Loads a script on the node serving key; its SHA is the same on every node. */
static int load_script(rds *r, const imi_ctx *ctx, int64_t deadline_ns, const char *key,
                       size_t klen, int script, char *sha)
{
    const char *argv[] = { "SCRIPT", "LOAD", rds_scripts[script] };
    redisReply *rep = NULL;
    int rc = run(r, ctx, deadline_ns, key, klen, 3, argv, NULL, &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        rc = rep->type == REDIS_REPLY_ERROR ? rds_reply_error(r, rep, "SCRIPT LOAD")
                                            : r->host->error(IMI_EDRIVER, 0, "redis: SCRIPT LOAD gave no SHA");
        freeReplyObject(rep);
        return rc;
    }
    memcpy(sha, rep->str, 41);
    freeReplyObject(rep);
    pthread_mutex_lock(&r->mu);
    memcpy(r->sha[script], sha, 41);
    pthread_mutex_unlock(&r->mu);
    return IMI_OK;
}

/* Scripts take one key, so in a cluster each runs on the node of its key's slot. */
int rds_script(rds *r, const imi_ctx *ctx, int script, const char *what, const char *key,
               size_t klen, int nargs, const char **args, redisReply **out)
{
    char sha[41];
    const char *argv[8] = { "EVALSHA", sha, "1", key };
    size_t lens[8] = { 7, 40, 1, klen };
    for (int i = 0; i < nargs; i++) {
        argv[4 + i] = args[i];
        lens[4 + i] = strlen(args[i]);
    }
    pthread_mutex_lock(&r->mu);
    memcpy(sha, r->sha[script], sizeof sha);
    pthread_mutex_unlock(&r->mu);

    int64_t deadline = rds_deadline(r, ctx);
    *out = NULL;
    int rc = sha[0] ? IMI_OK : load_script(r, ctx, deadline, key, klen, script, sha);
    if (!rc)
        rc = run(r, ctx, deadline, key, klen, 4 + nargs, argv, lens, out);
    if (!rc && (*out)->type == REDIS_REPLY_ERROR && !strncmp((*out)->str, "NOSCRIPT", 8)) {
        freeReplyObject(*out); /* this server has not got it: restarted, SCRIPT FLUSH, or
                                * another node of a cluster or a newly promoted master */
        *out = NULL;
        rc = load_script(r, ctx, deadline, key, klen, script, sha);
        if (!rc)
            rc = run(r, ctx, deadline, key, klen, 4 + nargs, argv, lens, out);
    }
    return settle(r, rc, out, what);
}

/* Cluster: PING on every master that owns slots, so that ping answers for every key and
 * not only for slot 0's. A map with slots no master owns is reported as such; a map not
 * read yet (no node answered CLUSTER SLOTS) leaves the call to the seeds, as any call. */
int rds_cluster_ping(rds *r, const imi_ctx *ctx)
{
    static const char *ping[] = { "PING" };
    static const size_t ping_len[] = { 4 };
    int64_t deadline_ns = rds_deadline(r, ctx);
    /* The slot map is read again when stale. A node answering it with garbage fails the
     * ping (the map in use may be old); one that cannot be reached leaves the ping to the
     * masters of the map we have. */
    int rc = rds_refresh(r, deadline_ns);
    if (rc == IMI_EDRIVER)
        return rc;
    bool owner[RDS_MAX_NODES] = { false };
    size_t unowned = 0;
    pthread_rwlock_rdlock(&r->map_mu);
    for (size_t s = 0; s < RDS_SLOTS; s++) {
        if (r->slot_node[s])
            owner[r->slot_node[s] - 1] = true;
        else
            unowned++;
    }
    pthread_rwlock_unlock(&r->map_mu);
    redisReply *rep;
    if (unowned == RDS_SLOTS) {
        if ((rc = settle(r, run(r, ctx, deadline_ns, NULL, 0, 1, ping, ping_len, &rep), &rep, "PING")))
            return rc;
        return rds_pong(r, rep);
    }
    if (unowned)
        return r->host->error(IMI_EUNAVAILABLE, 0, "redis: %zu of %d cluster slots have no "
                              "master", unowned, RDS_SLOTS);
    for (size_t i = 0; i < RDS_MAX_NODES; i++) {
        if (!owner[i])
            continue;
        rnode *n = r->nodes[i];
        rlease l;
        if (!(rc = rds_node_acquire(r, n, deadline_ns, &l))) {
            rc = exchange(r, &l, 1, ping, ping_len, &rep);
            rds_release(r, &l, rc != IMI_OK);
        }
        if (rc) { /* unreachable or broken: the map is read again before the next call */
            rds_node_fail(n);
            rds_topology_stale(r);
            return rc;
        }
        if ((rc = settle(r, IMI_OK, &rep, "PING")) || (rc = rds_pong(r, rep)))
            return rc;
    }
    return IMI_OK;
}
