/* The memcached cache driver (libmemcached): options, open/close/ping, error codes,
 * expiry flags, the descriptor. Strings, the lock and the token bucket; no hashes, sets or
 * sorted sets (memcached has none). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "mc.h"

enum {
    OPT_SERVERS, OPT_POOL_SIZE, OPT_CONNECT_TIMEOUT, OPT_RETRY_TIMEOUT, OPT_MAX_VALUE,
    OPT_NATIVE_INCR
};

static const imi_option_spec mc_options[] = {
    [OPT_SERVERS] = { .name = "servers", .type = IMI_OPT_LIST, .default_value = "127.0.0.1:11211",
                      .help = "host:port list; keys spread over them by consistent hashing "
                              "(ketama)" },
    [OPT_POOL_SIZE] = { .name = "pool_size", .type = IMI_OPT_INT, .default_value = "8",
                        .help = "client handles at most; a call waits for a free one within "
                                "its deadline" },
    [OPT_CONNECT_TIMEOUT] = { .name = "connect_timeout", .type = IMI_OPT_DURATION,
                              .default_value = "1s", .help = "longest wait for a connection" },
    [OPT_RETRY_TIMEOUT] = { .name = "retry_timeout", .type = IMI_OPT_DURATION,
                            .default_value = "1s",
                            .help = "how long a server that failed is left alone before the "
                                    "next try" },
    [OPT_MAX_VALUE] = { .name = "max_value", .type = IMI_OPT_SIZE, .default_value = "1000k",
                        .help = "largest value a set takes: the server's item size (memcached "
                                "-I, 1m by default) less room for the key and item header" },
    [OPT_NATIVE_INCR] = { .name = "native_incr", .type = IMI_OPT_BOOL, .default_value = "false",
                          .help = "ignored, kept so that older configs load: incr is always "
                                  "exact and one round trip for a counter without a TTL" },
};

/* The handle's message for r, as one clean line: libmemcached starts it with the
 * handle's address ("(0x55d0...) ") and ends it with its own source line ("-> io.cc:254"). */
static const char *clean_message(memcached_st *h, memcached_return_t r, char *buf, size_t size)
{
    /* a message left by an earlier call, or none (errors found client-side), is not r's */
    if (!h || memcached_last_error(h) != r)
        return memcached_strerror(NULL, r);
    const char *why = memcached_last_error_message(h);
    if (!why || !*why)
        return memcached_strerror(NULL, r);
    if (why[0] == '(') {
        const char *close = strstr(why, ") ");
        if (close)
            why = close + 2;
    }
    size_t n = strlen(why);
    for (const char *p = why; (p = strstr(p, " -> ")); p += 4)
        n = (size_t)(p - why);
    if (n >= size)
        n = size - 1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = why[i] == '\n' || why[i] == '\r' || why[i] == '\t' ? ' ' : why[i];
        if (ch != ' ' || (k && buf[k - 1] != ' ')) /* one blank at a time */
            buf[k++] = ch;
    }
    buf[k] = '\0';
    return k ? buf : memcached_strerror(NULL, r);
}

int mc_error(mc *m, memcached_st *h, memcached_return_t r, const char *what)
{
    if (r == MEMCACHED_E2BIG)
        return m->host->error(IMI_EINVALID, (long)r, "memcached: %s: the value is larger than "
                              "the server's item size limit (memcached -I, 1m by default)", what);
    char buf[256];
    const char *why = clean_message(h, r, buf, sizeof buf);
    int code;
    switch (r) {
    case MEMCACHED_NOTFOUND:
        code = IMI_ENOTFOUND;
        break;
    case MEMCACHED_NOTSTORED:
    case MEMCACHED_DATA_EXISTS:
        code = IMI_ECONFLICT;
        break;
    case MEMCACHED_TIMEOUT:
        code = IMI_ETIMEDOUT;
        break;
    case MEMCACHED_BAD_KEY_PROVIDED:
        code = IMI_EINVALID;
        break;
    case MEMCACHED_MEMORY_ALLOCATION_FAILURE:
        code = IMI_ENOMEM;
        break;
    case MEMCACHED_ERRNO:
        code = memcached_last_error_errno(h) == ETIMEDOUT ? IMI_ETIMEDOUT : IMI_EUNAVAILABLE;
        break;
    default:
        code = memcached_fatal(r) || r == MEMCACHED_SERVER_MARKED_DEAD ||
                       r == MEMCACHED_SERVER_TEMPORARILY_DISABLED || r == MEMCACHED_NO_SERVERS
                   ? IMI_EUNAVAILABLE : IMI_EDRIVER;
    }
    return m->host->error(code, (long)r, "memcached: %s: %s", what, why);
}

static time_t now_s(mc *m) { return (time_t)(m->host->real_ns() / 1000000000); }

uint32_t mc_expiry_flags(mc *m, int64_t ttl_ms)
{
    if (ttl_ms <= 0)
        return 0;
    int64_t now_ms = m->host->real_ns() / 1000000;
    if (ttl_ms > (int64_t)MC_EXPIRY_MAX_S * 1000 - now_ms)
        return MC_EXPIRY_MAX_S;  /* saturate; mc_check_ttl refuses such a TTL from a caller */
    return (uint32_t)((now_ms + ttl_ms + 999) / 1000);
}

int mc_check_ttl(mc *m, int64_t ttl_ms)
{
    if (ttl_ms == 0)
        return IMI_OK;
    int64_t max = (int64_t)MC_EXPIRY_MAX_S * 1000 - m->host->real_ns() / 1000000;
    if (ttl_ms >= 0 && ttl_ms <= max)
        return IMI_OK;
    return m->host->error(IMI_EINVALID, 0, "memcached: ttl %lld ms is outside 0 to %lld ms: "
                          "memcached keeps a key at most until 2038-01-19 (its expiry times "
                          "are 32-bit unix seconds)", (long long)ttl_ms, (long long)max);
}

