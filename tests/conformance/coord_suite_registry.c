/* The coord conformance suite: the service registry and instance ids. */
#include "coord_suite.h"

/* ---- registry ------------------------------------------------------------------------ */

typedef struct found {
    char names[8][64];
    char addrs[8][64];
    int n;
} found;

static int found_one(void *ud, const char *instance, const char *addr)
{
    found *f = ud;
    if (f->n < 8) {
        snprintf(f->names[f->n], sizeof f->names[0], "%s", instance);
        snprintf(f->addrs[f->n], sizeof f->addrs[0], "%s", addr);
    }
    f->n++;
    return 0;
}

void imi_conf_coord_registry_register_discover_watch(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if ((imi_coord_caps(c1) & (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) !=
        (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) {
        imi_conf_free(t, c1);
        return;
    }
    OPEN_COORD(t, c2);
    const char *svc = t->unique;
    imi_coord_registration *ra = NULL, *rb = NULL, *rc_ = NULL, *rg = NULL;
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "a", "10.0.0.1:80", 0, &ra));
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "b", "10.0.0.2:80", 0, &rb));
    CONF_OK(t, imi_coord_register(c1, NULL, svc, NULL, "10.0.0.9:80", 0, &rg));
    CONF_CHECK(t, strlen(imi_coord_registration_instance(rg)) > 0, "no generated instance name");
    CONF_OK(t, imi_coord_deregister(rg, NULL));
    found f = { .n = 0 };
    CONF_OK(t, imi_coord_discover(c2, NULL, svc, found_one, &f));
    CONF_CHECK(t, f.n == 2 && !strcmp(f.names[0], "a") && !strcmp(f.addrs[0], "10.0.0.1:80") &&
                      !strcmp(f.names[1], "b") && !strcmp(f.addrs[1], "10.0.0.2:80"),
               "discover found %d instances (%s=%s ...)", f.n, f.names[0], f.addrs[0]);
    collector col;
    collector_init(&col);
    imi_coord_watch *w = NULL;
    CONF_OK(t, imi_coord_service_watch(c2, NULL, svc, collect_service, &col, &w));
    CONF_CHECK(t, col.n == 2, "service watch reported %d live instances first", col.n);
    imi_buf addr = IMI_BUF_INIT;
    char first[64];
    CONF_OK(t, imi_coord_resolve(c2, NULL, svc, &addr));
    snprintf(first, sizeof first, "%s", addr.data);
    CONF_OK(t, imi_coord_resolve(c2, NULL, svc, &addr));
    CONF_CHECK(t, strcmp(first, addr.data) != 0, "resolve gave %s twice", first);
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "c", "10.0.0.3:80", 0, &rc_));
    CONF_OK(t, imi_coord_deregister(rb, NULL));
    int got = collector_wait(&col, 4, 5000);
    CONF_CHECK(t, got == 4 && col.ev[2].type == IMI_COORD_EVENT_PUT &&
                      !strcmp(col.ev[2].key, "c") && !strcmp(col.ev[2].val, "10.0.0.3:80") &&
                      col.ev[3].type == IMI_COORD_EVENT_DELETE && !strcmp(col.ev[3].key, "b"),
               "service watch saw %d events (3rd %d %s, 4th %d %s)", got, col.ev[2].type,
               col.ev[2].key, col.ev[3].type, col.ev[3].key);
    /* resolve follows: only a and c now. */
    int64_t t0 = now_ms();
    bool saw_b = true;
    while (saw_b && now_ms() - t0 < 3000) {
        saw_b = false;
        for (int i = 0; i < 4; i++) {
            CONF_OK(t, imi_coord_resolve(c2, NULL, svc, &addr));
            saw_b = saw_b || !strcmp(addr.data, "10.0.0.2:80");
        }
    }
    CONF_CHECK(t, !saw_b, "resolve still returns a deregistered instance");
    CONF_OK(t, imi_coord_deregister(ra, NULL));
    CONF_OK(t, imi_coord_deregister(rc_, NULL));
    t0 = now_ms();
    int rc = IMI_OK;
    while (rc == IMI_OK && now_ms() - t0 < 3000)
        rc = imi_coord_resolve(c2, NULL, svc, &addr);
    CONF_CHECK(t, rc == IMI_ENOTFOUND, "resolve with no live instance gave %s", imi_err_name(rc));
    imi_coord_watch_cancel(w);
    collector_destroy(&col);
    imi_buf_free(&addr);
    imi_conf_free(t, c2);
    imi_conf_free(t, c1);
}

