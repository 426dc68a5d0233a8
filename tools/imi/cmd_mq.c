/* imi mq [-c FILE] pub TOPIC VALUE [--key K] [--header NAME=VALUE]... [--trace ID]
 *        imi mq [-c FILE] sub TOPIC --group G [--count N] [--timeout S] [--print-key] */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"

#define MAX_HEADERS 32

static int do_pub(imi_mq *mq, const char *topic, const char *value, const char *key,
                  const imi_mq_header *hs, size_t n_hs, const char *trace)
{
    imi_mq_msg m = { .topic = topic, .key = key, .key_len = key ? strlen(key) : 0,
                     .headers = hs, .n_headers = n_hs, .body = value, .body_len = strlen(value) };
    imi_ctx *ctx = imi_ctx_new(0); /* the instance's timeout */
    if (trace)
        imi_ctx_set_trace_id(ctx, trace);
    int rc = imi_mq_publish(mq, ctx, &m);
    imi_ctx_free(ctx);
    return rc ? cli_fail(rc, "mq pub %s", topic) : IMI_EXIT_OK;
}

typedef struct sub_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    long count, want;               /* want 0: no limit */
    bool print_key;
} sub_state;

static volatile sig_atomic_t stop_requested;
static void on_signal(int sig) { (void)sig; stop_requested = 1; }

static int on_msg(void *ud, const imi_mq_msg *m)
{
    sub_state *s = ud;
    pthread_mutex_lock(&s->lock);
    if (s->want && s->count >= s->want) {
        pthread_mutex_unlock(&s->lock);
        return IMI_EUNAVAILABLE; /* not ours: stays for the group */
    }
    if (s->print_key) {
        if (m->key)
            fwrite(m->key, 1, m->key_len, stdout);
        fputc('\t', stdout);
    }
    fwrite(m->body, 1, m->body_len, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    s->count++;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
    return IMI_OK;
}

static int do_sub(imi_mq *mq, const char *topic, const char *group, long want,
                  double timeout_s, bool print_key)
{
    sub_state s = { .want = want, .print_key = print_key };
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.cond, NULL);
    const char *topics[] = { topic };
    /* An inspection tool never dead-letters what it declines past --count. */
    imi_mq_sub_opts o = { .group = group, .topics = topics, .n_topics = 1, .max_attempts = -1 };
    imi_mq_sub *sub = NULL;
    int rc = imi_mq_subscribe(mq, NULL, &o, on_msg, &s, &sub);
    if (rc)
        return cli_fail(rc, "mq sub %s", topic);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    int64_t deadline = timeout_s > 0 ? imi_now_mono_ns() + (int64_t)(timeout_s * 1e9) : 0;
    pthread_mutex_lock(&s.lock);
    while (!stop_requested && !(want && s.count >= want) &&
           !(deadline && imi_now_mono_ns() >= deadline)) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s.cond, &s.lock, &ts);
    }
    pthread_mutex_unlock(&s.lock);
    imi_mq_sub_free(sub);
    long got = s.count;
    pthread_cond_destroy(&s.cond);
    pthread_mutex_destroy(&s.lock);
    if (deadline && !stop_requested && (want ? got < want : got == 0)) {
        fprintf(stderr, "imi: mq sub %s: %ld message(s) within %.1f s\n", topic, got, timeout_s);
        return IMI_EXIT_NOTFOUND;
    }
    return IMI_EXIT_OK;
}

