/* The redis driver's connection pool. */
#include <errno.h>
#include <string.h>
#include <time.h>
#include "redis.h"

int rds_pool_init(rds *r)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&r->mu, NULL);
    r->mu_ready = true;
    return IMI_OK;
}

void rds_pool_free(rds *r)
{
    for (size_t i = 0; i < r->n_conns; i++)
        if (r->conns[i].rc)
            redisFree(r->conns[i].rc);
    if (r->mu_ready) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        r->mu_ready = false;
    }
}

/* How far a socket wait may miss the deadline rather than reset the timeouts. */
#define ARM_SLACK_NS 2000000

static struct timeval tv_of_ns(int64_t ns)
{
    if (ns < 1000)
        ns = 1000; /* a zero timeval would mean "no timeout" */
    return (struct timeval){ .tv_sec = ns / 1000000000, .tv_usec = (ns % 1000000000) / 1000 };
}

int rds_io_error(rds *r, const redisContext *rc, const char *what)
{
    int e = rc ? (rc->err == REDIS_ERR_IO ? errno : 0) : ENOMEM;
    const char *why = rc && rc->errstr[0] ? rc->errstr : "connection closed";
    if (e == EAGAIN || e == EWOULDBLOCK || e == ETIMEDOUT || e == EINPROGRESS)
        return r->host->error(IMI_ETIMEDOUT, e, "redis %s:%d: %s: timed out (%s)", r->host_name,
                              r->port, what, why);
    return r->host->error(IMI_EUNAVAILABLE, rc ? rc->err : 0, "redis %s:%d: %s: %s",
                          r->host_name, r->port, what, why);
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
        return rds_io_error(r, l->c->rc, "setting the timeout");
    l->c->armed_ns = left;
    return IMI_OK;
}

/* A reply that must be +OK, on a fresh connection (AUTH, SELECT). */
static int handshake(rds *r, rlease *l, const char *what, int argc, const char **argv)
{
    int rc = rds_arm(r, l);
    if (rc)
        return rc;
    redisReply *rep = redisCommandArgv(l->c->rc, argc, argv, NULL);
    if (!rep)
        return rds_io_error(r, l->c->rc, what);
    rc = rep->type == REDIS_REPLY_ERROR
             ? r->host->error(IMI_ECONFIG, 0, "redis %s:%d: %s refused: %s", r->host_name,
                              r->port, what, rep->str)
             : IMI_OK;
    freeReplyObject(rep);
    return rc;
}

static int dial(rds *r, rlease *l)
{
    int64_t left = l->deadline_ns - r->host->mono_ns();
    if (left <= 0)
        return r->host->error(IMI_ETIMEDOUT, 0, "redis: deadline exceeded before connecting");
    int64_t limit = r->connect_timeout_ms * 1000000;
    redisContext *rc = redisConnectWithTimeout(r->host_name, r->port,
                                               tv_of_ns(left < limit ? left : limit));
    if (!rc || rc->err) {
        int code = rds_io_error(r, rc, "connect");
        if (rc)
            redisFree(rc);
        return code;
    }
    redisEnableKeepAlive(rc);
    l->c->rc = rc;
    l->c->armed_ns = 0;
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
static rconn *take_free(rds *r)
{
    rconn *dead = NULL;
    for (size_t i = 0; i < r->n_conns; i++) {
        size_t at = (last_used + i) % r->n_conns;
        rconn *c = &r->conns[at];
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

int rds_acquire(rds *r, const imi_ctx *ctx, rlease *l)
{
    int64_t now = r->host->mono_ns();
    int64_t deadline = r->host->ctx_deadline_ns(ctx);
    if (!deadline)
        deadline = now + r->env->default_timeout_ms * 1000000;
    if (r->command_timeout_ms > 0 && now + r->command_timeout_ms * 1000000 < deadline)
        deadline = now + r->command_timeout_ms * 1000000;
    *l = (rlease){ .deadline_ns = deadline, .c = take_free(r) };
    if (!l->c) {
        /* All busy: wait. waiters is raised before the scan and release lowers busy
         * before it reads waiters (both sequentially consistent), so a release is never
         * missed between this scan and the wait. */
        pthread_mutex_lock(&r->mu);
        atomic_fetch_add(&r->waiters, 1);
        while (!(l->c = take_free(r))) {
            struct timespec ts = { .tv_sec = deadline / 1000000000,
                                   .tv_nsec = deadline % 1000000000 };
            if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT) {
                atomic_fetch_sub(&r->waiters, 1);
                pthread_mutex_unlock(&r->mu);
                return r->host->error(IMI_ETIMEDOUT, 0, "redis: no free connection among %zu "
                                      "before the deadline (pool_size)", r->n_conns);
            }
        }
        atomic_fetch_sub(&r->waiters, 1);
        pthread_mutex_unlock(&r->mu);
    }
    int rc = l->c->rc ? rds_arm(r, l) : dial(r, l);
    if (rc)
        rds_release(r, l, false);
    return rc;
}

void rds_release(rds *r, rlease *l, bool broken)
{
    if (!l->c)
        return;
    if (broken && l->c->rc) {
        redisFree(l->c->rc);
        l->c->rc = NULL;
    }
    atomic_store(&l->c->busy, false);
    if (atomic_load(&r->waiters) > 0) {
        pthread_mutex_lock(&r->mu);
        pthread_cond_signal(&r->cv);
        pthread_mutex_unlock(&r->mu);
    }
    l->c = NULL;
}
