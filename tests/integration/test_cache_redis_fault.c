/* The redis cache driver across server faults: a stream of sets and gets keeps going
 * while redis-server is stopped and started again on the same port, or frozen (SIGSTOP:
 * connections stay open, nothing answers). Every call returns within its deadline, with
 * IMI_EUNAVAILABLE or IMI_ETIMEDOUT while the server is down, and calls succeed again
 * within 2 s of the server being back.
 *
 * The test runs its own redis-server (fork/exec) on $IMI_REDIS_FAULT_PORT (default
 * 16390), so that restarting it disturbs no other test. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

#define DEADLINE_MS 300
#define SLACK_MS 150     /* scheduling on a loaded 2-core machine */

static int port(void)
{
    const char *p = getenv("IMI_REDIS_FAULT_PORT");
    return p ? atoi(p) : 16390;
}

static bool port_open(int p)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p) };
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    bool ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* redis-server on port(), closing connections idle for idle_s seconds (0: never). */
static pid_t start_redis_idle(int idle_s)
{
    char ports[16], idle[16], dir[] = "/tmp";
    snprintf(idle, sizeof idle, "%d", idle_s);
    snprintf(ports, sizeof ports, "%d", port());
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that crashes leaves no server behind */
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--bind", "127.0.0.1", "--port", ports, "--dir",
               dir, "--save", "", "--appendonly", "no", "--daemonize", "no", "--timeout", idle,
               (char *)NULL);
        _exit(127);
    }
    cr_assert_gt(pid, 0);
    int64_t t0 = now_ms();
    while (!port_open(port())) {
        cr_assert_lt(now_ms() - t0, 10000, "redis-server did not come up on port %d", port());
        sleep_ms(20);
    }
    return pid;
}

static pid_t start_redis(void) { return start_redis_idle(0); }

static void stop_redis(pid_t pid)
{
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
}

typedef struct stream {
    imi_cache *c;
    int id;
    atomic_bool stop;
    atomic_llong last_ok_ms;     /* when the latest successful call ended */
    atomic_int bad_codes, late;
    atomic_int unavailable, timedout, ok;
    atomic_int worst_ms;
} stream;

static void *run_stream(void *arg)
{
    stream *s = arg;
    imi_buf v = IMI_BUF_INIT;
    for (long i = 0; !atomic_load(&s->stop); i++) {
        char key[64];
        snprintf(key, sizeof key, "fault:%d:%ld", s->id, i % 100);
        imi_ctx *ctx = imi_ctx_new(DEADLINE_MS);
        int64_t t0 = now_ms();
        int rc = i & 1 ? imi_cache_get(s->c, ctx, key, &v) : imi_cache_set(s->c, ctx, key, "v", 1, 60000);
        int64_t took = now_ms() - t0;
        imi_ctx_free(ctx);
        if (rc == IMI_ENOTFOUND) /* a get after the restart emptied the server */
            rc = IMI_OK;
        if (took > atomic_load(&s->worst_ms))
            atomic_store(&s->worst_ms, (int)took);
        if (took > DEADLINE_MS + SLACK_MS)
            atomic_fetch_add(&s->late, 1);
        if (rc == IMI_OK) {
            atomic_fetch_add(&s->ok, 1);
            atomic_store(&s->last_ok_ms, now_ms());
        } else if (rc == IMI_EUNAVAILABLE) {
            atomic_fetch_add(&s->unavailable, 1);
            sleep_ms(5); /* a refused connect returns at once: do not spin */
        } else if (rc == IMI_ETIMEDOUT) {
            atomic_fetch_add(&s->timedout, 1);
        } else {
            atomic_fetch_add(&s->bad_codes, 1);
            fprintf(stderr, "unexpected %s: %s\n", imi_err_name(rc), imi_error_message());
        }
    }
    imi_buf_free(&v);
    return NULL;
}

/* Takes the server down and brings it back; *pid may change. */
typedef void (*fault_fn)(pid_t *pid);

static void restart_down(pid_t *pid) { stop_redis(*pid); }
static void restart_up(pid_t *pid) { *pid = start_redis(); }
static void freeze_down(pid_t *pid) { kill(*pid, SIGSTOP); }
static void freeze_up(pid_t *pid) { kill(*pid, SIGCONT); }

