/* The note a one-shot command gives when its driver keeps the data inside the process:
 * `imi cache set` then `imi cache get` on the mem driver are two processes, and the
 * second one cannot see what the first one wrote. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

bool cli_driver_in_process(const imi_app *app, const char *kind, const char *instance,
                           const char *driver)
{
    if (!driver)
        return false;
    if (!strcmp(driver, "mem") || !strcmp(driver, "mock"))
        return true;
    if (strcmp(driver, "sqlite"))
        return false;
    char section[160];
    snprintf(section, sizeof section, "%s%s%s", kind, instance && *instance ? "." : "",
             instance ? instance : "");
    const char *path = imi_config_get(imi_app_config((imi_app *)app), section, "path", NULL);
    return path && (!strcmp(path, ":memory:") || !strncmp(path, "file::memory:", 13));
}

void cli_note_in_process(const imi_app *app, const char *kind, const char *instance,
                         const char *driver)
{
    if (cli_driver_in_process(app, kind, instance, driver))
        fprintf(stderr, "imi: note: [%s%s%s] uses the in-process driver %s: what this command "
                "writes ends with it, and it sees nothing an earlier command wrote\n", kind,
                instance && *instance ? "." : "", instance ? instance : "", driver);
}
