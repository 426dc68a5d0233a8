/* The redis driver under a topology change: four threads call set, get, incr, mget,
 * take and lock on a cache (Sentinel or Cluster, from the config file), an event runs
 * (a shell command: kill a master, move slots), and the calls are watched.
 *
 *   cache_redis_failover CONFIG EVENT failover|seamless
 *
 * failover: calls may fail with IMI_EUNAVAILABLE or IMI_ETIMEDOUT for a while, and must
 *   succeed again within MAX_RECOVERY_MS of the event. seamless: no call may fail (MOVED
 *   and ASK are followed). Both: no call outlives its deadline (plus scheduling slack),
 *   and the figures are printed. Exit 0 when all holds, 1 otherwise. */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/iminfra.h"

#define THREADS 4
#define DEADLINE_MS 500
#define SLACK_MS 250          /* scheduling on a loaded 2-core machine */
#define WARMUP_MS 1500
#define QUIET_MS 2000         /* calls all succeeding this long after the last failure */
#define MAX_RECOVERY_MS 10000
#define GIVE_UP_MS 30000

static int64_t now_ms(void) { return imi_now_mono_ns() / 1000000; }

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

static imi_cache *cache;
static atomic_bool stop;
static atomic_llong ok_calls, failed, unavailable, timedout, other, late, mismatches;
static atomic_llong worst_ms, first_fail_ms, last_fail_ms;

static void max_into(atomic_llong *a, long long v)
{
    long long cur = atomic_load(a);
    while (v > cur && !atomic_compare_exchange_weak(a, &cur, v)) {
    }
}

/* Accounts one call that started at t0 and ended with rc. */
static void account(int64_t t0, int rc, const char *what)
{
    int64_t t1 = now_ms();
    max_into(&worst_ms, t1 - t0);
    if (t1 - t0 > DEADLINE_MS + SLACK_MS)
        atomic_fetch_add(&late, 1);
    if (rc == IMI_OK || rc == IMI_ENOTFOUND) {
        atomic_fetch_add(&ok_calls, 1);
        return;
    }
    atomic_fetch_add(&failed, 1);
    long long none = 0;
    atomic_compare_exchange_strong(&first_fail_ms, &none, t1);
    max_into(&last_fail_ms, t1);
    if (rc == IMI_EUNAVAILABLE)
        atomic_fetch_add(&unavailable, 1);
    else if (rc == IMI_ETIMEDOUT)
        atomic_fetch_add(&timedout, 1);
    else {
        atomic_fetch_add(&other, 1);
        fprintf(stderr, "%s: unexpected %s: %s\n", what, imi_err_name(rc), imi_error_message());
    }
    if (rc == IMI_EUNAVAILABLE)
        sleep_ms(5); /* a refused connect returns at once: do not spin */
}

