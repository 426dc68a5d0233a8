/* W3C trace context through real backends: a trace id set on the producer's ctx is the
 * one the consumer's ctx and log line show (with a new span id), and a message carrying
 * only a hand-written traceparent (as an OpenTelemetry SDK sends it) is picked up. Kafka
 * (the librdkafka mock of tools/services.sh) and NATS core and JetStream. Needs
 * IMI_KAFKA_BOOTSTRAP and IMI_NATS_URL (tools/services.sh env kafka nats). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

typedef struct seen {
    atomic_int n;
    imi_logger *log;
    char trace[2][IMI_TRACE_ID_MAX + 1];
    char span[2][IMI_SPAN_ID_LEN + 1];
} seen;

static int handler(void *ud, const imi_mq_msg *m)
{
    seen *s = ud;
    int i = atomic_load(&s->n);
    if (i < 2) {
        const char *t = imi_ctx_trace_id(m->ctx), *sp = imi_ctx_span_id(m->ctx);
        snprintf(s->trace[i], sizeof s->trace[i], "%s", t ? t : "");
        snprintf(s->span[i], sizeof s->span[i], "%s", sp ? sp : "");
        imi_log(s->log, IMI_LOG_INFO, m->ctx, "handled", NULL, 0);
    }
    atomic_fetch_add(&s->n, 1);
    return IMI_OK;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "no log file %s", path);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* mq_section: the [mq] keys of the backend. */
static void run(const char *mq_section, const char *topic)
{
    char log_path[] = "/tmp/imi-trace-itXXXXXX";
    int fd = mkstemp(log_path);
    cr_assert_geq(fd, 0);
    close(fd);
    char ini[2048];
    snprintf(ini, sizeof ini, "[log]\nlevel = info\nformat = json\noutput = %s\n[mq]\n%s",
             log_path, mq_section);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_parse(ini, "trace-it.ini", ".", &cfg), IMI_OK, "%s",
                 imi_error_message());
    imi_app *app = NULL;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_mq *mq = NULL;
    cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
    seen s = { .log = imi_app_logger(app) };
    const char *topics[] = { topic };
    imi_mq_sub_opts o = { .group = "trace-it", .topics = topics, .n_topics = 1 };
    imi_ctx *sctx = imi_ctx_new(30000);
    imi_mq_sub *sub = NULL;
    cr_assert_eq(imi_mq_subscribe(mq, sctx, &o, handler, &s, &sub), IMI_OK, "%s",
                 imi_error_message());
    imi_ctx_free(sctx);

    imi_ctx *ctx = imi_ctx_new(10000);
    char tid[33];
    snprintf(tid, sizeof tid, "%s", imi_ctx_new_trace_id(ctx));
    cr_assert_eq(imi_ctx_set_span_id(ctx, "00f067aa0ba902b7"), IMI_OK);
    imi_mq_msg m = { .topic = topic, .key = "k", .key_len = 1, .body = "1", .body_len = 1 };
    cr_assert_eq(imi_mq_publish(mq, ctx, &m), IMI_OK, "%s", imi_error_message());
    for (int i = 0; i < 300 && atomic_load(&s.n) < 1; i++)
        usleep(100000);
    cr_assert_geq(atomic_load(&s.n), 1, "no delivery within 30 s");

    /* Only a traceparent, as an OpenTelemetry SDK writes it; no ctx. */
    imi_mq_header hs[] = {
        { "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 55 },
    };
    imi_mq_msg otel = { .topic = topic, .key = "k", .key_len = 1, .body = "2", .body_len = 1,
                        .headers = hs, .n_headers = 1 };
    cr_assert_eq(imi_mq_publish(mq, NULL, &otel), IMI_OK, "%s", imi_error_message());
    for (int i = 0; i < 300 && atomic_load(&s.n) < 2; i++)
        usleep(100000);
    cr_assert_geq(atomic_load(&s.n), 2, "no second delivery within 30 s");
    imi_mq_sub_free(sub);
    imi_mq_free(mq);
    imi_ctx_free(ctx);

    cr_expect_str_eq(s.trace[0], tid);
    cr_expect_eq(strlen(s.span[0]), 16);
    cr_expect_str_neq(s.span[0], "00f067aa0ba902b7", "the consumer continues with a new span");
    cr_expect_str_eq(s.trace[1], "0af7651916cd43dd8448eb211c80319c");
    cr_expect_str_neq(s.span[1], "b7ad6b7169203331");
    imi_app_free(app);
    const char *log = slurp(log_path);
    char want[160];
    snprintf(want, sizeof want, "\"trace_id\":\"%s\",\"span_id\":\"%s\"", tid, s.span[0]);
    cr_expect_not_null(strstr(log, want), "the consumer's log line lacks %s:\n%s", want, log);
    unlink(log_path);
}

static const char *env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v && *v, "%s is not set: run tools/services.sh start kafka nats", name);
    return v;
}

/* A topic of its own per run: earlier runs' messages stay in the backend. */
static const char *topic_of(const char *base)
{
    static char t[64];
    snprintf(t, sizeof t, "%s-%ld", base, (long)time(NULL) ^ (long)getpid());
    return t;
}

Test(mq_trace, kafka, .timeout = 120)
{
    char sec[512];
    snprintf(sec, sizeof sec, "driver = kafka\nbrokers = %s\ntimeout = 30s\n"
             "session_timeout = 6s\n", env("IMI_KAFKA_BOOTSTRAP"));
    run(sec, topic_of("trace-kafka"));
}

Test(mq_trace, nats_core, .timeout = 60)
{
    char sec[512];
    snprintf(sec, sizeof sec, "driver = nats\nurl = %s\njetstream = false\n", env("IMI_NATS_URL"));
    run(sec, topic_of("trace-nats"));
}

Test(mq_trace, nats_jetstream, .timeout = 60)
{
    char sec[512];
    snprintf(sec, sizeof sec, "driver = nats\nurl = %s\njetstream = true\nstorage = memory\n",
             env("IMI_NATS_URL"));
    run(sec, topic_of("trace-js"));
}
