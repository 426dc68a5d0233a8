/* imi_uid_open and imi_uid_open_with: [uid] settings, and the worker-id source over
 * coord's instance ids, through a coord handle of its own or one the application lends
 * (the Go guide's uid.New(ctx, coordProvider, name)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/coord.h"
#include "iminfra/error.h"
#include "iminfra/uid.h"
#include "coord_internal.h"
#include "reload_internal.h"
#include "uid_internal.h"
#include "util.h"

typedef struct coord_source {
    imi_coord *coord;
    bool borrowed;                   /* the application's handle: never freed here */
    imi_coord_instance_id *held;
    imi_uid *uid;                    /* set once the generator exists */
    char service[136];
    int64_t timeout_ms;
} coord_source;

static void on_lost(void *ud)
{
    coord_source *cs = ud;
    if (cs->uid)
        imi_uid_worker_lost(cs->uid);
}

static int cs_acquire(void *ud, int *worker)
{
    coord_source *cs = ud;
    imi_ctx *ctx = imi_ctx_new(cs->timeout_ms);
    int64_t id = -1;
    int rc = ctx ? imi_coord_instance_id_acquire(cs->coord, ctx, cs->service, IMI_UID_MAX_WORKER,
                                                 &id, &cs->held)
                 : imi_error_set(IMI_ENOMEM, 0, "out of memory");
    imi_ctx_free(ctx);
    if (rc)
        return imi_error_prefix("uid: taking a worker id of service %s", cs->service);
    imi_coord_instance_id_on_lost(cs->held, on_lost, cs);
    *worker = (int)id;
    return IMI_OK;
}

static int cs_check(void *ud)
{
    coord_source *cs = ud;
    imi_ctx *ctx = imi_ctx_new(cs->timeout_ms);
    int rc = ctx ? imi_coord_instance_id_held(cs->held, ctx) : IMI_ENOMEM;
    imi_ctx_free(ctx);
    return rc;
}

static void cs_release(void *ud)
{
    coord_source *cs = ud;
    imi_ctx *ctx = imi_ctx_new(cs->timeout_ms);
    imi_coord_instance_id_release(cs->held, ctx);
    imi_ctx_free(ctx);
    cs->held = NULL;
}

/* "YYYY-MM-DD" (UTC) or unix ms. */
static int parse_epoch(const char *v, int64_t *out)
{
    int y, m, d;
    char tail;
    if (sscanf(v, "%d-%d-%d%c", &y, &m, &d, &tail) == 3) {
        /* a year past 9999 would overflow tm_year or the ms below; the caller refuses
         * any epoch later than now anyway */
        if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31)
            return IMI_EINVALID;
        struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
        *out = (int64_t)timegm(&tm) * 1000;
        return IMI_OK;
    }
    /* unix ms up to year 9999 */
    return imi_parse_int(v, out) || *out < 0 || *out > 253402300799999LL ? IMI_EINVALID : IMI_OK;
}

/* The generator's own settings: everything but where the worker id comes from. */
static int read_settings(const imi_settings *s, imi_uid_options *o)
{
    int line;
    const char *v = imi_settings_get(s, "epoch", &line);
    if (v && parse_epoch(v, &o->epoch_ms))
        return imi_settings_error(s, line, "epoch = '%s' is not a date YYYY-MM-DD from 1970-01-01 "
                                  "to today or unix ms from 0 to now", v);
    if (o->epoch_ms > imi_now_real_ns() / 1000000)
        return imi_settings_error(s, line, "epoch = '%s' is in the future", v);
    return imi_settings_duration_ms(s, "max_clock_back", &o->max_clock_back_ms);
}

static void cs_free(void *ud)
{
    coord_source *cs = ud;
    if (!cs->borrowed)
        imi_coord_free(cs->coord);
    free(cs);
}

