/* imi-soak MINUTES [CONFIG]: a mixed workload on every in-process driver (cache mem, mq
 * mem, coord mem, db sqlite) plus uid, ratelimit and breaker, for MINUTES minutes,
 * printing once a minute the process's RSS, open fds and threads (from /proc) and the
 * operations done. Memory, fds or threads that keep growing are a leak. Not run in CI:
 * tools/soak.sh builds and runs it. Exits 1 when an operation fails unexpectedly. */
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/iminfra.h"

#define WORKERS 3

static const char *const default_config =
    "[log]\nlevel = error\n"
    "[cache]\ndriver = mem\nmax_entries = 50000\n"
    "[mq]\ndriver = mem\nnamespace = soak\nmax_queue = 10000\n"
    "[coord]\ndriver = mem\nnamespace = soak\n"
    "[db]\ndriver = sqlite\npath = :memory:\n"
    "[uid]\nworker_id = 1\n"
    "[ratelimit]\nrule.ip = 100/s burst 10\nrule.user = 5/s\n"
    "[breaker]\nconsecutive_failures = 3\nopen_for = 50ms\n";

typedef struct world {
    imi_app *app;
    imi_cache *cache;
    imi_mq *mq;
    imi_coord *coord;
    imi_db *db;
    imi_uid *uid;
    imi_ratelimit *rl;
    imi_breaker_set *brk;
    atomic_bool stop;
    atomic_ullong ops, received, failures;
    atomic_int first_error_logged;
} world;

static void failed(world *w, const char *what, int rc)
{
    atomic_fetch_add(&w->failures, 1);
    if (atomic_fetch_add(&w->first_error_logged, 1) < 10)
        fprintf(stderr, "soak: %s: %s: %s\n", what, imi_err_name(rc), imi_error_message());
}

#define CHECK(w, what, call, ...)                                        \
    do {                                                                 \
        int rc_ = (call);                                                \
        static const int ok_[] = { IMI_OK, __VA_ARGS__ };                \
        int good_ = 0;                                                   \
        for (size_t i_ = 0; i_ < sizeof ok_ / sizeof ok_[0]; i_++)       \
            good_ |= rc_ == ok_[i_];                                     \
        if (!good_)                                                      \
            failed((w), (what), rc_);                                    \
        atomic_fetch_add(&(w)->ops, 1);                                  \
    } while (0)

static int on_message(void *ud, const imi_mq_msg *msg)
{
    (void)msg;
    atomic_fetch_add(&((world *)ud)->received, 1);
    return IMI_OK;
}

static int flaky(void *ud, const imi_ctx *ctx)
{
    (void)ctx;
    unsigned *n = ud;
    return (++*n % 7) < 3 ? IMI_EUNAVAILABLE : IMI_OK;
}

static void one_round(world *w, unsigned seed, unsigned long i)
{
    char key[64], val[128];
    snprintf(key, sizeof key, "k:%u:%lu", seed, i % 20000);
    snprintf(val, sizeof val, "value %lu of worker %u", i, seed);
    imi_ctx *ctx = imi_ctx_new(2000);
    imi_buf buf = IMI_BUF_INIT;
    int64_t n;

    CHECK(w, "cache set", imi_cache_set(w->cache, ctx, key, val, strlen(val), 1 + i % 3000));
    CHECK(w, "cache get", imi_cache_get(w->cache, ctx, key, &buf), IMI_ENOTFOUND);
    CHECK(w, "cache incr", imi_cache_incr(w->cache, ctx, "counter", 1, &n));
    CHECK(w, "cache hset", imi_cache_hset(w->cache, ctx, "h", key, val, strlen(val)));
    if (i % 4 == 0)
        CHECK(w, "cache del", imi_cache_del(w->cache, ctx, key), IMI_ENOTFOUND);

    imi_mq_msg m = { .topic = "soak", .key = key, .key_len = strlen(key), .body = val,
                     .body_len = strlen(val) };
    CHECK(w, "mq publish", imi_mq_publish(w->mq, ctx, &m));

    snprintf(key, sizeof key, "cfg/%u/%lu", seed, i % 500);
    CHECK(w, "coord put", imi_coord_put(w->coord, ctx, key, val, strlen(val), NULL));
    CHECK(w, "coord get", imi_coord_get(w->coord, ctx, key, &buf, NULL), IMI_ENOTFOUND);
    if (i % 50 == 0) {
        imi_coord_lock *l = NULL;
        snprintf(key, sizeof key, "lock/%u", seed);
        CHECK(w, "coord lock", imi_coord_lock_try(w->coord, ctx, key, 5000, 0, &l));
        if (l)
            CHECK(w, "coord unlock", imi_coord_unlock(l, ctx));
    }

    imi_db_param p[] = { IMI_DB_PINT((int64_t)i), IMI_DB_PTEXT(val) };
    CHECK(w, "db insert", imi_db_exec(w->db, ctx, "INSERT INTO t(n, s) VALUES (?, ?)", p, 2,
                                      NULL));
    if (i % 10 == 0) {
        CHECK(w, "db delete", imi_db_exec(w->db, ctx, "DELETE FROM t WHERE n < ?", p, 1, NULL));
        imi_db_rows *rows = NULL;
        CHECK(w, "db query", imi_db_query(w->db, ctx, "SELECT n, s FROM t WHERE n >= ?", p, 1,
                                          &rows));
        if (rows) {
            while (imi_db_rows_next(rows, ctx) == 1)
                ;
            imi_db_rows_free(rows);
        }
    }

    int64_t id;
    CHECK(w, "uid next", imi_uid_next(w->uid, &id));
    imi_uuid u = imi_uuid_v4();
    (void)u;

    snprintf(key, sizeof key, "ip:%u:%lu", seed, i); /* a new resource every time */
    CHECK(w, "ratelimit ip", imi_ratelimit_check(w->rl, ctx, "ip", key, 1, NULL));
    snprintf(key, sizeof key, "user:%lu", i % 100);
    CHECK(w, "ratelimit user", imi_ratelimit_check(w->rl, ctx, "user", key, 1, NULL),
          IMI_ELIMITED);

    snprintf(key, sizeof key, "svc:%lu", i % 20);
    imi_breaker *b = imi_breaker_get(w->brk, key);
    unsigned calls = (unsigned)i;
    if (b)
        CHECK(w, "breaker call", imi_breaker_call(b, ctx, flaky, &calls), IMI_EUNAVAILABLE,
              IMI_EOPEN);
    imi_buf_free(&buf);
    imi_ctx_free(ctx);
}

