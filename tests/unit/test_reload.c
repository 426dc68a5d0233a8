/* reload: breaker policies, rate limit rules and the log level from coord, applied at
 * start and on every put, reverted on delete, bad values refused. */
#include <string.h>
#include <time.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

typedef struct world {
    imi_app *app;
    imi_coord *coord;
    imi_breaker_set *brk;
    imi_ratelimit *rl;
} world;

static void world_open(world *w)
{
    imi_config *cfg;
    cr_assert_eq(imi_config_parse("[log]\nlevel = warn\noutput = /dev/null\n[coord]\ndriver = mem\n"
                                  "[breaker]\nconsecutive_failures = 3\nfailure_ratio = 0\n"
                                  "open_for = 60s\n[ratelimit]\nrule.login = 1/h burst 2\n",
                                  "r.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_app_open_config(cfg, &w->app), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_open(w->app, NULL, &w->coord), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_breaker_set_open(w->app, &w->brk), IMI_OK);
    cr_assert_eq(imi_ratelimit_open(w->app, NULL, &w->rl), IMI_OK);
}

static void world_close(world *w)
{
    imi_ratelimit_free(w->rl);
    imi_breaker_set_free(w->brk);
    imi_coord_free(w->coord);
    imi_app_free(w->app);
}

static void put(world *w, const char *key, const char *val)
{
    cr_assert_eq(imi_coord_put(w->coord, NULL, key, val, strlen(val), NULL), IMI_OK, "%s",
                 imi_error_message());
}

static int consec(imi_breaker *b)
{
    imi_breaker_policy p;
    imi_breaker_get_policy(b, &p);
    return p.consecutive_failures;
}

static int64_t burst(imi_ratelimit *rl, const char *rule)
{
    imi_ratelimit_rule_info in;
    return imi_ratelimit_rule(rl, rule, &in) ? -1 : in.burst;
}

Test(reload, start_applies_what_is_there_then_follows_changes)
{
    world w;
    world_open(&w);
    put(&w, "cfg/svc/breaker/payments", "consecutive_failures = 9");
    put(&w, "cfg/svc/ratelimit/login", "1/h burst 5");
    put(&w, "cfg/svc/log/level", "error");
    put(&w, "cfg/other/log/level", "debug");  /* not under the prefix */
    imi_breaker *pay = imi_breaker_get(w.brk, "payments"), *db = imi_breaker_get(w.brk, "db");
    cr_assert_eq(consec(pay), 3);
    imi_reload_targets t = { imi_app_logger(w.app), w.brk, w.rl };
    imi_reload *r;
    cr_assert_eq(imi_reload_start(w.coord, NULL, "cfg/svc/", &t, NULL, &r), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(consec(pay), 9, "applied before start returns");
    cr_assert_eq(burst(w.rl, "login"), 5);
    cr_assert_eq(imi_logger_level(imi_app_logger(w.app)), IMI_LOG_ERROR);

    /* the db breaker keeps its (open) state when only payments changes */
    for (int i = 0; i < 3; i++) {
        imi_breaker_ticket tk;
        imi_breaker_enter(db, &tk);
        imi_breaker_leave(db, tk, IMI_EUNAVAILABLE);
    }
    cr_assert_eq(imi_breaker_get_state(db), IMI_BREAKER_OPEN);
    put(&w, "cfg/svc/breaker/payments", "consecutive_failures = 4");
    EVENTUALLY(consec(pay) == 4);
    cr_assert_eq(imi_breaker_get_state(db), IMI_BREAKER_OPEN);

    put(&w, "cfg/svc/ratelimit/signup", "2/s");
    EVENTUALLY(burst(w.rl, "signup") == 2);
    put(&w, "cfg/svc/log/level", "debug");
    EVENTUALLY(imi_logger_level(imi_app_logger(w.app)) == IMI_LOG_DEBUG);

    /* bad values are refused and change nothing */
    uint64_t applied, refused;
    imi_reload_counts(r, &applied, &refused);
    cr_assert_eq(refused, 0);
    put(&w, "cfg/svc/breaker/payments", "consecutive_failures = many");
    put(&w, "cfg/svc/ratelimit/login", "lots");
    put(&w, "cfg/svc/log/level", "loud");
    EVENTUALLY((imi_reload_counts(r, NULL, &refused), refused == 3));
    cr_assert_eq(consec(pay), 4);
    cr_assert_eq(burst(w.rl, "login"), 5);
    cr_assert_eq(imi_logger_level(imi_app_logger(w.app)), IMI_LOG_DEBUG);

    /* deletes go back to the config */
    cr_assert_eq(imi_coord_del(w.coord, NULL, "cfg/svc/breaker/payments", NULL), IMI_OK);
    cr_assert_eq(imi_coord_del(w.coord, NULL, "cfg/svc/ratelimit/login", NULL), IMI_OK);
    cr_assert_eq(imi_coord_del(w.coord, NULL, "cfg/svc/ratelimit/signup", NULL), IMI_OK);
    cr_assert_eq(imi_coord_del(w.coord, NULL, "cfg/svc/log/level", NULL), IMI_OK);
    EVENTUALLY(imi_logger_level(imi_app_logger(w.app)) == IMI_LOG_WARN);
    cr_assert_eq(consec(pay), 3);
    cr_assert_eq(burst(w.rl, "login"), 2);
    cr_assert_eq(burst(w.rl, "signup"), -1);
    imi_reload_stop(r);

    /* after stop, nothing more is applied */
    put(&w, "cfg/svc/breaker/payments", "consecutive_failures = 7");
    sleep_ms(50);
    cr_assert_eq(consec(pay), 3);
    world_close(&w);
}
