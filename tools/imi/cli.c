/* Helpers shared by the imi subcommands: errors, usage, option parsing. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cli.h"

int cli_fail(int rc, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    const char *detail = imi_error_code() == rc && *imi_error_message() ? imi_error_message()
                                                                        : imi_strerror(rc);
    /* "uid: open [uid]" and a detail "uid: taking a worker id ...": say "uid:" once. */
    size_t word = strcspn(what, ": ");
    if (word && what[word] == ':' && !strncmp(detail, what, word + 1) && detail[word + 1] == ' ')
        detail += word + 2;
    fprintf(stderr, "imi: %s: %s (%s)\n", what, detail, imi_err_name(rc));
    return IMI_EXIT_ERROR;
}

int cli_usage(const imi_cmd *cmd, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "imi %s: %s\n%s", cmd->name, msg, cmd->usage);
    return IMI_EXIT_USAGE;
}

bool cli_wants_help(const imi_cmd *cmd, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(cmd->usage, stdout);
            return true;
        }
    }
    return false;
}

static void remove_args(int *argc, char **argv, int at, int n)
{
    memmove(&argv[at], &argv[at + n], (size_t)(*argc - at - n + 1) * sizeof *argv);
    *argc -= n;
}

const char *cli_take_opt(int *argc, char **argv, const char *name, int *usage_error)
{
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (strcmp(argv[i], name))
            continue;
        if (i + 1 >= *argc) {
            fprintf(stderr, "imi: %s needs a value\n", name);
            *usage_error = 1;
            return NULL;
        }
        const char *v = argv[i + 1];
        remove_args(argc, argv, i, 2);
        return v;
    }
    return NULL;
}

bool cli_take_flag(int *argc, char **argv, const char *name)
{
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--"))
            break;
        if (!strcmp(argv[i], name)) {
            remove_args(argc, argv, i, 1);
            return true;
        }
    }
    return false;
}

const char *cli_take_config(const imi_cmd *cmd, int *argc, char **argv, int *usage_error)
{
    (void)cmd;
    const char *path = cli_take_opt(argc, argv, "-c", usage_error);
    if (!path && !*usage_error)
        path = cli_take_opt(argc, argv, "--config", usage_error);
    if (*usage_error)
        return NULL;
    return path ? path : imi_default_config_path();
}

/* The installed example configs: beside this program when its install was moved (a
 * package unpacked elsewhere, cmake --install --prefix), as the loader finds the drivers;
 * else where the build meant to install them. */
static const char *example_config_dir(char buf[PATH_MAX])
{
    char exe[PATH_MAX];
    char *slash = realpath("/proc/self/exe", exe) ? strrchr(exe, '/') : NULL;
    if (slash) {
        *slash = '\0';
        char dir[PATH_MAX];
        if ((size_t)snprintf(dir, sizeof dir, "%s/%s", exe, IMI_EXAMPLE_CONFIG_FROM_BINDIR) <
                sizeof dir && realpath(dir, buf))
            return buf;
    }
    return IMI_EXAMPLE_CONFIG_DIR;
}

imi_app *cli_open_app(const char *config_path)
{
    imi_app *app;
    int rc = imi_app_open(config_path, &app);
    if (rc) {
        char examples[PATH_MAX];
        /* The detail already names the file (and line). */
        fprintf(stderr, "imi: %s (%s)\n", imi_error_message(), imi_err_name(rc));
        if (access(config_path ? config_path : imi_default_config_path(), R_OK))   /* not there at all: say how to name one */
            fprintf(stderr, "imi: name a config with -c FILE or $IMI_CONFIG (now %s); example "
                    "configs are installed in %s\n",
                    getenv("IMI_CONFIG") && *getenv("IMI_CONFIG") ? "set" : "unset",
                    example_config_dir(examples));
        return NULL;
    }
    return app;
}
