/* imi demo: coord. A service registry (register, discover, resolve), the config center
 * (a watch on a prefix seeing puts and a delete) and a lock taken by two holders. */
#include <stdio.h>
#include <string.h>
#include "demo.h"

#define SERVICE "im-gateway"
#define CONF_PREFIX "config/im-gateway/"
#define CONF_KEY CONF_PREFIX "max_conns"
#define LOCK_KEY "locks/nightly-report"
#define MAX_EVENTS 8

/* ---- service registry ------------------------------------------------------------------ */

static int print_instance(void *ud, const char *instance, const char *addr)
{
    int *n = ud;
    (*n)++;
    demo_say("  discovered %s at %s", instance, addr);
    return 0;
}

static int registry(imi_coord *c, const imi_ctx *ctx)
{
    static const struct { const char *instance, *addr; } gw[] = {
        { "gw-1", "127.0.0.1:7001" },
        { "gw-2", "127.0.0.1:7002" },
    };
    imi_coord_registration *reg[2] = { NULL, NULL };
    imi_buf addr = IMI_BUF_INIT;
    int rc = IMI_OK, found = 0;
    for (int i = 0; i < 2 && !rc; i++) {
        rc = imi_coord_register(c, ctx, SERVICE, gw[i].instance, gw[i].addr, 0, &reg[i]);
        if (!rc)
            demo_say("registered %s instance %s at %s (under a lease the keeper renews)",
                     SERVICE, gw[i].instance, gw[i].addr);
    }
    if (!rc) {
        demo_say("discover %s:", SERVICE);
        rc = imi_coord_discover(c, ctx, SERVICE, print_instance, &found);
    }
    if (!rc && found != 2)
        rc = demo_fail("discover found %d instances of %s, not 2", found, SERVICE);
    if (!rc)
        demo_say("resolve %s four times (round-robin over the live instances):", SERVICE);
    int seen[2] = { 0, 0 };
    for (int i = 0; i < 4 && !rc; i++) {
        if ((rc = imi_coord_resolve(c, ctx, SERVICE, &addr)))
            break;
        demo_say("  resolve -> %s", addr.data);
        for (int k = 0; k < 2; k++)
            seen[k] += !strcmp(addr.data, gw[k].addr);
    }
    if (!rc && (seen[0] != 2 || seen[1] != 2))
        rc = demo_fail("resolve gave gw-1 %d and gw-2 %d times out of 4", seen[0], seen[1]);
    for (int i = 0; i < 2; i++) {
        if (!reg[i])
            continue;
        int drc = imi_coord_deregister(reg[i], ctx);
        if (!rc)
            rc = drc;
    }
    if (!rc)
        demo_say("deregistered both instances");
    imi_buf_free(&addr);
    return rc;
}

/* ---- config center --------------------------------------------------------------------- */

typedef struct seen_event {
    imi_coord_event_type type;
    char key[96];
    char value[32];
    int64_t mod_rev, version;
} seen_event;

typedef struct watch_log {
    demo_sync sync;
    seen_event ev[MAX_EVENTS];
    int n;
} watch_log;

static void on_event(void *ud, const imi_coord_event *ev)
{
    watch_log *w = ud;
    pthread_mutex_lock(&w->sync.mu);
    if (w->n < MAX_EVENTS) {
        seen_event *s = &w->ev[w->n];
        s->type = ev->type;
        snprintf(s->key, sizeof s->key, "%s", ev->key);
        snprintf(s->value, sizeof s->value, "%.*s", (int)ev->value_len,
                 (const char *)ev->value);
        s->mod_rev = ev->meta.mod_rev;
        s->version = ev->meta.version;
    }
    w->n++;
    demo_sync_signal(&w->sync);
    pthread_mutex_unlock(&w->sync.mu);
}

static const char *event_name(imi_coord_event_type t)
{
    return t == IMI_COORD_EVENT_PUT ? "PUT" : t == IMI_COORD_EVENT_DELETE ? "DELETE" : "LOST";
}

/* The events the watch must have seen: two puts and the delete, at the revisions the
 * writes returned. */
static int check_events(const watch_log *w, const int64_t rev[3])
{
    static const imi_coord_event_type want[3] = {
        IMI_COORD_EVENT_PUT, IMI_COORD_EVENT_PUT, IMI_COORD_EVENT_DELETE
    };
    static const char *const value[3] = { "100", "250", "" };
    if (w->n != 3)
        return demo_fail("the watch saw %d events, not 3", w->n);
    for (int i = 0; i < 3; i++)
        if (w->ev[i].type != want[i] || w->ev[i].mod_rev != rev[i] ||
            strcmp(w->ev[i].key, CONF_KEY) || strcmp(w->ev[i].value, value[i]))
            return demo_fail("watch event %d is %s %s rev %lld, not %s rev %lld", i + 1,
                             event_name(w->ev[i].type), w->ev[i].key,
                             (long long)w->ev[i].mod_rev, event_name(want[i]),
                             (long long)rev[i]);
    return IMI_OK;
}

