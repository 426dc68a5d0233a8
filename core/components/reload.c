/* reload: one coord watch over a prefix, dispatching to the logger, breakers and rate
 * limits. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "iminfra/reload.h"
#include "util.h"

struct imi_reload {
    imi_coord *coord;
    imi_coord_watch *watch;
    imi_reload_targets t;
    imi_logger *log;
    imi_log_level start_level;
    char *prefix;
    size_t plen;
    _Atomic uint64_t applied, refused;
};

/* key is relative to the prefix; value NULL for a delete. */
static void apply(imi_reload *r, const char *key, const char *value, size_t len)
{
    char origin[300];
    snprintf(origin, sizeof origin, "coord key %s%s", r->prefix, key);
    char *text = NULL;
    if (value) {
        if (!(text = malloc(len + 1)))
            return;
        memcpy(text, value, len);
        text[len] = '\0';
    }
    int rc = IMI_OK;
    bool known = true;
    if (!strcmp(key, "log/level") && r->t.logger) {
        int lvl = text ? imi_log_level_parse(text) : (int)r->start_level;
        if (lvl < 0)
            rc = imi_error_set(IMI_ECONFIG, 0, "%s: '%s' is not debug, info, warn, error or off",
                               origin, text);
        else
            imi_logger_set_level(r->t.logger, (imi_log_level)lvl);
    } else if (!strncmp(key, "breaker/", 8) && key[8] && r->t.breakers) {
        rc = imi_breaker_set_override(r->t.breakers, key + 8, text, origin);
    } else if (!strncmp(key, "ratelimit/", 10) && key[10] && r->t.ratelimit) {
        rc = imi_ratelimit_set_rule(r->t.ratelimit, key + 10, text, origin);
    } else {
        known = false;
    }
    free(text);
    if (!known)
        return;
    atomic_fetch_add(rc ? &r->refused : &r->applied, 1);
    if (r->log) {
        if (rc)
            IMI_WARN(r->log, NULL, "setting from coord refused", IMI_FSTR("key", origin + 10),
                     IMI_FSTR("error", imi_error_message()));
        else
            IMI_INFO(r->log, NULL, value ? "setting from coord applied"
                                         : "setting removed from coord: config's in force",
                     IMI_FSTR("key", origin + 10));
    }
}

static int on_kv(void *ud, const char *key, const void *val, size_t len,
                 const imi_coord_meta *meta)
{
    imi_reload *r = ud;
    (void)meta;
    if (!strncmp(key, r->prefix, r->plen))
        apply(r, key + r->plen, val, len);
    return 0;
}

static int read_all(imi_reload *r, const imi_ctx *ctx, int64_t *rev)
{
    return imi_coord_list(r->coord, ctx, r->prefix, on_kv, r, rev);
}

static void on_event(void *ud, const imi_coord_event *ev)
{
    imi_reload *r = ud;
    if (ev->type == IMI_COORD_EVENT_LOST) {
        imi_ctx *ctx = imi_ctx_new(5000);
        if (read_all(r, ctx, NULL) && r->log)
            IMI_WARN(r->log, NULL, "re-reading settings from coord failed",
                     IMI_FSTR("error", imi_error_message()));
        imi_ctx_free(ctx);
        return;
    }
    if (strncmp(ev->key, r->prefix, r->plen))
        return;
    apply(r, ev->key + r->plen, ev->type == IMI_COORD_EVENT_PUT ? ev->value : NULL,
          ev->value_len);
}

int imi_reload_start(imi_coord *c, const imi_ctx *ctx, const char *prefix,
                     const imi_reload_targets *targets, imi_logger *log, imi_reload **out)
{
    if (!c || !prefix || !targets || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_reload_start: coord, prefix, targets and "
                             "out are required");
    *out = NULL;
    imi_reload *r = calloc(1, sizeof *r);
    if (!r || !(r->prefix = strdup(prefix))) {
        free(r);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    r->coord = c;
    r->t = *targets;
    r->plen = strlen(prefix);
    imi_logger *base = log ? log : targets->logger;
    r->log = base ? imi_logger_named(base, "reload") : NULL;
    r->start_level = targets->logger ? imi_logger_level(targets->logger) : IMI_LOG_INFO;
    int64_t rev = 0;
    int rc = read_all(r, ctx, &rev);
    if (!rc)
        rc = imi_coord_watch_start(c, ctx, prefix, IMI_COORD_WATCH_PREFIX, rev + 1, on_event, r,
                             &r->watch);
    if (rc) {
        free(r->prefix);
        free(r);
        imi_error_prefix("reload: settings under %s", prefix);
        return rc;
    }
    *out = r;
    return IMI_OK;
}

void imi_reload_stop(imi_reload *r)
{
    if (!r)
        return;
    if (r->watch)
        imi_coord_watch_cancel(r->watch);
    free(r->prefix);
    free(r);
}

void imi_reload_counts(const imi_reload *r, uint64_t *applied, uint64_t *refused)
{
    if (applied)
        *applied = atomic_load(&((imi_reload *)r)->applied);
    if (refused)
        *refused = atomic_load(&((imi_reload *)r)->refused);
}
