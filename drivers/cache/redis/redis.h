/* The redis cache driver's internals, shared by its files:
 *   redis.c   options, open/close/ping, the descriptor
 *   pool.c    the connection pool: dial, AUTH, SELECT, per-call deadlines, redial
 *   call.c    one command or a pipeline on a pooled connection, reply errors, scripts
 *   strings.c, types.c, lock.c   the operations
 *
 * hiredis contexts are not thread-safe: each call checks a connection out of the pool
 * for its whole exchange. Every socket wait is bounded by the call's deadline (the ctx's,
 * else the instance's timeout) through SO_RCVTIMEO/SO_SNDTIMEO set before each call. A
 * connection that saw an I/O error or a timeout is closed (its reply stream may be out of
 * step) and dialled again by the next call that needs it. */
#ifndef IMI_DRIVER_CACHE_REDIS_H
#define IMI_DRIVER_CACHE_REDIS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <hiredis/hiredis.h>
#include "iminfra/driver/cache_driver.h"

typedef struct rconn {
    redisContext *rc;      /* NULL: not dialled (or dropped after an error) */
    atomic_bool busy;      /* taken with an exchange: the pool's fast path has no lock */
    int64_t armed_ns;      /* the socket timeouts set last */
} rconn;

enum { SCRIPT_LOCK, SCRIPT_OWNER, SCRIPT_TAKE, N_SCRIPTS };

typedef struct rds {
    const imi_driver_env *env;
    const imi_host_api *host;
    char host_name[256];
    int port;
    const char *user, *password;
    int64_t db, connect_timeout_ms, command_timeout_ms;

    pthread_mutex_t mu;
    pthread_cond_t cv;     /* a connection came back */
    rconn *conns;
    size_t n_conns;
    atomic_int waiters;    /* threads waiting on cv for a free connection */
    bool mu_ready;
    char sha[N_SCRIPTS][41]; /* "" until loaded; under mu */
} rds;

/* A checked-out connection and the deadline of the call it serves. */
typedef struct rlease {
    rconn *c;
    int64_t deadline_ns;
} rlease;

/* ---- pool.c ---- */
int rds_pool_init(rds *r);
void rds_pool_free(rds *r);
/* A connected connection, waiting for a free one and dialling as needed, all within the
 * ctx deadline. */
int rds_acquire(rds *r, const imi_ctx *ctx, rlease *l);
/* Sets the socket timeouts to what is left of the lease's deadline; IMI_ETIMEDOUT when
 * nothing is left. */
int rds_arm(rds *r, rlease *l);
/* Returns the connection; `broken` closes it first. */
void rds_release(rds *r, rlease *l, bool broken);
/* The imi code of a context's I/O error (timeout vs. unavailable), recorded as detail. */
int rds_io_error(rds *r, const redisContext *rc, const char *what);

/* ---- call.c ---- */
/* Runs one command; *out is the reply (never an error reply: those become codes). */
int rds_cmd(rds *r, const imi_ctx *ctx, redisReply **out, int argc, const char **argv,
            const size_t *lens);
/* Runs n commands in one round trip; replies[i] for each (error replies included: the
 * caller checks them with rds_reply_error). */
int rds_pipeline(rds *r, const imi_ctx *ctx, size_t n, const int *argcs,
                 const char *const *const *argvs, const size_t *const *lens,
                 redisReply **replies);
/* The code of an error reply (WRONGTYPE, not an integer -> IMI_EINVALID ...). */
int rds_reply_error(rds *r, const redisReply *rep);
/* EVALSHA of one of the driver's scripts on key with args, loading it when the server
 * does not know it (first use, restart, SCRIPT FLUSH). */
int rds_script(rds *r, const imi_ctx *ctx, int script, const char *key, size_t klen,
               int nargs, const char **args, redisReply **out);
/* The reply's kind or IMI_EDRIVER ("unexpected reply"); frees it on mismatch. */
int rds_expect(rds *r, redisReply *rep, int type);
/* IMI_ENOTFOUND with its own detail, so that a miss never shows an earlier error's. */
int rds_miss(void *st);

/* ---- the vtable slots ---- */
int rds_get(void *st, const imi_ctx *ctx, const char *key, size_t klen, imi_buf *val);
int rds_set(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
            size_t len, int64_t ttl_ms);
int rds_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
              size_t len, int64_t ttl_ms);
int rds_del(void *st, const imi_ctx *ctx, const char *key, size_t klen);
int rds_exists(void *st, const imi_ctx *ctx, const char *key, size_t klen);
int rds_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms);
int rds_ttl(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t *ttl_ms);
int rds_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
             int64_t *result);
int rds_mget(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             size_t n, imi_buf *vals, int *found);
int rds_mset(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             const imi_bytes *vals, size_t n, int64_t ttl_ms);

int rds_hset(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             const void *val, size_t len);
int rds_hget(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field,
             imi_buf *val);
int rds_hdel(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *field);
int rds_hgetall(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                imi_cache_each_fn fn, void *ud);
int rds_sadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len);
int rds_srem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len);
int rds_sismember(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m,
                  size_t len);
int rds_smembers(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                 imi_cache_each_fn fn, void *ud);
int rds_zadd(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m,
             size_t len, double score);
int rds_zrem(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m, size_t len);
int rds_zscore(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *m,
               size_t len, double *score);
int rds_zrange(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t start,
               int64_t stop, imi_cache_each_fn fn, void *ud);

int rds_lock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner,
             int64_t ttl_ms);
int rds_unlock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner);
int rds_lock_renew(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                   const char *owner, int64_t ttl_ms);
int rds_take(void *st, const imi_ctx *ctx, const char *key, size_t klen, double rate,
             int64_t burst, int64_t n, int64_t *retry_after_ms);

#endif
