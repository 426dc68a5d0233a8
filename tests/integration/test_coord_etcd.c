/* etcd restarted under a watch, a registration and two locks: the watch resumes without
 * missing or repeating an event (checked by revision), the registration is there again,
 * the holder of a lock whose TTL ran out while etcd was down learns that it lost it, and
 * the holder of a long-TTL lock keeps it. Also: failover past a dead endpoint. Needs
 * tools/services.sh start etcd (the test restarts it through the same script; the data
 * folder stays, so revisions go on). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "iminfra/iminfra.h"
#include "imi_test.h"

static int services(const char *verb, const char *name)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash %s/tools/services.sh %s %s >/dev/null 2>&1",
             IMI_TEST_SOURCE_DIR, verb, name);
    return system(cmd);
}

static imi_coord *open_coord(imi_app **app, const char *endpoints)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/conformance/configs/coord_etcd.ini", IMI_TEST_SOURCE_DIR);
    imi_config *cfg = NULL;
    cr_assert_eq(imi_config_load(path, &cfg), IMI_OK, "%s", imi_error_message());
    if (endpoints)
        imi_config_set(cfg, "coord", "endpoints", endpoints);
    cr_assert_eq(imi_app_open_config(cfg, app), IMI_OK, "%s", imi_error_message());
    imi_coord *c = NULL;
    cr_assert_eq(imi_coord_open(*app, NULL, &c), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_ping(c, NULL), IMI_OK, "%s (is etcd started? tools/services.sh "
                 "start etcd)", imi_error_message());
    return c;
}

typedef struct events {
    pthread_mutex_t mu;
    int64_t revs[256];
    int types[256];
    int n, lost;
} events;

static void on_event(void *ud, const imi_coord_event *ev)
{
    events *e = ud;
    pthread_mutex_lock(&e->mu);
    if (ev->type == IMI_COORD_EVENT_LOST)
        e->lost++;
    else if (e->n < 256) {
        e->revs[e->n] = ev->meta.mod_rev;
        e->types[e->n++] = ev->type;
    }
    pthread_mutex_unlock(&e->mu);
}

static int events_count(events *e)
{
    pthread_mutex_lock(&e->mu);
    int n = e->n;
    pthread_mutex_unlock(&e->mu);
    return n;
}

/* A put that retries while etcd comes back; its revision. */
static int64_t put_retry(imi_coord *c, const char *key, const char *val)
{
    int64_t rev = 0;
    int rc = IMI_EUNAVAILABLE;
    for (int i = 0; i < 100 && rc; i++) {
        rc = imi_coord_put(c, NULL, key, val, strlen(val), &rev);
        if (rc)
            sleep_ms(100);
    }
    cr_assert_eq(rc, IMI_OK, "put %s after the restart: %s", key, imi_error_message());
    return rev;
}

static void on_lost(void *ud) { atomic_fetch_add((atomic_int *)ud, 1); }

static int count_instances(void *ud, const char *instance, const char *addr)
{
    (void)instance;
    (void)addr;
    (*(int *)ud)++;
    return 0;
}