static void *worker(void *arg)
{
    world *w = arg;
    static atomic_uint next_seed;
    unsigned seed = atomic_fetch_add(&next_seed, 1);
    for (unsigned long i = 0; !atomic_load(&w->stop); i++) {
        one_round(w, seed, i);
        /* a steady load rather than a saturated one: the machine is shared */
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static long proc_status(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n) && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        n += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return n - 1; /* the one opendir holds */
}

static int open_world(world *w, const char *path)
{
    imi_config *cfg;
    int rc = path ? imi_config_load(path, &cfg) : imi_config_parse(default_config, "soak",
                                                                   ".", &cfg);
    if (!rc)
        rc = imi_app_open_config(cfg, &w->app);
    if (!rc)
        rc = imi_cache_open(w->app, NULL, &w->cache);
    if (!rc)
        rc = imi_mq_open(w->app, NULL, &w->mq);
    if (!rc)
        rc = imi_coord_open(w->app, NULL, &w->coord);
    if (!rc)
        rc = imi_db_open(w->app, NULL, &w->db);
    if (!rc)
        rc = imi_uid_open(w->app, NULL, &w->uid);
    if (!rc)
        rc = imi_ratelimit_open(w->app, NULL, &w->rl);
    if (!rc)
        rc = imi_breaker_set_open(w->app, &w->brk);
    if (!rc)
        rc = imi_db_exec(w->db, NULL, "CREATE TABLE t(n INTEGER, s TEXT)", NULL, 0, NULL);
    return rc;
}

static void close_world(world *w)
{
    imi_breaker_set_free(w->brk);
    imi_ratelimit_free(w->rl);
    imi_uid_free(w->uid);
    imi_db_free(w->db);
    imi_coord_free(w->coord);
    imi_mq_free(w->mq);
    imi_cache_free(w->cache);
    imi_app_free(w->app);
}

int main(int argc, char **argv)
{
    double minutes = argc > 1 ? atof(argv[1]) : 10;
    if (argc > 3 || !(minutes > 0 && minutes <= 10000)) {
        fprintf(stderr, "usage: imi-soak [MINUTES (default 10)] [CONFIG]\n");
        return 2;
    }
    world w = { .ops = 0 };
    if (open_world(&w, argc > 2 ? argv[2] : NULL)) {
        fprintf(stderr, "soak: open: %s\n", imi_error_message());
        return 1;
    }
    imi_mq_sub *sub = NULL;
    const char *topics[] = { "soak" };
    imi_mq_sub_opts so = { .group = "soak", .topics = topics, .n_topics = 1 };
    if (imi_mq_subscribe(w.mq, NULL, &so, on_message, &w, &sub)) {
        fprintf(stderr, "soak: subscribe: %s\n", imi_error_message());
        return 1;
    }
    pthread_t t[WORKERS];
    for (int i = 0; i < WORKERS; i++)
        pthread_create(&t[i], NULL, worker, &w);
    printf("%6s %10s %6s %8s %12s %12s %9s\n", "minute", "rss_kib", "fds", "threads", "ops",
           "mq_received", "failures");
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (int minute = 1;; minute++) {
        double until = minute * 60.0 < minutes * 60.0 ? minute * 60.0 : minutes * 60.0;
        struct timespec now;
        do {
            struct timespec ts = { 0, 200000000 };
            nanosleep(&ts, NULL);
            clock_gettime(CLOCK_MONOTONIC, &now);
        } while ((double)(now.tv_sec - start.tv_sec) + (now.tv_nsec - start.tv_nsec) / 1e9 < until);
        printf("%6.1f %10ld %6d %8ld %12llu %12llu %9llu\n", until / 60.0, proc_status("VmRSS"),
               open_fds(), proc_status("Threads"), (unsigned long long)atomic_load(&w.ops),
               (unsigned long long)atomic_load(&w.received),
               (unsigned long long)atomic_load(&w.failures));
        fflush(stdout);
        if (until >= minutes * 60.0)
            break;
    }
    atomic_store(&w.stop, true);
    for (int i = 0; i < WORKERS; i++)
        pthread_join(t[i], NULL);
    imi_mq_sub_free(sub);
    close_world(&w);
    unsigned long long f = atomic_load(&w.failures);
    printf("soak: %s after %.1f minute(s): %llu failure(s)\n", f ? "FAILED" : "ok", minutes, f);
    return f ? 1 : 0;
}
