/* The redis driver's connection pools: one per node. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "redis.h"

int rds_pool_init(rds *r)
{
    pthread_mutex_init(&r->mu, NULL);
    r->mu_ready = true;
    if (pthread_rwlock_init(&r->map_mu, NULL))
        return r->host->error(IMI_ENOMEM, 0, "redis: no rwlock");
    r->map_ready = true;
    return IMI_OK;
}

void rds_pool_free(rds *r)
{
    size_t n = atomic_load(&r->n_nodes);
    for (size_t i = 0; i < n; i++)
        rds_node_free(r->nodes[i]);
    atomic_store(&r->n_nodes, 0);
    if (r->map_ready)
        pthread_rwlock_destroy(&r->map_mu);
    r->map_ready = false;
    if (r->mu_ready)
        pthread_mutex_destroy(&r->mu);
    r->mu_ready = false;
}

rnode *rds_node_new(rds *r, const char *host, int port)
{
    rnode *n = calloc(1, sizeof *n);
    if (!n || !(n->conns = calloc(r->pool_size, sizeof *n->conns))) {
        free(n);
        return NULL;
    }
    n->n_conns = r->pool_size;
    snprintf(n->host, sizeof n->host, "%s", host);
    n->port = port;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&n->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&n->mu, NULL);
    return n;
}

void rds_node_free(rnode *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->n_conns; i++)
        if (n->conns[i].rc)
            redisFree(n->conns[i].rc);
    pthread_cond_destroy(&n->cv);
    pthread_mutex_destroy(&n->mu);
    free(n->conns);
    free(n);
}

void rds_node_move(rnode *n, const char *host, int port)
{
    pthread_mutex_lock(&n->mu);
    if (strcmp(n->host, host) || n->port != port) {
        snprintf(n->host, sizeof n->host, "%s", host);
        n->port = port;
        atomic_fetch_add(&n->gen, 1);
    }
    pthread_mutex_unlock(&n->mu);
}

void rds_node_fail(rnode *n)
{
    atomic_fetch_add(&n->gen, 1);
}

int rds_parse_addr(rds *r, const char *text, size_t len, rds_addr *a)
{
    while (len && (*text == ' ' || *text == '\t'))
        text++, len--;
    while (len && (text[len - 1] == ' ' || text[len - 1] == '\t'))
        len--;
    char buf[300];
    if (!len || len >= sizeof buf)
        return r->host->error(IMI_ECONFIG, 0, "address '%.*s' is not host:port", (int)len, text);
    memcpy(buf, text, len);
    buf[len] = '\0';
    char *colon = strrchr(buf, ':');
    if (buf[0] == '[' && (!colon || colon < strchr(buf, ']')))
        colon = NULL; /* [::1] without a port */
    size_t n = colon ? (size_t)(colon - buf) : len;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : 6379;
    const char *h = buf;
    if (h[0] == '[' && n >= 2 && h[n - 1] == ']') { /* [::1]:6379 */
        h++;
        n -= 2;
    }
    if (!n || n >= sizeof a->host || (colon && (end == colon + 1 || *end || port <= 0 ||
                                                port > 65535)))
        return r->host->error(IMI_ECONFIG, 0, "address '%s' is not host:port", buf);
    memcpy(a->host, h, n);
    a->host[n] = '\0';
    a->port = (int)port;
    return IMI_OK;
}

/* How far a socket wait may miss the deadline rather than reset the timeouts. */
#define ARM_SLACK_NS 2000000

static struct timeval tv_of_ns(int64_t ns)
{
    if (ns < 1000)
        ns = 1000; /* a zero timeval would mean "no timeout" */
    return (struct timeval){ .tv_sec = ns / 1000000000, .tv_usec = (ns % 1000000000) / 1000 };
}

void rds_node_name(rnode *n, char *buf, size_t size)
{
    pthread_mutex_lock(&n->mu); /* a master named by the sentinels may move meanwhile */
    snprintf(buf, size, "%s:%d", n->host, n->port);
    pthread_mutex_unlock(&n->mu);
}

int rds_io_error(rds *r, rnode *n, const redisContext *rc, const char *what)
{
    int e = rc ? (rc->err == REDIS_ERR_IO ? errno : 0) : ENOMEM;
    const char *why = rc && rc->errstr[0] ? rc->errstr : "connection closed";
    char name[300] = "?";
    if (n)
        rds_node_name(n, name, sizeof name);
    if (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT || e == EINPROGRESS)
        return r->host->error(IMI_ETIMEDOUT, e, "redis %s: %s: timed out (%s)", name, what, why);
    /* Bytes that are no RESP (or nesting past hiredis' limit): the server is not redis,
     * or a broken one; retrying would get the same. */
    if (rc && rc->err == REDIS_ERR_PROTOCOL)
        return r->host->error(IMI_EDRIVER, rc->err, "redis %s: %s: not a redis reply (%s)", name,
                              what, why);
    if (rc && rc->err == REDIS_ERR_OOM)
        return r->host->error(IMI_ENOMEM, rc->err, "redis %s: %s: out of memory reading the "
                              "reply", name, what);
    return r->host->error(IMI_EUNAVAILABLE, rc ? rc->err : 0, "redis %s: %s: %s", name, what,
                          why);
}

