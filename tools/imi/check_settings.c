/* The sections imi check validates beside the four components: each is read by the same
 * call an application makes (so the same keys, values and file:line messages), and the
 * result freed at once. [service], [log] and [drivers] are checked when the config is
 * opened; reload settings live in coord, not in the file. */
#include <string.h>
#include "check_settings.h"

static int check_uid(imi_app *app, const char *name, char *what, size_t n)
{
    imi_uid *u;
    int rc = imi_uid_open(app, name, &u);
    if (!rc) {
        int w = imi_uid_worker(u);
        snprintf(what, n, "worker id %d", w);
        imi_uid_free(u);
    }
    return rc;
}

static int check_retry(imi_app *app, const char *name, char *what, size_t n)
{
    imi_retry *r;
    int rc = imi_retry_open(app, name, &r);
    if (!rc) {
        const imi_retry_policy *p = imi_retry_get_policy(r);
        snprintf(what, n, "max_attempts %d, initial %lld ms", p->max_attempts,
                 (long long)p->initial_ms);
        imi_retry_free(r);
    }
    return rc;
}

/* imi_breaker_set_open reads every [breaker*] section at once; it runs for the first and
 * speaks for all of them (its error names the section and line at fault). */
static int check_breaker(imi_app *app, const char *name, char *what, size_t n)
{
    (void)name;
    imi_breaker_set *s;
    int rc = imi_breaker_set_open(app, &s);
    if (!rc) {
        snprintf(what, n, "every [breaker] and [breaker.NAME] section");
        imi_breaker_set_free(s);
    }
    return rc;
}

static int check_ratelimit(imi_app *app, const char *name, char *what, size_t n)
{
    imi_ratelimit *rl;
    int rc = imi_ratelimit_open(app, name, &rl);
    if (!rc) {
        snprintf(what, n, "rules parsed");
        imi_ratelimit_free(rl);
    }
    return rc;
}

static const cli_setting settings[] = {
    { .kind = "uid", .check = check_uid },
    { .kind = "retry", .check = check_retry },
    { .kind = "breaker", .check = check_breaker, .once = true },
    { .kind = "ratelimit", .check = check_ratelimit },
};

const cli_setting *cli_setting_find(const char *kind)
{
    for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
        if (!strcmp(settings[i].kind, kind))
            return &settings[i];
    return NULL;
}
