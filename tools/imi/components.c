/* The driver-backed components, as imi check sees them. */
#include <string.h>
#include "components.h"

static int cache_open(imi_app *app, const char *name, void **h)
{
    return imi_cache_open(app, name, (imi_cache **)h);
}

static int mq_open(imi_app *app, const char *name, void **h)
{
    return imi_mq_open(app, name, (imi_mq **)h);
}

static int db_open(imi_app *app, const char *name, void **h)
{
    return imi_db_open(app, name, (imi_db **)h);
}

static int coord_open(imi_app *app, const char *name, void **h)
{
    return imi_coord_open(app, name, (imi_coord **)h);
}

static const cli_component components[] = {
    { "cache", cache_open, (int (*)(void *, const imi_ctx *))imi_cache_ping,
      (void (*)(void *))imi_cache_free, (const char *(*)(const void *))imi_cache_driver_name },
    { "mq", mq_open, (int (*)(void *, const imi_ctx *))imi_mq_ping,
      (void (*)(void *))imi_mq_free, (const char *(*)(const void *))imi_mq_driver_name },
    { "db", db_open, (int (*)(void *, const imi_ctx *))imi_db_ping,
      (void (*)(void *))imi_db_free, (const char *(*)(const void *))imi_db_driver_name },
    { "coord", coord_open, (int (*)(void *, const imi_ctx *))imi_coord_ping,
      (void (*)(void *))imi_coord_free, (const char *(*)(const void *))imi_coord_driver_name },
};

const cli_component *cli_component_find(const char *kind)
{
    for (size_t i = 0; i < sizeof components / sizeof components[0]; i++)
        if (!strcmp(components[i].kind, kind))
            return &components[i];
    return NULL;
}
