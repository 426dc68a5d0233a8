/* imi_app: the loaded config, the root logger, and the checks of the core sections. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/app.h"
#include "iminfra/error.h"
#include "iminfra/metrics.h"
#include "loader.h"
#include "metrics.h"
#include "metrics_http.h"
#include "util.h"

struct imi_app {
    imi_config *cfg;
    imi_logger *log;
    char *log_path;
    imi_metrics_reg *metrics;    /* the open instances, for imi_metrics_write */
    imi_metrics_http *http;      /* [metrics] listen, NULL when off */
};

const char *imi_version(void) { return IMI_VERSION; }

const char *imi_default_config_path(void)
{
    const char *env = getenv("IMI_CONFIG");
    return env && *env ? env : "config/default.ini";
}

/* Sections the core knows: fixed ones, and component sections with optional ".NAME". */
static const char *const plain_sections[] = { "service", "log", "drivers", "metrics", NULL };
static const char *const component_sections[] = {
    "cache", "mq", "db", "coord", "uid", "ratelimit", "retry", "breaker", NULL
};

static bool known_section(const char *name)
{
    for (size_t i = 0; plain_sections[i]; i++)
        if (!strcmp(name, plain_sections[i]))
            return true;
    for (size_t i = 0; component_sections[i]; i++) {
        size_t n = strlen(component_sections[i]);
        if (!strncmp(name, component_sections[i], n) && (name[n] == '\0' || name[n] == '.'))
            return true;
    }
    return false;
}

static int check_sections(const imi_config *cfg)
{
    int line;
    const char *s;
    for (size_t i = 0; (s = imi_config_section(cfg, i, &line)); i++)
        if (!known_section(s))
            return imi_error_set(IMI_ECONFIG, 0, "%s:%d: unknown section [%s]; known sections: "
                                 "service, log, drivers, metrics, cache, mq, db, coord, uid, ratelimit, "
                                 "retry, breaker (components also as [KIND.NAME])",
                                 imi_config_name(cfg), line, s);
    static const char *const service_keys[] = { "name", NULL };
    static const char *const log_keys[] = { "level", "format", "output", "rotate_size",
                                            "rotate_keep", "buffer", "flush_interval",
                                            "async", "on_full", NULL };
    static const char *const drivers_keys[] = { "path", NULL };
    int rc;
    if ((rc = imi_config_check_keys(cfg, "service", service_keys, NULL)) ||
        (rc = imi_config_check_keys(cfg, "log", log_keys, NULL)) ||
        (rc = imi_config_check_keys(cfg, "drivers", drivers_keys, NULL)))
        return rc;
    return IMI_OK;
}

/* [log] buffer, flush_interval, async and on_full, range-checked with file:line. */
static int log_batching(const imi_config *cfg, imi_log_options *o)
{
    int64_t buffer = 0, interval = 200;
    int async = 0, rc, line = 0;
    if ((rc = imi_config_get_size(cfg, "log", "buffer", &buffer)) ||
        (rc = imi_config_get_duration_ms(cfg, "log", "flush_interval", &interval)) ||
        (rc = imi_config_get_bool(cfg, "log", "async", &async)))
        return rc;
    if (buffer != 0 &&
        (buffer < (int64_t)IMI_LOG_BUFFER_MIN || buffer > (int64_t)IMI_LOG_BUFFER_MAX)) {
        imi_config_get(cfg, "log", "buffer", &line);
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [log] buffer = %lld is out of range: 0 "
                             "(one write per line) or 8k .. 64M", imi_config_name(cfg), line,
                             (long long)buffer);
    }
    if (interval < IMI_LOG_FLUSH_MIN_MS || interval > IMI_LOG_FLUSH_MAX_MS) {
        imi_config_get(cfg, "log", "flush_interval", &line);
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [log] flush_interval = %lld ms is out of "
                             "range: 1ms .. 60s", imi_config_name(cfg), line,
                             (long long)interval);
    }
    const char *v = imi_config_get(cfg, "log", "on_full", &line);
    if (v && strcmp(v, "block") && strcmp(v, "drop"))
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [log] on_full = '%s' is not block or drop",
                             imi_config_name(cfg), line, v);
    o->buffer_bytes = (size_t)buffer;
    o->flush_interval_ms = interval;
    o->async = async != 0;
    o->on_full = v && !strcmp(v, "drop") ? IMI_LOG_DROP : IMI_LOG_BLOCK;
    return IMI_OK;
}

