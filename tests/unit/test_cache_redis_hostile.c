/* The redis cache driver against a hostile or broken server: fake RESP servers on
 * loopback (a thread in this test) read each command as hiredis sends it (an array of
 * bulk strings) and answer from a per-case table, command name -> raw reply bytes, with a
 * default. Every reply of the wrong shape must give IMI_EDRIVER with a one-line message
 * naming the command, never a crash, a leak or a success; a server that stops answering
 * or trickles its reply gives IMI_ETIMEDOUT within the call's deadline; a broken
 * connection IMI_EUNAVAILABLE. Cluster (CLUSTER SLOTS, MOVED, ASK) and sentinel
 * (SENTINEL get-master-addr-by-name) replies are held to the same rules. */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

/* ---- the fake server ------------------------------------------------------------------- */

enum { SEND, HANG, SEND_CLOSE, TRICKLE, FLOOD };

typedef struct rule {
    char cmd[64];       /* "GET", or two words: "CLUSTER SLOTS" */
    char reply[1024];
    size_t len;
    int action;         /* SEND; HANG: never answer; SEND_CLOSE: send, then close;
                         * TRICKLE: one byte every 100 ms; FLOOD: send, then 256 KiB
                         * of 'x', then nothing */
} rule;

#define MAX_RULES 48
#define MAX_CONNS 16

typedef struct fake {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t mu;
    rule rules[MAX_RULES];
    size_t n_rules;
    rule dflt;
    atomic_int commands;
} fake;

typedef struct conn {
    int fd;
    char in[65536];
    size_t have;
    const char *trickle; /* bytes left to trickle */
    size_t trickle_len;
    int64_t next_ns;
    bool hung;
} conn;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Parses one command "*N\r\n$L\r\nword\r\n..." at the start of c->in: its first two words
 * in w1, w2 and its length, or 0 when incomplete. */
static size_t parse_cmd(const conn *c, char *w1, char *w2)
{
    const char *p = c->in, *end = c->in + c->have;
    w1[0] = w2[0] = '\0';
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl || *p != '*')
        return 0;
    long n = strtol(p + 1, NULL, 10);
    p = nl + 1;
    for (long i = 0; i < n; i++) {
        if (p >= end || !(nl = memchr(p, '\n', (size_t)(end - p))) || *p != '$')
            return 0;
        long len = strtol(p + 1, NULL, 10);
        p = nl + 1;
        if (end - p < len + 2)
            return 0;
        char *w = i == 0 ? w1 : i == 1 ? w2 : NULL;
        if (w) {
            size_t k = len < 63 ? (size_t)len : 63;
            memcpy(w, p, k);
            w[k] = '\0';
        }
        p += len + 2;
    }
    return (size_t)(p - c->in);
}

static rule find_rule(fake *f, const char *w1, const char *w2)
{
    char two[130];
    snprintf(two, sizeof two, "%s %s", w1, w2);
    pthread_mutex_lock(&f->mu);
    rule r = f->dflt;
    for (size_t i = 0; i < f->n_rules; i++)
        if (!strcasecmp(f->rules[i].cmd, w1) || !strcasecmp(f->rules[i].cmd, two)) {
            r = f->rules[i];
            break;
        }
    pthread_mutex_unlock(&f->mu);
    return r;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w, len -= (size_t)w;
    }
}

/* Answers the commands complete in c->in; false when the connection is to be closed. */
static bool serve(fake *f, conn *c, rule *held)
{
    char w1[64], w2[64];
    size_t used;
    while (!c->hung && !c->trickle && (used = parse_cmd(c, w1, w2))) {
        memmove(c->in, c->in + used, c->have - used);
        c->have -= used;
        atomic_fetch_add(&f->commands, 1);
        *held = find_rule(f, w1, w2);
        switch (held->action) {
        case HANG:
            c->hung = true;
            break;
        case TRICKLE:
            c->trickle = held->reply, c->trickle_len = held->len, c->next_ns = now_ns();
            break;
        case SEND_CLOSE:
            send_all(c->fd, held->reply, held->len);
            return false;
        case FLOOD: {
            send_all(c->fd, held->reply, held->len);
            static char xs[256 * 1024];
            memset(xs, 'x', sizeof xs);
            send_all(c->fd, xs, sizeof xs); /* ends when the client closes */
            c->hung = true;
            break;
        }
        default:
            send_all(c->fd, held->reply, held->len);
        }
    }
    return true;
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    conn *cs = calloc(MAX_CONNS, sizeof *cs);
    rule *held = calloc(MAX_CONNS, sizeof *held); /* the trickled reply of each conn */
    size_t n = 0;
    while (!atomic_load(&f->stop)) {
        struct pollfd pf[MAX_CONNS + 1] = { { .fd = f->fd, .events = POLLIN } };
        for (size_t i = 0; i < n; i++)
            pf[i + 1] = (struct pollfd){ .fd = cs[i].fd, .events = POLLIN };
        poll(pf, n + 1, 20);
        if ((pf[0].revents & POLLIN) && n < MAX_CONNS) {
            int fd = accept(f->fd, NULL, NULL);
            if (fd >= 0)
                cs[n++] = (conn){ .fd = fd };
        }
        for (size_t i = 0; i < n; i++) {
            conn *c = &cs[i];
            bool keep = true;
            if (pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = recv(c->fd, c->in + c->have, sizeof c->in - c->have, 0);
                if (r <= 0)
                    keep = false;
                else
                    c->have += (size_t)r;
            }
            if (keep && c->trickle && c->trickle_len && now_ns() >= c->next_ns) {
                send_all(c->fd, c->trickle, 1);
                c->trickle++, c->trickle_len--;
                c->next_ns = now_ns() + 100000000;
            }
            if (keep)
                keep = serve(f, c, &held[i]);
            if (!keep) {
                close(c->fd);
                held[i] = held[n - 1];
                cs[i--] = cs[--n];
            }
        }
    }
    for (size_t i = 0; i < n; i++)
        close(cs[i].fd);
    free(cs);
    free(held);
    return NULL;
}

