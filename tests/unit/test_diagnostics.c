/* The detail of the last failure belongs to the last call: a miss (IMI_ENOTFOUND) says
 * so itself instead of showing an earlier error's message. */
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static imi_app *app;
static imi_cache *c;

static void setup(void)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[log]\nlevel = off\n[cache]\ndriver = mem\n", "d.ini", ".",
                                  &cfg), IMI_OK);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
}

static void teardown(void)
{
    imi_cache_free(c);
    imi_app_free(app);
}

/* Leaves a distinctive error behind, then checks that rc is a miss with its own detail. */
static void stale(void)
{
    cr_assert_eq(imi_cache_incr(c, NULL, "text", 1, &(int64_t){ 0 }), IMI_EINVALID);
    cr_assert_neq(imi_error_message()[0], '\0');
}

static void expect_miss(int rc, const char *what, const char *before)
{
    cr_expect_eq(rc, IMI_ENOTFOUND, "%s: %s", what, imi_err_name(rc));
    cr_expect_eq(imi_error_code(), IMI_ENOTFOUND, "%s: the detail's code is %s", what,
                 imi_err_name(imi_error_code()));
    cr_expect(strcmp(imi_error_message(), before), "%s: the detail is the earlier error's: %s",
              what, imi_error_message());
}

Test(diagnostics, a_miss_has_its_own_detail, .init = setup, .fini = teardown)
{
    cr_assert_eq(imi_cache_set(c, NULL, "text", "abc", 3, 0), IMI_OK);
    cr_assert_eq(imi_cache_hset(c, NULL, "h", "f", "v", 1), IMI_OK);
    cr_assert_eq(imi_cache_sadd(c, NULL, "s", "a", 1), IMI_OK);
    cr_assert_eq(imi_cache_zadd(c, NULL, "z", "a", 1, 1.0), IMI_OK);
    char before[512];
    imi_buf v = IMI_BUF_INIT;
    int64_t ttl;
    double score;
#define MISS(call)                                                  \
    do {                                                            \
        stale();                                                    \
        snprintf(before, sizeof before, "%s", imi_error_message()); \
        expect_miss((call), #call, before);                         \
    } while (0)
    MISS(imi_cache_get(c, NULL, "nope", &v));
    MISS(imi_cache_del(c, NULL, "nope"));
    MISS(imi_cache_exists(c, NULL, "nope"));
    MISS(imi_cache_expire(c, NULL, "nope", 1000));
    MISS(imi_cache_ttl(c, NULL, "nope", &ttl));
    MISS(imi_cache_hget(c, NULL, "h", "nofield", &v));
    MISS(imi_cache_hget(c, NULL, "noh", "f", &v));
    MISS(imi_cache_hdel(c, NULL, "h", "nofield"));
    MISS(imi_cache_srem(c, NULL, "s", "b", 1));
    MISS(imi_cache_sismember(c, NULL, "s", "b", 1));
    MISS(imi_cache_zrem(c, NULL, "z", "b", 1));
    MISS(imi_cache_zscore(c, NULL, "z", "b", 1, &score));
#undef MISS
    imi_buf_free(&v);
}
