/* imi check [-c FILE]: parse the config, then open and ping every component in it. Each
 * component is checked in a child process, so a driver that crashes or hangs in its open
 * fails that component only, with the signal or the time it took. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "components.h"

#define CHECK_TIMEOUT_S 60

static int timeout_s = CHECK_TIMEOUT_S;

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

/* Runs check_one in a child; a crash or a hang is that component's failure. */
static int check_isolated(imi_app *app, const char *section, const cli_component *comp,
                          const char *name)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return check_one(app, section, comp, name);
    if (pid == 0) {
        int failed = check_one(app, section, comp, name);
        fflush(stdout);
        _exit(failed);
    }
    int status = 0;
    for (int waited_ms = 0;; waited_ms += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (waited_ms >= timeout_s * 1000) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            printf("FAIL [%s] open + ping timed out after %d s (the driver hangs)\n", section,
                   timeout_s);
            return 1;
        }
        struct timespec ts = { 0, 10 * 1000000 };
        nanosleep(&ts, NULL);
    }
    if (WIFSIGNALED(status)) {
        printf("FAIL [%s] the driver crashed during open or ping: killed by %s\n", section,
               sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "a signal");
        return 1;
    }
    return WEXITSTATUS(status) != 0;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    const char *path = cli_take_config(&imi_cmd_check, &argc, argv, &bad);
    const char *timeout = cli_take_opt(&argc, argv, "--timeout", &bad);
    if (bad || argc > 1)
        return cli_usage(&imi_cmd_check, "unexpected argument");
    if (timeout) {
        char *end;
        long t = strtol(timeout, &end, 10);
        if (*end || t < 1 || t > 3600)
            return cli_usage(&imi_cmd_check, "--timeout takes whole seconds from 1 to 3600");
        timeout_s = (int)t;
    }
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
        failures += check_isolated(app, section, comp, name);
        checked++;
    }
    imi_app_close(app);
    printf("%d component(s) checked, %d failed\n", checked, failures);
    return failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

const imi_cmd imi_cmd_check = {
    .name = "check",
    .summary = "parse the config, load every driver, open and ping every component",
    .usage = "usage: imi check [-c FILE] [--timeout SECONDS]\n"
             "  Exits 0 when every component opened and answered ping, 1 otherwise. Each\n"
             "  component is checked in a child process: a driver that crashes fails with the\n"
             "  signal, one that hangs past --timeout (default 60) fails as timed out.\n",
    .run = run,
};