/* Takes every "--header NAME=VALUE" out of argv. */
static int take_headers(int *argc, char **argv, imi_mq_header *hs, size_t *n, int *bad)
{
    const char *h;
    while ((h = cli_take_opt(argc, argv, "--header", bad))) {
        const char *eq = strchr(h, '=');
        if (!eq || eq == h || *n >= MAX_HEADERS)
            return -1;
        /* The name is cut at '=' in place: argv strings are writable. */
        *(char *)eq = '\0';
        hs[(*n)++] = (imi_mq_header){ h, eq + 1, strlen(eq + 1) };
    }
    return 0;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_config(&imi_cmd_mq, &argc, argv, &bad);
    const char *key = cli_take_opt(&argc, argv, "--key", &bad);
    const char *trace = cli_take_opt(&argc, argv, "--trace", &bad);
    const char *group = cli_take_opt(&argc, argv, "--group", &bad);
    const char *count = cli_take_opt(&argc, argv, "--count", &bad);
    const char *timeout = cli_take_opt(&argc, argv, "--timeout", &bad);
    const char *instance = cli_take_opt(&argc, argv, "--instance", &bad);
    bool print_key = cli_take_flag(&argc, argv, "--print-key");
    imi_mq_header hs[MAX_HEADERS];
    size_t n_hs = 0;
    if (take_headers(&argc, argv, hs, &n_hs, &bad))
        return cli_usage(&imi_cmd_mq, "--header takes NAME=VALUE (at most %d)", MAX_HEADERS);
    if (bad || argc < 3)
        return cli_usage(&imi_cmd_mq, "needs pub or sub and a topic");
    const char *op = argv[1], *topic = argv[2];
    bool is_pub = !strcmp(op, "pub");
    if (!is_pub && strcmp(op, "sub"))
        return cli_usage(&imi_cmd_mq, "unknown operation '%s'", op);
    if (argc != (is_pub ? 4 : 3))
        return cli_usage(&imi_cmd_mq, is_pub ? "pub needs TOPIC and VALUE" : "sub takes one TOPIC");
    if (is_pub && (group || count || timeout || print_key))
        return cli_usage(&imi_cmd_mq, "--group, --count, --timeout and --print-key go with sub");
    if (!is_pub && (key || trace || n_hs))
        return cli_usage(&imi_cmd_mq, "--key, --header and --trace go with pub");
    if (!is_pub && !group)
        return cli_usage(&imi_cmd_mq, "sub needs --group");
    long want = 0;
    double timeout_s = 0;
    char *end = NULL;
    if (count && ((want = strtol(count, &end, 10)) <= 0 || *end))
        return cli_usage(&imi_cmd_mq, "--count takes a positive number");
    if (timeout && (!((timeout_s = strtod(timeout, &end)) > 0) || *end || timeout_s > 1e6))
        return cli_usage(&imi_cmd_mq, "--timeout takes a positive number of seconds");
    imi_app *app = cli_open_app(path);
    if (!app)
        return IMI_EXIT_ERROR;
    imi_mq *mq = NULL;
    int rc = imi_mq_open(app, instance, &mq);
    if (!rc)
        cli_note_in_process(app, "mq", instance, imi_mq_driver_name(mq));
    int code = rc ? cli_fail(rc, "mq %s", instance ? instance : "[mq]")
             : is_pub ? do_pub(mq, topic, argv[3], key, hs, n_hs, trace)
                      : do_sub(mq, topic, group, want, timeout_s, print_key);
    imi_mq_free(mq);
    imi_app_free(app);
    return code;
}

const imi_cmd imi_cmd_mq = {
    .name = "mq",
    .summary = "publish a message or consume messages on the configured mq",
    .usage = "usage: imi mq [-c FILE] pub TOPIC VALUE [--key K] [--header NAME=VALUE]... "
             "[--trace ID] [--instance NAME]\n"
             "       imi mq [-c FILE] sub TOPIC --group G [--count N] [--timeout S] "
             "[--print-key] [--instance NAME]\n"
             "  pub returns once the broker has the message.\n"
             "  sub prints each message's value on a line (KEY<TAB>VALUE with --print-key),\n"
             "  stops after N messages, after S seconds or on Ctrl-C, and exits 3 when the\n"
             "  timeout passed with fewer than N messages (or none without --count).\n"
             "  --instance NAME uses [mq.NAME].\n",
    .run = run,
};
