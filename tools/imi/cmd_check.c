/* imi check [-c FILE]: parse the config, then open and ping every component in it, and
 * read every other section ([uid], [retry], [breaker], [ratelimit]) as the application
 * would. Each is checked in a child process, so a driver that crashes or hangs in its
 * open fails that section only, with the signal or the time it took. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "cli.h"
#include "check_settings.h"
#include "components.h"

#define CHECK_TIMEOUT_S 60

static int timeout_s = CHECK_TIMEOUT_S;

/* Splits "cache.sessions" into kind "cache" and name "sessions"; false when too long. */
static bool kind_of(const char *section, char *kind, size_t size, const char **name)
{
    const char *dot = strchr(section, '.');
    size_t n = dot ? (size_t)(dot - section) : strlen(section);
    if (n >= size)
        return false;
    memcpy(kind, section, n);
    kind[n] = '\0';
    *name = dot ? dot + 1 : NULL;
    return true;
}

static int check_setting(imi_app *app, const char *section, const cli_setting *set,
                         const char *name)
{
    char what[160] = "";
    int rc = set->check(app, name, what, sizeof what);
    if (rc)
        printf("FAIL [%s] %s (%s)\n", section, imi_error_message(), imi_err_name(rc));
    else
        printf("ok   [%s] %s\n", section, what);
    return rc != 0;
}

static int check_one(imi_app *app, const char *section, const cli_component *comp,
                     const cli_setting *set, const char *name)
{
    if (set)
        return check_setting(app, section, set, name);
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
                          const cli_setting *set, const char *name)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return check_one(app, section, comp, set, name);
    if (pid == 0) {
        int failed = check_one(app, section, comp, set, name);
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
    printf("ok   [service] [log] [drivers] read\n");
    int failures = 0, checked = 0, other_failures = 0, others = 0;
    const cli_setting *done[8];
    size_t n_done = 0;
    const char *section;
    for (size_t i = 0; (section = imi_config_section(imi_app_config(app), i, NULL)); i++) {
        const char *name;
        char kind[32];
        if (!kind_of(section, kind, sizeof kind, &name))
            continue;
        const cli_component *comp = cli_component_find(kind);
        if (comp) {
            failures += check_isolated(app, section, comp, NULL, name);
            checked++;
            continue;
        }
        const cli_setting *set = cli_setting_find(kind);
        bool seen = false;
        for (size_t k = 0; set && k < n_done; k++)
            seen = seen || done[k] == set;
        if (!set || seen)
            continue;
        if (set->once && n_done < sizeof done / sizeof done[0])
            done[n_done++] = set;
        other_failures += check_isolated(app, set->once ? kind : section, NULL, set, name);
        others++;
    }
    imi_app_free(app);
    printf("%d component(s) checked, %d failed; %d other section(s) checked, %d failed\n",
           checked, failures, others, other_failures);
    return failures || other_failures ? IMI_EXIT_ERROR : IMI_EXIT_OK;
}

const imi_cmd imi_cmd_check = {
    .name = "check",
    .summary = "parse the config, check every section, open and ping every component",
    .usage = "usage: imi check [-c FILE] [--timeout SECONDS]\n"
             "  Exits 0 when every component opened and answered ping and every [uid],\n"
             "  [retry], [breaker] and [ratelimit] section reads as the application would read\n"
             "  it, 1 otherwise (each error names file:line). Each section is checked in a\n"
             "  child process: a driver that crashes fails with the signal, one that hangs\n"
             "  past --timeout (default 60) fails as timed out.\n",
    .run = run,
};