static int open_logger(imi_app *app)
{
    const imi_config *cfg = app->cfg;
    imi_log_options o = {
        .service = imi_config_get(cfg, "service", "name", NULL),
        .level = IMI_LOG_INFO,
        .format = IMI_LOG_JSON,
        .rotate_keep = 3,
    };
    int line = 0;
    const char *v = imi_config_get(cfg, "log", "level", &line);
    if (v) {
        int lvl = imi_log_level_parse(v);
        if (lvl < 0)
            return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [log] level = '%s' is not one of "
                                 "debug, info, warn, error, off", imi_config_name(cfg), line, v);
        o.level = (imi_log_level)lvl;
    }
    v = imi_config_get(cfg, "log", "format", &line);
    if (v) {
        if (!strcmp(v, "console"))
            o.format = IMI_LOG_CONSOLE;
        else if (strcmp(v, "json"))
            return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [log] format = '%s' is not json or "
                                 "console", imi_config_name(cfg), line, v);
    }
    v = imi_config_get(cfg, "log", "output", &line);
    if (v && strcmp(v, "stderr") && strcmp(v, "stdout")) {
        app->log_path = imi_path_join(imi_config_dir(cfg), v);
        if (!app->log_path)
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        v = app->log_path;
    }
    o.output = v;
    int64_t rotate = 0, keep = 3;
    int rc;
    if ((rc = imi_config_get_size(cfg, "log", "rotate_size", &rotate)) ||
        (rc = imi_config_get_int(cfg, "log", "rotate_keep", &keep)))
        return rc;
    o.rotate_bytes = (uint64_t)rotate;
    o.rotate_keep = keep > 0 ? (unsigned)keep : 1;
    if ((rc = log_batching(cfg, &o)))
        return rc;
    rc = imi_logger_open(&o, &app->log);
    if (rc)
        return imi_error_prefix("%s:%d: [log]", imi_config_name(cfg), line);
    return IMI_OK;
}

/* The client libraries under the drivers send on sockets the server may have closed (its
 * idle timeout, a restart); some write with write(2), TLS libraries with their own socket
 * writes, and there SIGPIPE's default action ends the whole process instead of failing one
 * call with EPIPE. A process that left SIGPIPE at its default gets it ignored; one with a
 * handler of its own keeps it. */
static void ignore_default_sigpipe(void)
{
    struct sigaction cur;
    if (sigaction(SIGPIPE, NULL, &cur) == 0 && !(cur.sa_flags & SA_SIGINFO) &&
        cur.sa_handler == SIG_DFL) {
        struct sigaction ign = { .sa_handler = SIG_IGN };
        sigemptyset(&ign.sa_mask);
        sigaction(SIGPIPE, &ign, NULL);
    }
}

int imi_app_open_config(imi_config *cfg, imi_app **out)
{
    static pthread_once_t sigpipe_once = PTHREAD_ONCE_INIT;
    pthread_once(&sigpipe_once, ignore_default_sigpipe);
    if (!out || !cfg) {
        imi_config_free(cfg); /* taken either way */
        return imi_error_set(IMI_EINVALID, 0, "app: %s", out ? "no config" : "no output");
    }
    *out = NULL;
    imi_app *app = calloc(1, sizeof *app);
    if (!app) {
        imi_config_free(cfg);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    app->cfg = cfg;
    int rc = check_sections(cfg);
    if (!rc)
        rc = open_logger(app);
    if (!rc && !(app->metrics = imi_metrics_reg_new()))
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if (!rc)
        rc = imi_metrics_http_from_config(app, &app->http);
    if (rc) {
        imi_app_free(app);
        return rc;
    }
    *out = app;
    return IMI_OK;
}

int imi_app_open(const char *config_path, imi_app **out)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "app: no output");
    *out = NULL;
    imi_config *cfg;
    int rc = imi_config_load(config_path ? config_path : imi_default_config_path(), &cfg);
    return rc ? rc : imi_app_open_config(cfg, out);
}

void imi_app_free(imi_app *app)
{
    if (!app)
        return;
    imi_metrics_http_stop(app->http); /* first: its thread reads the registry */
    imi_metrics_reg_free(app->metrics);
    imi_logger_free(app->log);
    imi_config_free(app->cfg);
    free(app->log_path);
    free(app);
}

const imi_config *imi_app_config(const imi_app *app) { return app ? app->cfg : NULL; }
imi_logger *imi_app_logger(imi_app *app) { return app ? app->log : NULL; }

const char *imi_app_service(const imi_app *app)
{
    const char *s = app ? imi_config_get(app->cfg, "service", "name", NULL) : NULL;
    return s ? s : "";
}

imi_metrics_reg *imi_app_metrics(imi_app *app) { return app ? app->metrics : NULL; }
int imi_metrics_port(const imi_app *app) { return app ? imi_metrics_http_port(app->http) : 0; }
