/* The memcached driver's incr on memcached's own increment, by default: one request per
 * call (the server's counters show no get and no CAS), and the cases that must still come
 * out as the CAS loop gives them: a missing key, a TTL kept, negative values and deltas, a
 * value that is not a number, and a sum past int64 (undone, IMI_EINVALID). A counter with
 * a TTL starts from 0 as soon as its TTL has run out, though memcached still holds it,
 * and several threads on one counter lose no increment, also while another one gives it
 * a TTL. The marker that keeps memcached's increment off such values never shows.
 *
 * Each test runs its own memcached (fork/exec) on $IMI_MEMCACHED_INCR_PORT (default
 * 21291), so that its counters see no other client. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

static int port(void)
{
    const char *p = getenv("IMI_MEMCACHED_INCR_PORT");
    return p ? atoi(p) : 21291;
}

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port()) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0)
        return fd;
    if (fd >= 0)
        close(fd);
    return -1;
}

static pid_t server;

static void start_memcached(void)
{
    signal(SIGPIPE, SIG_IGN);
    char ports[16];
    snprintf(ports, sizeof ports, "%d", port());
    /* counters left by another server (one a killed run left behind) would skew every count */
    int busy = dial();
    if (busy >= 0)
        close(busy);
    cr_assert_lt(busy, 0, "port %d is taken: stop what listens there or set "
                 "IMI_MEMCACHED_INCR_PORT", port());
    server = fork();
    if (server == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("memcached", "memcached", "-u", "nobody", "-l", "127.0.0.1", "-p", ports, "-U",
               "0", "-m", "16", (char *)NULL);
        _exit(127);
    }
    cr_assert_gt(server, 0);
    int64_t t0 = now_ms();
    int fd;
    while ((fd = dial()) < 0) {
        int st;
        cr_assert_eq(waitpid(server, &st, WNOHANG), 0,
                     "memcached exited at start (is it installed? tools/deps.sh servers)");
        cr_assert_lt(now_ms() - t0, 10000, "memcached did not come up on port %d", port());
        sleep_ms(20);
    }
    close(fd);
}

static void stop_memcached(void)
{
    if (server > 0) {
        kill(server, SIGTERM);
        waitpid(server, NULL, 0);
    }
}

TestSuite(memcached_incr, .init = start_memcached, .fini = stop_memcached, .timeout = 60);

/* One counter of the server's "stats". */
static long long mc_stat(const char *name)
{
    int fd = dial();
    cr_assert_geq(fd, 0, "cannot reach memcached for its stats");
    cr_assert_eq(write(fd, "stats\r\n", 7), 7);
    static char buf[16384];
    size_t n = 0;
    ssize_t got;
    buf[0] = '\0';
    while (!strstr(buf, "END\r\n") && n < sizeof buf - 1 &&
           (got = read(fd, buf + n, sizeof buf - 1 - n)) > 0) {
        n += (size_t)got;
        buf[n] = '\0';
    }
    close(fd);
    char want[64];
    snprintf(want, sizeof want, "STAT %s ", name);
    const char *at = strstr(buf, want);
    cr_assert(at, "memcached's stats have no %s", name);
    return atoll(at + strlen(want));
}

