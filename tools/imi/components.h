/* The driver-backed components, as imi check and imi conformance see them. */
#ifndef IMI_TOOLS_COMPONENTS_H
#define IMI_TOOLS_COMPONENTS_H

#include "iminfra/iminfra.h"

typedef struct cli_component {
    const char *kind;                                         /* "cache" */
    int (*open)(imi_app *app, const char *name, void **handle);
    int (*ping)(void *handle, const imi_ctx *ctx);
    void (*free)(void *handle);
    const char *(*driver_name)(const void *handle);
} cli_component;

/* NULL when kind is not a component kind. */
const cli_component *cli_component_find(const char *kind);

#endif
