/* imi check [-c FILE]: parse the config, then open and ping every component in it. */
#include <string.h>
#include "cli.h"
#include "components.h"

/* Splits "cache.sessions" into kind "cache" and name "sessions". */
static const cli_component *component_of(const char *section, const char **name)
{
    char kind[32];
    const char *dot = strchr(section, '.');
    size_t n = dot ? (size_t)(dot - section) : strlen(section);
    if (n >= sizeof kind)
        return NULL;
    memcpy(kind, section, n);
    kind[n] = '\0';
    *name = dot ? dot + 1 : NULL;
    return cli_component_find(kind);
}

static int check_one(imi_app *app, const char *section, const cli_component *comp,
                     const char *name)
{
    void *h = NULL;
    int64_t t0 = imi_now_mono_ns();
    int rc = comp->open(app, name, &h);
    if (rc) {
        printf("FAIL [%s] open: %s (%s)\n", section, imi_error_message(), imi_err_name(rc));
        return 1;
    }
    imi_ctx *ctx = imi_ctx_new(5000);
    rc = comp->ping(h, ctx);
    imi_ctx_free(ctx);
    double ms = (double)(imi_now_mono_ns() - t0) / 1e6;
    if (rc)
        printf("FAIL [%s] driver %s ping: %s (%s)\n", section, comp->driver_name(h),
               imi_error_message(), imi_err_name(rc));
    else
        printf("ok   [%s] driver %s (open + ping %.2f ms)\n", section, comp->driver_name(h), ms);
    comp->free(h);
    return rc != 0;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_config(&imi_cmd_check, &argc, argv, &bad);
    if (bad || argc > 1)
        return cli_usage(&imi_cmd_check, "unexpected argument");
    imi_app *app = cli_open_app(path);
    if (!app)
        return IMI_EXIT_ERROR;
    printf("ok   %s parsed\n", path);
    int failures = 0, checked = 0;
    const char *section;
    for (size_t i = 0; (section = imi_config_section(imi_app_config(app), i, NULL)); i++) {
        const char *name;
        const cli_component *comp = component_of(section, &name);
        if (!comp)
            continue;
        failures += check_one(app, section, comp, name);
        checked++;
    }
    imi_app_close(app);
    printf("%d component(s) checked, %d failed\n", checked, failures);
    return failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

const imi_cmd imi_cmd_check = {
    .name = "check",
    .summary = "parse the config, load every driver, open and ping every component",
    .usage = "usage: imi check [-c FILE]\n"
             "  Exits 0 when every component opened and answered ping, 1 otherwise.\n",
    .run = run,
};
