/* The etcd driver against hostile or odd replies from a fake gateway on loopback (a
 * thread in this test answering every request with one canned reply), and bad input that
 * must be refused before any request: a reply nested hundreds of thousands of levels
 * deep, a reply larger than max_reply_size, a put over the gateway's message limit, a
 * lease TTL of INT64_MAX, and passwords in endpoint URLs, which no message may print. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

/* ---- the fake gateway ------------------------------------------------------------------ */

typedef struct fake {
    int fd, port;
    pthread_t thread;
    atomic_bool stop;
    atomic_int requests;
    int status;
    char *body;        /* the reply to every request */
    size_t len;
    const char *only;  /* non-NULL: requests for other paths get no reply at all */
    int held[64];      /* their connections, open until fake_stop */
    int n_held;
} fake;

/* Reads one request on c; its request line ("POST /v3/... HTTP/1.1") into line. */
static void read_request(int c, char *line, size_t ln)
{
    char buf[65536];
    size_t have = 0;
    long clen = -1;
    char *hend = NULL;
    for (;;) {
        ssize_t n = recv(c, buf + have, sizeof buf - 1 - have, 0);
        if (n <= 0)
            return;
        have += (size_t)n;
        buf[have] = '\0';
        if (!*line && strstr(buf, "\r\n"))
            snprintf(line, ln, "%.*s", (int)strcspn(buf, "\r\n"), buf);
        if (!hend && (hend = strstr(buf, "\r\n\r\n"))) {
            char *cl = strcasestr(buf, "Content-Length:");
            clen = cl ? strtol(cl + 15, NULL, 10) : 0;
        }
        if (hend && (long)(have - (size_t)(hend + 4 - buf)) >= clen)
            return;
        if (have == sizeof buf - 1) /* a large body: keep only the last part */
            have = 0, hend = hend ? buf : NULL;
    }
}

static void *fake_main(void *arg)
{
    fake *f = arg;
    while (!atomic_load(&f->stop)) {
        int c = accept(f->fd, NULL, NULL);
        if (c < 0)
            continue;
        if (atomic_load(&f->stop)) {
            close(c);
            break;
        }
        char line[256] = "";
        read_request(c, line, sizeof line);
        atomic_fetch_add(&f->requests, 1);
        if (f->only && !strstr(line, f->only) && f->n_held < 64) {
            f->held[f->n_held++] = c;
            continue;
        }
        char head[256];
        int n = snprintf(head, sizeof head, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                         "Content-Length: %zu\r\nConnection: close\r\n\r\n", f->status, f->len);
        (void)!send(c, head, (size_t)n, MSG_NOSIGNAL);
        for (size_t off = 0; off < f->len;) {
            ssize_t w = send(c, f->body + off, f->len - off, MSG_NOSIGNAL);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        close(c);
    }
    return NULL;
}

/* only: see fake.only (NULL: every request gets the reply). */
static void fake_start(fake *f, int status, char *body, size_t len, const char *only)
{
    *f = (fake){ .status = status, .body = body, .len = len, .only = only };
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
    /* wake accept with a connection of our own */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)f->port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    pthread_join(f->thread, NULL);
    for (int i = 0; i < f->n_held; i++)
        close(f->held[i]);
    close(f->fd);
    free(f->body);
}

/* ---- helpers -------------------------------------------------------------------------- */

static imi_app *app;

/* A coord handle on endpoints, with extra [coord] options (key, value pairs, NULL-ended). */
static imi_coord *open_etcd(const char *endpoints, ...)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/configs/coord_etcd.ini", IMI_TEST_SOURCE_DIR);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_load(path, &cfg), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_config_set(cfg, "coord", "endpoints", endpoints), IMI_OK);
    cr_assert_eq(imi_config_set(cfg, "coord", "timeout", "2s"), IMI_OK);
    va_list ap;
    va_start(ap, endpoints);
    for (const char *k; (k = va_arg(ap, const char *));)
        cr_assert_eq(imi_config_set(cfg, "coord", k, va_arg(ap, const char *)), IMI_OK);
    va_end(ap);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_coord *c = NULL;
    cr_assert_eq(imi_coord_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    return c;
}

static void done(imi_coord *c)
{
    imi_coord_free(c);
    imi_app_free(app);
    app = NULL;
}

static char *endpoint_of(const fake *f, char *buf, size_t n)
{
    snprintf(buf, n, "http://127.0.0.1:%d", f->port);
    return buf;
}

