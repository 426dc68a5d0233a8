/* Breaker and rate limiter under threads, as a plain program: Criterion cannot start under
 * ThreadSanitizer, so tools/test.sh runs this from the TSan build, and CTest runs it in
 * the others. Exits 0 when every check holds, 1 with a line naming the one that failed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

#define THREADS 4

static int checks, failures;

#define CHECK(cond, ...)                                       \
    do {                                                       \
        checks++;                                              \
        if (!(cond)) {                                         \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                      \
            fputc('\n', stderr);                               \
            failures++;                                        \
        }                                                      \
    } while (0)

/* ---- breaker: trips, half-opens and closes again while 4 threads call it ---------------- */

static atomic_int backend_failing;   /* the phase the fake backend is in */
static atomic_int inside_half_open;  /* calls running while the breaker is half-open */
static atomic_int most_half_open;

typedef struct breaker_run {
    imi_breaker *b;
    int64_t until_ns;
    long calls, rejected;
} breaker_run;

static int backend(void *ud, const imi_ctx *ctx)
{
    imi_breaker *b = ud;
    (void)ctx;
    int probing = imi_breaker_get_state(b) == IMI_BREAKER_HALF_OPEN;
    if (probing) {
        int now = atomic_fetch_add(&inside_half_open, 1) + 1;
        int seen = atomic_load(&most_half_open);
        while (now > seen && !atomic_compare_exchange_weak(&most_half_open, &seen, now))
            ;
    }
    int rc = atomic_load(&backend_failing) ? IMI_EUNAVAILABLE : IMI_OK;
    if (probing)
        atomic_fetch_sub(&inside_half_open, 1);
    return rc;
}

static void *breaker_worker(void *arg)
{
    breaker_run *r = arg;
    while (imi_now_mono_ns() < r->until_ns) {
        int rc = imi_breaker_call(r->b, NULL, backend, r->b);
        r->calls++;
        if (rc == IMI_EOPEN)
            r->rejected++;
    }
    return NULL;
}

static void breaker_stress(void)
{
    imi_breaker_policy p = imi_breaker_policy_default();
    p.consecutive_failures = 5;
    p.failure_ratio = 0;
    p.open_ms = 5;
    p.half_open_probes = 2;
    p.half_open_successes = 2;
    imi_breaker_set *set;
    CHECK(imi_breaker_set_new(&p, NULL, &set) == IMI_OK, "breaker set: %s", imi_error_message());
    imi_breaker *b = imi_breaker_get(set, "payments");
    breaker_run runs[THREADS];
    pthread_t th[THREADS];
    int64_t until = imi_now_mono_ns() + 800 * 1000000LL;
    for (int i = 0; i < THREADS; i++) {
        runs[i] = (breaker_run){ .b = b, .until_ns = until };
        pthread_create(&th[i], NULL, breaker_worker, &runs[i]);
    }
    /* The backend flips between down and up every 40 ms. */
    while (imi_now_mono_ns() < until) {
        atomic_store(&backend_failing, !atomic_load(&backend_failing));
        sleep_ms(40);
    }
    long calls = 0, rejected = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        calls += runs[i].calls;
        rejected += runs[i].rejected;
    }
    imi_breaker_stats st;
    imi_breaker_get_stats(b, &st);
    printf("breaker: %ld calls, %ld rejected, opened %llu, half-opened %llu, closed %llu, "
           "at most %d calls inside while half-open\n", calls, rejected,
           (unsigned long long)st.opened, (unsigned long long)st.half_opened,
           (unsigned long long)st.closed, atomic_load(&most_half_open));
    CHECK(st.opened >= 2 && st.half_opened >= 2 && st.closed >= 1,
          "the breaker should have cycled: opened %llu half-opened %llu closed %llu",
          (unsigned long long)st.opened, (unsigned long long)st.half_opened,
          (unsigned long long)st.closed);
    /* Every open but the last ends in half-open; every close comes from a half-open. */
    CHECK(st.half_opened <= st.opened && st.opened <= st.half_opened + 1,
          "opened %llu times, half-opened %llu", (unsigned long long)st.opened,
          (unsigned long long)st.half_opened);
    CHECK(st.closed <= st.half_opened, "closed %llu times from %llu half-opens",
          (unsigned long long)st.closed, (unsigned long long)st.half_opened);
    CHECK(rejected > 0 && (uint64_t)rejected == st.rejected,
          "rejections: %ld seen by callers, %llu counted", rejected,
          (unsigned long long)st.rejected);
    /* A call that saw half-open may race a transition, so allow the probes of one more
     * half-open period, never an open floodgate. */
    CHECK(atomic_load(&most_half_open) <= 2 * p.half_open_probes,
          "%d calls inside at once while half-open (probes %d)", atomic_load(&most_half_open),
          p.half_open_probes);
    imi_breaker_set_free(set);
}

/* ---- rate limiter: 4 threads on one bucket never get more than it holds ---------------- */

typedef struct rl_run {
    imi_ratelimit_bucket *bucket;
    int64_t until_ns;
    long granted;
} rl_run;

static void *rl_worker(void *arg)
{
    rl_run *r = arg;
    while (imi_now_mono_ns() < r->until_ns)
        if (imi_ratelimit_allow(r->bucket, NULL) == IMI_OK)
            r->granted++;
    return NULL;
}

static void ratelimit_stress(void)
{
    imi_config *cfg;
    imi_app *app;
    CHECK(imi_config_parse("[log]\nlevel = off\n[ratelimit]\nrule.api = 2000/s burst 50\n",
                           "stress.ini", ".", &cfg) == IMI_OK, "%s", imi_error_message());
    CHECK(imi_app_open_config(cfg, &app) == IMI_OK, "%s", imi_error_message());
    imi_ratelimit *rl;
    CHECK(imi_ratelimit_open(app, NULL, &rl) == IMI_OK, "%s", imi_error_message());
    imi_ratelimit_bucket *bucket = imi_ratelimit_get(rl, "api", "tenant-1");
    CHECK(bucket, "no bucket: %s", imi_error_message());
    rl_run runs[THREADS];
    pthread_t th[THREADS];
    int64_t start = imi_now_mono_ns(), until = start + 300 * 1000000LL;
    for (int i = 0; i < THREADS; i++) {
        runs[i] = (rl_run){ .bucket = bucket, .until_ns = until };
        pthread_create(&th[i], NULL, rl_worker, &runs[i]);
    }
    long granted = 0;
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        granted += runs[i].granted;
    }
    double secs = (double)(imi_now_mono_ns() - start) / 1e9;
    double most = 50 + 2000 * secs;
    printf("ratelimit: %ld granted in %.3f s to %d threads (at most %.0f allowed)\n", granted,
           secs, THREADS, most);
    CHECK(granted <= (long)most + 1, "over-granted: %ld > %.0f", granted, most);
    CHECK(granted >= 50, "the burst alone gives 50, got %ld", granted);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}

int main(void)
{
    breaker_stress();
    ratelimit_stress();
    printf("%d passed, %d failed\n", checks - failures, failures);
    return failures ? 1 : 0;
}
