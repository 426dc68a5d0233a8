/* The imi command line: shared helpers of the subcommands. */
#ifndef IMI_TOOLS_CLI_H
#define IMI_TOOLS_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include "iminfra/iminfra.h"

/* Exit codes of every command. */
enum { IMI_EXIT_OK = 0, IMI_EXIT_ERROR = 1, IMI_EXIT_USAGE = 2, IMI_EXIT_NOTFOUND = 3 };

typedef struct imi_cmd {
    const char *name;
    const char *summary;  /* one line, for `imi --help` */
    const char *usage;    /* the full --help text */
    int (*run)(int argc, char **argv);
} imi_cmd;

/* Prints "imi: <what>: <error detail or imi_strerror(rc)>" to stderr; returns exit code 1. */
int cli_fail(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints "imi <cmd>: <msg>" and the usage line to stderr; returns exit code 2. */
int cli_usage(const imi_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* true when argv holds -h or --help (then the usage was printed to stdout). */
bool cli_wants_help(const imi_cmd *cmd, int argc, char **argv);
/* Removes "-c FILE" / "--config FILE" from argv; returns the config path (or the default)
 * or NULL after printing a usage error. */
const char *cli_take_config(const imi_cmd *cmd, int *argc, char **argv, int *usage_error);
/* Removes "--name VALUE" from argv: the value, or NULL when absent. */
const char *cli_take_opt(int *argc, char **argv, const char *name, int *usage_error);
/* Removes a flag "--name": true when it was there. */
bool cli_take_flag(int *argc, char **argv, const char *name);
/* Opens the app of a config path; prints the error and returns NULL on failure. */
imi_app *cli_open_app(const char *config_path);
/* Whether the driver of [kind] / [kind.instance] keeps its data in the process (mem, mock,
 * sqlite :memory:); cli_note_in_process then prints a one-line note on stderr saying so. */
bool cli_driver_in_process(const imi_app *app, const char *kind, const char *instance,
                           const char *driver);
void cli_note_in_process(const imi_app *app, const char *kind, const char *instance,
                         const char *driver);
/* Prints app's counters that are not zero, under a title, to out (metrics_summary.c);
 * benches under --json pass stderr, so that stdout stays JSON lines. */
void cli_print_counters(imi_app *app, const char *title, FILE *out);

extern const imi_cmd imi_cmd_version;
extern const imi_cmd imi_cmd_drivers;
extern const imi_cmd imi_cmd_check;
extern const imi_cmd imi_cmd_demo;
extern const imi_cmd imi_cmd_cache;
extern const imi_cmd imi_cmd_mq;
extern const imi_cmd imi_cmd_db;
extern const imi_cmd imi_cmd_coord;
extern const imi_cmd imi_cmd_uid;
extern const imi_cmd imi_cmd_bench;
extern const imi_cmd imi_cmd_conformance;
extern const imi_cmd imi_cmd_stats;

#endif
