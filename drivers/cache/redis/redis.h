/* The redis cache driver's internals, shared by its files:
 *   redis.c     options, open/close/ping, the descriptor
 *   pool.c      one node's connection pool: dial, AUTH, SELECT, ROLE, deadlines, redial
 *   route.c     which node serves a call: the one server, the master named by the
 *               sentinels (sentinel.c), or the owner of the key's slot (slots.c,
 *               keyslot.c)
 *   call.c      one command or a pipeline, redirects and retries, reply errors, scripts
 *   strings.c, multi.c, types.c, lock.c   the operations
 *
 * hiredis contexts are not thread-safe: each call checks a connection out of a node's
 * pool for its whole exchange. Every socket wait is bounded by the call's deadline (the
 * ctx's, else the instance's timeout) through SO_RCVTIMEO/SO_SNDTIMEO set before each
 * call. A connection that saw an I/O error or a timeout is closed (its reply stream may
 * be out of step) and dialled again by the next call that needs it.
 *
 * Behind sentinels or in a cluster, the node serving a call can change under it. A call
 * is retried (within its deadline) only when the command provably did not run: the
 * connection could not be made, or the server refused it with MOVED, ASK, TRYAGAIN,
 * CLUSTERDOWN or READONLY. A connection that broke after the command was sent reports
 * IMI_EUNAVAILABLE, since the command may have run, and has the topology read again. */
#ifndef IMI_DRIVER_CACHE_REDIS_H
#define IMI_DRIVER_CACHE_REDIS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <hiredis/hiredis.h>
#include "iminfra/driver/cache_driver.h"

typedef struct rconn {
    redisContext *rc;      /* NULL: not dialled (or dropped after an error) */
    atomic_bool busy;      /* taken with an exchange: the pool's fast path has no lock */
    int64_t armed_ns;      /* the socket timeouts set last */
    unsigned gen;          /* the node's gen when dialled: older ones are redialled */
} rconn;

/* One server and its pool. Nodes live until close: leases may point to them. */
typedef struct rnode {
    pthread_mutex_t mu;    /* host and port (they move behind sentinels), the cv */
    pthread_cond_t cv;     /* a connection came back */
    char host[256];
    int port;
    atomic_uint gen;       /* bumped when the address changes or the node failed */
    rconn *conns;
    size_t n_conns;
    atomic_int waiters;    /* threads waiting on cv for a free connection */
    size_t idx;            /* its place in rds.nodes */
} rnode;

enum { SCRIPT_LOCK, SCRIPT_OWNER, SCRIPT_TAKE, N_SCRIPTS };
enum { RDS_SINGLE, RDS_SENTINEL, RDS_CLUSTER };

#define RDS_MAX_NODES 128
#define RDS_MAX_SENTINELS 16
#define RDS_SLOTS 16384

typedef struct rds_addr {
    char host[256];
    int port;
} rds_addr;

typedef struct rds {
    const imi_driver_env *env;
    const imi_host_api *host;
    int mode;
    const char *user, *password;
    int64_t db, connect_timeout_ms, command_timeout_ms;
    int64_t max_reply;     /* bytes one reply may take (max_reply_size) */
    size_t pool_size;

    pthread_mutex_t mu;    /* sha, topology reads (one at a time), adding nodes */
    bool mu_ready;
    char sha[N_SCRIPTS][41]; /* "" until loaded; under mu */

    rnode *nodes[RDS_MAX_NODES]; /* [0] the server or master; cluster: seeds, then found */
    atomic_size_t n_nodes;

    /* sentinel */
    rds_addr sentinels[RDS_MAX_SENTINELS];
    size_t n_sentinels;
    const char *master_name, *sentinel_user, *sentinel_password;

    /* sentinel and cluster: the topology is read again before the next call */
    atomic_bool stale;
    int64_t refreshed_ns;  /* under mu: the last read, to space them out */
    pthread_rwlock_t map_mu;
    bool map_ready;
    uint8_t slot_node[RDS_SLOTS]; /* cluster: index into nodes + 1; 0 unknown */
} rds;

/* A checked-out connection, its node and the deadline of the call it serves. */
typedef struct rlease {
    rconn *c;
    rnode *n;
    int64_t deadline_ns;
} rlease;

/* ---- pool.c ---- */
int rds_pool_init(rds *r);
void rds_pool_free(rds *r);
/* A new node for host:port with an empty pool (not dialled); NULL without memory. */
rnode *rds_node_new(rds *r, const char *host, int port);
void rds_node_free(rnode *n);
/* Points a node at another address: its connections are redialled. */
void rds_node_move(rnode *n, const char *host, int port);
/* Drops every connection of a node at its next use (the server failed). */
void rds_node_fail(rnode *n);
/* The deadline of a call: the ctx's, else the instance timeout, capped by command_timeout. */
int64_t rds_deadline(rds *r, const imi_ctx *ctx);
/* A connected connection of the node, waiting for a free one and dialling as needed, all
 * before the deadline. */
int rds_node_acquire(rds *r, rnode *n, int64_t deadline_ns, rlease *l);
/* Sets the socket timeouts to what is left of the lease's deadline; IMI_ETIMEDOUT when
 * nothing is left. */
int rds_arm(rds *r, rlease *l);
/* Returns the connection; `broken` closes it first. */
void rds_release(rds *r, rlease *l, bool broken);
/* The imi code of a context's I/O error (timeout vs. unavailable), recorded as detail. */
int rds_io_error(rds *r, rnode *n, const redisContext *rc, const char *what);
/* Sends what is buffered on c and reads one reply, the whole exchange before deadline_ns:
 * the socket timeouts bound one wait each, so they are set again to what is left after
 * each part (else a server trickling its reply would hold the call as long as it liked).
 * armed_ns (may be NULL) records the timeouts set. A reply whose bytes pass max_reply_size
 * is given up (hiredis would wait for any bulk length the server declares, buffering it). */
