/* imi demo [-c FILE]: every component end to end on the config's backends, printed so
 * that a newcomer sees what each one did. Each component's part is one function in
 * demo_*.c; a part whose section is absent from the config is passed over. */
#include "cli.h"
#include "demo.h"

static const demo_part parts[] = {
    { "clog", NULL, demo_clog },
    { "coord", "coord", demo_coord },
    { "mq", "mq", demo_mq },
    { "db", "db", demo_db },
    { "cache", "cache", demo_cache },
    { "uid", "uid", demo_uid },
};

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_config(&imi_cmd_demo, &argc, argv, &bad);
    if (bad || argc > 1)
        return cli_usage(&imi_cmd_demo, "unexpected argument");
    imi_app *app = cli_open_app(path);
    if (!app)
        return IMI_EXIT_ERROR;
    printf("im-infra %s demo on %s (service '%s')\n", imi_version(), path, imi_app_service(app));
    int failures = 0, ran = 0;
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (parts[i].section && !imi_config_has_section(imi_app_config(app), parts[i].section)) {
            printf("\n== %s: no [%s] section, passed over\n", parts[i].name, parts[i].section);
            continue;
        }
        printf("\n== %s\n", parts[i].name);
        fflush(stdout);
        int rc = parts[i].run(app);
        ran++;
        if (rc) {
            failures++;
            printf("   FAILED: %s (%s)\n", imi_error_message(), imi_err_name(rc));
        }
    }
    cli_print_counters(app, "counters of the demo", stdout);
    imi_app_free(app);
    printf("\n%d of %d parts ran cleanly\n", ran - failures, ran);
    return failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

const imi_cmd imi_cmd_demo = {
    .name = "demo",
    .summary = "every component end to end on the config's backends",
    .usage = "usage: imi demo [-c FILE]\n",
    .run = run,
};
