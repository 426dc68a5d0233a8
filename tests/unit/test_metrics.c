/* Metrics of the instance skeleton and their text format: counts per op and code, the
 * histogram, cache hits and misses, process-wide breaker and ratelimit counters, the
 * [metrics] config checks and the endpoint over a real socket. */
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

/* Every call timed (duration_sample = 1) unless the test's config has a [metrics] of its
 * own, so histogram counts are exact. */
static imi_app *app_of(const char *ini)
{
    char text[4096];
    snprintf(text, sizeof text, "%s%s", strstr(ini, "[metrics]") ? "" :
             "[metrics]\nduration_sample = 1\n", ini);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(text, "test.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

static int app_error(const char *ini)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "test.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app = NULL;
    int rc = imi_app_open_config(cfg, &app);
    cr_assert_null(app);
    return rc;
}

/* The whole exposition text; the caller frees it. */
static char *metrics_text(imi_app *app)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_not_null(f);
    cr_assert_eq(imi_metrics_write(app, f), IMI_OK, "%s", imi_error_message());
    fclose(f);
    return buf;
}

static void expect_line(const char *text, const char *line)
{
    char *want = NULL;
    cr_assert(asprintf(&want, "\n%s\n", line) > 0);
    cr_expect_not_null(strstr(text, want), "missing line: %s\n--- output:\n%s", line, text);
    free(want);
}

static void *hammer(void *ud)
{
    for (int i = 0; i < 2000; i++)
        imi_cache_incr(ud, NULL, "n", 1, NULL);
    return NULL;
}

Test(metrics, cache_calls_codes_histogram_hits_and_misses)
{
    imi_app *app = app_of("[cache.sessions]\ndriver = mem\n");
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, "sessions", &c), IMI_OK, "%s", imi_error_message());
    for (int i = 0; i < 3; i++)
        cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_OK);
    imi_buf b = { 0 };
    cr_assert_eq(imi_cache_get(c, NULL, "k", &b), IMI_OK);
    cr_assert_eq(imi_cache_get(c, NULL, "k", &b), IMI_OK);
    cr_assert_eq(imi_cache_get(c, NULL, "absent", &b), IMI_ENOTFOUND);
    imi_buf_free(&b);
    char *t = metrics_text(app);
    const char *L = "instance=\"sessions\",driver=\"mem\"";
    char line[512];