static void fake_start(fake *f)
{
    memset(f, 0, sizeof *f);
    pthread_mutex_init(&f->mu, NULL);
    f->dflt = (rule){ .reply = "+OK\r\n", .len = 5 };
    f->fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(f->fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    cr_assert_eq(bind(f->fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(f->fd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(f->fd, (struct sockaddr *)&a, &al);
    f->port = ntohs(a.sin_port);
    cr_assert_eq(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static void fake_stop(fake *f)
{
    atomic_store(&f->stop, true);
    pthread_join(f->thread, NULL);
    close(f->fd);
    pthread_mutex_destroy(&f->mu);
}

/* Sets what cmd gets back (printf-style reply; replaces an earlier rule for cmd). */
static void fake_on(fake *f, const char *cmd, int action, const char *fmt, ...)
{
    rule r = { .action = action };
    snprintf(r.cmd, sizeof r.cmd, "%s", cmd);
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(r.reply, sizeof r.reply, fmt, ap);
    va_end(ap);
    cr_assert(len >= 0 && (size_t)len < sizeof r.reply);
    r.len = (size_t)len;
    pthread_mutex_lock(&f->mu);
    size_t i = 0;
    while (i < f->n_rules && strcasecmp(f->rules[i].cmd, cmd))
        i++;
    cr_assert(i < MAX_RULES);
    f->rules[i] = r;
    if (i == f->n_rules)
        f->n_rules++;
    pthread_mutex_unlock(&f->mu);
}

/* ---- helpers ---------------------------------------------------------------------------- */

static imi_app *app;

/* A cache on the fake with [cache] options (key, value pairs, NULL-ended); *rc gets the
 * open's code (the handle is NULL when it failed). */
static imi_cache *open_redis(int *rc, ...)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/configs/cache_redis.ini", IMI_TEST_SOURCE_DIR);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_load(path, &cfg), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_config_set(cfg, "cache", "timeout", "2s"), IMI_OK);
    cr_assert_eq(imi_config_set(cfg, "cache", "pool_size", "1"), IMI_OK);
    cr_assert_eq(imi_config_set(cfg, "cache", "prefix", ""), IMI_OK);
    va_list ap;
    va_start(ap, rc);
    for (const char *k; (k = va_arg(ap, const char *));)
        cr_assert_eq(imi_config_set(cfg, "cache", k, va_arg(ap, const char *)), IMI_OK);
    va_end(ap);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_cache *c = NULL;
    *rc = imi_cache_open(app, NULL, &c);
    return c;
}

static imi_cache *open_ok(const fake *f)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f->port);
    int rc;
    imi_cache *c = open_redis(&rc, "addr", addr, "command_timeout", "1500ms", NULL);
    cr_assert_eq(rc, IMI_OK, "open: %s (%s)", imi_strerror(rc), imi_error_message());
    return c;
}

static void done(imi_cache *c)
{
    imi_cache_free(c);
    imi_app_free(app);
    app = NULL;
}

/* The last message is one line and names `what` (a command). */
static void expect_message(const char *op, const char *what)
{
    const char *m = imi_error_message();
    cr_expect(m && *m, "%s: no message", op);
    if (!m)
        return;
    cr_expect(!strpbrk(m, "\r\n"), "%s: more than one line: %s", op, m);
    for (const char *p = m; *p; p++)
        cr_expect(!iscntrl((unsigned char)*p), "%s: a control character in: %s", op, m);
    cr_expect(strstr(m, what), "%s: '%s' not in: %s", op, what, m);
}

static int64_t ms_since(int64_t t0) { return (now_ns() - t0) / 1000000; }

static int each_calls;
static int count_each(void *ud, const void *item, size_t il, const void *val, size_t vl,
                      double score)
{
    (void)ud, (void)item, (void)il, (void)val, (void)vl, (void)score;
    each_calls++;
    return 0;
}

/* Runs operation `op` (a name of this table) on c. */
static int run_op(imi_cache *c, const char *op)
{
    imi_buf v = IMI_BUF_INIT;
    int64_t n = 0;
    double d = 0;
    int rc;
    const char *keys[] = { "k1", "k2" };
    imi_bytes vals[] = { { .data = "a", .len = 1 }, { .data = "b", .len = 1 } };
    imi_buf mv[2] = { IMI_BUF_INIT, IMI_BUF_INIT };
    int found[2];
    if (!strcmp(op, "get"))
        rc = imi_cache_get(c, NULL, "k", &v);
    else if (!strcmp(op, "set"))
        rc = imi_cache_set(c, NULL, "k", "v", 1, 0);
    else if (!strcmp(op, "set_ttl"))
        rc = imi_cache_set(c, NULL, "k", "v", 1, 1000);
    else if (!strcmp(op, "setnx"))
        rc = imi_cache_setnx(c, NULL, "k", "v", 1, 1000);
    else if (!strcmp(op, "del"))
        rc = imi_cache_del(c, NULL, "k");
    else if (!strcmp(op, "exists"))
        rc = imi_cache_exists(c, NULL, "k");
    else if (!strcmp(op, "expire"))
        rc = imi_cache_expire(c, NULL, "k", 1000);
    else if (!strcmp(op, "ttl"))
        rc = imi_cache_ttl(c, NULL, "k", &n);
    else if (!strcmp(op, "incr"))
        rc = imi_cache_incr(c, NULL, "k", 1, &n);
    else if (!strcmp(op, "mget"))
        rc = imi_cache_mget(c, NULL, keys, 2, mv, found);
    else if (!strcmp(op, "mset"))
        rc = imi_cache_mset(c, NULL, keys, vals, 2, 0);
    else if (!strcmp(op, "mset_ttl"))
        rc = imi_cache_mset(c, NULL, keys, vals, 2, 1000);
    else if (!strcmp(op, "hset"))
        rc = imi_cache_hset(c, NULL, "k", "f", "v", 1);
    else if (!strcmp(op, "hget"))
        rc = imi_cache_hget(c, NULL, "k", "f", &v);
    else if (!strcmp(op, "hdel"))
        rc = imi_cache_hdel(c, NULL, "k", "f");
    else if (!strcmp(op, "hgetall"))
        rc = imi_cache_hgetall(c, NULL, "k", count_each, NULL);
    else if (!strcmp(op, "sadd"))
        rc = imi_cache_sadd(c, NULL, "k", "m", 1);
    else if (!strcmp(op, "srem"))
        rc = imi_cache_srem(c, NULL, "k", "m", 1);
    else if (!strcmp(op, "sismember"))
        rc = imi_cache_sismember(c, NULL, "k", "m", 1);
    else if (!strcmp(op, "smembers"))
        rc = imi_cache_smembers(c, NULL, "k", count_each, NULL);
    else if (!strcmp(op, "zadd"))
        rc = imi_cache_zadd(c, NULL, "k", "m", 1, 1.5);
    else if (!strcmp(op, "zrem"))
        rc = imi_cache_zrem(c, NULL, "k", "m", 1);
    else if (!strcmp(op, "zscore"))
        rc = imi_cache_zscore(c, NULL, "k", "m", 1, &d);
    else if (!strcmp(op, "zrange"))
        rc = imi_cache_zrange(c, NULL, "k", 0, -1, count_each, NULL);
    else if (!strcmp(op, "lock"))
        rc = imi_cache_lock(c, NULL, "k", "me", 1000);
    else if (!strcmp(op, "unlock"))
        rc = imi_cache_unlock(c, NULL, "k", "me");
    else if (!strcmp(op, "lock_renew"))
        rc = imi_cache_lock_renew(c, NULL, "k", "me", 1000);
    else if (!strcmp(op, "take"))
        rc = imi_cache_take(c, NULL, "k", 10, 10, 1, &n);
    else if (!strcmp(op, "ping"))
        rc = imi_cache_ping(c, NULL);
    else
        cr_assert_fail("no op %s", op);
    imi_buf_free(&v);
    imi_buf_free(&mv[0]);
    imi_buf_free(&mv[1]);
    return rc;
}

#define SHA "0123456789abcdef0123456789abcdef01234567"

/* One row: op gets `reply` to its command cmd, and must return rc naming `names`. */
typedef struct row {
    const char *op, *cmd, *reply;
    int rc;
    const char *names;
} row;

static const row rows[] = {
    /* strings */
    { "get", "GET", ":1\r\n", IMI_EDRIVER, "GET" },
    { "get", "GET", "*1\r\n$1\r\na\r\n", IMI_EDRIVER, "GET" },
    { "get", "GET", "+OK\r\n", IMI_EDRIVER, "GET" },
    { "get", "GET", "-ERR boom\r\n", IMI_EDRIVER, "GET" },
    { "get", "GET", "-WRONGTYPE Operation against a key\r\n", IMI_EINVALID, "GET" },
    { "get", "GET", "$1\r\nv\r\n", IMI_OK, NULL },
    { "set", "SET", ":1\r\n", IMI_EDRIVER, "SET" },
    { "set", "SET", "*0\r\n", IMI_EDRIVER, "SET" },
    { "set", "SET", "$-1\r\n", IMI_EDRIVER, "SET" },
    { "set", "SET", "$2\r\nOK\r\n", IMI_EDRIVER, "SET" },
    { "set", "SET", "+QUEUED\r\n", IMI_EDRIVER, "SET" },
    { "set_ttl", "SET", "*-1\r\n", IMI_EDRIVER, "SET" },
    { "set", "SET", "+OK\r\n", IMI_OK, NULL },
    { "setnx", "SET", "$-1\r\n", IMI_EEXISTS, NULL },
    { "setnx", "SET", ":0\r\n", IMI_EDRIVER, "SET" },
    { "setnx", "SET", "+OK\r\n", IMI_OK, NULL },
    { "del", "DEL", "+OK\r\n", IMI_EDRIVER, "DEL" },
    { "del", "DEL", ":5\r\n", IMI_EDRIVER, "DEL" },
    { "del", "DEL", ":-1\r\n", IMI_EDRIVER, "DEL" },
    { "del", "DEL", "$1\r\n1\r\n", IMI_EDRIVER, "DEL" },
    { "del", "DEL", ":0\r\n", IMI_ENOTFOUND, NULL },
    { "exists", "EXISTS", ":2\r\n", IMI_EDRIVER, "EXISTS" },
    { "exists", "EXISTS", "*-1\r\n", IMI_EDRIVER, "EXISTS" },
    { "expire", "PEXPIRE", ":7\r\n", IMI_EDRIVER, "PEXPIRE" },
    { "expire", "PEXPIRE", "+OK\r\n", IMI_EDRIVER, "PEXPIRE" },
    { "ttl", "PTTL", ":-7\r\n", IMI_EDRIVER, "PTTL" },
    { "ttl", "PTTL", "$3\r\nabc\r\n", IMI_EDRIVER, "PTTL" },
    { "ttl", "PTTL", "*2\r\n:1\r\n:2\r\n", IMI_EDRIVER, "PTTL" },
    { "ttl", "PTTL", ":-2\r\n", IMI_ENOTFOUND, NULL },
    { "incr", "INCRBY", "$3\r\nabc\r\n", IMI_EDRIVER, "INCRBY" },
    { "incr", "INCRBY", "$22\r\n9999999999999999999999\r\n", IMI_EDRIVER, "INCRBY" },
    { "incr", "INCRBY", "+OK\r\n", IMI_EDRIVER, "INCRBY" },
    { "mget", "MGET", "*1\r\n$1\r\na\r\n", IMI_EDRIVER, "MGET" },
    { "mget", "MGET", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", IMI_EDRIVER, "MGET" },
    { "mget", "MGET", "*2\r\n:1\r\n$1\r\na\r\n", IMI_EDRIVER, "MGET" },
    { "mget", "MGET", "*2\r\n*1\r\n$1\r\na\r\n$-1\r\n", IMI_EDRIVER, "MGET" },
    { "mget", "MGET", "*-1\r\n", IMI_EDRIVER, "MGET" },
    { "mget", "MGET", ":2\r\n", IMI_EDRIVER, "MGET" },
    { "mget", "MGET", "*2\r\n$1\r\na\r\n$-1\r\n", IMI_OK, NULL },
    { "mset", "MSET", ":1\r\n", IMI_EDRIVER, "MSET" },
    { "mset", "MSET", "$-1\r\n", IMI_EDRIVER, "MSET" },
    { "mset_ttl", "SET", ":1\r\n", IMI_EDRIVER, "SET" },
    { "mset", "MSET", "+OK\r\n", IMI_OK, NULL },
    /* hashes, sets, sorted sets */
    { "hset", "HSET", "$2\r\nok\r\n", IMI_EDRIVER, "HSET" },
    { "hset", "HSET", "*-1\r\n", IMI_EDRIVER, "HSET" },
    { "hget", "HGET", ":1\r\n", IMI_EDRIVER, "HGET" },
    { "hdel", "HDEL", "+OK\r\n", IMI_EDRIVER, "HDEL" },
    { "hdel", "HDEL", ":3\r\n", IMI_EDRIVER, "HDEL" },
    { "hgetall", "HGETALL", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", IMI_EDRIVER, "HGETALL" },
    { "hgetall", "HGETALL", "*2\r\n:1\r\n:2\r\n", IMI_EDRIVER, "HGETALL" },
    { "hgetall", "HGETALL", "*2\r\n$1\r\na\r\n*0\r\n", IMI_EDRIVER, "HGETALL" },
    { "hgetall", "HGETALL", "$1\r\na\r\n", IMI_EDRIVER, "HGETALL" },
    { "sadd", "SADD", ":2\r\n", IMI_EDRIVER, "SADD" },
    { "sadd", "SADD", "+OK\r\n", IMI_EDRIVER, "SADD" },
    { "sadd", "SADD", ":0\r\n", IMI_EEXISTS, NULL },
    { "srem", "SREM", ":-1\r\n", IMI_EDRIVER, "SREM" },
    { "sismember", "SISMEMBER", "$1\r\n1\r\n", IMI_EDRIVER, "SISMEMBER" },
    { "smembers", "SMEMBERS", "*2\r\n$1\r\na\r\n$-1\r\n", IMI_EDRIVER, "SMEMBERS" },
    { "smembers", "SMEMBERS", "*1\r\n:7\r\n", IMI_EDRIVER, "SMEMBERS" },
    { "zadd", "ZADD", "+OK\r\n", IMI_EDRIVER, "ZADD" },
    { "zadd", "ZADD", ":-4\r\n", IMI_EDRIVER, "ZADD" },
    { "zrem", "ZREM", ":9\r\n", IMI_EDRIVER, "ZREM" },
    { "zscore", "ZSCORE", "$3\r\nabc\r\n", IMI_EDRIVER, "ZSCORE" },
    { "zscore", "ZSCORE", "$0\r\n\r\n", IMI_EDRIVER, "ZSCORE" },
    { "zscore", "ZSCORE", ":1\r\n", IMI_EDRIVER, "ZSCORE" },
    { "zscore", "ZSCORE", "$22\r\n9999999999999999999999\r\n", IMI_OK, NULL },
    { "zrange", "ZRANGE", "*2\r\n$1\r\na\r\n:-1\r\n", IMI_EDRIVER, "ZRANGE" },
    { "zrange", "ZRANGE", "*2\r\n$1\r\na\r\n$-1\r\n", IMI_EDRIVER, "ZRANGE" },
    { "zrange", "ZRANGE", "*2\r\n$1\r\na\r\n$3\r\nabc\r\n", IMI_EDRIVER, "ZRANGE" },
    { "zrange", "ZRANGE", "*1\r\n$1\r\na\r\n", IMI_EDRIVER, "ZRANGE" },
    { "zrange", "ZRANGE", "*2\r\n$1\r\na\r\n$3\r\n1.5\r\n", IMI_OK, NULL },
    /* lock and token bucket (EVALSHA of the driver's scripts) */
    { "lock", "EVALSHA", ":2\r\n", IMI_EDRIVER, "lock" },
    { "lock", "EVALSHA", "$1\r\n1\r\n", IMI_EDRIVER, "lock" },
    { "lock", "EVALSHA", ":0\r\n", IMI_ECONFLICT, NULL },
    { "unlock", "EVALSHA", ":-5\r\n", IMI_EDRIVER, "unlock" },
    { "unlock", "EVALSHA", "*-1\r\n", IMI_EDRIVER, "unlock" },
    { "lock_renew", "EVALSHA", "+OK\r\n", IMI_EDRIVER, "renew" },
    { "take", "EVALSHA", "*1\r\n:1\r\n", IMI_EDRIVER, "take" },
    { "take", "EVALSHA", "*2\r\n:1\r\n$2\r\n10\r\n", IMI_EDRIVER, "take" },
    { "take", "EVALSHA", "*2\r\n:0\r\n:-5\r\n", IMI_EDRIVER, "take" },
    { "take", "EVALSHA", "*2\r\n:3\r\n:0\r\n", IMI_EDRIVER, "take" },
    { "take", "EVALSHA", "*2\r\n*0\r\n:0\r\n", IMI_EDRIVER, "take" },
    { "take", "EVALSHA", "*2\r\n:0\r\n:250\r\n", IMI_ELIMITED, NULL },
    { "ping", "PING", ":1\r\n", IMI_EDRIVER, "PING" },
    { "ping", "PING", "-ERR no\r\n", IMI_EDRIVER, "PING" },
};

/* ---- tests ---------------------------------------------------------------------------- */

/* Every operation answered with replies of the wrong type or shape. Before: SET, MSET,
 * HSET and ZADD took any reply for a success, mget any short array for misses, a TTL of
 * -7 for "no expiry", ZSCORE "abc" for 0, and ZRANGE with a non-string score crashed. */
Test(cache_redis_hostile, wrong_reply_shapes, .timeout = 60)
{
    fake f;
    fake_start(&f);
    fake_on(&f, "SCRIPT LOAD", SEND, "$40\r\n" SHA "\r\n");
    imi_cache *c = open_ok(&f);
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
        const row *w = &rows[i];
        fake_on(&f, w->cmd, SEND, "%s", w->reply);
        each_calls = 0;
        int rc = run_op(c, w->op);
        char what[160];
        snprintf(what, sizeof what, "%s answered %.*s", w->op, (int)strcspn(w->reply, "\r"),
                 w->reply);
        cr_expect_eq(rc, w->rc, "%s: %s, not %s (%s)", what, imi_strerror(rc),
                     imi_strerror(w->rc), imi_error_message());
        if (w->names)
            expect_message(what, w->names);
        if (w->rc == IMI_EDRIVER)
            cr_expect_eq(each_calls, 0, "%s: the callback saw a bad reply", what);
        fake_on(&f, w->cmd, SEND, "+OK\r\n");
    }
    done(c);
    fake_stop(&f);
}

/* Closed in the middle of a reply: IMI_EUNAVAILABLE naming the command; the next call
 * dials again and works. */
Test(cache_redis_hostile, closed_mid_reply, .timeout = 30)
{
    fake f;
    fake_start(&f);
    imi_cache *c = open_ok(&f);
    fake_on(&f, "GET", SEND_CLOSE, "$10\r\nabc");
    imi_buf v = IMI_BUF_INIT;
    int rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_eq(rc, IMI_EUNAVAILABLE, "%s (%s)", imi_strerror(rc), imi_error_message());
    expect_message("get", "GET");
    fake_on(&f, "MGET", SEND_CLOSE, "*2\r\n$1\r\na\r\n");
    const char *keys[] = { "a", "b" };
    imi_buf mv[2] = { IMI_BUF_INIT, IMI_BUF_INIT };
    int found[2];
    rc = imi_cache_mget(c, NULL, keys, 2, mv, found);
    cr_expect_eq(rc, IMI_EUNAVAILABLE, "mget: %s (%s)", imi_strerror(rc), imi_error_message());
    expect_message("mget", "MGET");
    fake_on(&f, "GET", SEND, "$2\r\nok\r\n");
    rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_eq(rc, IMI_OK, "after: %s (%s)", imi_strerror(rc), imi_error_message());
    imi_buf_free(&v);
    imi_buf_free(&mv[0]);
    imi_buf_free(&mv[1]);
    done(c);
    fake_stop(&f);
}

/* Timed get: the code within a generous bound of the deadline. */
static void expect_timeout(imi_cache *c, const imi_ctx *ctx, int64_t bound_ms, const char *what)
{
    imi_buf v = IMI_BUF_INIT;
    int64_t t0 = now_ns();
    int rc = imi_cache_get(c, ctx, "k", &v);
    int64_t took = ms_since(t0);
    cr_expect_eq(rc, IMI_ETIMEDOUT, "%s: %s (%s)", what, imi_strerror(rc), imi_error_message());
    cr_expect_leq(took, bound_ms, "%s: took %lld ms", what, (long long)took);
    expect_message(what, "GET");
    imi_buf_free(&v);
}

/* A server that never answers, or trickles its reply a byte at a time: IMI_ETIMEDOUT
 * within command_timeout or the ctx deadline. Before: each byte restarted the socket
 * timeout, so a trickled reply held the call for as long as the server liked. */
Test(cache_redis_hostile, silent_and_trickling_servers_time_out, .timeout = 30)
{
    fake f;
    fake_start(&f);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    int rc;
    imi_cache *c = open_redis(&rc, "addr", addr, "command_timeout", "300ms", NULL);
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    fake_on(&f, "GET", HANG, "");
    expect_timeout(c, NULL, 1000, "silent, command_timeout");
    imi_ctx *ctx = imi_ctx_new(200);
    expect_timeout(c, ctx, 1000, "silent, ctx deadline");
    imi_ctx_free(ctx);
    fake_on(&f, "GET", TRICKLE, "$30\r\n012345678901234567890123456789\r\n");
    expect_timeout(c, NULL, 1000, "trickled");
    /* a declared bulk of 2 GiB that never comes */
    fake_on(&f, "GET", SEND, "$2147483647\r\nabc");
    expect_timeout(c, NULL, 1000, "huge bulk");
    /* a pipeline (mset with a TTL: one SET per key) whose first reply trickles */
    fake_on(&f, "SET", TRICKLE, "+OK%30s\r\n", "");
    const char *keys[] = { "a", "b" };
    imi_bytes vals[] = { { .data = "1", .len = 1 }, { .data = "2", .len = 1 } };
    int64_t t0 = now_ns();
    rc = imi_cache_mset(c, NULL, keys, vals, 2, 1000);
    cr_expect_eq(rc, IMI_ETIMEDOUT, "pipeline: %s (%s)", imi_strerror(rc), imi_error_message());
    cr_expect_leq(ms_since(t0), 1000, "pipeline took %lld ms", (long long)ms_since(t0));
    expect_message("pipeline", "SET");
    done(c);
    fake_stop(&f);
}

/* A bulk declared 2 GiB long whose bytes do come: given up at max_reply_size with
 * IMI_EDRIVER, not buffered (hiredis would take up to the declared length). */
Test(cache_redis_hostile, reply_over_max_reply_size, .timeout = 30)
{
    fake f;
    fake_start(&f);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    int rc;
    imi_cache *c = open_redis(&rc, "addr", addr, "max_reply_size", "64k", NULL);
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    fake_on(&f, "GET", FLOOD, "$2147483647\r\n");
    imi_buf v = IMI_BUF_INIT;
    int64_t t0 = now_ns();
    rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_eq(rc, IMI_EDRIVER, "%s (%s)", imi_strerror(rc), imi_error_message());
    cr_expect_leq(ms_since(t0), 1500);
    expect_message("flood", "GET");
    cr_expect(strstr(imi_error_message(), "max_reply_size"), "%s", imi_error_message());
    /* the next call has a connection of its own */
    fake_on(&f, "GET", SEND, "$2\r\nok\r\n");
    rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_eq(rc, IMI_OK, "after: %s (%s)", imi_strerror(rc), imi_error_message());
    imi_buf_free(&v);
    done(c);
    /* out of range */
    c = open_redis(&rc, "addr", addr, "max_reply_size", "1k", NULL);
    cr_expect_eq(rc, IMI_ECONFIG, "%s", imi_strerror(rc));
    expect_message("option", "max_reply_size");
    done(c);
    fake_stop(&f);
}

/* Replies hiredis itself refuses: nesting past its limit, bad protocol bytes, an
 * out-of-range length, an integer past int64. IMI_EDRIVER naming the command, the connection dropped. */
Test(cache_redis_hostile, protocol_errors, .timeout = 30)
{
    fake f;
    fake_start(&f);
    imi_cache *c = open_ok(&f);
    char deep[4 * 64 + 8] = "";
    for (int i = 0; i < 64; i++)
        strcat(deep, "*1\r\n");
    strcat(deep, ":1\r\n");
    const char *bad[] = { deep, "!garbage\r\n", "$-5\r\n", "*-7\r\n",
                          ":99999999999999999999\r\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_on(&f, "GET", SEND, "%s", bad[i]);
        imi_buf v = IMI_BUF_INIT;
        int rc = imi_cache_get(c, NULL, "k", &v);
        cr_expect_eq(rc, IMI_EDRIVER, "reply %zu: %s (%s)", i, imi_strerror(rc),
                     imi_error_message());
        expect_message("protocol", "GET");
        imi_buf_free(&v);
    }
    /* an error line with a bare LF and control bytes stays one line */
    fake_on(&f, "GET", SEND, "-ERR bad\nnews\x1b[31m\r\n");
    imi_buf v = IMI_BUF_INIT;
    int rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_eq(rc, IMI_EDRIVER, "%s (%s)", imi_strerror(rc), imi_error_message());
    expect_message("error line", "GET");
    imi_buf_free(&v);
    done(c);
    fake_stop(&f);
}

/* The handshake of a new connection (AUTH, SELECT) answered with errors or garbage: the
 * open fails with one line naming the command. */
Test(cache_redis_hostile, handshake_refused_or_garbage, .timeout = 30)
{
    struct {
        const char *cmd, *reply;
        int rc;
    } cases[] = {
        { "AUTH", "-WRONGPASS invalid username-password pair\r\n", IMI_ECONFIG },
        { "AUTH", ":1\r\n", IMI_EDRIVER },
        { "AUTH", "*-1\r\n", IMI_EDRIVER },
        { "AUTH", "$2\r\nOK\r\n", IMI_EDRIVER },
        { "AUTH", "!x\r\n", IMI_EDRIVER },
        { "SELECT", "-ERR DB index is out of range\r\n", IMI_ECONFIG },
        { "SELECT", "*1\r\n*1\r\n+OK\r\n", IMI_EDRIVER },
        { "SELECT", "+NOPE\r\n", IMI_EDRIVER },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake f;
        fake_start(&f);
        fake_on(&f, cases[i].cmd, SEND, "%s", cases[i].reply);
        char addr[64];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
        int rc;
        imi_cache *c = open_redis(&rc, "addr", addr, "password", "pw", "db", "3", NULL);
        cr_expect_eq(rc, cases[i].rc, "%s answered %s: %s (%s)", cases[i].cmd, cases[i].reply,
                     imi_strerror(rc), imi_error_message());
        expect_message("handshake", cases[i].cmd);
        done(c);
        fake_stop(&f);
    }
    /* a server that never answers AUTH: the open returns within its timeout and calls
     * time out */
    fake f;
    fake_start(&f);
    fake_on(&f, "AUTH", HANG, "");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    int rc;
    int64_t t0 = now_ns();
    imi_cache *c = open_redis(&rc, "addr", addr, "password", "pw", "command_timeout", "300ms",
                              NULL);
    cr_expect_leq(ms_since(t0), 1500, "open took %lld ms", (long long)ms_since(t0));
    cr_expect_eq(rc, IMI_OK, "%s", imi_error_message());
    if (c) {
        imi_buf v = IMI_BUF_INIT;
        t0 = now_ns();
        rc = imi_cache_get(c, NULL, "k", &v);
        cr_expect_eq(rc, IMI_ETIMEDOUT, "%s (%s)", imi_strerror(rc), imi_error_message());
        cr_expect_leq(ms_since(t0), 1000);
        expect_message("AUTH hang", "AUTH");
        imi_buf_free(&v);
    }
    done(c);
    fake_stop(&f);
}

/* ---- cluster ---------------------------------------------------------------------------- */

static imi_cache *open_cluster(const fake *seed, int *rc, const char *timeout)
{
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", seed->port);
    return open_redis(rc, "addr", addr, "cluster", "true", "command_timeout", timeout, NULL);
}

/* All slots on node port. */
static void slots_on(fake *f, int port)
{
    fake_on(f, "CLUSTER SLOTS", SEND, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
            port);
}

/* CLUSTER SLOTS answered with garbage: the open fails with IMI_EDRIVER naming it. Before:
 * the open succeeded; out-of-range and reversed ranges were cut or skipped silently and
 * port 0 or 99999 became nodes that could never be dialled. */
Test(cache_redis_hostile, cluster_slots_garbage, .timeout = 30)
{
    const char *bad[] = {
        ":1\r\n",
        "$5\r\nslots\r\n",
        "*1\r\n:1\r\n",
        "*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
        "*1\r\n*3\r\n:-1\r\n:100\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
        "*1\r\n*3\r\n:500\r\n:10\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
        "*1\r\n*2\r\n:0\r\n:16383\r\n",
        "*1\r\n*3\r\n:0\r\n:16383\r\n*0\r\n",
        "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:0\r\n",
        "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:99999\r\n",
        "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n:1\r\n:7000\r\n",
        "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n$4\r\n7000\r\n",
        "*1\r\n*3\r\n$1\r\n0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
        "*-1\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake f;
        fake_start(&f);
        fake_on(&f, "CLUSTER SLOTS", SEND, "%s", bad[i]);
        int rc;
        imi_cache *c = open_cluster(&f, &rc, "1s");
        cr_expect_eq(rc, IMI_EDRIVER, "slots %zu: %s (%s)", i, imi_strerror(rc),
                     imi_error_message());
        expect_message("cluster slots", "CLUSTER SLOTS");
        done(c);
        fake_stop(&f);
    }
    /* a node still loading its data is unavailable, not misconfigured: the open goes on */
    {
        fake f;
        fake_start(&f);
        fake_on(&f, "CLUSTER SLOTS", SEND, "-LOADING Redis is loading the dataset in memory\r\n");
        int rc;
        imi_cache *c = open_cluster(&f, &rc, "1s");
        cr_expect_eq(rc, IMI_OK, "loading: %s (%s)", imi_strerror(rc), imi_error_message());
        done(c);
        fake_stop(&f);
    }
    /* an empty host is the node asked (as redis spells it): accepted */
    fake f;
    fake_start(&f);
    fake_on(&f, "CLUSTER SLOTS", SEND, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$0\r\n\r\n:%d\r\n", f.port);
    fake_on(&f, "GET", SEND, "$2\r\nok\r\n");
    int rc;
    imi_cache *c = open_cluster(&f, &rc, "1s");
    cr_expect_eq(rc, IMI_OK, "%s", imi_error_message());
    imi_buf v = IMI_BUF_INIT;
    cr_expect_eq(imi_cache_get(c, NULL, "k", &v), IMI_OK, "%s", imi_error_message());
    imi_buf_free(&v);
    done(c);
    fake_stop(&f);
}

/* A cluster whose CLUSTER SLOTS turns to garbage after the open: ping reports it (the map
 * in use is the old one). Before: ping answered IMI_OK from the old map's masters. */
Test(cache_redis_hostile, cluster_ping_sees_garbled_slots, .timeout = 30)
{
    fake f;
    fake_start(&f);
    slots_on(&f, f.port);
    fake_on(&f, "PING", SEND, "+PONG\r\n");
    int rc;
    imi_cache *c = open_cluster(&f, &rc, "1s");
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    cr_expect_eq(imi_cache_ping(c, NULL), IMI_OK, "%s", imi_error_message());
    fake_on(&f, "CLUSTER SLOTS", SEND, "*1\r\n*3\r\n:9\r\n:3\r\n*2\r\n$9\r\n127.0.0.1\r\n:%d\r\n",
            f.port);
    /* a MOVED (to the same node) has the map read again */
    fake_on(&f, "GET", SEND, "-MOVED 7 127.0.0.1:%d\r\n", f.port);
    imi_buf v = IMI_BUF_INIT;
    imi_cache_get(c, NULL, "k", &v);
    imi_buf_free(&v);
    struct timespec gap = { .tv_nsec = 150000000 }; /* past the driver's refresh spacing */
    nanosleep(&gap, NULL);
    rc = imi_cache_ping(c, NULL);
    cr_expect_eq(rc, IMI_EDRIVER, "%s (%s)", imi_strerror(rc), imi_error_message());
    expect_message("ping", "CLUSTER SLOTS");
    done(c);
    fake_stop(&f);
}

/* MOVED and ASK with targets that cannot be: IMI_EDRIVER naming the reply. */
Test(cache_redis_hostile, cluster_bad_redirects, .timeout = 30)
{
    const char *bad[] = { "-MOVED 99999 x:y\r\n", "-MOVED 1 :0\r\n", "-ASK abc\r\n",
                          "-MOVED\r\n", "-ASK 5 127.0.0.1:99999\r\n", "-MOVED -3 127.0.0.1:1\r\n" };
    fake f;
    fake_start(&f);
    slots_on(&f, f.port);
    int rc;
    imi_cache *c = open_cluster(&f, &rc, "1s");
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fake_on(&f, "GET", SEND, "%s", bad[i]);
        imi_buf v = IMI_BUF_INIT;
        int64_t t0 = now_ns();
        rc = imi_cache_get(c, NULL, "k", &v);
        cr_expect_eq(rc, IMI_EDRIVER, "%s: %s (%s)", bad[i], imi_strerror(rc), imi_error_message());
        cr_expect_leq(ms_since(t0), 1500);
        expect_message(bad[i], "GET");
        imi_buf_free(&v);
    }
    done(c);
    fake_stop(&f);
}

/* Two nodes sending each other's clients back and forth: the call stops at the redirect
 * limit or the deadline, whichever first, with IMI_EUNAVAILABLE. */
Test(cache_redis_hostile, cluster_endless_moved, .timeout = 30)
{
    fake a, b;
    fake_start(&a);
    fake_start(&b);
    slots_on(&a, a.port);
    slots_on(&b, a.port);
    fake_on(&a, "GET", SEND, "-MOVED 7 127.0.0.1:%d\r\n", b.port);
    fake_on(&b, "GET", SEND, "-MOVED 7 127.0.0.1:%d\r\n", a.port);
    fake_on(&a, "MGET", SEND, "-ASK 7 127.0.0.1:%d\r\n", b.port);
    fake_on(&b, "MGET", SEND, "-ASK 7 127.0.0.1:%d\r\n", a.port);
    int rc;
    imi_cache *c = open_cluster(&a, &rc, "1500ms");
    cr_assert_eq(rc, IMI_OK, "%s", imi_error_message());
    imi_buf v = IMI_BUF_INIT;
    int64_t t0 = now_ns();
    rc = imi_cache_get(c, NULL, "k", &v);
    int64_t took = ms_since(t0);
    cr_expect(rc == IMI_EUNAVAILABLE || rc == IMI_ETIMEDOUT, "%s (%s)", imi_strerror(rc),
              imi_error_message());
    cr_expect_leq(took, 2500, "took %lld ms", (long long)took);
    expect_message("moved loop", "GET");
    const char *keys[] = { "k" }; /* one key: MGET goes through the redirect path */
    int found[1];
    t0 = now_ns();
    rc = imi_cache_mget(c, NULL, keys, 1, &v, found);
    cr_expect(rc == IMI_EUNAVAILABLE || rc == IMI_ETIMEDOUT, "ask loop: %s (%s)",
              imi_strerror(rc), imi_error_message());
    cr_expect_leq(ms_since(t0), 2500);
    imi_buf_free(&v);
    done(c);
    fake_stop(&a);
    fake_stop(&b);
}

/* ---- sentinel ---------------------------------------------------------------------------- */

/* The sentinel's answer for the master's address: garbage fails the open with
 * IMI_EDRIVER; nil (the name is unknown) with IMI_ECONFIG. Before: every wrong shape was
 * "knows no master named" (IMI_ECONFIG) and a port "6379x" was taken as 6379. */
Test(cache_redis_hostile, sentinel_garbage, .timeout = 30)
{
    struct {
        const char *reply;
        int rc;
        const char *names;
    } cases[] = {
        { "*-1\r\n", IMI_ECONFIG, "master" },
        { "$-1\r\n", IMI_ECONFIG, "master" },
        { "*1\r\n$9\r\n127.0.0.1\r\n", IMI_EDRIVER, "SENTINEL" },
        { "*2\r\n$9\r\n127.0.0.1\r\n$3\r\nabc\r\n", IMI_EDRIVER, "SENTINEL" },
        { "*2\r\n$9\r\n127.0.0.1\r\n$5\r\n6379x\r\n", IMI_EDRIVER, "SENTINEL" },
        { "*2\r\n$9\r\n127.0.0.1\r\n$5\r\n99999\r\n", IMI_EDRIVER, "SENTINEL" },
        { "*2\r\n$0\r\n\r\n$4\r\n6379\r\n", IMI_EDRIVER, "SENTINEL" },
        { "*2\r\n$9\r\n127.0.0.1\r\n:6379\r\n", IMI_EDRIVER, "SENTINEL" },
        { ":6379\r\n", IMI_EDRIVER, "SENTINEL" },
        { "*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6379\r\n$1\r\nx\r\n", IMI_EDRIVER, "SENTINEL" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fake f;
        fake_start(&f);
        fake_on(&f, "SENTINEL", SEND, "%s", cases[i].reply);
        char addr[64];
        snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
        int rc;
        imi_cache *c = open_redis(&rc, "sentinels", addr, "master", "m1", "command_timeout",
                                  "1s", NULL);
        cr_expect_eq(rc, cases[i].rc, "case %zu: %s (%s)", i, imi_strerror(rc),
                     imi_error_message());
        expect_message("sentinel", cases[i].names);
        done(c);
        fake_stop(&f);
    }
    /* well formed: the master is the fake itself, ROLE says master */
    fake f;
    fake_start(&f);
    fake_on(&f, "SENTINEL", SEND, "*2\r\n$9\r\n127.0.0.1\r\n$%d\r\n%d\r\n",
            snprintf(NULL, 0, "%d", f.port), f.port);
    fake_on(&f, "ROLE", SEND, "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n");
    fake_on(&f, "GET", SEND, "$2\r\nok\r\n");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    int rc;
    imi_cache *c = open_redis(&rc, "sentinels", addr, "master", "m1", NULL);
    cr_expect_eq(rc, IMI_OK, "%s", imi_error_message());
    imi_buf v = IMI_BUF_INIT;
    cr_expect_eq(imi_cache_get(c, NULL, "k", &v), IMI_OK, "%s", imi_error_message());
    /* the master's ROLE turns to garbage on a new connection: not taken for a master */
    fake_on(&f, "ROLE", SEND, ":1\r\n");
    fake_on(&f, "GET", SEND_CLOSE, "");
    rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_eq(rc, IMI_EUNAVAILABLE, "%s (%s)", imi_strerror(rc), imi_error_message());
    fake_on(&f, "GET", SEND, "$2\r\nok\r\n");
    rc = imi_cache_get(c, NULL, "k", &v);
    cr_expect_neq(rc, IMI_OK, "a ROLE of :1 taken for a master");
    imi_buf_free(&v);
    done(c);
    fake_stop(&f);
}

/* A sentinel that never answers: the open returns within its deadline. */
Test(cache_redis_hostile, sentinel_silent, .timeout = 30)
{
    fake f;
    fake_start(&f);
    fake_on(&f, "SENTINEL", HANG, "");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", f.port);
    int rc;
    int64_t t0 = now_ns();
    imi_cache *c = open_redis(&rc, "sentinels", addr, "master", "m1", "command_timeout", "300ms",
                              NULL);
    cr_expect_leq(ms_since(t0), 1500, "open took %lld ms", (long long)ms_since(t0));
    if (c) {
        imi_buf v = IMI_BUF_INIT;
        t0 = now_ns();
        rc = imi_cache_get(c, NULL, "k", &v);
        cr_expect_eq(rc, IMI_ETIMEDOUT, "%s (%s)", imi_strerror(rc), imi_error_message());
        cr_expect_leq(ms_since(t0), 1000);
        expect_message("sentinel silent", "SENTINEL");
        imi_buf_free(&v);
    }
    done(c);
    fake_stop(&f);
}
