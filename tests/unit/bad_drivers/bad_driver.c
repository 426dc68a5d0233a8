/* One source, several deliberately broken cache drivers for the loader and contract
 * tests; which fault is chosen by the BAD_* macro the build passes. "good" has every
 * required slot (and no capability), so faults are each driver's only difference.
 * With $IMI_BAD_TRACE set, every slot called appends its name to that file, so a test can
 * see exactly what the core called (after a failed open: close, and nothing else). */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
#include <stdlib.h>
#include "iminfra/driver/cache_driver.h"

static void trace(const char *slot)
{
    const char *path = getenv("IMI_BAD_TRACE");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", slot);
        fclose(f);
    }
}

#ifdef BAD_NEEDS_LIB
void imi_gone_function(void); /* in a library that is not there at run time */
#endif

static int bad_open(void *st, const imi_driver_env *env)
{
    (void)st;
    (void)env;
    trace("open");
#ifdef BAD_NEEDS_LIB
    imi_gone_function();
#endif
#ifdef BAD_OPEN_CRASHES
    raise(SIGSEGV);
#endif
#ifdef BAD_OPEN_HANGS
    for (;;)
        pause();
#endif
#ifdef BAD_OPEN_FAILS
    return env->host->error(IMI_EUNAVAILABLE, 111, "the backend said no");
#else
    return IMI_OK;
#endif
}

static void bad_close(void *st) { (void)st; trace("close"); }

/* Stubs: the parameters are there for the slot's type only. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-function"
#ifndef BAD_CODE
#define BAD_CODE IMI_ENOTFOUND /* what every stub answers */
#endif
#define STUB(slot, ...) static int bad_##slot(void *st, const imi_ctx *ctx, __VA_ARGS__) \
    { (void)st; (void)ctx; trace(#slot); return BAD_CODE; }
static int bad_ping(void *st, const imi_ctx *ctx) { (void)st; (void)ctx; trace("ping"); return IMI_OK; }
STUB(get, const char *k, size_t kl, imi_buf *v)
STUB(set, const char *k, size_t kl, const void *v, size_t l, int64_t t)
STUB(setnx, const char *k, size_t kl, const void *v, size_t l, int64_t t)
STUB(del, const char *k, size_t kl)
STUB(exists, const char *k, size_t kl)
STUB(expire, const char *k, size_t kl, int64_t t)
STUB(ttl, const char *k, size_t kl, int64_t *t)
STUB(incr, const char *k, size_t kl, int64_t d, int64_t *r)

#ifndef BAD_VT_SIZE
#define BAD_VT_SIZE sizeof(imi_cache_driver)
#endif
static const imi_cache_driver vt = {
    .size = BAD_VT_SIZE,
    .open = bad_open, .close = bad_close, .ping = bad_ping,
#ifndef BAD_NULL_GET
    .get = bad_get,
#endif
    .set = bad_set, .setnx = bad_setnx, .del = bad_del, .exists = bad_exists,
    .expire = bad_expire, .ttl = bad_ttl, .incr = bad_incr,
};

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
#ifndef BAD_CAPS
#define BAD_CAPS 0
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
    .caps = BAD_CAPS,
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