/* The cache on the test's memcached; `more` adds lines to [cache]. */
static imi_cache *open_cache_with(imi_app **app, const char *more)
{
    char text[320];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[cache]\ndriver = memcached\n"
             "servers = 127.0.0.1:%d\npool_size = 4\n%s", port(), more);
    imi_config *cfg;
    imi_cache *c;
    cr_assert_eq(imi_config_parse(text, "incr.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_open(*app, NULL, &c), IMI_OK, "%s", imi_error_message());
    return c;
}

static imi_cache *open_cache(imi_app **app) { return open_cache_with(app, ""); }

Test(memcached_incr, one_request_per_call)
{
    imi_app *app;
    imi_cache *c = open_cache(&app);
    int64_t r = 0;
    /* connected, and the counter there: every call below is an increment hit */
    cr_assert_eq(imi_cache_set(c, NULL, "n", "0", 1, 0), IMI_OK, "%s", imi_error_message());
    long long gets = mc_stat("cmd_get"), cas = mc_stat("cas_hits") + mc_stat("cas_misses") +
                     mc_stat("cas_badval"), incrs = mc_stat("incr_hits") + mc_stat("incr_misses");
    enum { N = 50 };
    for (int i = 1; i <= N; i++) {
        cr_assert_eq(imi_cache_incr(c, NULL, "n", 1, &r), IMI_OK, "%s", imi_error_message());
        cr_assert_eq(r, i, "incr %d gave %lld", i, (long long)r);
    }
    cr_expect_eq(mc_stat("cmd_get") - gets, 0, "%d incrs read the key %lld times", N,
                 mc_stat("cmd_get") - gets);
    cr_expect_eq(mc_stat("cas_hits") + mc_stat("cas_misses") + mc_stat("cas_badval") - cas, 0,
                 "%d incrs wrote by CAS", N);
    cr_expect_eq(mc_stat("incr_hits") + mc_stat("incr_misses") - incrs, N,
                 "%d incrs made %lld memcached increments", N,
                 mc_stat("incr_hits") + mc_stat("incr_misses") - incrs);
    imi_cache_free(c);
    imi_app_free(app);
}

static void expect_value(imi_cache *c, const char *key, const char *want)
{
    imi_buf v = IMI_BUF_INIT;
    cr_assert_eq(imi_cache_get(c, NULL, key, &v), IMI_OK, "get %s: %s", key, imi_error_message());
    cr_expect(buf_is(&v, want, strlen(want)), "%s reads '%.*s', not '%s'", key, (int)v.len,
              v.data, want);
    imi_buf_free(&v);
}

Test(memcached_incr, same_results_as_read_modify_write)
{
    imi_app *app;
    imi_cache *c = open_cache(&app);
    int64_t r = 0, ttl = 0;
    /* a TTL is kept */
    cr_assert_eq(imi_cache_set(c, NULL, "t", "41", 2, 60000), IMI_OK);
    cr_assert_eq(imi_cache_incr(c, NULL, "t", 1, &r), IMI_OK);
    cr_expect_eq(r, 42);
    cr_assert_eq(imi_cache_ttl(c, NULL, "t", &ttl), IMI_OK);
    cr_expect(ttl > 50000 && ttl <= 61000, "the counter's ttl is %lld ms after incr", (long long)ttl);
    expect_value(c, "t", "42");
    /* a missing key starts from 0 and has no TTL */
    cr_assert_eq(imi_cache_incr(c, NULL, "m", 7, &r), IMI_OK);
    cr_expect_eq(r, 7);
    cr_assert_eq(imi_cache_ttl(c, NULL, "m", &ttl), IMI_OK);
    cr_expect_eq(ttl, -1, "a counter made by incr has ttl %lld", (long long)ttl);
    /* negative deltas and values, which memcached's own incr refuses */
    cr_assert_eq(imi_cache_incr(c, NULL, "m", -10, &r), IMI_OK);
    cr_expect_eq(r, -3);
    cr_assert_eq(imi_cache_incr(c, NULL, "m", 5, &r), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(r, 2);
    expect_value(c, "m", "2");
    /* not a number: refused, left as it was */
    cr_assert_eq(imi_cache_set(c, NULL, "s", "abc", 3, 0), IMI_OK);
    cr_expect_eq(imi_cache_incr(c, NULL, "s", 1, &r), IMI_EINVALID);
    expect_value(c, "s", "abc");
    /* past int64: refused and undone, whether memcached's uint64 holds the sum or wraps */
    cr_assert_eq(imi_cache_set(c, NULL, "big", "9223372036854775800", 19, 0), IMI_OK);
    cr_expect_eq(imi_cache_incr(c, NULL, "big", 100, &r), IMI_EINVALID);
    expect_value(c, "big", "9223372036854775800");
    cr_assert_eq(imi_cache_incr(c, NULL, "big", 7, &r), IMI_OK);
    cr_expect_eq(r, INT64_MAX);
    cr_assert_eq(imi_cache_set(c, NULL, "u", "18446744073709551615", 20, 0), IMI_OK);
    cr_expect_eq(imi_cache_incr(c, NULL, "u", 1, &r), IMI_EINVALID);
    expect_value(c, "u", "18446744073709551615");
    imi_cache_free(c);
    imi_app_free(app);
}

typedef struct worker { imi_cache *c; int failures; } worker;

static void *hammer(void *arg)
{
    worker *w = arg;
    int64_t r;
    for (int i = 0; i < 300; i++) {
        int rc = imi_cache_incr(w->c, NULL, "shared", 1, &r);
        if (rc) {
            w->failures++;
            fprintf(stderr, "incr: %s: %s\n", imi_err_name(rc), imi_error_message());
        }
    }
    return NULL;
}

Test(memcached_incr, threads_lose_nothing)
{
    imi_app *app;
    imi_cache *c = open_cache(&app);
    enum { T = 6 };
    pthread_t th[T];
    worker w[T];
    for (int i = 0; i < T; i++) {
        w[i] = (worker){ .c = c };
        pthread_create(&th[i], NULL, hammer, &w[i]);
    }
    int failures = 0;
    for (int i = 0; i < T; i++) {
        pthread_join(th[i], NULL);
        failures += w[i].failures;
    }
    cr_expect_eq(failures, 0);
    int64_t total = 0;
    cr_assert_eq(imi_cache_incr(c, NULL, "shared", 0, &total), IMI_OK);
    cr_expect_eq(total, T * 300, "the counter is %lld after %d increments", (long long)total,
                 T * 300);
    imi_cache_free(c);
    imi_app_free(app);
}

/* native_incr is kept so that older configs load, and changes nothing. */
Test(memcached_incr, native_incr_option_is_ignored)
{
    imi_app *app;
    imi_cache *c = open_cache_with(&app, "native_incr = false\n");
    int64_t r = 0;
    cr_assert_eq(imi_cache_set(c, NULL, "n", "0", 1, 0), IMI_OK, "%s", imi_error_message());
    long long incrs = mc_stat("incr_hits"), cas = mc_stat("cas_hits");
    for (int i = 1; i <= 10; i++) {
        cr_assert_eq(imi_cache_incr(c, NULL, "n", 1, &r), IMI_OK, "%s", imi_error_message());
        cr_assert_eq(r, i);
    }
    cr_expect_eq(mc_stat("incr_hits") - incrs, 10);
    cr_expect_eq(mc_stat("cas_hits") - cas, 0, "10 incrs made %lld CAS writes",
                 mc_stat("cas_hits") - cas);
    imi_cache_free(c);
    imi_app_free(app);
}

static void wait_gone(imi_cache *c, const char *key)
{
    int64_t t0 = now_ms();
    while (imi_cache_exists(c, NULL, key) == IMI_OK) {
        cr_assert_lt(now_ms() - t0, 6000, "a 2 s key is still there after 6 s");
        sleep_ms(10);
    }
}

/* memcached holds an item up to 2 s past the TTL the driver keeps; the counter must start
 * again from 0 all the same, whether its TTL came from set or from expire. (2 s TTLs: a
 * loaded machine may stall for a second between two calls.) */
Test(memcached_incr, exact_right_after_ttl)
{
    imi_app *app;
    imi_cache *c = open_cache(&app);
    int64_t r = 0, ttl = 0;
    cr_assert_eq(imi_cache_set(c, NULL, "t", "5", 1, 2000), IMI_OK);
    cr_assert_eq(imi_cache_incr(c, NULL, "t", 1, &r), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(r, 6);
    expect_value(c, "t", "6");
    wait_gone(c, "t");
    cr_assert_eq(imi_cache_incr(c, NULL, "t", 1, &r), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(r, 1, "incr right after the TTL gave %lld", (long long)r);
    cr_assert_eq(imi_cache_ttl(c, NULL, "t", &ttl), IMI_OK);
    cr_expect_eq(ttl, -1, "the new counter has ttl %lld", (long long)ttl);
    /* a fixed window: incr makes the counter, expire gives it its TTL */
    cr_assert_eq(imi_cache_incr(c, NULL, "w", 1, &r), IMI_OK);
    cr_assert_eq(imi_cache_expire(c, NULL, "w", 2000), IMI_OK, "%s", imi_error_message());
    for (int i = 2; i <= 5; i++) {
        cr_assert_eq(imi_cache_incr(c, NULL, "w", 1, &r), IMI_OK, "%s", imi_error_message());
        cr_expect_eq(r, i);
    }
    cr_assert_eq(imi_cache_ttl(c, NULL, "w", &ttl), IMI_OK);
    cr_expect(ttl > 0 && ttl <= 3000, "the window's ttl is %lld ms after incr", (long long)ttl);
    wait_gone(c, "w");
    cr_assert_eq(imi_cache_incr(c, NULL, "w", 1, &r), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(r, 1, "the next window starts at %lld", (long long)r);
    imi_cache_free(c);
    imi_app_free(app);
}

static void expect_mget(imi_cache *c, const char *key, const char *want)
{
    imi_buf v = IMI_BUF_INIT;
    int found = 0;
    const char *keys[] = { key };
    cr_assert_eq(imi_cache_mget(c, NULL, keys, 1, &v, &found), IMI_OK, "%s", imi_error_message());
    cr_expect(found && buf_is(&v, want, strlen(want)), "mget %s reads '%.*s', not '%s'", key,
              (int)v.len, v.data, want);
    imi_buf_free(&v);
}

/* Values memcached could count on read back as they were written, through every reader,
 * and incr treats text that is not an integer as such. */
Test(memcached_incr, values_read_as_written)
{
    imi_app *app;
    imi_cache *c = open_cache(&app);
    int64_t r = 0;
    const char *texts[] = { "42", "12 apples", "007", " 7", "+5", "-0", "-3", "#", "" };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        for (int with_ttl = 0; with_ttl <= 1; with_ttl++) {
            const char *k = with_ttl ? "vt" : "v";
            cr_assert_eq(imi_cache_set(c, NULL, k, texts[i], strlen(texts[i]), with_ttl * 60000),
                         IMI_OK);
            expect_value(c, k, texts[i]);
            expect_mget(c, k, texts[i]);
        }
    }
    /* memcached's own increment would take "12 apples" for 12 */
    cr_assert_eq(imi_cache_set(c, NULL, "a", "12 apples", 9, 0), IMI_OK);
    cr_expect_eq(imi_cache_incr(c, NULL, "a", 1, &r), IMI_EINVALID);
    expect_value(c, "a", "12 apples");
    /* integers in other forms count as the CAS loop reads them, written back plainly */
    const struct { const char *text; int64_t want; } forms[] = {
        { "007", 8 }, { " 7", 8 }, { "+5", 6 }, { "-0", 1 }, { "-3", -2 },
    };
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        cr_assert_eq(imi_cache_set(c, NULL, "f", forms[i].text, strlen(forms[i].text), 0), IMI_OK);
        cr_assert_eq(imi_cache_incr(c, NULL, "f", 1, &r), IMI_OK, "%s", imi_error_message());
        cr_expect_eq(r, forms[i].want, "'%s' + 1 gave %lld", forms[i].text, (long long)r);
        char want[24];
        snprintf(want, sizeof want, "%lld", (long long)forms[i].want);
        expect_value(c, "f", want);
    }
    /* setnx, expire and a lock owner that looks like a number */
    cr_assert_eq(imi_cache_setnx(c, NULL, "nx", "9", 1, 60000), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(imi_cache_setnx(c, NULL, "nx", "8", 1, 60000), IMI_EEXISTS);
    expect_value(c, "nx", "9");
    cr_assert_eq(imi_cache_set(c, NULL, "e", "3", 1, 0), IMI_OK);
    cr_assert_eq(imi_cache_expire(c, NULL, "e", 60000), IMI_OK, "%s", imi_error_message());
    expect_value(c, "e", "3");
    cr_assert_eq(imi_cache_incr(c, NULL, "e", 1, &r), IMI_OK, "%s", imi_error_message());
    cr_expect_eq(r, 4);
    expect_value(c, "e", "4");
    cr_assert_eq(imi_cache_lock(c, NULL, "l", "123", 60000), IMI_OK, "%s", imi_error_message());
    expect_value(c, "l", "123");
    cr_expect_eq(imi_cache_lock(c, NULL, "l", "124", 60000), IMI_ECONFLICT);
    cr_expect_eq(imi_cache_unlock(c, NULL, "l", "123"), IMI_OK, "%s", imi_error_message());
    imi_cache_free(c);
    imi_app_free(app);
}

typedef struct expirer { imi_cache *c; const char *key; atomic_int stop; int failures; } expirer;

static void *expire_loop(void *arg)
{
    expirer *e = arg;
    int rc;
    do { /* once more after the counters are done: the counter ends with a TTL */
        rc = imi_cache_expire(e->c, NULL, e->key, 60000);
        if (rc && rc != IMI_ENOTFOUND) {
            e->failures++;
            fprintf(stderr, "expire: %s: %s\n", imi_err_name(rc), imi_error_message());
        }
    } while (!atomic_load(&e->stop));
    return NULL;
}

typedef struct counter { imi_cache *c; const char *key; int failures; } counter;

static void *count_on(void *arg)
{
    counter *w = arg;
    int64_t r;
    for (int i = 0; i < 100; i++)
        if (imi_cache_incr(w->c, NULL, w->key, 1, &r)) {
            w->failures++;
            fprintf(stderr, "incr: %s\n", imi_error_message());
        }
    return NULL;
}

/* expire rewrites the counter by CAS: an increment between its read and its write makes
 * it start over, so none is lost to it, whether the increment was memcached's own (the
 * counter had no TTL yet) or the CAS loop's. Each round starts a new counter. */
Test(memcached_incr, expire_loses_no_increment)
{
    imi_app *app;
    imi_cache *c = open_cache(&app);
    enum { T = 3, ROUNDS = 6 };
    for (int round = 0; round < ROUNDS; round++) {
        char key[32];
        snprintf(key, sizeof key, "window%d", round);
        pthread_t th[T], ex;
        counter w[T];
        expirer e = { .c = c, .key = key };
        for (int i = 0; i < T; i++) {
            w[i] = (counter){ .c = c, .key = key };
            pthread_create(&th[i], NULL, count_on, &w[i]);
        }
        pthread_create(&ex, NULL, expire_loop, &e);
        int failures = 0;
        for (int i = 0; i < T; i++) {
            pthread_join(th[i], NULL);
            failures += w[i].failures;
        }
        atomic_store(&e.stop, 1);
        pthread_join(ex, NULL);
        cr_expect_eq(failures + e.failures, 0);
        char want[24];
        snprintf(want, sizeof want, "%d", T * 100);
        expect_value(c, key, want);
        int64_t ttl = 0;
        cr_assert_eq(imi_cache_ttl(c, NULL, key, &ttl), IMI_OK);
        cr_expect(ttl > 0, "%s has no TTL after the expires", key);
    }
    imi_cache_free(c);
    imi_app_free(app);
}
