/* imi conformance KIND DRIVER|PATH.so [-c FILE]: the conformance suite of a kind on any
 * driver, including one built out of tree. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "conformance.h"

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_opt(&argc, argv, "-c", &bad);
    const char *filter = cli_take_opt(&argc, argv, "--case", &bad);
    if (bad || argc != 3)
        return cli_usage(&imi_cmd_conformance, "needs KIND and DRIVER");
    const char *kind = argv[1], *driver = argv[2];
    if (!imi_conf_suite_find(kind))
        return cli_usage(&imi_cmd_conformance, "no suite for kind '%s' (cache, mq, db, coord)", kind);
    imi_config *cfg = NULL;
    int rc = path ? imi_config_load(path, &cfg)
                  : imi_config_parse("[log]\nlevel = warn\n", "<conformance>", ".", &cfg);
    if (rc)
        return cli_fail(rc, "config %s", path ? path : "<conformance>");
    char real[PATH_MAX];
    if (strchr(driver, '/') || strstr(driver, ".so")) {
        if (!realpath(driver, real)) {
            imi_config_free(cfg);
            fprintf(stderr, "imi: driver file %s not found\n", driver);
            return IMI_EXIT_NOTFOUND;
        }
        driver = real;
    }
    if ((rc = imi_config_set(cfg, kind, "driver", driver))) {
        imi_config_free(cfg);
        return cli_fail(rc, "config");
    }
    int failures = imi_conf_run_all(kind, cfg, filter, stdout);
    return failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

const imi_cmd imi_cmd_conformance = {
    .name = "conformance",
    .summary = "run the conformance suite of a kind on a driver (by name or .so path)",
    .usage = "usage: imi conformance KIND DRIVER|PATH.so [-c FILE] [--case SUBSTRING]\n"
             "  KIND is cache, mq, db or coord. FILE supplies the driver's options in its\n"
             "  [KIND] section; DRIVER replaces its driver. Exits 1 when a case fails.\n",
    .run = run,
};
