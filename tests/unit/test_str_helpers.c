/* C-string conveniences: cache set/get of strings, mq messages from strings. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static imi_app *app_of(const char *ini)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(ini, "s.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    return app;
}

Test(str_helpers, cache_strings_round_trip)
{
    imi_app *app = app_of("[log]\nlevel = off\n[cache]\ndriver = mem\n");
    imi_cache *c;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_set_str(c, NULL, "greeting", "hello world", 0), IMI_OK);
    char *v = NULL;
    cr_assert_eq(imi_cache_get_str(c, NULL, "greeting", &v), IMI_OK, "%s", imi_error_message());
    cr_assert_str_eq(v, "hello world");
    free(v);
    cr_assert_eq(imi_cache_set_str(c, NULL, "empty", "", 0), IMI_OK);
    cr_assert_eq(imi_cache_get_str(c, NULL, "empty", &v), IMI_OK, "%s", imi_error_message());
    cr_assert_str_eq(v, "");
    free(v);
    v = (char *)1;
    cr_assert_eq(imi_cache_get_str(c, NULL, "missing", &v), IMI_ENOTFOUND);
    cr_assert_null(v);
    cr_assert_eq(imi_cache_set(c, NULL, "binary", "a\0b", 3, 0), IMI_OK);
    cr_assert_eq(imi_cache_get_str(c, NULL, "binary", &v), IMI_EINVALID);
    cr_assert(strstr(imi_error_message(), "'binary'") && strstr(imi_error_message(), "offset 1"),
              "%s", imi_error_message());
    cr_assert_null(v);
    cr_assert_eq(imi_cache_set_str(c, NULL, "k", NULL, 0), IMI_EINVALID);
    imi_cache_free(c);
    imi_app_free(app);
}

static atomic_int got;
static char got_key[32], got_body[32];

static int keep(void *ud, const imi_mq_msg *m)
{
    (void)ud;
    snprintf(got_key, sizeof got_key, "%.*s", (int)m->key_len, (const char *)m->key);
    snprintf(got_body, sizeof got_body, "%.*s", (int)m->body_len, (const char *)m->body);
    atomic_store(&got, 1);
    return IMI_OK;
}

Test(str_helpers, mq_message_from_strings)
{
    imi_mq_msg m = imi_mq_msg_str("t", "user-9", "{\"a\":1}");
    cr_assert_eq(m.key_len, 6);
    cr_assert_eq(m.body_len, 7);
    m = imi_mq_msg_str("t", NULL, "x");
    cr_assert_null(m.key);
    cr_assert_eq(m.key_len, 0);

    imi_app *app = app_of("[log]\nlevel = off\n[mq]\ndriver = mem\n");
    imi_mq *mq;
    cr_assert_eq(imi_mq_open(app, NULL, &mq), IMI_OK, "%s", imi_error_message());
    const char *topics[] = { "orders" };
    imi_mq_sub_opts o = { .group = "g", .topics = topics, .n_topics = 1 };
    imi_mq_sub *sub;
    cr_assert_eq(imi_mq_subscribe(mq, NULL, &o, keep, NULL, &sub), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_mq_publish_str(mq, NULL, "orders", "user-9", "paid"), IMI_OK, "%s",
                 imi_error_message());
    for (int i = 0; i < 400 && !atomic_load(&got); i++)
        nanosleep(&(struct timespec){ 0, 5000000 }, NULL);
    cr_assert(atomic_load(&got));
    cr_assert_str_eq(got_key, "user-9");
    cr_assert_str_eq(got_body, "paid");
    cr_assert_eq(imi_mq_publish_str(mq, NULL, "orders", NULL, NULL), IMI_EINVALID);
    imi_mq_sub_free(sub);
    imi_mq_free(mq);
    imi_app_free(app);
}
