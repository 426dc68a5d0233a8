/* Non-component sections for imi check: [uid], [retry], [breaker], [ratelimit] (and their
 * .NAME forms). */
#ifndef IMI_TOOLS_CHECK_SETTINGS_H
#define IMI_TOOLS_CHECK_SETTINGS_H

#include <stdbool.h>
#include <stdio.h>
#include "iminfra/iminfra.h"

typedef struct cli_setting {
    const char *kind;
    /* Reads the section as the application would; on success writes a short summary. */
    int (*check)(imi_app *app, const char *name, char *what, size_t n);
    bool once;      /* one check covers every section of the kind */
} cli_setting;

/* NULL when kind has no settings check. */
const cli_setting *cli_setting_find(const char *kind);

#endif
