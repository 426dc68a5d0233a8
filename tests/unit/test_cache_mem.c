/* The mem cache driver's own behaviour beyond the conformance suite: LRU eviction under
 * max_entries and max_bytes, and the background sweeper. */
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

static imi_app *app;

static imi_cache *open_mem(const char *options)
{
    char text[512];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[cache]\ndriver = mem\n%s", options);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "mem.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_cache *c;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_OK, "%s", imi_error_message());
    return c;
}

static void close_mem(imi_cache *c)
{
    imi_cache_free(c);
    imi_app_free(app);
}

Test(cache_mem, lru_evicts_least_recently_used)
{
    imi_cache *c = open_mem("max_entries = 3\n");
    cr_assert_eq(imi_cache_set(c, NULL, "a", "1", 1, 0), IMI_OK);
    cr_assert_eq(imi_cache_set(c, NULL, "b", "2", 1, 0), IMI_OK);
    cr_assert_eq(imi_cache_sadd(c, NULL, "c", "m", 1), IMI_OK);
    imi_buf v = IMI_BUF_INIT;
    cr_assert_eq(imi_cache_get(c, NULL, "a", &v), IMI_OK); /* a is now the most recent */
    cr_assert_eq(imi_cache_set(c, NULL, "d", "4", 1, 0), IMI_OK);
    cr_assert_eq(imi_cache_exists(c, NULL, "b"), IMI_ENOTFOUND, "b was the LRU entry");
    cr_assert_eq(imi_cache_exists(c, NULL, "a"), IMI_OK);
    cr_assert_eq(imi_cache_exists(c, NULL, "c"), IMI_OK);
    cr_assert_eq(imi_cache_exists(c, NULL, "d"), IMI_OK);
    /* replacing a value adds no entry: nothing goes */
    cr_assert_eq(imi_cache_set(c, NULL, "d", "44", 2, 0), IMI_OK);
    cr_assert_eq(imi_cache_exists(c, NULL, "a"), IMI_OK);
    imi_buf_free(&v);
    close_mem(c);
}

Test(cache_mem, max_bytes_bounds_the_data)
{
    imi_cache *c = open_mem("max_bytes = 8k\n");
    char val[1000];
    memset(val, 'x', sizeof val);
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        cr_assert_eq(imi_cache_set(c, NULL, key, val, sizeof val, 0), IMI_OK, "%s",
                     imi_error_message());
    }
    int present = 0;
    for (int i = 0; i < 40; i++) {
        char key[16];
        snprintf(key, sizeof key, "k%d", i);
        present += imi_cache_exists(c, NULL, key) == IMI_OK;
    }
    cr_assert(present >= 4 && present <= 8, "%d values of 1000 bytes kept under 8k", present);
    cr_assert_eq(imi_cache_exists(c, NULL, "k39"), IMI_OK, "the newest value was evicted");
    char big[9000] = { 0 };
    cr_assert_eq(imi_cache_set(c, NULL, "big", big, sizeof big, 0), IMI_ENOMEM);
    close_mem(c);
}

/* b is the LRU entry and a has expired: set c needs room. With the sweeper, a is gone
 * already and b stays; without it, only touching keys expires them and b is evicted. */
static bool b_survives(const char *options)
{
    imi_cache *c = open_mem(options);
    cr_assert_eq(imi_cache_set(c, NULL, "b", "2", 1, 0), IMI_OK);
    cr_assert_eq(imi_cache_set(c, NULL, "a", "1", 1, 50), IMI_OK);
    sleep_ms(250);
    cr_assert_eq(imi_cache_set(c, NULL, "c", "3", 1, 0), IMI_OK);
    bool kept = imi_cache_exists(c, NULL, "b") == IMI_OK;
    close_mem(c);
    return kept;
}

Test(cache_mem, sweeper_drops_expired_keys)
{
    cr_assert(b_survives("max_entries = 2\nsweep_interval = 20ms\n"));
    cr_assert(!b_survives("max_entries = 2\nsweep_interval = 0\n"));
}

Test(cache_mem, bad_shards_option)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[cache]\ndriver = mem\nshards = 3\n", "m.ini", ".", &cfg), IMI_OK);
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK);
    imi_cache *c;
    cr_assert_eq(imi_cache_open(app, NULL, &c), IMI_ECONFIG);
    cr_assert(strstr(imi_error_message(), "shards"), "%s", imi_error_message());
    imi_app_free(app);
}