int mc_check_value(mc *m, size_t len)
{
    if (len <= (uint64_t)m->env->opts[OPT_MAX_VALUE].i)
        return IMI_OK;
    return m->host->error(IMI_EINVALID, 0, "memcached: the value of %zu bytes is too large: "
                          "max_value is %lld bytes (memcached -I limits an item, 1m by default)",
                          len, (long long)m->env->opts[OPT_MAX_VALUE].i);
}

time_t mc_exptime(mc *m, uint32_t flags)
{
    flags &= MC_FLAG_EXPIRY;
    if (!flags)
        return 0;
    /* one second past the logical expiry; beyond 30 days memcached reads absolute time */
    time_t rel = (time_t)flags - now_s(m) + 1;
    return rel < 1 ? 1 : rel <= 60 * 60 * 24 * 30 ? rel : (time_t)flags + 1;
}

int64_t mc_left_ms(mc *m, uint32_t flags)
{
    flags &= MC_FLAG_EXPIRY;
    return flags ? (int64_t)flags * 1000 - m->host->real_ns() / 1000000 : INT64_MAX;
}

static memcached_return_t set_behaviors(memcached_st *h, const imi_opt_value *o)
{
    memcached_return_t r = MEMCACHED_SUCCESS;
    const struct { memcached_behavior_t b; uint64_t v; } bs[] = {
        { MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 1 },
        { MEMCACHED_BEHAVIOR_DISTRIBUTION, MEMCACHED_DISTRIBUTION_CONSISTENT_KETAMA },
        { MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1 },
        { MEMCACHED_BEHAVIOR_SUPPORT_CAS, 1 },
        { MEMCACHED_BEHAVIOR_TCP_NODELAY, 1 },
        { MEMCACHED_BEHAVIOR_TCP_KEEPALIVE, 1 },
        { MEMCACHED_BEHAVIOR_RETRY_TIMEOUT, (uint64_t)(o[OPT_RETRY_TIMEOUT].i + 999) / 1000 },
    };
    for (size_t i = 0; i < sizeof bs / sizeof bs[0] && r == MEMCACHED_SUCCESS; i++)
        r = memcached_behavior_set(h, bs[i].b, bs[i].v);
    return r;
}

static int mc_open(void *st, const imi_driver_env *env)
{
    mc *m = st;
    m->env = env;
    m->host = env->host;
    const imi_opt_value *o = env->opts;
    m->connect_timeout_ms = o[OPT_CONNECT_TIMEOUT].i > 0 ? o[OPT_CONNECT_TIMEOUT].i : 1000;
    if (o[OPT_POOL_SIZE].i < 1 || o[OPT_POOL_SIZE].i > 1024)
        return m->host->error(IMI_ECONFIG, 0, "pool_size must be 1 to 1024");
    memcached_server_st *list = memcached_servers_parse(o[OPT_SERVERS].str);
    if (!list || !*o[OPT_SERVERS].str)
        return m->host->error(IMI_ECONFIG, 0, "servers '%s' is not a host:port list",
                              o[OPT_SERVERS].str);
    m->master = memcached_create(NULL);
    memcached_return_t r = m->master ? memcached_server_push(m->master, list)
                                     : MEMCACHED_MEMORY_ALLOCATION_FAILURE;
    memcached_server_list_free(list);
    if (r == MEMCACHED_SUCCESS)
        r = set_behaviors(m->master, o);
    if (r != MEMCACHED_SUCCESS)
        return mc_error(m, m->master, r, "setting up the client");
    return mc_pool_open(m, (uint32_t)o[OPT_POOL_SIZE].i);
}

static void mc_close(void *st)
{
    mc *m = st;
    mc_pool_close(m);
    if (m->master)
        memcached_free(m->master);
    m->pool = NULL;
    m->master = NULL;
}

static int mc_ping(void *st, const imi_ctx *ctx)
{
    mc *m = st;
    mc_lease l;
    int rc = mc_acquire(m, ctx, &l);
    if (rc)
        return rc;
    /* a version request reaches every server */
    memcached_return_t r = memcached_version(l.h);
    rc = r == MEMCACHED_SUCCESS ? IMI_OK : mc_error(m, l.h, r, "version");
    mc_release(m, &l);
    return rc;
}

static const imi_cache_driver mc_vtable = {
    .size = sizeof(imi_cache_driver),
    .open = mc_open,
    .close = mc_close,
    .ping = mc_ping,
    .get = mc_get,
    .set = mc_set,
    .setnx = mc_setnx,
    .del = mc_del,
    .exists = mc_exists,
    .expire = mc_expire,
    .ttl = mc_ttl,
    .incr = mc_incr,
    .mget = mc_mget,
    .lock = mc_lock,
    .unlock = mc_unlock,
    .lock_renew = mc_lock_renew,
    .take = mc_take,
};

static const imi_driver_desc mc_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_CACHE,
    .name = "memcached",
    .version = "0.2.0", /* 0.2: values memcached could count on carry a marker (mc.h) */
    .description = "memcached over libmemcached (binary protocol, ketama): strings with "
                   "TTL in whole seconds, lock and token bucket by CAS",
    .caps = IMI_CACHE_CAP_LOCK | IMI_CACHE_CAP_TOKEN_BUCKET,
    .options = mc_options,
    .n_options = IMI_COUNT_OF(mc_options),
    .state_size = sizeof(mc),
    .vtable = &mc_vtable,
};

IMI_DRIVER_DEFINE(mc_desc)