static int config_center(imi_coord *c, const imi_ctx *ctx)
{
    watch_log w = { .n = 0 };
    demo_sync_init(&w.sync);
    imi_coord_watch *watch = NULL;
    int64_t rev[3] = { 0, 0, 0 };
    int rc = imi_coord_watch_start(c, ctx, CONF_PREFIX, IMI_COORD_WATCH_PREFIX, 0, on_event,
                                   &w, &watch);
    if (!rc) {
        demo_say("watching the prefix %s", CONF_PREFIX);
        rc = imi_coord_put(c, ctx, CONF_KEY, "100", 3, &rev[0]);
    }
    if (!rc) {
        demo_say("put    %s = 100 (revision %lld)", CONF_KEY, (long long)rev[0]);
        rc = imi_coord_put(c, ctx, CONF_KEY, "250", 3, &rev[1]);
    }
    if (!rc) {
        demo_say("put    %s = 250 (revision %lld)", CONF_KEY, (long long)rev[1]);
        rc = imi_coord_del(c, ctx, CONF_KEY, &rev[2]);
    }
    if (!rc) {
        demo_say("delete %s (revision %lld)", CONF_KEY, (long long)rev[2]);
        /* Events come on the driver's thread: wait for the three, bounded. */
        int64_t deadline = imi_now_mono_ns() + 5000000000LL;
        pthread_mutex_lock(&w.sync.mu);
        while (w.n < 3 && demo_sync_wait(&w.sync, deadline)) {
        }
        pthread_mutex_unlock(&w.sync.mu);
    }
    int crc = watch ? imi_coord_watch_cancel(watch) : IMI_OK;
    if (!rc)
        rc = crc;
    if (!rc) {
        /* Cancelled: no callback runs any more, w is ours alone. */
        demo_say("the watch saw, in order:");
        for (int i = 0; i < w.n && i < MAX_EVENTS; i++) {
            const seen_event *e = &w.ev[i];
            if (e->type == IMI_COORD_EVENT_PUT)
                demo_say("  rev %-6lld PUT    %s = %s (version %lld)", (long long)e->mod_rev,
                         e->key, e->value, (long long)e->version);
            else
                demo_say("  rev %-6lld %-6s %s", (long long)e->mod_rev, event_name(e->type),
                         e->key);
        }
        rc = check_events(&w, rev);
    }
    demo_sync_destroy(&w.sync);
    return rc;
}

/* ---- lock ------------------------------------------------------------------------------ */

static int lock_demo(imi_coord *c, imi_coord *other, const imi_ctx *ctx)
{
    imi_coord_lock *mine = NULL, *theirs = NULL;
    int rc = imi_coord_lock_try(c, ctx, LOCK_KEY, 0, 0, &mine);
    if (rc)
        return rc;
    demo_say("holder A took the lock %s", LOCK_KEY);
    rc = imi_coord_lock_try(other, ctx, LOCK_KEY, 0, 0, &theirs);
    demo_say("holder B tries it too -> %s", imi_err_name(rc));
    if (rc == IMI_OK) {
        imi_coord_unlock(theirs, ctx);
        rc = demo_fail("a second holder took a lock that was held");
    } else if (rc == IMI_ECONFLICT) {
        rc = IMI_OK;
    }
    int urc = imi_coord_unlock(mine, ctx);
    if (!rc && !(rc = urc))
        demo_say("holder A unlocked it");
    if (!rc && !(rc = imi_coord_lock_try(other, ctx, LOCK_KEY, 0, 0, &theirs))) {
        demo_say("holder B tries again -> IMI_OK; it unlocks");
        rc = imi_coord_unlock(theirs, ctx);
    }
    return rc;
}

int demo_coord(imi_app *app)
{
    imi_coord *c = NULL, *other = NULL;
    int rc = imi_coord_open(app, NULL, &c);
    if (rc)
        return rc;
    /* A second handle stands for another process: a lock is held per handle. */
    if ((rc = imi_coord_open(app, NULL, &other))) {
        imi_coord_free(c);
        return rc;
    }
    demo_say("opened [coord] on driver '%s'", imi_coord_driver_name(c));
    imi_ctx *ctx = imi_ctx_new(10000);
    demo_say("-- service registry");
    rc = registry(c, ctx);
    if (!rc) {
        demo_say("-- config center");
        rc = config_center(c, ctx);
    }
    if (!rc) {
        demo_say("-- lock");
        rc = lock_demo(c, other, ctx);
    }
    imi_ctx_free(ctx);
    imi_coord_free(other);
    imi_coord_free(c);
    return rc;
}
