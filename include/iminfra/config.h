/* INI configuration (parsed with inih).
 *
 * One section per component ([cache], [mq], [db], [coord], [log], ...), named instances
 * as [kind.NAME]. Values expand ${VAR} and ${VAR:-default} from the environment. Every
 * error names file:line. Keys are checked when a component opens (core keys plus the
 * driver's option schema); imi_config_check_core checks the core sections at load.
 *
 * Threads: a config may be read from many threads at once; imi_config_set must not run
 * while another thread reads it (set values before sharing the config).
 */
#ifndef IMINFRA_CONFIG_H
#define IMINFRA_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct imi_config imi_config;

/* Loads and checks a file. On failure *out is NULL and the error detail holds one line,
 * "FILE:LINE: what is wrong". */
int imi_config_load(const char *path, imi_config **out);
/* The same from text; `name` is used in messages, `base_dir` resolves relative paths. */
int imi_config_parse(const char *text, const char *name, const char *base_dir,
                     imi_config **out);
void imi_config_free(imi_config *cfg);
/* A deep copy; NULL when out of memory. */
imi_config *imi_config_copy(const imi_config *cfg);
/* Sets section.key (adding the section or key when absent), e.g. to override a loaded
 * file from the command line. The value is taken as it is (no ${VAR} expansion). */
int imi_config_set(imi_config *cfg, const char *section, const char *key, const char *value);

const char *imi_config_name(const imi_config *cfg);   /* file name used in messages */
const char *imi_config_dir(const imi_config *cfg);    /* folder of the file */

/* The value of section.key (expanded), or NULL. line (may be NULL) receives its line. */
const char *imi_config_get(const imi_config *cfg, const char *section, const char *key,
                           int *line);
/* Sections in file order; NULL past the end. */
const char *imi_config_section(const imi_config *cfg, size_t i, int *line);
/* Keys of a section in file order; NULL past the end. */
const char *imi_config_key(const imi_config *cfg, const char *section, size_t i,
                           const char **value, int *line);
int imi_config_has_section(const imi_config *cfg, const char *section);
/* The line of the section's header, 0 when absent. */
int imi_config_section_line(const imi_config *cfg, const char *section);

/* Typed readers: IMI_OK, or IMI_ECONFIG naming file:line when the value does not parse.
 * A missing key leaves *out untouched and returns IMI_OK. */
int imi_config_get_int(const imi_config *cfg, const char *section, const char *key, int64_t *out);
int imi_config_get_bool(const imi_config *cfg, const char *section, const char *key, int *out);
int imi_config_get_double(const imi_config *cfg, const char *section, const char *key, double *out);
int imi_config_get_duration_ms(const imi_config *cfg, const char *section, const char *key,
                               int64_t *out);
int imi_config_get_size(const imi_config *cfg, const char *section, const char *key, int64_t *out);

/* Rejects keys of `section` not in known[] (NULL-terminated): the error names file:line
 * and lists the known keys. An entry "prefix.*" accepts every key "prefix.<something>". */
int imi_config_check_keys(const imi_config *cfg, const char *section,
                          const char *const *known, const char *const *more_known);

/* Marks section.key as secret: printed as ***. */
void imi_config_mark_secret(imi_config *cfg, const char *section, const char *key);
/* Prints the whole config as INI, secrets as ***. */
void imi_config_dump(const imi_config *cfg, FILE *out);

/* The one rule for numbers: every duration and size is range-checked where it is parsed,
 * and a unit conversion that would leave the range is refused, never wrapped. The longest
 * duration is IMI_DURATION_MAX_MS (ctx.h, 100 years). */
#define IMI_SIZE_MAX (1LL << 40)                      /* 1 TiB */
#define IMI_SIZE_MAX_TEXT "1099511627776 bytes (1 TiB; e.g. 512, 64k, 16M, 2G)"

/* Value parsers shared by config and option schemas (IMI_OK / IMI_EINVALID).
 * imi_parse_double takes finite decimal numbers only (no hex, nan or inf); durations
 * (ms; units ms, s, m, h) and sizes (bytes; units k, m, g) are non-negative decimals up
 * to IMI_DURATION_MAX_MS and IMI_SIZE_MAX. */
int imi_parse_int(const char *s, int64_t *out);
int imi_parse_bool(const char *s, int *out);
int imi_parse_double(const char *s, double *out);
int imi_parse_duration_ms(const char *s, int64_t *out);
int imi_parse_size(const char *s, int64_t *out);

#ifdef __cplusplus
}
#endif
#endif
