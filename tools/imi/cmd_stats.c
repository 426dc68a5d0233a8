/* imi stats: opens the config's components, runs nothing, and prints their metrics in
 * the Prometheus text format, once or every --watch interval; --list-metrics prints the
 * table of every metric (docs/metrics.md is its --markdown output). */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "components.h"

static volatile sig_atomic_t stop;
static void on_signal(int sig) { (void)sig; stop = 1; }

/* "1s", "500ms", "2" (seconds): ms in 10..86400000, else -1. */
static long parse_interval(const char *v)
{
    char *end;
    double x = strtod(v, &end);
    if (end == v)
        return -1;
    double ms = !strcmp(end, "ms") ? x : (!*end || !strcmp(end, "s")) ? x * 1000 : -1;
    return ms >= 10 && ms <= 86400000 ? (long)ms : -1;
}

typedef struct opened {
    const cli_component *comp;
    void *h;
} opened;

/* Opens every component section; failures are reported, the rest still open. */
static size_t open_all(imi_app *app, opened *out, size_t cap, int *failures)
{
    size_t n = 0;
    const char *section;
    for (size_t i = 0; (section = imi_config_section(imi_app_config(app), i, NULL)); i++) {
        char kind[32];
        const char *dot = strchr(section, '.');
        size_t len = dot ? (size_t)(dot - section) : strlen(section);
        if (len >= sizeof kind)
            continue;
        memcpy(kind, section, len);
        kind[len] = '\0';
        const cli_component *comp = cli_component_find(kind);
        if (!comp)
            continue;
        if (n == cap) {
            fprintf(stderr, "imi stats: more than %zu components; [%s] not opened\n", cap,
                    section);
            (*failures)++;
            continue;
        }
        void *h = NULL;
        int rc = comp->open(app, dot ? dot + 1 : NULL, &h);
        if (rc) {
            fprintf(stderr, "imi stats: [%s] open: %s (%s)\n", section, imi_error_message(),
                    imi_err_name(rc));
            (*failures)++;
            continue;
        }
        out[n++] = (opened){ comp, h };
    }
    return n;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    bool list = cli_take_flag(&argc, argv, "--list-metrics");
    bool markdown = cli_take_flag(&argc, argv, "--markdown");
    const char *path = cli_take_config(&imi_cmd_stats, &argc, argv, &bad);
    const char *watch = cli_take_opt(&argc, argv, "--watch", &bad);
    const char *count_s = cli_take_opt(&argc, argv, "--count", &bad);
    if (bad || argc > 1)
        return cli_usage(&imi_cmd_stats, "unexpected argument");
    if (markdown && !list)
        return cli_usage(&imi_cmd_stats, "--markdown goes with --list-metrics");
    if (count_s && !watch)
        return cli_usage(&imi_cmd_stats, "--count goes with --watch");
    if (list)
        return imi_metrics_list(stdout, markdown) ? cli_fail(IMI_EINTERNAL, "list")
                                                 : IMI_EXIT_OK;
    long every = 0, count = watch ? 0 : 1;
    if (watch && (every = parse_interval(watch)) < 0)
        return cli_usage(&imi_cmd_stats, "--watch takes an interval from 10ms to 24h "
                         "(e.g. 1s, 500ms)");
    if (count_s) {
        char *end;
        count = strtol(count_s, &end, 10);
        if (*end || count < 1 || count > 1000000)
            return cli_usage(&imi_cmd_stats, "--count takes 1 to 1000000");
    }
    imi_app *app = cli_open_app(path);
    if (!app)
        return IMI_EXIT_ERROR;
    opened hs[64];
    int failures = 0;
    size_t n = open_all(app, hs, sizeof hs / sizeof hs[0], &failures);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    for (long i = 0; !stop && (!count || i < count); i++) {
        if (i) {
            struct timespec ts = { every / 1000, (every % 1000) * 1000000 };
            nanosleep(&ts, NULL);
            if (stop)
                break;
        }
        if (watch)
            printf("# imi stats %s at %lld ms\n", path, (long long)(imi_now_real_ns() / 1000000));
        if (imi_metrics_write(app, stdout)) {
            failures++;
            fprintf(stderr, "imi stats: %s\n", imi_error_message());
            break;
        }
        fflush(stdout);
    }
    for (size_t i = 0; i < n; i++)
        hs[i].comp->free(hs[i].h);
    imi_app_free(app);
    return failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

const imi_cmd imi_cmd_stats = {
    .name = "stats",
    .summary = "open the components and print their metrics (Prometheus text format)",
    .usage = "usage: imi stats [-c FILE] [--watch INTERVAL [--count N]]\n"
             "       imi stats --list-metrics [--markdown]\n"
             "  Opens every component of the config, runs nothing, and prints the metrics\n"
             "  imi_metrics_write writes; with --watch (1s, 500ms) again every interval until\n"
             "  interrupted or N times. With [metrics] listen set, the endpoint serves them\n"
             "  meanwhile. --list-metrics prints every metric im-infra has; --markdown as the\n"
             "  table of docs/metrics.md. Exits 1 when a component failed to open.\n",
    .run = run,
};