#define EXPECT(...) (snprintf(line, sizeof line, __VA_ARGS__), expect_line(t, line))
    EXPECT("imi_cache_calls_total{%s,op=\"set\",code=\"ok\"} 3", L);
    EXPECT("imi_cache_calls_total{%s,op=\"get\",code=\"ok\"} 2", L);
    EXPECT("imi_cache_calls_total{%s,op=\"get\",code=\"notfound\"} 1", L);
    EXPECT("imi_cache_call_duration_seconds_bucket{%s,op=\"get\",le=\"+Inf\"} 3", L);
    EXPECT("imi_cache_call_duration_seconds_count{%s,op=\"get\"} 3", L);
    EXPECT("imi_cache_hits_total{%s} 2", L);
    EXPECT("imi_cache_misses_total{%s} 1", L);
    expect_line(t, "# TYPE imi_cache_call_duration_seconds histogram");
    /* Operations never called print nothing. */
    cr_expect_null(strstr(t, "op=\"zadd\""));
    free(t);
    /* A freed handle's counters stay, and a handle opened again continues them. */
    imi_cache_free(c);
    t = metrics_text(app);
    EXPECT("imi_cache_calls_total{%s,op=\"set\",code=\"ok\"} 3", L);
    EXPECT("imi_cache_hits_total{%s} 2", L);
    free(t);
    cr_assert_eq(imi_cache_open(app, "sessions", &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_OK);
    t = metrics_text(app);
    EXPECT("imi_cache_calls_total{%s,op=\"set\",code=\"ok\"} 4", L);
    char *first = strstr(t, "imi_cache_hits_total{");
    cr_assert_not_null(first);
    cr_expect_null(strstr(first + 1, "imi_cache_hits_total{"), "one series, not two:\n%s", t);
    free(t);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(metrics, mq_counters_survive_a_reopen)
{
    imi_app *app = app_of("[log]\nlevel = off\n[mq]\ndriver = mem\n");
    for (int round = 1; round <= 2; round++) {
        imi_mq *mq = NULL;
        cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
        imi_mq_msg m = { .topic = "t", .body = "x", .body_len = 1 };
        cr_assert_eq(imi_mq_publish(mq, NULL, &m), IMI_OK, "%s", imi_error_message());
        imi_mq_free(mq);
    }
    char *t = metrics_text(app);
    expect_line(t, "imi_mq_published_total{instance=\"default\",driver=\"mem\"} 2");
    expect_line(t, "imi_mq_calls_total{instance=\"default\",driver=\"mem\",op=\"publish\","
                   "code=\"ok\"} 2");
    free(t);
    imi_app_free(app);
}

Test(metrics, two_handles_on_one_section_are_one_series)
{
    imi_app *app = app_of("[log]\nlevel = off\n[mq]\ndriver = mem\n");
    imi_mq *a = NULL, *b = NULL;
    cr_assert_eq(imi_mq_open(app, NULL, &a), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_mq_open(app, NULL, &b), IMI_OK, "%s", imi_error_message());
    imi_mq_msg m = { .topic = "t", .body = "x", .body_len = 1 };
    cr_assert_eq(imi_mq_publish(a, NULL, &m), IMI_OK);
    cr_assert_eq(imi_mq_publish(b, NULL, &m), IMI_OK);
    cr_assert_eq(imi_mq_publish(b, NULL, &m), IMI_OK);
    char *t = metrics_text(app);
    expect_line(t, "imi_mq_published_total{instance=\"default\",driver=\"mem\"} 3");
    expect_line(t, "imi_mq_calls_total{instance=\"default\",driver=\"mem\",op=\"publish\","
                   "code=\"ok\"} 3");
    char *first = strstr(t, "imi_mq_published_total{");
    cr_expect_null(strstr(first + 1, "imi_mq_published_total{"), "one series:\n%s", t);
    free(t);
    imi_mq_free(a);
    cr_assert_eq(imi_mq_publish(b, NULL, &m), IMI_OK);
    t = metrics_text(app);
    expect_line(t, "imi_mq_published_total{instance=\"default\",driver=\"mem\"} 4");
    free(t);
    imi_mq_free(b);
    t = metrics_text(app);
    expect_line(t, "imi_mq_published_total{instance=\"default\",driver=\"mem\"} 4");
    free(t);
    imi_app_free(app);
}

Test(metrics, durations_off_counts_calls_without_the_clock)
{
    imi_app *app = app_of("[metrics]\ndurations = false\n[cache]\ndriver = mem\n");
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_set(c, NULL, "k", "v", 1, 0), IMI_OK);
    char *t = metrics_text(app);
    expect_line(t, "imi_cache_calls_total{instance=\"default\",driver=\"mem\",op=\"set\","
                   "code=\"ok\"} 1");
    cr_expect_null(strstr(t, "imi_cache_call_duration_seconds_bucket"), "%s", t);
    free(t);
    imi_cache_free(c);
    imi_app_free(app);
    cr_expect_eq(app_error("[metrics]\ndurations = sometimes\n"), IMI_ECONFIG);
    cr_expect_eq(app_error("[metrics]\nduration_sample = 3\n"), IMI_ECONFIG);
    cr_expect_not_null(strstr(imi_error_message(), "duration_sample = 3 must be a power of two"),
                       "%s", imi_error_message());
    cr_expect_not_null(strstr(imi_error_message(), "test.ini:2"), "%s", imi_error_message());
}

