/* imi bench all: every bench the config allows (the in-process ones always; cache, mq,
 * coord and db when the config has that section, cache and db also without a config, on
 * their in-process defaults), then one summary table of every comparison. */
#include <stdio.h>
#include "bench_cmp.h"
#include "cli.h"
#include "iminfra/iminfra.h"

int imi_bench_all(const imi_bench_opts *o)
{
    imi_config *cfg = NULL;
    if (o->config_path && imi_config_load(o->config_path, &cfg))
        return cli_fail(imi_error_code(), "bench all: config %s", o->config_path);
    static const struct {
        const char *name, *section;
        int (*run)(const imi_bench_opts *o);
        bool without_config;
    } all[] = {
        { "log", NULL, imi_bench_log, true },
        { "uid", NULL, imi_bench_uid, true },
        { "breaker", NULL, imi_bench_breaker, true },
        { "ratelimit", NULL, imi_bench_ratelimit, true },
        { "cache", "cache", imi_bench_cache, true },
        { "mq", "mq", imi_bench_mq, false },
        { "coord", "coord", imi_bench_coord, false },
        { "db", "db", imi_bench_db, true },
    };
    int failed = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        bool run = !all[i].section ? !o->backends_only :
                   (cfg ? imi_config_has_section(cfg, all[i].section) : all[i].without_config);
        if (!run)
            continue;
        bench_progress("%s (%zu of %zu)", all[i].name, i + 1, sizeof all / sizeof all[0]);
        if (all[i].run(o)) {
            fprintf(stderr, "imi bench all: %s failed\n", all[i].name);
            failed++;
        }
    }
    imi_config_free(cfg);
    bench_summary(o);
    return failed ? 1 : 0;
}
