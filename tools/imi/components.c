/* The driver-backed components, as imi check sees them. */
#include <string.h>
#include "components.h"

static int cache_open(imi_app *app, const char *name, void **h)
{
    return imi_cache_open(app, name, (imi_cache **)h);
}

static const cli_component components[] = {
    { "cache", cache_open, (int (*)(void *, const imi_ctx *))imi_cache_ping,
      (void (*)(void *))imi_cache_free, (const char *(*)(const void *))imi_cache_driver_name },
};

const cli_component *cli_component_find(const char *kind)
{
    for (size_t i = 0; i < sizeof components / sizeof components[0]; i++)
        if (!strcmp(components[i].kind, kind))
            return &components[i];
    return NULL;
}
