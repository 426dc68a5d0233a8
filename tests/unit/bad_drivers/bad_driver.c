/* One source, several deliberately broken drivers for the loader tests; which fault is
 * chosen by the BAD_* macro the build passes. */
#include "iminfra/driver/cache_driver.h"

static int bad_open(void *st, const imi_driver_env *env) { (void)st; (void)env; return IMI_OK; }
static void bad_close(void *st) { (void)st; }

static const imi_cache_driver vt = { .size = sizeof vt, .open = bad_open, .close = bad_close };

#ifndef BAD_ABI_MAJOR
#define BAD_ABI_MAJOR IMI_ABI_MAJOR
#endif
#ifndef BAD_ABI_MINOR
#define BAD_ABI_MINOR IMI_ABI_MINOR
#endif
#ifndef BAD_KIND
#define BAD_KIND IMI_KIND_CACHE
#endif
#ifndef BAD_SIZE
#define BAD_SIZE sizeof(imi_driver_desc)
#endif
#ifndef BAD_NAME
#define BAD_NAME "bad"
#endif

/* Options of every kind, so the config tests can check parsing, required and secret. */
static const imi_option_spec options[] = {
    { .name = "addr", .type = IMI_OPT_STRING, .flags = IMI_OPT_REQUIRED, .help = "host:port" },
    { .name = "password", .type = IMI_OPT_STRING, .default_value = "", .flags = IMI_OPT_SECRET,
      .help = "the secret" },
    { .name = "port", .type = IMI_OPT_INT, .default_value = "10", .help = "a number" },
    { .name = "wait", .type = IMI_OPT_DURATION, .default_value = "1s", .help = "a duration" },
    { .name = "flag", .type = IMI_OPT_BOOL, .default_value = "false", .help = "a boolean" },
};

static const imi_driver_desc desc = {
    .size = BAD_SIZE,
    .abi_major = BAD_ABI_MAJOR,
    .abi_minor = BAD_ABI_MINOR,
    .kind = BAD_KIND,
    .name = BAD_NAME,
    .version = "0.0.1",
    .description = "a deliberately broken driver",
    .options = options,
    .n_options = IMI_COUNT_OF(options),
    .vtable = &vt,
};

#ifndef BAD_NO_ENTRY
IMI_DRIVER_DEFINE(desc)
#else
IMI_DRIVER_EXPORT const imi_driver_desc *not_the_entry(void);
IMI_DRIVER_EXPORT const imi_driver_desc *not_the_entry(void) { return &desc; }
#endif
