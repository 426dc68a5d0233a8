/* config/examples/<kind>-<driver>.ini: each one loads, names every option of its driver
 * at the default `imi drivers` prints, and passes the key checks of opening its section.
 * Examples of drivers with no server (mem, sqlite, mock) are also opened and pinged; the
 * others may find no server, but never a config error. */
#include <dirent.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <criterion/criterion.h>
#include "iminfra/iminfra.h"
#include "loader.h"

#define EXAMPLES IMI_TEST_SOURCE_DIR "/config/examples"

typedef struct kind_ops {
    const char *kind;
    int (*open)(imi_app *app, void **h);
    int (*ping)(void *h, const imi_ctx *ctx);
    void (*free)(void *h);
} kind_ops;

static int open_cache(imi_app *app, void **h) { return imi_cache_open(app, NULL, (imi_cache **)h); }
static int open_mq(imi_app *app, void **h) { return imi_mq_open(app, NULL, (imi_mq **)h); }
static int open_db(imi_app *app, void **h) { return imi_db_open(app, NULL, (imi_db **)h); }
static int open_coord(imi_app *app, void **h) { return imi_coord_open(app, NULL, (imi_coord **)h); }
static int ping_cache(void *h, const imi_ctx *ctx) { return imi_cache_ping(h, ctx); }
static int ping_mq(void *h, const imi_ctx *ctx) { return imi_mq_ping(h, ctx); }
static int ping_db(void *h, const imi_ctx *ctx) { return imi_db_ping(h, ctx); }
static int ping_coord(void *h, const imi_ctx *ctx) { return imi_coord_ping(h, ctx); }
static void free_cache(void *h) { imi_cache_free(h); }
static void free_mq(void *h) { imi_mq_free(h); }
static void free_db(void *h) { imi_db_free(h); }
static void free_coord(void *h) { imi_coord_free(h); }

static const kind_ops kinds[] = {
    { "cache", open_cache, ping_cache, free_cache },
    { "mq", open_mq, ping_mq, free_mq },
    { "db", open_db, ping_db, free_db },
    { "coord", open_coord, ping_coord, free_coord },
};

static const kind_ops *ops_of(const char *kind)
{
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(kinds[i].kind, kind))
            return &kinds[i];
    cr_assert_fail("no kind %s", kind);
    return NULL;
}

static char data_dir[] = "/tmp/imi-examples-XXXXXX";

static void setup(void)
{
    cr_assert_not_null(mkdtemp(data_dir));
    setenv("IMI_DATA_DIR", data_dir, 1);   /* where db-sqlite.ini puts its file */
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", data_dir);
    cr_expect_eq(system(cmd), 0);
}

TestSuite(config_examples, .init = setup, .fini = teardown);

/* Every option of the driver's schema is set in the section at its default, or (an
 * option without a default) at least named in a comment. A topology example
 * (<kind>-<driver>-<topology>.ini) sets what its topology needs: at_defaults false. */
static void check_options(const imi_config *cfg, const char *kind, const char *path,
                          bool at_defaults)
{
    imi_driver *drv;
    cr_assert_eq(imi_driver_load_for(cfg, kind, (imi_kind)imi_kind_parse(kind), &drv), IMI_OK,
                 "%s", imi_error_message());
    /* Client libraries (libmariadb, librdkafka's libsasl2) set up globals once and never
     * free them; unmapped when the driver is unloaded, they would read as leaks to
     * LeakSanitizer. Keep each driver mapped until the test process exits. */
    cr_assert_not_null(dlopen(imi_driver_file(drv), RTLD_NOW | RTLD_NODELETE), "%s", dlerror());
    const imi_driver_desc *d = imi_driver_descriptor(drv);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    char text[8192];
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
    for (size_t i = 0; i < d->n_options; i++) {
        const imi_option_spec *o = &d->options[i];
        size_t len = strlen(o->name);
        char mention[96];
        snprintf(mention, sizeof mention, "; %.*s", (int)(len > 2 && !strcmp(o->name + len - 2,
                 ".*") ? len - 1 : len), o->name);
        const char *v = imi_config_get(cfg, kind, o->name, NULL);
        if (!at_defaults)
            continue;
        if (!v) {
            cr_expect(!o->default_value && strstr(text, mention),
                      "%s: option %s is not listed", path, o->name);
            continue;
        }
        if (o->default_value && !(o->flags & IMI_OPT_REQUIRED))
            cr_expect_str_eq(v, o->default_value, "%s: %s = %s, but its default is %s", path,
                             o->name, v, o->default_value);
    }
    imi_driver_release(drv);
}

