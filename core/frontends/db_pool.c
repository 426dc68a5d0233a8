/* The connection pool of one db endpoint: idle connections are reused, new ones are made
 * on demand up to the pool's size, callers wait (within their deadline) when all are in
 * use, and a connection that broke is dropped with its idle siblings. A reader that is
 * unavailable hands its reads to the writer (reader_fallback). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/error.h"
#include "db_internal.h"

/* How long reads skip a reader that failed before it is tried again. */
#define DB_READER_RETRY_NS 1000000000LL

static int read_fallback(imi_db *db)
{
    const imi_config *cfg = imi_app_config(db->in.app);
    int line = 0;
    const char *v = imi_config_get(cfg, db->in.section, "reader_fallback", &line);
    db->reader_fallback = !v || !strcmp(v, "writer");
    if (v && strcmp(v, "writer") && strcmp(v, "fail"))
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] reader_fallback must be writer or "
                             "fail, not '%s'", imi_config_name(cfg), line, db->in.section, v);
    return IMI_OK;
}

db_pool *imi_db_pool_route(imi_db *db, db_pool *p)
{
    if (!p->index || !db->reader_fallback ||
        atomic_load_explicit(&p->down_until_ns, memory_order_relaxed) <= imi_now_mono_ns())
        return p;
    return &db->pools[0];
}

db_pool *imi_db_pool_fallback(imi_db *db, db_pool *p, const imi_ctx *ctx, int rc)
{
    if (!p->index || rc != IMI_EUNAVAILABLE || imi_ctx_err(ctx))
        return NULL;
    int64_t now = imi_now_mono_ns();
    int64_t was = atomic_exchange_explicit(&p->down_until_ns, now + DB_READER_RETRY_NS,
                                           memory_order_relaxed);
    if (was <= now)
        imi_logf(db->in.logger, IMI_LOG_WARN, NULL, "[%s] %s unavailable (%s): reads %s",
                 db->in.section, p->name, imi_error_message(),
                 db->reader_fallback ? "go to the writer, the reader is tried again in 1s"
                                     : "fail (reader_fallback = fail)");
    return db->reader_fallback ? &db->pools[0] : NULL;
}

/* Closes a connection and frees what it carries. */
static void conn_close(imi_db *db, db_conn *c)
{
    db_pool *p = c->pool;
    pthread_mutex_lock(&p->mu);
    if (c->all_prev)
        c->all_prev->all_next = c->all_next;
    else
        p->all = c->all_next;
    if (c->all_next)
        c->all_next->all_prev = c->all_prev;
    pthread_mutex_unlock(&p->mu);
    VT(db)->c_close(db->in.state, c->drv);
    free(c->spare);
    free(c);
}

/* A driver that never answers IMI_ENOTFOUND would otherwise be asked forever. */
#define DB_MAX_ENDPOINTS 1024

int imi_db_pools_init(imi_db *db)
{
    size_t n = 0;
    imi_db_endpoint_info info;
    for (;; n++) {
        if (n > DB_MAX_ENDPOINTS)
            return imi_error_set(IMI_EDRIVER, 0, "[%s] driver %s names more than %d endpoints "
                                 "(a writer and %d readers)", db->in.section,
                                 db->in.desc->name, DB_MAX_ENDPOINTS, DB_MAX_ENDPOINTS - 1);
        info = (imi_db_endpoint_info){ .size = sizeof info };
        int rc = VT(db)->d_endpoint(db->in.state, n, &info);
        if (rc == IMI_ENOTFOUND)
            break;
        if (rc)
            return rc;
    }
    if (n == 0)
        return imi_error_set(IMI_EDRIVER, 0, "[%s] driver %s has no writer endpoint",
                             db->in.section, db->in.desc->name);
    int rc = read_fallback(db);
    if (rc)
        return rc;
    db->pools = calloc(n, sizeof *db->pools);
    if (!db->pools)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    for (size_t i = 0; i < n; i++) {
        db_pool *p = &db->pools[i];
        info = (imi_db_endpoint_info){ .size = sizeof info };
        VT(db)->d_endpoint(db->in.state, i, &info);
        pthread_mutex_init(&p->mu, NULL);
        pthread_cond_init(&p->cv, &ca);
        p->index = i;
        p->db = db;
        p->max = info.max_conns && info.max_conns < db->pool_size ? info.max_conns : db->pool_size;
        snprintf(p->name, sizeof p->name, "%s %s", i ? "reader" : "writer",
                 info.name ? info.name : "");
        db->n_pools = i + 1;
    }
    pthread_condattr_destroy(&ca);
    return IMI_OK;
}

void imi_db_pools_destroy(imi_db *db)
{
    for (size_t i = 0; i < db->n_pools; i++) {
        db_pool *p = &db->pools[i];
        db_conn *hot = atomic_exchange(&p->hot, NULL);
        if (hot)
            conn_close(db, hot);
        for (db_conn *c = p->idle, *next; c; c = next) {
            next = c->next;
            conn_close(db, c);
        }
        pthread_mutex_destroy(&p->mu);
        pthread_cond_destroy(&p->cv);
    }
    free(db->pools);
    db->pools = NULL;
    db->n_pools = 0;
}