static void watch_fn(void *ud, const imi_coord_event *ev)
{
    (void)ud;
    (void)ev;
}

/* ---- tests ---------------------------------------------------------------------------- */

/* Before: skip_value recursed once per level and overflowed the stack (a crash). */
Test(coord_etcd_hostile, deeply_nested_reply_is_refused, .timeout = 30)
{
    size_t depth = 400000;
    const char *head = "{\"header\":{\"revision\":\"5\"},\"x\":";
    size_t hl = strlen(head), len = hl + 2 * depth + 1;
    char *body = malloc(len + 1);
    memcpy(body, head, hl);
    memset(body + hl, '[', depth);
    memset(body + hl + depth, ']', depth);
    body[len - 1] = '}';
    body[len] = '\0';
    fake f;
    fake_start(&f, 200, body, len, NULL);
    char ep[64];
    imi_coord *c = open_etcd(endpoint_of(&f, ep, sizeof ep), NULL);
    imi_buf v = IMI_BUF_INIT;
    int rc = imi_coord_get(c, NULL, "k", &v, NULL);
    cr_expect_eq(rc, IMI_EDRIVER, "get: %s (%s)", imi_strerror(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), "nested deeper than"), "%s", imi_error_message());
    int64_t rev;
    rc = imi_coord_put(c, NULL, "k", "v", 1, &rev);
    cr_expect_eq(rc, IMI_EDRIVER, "put: %s (%s)", imi_strerror(rc), imi_error_message());
    imi_buf_free(&v);
    done(c);
    fake_stop(&f);
}

/* A reply one byte over max_reply_size is refused, naming the option. */
Test(coord_etcd_hostile, reply_over_max_reply_size_is_refused, .timeout = 30)
{
    size_t len = 70 * 1024;
    char *body = malloc(len);
    memset(body, ' ', len);
    memcpy(body, "{\"kvs\":[]", 9);
    body[len - 1] = '}';
    fake f;
    fake_start(&f, 200, body, len, NULL);
    char ep[64];
    imi_coord *c = open_etcd(endpoint_of(&f, ep, sizeof ep), "max_reply_size", "64k", NULL);
    imi_buf v = IMI_BUF_INIT;
    int rc = imi_coord_get(c, NULL, "k", &v, NULL);
    cr_expect_eq(rc, IMI_EDRIVER, "%s (%s)", imi_strerror(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), "max_reply_size"), "%s", imi_error_message());
    imi_buf_free(&v);
    /* a watch stream whose first message never ends is refused the same way */
    imi_ctx *ctx = imi_ctx_new(1500);
    imi_coord_watch *w = NULL;
    rc = imi_coord_watch_start(c, ctx, "k", 0, 0, watch_fn, NULL, &w);
    imi_ctx_free(ctx);
    cr_expect_eq(rc, IMI_EDRIVER, "watch: %s (%s)", imi_strerror(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), "max_reply_size"), "watch: %s", imi_error_message());
    if (w)
        imi_coord_watch_cancel(w);
    done(c);
    fake_stop(&f);
}

/* The gateway's answer to a request over its 2 MiB gRPC limit (what etcd 3.4 sends). Before:
 * IMI_EUNAVAILABLE, which retry policies retry in vain. */
Test(coord_etcd_hostile, oversized_put_is_invalid_not_unavailable, .timeout = 30)
{
    const char *e = "{\"error\":\"grpc: received message larger than max (2359304 vs. 2097152)\","
                    "\"message\":\"grpc: received message larger than max (2359304 vs. 2097152)\","
                    "\"code\":8}";
    fake f;
    fake_start(&f, 429, strdup(e), strlen(e), NULL);
    char ep[64];
    imi_coord *c = open_etcd(endpoint_of(&f, ep, sizeof ep), NULL);
    int64_t rev;
    int rc = imi_coord_put(c, NULL, "k", "v", 1, &rev);
    cr_expect_eq(rc, IMI_EINVALID, "%s (%s)", imi_strerror(rc), imi_error_message());
    cr_expect(strstr(imi_error_message(), "larger than max"), "%s", imi_error_message());
    done(c);
    fake_stop(&f);
}