static void check_example_file(const char *kind, const char *driver, bool serverless,
                               const char *topology)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s-%s%s%s.ini", EXAMPLES, kind, driver, topology ? "-" : "",
             topology ? topology : "");
    imi_app *app;
    cr_assert_eq(imi_app_open(path, &app), IMI_OK, "%s", imi_error_message());
    const imi_config *cfg = imi_app_config(app);
    cr_assert_str_eq(imi_config_get(cfg, kind, "driver", NULL), driver);
    check_options(cfg, kind, path, !topology);

    const kind_ops *ops = ops_of(kind);
    void *h = NULL;
    int rc = ops->open(app, &h);
    if (serverless) {
        cr_assert_eq(rc, IMI_OK, "%s: %s", path, imi_error_message());
        imi_ctx *ctx = imi_ctx_new(5000);
        cr_expect_eq(ops->ping(h, ctx), IMI_OK, "%s: %s", path, imi_error_message());
        imi_ctx_free(ctx);
    } else {
        /* Past the key checks, a missing server is all that may go wrong. */
        cr_assert(rc == IMI_OK || rc == IMI_EUNAVAILABLE || rc == IMI_ETIMEDOUT,
                  "%s: %s (%s)", path, imi_error_message(), imi_err_name(rc));
    }
    if (h)
        ops->free(h);
    imi_app_free(app);
}

static void check_example(const char *kind, const char *driver, bool serverless)
{
    check_example_file(kind, driver, serverless, NULL);
}

/* An example of one driver in a topology: <kind>-<driver>-<topology>.ini. Its values may
 * differ from the option defaults. */
static void check_topology(const char *kind, const char *driver, const char *topology)
{
    check_example_file(kind, driver, false, topology);
}

Test(config_examples, cache_mem) { check_example("cache", "mem", true); }
Test(config_examples, cache_redis) { check_example("cache", "redis", false); }
Test(config_examples, cache_redis_sentinel) { check_topology("cache", "redis", "sentinel"); }
Test(config_examples, cache_redis_cluster) { check_topology("cache", "redis", "cluster"); }
Test(config_examples, cache_memcached) { check_example("cache", "memcached", false); }
Test(config_examples, mq_mem) { check_example("mq", "mem", true); }
Test(config_examples, mq_kafka) { check_example("mq", "kafka", false); }
Test(config_examples, mq_nats) { check_example("mq", "nats", false); }
Test(config_examples, db_sqlite) { check_example("db", "sqlite", true); }
Test(config_examples, db_postgres) { check_example("db", "postgres", false); }
Test(config_examples, db_mysql) { check_example("db", "mysql", false); }
Test(config_examples, db_mock) { check_example("db", "mock", true); }
Test(config_examples, coord_mem) { check_example("coord", "mem", true); }
Test(config_examples, coord_etcd) { check_example("coord", "etcd", false); }
Test(config_examples, coord_etcd_cluster) { check_topology("coord", "etcd", "cluster"); }
Test(config_examples, coord_etcd_tls) { check_topology("coord", "etcd", "tls"); }

/* A driver built into the tree without an example fails here: imi_<kind>_<name>.so in
 * $IMI_DRIVER_PATH needs config/examples/<kind>-<name>.ini. */
Test(config_examples, every_built_driver_has_one)
{
    const char *dir = getenv("IMI_DRIVER_PATH");
    cr_assert_not_null(dir, "IMI_DRIVER_PATH is not set");
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "%s", dir);
    int seen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char kind[32], name[64], path[512];
        size_t n = strlen(e->d_name);
        if (strncmp(e->d_name, "imi_", 4) || n < 8 || strcmp(e->d_name + n - 3, ".so") ||
            sscanf(e->d_name, "imi_%31[a-z]_%63[a-z0-9_]", kind, name) != 2)
            continue;
        snprintf(path, sizeof path, "%s/%s-%s.ini", EXAMPLES, kind, name);
        cr_expect_eq(access(path, R_OK), 0, "driver %s has no example %s", e->d_name, path);
        seen++;
    }
    closedir(d);
    cr_expect_geq(seen, 12, "only %d drivers in %s", seen, dir);
}

/* Topologies (docs/clusters/): a replica as the reader, clusters, TLS, SASL. */
Test(config_examples, db_postgres_replica) { check_topology("db", "postgres", "replica"); }
Test(config_examples, db_postgres_tls) { check_topology("db", "postgres", "tls"); }
Test(config_examples, db_mysql_tls) { check_topology("db", "mysql", "tls"); }
Test(config_examples, mq_nats_cluster) { check_topology("mq", "nats", "cluster"); }
Test(config_examples, mq_nats_tls) { check_topology("mq", "nats", "tls"); }
Test(config_examples, mq_kafka_sasl_ssl) { check_topology("mq", "kafka", "sasl-ssl"); }