/* An app with [cache] on the test's redis-server, the keys after addr given by more. */
static imi_cache *open_cache(const char *more, imi_app **app)
{
    char text[256];
    snprintf(text, sizeof text,
             "[log]\nlevel = error\n[cache]\ndriver = redis\naddr = 127.0.0.1:%d\n%s", port(),
             more);
    imi_config *cfg;
    imi_cache *c;
    cr_assert_eq(imi_config_parse(text, "fault.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_open(*app, NULL, &c), IMI_OK, "%s", imi_error_message());
    return c;
}

static void run_fault(fault_fn down, fault_fn up)
{
    pid_t pid = start_redis();
    imi_app *app;
    imi_cache *c = open_cache("pool_size = 4\nconnect_timeout = 200ms\ntimeout = 1s\n", &app);

    enum { N = 3 };
    stream s[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&s[i], 0, sizeof s[i]);
        s[i].c = c;
        s[i].id = i;
        pthread_create(&th[i], NULL, run_stream, &s[i]);
    }
    sleep_ms(300);
    down(&pid);
    int64_t down_at = now_ms();
    sleep_ms(1000);
    int down_ok = 0;
    for (int i = 0; i < N; i++)
        down_ok += atomic_load(&s[i].last_ok_ms) > down_at + 50;
    up(&pid);
    int64_t back_at = now_ms();
    /* every stream succeeds again within 2 s of the server being back */
    bool recovered = false;
    while (!recovered && now_ms() - back_at < 2000) {
        recovered = true;
        for (int i = 0; i < N; i++)
            recovered &= atomic_load(&s[i].last_ok_ms) >= back_at;
        sleep_ms(10);
    }
    int64_t recovery_ms = now_ms() - back_at;
    sleep_ms(300);
    for (int i = 0; i < N; i++)
        atomic_store(&s[i].stop, true);
    int ok = 0, unavailable = 0, timedout = 0, bad = 0, late = 0, worst = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += s[i].ok;
        unavailable += s[i].unavailable;
        timedout += s[i].timedout;
        bad += s[i].bad_codes;
        late += s[i].late;
        if (s[i].worst_ms > worst)
            worst = s[i].worst_ms;
    }
    /* after recovery, calls keep succeeding */
    imi_buf v = IMI_BUF_INIT;
    int after = imi_cache_set(c, NULL, "fault:after", "x", 1, 60000);
    if (!after)
        after = imi_cache_get(c, NULL, "fault:after", &v);
    imi_buf_free(&v);
    imi_cache_free(c);
    imi_app_free(app);
    stop_redis(pid);
    cr_log_info("ok %d, unavailable %d, timed out %d, worst call %d ms, recovered in %lld ms",
                ok, unavailable, timedout, worst, (long long)recovery_ms);
    cr_expect_eq(bad, 0, "%d calls returned codes other than OK/UNAVAILABLE/TIMEDOUT", bad);
    cr_expect_eq(late, 0, "%d calls overran their %d ms deadline (worst %d ms)", late,
                 DEADLINE_MS, worst);
    cr_expect_eq(down_ok, 0, "calls succeeded while the server was down");
    cr_expect_gt(unavailable + timedout, 0, "no call noticed the server was down");
    cr_expect(recovered, "not every stream succeeded within 2 s of the restart");
    cr_expect_eq(after, IMI_OK, "a call after recovery failed: %s", imi_err_name(after));
}

Test(cache_redis_fault, restart, .timeout = 60)
{
    run_fault(restart_down, restart_up);
}

Test(cache_redis_fault, freeze, .timeout = 60)
{
    run_fault(freeze_down, freeze_up);
}

/* The server closes a pooled connection that sat idle (its `timeout`); the next call
 * writes a value larger than the socket's buffer on it. The second write(2) meets the
 * reset and raises SIGPIPE: with SIGPIPE at its default (this test sets no handler) the
 * process must survive it, the call fail or succeed, and the next one succeed. */
Test(cache_redis_fault, a_connection_the_server_closed_raises_no_sigpipe)
{
    pid_t pid = start_redis_idle(1);
    imi_app *app;
    imi_cache *c = open_cache("pool_size = 1\ntimeout = 5s\n", &app);
    cr_assert_eq(imi_cache_set(c, NULL, "idle:small", "v", 1, 0), IMI_OK, "%s",
                 imi_error_message());
    sleep_ms(2500); /* the server's idle timeout closes the pooled connection */
    size_t n = 8 << 20;
    char *big = malloc(n);
    cr_assert_not_null(big);
    memset(big, 'x', n);
    int rc = imi_cache_set(c, NULL, "idle:big", big, n, 0);
    cr_expect(rc == IMI_OK || rc == IMI_EUNAVAILABLE, "%s: %s", imi_err_name(rc),
              imi_error_message());
    cr_expect_eq(imi_cache_set(c, NULL, "idle:big", big, n, 0), IMI_OK, "%s",
                 imi_error_message());
    free(big);
    imi_cache_free(c);
    imi_app_free(app);
    stop_redis(pid);
}