int rds_wait(rds *r, redisContext *c, int64_t deadline_ns, int64_t *armed_ns, redisReply **out)
{
    void *rep = NULL;
    *out = NULL;
    if (redisGetReplyFromReader(c, &rep) != REDIS_OK)
        return RDS_WAIT_ERR;
    int done = 0;
    bool more = false; /* the last wait did part of the work: re-arm for what is left */
    uint64_t got = 0;  /* bytes read for this reply */
    while (!rep) {
        if (more) {
            int64_t left = deadline_ns - r->host->mono_ns();
            if (left <= 0)
                return RDS_WAIT_LATE;
            if (redisSetTimeout(c, tv_of_ns(left)) != REDIS_OK)
                return RDS_WAIT_ERR;
            if (armed_ns)
                *armed_ns = left;
        }
        if (!done) {
            if (redisBufferWrite(c, &done) != REDIS_OK)
                return RDS_WAIT_ERR;
            more = !done;
            continue;
        }
        size_t before = c->reader->len; /* grows by what the read got */
        if (redisBufferRead(c) != REDIS_OK)
            return RDS_WAIT_ERR;
        got += c->reader->len - before;
        if (got > (uint64_t)r->max_reply)
            return RDS_WAIT_BIG;
        if (redisGetReplyFromReader(c, &rep) != REDIS_OK)
            return RDS_WAIT_ERR;
        more = true;
    }
    *out = rep;
    return RDS_WAIT_OK;
}

int rds_lease_reply(rds *r, rlease *l, const char *what, redisReply **out)
{
    switch (rds_wait(r, l->c->rc, l->deadline_ns, &l->c->armed_ns, out)) {
    case RDS_WAIT_OK:
        return IMI_OK;
    case RDS_WAIT_LATE: {
        char name[300];
        rds_node_name(l->n, name, sizeof name);
        return r->host->error(IMI_ETIMEDOUT, ETIMEDOUT, "redis %s: %s: timed out (the reply "
                              "was not complete by the deadline)", name, what);
    }
    case RDS_WAIT_BIG: {
        char name[300];
        rds_node_name(l->n, name, sizeof name);
        return r->host->error(IMI_EDRIVER, 0, "redis %s: %s: a reply larger than "
                              "max_reply_size (%lld bytes)", name, what, (long long)r->max_reply);
    }
    default:
        return rds_io_error(r, l->n, l->c->rc, what);
    }
}

int rds_lease_cmd(rds *r, rlease *l, const char *what, int argc, const char **argv,
                  const size_t *lens, redisReply **out)
{
    *out = NULL;
    if (redisAppendCommandArgv(l->c->rc, argc, argv, lens) != REDIS_OK)
        return rds_io_error(r, l->n, l->c->rc, what);
    return rds_lease_reply(r, l, what, out);
}

int64_t rds_deadline(rds *r, const imi_ctx *ctx)
{
    int64_t now = r->host->mono_ns();
    int64_t deadline = r->host->ctx_deadline_ns(ctx);
    if (!deadline)
        deadline = now + r->env->default_timeout_ms * 1000000;
    if (r->command_timeout_ms > 0 && now + r->command_timeout_ms * 1000000 < deadline)
        deadline = now + r->command_timeout_ms * 1000000;
    return deadline;
}

int rds_arm(rds *r, rlease *l)
{
    int64_t left = l->deadline_ns - r->host->mono_ns();
    if (left <= 0)
        return r->host->error(IMI_ETIMEDOUT, 0, "redis: deadline exceeded");
    /* Two setsockopt calls cost a few percent of a round trip on loopback: calls with
     * the same timeout (a NULL ctx, a fixed per-request budget) keep the last ones. */
    int64_t diff = left - l->c->armed_ns;
    if (diff > -ARM_SLACK_NS && diff < ARM_SLACK_NS)
        return IMI_OK;
    if (redisSetTimeout(l->c->rc, tv_of_ns(left)) != REDIS_OK)
        return rds_io_error(r, l->n, l->c->rc, "setting the timeout");
    l->c->armed_ns = left;
    return IMI_OK;
}

/* A reply that must be +OK, on a fresh connection (AUTH, SELECT). */
static int handshake(rds *r, rlease *l, const char *what, int argc, const char **argv)
{
    int rc = rds_arm(r, l);
    redisReply *rep;
    if (rc || (rc = rds_lease_cmd(r, l, what, argc, argv, NULL, &rep)))
        return rc;
    char name[300], text[RDS_TEXT_MAX];
    rds_node_name(l->n, name, sizeof name);
    if (rep->type == REDIS_REPLY_ERROR)
        rc = r->host->error(IMI_ECONFIG, 0, "redis %s: %s refused: %s", name, what,
                            rds_text(rep->str, rep->len, text));
    else if (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "OK"))
        rc = r->host->error(IMI_EDRIVER, rep->type, "redis %s: %s: unexpected %s reply (wanted "
                            "+OK)", name, what, rds_type_name(rep->type));
    freeReplyObject(rep);
    return rc;
}