void imi_conf_coord_registry_lease_loss_reregisters(imi_conf_t *t)
{
    OPEN_COORD(t, c1);
    if ((imi_coord_caps(c1) & (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) !=
        (IMI_COORD_CAP_LEASE | IMI_COORD_CAP_WATCH)) {
        imi_conf_free(t, c1);
        return;
    }
    OPEN_COORD(t, c2);
    const char *svc = t->unique;
    imi_coord_registration *r = NULL;
    CONF_OK(t, imi_coord_register(c1, NULL, svc, "x", "127.0.0.1:9", 1000, &r));
    collector col;
    collector_init(&col);
    imi_coord_watch *w = NULL;
    CONF_OK(t, imi_coord_service_watch(c2, NULL, svc, collect_service, &col, &w));
    int64_t lease = imi_coord_registration_lease(r);
    /* Another party ends the lease: the instance goes down, then comes back by itself. */
    CONF_OK(t, imi_coord_lease_revoke(c2, NULL, lease));
    int got = collector_wait(&col, 3, 8000);
    imi_coord_watch_cancel(w);
    CONF_CHECK(t, got >= 3 && col.ev[1].type == IMI_COORD_EVENT_DELETE &&
                      col.ev[2].type == IMI_COORD_EVENT_PUT && !strcmp(col.ev[2].key, "x"),
               "after the lease was revoked the watch saw %d events", got);
    CONF_CHECK(t, imi_coord_registration_lease(r) != lease, "the registration kept its old lease");
    found f = { .n = 0 };
    CONF_OK(t, imi_coord_discover(c2, NULL, svc, found_one, &f));
    CONF_CHECK(t, f.n == 1 && !strcmp(f.addrs[0], "127.0.0.1:9"), "discover found %d", f.n);
    CONF_OK(t, imi_coord_deregister(r, NULL));
    f.n = 0;
    CONF_OK(t, imi_coord_discover(c2, NULL, svc, found_one, &f));
    CONF_CHECK(t, f.n == 0, "discover found %d after deregister", f.n);
    collector_destroy(&col);
    imi_conf_free(t, c2);
    imi_conf_free(t, c1);
}

/* ---- instance ids -------------------------------------------------------------------- */

enum { ID_THREADS = 8 };

typedef struct id_racer {
    imi_app *app;
    const char *service;
    pthread_barrier_t *start;
    int rc;
    int64_t id;
    imi_coord *c;
    imi_coord_instance_id *h;
} id_racer;

static void *id_race_main(void *arg)
{
    id_racer *r = arg;
    r->rc = imi_coord_open(r->app, NULL, &r->c);
    pthread_barrier_wait(r->start);
    if (!r->rc)
        r->rc = imi_coord_instance_id_acquire(r->c, NULL, r->service, ID_THREADS - 1, &r->id, &r->h);
    return NULL;
}

void imi_conf_coord_instance_ids_unique_under_race(imi_conf_t *t)
{
    OPEN_COORD(t, c);
    if (!(imi_coord_caps(c) & IMI_COORD_CAP_LEASE)) {
        imi_conf_free(t, c);
        return;
    }
    const char *svc = t->unique;
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, ID_THREADS);
    id_racer r[ID_THREADS];
    pthread_t th[ID_THREADS];
    for (int i = 0; i < ID_THREADS; i++) {
        r[i] = (id_racer){ .app = t->app, .service = svc, .start = &start, .id = -1 };
        pthread_create(&th[i], NULL, id_race_main, &r[i]);
    }
    for (int i = 0; i < ID_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int seen[ID_THREADS] = { 0 }, failures = 0;
    for (int i = 0; i < ID_THREADS; i++) {
        if (r[i].rc || r[i].id < 0 || r[i].id >= ID_THREADS)
            failures++;
        else
            seen[r[i].id]++;
    }
    int dupes = 0;
    for (int i = 0; i < ID_THREADS; i++)
        dupes += seen[i] > 1;
    imi_coord_instance_id *extra = NULL;
    int64_t id = -1;
    int full_rc = imi_coord_instance_id_acquire(c, NULL, svc, ID_THREADS - 1, &id, &extra);
    int held_rc = r[3].h ? imi_coord_instance_id_held(r[3].h, NULL) : IMI_EINTERNAL;
    int64_t freed = r[3].id;
    int rel_rc = r[3].h ? imi_coord_instance_id_release(r[3].h, NULL) : IMI_EINTERNAL;
    r[3].h = NULL;
    int again_rc = imi_coord_instance_id_acquire(c, NULL, svc, ID_THREADS - 1, &id, &extra);
    for (int i = 0; i < ID_THREADS; i++) {
        if (r[i].h)
            imi_coord_instance_id_release(r[i].h, NULL);
        imi_coord_free(r[i].c);
    }
    CONF_CHECK(t, failures == 0, "%d of %d racers got no id (first: %s)", failures, ID_THREADS,
               imi_err_name(r[0].rc));
    CONF_CHECK(t, dupes == 0, "%d ids were handed out twice", dupes);
    CONF_CHECK(t, full_rc == IMI_ECONFLICT, "acquire with every id held gave %s",
               imi_err_name(full_rc));
    CONF_CHECK(t, held_rc == IMI_OK && rel_rc == IMI_OK, "held %s, release %s",
               imi_err_name(held_rc), imi_err_name(rel_rc));
    CONF_CHECK(t, again_rc == IMI_OK && id == freed, "after release of %lld acquire gave %s id %lld",
               (long long)freed, imi_err_name(again_rc), (long long)id);
    CONF_OK(t, imi_coord_instance_id_held(extra, NULL));
    CONF_OK(t, imi_coord_instance_id_release(extra, NULL));
    imi_conf_free(t, c);
}