/* Before: (ttl_ms + 999) overflowed and a request went out. */
Test(coord_etcd_hostile, lease_ttl_out_of_range_is_refused_before_any_request, .timeout = 30)
{
    const char *ok = "{\"ID\":\"7\",\"TTL\":\"10\"}";
    fake f;
    fake_start(&f, 200, strdup(ok), strlen(ok), NULL);
    char ep[64];
    imi_coord *c = open_etcd(endpoint_of(&f, ep, sizeof ep), NULL);
    int64_t lease = 0, granted = 0;
    int rc = imi_coord_lease_grant(c, NULL, INT64_MAX, &lease, &granted);
    cr_expect_eq(rc, IMI_EINVALID, "%s (%s)", imi_strerror(rc), imi_error_message());
    /* The front-end refuses first (the driver's own check, up to 9000000000 s, stays
     * behind it for callers of the slot). */
    cr_expect(strstr(imi_error_message(), "3153600000000 ms") ||
              strstr(imi_error_message(), "9000000000 s"), "the range in: %s", imi_error_message());
    cr_expect_eq(atomic_load(&f.requests), 0, "a request went out");
    /* in range: sent, and read back */
    cr_expect_eq(imi_coord_lease_grant(c, NULL, 10000, &lease, &granted), IMI_OK, "%s",
                 imi_error_message());
    cr_expect_eq(lease, 7);
    cr_expect_eq(granted, 10000);
    done(c);
    fake_stop(&f);
}

static void expect_no_password(const char *what)
{
    const char *m = imi_error_message();
    cr_expect(m && *m, "%s: no message", what);
    cr_expect(!strstr(m, "hunter2"), "%s prints the password: %s", what, m);
}

/* Before: the whole URL, password included, was in the messages of calls and watches. */
Test(coord_etcd_hostile, passwords_in_endpoint_urls_are_never_printed, .timeout = 60)
{
    /* nothing listens on port 1 */
    imi_coord *c = open_etcd("http://app:hunter2@127.0.0.1:1", "connect_timeout", "200ms", NULL);
    cr_expect_eq(imi_coord_ping(c, NULL), IMI_EUNAVAILABLE);
    expect_no_password("ping");
    cr_expect(strstr(imi_error_message(), "127.0.0.1:1"), "names the endpoint: %s",
              imi_error_message());
    imi_ctx *ctx = imi_ctx_new(1000);
    imi_coord_watch *w = NULL;
    cr_expect_neq(imi_coord_watch_start(c, ctx, "k", 0, 0, watch_fn, NULL, &w), IMI_OK);
    expect_no_password("watch");
    imi_ctx_free(ctx);
    done(c);

    /* a refused scheme is shown with *** for the password */
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/configs/coord_etcd.ini", IMI_TEST_SOURCE_DIR);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_load(path, &cfg), IMI_OK);
    imi_config_set(cfg, "coord", "endpoints", "ftp://app:hunter2@127.0.0.1:1");
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_coord *bad = NULL;
    cr_expect_eq(imi_coord_open(app, NULL, &bad), IMI_ECONFIG);
    expect_no_password("open");
    cr_expect(strstr(imi_error_message(), "ftp://app:***@127.0.0.1:1"), "%s", imi_error_message());
    imi_coord_free(bad);
    imi_app_free(app);
    app = NULL;
}

/* A backend that grants the lease and then hangs: the take and the revoke of the lease it
 * granted both fit in the caller's deadline. Before: the revoke ran on the instance's
 * default timeout (2 s here) after the deadline had passed. */
Test(coord_etcd_hostile, lock_try_on_a_hanging_backend_keeps_its_deadline, .timeout = 30)
{
    const char *grant = "{\"header\":{\"revision\":\"5\"},\"ID\":\"7\",\"TTL\":\"10\"}";
    fake f;
    fake_start(&f, 200, strdup(grant), strlen(grant), "/v3/lease/grant");
    char ep[64];
    imi_coord *c = open_etcd(endpoint_of(&f, ep, sizeof ep), NULL);
    imi_ctx *ctx = imi_ctx_new(600);
    imi_coord_lock *l = NULL;
    int64_t t0 = imi_now_mono_ns();
    int rc = imi_coord_lock_try(c, ctx, "held", 10000, 0, &l);
    int64_t took_ms = (imi_now_mono_ns() - t0) / 1000000;
    imi_ctx_free(ctx);
    cr_expect_eq(rc, IMI_ETIMEDOUT, "%s (%s)", imi_strerror(rc), imi_error_message());
    cr_expect_null(l);
    /* the message is the write's, not the cleanup's */
    cr_expect(strstr(imi_error_message(), "/v3/kv/txn"), "%s", imi_error_message());
    cr_expect_leq(took_ms, 1100, "lock_try with a 600 ms deadline took %lld ms",
                  (long long)took_ms);
    done(c);
    fake_stop(&f);
}
