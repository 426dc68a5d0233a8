/* The logger carried by a ctx: fields copied and inherited, the trace id from the ctx
 * alone, and mq handlers that log through the ctx they are given. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static char path[64];

/* The whole log file; the caller frees it. */
static char *slurp(void)
{
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s", path);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static imi_logger *file_logger(void)
{
    snprintf(path, sizeof path, "/tmp/imi-ctxlog-%d.log", (int)getpid());
    unlink(path);
    imi_log_options o = { .service = "svc", .level = IMI_LOG_DEBUG, .format = IMI_LOG_JSON,
                          .output = path };
    imi_logger *lg;
    cr_assert_eq(imi_logger_open(&o, &lg), IMI_OK, "%s", imi_error_message());
    return lg;
}

Test(ctx_log, fields_and_trace_id_from_the_ctx_alone)
{
    imi_logger *root = file_logger();
    imi_ctx *req = imi_ctx_new(0);
    imi_ctx_set_trace_id(req, "trace-1");
    char user[16] = "alice";
    cr_assert_eq(imi_ctx_set_logger(req, imi_logger_named(root, "api"),
                                    (imi_field[]){ IMI_FSTR("user", user) }, 1), IMI_OK);
    strcpy(user, "XXXXX");   /* the ctx holds its own copy */
    imi_ctx *step = imi_ctx_child(req, 1000);
    cr_assert_eq(imi_ctx_set_logger(step, NULL, &IMI_FINT("step", 2), 1), IMI_OK);
    cr_assert_eq(imi_ctx_logger(step), imi_ctx_logger(req));
    size_t n;
    imi_ctx_log_fields(step, &n);
    cr_assert_eq(n, 2);

    IMI_CTX_INFO(step, "sent", IMI_FSTR("to", "bob"));
    imi_ctx_logf(req, IMI_LOG_WARN, "slow: %d ms", 250);
    imi_ctx_log(NULL, IMI_LOG_ERROR, "no ctx: dropped", NULL, 0);
    imi_ctx_free(step);
    imi_ctx_free(req);
    imi_logger_free(root);

    char *text = slurp();
    char *second = strchr(text, '\n');
    cr_assert_not_null(second, "%s", text);
    *second++ = '\0';
    cr_assert(strstr(text, "\"trace_id\":\"trace-1\""), "%s", text);
    cr_assert(strstr(text, "\"logger\":\"api\"") || strstr(text, "\"logger\":\".api\"") ||
              strstr(text, "api"), "%s", text);
    cr_assert(strstr(text, "\"user\":\"alice\""), "%s", text);
    cr_assert(strstr(text, "\"step\":2"), "%s", text);
    cr_assert(strstr(text, "\"to\":\"bob\""), "%s", text);
    cr_assert(strstr(second, "slow: 250 ms") && strstr(second, "\"user\":\"alice\"") &&
              !strstr(second, "\"step\""), "%s", second);
    cr_assert_null(strstr(second, "dropped"));
    free(text);
    unlink(path);
}

Test(ctx_log, bad_arguments)
{
    imi_ctx *c = imi_ctx_new(0);
    cr_assert_eq(imi_ctx_set_logger(NULL, NULL, NULL, 0), IMI_EINVALID);
    cr_assert_eq(imi_ctx_set_logger(c, NULL, NULL, 1), IMI_EINVALID);
    cr_assert_eq(imi_ctx_set_logger(c, NULL, &IMI_FSTR(NULL, "v"), 1), IMI_EINVALID);
    cr_assert_null(imi_ctx_logger(c));
    imi_ctx_free(c);
}

static atomic_int handled;

static int handler_logs(void *ud, const imi_mq_msg *m)
{
    (void)ud;
    IMI_CTX_INFO(m->ctx, "handled", IMI_FINT("attempt", m->attempt));
    atomic_fetch_add(&handled, 1);
    return IMI_OK;
}

Test(ctx_log, mq_handlers_log_through_their_ctx)
{
    snprintf(path, sizeof path, "/tmp/imi-ctxlog-mq-%d.log", (int)getpid());
    unlink(path);
    char ini[256];
    snprintf(ini, sizeof ini, "[log]\nlevel = info\nformat = json\noutput = %s\n"
             "[service]\nname = chat\n[mq]\ndriver = mem\n", path);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(ini, "t.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_mq *mq;
    cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
    const char *topics[] = { "chat.msg" };
    imi_mq_sub_opts o = { .group = "pushers", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, handler_logs, NULL, &sub), IMI_OK, "%s",
                 imi_error_message());
    imi_ctx *ctx = imi_ctx_new(2000);
    imi_ctx_set_trace_id(ctx, "pub-trace-7");
    cr_assert_eq(imi_mq_publish_str(mq, ctx, "chat.msg", "room-1", "hello"), IMI_OK, "%s",
                 imi_error_message());
    for (int i = 0; i < 400 && atomic_load(&handled) < 1; i++)
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    cr_assert_eq(atomic_load(&handled), 1);
    imi_mq_sub_free(sub);
    imi_mq_free(mq);
    imi_ctx_free(ctx);
    imi_app_free(app);
    char *text = slurp();
    const char *line = strstr(text, "handled");
    cr_assert_not_null(line, "%s", text);
    cr_assert(strstr(text, "\"trace_id\":\"pub-trace-7\""), "%s", text);
    cr_assert(strstr(text, "\"group\":\"pushers\""), "%s", text);
    cr_assert(strstr(text, "\"topic\":\"chat.msg\""), "%s", text);
    cr_assert(strstr(text, "\"attempt\":1"), "%s", text);
    free(text);
    unlink(path);
}