Test(metrics, many_threads_count_exactly)
{
    /* More threads than owned stripes: the later ones share the atomic stripe. */
    imi_app *app = app_of("[cache]\ndriver = mem\n");
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    enum { THREADS = 24, CALLS = 2000 };
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, hammer, c), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    char *t = metrics_text(app);
    char line[256];
    snprintf(line, sizeof line, "imi_cache_calls_total{instance=\"default\",driver=\"mem\","
             "op=\"incr\",code=\"ok\"} %d", THREADS * CALLS);
    expect_line(t, line);
    free(t);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(metrics, a_closed_handle_counts_closed)
{
    imi_app *app = app_of("[cache]\ndriver = mem\n");
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_close(c), IMI_OK);
    cr_assert_eq(imi_cache_del(c, NULL, "k"), IMI_ECLOSED);
    char *t = metrics_text(app);
    expect_line(t, "imi_cache_calls_total{instance=\"default\",driver=\"mem\",op=\"del\","
                   "code=\"closed\"} 1");
    free(t);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(metrics, buckets_are_cumulative)
{
    imi_app *app = app_of("[cache]\ndriver = mem\n");
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    for (int i = 0; i < 50; i++)
        imi_cache_incr(c, NULL, "n", 1, NULL);
    char *t = metrics_text(app);
    unsigned long long prev = 0, v;
    int seen = 0;
    for (char *p = t; (p = strstr(p, "op=\"incr\",le=\"")); p++) {
        char *sp = strchr(p, '}');
        cr_assert_not_null(sp);
        cr_assert_eq(sscanf(sp + 1, " %llu", &v), 1);
        cr_expect_geq(v, prev, "bucket went down: %.80s", p);
        prev = v;
        seen++;
    }
    cr_expect_eq(seen, 17, "17 buckets (16 bounds and +Inf), saw %d", seen);
    cr_expect_eq(prev, 50);
    free(t);
    imi_cache_free(c);
    imi_app_free(app);
}

Test(metrics, breaker_and_ratelimit_count_process_wide)
{
    imi_app *app = app_of("[log]\nlevel = off\n[ratelimit]\nrule.login = 1/h burst 2\n");
    imi_ratelimit *rl = NULL;
    cr_assert_eq(imi_ratelimit_open(app, NULL, &rl), IMI_OK, "%s", imi_error_message());
    int granted = 0, refused = 0;
    for (int i = 0; i < 5; i++) {
        int rc = imi_ratelimit_check(rl, NULL, "login", "alice", 1, NULL);
        granted += rc == IMI_OK;
        refused += rc == IMI_ELIMITED;
    }
    cr_assert_eq(granted, 2);
    cr_assert_eq(refused, 3);
    char *t = metrics_text(app);
    expect_line(t, "imi_ratelimit_grants_total 2");
    expect_line(t, "imi_ratelimit_refusals_total 3");
    expect_line(t, "# TYPE imi_breaker_transitions_total counter");
    expect_line(t, "imi_breaker_transitions_total{to=\"open\"} 0");
    free(t);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}

static int fails(void *ud, const imi_ctx *ctx)
{
    (void)ud; (void)ctx;
    return IMI_EUNAVAILABLE;
}

Test(metrics, breaker_transitions_are_counted)
{
    imi_app *app = app_of("[log]\nlevel = off\n[breaker]\nconsecutive_failures = 1\n"
                          "failure_ratio = 0\nopen_for = 60s\n");
    imi_breaker_set *s = NULL;
    cr_assert_eq(imi_breaker_set_open(app, &s), IMI_OK, "%s", imi_error_message());
    imi_breaker *a = imi_breaker_get(s, "a"), *b = imi_breaker_get(s, "b");
    cr_assert_eq(imi_breaker_call(a, NULL, fails, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_breaker_call(b, NULL, fails, NULL), IMI_EUNAVAILABLE);
    cr_assert_eq(imi_breaker_get_state(a), IMI_BREAKER_OPEN);
    char *t = metrics_text(app);
    expect_line(t, "imi_breaker_transitions_total{to=\"open\"} 2");
    expect_line(t, "imi_breaker_transitions_total{to=\"closed\"} 0");
    free(t);
    imi_breaker_set_free(s);
    imi_app_free(app);
}

Test(metrics, list_has_every_family_once)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    cr_assert_eq(imi_metrics_list(f, true), IMI_OK);
    fclose(f);
    cr_expect_not_null(strstr(buf, "| `imi_cache_calls_total` | counter |"));
    char *first = strstr(buf, "`imi_db_endpoint_statements_total`");
    cr_assert_not_null(first);
    cr_expect_null(strstr(first + 1, "`imi_db_endpoint_statements_total`"), "listed twice");
    free(buf);
    cr_expect_eq(imi_metrics_write(NULL, stdout), IMI_EINVALID);
}

