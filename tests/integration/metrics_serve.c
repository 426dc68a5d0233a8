/* The program Prometheus scrapes in integration.metrics_prometheus: opens the app of
 * argv[1] (whose [metrics] listen serves the endpoint), does known work on
 * [cache.sessions] (10 set, 7 get hits, 3 get misses), writes imi_metrics_write's text to
 * argv[2] for promtool, prints "ready", then serves until SIGTERM or argv[3] seconds. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include "iminfra/iminfra.h"

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static int fail(const char *what, int rc)
{
    fprintf(stderr, "metrics_serve: %s: %s (%s)\n", what, imi_error_message(), imi_err_name(rc));
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: metrics_serve CONFIG METRICS_OUT SECONDS\n");
        return 2;
    }
    imi_app *app = NULL;
    imi_cache *c = NULL;
    int rc = imi_app_open(argv[1], &app);
    if (rc)
        return fail("app", rc);
    if ((rc = imi_cache_open(app, "sessions", &c)))
        return fail("cache", rc);
    char key[16];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i);
        if ((rc = imi_cache_set(c, NULL, key, "v", 1, 0)))
            return fail("set", rc);
    }
    imi_buf b = { 0 };
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof key, "k%d", i < 7 ? i : 100 + i);
        rc = imi_cache_get(c, NULL, key, &b);
        if (rc != (i < 7 ? IMI_OK : IMI_ENOTFOUND))
            return fail("get", rc);
    }
    imi_buf_free(&b);
    FILE *f = fopen(argv[2], "w");
    if (!f || (rc = imi_metrics_write(app, f)) || fclose(f))
        return fail("write metrics", rc ? rc : IMI_EINTERNAL);
    printf("ready port=%d\n", imi_metrics_port(app));
    fflush(stdout);
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    long left_ms = atol(argv[3]) * 1000;
    for (; !stop && left_ms > 0; left_ms -= 50) {
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    imi_cache_free(c);
    imi_app_free(app);
    return 0;
}
