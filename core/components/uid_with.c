/* imi_uid_open_with: a generator whose worker id is taken through a coord handle the
 * application already holds (the Go guide's uid.New(ctx, coordProvider, name)).
 *
 * It lives beside uid_open.c rather than in it: the same [uid] keys are read, but the
 * handle is borrowed, never opened or freed here. */
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

typedef struct borrowed {
    imi_coord *coord;                /* the application's; outlives the generator */
    imi_coord_instance_id *held;
    imi_uid *uid;
    char service[136];
    int64_t timeout_ms;
} borrowed;

static void bw_lost(void *ud)
{
    borrowed *bw = ud;
    if (bw->uid)
        imi_uid_worker_lost(bw->uid);
}

static int bw_acquire(void *ud, int *worker)
{
    borrowed *bw = ud;
    imi_ctx *ctx = imi_ctx_new(bw->timeout_ms);
    int64_t id = -1;
    int rc = ctx ? imi_coord_instance_id_acquire(bw->coord, ctx, bw->service, IMI_UID_MAX_WORKER,
                                                 &id, &bw->held)
                 : imi_error_set(IMI_ENOMEM, 0, "out of memory");
    imi_ctx_free(ctx);
    if (rc)
        return rc;
    imi_coord_instance_id_on_lost(bw->held, bw_lost, bw);
    *worker = (int)id;
    return IMI_OK;
}

static int bw_check(void *ud)
{
    borrowed *bw = ud;
    imi_ctx *ctx = imi_ctx_new(bw->timeout_ms);
    int rc = ctx ? imi_coord_instance_id_held(bw->held, ctx) : IMI_ENOMEM;
    imi_ctx_free(ctx);
    return rc;
}

static void bw_release(void *ud)
{
    borrowed *bw = ud;
    imi_ctx *ctx = imi_ctx_new(bw->timeout_ms);
    imi_coord_instance_id_release(bw->held, ctx);
    imi_ctx_free(ctx);
    bw->held = NULL;
}

/* epoch: "YYYY-MM-DD" (UTC) or unix ms, as imi_uid_open reads it. */
static int read_epoch(const imi_settings *s, int64_t *out)
{
    int line, y, m, d;
    char tail;
    const char *v = imi_settings_get(s, "epoch", &line);
    if (!v)
        return IMI_OK;
    if (sscanf(v, "%d-%d-%d%c", &y, &m, &d, &tail) == 3 && y >= 1970 && m >= 1 && m <= 12 &&
        d >= 1 && d <= 31) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
        *out = (int64_t)timegm(&tm) * 1000;
    } else if (imi_parse_int(v, out) || *out < 0) {
        return imi_settings_error(s, line, "epoch = '%s' is not YYYY-MM-DD or unix ms", v);
    }
    if (*out > imi_now_real_ns() / 1000000)
        return imi_settings_error(s, line, "epoch = '%s' is in the future", v);
    return IMI_OK;
}

/* [uid] / [uid.NAME] without the keys that choose the worker id source. */
static int read_settings(const imi_config *cfg, const char *section, imi_uid_options *o,
                         int64_t *timeout_ms, char *service, size_t service_size,
                         const char *dflt_service)
{
    static const char *const keys[] = { "epoch", "worker_id", "coord", "service",
                                        "max_clock_back", "timeout", NULL };
    imi_settings s;
    int rc = imi_settings_from_config(&s, cfg, "uid", section);
    if (rc)
        return rc;
    int line;
    rc = imi_settings_check(&s, keys, NULL);
    if (!rc && imi_settings_get(&s, "worker_id", &line))
        rc = imi_settings_error(&s, line, "worker_id is set, but imi_uid_open_with takes the "
                                "worker id from the coord handle given; remove one of them");
    if (!rc)
        rc = read_epoch(&s, &o->epoch_ms);
    if (!rc)
        rc = imi_settings_duration_ms(&s, "max_clock_back", &o->max_clock_back_ms);
    if (!rc)
        rc = imi_settings_duration_ms(&s, "timeout", timeout_ms);
    const char *v = imi_settings_get(&s, "service", NULL);
    snprintf(service, service_size, "%s", v && *v ? v : dflt_service);
    imi_settings_free(&s);
    return rc;
}

int imi_uid_open_with(imi_app *app, const char *name, imi_coord *coord, imi_uid **out)
{
    if (!app || !coord || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_uid_open_with: app, coord and out are "
                             "required");
    *out = NULL;
    const imi_config *cfg = imi_app_config(app);
    char section[128], service[128];
    snprintf(section, sizeof section, "uid%s%s", name && *name ? "." : "", name ? name : "");
    if (name && *name && !imi_config_has_section(cfg, section))
        return imi_error_set(IMI_ECONFIG, 0, "%s: no section [%s]", imi_config_name(cfg), section);
    imi_uid_options o = imi_uid_options_default();
    int64_t timeout_ms = 5000;
    int rc = read_settings(cfg, section, &o, &timeout_ms, service, sizeof service,
                           imi_app_service(app));
    if (rc)
        return rc;
    if (!*service || strlen(service) > 120 || strchr(service, '/'))
        return imi_error_set(IMI_ECONFIG, 0, "%s: imi_uid_open_with needs a service name "
                             "without '/' ([%s] service or [service] name)",
                             imi_config_name(cfg), section);
    borrowed *bw = calloc(1, sizeof *bw);
    if (!bw)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    bw->coord = coord;
    snprintf(bw->service, sizeof bw->service, "uid-%s", service);  /* as imi_uid_open */
    bw->timeout_ms = timeout_ms > 0 ? timeout_ms : 5000;
    /* Confirmed every quarter of the handle's lease TTL, given up for issuing after half
     * of it without a confirmation: before the backend can hand the id to another. */
    int64_t ttl = coord->lease_ttl_ms;
    imi_uid_source src = { .acquire = bw_acquire, .check = bw_check, .release = bw_release,
                           .ud = bw, .check_every_ms = ttl / 4 > 0 ? ttl / 4 : 1,
                           .valid_for_ms = ttl / 2 > 0 ? ttl / 2 : 1 };
    rc = imi_uid_new_with_source(&o, &src, out);
    if (rc) {
        free(bw);
        return rc;
    }
    bw->uid = *out;
    imi_uid_set_cleanup(*out, free, bw);
    return IMI_OK;
}