enum { RDS_WAIT_OK, RDS_WAIT_LATE, RDS_WAIT_BIG /* over max_reply */, RDS_WAIT_ERR /* c->err */ };
int rds_wait(rds *r, redisContext *c, int64_t deadline_ns, int64_t *armed_ns, redisReply **out);
/* rds_wait on a lease, as an imi code naming the node and `what` (the command). */
int rds_lease_reply(rds *r, rlease *l, const char *what, redisReply **out);
/* Appends one command to the lease's connection and waits for its reply. */
int rds_lease_cmd(rds *r, rlease *l, const char *what, int argc, const char **argv,
                  const size_t *lens, redisReply **out);
/* "host:port" of a node, read under its lock. */
void rds_node_name(rnode *n, char *buf, size_t size);
/* Parses "host:port" (or "[v6]:port"; the port defaults to 6379) into a. */
int rds_parse_addr(rds *r, const char *text, size_t len, rds_addr *a);

/* ---- route.c ---- */
/* A connection to the node serving key (NULL: any node), reading the topology again
 * first when it is stale. Failures are "not sent": the caller may retry. */
int rds_route(rds *r, const char *key, size_t klen, int64_t deadline_ns, rlease *l);
/* The node serving key, without a connection (NULL and *rc when no sentinel answered). */
rnode *rds_pick(rds *r, const char *key, size_t klen, int64_t deadline_ns, int *rc);
/* Reads the topology when it is stale, one thread at a time and not too often (IMI_OK
 * when another thread reads it or did so a moment ago). */
int rds_refresh(rds *r, int64_t deadline_ns);
/* The topology may have changed (a node failed, READONLY, MOVED): read it again soon. */
void rds_topology_stale(rds *r);
/* The node at host:port, added to the known ones when new; NULL when full. */
rnode *rds_node_at(rds *r, const char *host, int port);

/* ---- sentinel.c ---- */
/* Asks the sentinels for the master's address and points nodes[0] at it. */
int rds_sentinel_resolve(rds *r, int64_t deadline_ns);
/* On a new connection to the master: ROLE must say master. */
int rds_sentinel_check_role(rds *r, rlease *l);

/* ---- keyslot.c, slots.c ---- */
/* The cluster slot of a key (CRC16 of the key, or of its {hash tag}). */
unsigned rds_key_slot(const char *key, size_t klen);
/* Reads the slot map with CLUSTER SLOTS from the first node that answers. */
int rds_cluster_refresh(rds *r, int64_t deadline_ns);
/* Records that slot now lives on host:port (a MOVED reply). */
void rds_cluster_moved(rds *r, unsigned slot, const char *host, int port);
/* The node serving a slot (NULL: unknown). */
rnode *rds_slot_owner(rds *r, unsigned slot);

/* ---- call.c ---- */
/* Runs one command; *out is the reply (never an error reply: those become codes). */
int rds_cmd(rds *r, const imi_ctx *ctx, redisReply **out, int argc, const char **argv,
            const size_t *lens);
/* Runs n commands, each on the node serving keys[i] (every key of a command on one
 * slot), in one round trip: the commands for a node are pipelined on one of its
 * connections, all nodes at once. replies[i] for each (error replies included: the caller
 * checks them with rds_reply_error). Commands redirected, refused by a replica, or whose
 * node could not be reached are run again one by one, as rds_cmd would. */
int rds_scatter(rds *r, const imi_ctx *ctx, int64_t deadline_ns, size_t n,
                const char *const *keys, const size_t *klens, const int *argcs,
                const char *const *const *argvs, const size_t *const *lens,
                redisReply **replies);
/* PING on every master that owns slots (cluster mode only). */
int rds_cluster_ping(rds *r, const imi_ctx *ctx);
/* The code of the error reply to command `what` (WRONGTYPE, not an integer ->
 * IMI_EINVALID ...). */
int rds_reply_error(rds *r, const redisReply *rep, const char *what);
/* EVALSHA of one of the driver's scripts (`what`: the operation, for messages) on key with args, loading it when the server
 * does not know it (first use, restart, SCRIPT FLUSH). */
int rds_script(rds *r, const imi_ctx *ctx, int script, const char *what, const char *key,
               size_t klen, int nargs, const char **args, redisReply **out);
/* IMI_OK when the reply to `what` is of type `type`; else frees it and returns
 * IMI_EDRIVER ("unexpected reply"). */
int rds_expect(rds *r, redisReply *rep, int type, const char *what);
/* IMI_EDRIVER for a reply to `what` of the right type but a value that cannot be
 * (`why`); frees rep when not NULL. */
int rds_bad_reply(rds *r, redisReply *rep, const char *what, const char *why);
/* An integer reply in lo..hi into *n, else frees it and returns IMI_EDRIVER. */
int rds_expect_int(rds *r, redisReply *rep, long long lo, long long hi, const char *what,
                   long long *n);
/* A score as redis writes it ("1.5", "inf", "-inf"): IMI_OK when all of it is a number. */
int rds_parse_score(const redisReply *e, double *out);
/* A PING's reply: +PONG, else IMI_EDRIVER. Frees it. */
int rds_pong(rds *r, redisReply *rep);
/* A reply type's name for messages ("integer", "array" ...). */
const char *rds_type_name(int type);
/* Server text made fit for a one-line message: control bytes become '?', long text is
 * cut. Returns buf (RDS_TEXT_MAX bytes). */
#define RDS_TEXT_MAX 160
const char *rds_text(const char *s, size_t len, char *buf);
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
