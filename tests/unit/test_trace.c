/* W3C trace context through mq (mem driver): traceparent on publish, a new span on the
 * consumer's ctx, a producer that speaks only traceparent, the older imi-trace-id still
 * read, and clog's span_id. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static imi_app *app_of(const char *ini)
{
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "test.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

/* What the handler saw of the one message it got. */
typedef struct seen {
    atomic_int n;
    char trace[IMI_TRACE_ID_MAX + 1];
    char span[IMI_SPAN_ID_LEN + 1];
    char traceparent[128];
    char old[IMI_TRACE_ID_MAX + 1];
} seen;

static void header(const imi_mq_msg *m, const char *name, char *out, size_t cap)
{
    for (size_t i = 0; i < m->n_headers; i++)
        if (!strcmp(m->headers[i].name, name)) {
            snprintf(out, cap, "%.*s", (int)m->headers[i].len, (const char *)m->headers[i].value);
            return;
        }
}

static int handler(void *ud, const imi_mq_msg *m)
{
    seen *s = ud;
    const char *t = imi_ctx_trace_id(m->ctx), *sp = imi_ctx_span_id(m->ctx);
    snprintf(s->trace, sizeof s->trace, "%s", t ? t : "");
    snprintf(s->span, sizeof s->span, "%s", sp ? sp : "");
    header(m, "traceparent", s->traceparent, sizeof s->traceparent);
    header(m, IMI_MQ_TRACE_HEADER, s->old, sizeof s->old);
    atomic_fetch_add(&s->n, 1);
    return IMI_OK;
}

/* Publishes msg on a fresh mem mq and returns what the consumer saw. */
static void roundtrip(const imi_ctx *ctx, const imi_mq_header *hs, size_t n_hs, seen *s)
{
    imi_app *app = app_of("[log]\nlevel = off\n[mq]\ndriver = mem\n");
    imi_mq *mq = NULL;
    cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
    const char *topics[] = { "orders" };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, handler, s, &sub), IMI_OK, "%s",
                 imi_error_message());
    imi_mq_msg m = { .topic = "orders", .body = "x", .body_len = 1, .headers = hs,
                     .n_headers = n_hs };
    cr_assert_eq(imi_mq_publish(mq, ctx, &m), IMI_OK, "%s", imi_error_message());
    for (int i = 0; i < 1000 && !atomic_load(&s->n); i++)
        usleep(2000);
    cr_assert_eq(atomic_load(&s->n), 1, "no delivery within 2 s");
    imi_mq_free(mq);
    imi_app_free(app);
}

Test(trace, publish_writes_traceparent_and_the_consumer_gets_a_new_span)
{
    imi_ctx *ctx = imi_ctx_new(0);
    const char *tid = imi_ctx_new_trace_id(ctx);
    cr_assert_eq(imi_ctx_set_span_id(ctx, "00f067aa0ba902b7"), IMI_OK);
    seen s = { 0 };
    roundtrip(ctx, NULL, 0, &s);
    char want[128];
    snprintf(want, sizeof want, "00-%s-00f067aa0ba902b7-01", tid);
    cr_expect_str_eq(s.traceparent, want);
    cr_expect_str_eq(s.old, tid, "the older header stays for one release");
    cr_expect_str_eq(s.trace, tid);
    cr_expect_eq(strlen(s.span), 16);
    cr_expect_str_neq(s.span, "00f067aa0ba902b7", "the consumer continues with a new span");
    imi_ctx_free(ctx);
}