static int dial(rds *r, rlease *l)
{
    int64_t left = l->deadline_ns - r->host->mono_ns();
    if (left <= 0)
        return r->host->error(IMI_ETIMEDOUT, 0, "redis: deadline exceeded before connecting");
    int64_t limit = r->connect_timeout_ms * 1000000;
    char host[256];
    pthread_mutex_lock(&l->n->mu);
    memcpy(host, l->n->host, sizeof host);
    int port = l->n->port;
    unsigned gen = atomic_load(&l->n->gen);
    pthread_mutex_unlock(&l->n->mu);
    redisContext *rc = redisConnectWithTimeout(host, port, tv_of_ns(left < limit ? left : limit));
    if (!rc || rc->err) {
        int code = rds_io_error(r, l->n, rc, "connect");
        if (rc)
            redisFree(rc);
        return code;
    }
    redisEnableKeepAlive(rc);
    l->c->rc = rc;
    l->c->armed_ns = 0;
    l->c->gen = gen;
    int code = rds_arm(r, l); /* connecting set no socket timeouts */
    if (!code && r->password && *r->password) {
        const char *argv[] = { "AUTH", r->user && *r->user ? r->user : r->password, r->password };
        code = handshake(r, l, "AUTH", r->user && *r->user ? 3 : 2, argv);
    }
    if (!code && r->db) {
        char db[24];
        snprintf(db, sizeof db, "%lld", (long long)r->db);
        const char *argv[] = { "SELECT", db };
        code = handshake(r, l, "SELECT", 2, argv);
    }
    if (!code && r->mode == RDS_SENTINEL)
        code = rds_sentinel_check_role(r, l);
    if (code) {
        redisFree(rc);
        l->c->rc = NULL;
    }
    return code;
}

/* The connection a thread used last: taken first next time, so that threads settle on
 * connections of their own and rarely contend. */
static _Thread_local size_t last_used;

/* Takes a free connection without locking: live ones first, then one to dial. */
static rconn *take_free(rnode *n)
{
    rconn *dead = NULL;
    for (size_t i = 0; i < n->n_conns; i++) {
        size_t at = (last_used + i) % n->n_conns;
        rconn *c = &n->conns[at];
        if (atomic_load_explicit(&c->busy, memory_order_relaxed) || atomic_exchange(&c->busy, true))
            continue;
        if (c->rc) {
            if (dead)
                atomic_store(&dead->busy, false);
            last_used = at;
            return c;
        }
        if (dead)
            atomic_store(&c->busy, false);
        else
            dead = c;
    }
    return dead;
}

int rds_node_acquire(rds *r, rnode *n, int64_t deadline, rlease *l)
{
    *l = (rlease){ .deadline_ns = deadline, .n = n, .c = take_free(n) };
    if (!l->c) {
        /* All busy: wait. waiters is raised before the scan and release lowers busy
         * before it reads waiters (both sequentially consistent), so a release is never
         * missed between this scan and the wait. */
        pthread_mutex_lock(&n->mu);
        atomic_fetch_add(&n->waiters, 1);
        while (!(l->c = take_free(n))) {
            struct timespec ts = { .tv_sec = deadline / 1000000000,
                                   .tv_nsec = deadline % 1000000000 };
            if (pthread_cond_timedwait(&n->cv, &n->mu, &ts) == ETIMEDOUT) {
                atomic_fetch_sub(&n->waiters, 1);
                pthread_mutex_unlock(&n->mu);
                return r->host->error(IMI_ETIMEDOUT, 0, "redis: no free connection among %zu "
                                      "before the deadline (pool_size)", n->n_conns);
            }
        }
        atomic_fetch_sub(&n->waiters, 1);
        pthread_mutex_unlock(&n->mu);
    }
    if (l->c->rc && l->c->gen != atomic_load(&n->gen)) { /* the node moved or failed */
        redisFree(l->c->rc);
        l->c->rc = NULL;
    }
    int rc = l->c->rc ? rds_arm(r, l) : dial(r, l);
    if (rc)
        rds_release(r, l, false);
    return rc;
}

void rds_release(rds *r, rlease *l, bool broken)
{
    (void)r;
    if (!l->c)
        return;
    if (broken && l->c->rc) {
        redisFree(l->c->rc);
        l->c->rc = NULL;
    }
    rnode *n = l->n;
    atomic_store(&l->c->busy, false);
    if (atomic_load(&n->waiters) > 0) {
        pthread_mutex_lock(&n->mu);
        pthread_cond_signal(&n->cv);
        pthread_mutex_unlock(&n->mu);
    }
    l->c = NULL;
}
