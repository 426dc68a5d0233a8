/* The etcd driver's auth token outliving etcd's memory of it (started by
 * coord_etcd_tls_auth.sh with --auth-token-ttl 2, over https with auth on): a put after
 * the token expired succeeds (the driver authenticates again and resends), and a watch
 * whose stream breaks (its member restarted) resumes with a new token on another member,
 * missing and repeating nothing.
 *   etcd_token_renewal CONFIG CLUSTER_SCRIPT */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/iminfra.h"

static int failures;

#define CHECK(cond, ...)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                      \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
            failures++;                                                               \
        }                                                                             \
    } while (0)

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep(&ts, NULL);
}

typedef struct events {
    pthread_mutex_t mu;
    int64_t revs[64];
    int n, lost;
} events;

static void on_event(void *ud, const imi_coord_event *ev)
{
    events *e = ud;
    pthread_mutex_lock(&e->mu);
    if (ev->type == IMI_COORD_EVENT_LOST)
        e->lost++;
    else if (e->n < 64)
        e->revs[e->n++] = ev->meta.mod_rev;
    pthread_mutex_unlock(&e->mu);
}

static int wait_events(events *e, int n, int ms)
{
    int got = 0;
    for (int i = 0; i < ms / 20; i++) {
        pthread_mutex_lock(&e->mu);
        got = e->n;
        pthread_mutex_unlock(&e->mu);
        if (got >= n)
            break;
        sleep_ms(20);
    }
    return got;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG CLUSTER_SCRIPT\n", argv[0]);
        return 2;
    }
    imi_app *app;
    imi_coord *c = NULL;
    if (imi_app_open(argv[1], &app) != IMI_OK || imi_coord_open(app, NULL, &c) != IMI_OK) {
        fprintf(stderr, "FAIL: opening coord on %s: %s\n", argv[1], imi_error_message());
        return 1;
    }
    int64_t revs[3] = { 0 };
    CHECK(imi_coord_put(c, NULL, "tok/1", "a", 1, &revs[0]) == IMI_OK, "first put: %s",
          imi_error_message());
    events ev = { .n = 0 };
    pthread_mutex_init(&ev.mu, NULL);
    imi_coord_watch *w = NULL;
    CHECK(imi_coord_watch_start(c, NULL, "tok/", IMI_COORD_WATCH_PREFIX, revs[0], on_event, &ev,
                                &w) == IMI_OK, "watch: %s", imi_error_message());

    /* idle past the token's TTL: etcd forgets it */
    sleep_ms(3500);
    CHECK(imi_coord_put(c, NULL, "tok/2", "b", 1, &revs[1]) == IMI_OK,
          "put after the token expired: %s", imi_error_message());
    imi_buf v = IMI_BUF_INIT;
    CHECK(imi_coord_get(c, NULL, "tok/2", &v, NULL) == IMI_OK && v.len == 1,
          "get after the token expired: %s", imi_error_message());
    imi_buf_free(&v);
    printf("a put and a get after the token expired: ok\n");

    /* the watch's stream breaks: member 1 (the first endpoint) restarts; the stream comes
     * back on another member, whose answer to the expired token is a refusal */
    sleep_ms(2500);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash %s kill 1 && bash %s restart 1", argv[2], argv[2]);
    CHECK(system(cmd) == 0, "restarting member 1");
    CHECK(imi_coord_put(c, NULL, "tok/3", "c", 1, &revs[2]) == IMI_OK, "put after the restart: %s",
          imi_error_message());
    int got = wait_events(&ev, 3, 10000);
    CHECK(got == 3, "the watch saw %d of 3 events", got);
    for (int i = 0; i < got && i < 3; i++)
        CHECK(ev.revs[i] == revs[i], "event %d: revision %lld, not %lld", i,
              (long long)ev.revs[i], (long long)revs[i]);
    CHECK(ev.lost == 0, "lost markers: %d", ev.lost);
    printf("the watch resumed through a member restart with a new token: %d events\n", got);
    if (w)
        imi_coord_watch_cancel(w);
    imi_coord_free(c);
    imi_app_free(app);
    if (failures)
        fprintf(stderr, "%d check(s) failed\n", failures);
    return failures ? 1 : 0;
}
