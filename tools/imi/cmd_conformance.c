/* imi conformance KIND DRIVER|PATH.so [-c FILE] [--case NAME] [--timeout S] [--junit FILE]:
 * the conformance suite of a kind on any driver, including one built out of tree. Every
 * case runs in its own child process (tests/conformance/isolate.c). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "conformance.h"

/* The config the cases run on: -c FILE, else the built-in default of an embedded driver,
 * else only [KIND] driver = DRIVER (enough for a driver without required options). */
static int make_config(const char *path, const char *kind, const char *driver,
                       imi_config **cfg, char *tmpdir, size_t cap)
{
    tmpdir[0] = '\0';
    if (path)
        return imi_config_load(path, cfg);
    int rc = imi_conf_default_config(kind, driver, cfg, tmpdir, cap);
    if (rc != IMI_ENOTFOUND)
        return rc;
    return imi_config_parse("[log]\nlevel = warn\n", "<conformance>", ".", cfg);
}

static int parse_timeout(const char *text, int *out)
{
    char *end;
    long v = text ? strtol(text, &end, 10) : IMI_CONF_DEFAULT_TIMEOUT_S;
    if (text && (end == text || *end || v <= 0 || v > 86400))
        return -1;
    *out = (int)v;
    return 0;
}

static int run_suite(const imi_conf_run *run, const char *path, imi_config *cfg)
{
    char why[IMI_CONF_MSG_MAX];
    if (!imi_conf_required_options(run->kind, cfg, run->timeout_s, why, sizeof why)) {
        if (strncmp(why, "needs option", 12))
            fprintf(stderr, "imi: conformance %s %s: %s\n", run->kind, run->driver, why);
        else if (path)
            fprintf(stderr, "imi: conformance %s %s: %s: [%s] %s\n", run->kind, run->driver,
                    path, run->kind, why);
        else
            fprintf(stderr, "imi: conformance %s %s: the driver %s in [%s]: pass -c FILE\n",
                    run->kind, run->driver, why, run->kind);
        return IMI_EXIT_ERROR;
    }
    int failures = imi_conf_run_all(run, cfg);
    return failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_opt(&argc, argv, "-c", &bad);
    const char *only = cli_take_opt(&argc, argv, "--case", &bad);
    const char *timeout = cli_take_opt(&argc, argv, "--timeout", &bad);
    const char *junit = cli_take_opt(&argc, argv, "--junit", &bad);
    if (bad || argc != 3)
        return cli_usage(&imi_cmd_conformance, "needs KIND and DRIVER");
    imi_conf_run r = { .kind = argv[1], .driver = argv[2], .only_case = only,
                       .junit_path = junit, .out = stdout };
    if (parse_timeout(timeout, &r.timeout_s))
        return cli_usage(&imi_cmd_conformance, "--timeout %s: not a number of seconds", timeout);
    if (!imi_conf_suite_find(r.kind))
        return cli_usage(&imi_cmd_conformance, "no suite for kind '%s' (cache, mq, db, coord)",
                         r.kind);
    const char *driver = argv[2];
    char real[PATH_MAX];
    if (strchr(driver, '/') || strstr(driver, ".so")) {
        if (!realpath(driver, real)) {
            fprintf(stderr, "imi: driver file %s not found\n", driver);
            return IMI_EXIT_NOTFOUND;
        }
        driver = real;
    }
    imi_config *cfg = NULL;
    char tmpdir[PATH_MAX];
    int rc = make_config(path, r.kind, driver, &cfg, tmpdir, sizeof tmpdir);
    if (rc)
        return cli_fail(rc, "config %s", path ? path : "<conformance>");
    if ((rc = imi_config_set(cfg, r.kind, "driver", driver))) {
        imi_config_free(cfg);
        imi_conf_default_cleanup(tmpdir);
        return cli_fail(rc, "config");
    }
    int code = run_suite(&r, path, cfg);
    imi_config_free(cfg);
    imi_conf_default_cleanup(tmpdir);
    return code;
}

const imi_cmd imi_cmd_conformance = {
    .name = "conformance",
    .summary = "run the conformance suite of a kind on a driver (by name or .so path)",
    .usage = "usage: imi conformance KIND DRIVER|PATH.so [-c FILE] [--case NAME]\n"
             "                       [--timeout SECONDS] [--junit FILE]\n"
             "  KIND is cache, mq, db or coord. FILE supplies the driver's options in its\n"
             "  [KIND] section; DRIVER replaces its driver. Without -c, the embedded drivers\n"
             "  (cache mem, mq mem, coord mem, db sqlite on a temporary file) run on a\n"
             "  built-in config. Every case runs in its own process and fails alone when it\n"
             "  crashes or runs past --timeout (default 60). --case runs one case (exact\n"
             "  name); --junit writes a JUnit XML report. Exits 1 when a case fails.\n",
    .run = run,
};
