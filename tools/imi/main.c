/* imi: the command line of im-infra. Each subcommand lives in its own cmd_*.c file. */
#include <string.h>
#include "cli.h"

static const imi_cmd *const commands[] = {
    &imi_cmd_version,
    &imi_cmd_drivers,
    &imi_cmd_check,
    &imi_cmd_demo,
    &imi_cmd_cache,
    &imi_cmd_mq,
    &imi_cmd_db,
    &imi_cmd_coord,
    &imi_cmd_uid,
    &imi_cmd_bench,
    &imi_cmd_conformance,
    &imi_cmd_stats,
};

static void usage(FILE *out)
{
    fputs("usage: imi COMMAND [ARGS...]   (imi COMMAND --help for more)\n\ncommands:\n", out);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
    fputs("\nThe config is -c FILE, else $IMI_CONFIG, else config/default.ini.\n"
          "Exit codes: 0 ok, 1 error, 2 usage, 3 not found.\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return IMI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return IMI_EXIT_OK;
    }
    if (!strcmp(argv[1], "--version"))
        return imi_cmd_version.run(1, argv + 1);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i]->name))
            continue;
        if (cli_wants_help(commands[i], argc - 1, argv + 1))
            return IMI_EXIT_OK;
        return commands[i]->run(argc - 1, argv + 1);
    }
    fprintf(stderr, "imi: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return IMI_EXIT_USAGE;
}