Test(coord_etcd, restart_under_watch_registration_and_locks, .timeout = 120)
{
    imi_app *app1, *app2;
    imi_coord *c1 = open_coord(&app1, NULL), *c2 = open_coord(&app2, NULL);
    char p[96], key[200], svc[64], lk_short[160], lk_long[160];
    snprintf(p, sizeof p, "restart-%d-%llx/", (int)getpid(), (unsigned long long)imi_now_real_ns());
    snprintf(svc, sizeof svc, "svc-%d-%llx", (int)getpid(), (unsigned long long)imi_now_real_ns());
    snprintf(lk_short, sizeof lk_short, "%slock-short", p);
    snprintf(lk_long, sizeof lk_long, "%slock-long", p);

    /* Static, like the lost flags below: the watch and the locks' keepers call into them
     * from driver threads until the handles are freed, also after an assertion ended the
     * test early (on the stack, a failed assertion became a crash). */
    static events ev;
    ev = (events){ .n = 0 };
    pthread_mutex_init(&ev.mu, NULL);
    imi_coord_watch *w = NULL;
    char wp[128];
    snprintf(wp, sizeof wp, "%sdata/", p);
    cr_assert_eq(imi_coord_watch_start(c1, NULL, wp, IMI_COORD_WATCH_PREFIX, 0, on_event, &ev, &w),
                 IMI_OK, "%s", imi_error_message());
    imi_coord_registration *reg = NULL;
    cr_assert_eq(imi_coord_register(c1, NULL, svc, "r1", "127.0.0.1:7000", 2000, &reg), IMI_OK,
                 "%s", imi_error_message());
    imi_coord_lock *ls = NULL, *ll = NULL;
    static atomic_int lost_short, lost_long;
    atomic_store(&lost_short, 0);
    atomic_store(&lost_long, 0);
    cr_assert_eq(imi_coord_lock_try(c1, NULL, lk_short, 2000, 0, &ls), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_coord_lock_try(c1, NULL, lk_long, 30000, 0, &ll), IMI_OK, "%s",
                 imi_error_message());
    imi_coord_lock_on_lost(ls, on_lost, &lost_short);
    imi_coord_lock_on_lost(ll, on_lost, &lost_long);

    int64_t revs[6];
    for (int i = 0; i < 3; i++) {
        snprintf(key, sizeof key, "%sk%d", wp, i);
        revs[i] = put_retry(c2, key, "before");
    }
    int64_t t0 = now_ms();
    while (events_count(&ev) < 3 && now_ms() - t0 < 5000)
        sleep_ms(10);
    cr_assert_eq(events_count(&ev), 3, "the watch saw %d of 3 events before the restart",
                 events_count(&ev));

    /* Down for longer than the short lock's TTL. */
    cr_assert_eq(services("stop", "etcd"), 0, "stopping etcd");
    sleep_ms(3500);
    cr_assert_eq(services("start", "etcd"), 0, "starting etcd");
    /* Written at once, likely before the watch has reconnected: the resume must get them. */
    for (int i = 3; i < 6; i++) {
        snprintf(key, sizeof key, "%sk%d", wp, i);
        revs[i] = put_retry(c2, key, "after");
    }
    t0 = now_ms();
    while (events_count(&ev) < 6 && now_ms() - t0 < 15000)
        sleep_ms(20);
    sleep_ms(300); /* a repeated event would arrive now */
    pthread_mutex_lock(&ev.mu);
    int n = ev.n;
    pthread_mutex_unlock(&ev.mu);
    cr_assert_eq(n, 6, "the watch saw %d events for 6 puts across the restart", n);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(ev.revs[i], revs[i], "event %d has revision %lld, the put had %lld", i,
                     (long long)ev.revs[i], (long long)revs[i]);
    cr_assert_eq(ev.lost, 0, "the watch reported lost events");

    /* The registration is there (kept by its restored lease, or registered again). */
    int found = 0;
    t0 = now_ms();
    while (!found && now_ms() - t0 < 10000) {
        found = 0;
        imi_coord_discover(c2, NULL, svc, count_instances, &found);
        if (!found)
            sleep_ms(100);
    }
    cr_assert_eq(found, 1, "the registration did not come back");
    cr_assert_eq(imi_coord_lease_keepalive(c2, NULL, imi_coord_registration_lease(reg), NULL),
                 IMI_OK, "the registration's lease is not alive: %s", imi_error_message());

    /* The short lock could not be renewed for its whole TTL: its holder was told. */
    t0 = now_ms();
    while (!atomic_load(&lost_short) && now_ms() - t0 < 5000)
        sleep_ms(20);
    cr_assert_eq(atomic_load(&lost_short), 1, "the short lock's holder was not told it lost it");
    cr_assert_eq(imi_coord_lock_held(ls, NULL), IMI_ECONFLICT);
    cr_assert_eq(imi_coord_unlock(ls, NULL), IMI_ECONFLICT);
    /* The long one outlived the outage. */
    cr_assert_eq(atomic_load(&lost_long), 0, "the long lock was reported lost");
    cr_assert_eq(imi_coord_lock_held(ll, NULL), IMI_OK, "%s", imi_error_message());
    cr_assert_eq(imi_coord_unlock(ll, NULL), IMI_OK, "%s", imi_error_message());

    imi_coord_watch_cancel(w);
    cr_assert_eq(imi_coord_deregister(reg, NULL), IMI_OK, "%s", imi_error_message());
    int64_t ndel = 0;
    imi_coord_del_prefix(c2, NULL, p, &ndel);
    pthread_mutex_destroy(&ev.mu);
    imi_coord_free(c1);
    imi_coord_free(c2);
    imi_app_free(app1);
    imi_app_free(app2);
}

Test(coord_etcd, fails_over_past_a_dead_endpoint, .timeout = 60)
{
    imi_app *app;
    /* Port 1 on loopback refuses connections: the first endpoint is dead. */
    const char *live = getenv("IMI_ETCD_ENDPOINTS");
    char eps[512];
    snprintf(eps, sizeof eps, "http://127.0.0.1:1, %s", live && *live ? live : "http://127.0.0.1:12379");
    imi_coord *c = open_coord(&app, eps);
    char key[128];
    snprintf(key, sizeof key, "failover-%d-%llx", (int)getpid(), (unsigned long long)imi_now_real_ns());
    for (int i = 0; i < 5; i++)
        cr_assert_eq(imi_coord_put(c, NULL, key, "v", 1, NULL), IMI_OK, "%s", imi_error_message());
    imi_buf v = IMI_BUF_INIT;
    cr_assert_eq(imi_coord_get(c, NULL, key, &v, NULL), IMI_OK, "%s", imi_error_message());
    /* Static, like the lost flags below: the watch and the locks' keepers call into them
     * from driver threads until the handles are freed, also after an assertion ended the
     * test early (on the stack, a failed assertion became a crash). */
    static events ev;
    ev = (events){ .n = 0 };
    pthread_mutex_init(&ev.mu, NULL);
    imi_coord_watch *w = NULL;
    cr_assert_eq(imi_coord_watch_start(c, NULL, key, 0, 0, on_event, &ev, &w), IMI_OK, "%s",
                 imi_error_message());
    cr_assert_eq(imi_coord_del(c, NULL, key, NULL), IMI_OK, "%s", imi_error_message());
    int64_t t0 = now_ms();
    while (events_count(&ev) < 1 && now_ms() - t0 < 5000)
        sleep_ms(10);
    imi_coord_watch_cancel(w);
    cr_assert_eq(ev.n, 1, "the watch through the failover saw %d events", ev.n);
    pthread_mutex_destroy(&ev.mu);
    imi_buf_free(&v);
    imi_coord_free(c);
    imi_app_free(app);
}