Test(trace, a_ctx_without_span_still_sends_a_valid_traceparent)
{
    imi_ctx *ctx = imi_ctx_new(0);
    imi_ctx_set_trace_id(ctx, "4bf92f3577b34da6a3ce929d0e0e4736");
    seen s = { 0 };
    roundtrip(ctx, NULL, 0, &s);
    cr_expect_eq(strlen(s.traceparent), 55, "%s", s.traceparent);
    cr_expect_eq(strncmp(s.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-", 36), 0, "%s",
                 s.traceparent);
    cr_expect_str_neq(s.traceparent + 36, "0000000000000000-01");
    imi_ctx_free(ctx);
}

Test(trace, a_producer_that_speaks_only_traceparent_is_picked_up)
{
    /* As an OpenTelemetry SDK writes it: no imi header at all, and no ctx. */
    imi_mq_header hs[] = {
        { "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 55 },
    };
    seen s = { 0 };
    roundtrip(NULL, hs, 1, &s);
    cr_expect_str_eq(s.trace, "0af7651916cd43dd8448eb211c80319c");
    cr_expect_eq(strlen(s.span), 16);
    cr_expect_str_neq(s.span, "b7ad6b7169203331");
}

Test(trace, the_older_header_alone_is_still_read)
{
    imi_mq_header hs[] = { { IMI_MQ_TRACE_HEADER, "req-42", 6 } };
    seen s = { 0 };
    roundtrip(NULL, hs, 1, &s);
    cr_expect_str_eq(s.trace, "req-42");
    /* A trace id that is not 32 hex digits has no traceparent to travel in. */
    cr_expect_str_eq(s.traceparent, "");
}

Test(trace, invalid_traceparents_are_ignored)
{
    static const char *const bad[] = {
        "00-00000000000000000000000000000000-b7ad6b7169203331-01", /* zero trace */
        "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", /* zero span */
        "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", /* version ff */
        "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", /* upper case */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra", /* 00 with more */
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        imi_mq_header hs[] = { { "traceparent", bad[i], strlen(bad[i]) } };
        seen s = { 0 };
        roundtrip(NULL, hs, 1, &s);
        cr_expect_str_eq(s.trace, "", "accepted %s", bad[i]);
    }
    /* A later version with more fields is read as version 00 says. */
    const char *v1 = "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what";
    imi_mq_header hs[] = { { "traceparent", v1, strlen(v1) } };
    seen s = { 0 };
    roundtrip(NULL, hs, 1, &s);
    cr_expect_str_eq(s.trace, "0af7651916cd43dd8448eb211c80319c");
}

Test(trace, span_ids_are_checked)
{
    imi_ctx *ctx = imi_ctx_new(0);
    cr_expect_eq(imi_ctx_set_span_id(ctx, "xyz"), IMI_EINVALID);
    cr_expect_not_null(strstr(imi_error_message(), "'xyz' is not 16 hex digits"));
    cr_expect_eq(imi_ctx_set_span_id(ctx, "0000000000000000"), IMI_EINVALID);
    cr_expect_eq(imi_ctx_set_span_id(ctx, "00F067AA0BA902B7"), IMI_OK);
    cr_expect_str_eq(imi_ctx_span_id(ctx), "00f067aa0ba902b7");
    imi_ctx *child = imi_ctx_child(ctx, 0);
    cr_expect_str_eq(imi_ctx_span_id(child), "00f067aa0ba902b7", "inherited");
    cr_expect_eq(imi_ctx_set_span_id(ctx, NULL), IMI_OK);
    cr_expect_null(imi_ctx_span_id(ctx));
    cr_expect_eq(strlen(imi_ctx_new_span_id(ctx)), 16);
    imi_ctx_free(child);
    imi_ctx_free(ctx);
}

Test(trace, clog_prints_trace_and_span_ids)
{
    char path[] = "/tmp/imi-trace-logXXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    for (int fmt = 0; fmt < 2; fmt++) {
        imi_log_options o = { .service = "svc", .level = IMI_LOG_INFO, .output = path,
                              .format = fmt ? IMI_LOG_CONSOLE : IMI_LOG_JSON };
        imi_logger *lg = NULL;
        cr_assert_eq(imi_logger_open(&o, &lg), IMI_OK, "%s", imi_error_message());
        imi_ctx *ctx = imi_ctx_new(0);
        imi_ctx_set_trace_id(ctx, "4bf92f3577b34da6a3ce929d0e0e4736");
        imi_ctx_set_span_id(ctx, "00f067aa0ba902b7");
        imi_log(lg, IMI_LOG_INFO, ctx, "hello", NULL, 0);
        imi_ctx_free(ctx);
        imi_logger_free(lg);
        FILE *f = fopen(path, "r");
        char line[1024] = "";
        cr_assert(fgets(line, sizeof line, f));
        fclose(f);
        cr_expect_not_null(strstr(line, fmt ? "span_id=00f067aa0ba902b7"
                                            : "\"span_id\":\"00f067aa0ba902b7\""), "%s", line);
        cr_expect_not_null(strstr(line, "4bf92f3577b34da6a3ce929d0e0e4736"), "%s", line);
        truncate(path, 0);
    }
    unlink(path);
}