static void *stream(void *arg)
{
    int t = (int)(intptr_t)arg;
    imi_buf v = IMI_BUF_INIT;
    imi_buf vals[6] = { IMI_BUF_INIT, IMI_BUF_INIT, IMI_BUF_INIT, IMI_BUF_INIT, IMI_BUF_INIT,
                        IMI_BUF_INIT };
    for (long i = 0; !atomic_load(&stop); i++) {
        char key[48], val[48];
        snprintf(key, sizeof key, "fo:%d:%ld", t, i % 64); /* spread over the slots */
        int vl = snprintf(val, sizeof val, "%d:%ld", t, i);
        imi_ctx *ctx = imi_ctx_new(DEADLINE_MS);
        int64_t t0 = now_ms();
        int rc = imi_cache_set(cache, ctx, key, val, (size_t)vl, 60000);
        account(t0, rc, "set");
        imi_ctx_free(ctx);
        if (rc == IMI_OK) { /* read back what was just written */
            ctx = imi_ctx_new(DEADLINE_MS);
            t0 = now_ms();
            int g = imi_cache_get(cache, ctx, key, &v);
            account(t0, g, "get");
            imi_ctx_free(ctx);
            if (g == IMI_OK && (v.len != (size_t)vl || memcmp(v.data, val, v.len)))
                atomic_fetch_add(&mismatches, 1);
            if (g == IMI_ENOTFOUND)
                atomic_fetch_add(&mismatches, 1);
        }
        ctx = imi_ctx_new(DEADLINE_MS);
        t0 = now_ms();
        switch (i % 4) {
        case 0: {
            int64_t n;
            snprintf(key, sizeof key, "fo:n:%d:%ld", t, i % 16);
            account(t0, imi_cache_incr(cache, ctx, key, 1, &n), "incr");
            break;
        }
        case 1: {
            char k[6][48];
            const char *keys[6];
            int found[6];
            for (int j = 0; j < 6; j++) {
                snprintf(k[j], sizeof k[j], "fo:%d:%ld", t, (i + j * 7) % 64);
                keys[j] = k[j];
            }
            account(t0, imi_cache_mget(cache, ctx, keys, 6, vals, found), "mget");
            break;
        }
        case 2:
            snprintf(key, sizeof key, "fo:b:%d", t);
            account(t0, imi_cache_take(cache, ctx, key, 1e6, 1000000, 1, NULL), "take");
            break;
        default: {
            snprintf(key, sizeof key, "fo:l:%d:%ld", t, i % 8);
            int rc2 = imi_cache_lock(cache, ctx, key, val, 5000);
            if (rc2 == IMI_ECONFLICT) /* a lock whose unlock failed mid-failover */
                rc2 = IMI_OK;
            account(t0, rc2, "lock");
            if (rc2 == IMI_OK) {
                t0 = now_ms();
                rc2 = imi_cache_unlock(cache, ctx, key, val);
                account(t0, rc2 == IMI_ECONFLICT ? IMI_OK : rc2, "unlock");
            }
        }
        }
        imi_ctx_free(ctx);
    }
    imi_buf_free(&v);
    for (int j = 0; j < 6; j++)
        imi_buf_free(&vals[j]);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[3], "failover") && strcmp(argv[3], "seamless"))) {
        fprintf(stderr, "usage: %s CONFIG EVENT failover|seamless\n", argv[0]);
        return 2;
    }
    bool seamless = !strcmp(argv[3], "seamless");
    signal(SIGPIPE, SIG_IGN);
    imi_app *app;
    if (imi_app_open(argv[1], &app) || imi_cache_open(app, NULL, &cache)) {
        fprintf(stderr, "FAIL: opening %s: %s\n", argv[1], imi_error_message());
        return 1;
    }
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, stream, (void *)(intptr_t)t);
    sleep_ms(WARMUP_MS);
    long long warm_failed = atomic_load(&failed), warm_ok = atomic_load(&ok_calls);

    int64_t t_event = now_ms();
    int ev = system(argv[2]);
    int64_t t_done = now_ms();
    int64_t t_give_up = t_event + GIVE_UP_MS;
    while (now_ms() < t_give_up) {
        int64_t last = atomic_load(&last_fail_ms);
        int64_t calm_from = last > t_done ? last : t_done;
        if (now_ms() - calm_from >= QUIET_MS)
            break;
        sleep_ms(50);
    }
    long long ok_before_stop = atomic_load(&ok_calls);
    sleep_ms(300);
    long long ok_at_end = atomic_load(&ok_calls);
    atomic_store(&stop, true);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    imi_cache_free(cache);
    imi_app_free(app);

    long long f = atomic_load(&failed), first = atomic_load(&first_fail_ms);
    long long last = atomic_load(&last_fail_ms);
    long long recovery = f ? last - t_event : 0;
    printf("event '%s' took %lld ms (exit %d)\n", argv[2], (long long)(t_done - t_event), ev);
    printf("calls: %lld ok, %lld failed (%lld unavailable, %lld timed out, %lld other); "
           "warm-up %lld ok\n", atomic_load(&ok_calls), f, atomic_load(&unavailable),
           atomic_load(&timedout), atomic_load(&other), warm_ok);
    if (f)
        printf("failures from +%lld ms to +%lld ms after the event: calls succeed again "
               "%lld ms after it\n", first - t_event, last - t_event, recovery);
    printf("longest call %lld ms (deadline %d ms), %lld past deadline+%d ms; read-back "
           "mismatches %lld (writes lost to asynchronous replication)\n",
           atomic_load(&worst_ms), DEADLINE_MS, atomic_load(&late), SLACK_MS,
           atomic_load(&mismatches));

    int bad = 0;
#define CHECK(cond, ...) do { if (!(cond)) { fprintf(stderr, "FAIL: " __VA_ARGS__); fputc('\n', stderr); bad = 1; } } while (0)
    CHECK(ev == 0, "the event command failed (%d)", ev);
    CHECK(warm_ok > 100 && warm_failed == 0, "warm-up: %lld ok, %lld failed", warm_ok, warm_failed);
    CHECK(atomic_load(&late) == 0, "%lld calls outlived their deadline", atomic_load(&late));
    CHECK(atomic_load(&other) == 0, "%lld calls failed with unexpected codes", atomic_load(&other));
    CHECK(ok_at_end > ok_before_stop, "no call succeeded at the end");
    CHECK(now_ms() >= 0 && (last <= t_done || now_ms() - last >= QUIET_MS),
          "calls kept failing %d s after the event", GIVE_UP_MS / 1000);
    if (seamless) {
        CHECK(f == 0, "%lld calls failed though nothing went down", f);
        CHECK(atomic_load(&mismatches) == 0, "%lld reads did not see the write before them",
              atomic_load(&mismatches));
    } else {
        CHECK(recovery <= MAX_RECOVERY_MS, "calls failed until %lld ms after the event "
              "(at most %d)", recovery, MAX_RECOVERY_MS);
    }
    printf("%s\n", bad ? "FAILED" : "ok");
    return bad;
}