/* lent: the application's coord handle, or NULL to open the one [uid] coord names. */
static int open_with_coord(imi_app *app, const imi_settings *s, const imi_uid_options *o,
                           int64_t timeout_ms, imi_coord *lent, imi_uid **out)
{
    const imi_config *cfg = imi_app_config(app);
    const char *coord_name = imi_settings_get(s, "coord", NULL);
    const char *service = imi_settings_get(s, "service", NULL);
    if (!service || !*service)
        service = imi_app_service(app);
    if (!*service || strlen(service) > 120 || strchr(service, '/'))
        return imi_error_set(IMI_ECONFIG, 0, "%s: [uid] needs worker_id, or a service name "
                             "without '/' ([uid] service or [service] name) to take a worker "
                             "id from coord", imi_config_name(cfg));
    coord_source *cs = calloc(1, sizeof *cs);
    if (!cs)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    snprintf(cs->service, sizeof cs->service, "uid-%s", service);
    cs->timeout_ms = timeout_ms;
    cs->coord = lent;
    cs->borrowed = lent != NULL;
    int rc = lent ? IMI_OK : imi_coord_open(app, coord_name, &cs->coord);
    if (rc) {
        free(cs);
        return imi_error_prefix("uid: the worker id comes from coord");
    }
    /* The id is confirmed every quarter of the lease TTL and given up for issuing after
     * half of it without a confirmation: before the lease can have expired at the
     * backend and been handed to another instance. */
    int64_t ttl = cs->coord->lease_ttl_ms;
    imi_uid_source src = { .acquire = cs_acquire, .check = cs_check, .release = cs_release,
                           .ud = cs, .check_every_ms = ttl / 4 > 0 ? ttl / 4 : 1,
                           .valid_for_ms = ttl / 2 > 0 ? ttl / 2 : 1 };
    rc = imi_uid_new_with_source(o, &src, out);
    if (rc) {
        cs_free(cs);
        return rc;
    }
    cs->uid = *out;
    imi_uid_set_cleanup(*out, cs_free, cs);
    return IMI_OK;
}

static int open_uid(imi_app *app, const char *name, imi_coord *lent, imi_uid **out)
{
    static const char *const keys[] = { "epoch", "worker_id", "coord", "service",
                                        "max_clock_back", "timeout", NULL };
    *out = NULL;
    const imi_config *cfg = imi_app_config(app);
    char section[128];
    snprintf(section, sizeof section, "uid%s%s", name && *name ? "." : "", name ? name : "");
    if (name && *name && !imi_config_has_section(cfg, section))
        return imi_error_set(IMI_ECONFIG, 0, "%s: no section [%s]", imi_config_name(cfg), section);
    imi_settings s;
    imi_uid_options o = imi_uid_options_default();
    int64_t worker = -1, timeout_ms = 5000;
    int rc = imi_settings_from_config(&s, cfg, "uid", section);
    if (!rc)
        rc = imi_settings_check(&s, keys, NULL);
    if (!rc)
        rc = read_settings(&s, &o);
    if (!rc)
        rc = imi_settings_int(&s, "worker_id", 0, IMI_UID_MAX_WORKER, &worker);
    int line;
    if (!rc && lent && worker >= 0 && imi_settings_get(&s, "worker_id", &line))
        rc = imi_settings_error(&s, line, "worker_id is set, but imi_uid_open_with takes the "
                                "worker id from the coord handle given; remove one of them");
    if (!rc)
        rc = imi_settings_duration_ms(&s, "timeout", &timeout_ms);
    if (!rc)
        rc = worker >= 0 ? imi_uid_new(&o, (int)worker, out)
                         : open_with_coord(app, &s, &o, timeout_ms > 0 ? timeout_ms : 5000,
                                           lent, out);
    imi_settings_free(&s);
    return rc;
}

int imi_uid_open(imi_app *app, const char *name, imi_uid **out)
{
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_uid_open: app and out are required");
    return open_uid(app, name, NULL, out);
}

int imi_uid_open_with(imi_app *app, const char *name, imi_coord *coord, imi_uid **out)
{
    if (!app || !coord || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_uid_open_with: app, coord and out are "
                             "required");
    return open_uid(app, name, coord, out);
}
