/* The local ratelimit's bucket table stays bounded: imi_ratelimit_check drops buckets once
 * they are full again, a resource that is actively limited keeps its bucket (no
 * over-grant), pinned buckets from imi_ratelimit_get stay, and free gives it all back. */
#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "ratelimit_internal.h"

static imi_app *app;

static imi_ratelimit *open_rl(const char *extra)
{
    char text[512];
    snprintf(text, sizeof text, "[log]\nlevel = off\n[ratelimit]\nrule.many = 1000/s\n"
             "rule.hot = 1/m burst 5\n%s", extra);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "r.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_ratelimit *rl;
    cr_assert_eq(imi_ratelimit_open(app, NULL, &rl), IMI_OK, "%s", imi_error_message());
    return rl;
}

static size_t heap_in_use(void) { return mallinfo2().uordblks; }

Test(ratelimit_evict, a_million_resources_stay_bounded_and_limited_ones_stay_limited)
{
    imi_ratelimit *rl = open_rl("");
    size_t base = heap_in_use(), peak = 0, peak_buckets = 0;
    /* the hot resource is limited: its 5 tokens come back one a minute */
    for (int i = 0; i < 5; i++)
        cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "user:1", 1, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "user:1", 1, NULL), IMI_ELIMITED);
    char res[32];
    for (int i = 0; i < 1000000; i++) {
        snprintf(res, sizeof res, "ip:%d", i);
        cr_assert_eq(imi_ratelimit_check(rl, NULL, "many", res, 1, NULL), IMI_OK,
                     "resource %d: %s", i, imi_error_message());
        if (i % 4096 == 0) {
            size_t used = heap_in_use() - base;
            peak = used > peak ? used : peak;
            peak_buckets = rl->n_buckets > peak_buckets ? rl->n_buckets : peak_buckets;
        }
        if (i % 100000 == 0) /* no over-grant for the resource that is actively limited */
            cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "user:1", 1, NULL), IMI_ELIMITED,
                         "the limited resource got a token after %d others", i);
    }
    cr_log_info("1,000,000 resources: peak %zu buckets, %zu KiB of heap, %llu evicted",
                peak_buckets, peak / 1024, (unsigned long long)rl->evicted);
    cr_assert_lt(peak_buckets, RL_MAX_BUCKETS_DEFAULT, "%zu buckets", peak_buckets);
    cr_assert_lt(peak, 32u << 20, "the table grew to %zu bytes", peak);
    cr_assert_gt(rl->evicted, 900000);
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "user:1", 1, NULL), IMI_ELIMITED);
    cr_assert_eq(imi_ratelimit_backend_errors(rl), 0);
    imi_ratelimit_free(rl);
    imi_app_free(app);
    cr_assert_lt(heap_in_use(), base + (1u << 20), "%zu bytes still held after free",
                 heap_in_use() - base);
}

Test(ratelimit_evict, a_full_table_of_busy_buckets_follows_on_backend_error)
{
    imi_ratelimit *rl = open_rl("max_buckets = 100\non_backend_error = closed\n");
    char res[32];
    for (int i = 0; i < 100; i++) {
        snprintf(res, sizeof res, "u%d", i);
        cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", res, 5, NULL), IMI_OK);
    }
    int64_t after = -1;
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "new", 1, &after), IMI_ELIMITED);
    cr_assert(strstr(imi_error_message(), "max_buckets = 100"), "%s", imi_error_message());
    cr_assert_eq(imi_ratelimit_backend_errors(rl), 1);
    /* the busy ones are still limited, not forgotten */
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "u7", 1, NULL), IMI_ELIMITED);
    /* a bucket handed out by imi_ratelimit_get has room regardless, and is kept */
    imi_ratelimit_bucket *b = imi_ratelimit_get(rl, "hot", "pinned");
    cr_assert_not_null(b, "%s", imi_error_message());
    cr_assert_eq(imi_ratelimit_allow_n(b, NULL, 5, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "pinned", 1, NULL), IMI_ELIMITED);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}

Test(ratelimit_evict, fail_open_lets_a_new_resource_through_when_full)
{
    imi_ratelimit *rl = open_rl("max_buckets = 10\n");
    char res[32];
    for (int i = 0; i < 10; i++) {
        snprintf(res, sizeof res, "u%d", i);
        cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", res, 1, NULL), IMI_OK);
    }
    cr_assert_eq(imi_ratelimit_check(rl, NULL, "hot", "new", 1, NULL), IMI_OK);
    cr_assert_eq(imi_ratelimit_backend_errors(rl), 1);
    cr_assert_leq(rl->n_buckets, 10);
    imi_ratelimit_free(rl);
    imi_app_free(app);
}
