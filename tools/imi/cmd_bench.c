/* imi bench WHAT: benchmarks, each beside its baseline in the same run. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include "bench.h"
#include "bench_cmp.h"
#include "cli.h"

typedef struct bench_entry {
    const char *name;
    int (*run)(const imi_bench_opts *o);
} bench_entry;

static const bench_entry benches[] = {
    { "log", imi_bench_log },
    { "uid", imi_bench_uid },
    { "breaker", imi_bench_breaker },
    { "ratelimit", imi_bench_ratelimit },
    { "cache", imi_bench_cache },
    { "mq", imi_bench_mq },
    { "coord", imi_bench_coord },
    { "db", imi_bench_db },
    { "all", imi_bench_all },
};

/* s is a whole decimal number in lo..hi. */
static bool number_in(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end || errno == ERANGE || v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

static int run(int argc, char **argv)
{
    int bad = 0;
    imi_bench_opts o = { 0 };
    o.config_path = cli_take_config(&imi_cmd_bench, &argc, argv, &bad);
    const char *ops = cli_take_opt(&argc, argv, "--ops", &bad);
    const char *threads = cli_take_opt(&argc, argv, "--threads", &bad);
    const char *rounds = cli_take_opt(&argc, argv, "--rounds", &bad);
    o.json = cli_take_flag(&argc, argv, "--json");
    o.backends_only = cli_take_flag(&argc, argv, "--backends-only");
    if (bad || argc != 2)
        return cli_usage(&imi_cmd_bench, "name one benchmark");
    long v;
    if (ops && !number_in(ops, 1, BENCH_MAX_OPS, &v))
        return cli_usage(&imi_cmd_bench, "--ops takes 1 to %ld, not '%s'", BENCH_MAX_OPS, ops);
    o.ops = ops ? v : 0;
    if (threads && !number_in(threads, 1, BENCH_MAX_THREADS, &v))
        return cli_usage(&imi_cmd_bench, "--threads takes 1 to %d, not '%s'", BENCH_MAX_THREADS,
                         threads);
    o.threads = threads ? (int)v : 0;
    if (rounds && !number_in(rounds, 5, BENCH_MAX_ROUNDS, &v))
        return cli_usage(&imi_cmd_bench, "--rounds takes 5 to %d, not '%s'", BENCH_MAX_ROUNDS,
                         rounds);
    o.rounds = rounds ? (int)v : 5;
    for (size_t i = 0; i < sizeof benches / sizeof benches[0]; i++)
        if (!strcmp(argv[1], benches[i].name))
            return benches[i].run(&o) ? IMI_EXIT_ERROR : IMI_EXIT_OK;
    return cli_usage(&imi_cmd_bench, "unknown benchmark '%s'", argv[1]);
}

const imi_cmd imi_cmd_bench = {
    .name = "bench",
    .summary = "benchmarks: each runs im-infra and its baseline in the same run",
    .usage = "usage: imi bench [-c FILE] all|log|uid|breaker|ratelimit|cache|mq|coord|db [--ops N]\n"
             "                 [--threads T] [--rounds N] [--json] [--backends-only]\n"
             "  --rounds N  alternating im-infra/baseline rounds per comparison (5 to 64, "
             "default 5)\n"
             "  --backends-only  all: only the benches of the config's sections\n",
    .run = run,
};