static int connect_new(db_pool *p, const imi_ctx *ctx, db_conn **out)
{
    imi_db *db = p->db;
    db_conn *c = calloc(1, sizeof *c);
    int rc = c ? VT(db)->d_connect(db->in.state, ctx, p->index, &c->drv)
               : imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if (!rc && !c->drv)
        rc = imi_error_set(IMI_EDRIVER, 0, "driver %s: connect returned no connection",
                           db->in.desc->name);
    if (rc) {
        free(c);
        pthread_mutex_lock(&p->mu);
        p->open--;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return rc;
    }
    DB_COUNT(db, n_conns_opened);
    c->pool = p;
    pthread_mutex_lock(&p->mu);
    c->all_next = p->all;
    if (p->all)
        p->all->all_prev = c;
    p->all = c;
    pthread_mutex_unlock(&p->mu);
    *out = c;
    return IMI_OK;
}

void imi_db_pools_end_rows(imi_db *db)
{
    /* No call is in flight: nothing connects or drops a connection meanwhile, and ending
     * a result only gives its connection back (hot slot or idle list), so the list of
     * all stays as it is. Not under mu: the release takes it. */
    for (size_t i = 0; i < db->n_pools; i++)
        for (db_conn *c = db->pools[i].all; c; c = c->all_next)
            if (c->rows)
                imi_db_rows_end(c->rows);
}

int imi_db_pool_acquire(db_pool *p, const imi_ctx *ctx, db_conn **out)
{
    imi_db *db = p->db;
    /* The uncontended path: the connection released last, without the mutex. */
    db_conn *hot = atomic_exchange(&p->hot, NULL);
    if (hot) {
        *out = hot;
        return IMI_OK;
    }
    int64_t deadline = imi_now_mono_ns() + imi_ctx_remaining_ms(ctx, db->in.timeout_ms) * 1000000;
    bool waited = false;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        if ((hot = atomic_exchange(&p->hot, NULL))) {
            pthread_mutex_unlock(&p->mu);
            *out = hot;
            return IMI_OK;
        }
        if (p->idle) {
            db_conn *c = p->idle;
            p->idle = c->next;
            pthread_mutex_unlock(&p->mu);
            c->next = NULL;
            *out = c;
            return IMI_OK;
        }
        if (p->open < p->max) {
            p->open++;
            pthread_mutex_unlock(&p->mu);
            return connect_new(p, ctx, out);
        }
        if (!waited) {
            waited = true;
            DB_COUNT(db, n_pool_waits);
        }
        int64_t now = imi_now_mono_ns();
        if (now >= deadline || imi_ctx_canceled(ctx)) {
            pthread_mutex_unlock(&p->mu);
            if (imi_ctx_canceled(ctx))
                return imi_error_set(IMI_ECANCELED, 0, "[%s] canceled waiting for a connection "
                                     "to the %s", db->in.section, p->name);
            return imi_error_set(IMI_ETIMEDOUT, 0, "[%s] all %u connections to the %s are "
                                 "busy", db->in.section, p->max, p->name);
        }
        /* Wake at the deadline, and every 50 ms to notice a cancel. */
        int64_t until = deadline < now + 50000000 ? deadline : now + 50000000;
        struct timespec ts = { .tv_sec = until / 1000000000, .tv_nsec = until % 1000000000 };
        /* Counted before the hot slot is looked at again (seq_cst on both sides): a
         * release either sees the waiter and signals, or its connection is seen here. */
        atomic_fetch_add(&p->waiters, 1);
        if ((hot = atomic_exchange(&p->hot, NULL))) {
            atomic_fetch_sub(&p->waiters, 1);
            pthread_mutex_unlock(&p->mu);
            *out = hot;
            return IMI_OK;
        }
        pthread_cond_timedwait(&p->cv, &p->mu, &ts);
        atomic_fetch_sub(&p->waiters, 1);
    }
}

void imi_db_pool_release(db_pool *p, db_conn *c, bool broken)
{
    imi_db *db = p->db;
    if (!broken) {
        c->next = NULL;
        db_conn *none = NULL;
        if (atomic_compare_exchange_strong(&p->hot, &none, c)) {
            if (atomic_load(&p->waiters)) {
                pthread_mutex_lock(&p->mu);
                pthread_cond_signal(&p->cv);
                pthread_mutex_unlock(&p->mu);
            }
            return;
        }
        pthread_mutex_lock(&p->mu);
        c->next = p->idle;
        p->idle = c;
        pthread_cond_signal(&p->cv);
        pthread_mutex_unlock(&p->mu);
        return;
    }
    /* The server likely dropped the idle connections too (restart, failover): drop them
     * now so that the next callers connect afresh instead of failing one by one. */
    pthread_mutex_lock(&p->mu);
    db_conn *idle = p->idle, *hot = atomic_exchange(&p->hot, NULL);
    p->idle = NULL;
    if (hot) {
        hot->next = idle;
        idle = hot;
    }
    unsigned dropped = 1;
    for (db_conn *i = idle; i; i = i->next)
        dropped++;
    p->open -= dropped;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    atomic_fetch_add_explicit(&db->n_conns_broken, dropped, memory_order_relaxed);
    imi_logf(db->in.logger, IMI_LOG_WARN, NULL, "dropped %u connection(s) to the %s after a "
             "failure: %s", dropped, p->name, imi_error_message());
    conn_close(db, c);
    for (db_conn *i = idle, *next; i; i = next) {
        next = i->next;
        conn_close(db, i);
    }
}
