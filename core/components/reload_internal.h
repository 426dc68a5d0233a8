/* Settings of uid, ratelimit, retry and breaker, read alike from a config section or from
 * a value kept in coord ("key = value" pairs), and the hooks the hot-reload watcher calls.
 *
 * A settings set is a list of key/value pairs with the line each came from. Built from
 * config, the base section's pairs come first and the named section's after them, so a
 * named section overrides its base key by key. Errors name "file:line" for config and
 * "coord key K" for values from coord. */
#ifndef IMI_CORE_RELOAD_INTERNAL_H
#define IMI_CORE_RELOAD_INTERNAL_H

#include <stdint.h>
#include "iminfra/config.h"

#define IMI_SETTINGS_MAX 48

typedef struct imi_settings {
    struct { const char *key, *val; int line; } kv[IMI_SETTINGS_MAX];
    size_t n;
    const char *file;     /* the config's name; NULL for coord values */
    char origin[160];     /* "coord key config/x" for coord values */
    char *text;           /* owned copy the pairs of a coord value point into */
} imi_settings;

/* base (may be NULL) then section; either may be absent from the config. */
int imi_settings_from_config(imi_settings *s, const imi_config *cfg, const char *base,
                             const char *section);
/* "k = v" pairs separated by newlines, ';' or ','. */
int imi_settings_from_text(imi_settings *s, const char *origin, const char *text, size_t len);
void imi_settings_free(imi_settings *s);
/* Adds src's pairs after dst's (they point into src, which must outlive dst). Pairs from
 * a coord value make dst's errors name that value's origin. */
int imi_settings_append(imi_settings *dst, const imi_settings *src);

const char *imi_settings_get(const imi_settings *s, const char *key, int *line);
/* IMI_ECONFIG for the first key not in known[] (NULL-terminated) and not starting with
 * one of prefixes[] (may be NULL), listing the known keys. */
int imi_settings_check(const imi_settings *s, const char *const *known,
                       const char *const *prefixes);
/* Records "<where>: <message>" as an IMI_ECONFIG error and returns it. */
int imi_settings_error(const imi_settings *s, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Typed readers: a missing key leaves *out untouched. */
int imi_settings_int(const imi_settings *s, const char *key, int64_t min, int64_t max,
                     int64_t *out);
int imi_settings_double(const imi_settings *s, const char *key, double min, double max,
                        double *out);
int imi_settings_duration_ms(const imi_settings *s, const char *key, int64_t *out);
int imi_settings_bool(const imi_settings *s, const char *key, int *out);
/* A comma- or space-separated list of error code names ("unavailable, IMI_ETIMEDOUT")
 * as a mask of bits 1u << -code; "none" is 0. */
int imi_settings_codes(const imi_settings *s, const char *key, uint32_t *out);

/* Parses one code name ("timedout", "ETIMEDOUT", "IMI_ETIMEDOUT"); 0 when unknown. */
int imi_code_from_name(const char *name);

#endif
