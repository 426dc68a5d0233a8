/* The redis driver's topology options refused at open with IMI_ECONFIG and a message that
 * names the option: cluster with sentinels, sentinels without master (and the reverse),
 * cluster with a db, several servers without cluster, unparseable addresses. No server is
 * needed: nothing here gets as far as connecting. */
#include <string.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"

static void expect_refused(const char *options, const char *words)
{
    char text[1024];
    snprintf(text, sizeof text, "[log]\nlevel = error\n[cache]\ndriver = redis\n%s\n", options);
    imi_config *cfg;
    cr_assert_eq(imi_config_parse(text, "t.ini", ".", &cfg), IMI_OK, "%s", imi_error_message());
    imi_app *app;
    cr_assert_eq(imi_app_open_config(cfg, &app), IMI_OK, "%s", imi_error_message());
    imi_cache *c = NULL;
    int rc = imi_cache_open(app, NULL, &c);
    cr_expect_eq(rc, IMI_ECONFIG, "[%s] opened with %s", options, imi_err_name(rc));
    cr_expect(strstr(imi_error_message(), words), "[%s]: '%s' does not say '%s'", options,
              imi_error_message(), words);
    if (c)
        imi_cache_free(c);
    imi_app_free(app);
}

Test(redis_topology_config, cluster_and_sentinels_exclude_each_other)
{
    expect_refused("cluster = true\nsentinels = 127.0.0.1:1\nmaster = m", "exclude each other");
}

Test(redis_topology_config, sentinels_need_master)
{
    expect_refused("sentinels = 127.0.0.1:1", "sentinels and master go together");
    expect_refused("master = m", "sentinels and master go together");
    expect_refused("sentinels = 127.0.0.1:1\nmaster =", "sentinels and master go together");
}

Test(redis_topology_config, cluster_has_one_db)
{
    expect_refused("cluster = true\naddr = 127.0.0.1:1\ndb = 2", "db must be 0");
}

Test(redis_topology_config, several_servers_need_cluster)
{
    expect_refused("addr = 127.0.0.1:1, 127.0.0.1:2", "set cluster = true");
}

Test(redis_topology_config, bad_addresses)
{
    expect_refused("cluster = true\naddr = 127.0.0.1:1, 127.0.0.1:x", "addr: '127.0.0.1:x'");
    expect_refused("cluster = true\naddr = 127.0.0.1:1,,127.0.0.1:2", "addr: ''");
    expect_refused("sentinels = 127.0.0.1:99999\nmaster = m", "sentinels: '127.0.0.1:99999'");
    expect_refused("addr = :6379", "is not host:port");
}
