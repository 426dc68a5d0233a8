/* The parts of `imi demo`: one function per component, each printing what it does. */
#ifndef IMI_TOOLS_DEMO_H
#define IMI_TOOLS_DEMO_H

#include "iminfra/iminfra.h"

typedef struct demo_part {
    const char *name;
    const char *section;       /* the config section it needs, NULL: none */
    int (*run)(imi_app *app);  /* IMI_OK, or the failing code with the error detail set */
} demo_part;

/* Prints "   <what>" lines. */
void demo_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

int demo_clog(imi_app *app);
int demo_cache(imi_app *app);

#endif
