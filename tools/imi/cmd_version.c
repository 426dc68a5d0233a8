/* imi version */
#include "cli.h"
#include "iminfra/driver/driver.h"

static int run(int argc, char **argv)
{
    (void)argv;
    if (argc > 1)
        return cli_usage(&imi_cmd_version, "takes no arguments");
    printf("imi %s (driver ABI %d.%d)\n", imi_version(), IMI_ABI_MAJOR, IMI_ABI_MINOR);
    return IMI_EXIT_OK;
}

const imi_cmd imi_cmd_version = {
    .name = "version",
    .summary = "print the version and the driver ABI",
    .usage = "usage: imi version\n",
    .run = run,
};