Test(metrics, listen_is_checked_with_file_and_line)
{
    cr_expect_eq(app_error("[metrics]\nlisten = nonsense\n"), IMI_ECONFIG);
    cr_expect_not_null(strstr(imi_error_message(), "test.ini:2: [metrics] listen"), "%s",
                       imi_error_message());
    cr_expect_eq(app_error("[metrics]\nlisten = 127.0.0.1:70000\n"), IMI_ECONFIG);
    cr_expect_not_null(strstr(imi_error_message(), "0-65535"), "%s", imi_error_message());
    cr_expect_eq(app_error("[metrics]\nlisten = 127.0.0.1:\n"), IMI_ECONFIG);
    cr_expect_eq(app_error("[metrics]\nlisten = host.example:9464\n"), IMI_ECONFIG);
    cr_expect_not_null(strstr(imi_error_message(), "not an IP address"), "%s",
                       imi_error_message());
    cr_expect_eq(app_error("[metrics]\nlisten = 127.0.0.1:9464\nport = 1\n"), IMI_ECONFIG);
    cr_expect_not_null(strstr(imi_error_message(), "port"), "%s", imi_error_message());
}

/* GET path on 127.0.0.1:port: the whole response. */
static char *http_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = { 5, 0 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: x\r\n\r\n", path);
    cr_assert_eq(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t r;
    while (len < cap - 1 && (r = read(fd, buf + len, cap - 1 - len)) > 0)
        len += (size_t)r;
    buf[len] = '\0';
    close(fd);
    return buf;
}

Test(metrics, endpoint_serves_the_text_and_404_elsewhere)
{
    imi_app *app = app_of("[metrics]\nlisten = 127.0.0.1:0\n[cache]\ndriver = mem\n");
    int port = imi_metrics_port(app);
    cr_assert_gt(port, 0, "no port");
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_set(c, NULL, "a", "b", 1, 0), IMI_OK);
    char *r = http_get(port, "/metrics");
    cr_expect(!strncmp(r, "HTTP/1.", 7) && strstr(r, " 200 "), "%s", r);
    cr_expect_not_null(strstr(r, "text/plain; version=0.0.4"), "%s", r);
    cr_expect_not_null(strstr(r, "imi_cache_calls_total{instance=\"default\",driver=\"mem\","
                                 "op=\"set\",code=\"ok\"} 1\n"), "%s", r);
    free(r);
    r = http_get(port, "/other");
    cr_expect_not_null(strstr(r, " 404 "), "%s", r);
    free(r);
    imi_cache_free(c);
    imi_app_free(app);
    cr_expect_eq(imi_metrics_port(NULL), 0);
}

/* A service with many connections open: the endpoint's sockets get descriptors past
 * select()'s FD_SETSIZE (1024), which libmicrohttpd's default select loop cannot wait on. */
Test(metrics, endpoint_serves_past_fd_setsize)
{
    struct rlimit rl;
    cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    cr_assert(rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= 1200,
              "the hard descriptor limit (%llu) is too low for this test",
              (unsigned long long)rl.rlim_max);
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1200) {
        rl.rlim_cur = 1200;
        cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    int fds[1100], n = 0;
    while (n < 1100 && (fds[n] = dup(2)) >= 0 && fds[n++] < 1040)
        ;
    cr_assert(n > 0 && fds[n - 1] >= 1040, "could not open descriptors past 1024");
    imi_app *app = app_of("[metrics]\nlisten = 127.0.0.1:0\n");
    int port = imi_metrics_port(app);
    cr_assert_gt(port, 0, "no port: %s", imi_error_message());
    char *r = http_get(port, "/metrics");
    cr_expect(!strncmp(r, "HTTP/1.", 7) && strstr(r, " 200 "), "no answer: '%s'", r);
    free(r);
    imi_app_free(app);
    while (n > 0)
        close(fds[--n]);
}

