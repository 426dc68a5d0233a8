/* An mq driver whose deliveries break the contract, for test_driver_lies.c: a
 * subscription delivers, from its own thread, one message of each broken shape and then
 * one well-formed message (topic "t", body "ok"), and writes the answer of each delivery,
 * one per line, to the file of the `report` option.
 *   NULL message, NULL topic, body at NULL with a length, key at NULL with a length,
 *   headers at NULL with a count, a header without a name, a header value at NULL with a
 *   length; then the good one. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "iminfra/driver/mq_driver.h"

typedef struct liar {
    char report[512];
} liar;

typedef struct liar_sub {
    liar *st;
    pthread_t thread;
    bool started;
    imi_mq_deliver_fn deliver;
    void *core_sub;
} liar_sub;

static const imi_option_spec liar_options[] = {
    { .name = "report", .type = IMI_OPT_PATH, .flags = IMI_OPT_REQUIRED,
      .help = "where the answers of the deliveries are written" },
};

static int l_open(void *st, const imi_driver_env *env)
{
    snprintf(((liar *)st)->report, sizeof ((liar *)st)->report, "%s", env->opts[0].str);
    return IMI_OK;
}

static void l_close(void *st) { (void)st; }
static int l_ping(void *st, const imi_ctx *ctx) { (void)st; (void)ctx; return IMI_OK; }

static int l_publish(void *st, const imi_ctx *ctx, const imi_mq_msg *msg)
{
    (void)st;
    (void)ctx;
    (void)msg;
    return IMI_OK;
}

static void *deliveries(void *arg)
{
    liar_sub *s = arg;
    imi_mq_header nameless = { NULL, "v", 1 }, valueless = { "h", NULL, 4 };
    const imi_mq_msg good = { .topic = "t", .body = "ok", .body_len = 2, .attempt = 1 };
    imi_mq_msg lies[7];
    for (int i = 0; i < 7; i++)
        lies[i] = good;
    lies[1].topic = NULL;
    lies[2].body = NULL, lies[2].body_len = 5;
    lies[3].key = NULL, lies[3].key_len = 3;
    lies[4].headers = NULL, lies[4].n_headers = 2;
    lies[5].headers = &nameless, lies[5].n_headers = 1;
    lies[6].headers = &valueless, lies[6].n_headers = 1;
    FILE *f = fopen(s->st->report, "w");
    for (int i = 0; i < 7; i++) {
        int rc = s->deliver(s->core_sub, i == 0 ? NULL : &lies[i]);
        if (f)
            fprintf(f, "%d\n", rc);
    }
    int rc = s->deliver(s->core_sub, &good);
    if (f) {
        fprintf(f, "%d\n", rc);
        fclose(f);
    }
    return NULL;
}

static int s_open(void *st, void *sub, const imi_ctx *ctx, const imi_mq_sub_spec *spec,
                  imi_mq_deliver_fn deliver, void *core_sub)
{
    (void)ctx;
    (void)spec;
    liar_sub *s = sub;
    *s = (liar_sub){ .st = st, .deliver = deliver, .core_sub = core_sub };
    s->started = pthread_create(&s->thread, NULL, deliveries, s) == 0;
    return s->started ? IMI_OK : IMI_ENOMEM;
}

static void s_close(void *st, void *sub)
{
    (void)st;
    liar_sub *s = sub;
    if (s->started)
        pthread_join(s->thread, NULL);
}

static const imi_mq_producer_ops liar_producer = {
    .size = sizeof(imi_mq_producer_ops),
    .p_publish = l_publish,
};

static const imi_mq_sub_ops liar_subs = {
    .size = sizeof(imi_mq_sub_ops),
    .s_state_size = sizeof(liar_sub),
    .s_open = s_open,
    .s_close = s_close,
};

static const imi_mq_driver liar_vtable = {
    .size = sizeof(imi_mq_driver),
    .open = l_open,
    .close = l_close,
    .ping = l_ping,
    .producer = &liar_producer,
    .sub = &liar_subs,
};

static const imi_driver_desc liar_desc = {
    .size = sizeof(imi_driver_desc),
    .abi_major = IMI_ABI_MAJOR,
    .abi_minor = IMI_ABI_MINOR,
    .kind = IMI_KIND_MQ,
    .name = "liar",
    .version = "0.0.1",
    .description = "an mq driver whose deliveries break the contract (tests)",
    .options = liar_options,
    .n_options = 1,
    .state_size = sizeof(liar),
    .vtable = &liar_vtable,
};

IMI_DRIVER_DEFINE(liar_desc)