Test(metrics, a_port_in_use_is_a_clear_error)
{
    imi_app *a = app_of("[metrics]\nlisten = 127.0.0.1:0\n");
    char ini[128];
    snprintf(ini, sizeof ini, "[metrics]\nlisten = 127.0.0.1:%d\n", imi_metrics_port(a));
    cr_expect_eq(app_error(ini), IMI_EUNAVAILABLE);
    cr_expect_not_null(strstr(imi_error_message(), "cannot listen on 127.0.0.1:"), "%s",
                       imi_error_message());
    imi_app_free(a);
}

Test(metrics, db_and_coord_count_their_calls)
{
    imi_app *app = app_of("[log]\nlevel = off\n[db]\ndriver = sqlite\npath = :memory:\n"
                          "[coord]\ndriver = mem\n");
    imi_db *db = NULL;
    cr_assert_eq(imi_db_open(app, NULL, &db), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_db_exec(db, NULL, "CREATE TABLE t (a INTEGER)", NULL, 0, NULL), IMI_OK,
                 "%s", imi_error_message());
    cr_assert_eq(imi_db_exec(db, NULL, "INSERT INTO t VALUES (1)", NULL, 0, NULL), IMI_OK);
    cr_assert_neq(imi_db_exec(db, NULL, "INSERT INTO nope VALUES (1)", NULL, 0, NULL), IMI_OK);
    imi_db_rows *rows = NULL;
    cr_assert_eq(imi_db_query(db, NULL, "SELECT a FROM t", NULL, 0, &rows), IMI_OK);
    char *t = metrics_text(app);
    const char *L = "instance=\"default\",driver=\"sqlite\"";
    char line[512];
    EXPECT("imi_db_calls_total{%s,op=\"exec\",code=\"ok\"} 2", L);
    EXPECT("imi_db_calls_total{%s,op=\"query\",code=\"ok\"} 1", L);
    EXPECT("imi_db_endpoint_statements_total{%s,endpoint=\"writer\"} 4", L);
    EXPECT("imi_db_pool_in_use{%s} 1", L); /* the open result holds its connection */
    free(t);
    imi_db_rows_free(rows);
    t = metrics_text(app);
    EXPECT("imi_db_pool_in_use{%s} 0", L);
    free(t);
    imi_db_free(db);

    imi_coord *c = NULL;
    cr_assert_eq(imi_coord_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_put(c, NULL, "a", "1", 1, NULL), IMI_OK);
    imi_buf b = { 0 };
    cr_assert_eq(imi_coord_get(c, NULL, "a", &b, NULL), IMI_OK);
    cr_assert_eq(imi_coord_get(c, NULL, "b", &b, NULL), IMI_ENOTFOUND);
    imi_buf_free(&b);
    t = metrics_text(app);
    L = "instance=\"default\",driver=\"mem\"";
    EXPECT("imi_coord_calls_total{%s,op=\"put\",code=\"ok\"} 1", L);
    EXPECT("imi_coord_calls_total{%s,op=\"get\",code=\"notfound\"} 1", L);
    EXPECT("imi_coord_call_duration_seconds_count{%s,op=\"get\"} 2", L);
    free(t);
    imi_coord_free(c);
    imi_app_free(app);
}

/* By default one call in 16 per thread is timed: counts stay exact, the histogram samples. */
Test(metrics, durations_are_sampled_by_default)
{
    imi_app *app = app_of("[metrics]\n[cache]\ndriver = mem\n");
    imi_cache *c = NULL;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    imi_buf v = IMI_BUF_INIT;
    for (int i = 0; i < 64; i++)
        imi_cache_get(c, NULL, "k", &v);
    char *t = metrics_text(app);
    expect_line(t, "imi_cache_calls_total{instance=\"default\",driver=\"mem\",op=\"get\",code=\"notfound\"} 64");
    expect_line(t, "imi_cache_call_duration_seconds_count{instance=\"default\",driver=\"mem\",op=\"get\"} 4");
    free(t);
    imi_buf_free(&v);
    imi_cache_free(c);
    imi_app_free(app);
}
