/* Settings from a config section or a coord value: one reader for both. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "iminfra/error.h"
#include "reload_internal.h"

static int add(imi_settings *s, const char *key, const char *val, int line)
{
    if (s->n == IMI_SETTINGS_MAX)
        return imi_settings_error(s, line, "too many keys (at most %d)", IMI_SETTINGS_MAX);
    s->kv[s->n].key = key;
    s->kv[s->n].val = val;
    s->kv[s->n].line = line;
    s->n++;
    return IMI_OK;
}

int imi_settings_from_config(imi_settings *s, const imi_config *cfg, const char *base,
                             const char *section)
{
    memset(s, 0, sizeof *s);
    s->file = imi_config_name(cfg);
    const char *secs[2] = { base, section };
    for (int i = 0; i < 2; i++) {
        if (!secs[i] || (i == 1 && base && !strcmp(base, section)))
            continue;
        const char *k, *v;
        int line;
        for (size_t j = 0; (k = imi_config_key(cfg, secs[i], j, &v, &line)); j++) {
            int rc = add(s, k, v, line);
            if (rc)
                return rc;
        }
    }
    return IMI_OK;
}

static char *trim(char *a, char *b)
{
    while (a < b && isspace((unsigned char)*a))
        a++;
    while (b > a && isspace((unsigned char)b[-1]))
        b--;
    *b = '\0';
    return a;
}

int imi_settings_from_text(imi_settings *s, const char *origin, const char *text, size_t len)
{
    memset(s, 0, sizeof *s);
    snprintf(s->origin, sizeof s->origin, "%s", origin);
    if (!(s->text = malloc(len + 1)))
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    memcpy(s->text, text, len);
    s->text[len] = '\0';
    if (strlen(s->text) != len)
        return imi_settings_error(s, 0, "value holds a NUL byte");
    int item = 0;
    for (char *p = s->text; *p;) {
        char *end = p + strcspn(p, "\n;,");
        char stop = *end;
        item++;
        char *eq = memchr(p, '=', (size_t)(end - p));
        char *whole = trim(p, end);
        if (*whole) {
            if (!eq)
                return imi_settings_error(s, item, "'%s' is not key = value", whole);
            *eq = '\0';
            char *k = trim(whole, eq), *v = trim(eq + 1, end);
            if (!*k)
                return imi_settings_error(s, item, "a value without a key");
            int rc = add(s, k, v, item);
            if (rc)
                return rc;
        }
        p = stop ? end + 1 : end;
    }
    return IMI_OK;
}

void imi_settings_free(imi_settings *s)
{
    free(s->text);
    s->text = NULL;
    s->n = 0;
}

int imi_settings_append(imi_settings *dst, const imi_settings *src)
{
    if (!src->file) {
        dst->file = NULL;
        memcpy(dst->origin, src->origin, sizeof dst->origin);
    }
    for (size_t i = 0; i < src->n; i++) {
        int rc = add(dst, src->kv[i].key, src->kv[i].val, src->kv[i].line);
        if (rc)
            return rc;
    }
    return IMI_OK;
}

const char *imi_settings_get(const imi_settings *s, const char *key, int *line)
{
    for (size_t i = s->n; i-- > 0;)
        if (!strcmp(s->kv[i].key, key)) {
            if (line)
                *line = s->kv[i].line;
            return s->kv[i].val;
        }
    return NULL;
}

int imi_settings_error(const imi_settings *s, int line, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (s->file)
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: %s", s->file, line, msg);
    if (line > 0)
        return imi_error_set(IMI_ECONFIG, 0, "%s (item %d): %s", s->origin, line, msg);
    return imi_error_set(IMI_ECONFIG, 0, "%s: %s", s->origin, msg);
}

static int listed(const char *const *list, const char *key, int prefix)
{
    for (size_t i = 0; list && list[i]; i++)
        if (prefix ? !strncmp(key, list[i], strlen(list[i])) : !strcmp(key, list[i]))
            return 1;
    return 0;
}

int imi_settings_check(const imi_settings *s, const char *const *known,
                       const char *const *prefixes)
{
    for (size_t i = 0; i < s->n; i++) {
        if (listed(known, s->kv[i].key, 0) || listed(prefixes, s->kv[i].key, 1))
            continue;
        char keys[600] = "";
        size_t off = 0;
        for (size_t j = 0; known[j] && off < sizeof keys; j++)
            off += (size_t)snprintf(keys + off, sizeof keys - off, "%s%s", j ? ", " : "", known[j]);
        for (size_t j = 0; prefixes && prefixes[j] && off < sizeof keys; j++)
            off += (size_t)snprintf(keys + off, sizeof keys - off, ", %sNAME", prefixes[j]);
        return imi_settings_error(s, s->kv[i].line, "unknown key '%s'; known keys: %s",
                                  s->kv[i].key, keys);
    }
    return IMI_OK;
}

int imi_settings_int(const imi_settings *s, const char *key, int64_t min, int64_t max,
                     int64_t *out)
{
    int line;
    const char *v = imi_settings_get(s, key, &line);
    int64_t x;
    if (!v)
        return IMI_OK;
    if (imi_parse_int(v, &x) || x < min || x > max)
        return imi_settings_error(s, line, "%s = '%s' is not an integer in [%lld, %lld]", key, v,
                                  (long long)min, (long long)max);
    *out = x;
    return IMI_OK;
}

int imi_settings_double(const imi_settings *s, const char *key, double min, double max,
                        double *out)
{
    int line;
    const char *v = imi_settings_get(s, key, &line);
    double x;
    if (!v)
        return IMI_OK;
    if (imi_parse_double(v, &x) || !(x >= min && x <= max))
        return imi_settings_error(s, line, "%s = '%s' is not a number in [%g, %g]", key, v, min,
                                  max);
    *out = x;
    return IMI_OK;
}

int imi_settings_duration_ms(const imi_settings *s, const char *key, int64_t *out)
{
    int line;
    const char *v = imi_settings_get(s, key, &line);
    if (v && imi_parse_duration_ms(v, out))
        return imi_settings_error(s, line, "%s = '%s' is not a duration from 0 to "
                                  IMI_DURATION_MAX_TEXT, key, v);
    return IMI_OK;
}

int imi_settings_bool(const imi_settings *s, const char *key, int *out)
{
    int line;
    const char *v = imi_settings_get(s, key, &line);
    if (v && imi_parse_bool(v, out))
        return imi_settings_error(s, line, "%s = '%s' is not true or false", key, v);
    return IMI_OK;
}

int imi_code_from_name(const char *name)
{
    if (!strncasecmp(name, "IMI_", 4))
        name += 4;
    for (int c = -1; c >= IMI_ERRNO_MIN_; c--) {
        const char *full = imi_err_name(c) + 4; /* "ETIMEDOUT" */
        if (!strcasecmp(name, full) || !strcasecmp(name, full + 1))
            return c;
    }
    return 0;
}

int imi_settings_codes(const imi_settings *s, const char *key, uint32_t *out)
{
    int line;
    const char *v = imi_settings_get(s, key, &line);
    if (!v)
        return IMI_OK;
    uint32_t mask = 0;
    char word[32];
    for (const char *p = v; *p;) {
        p += strspn(p, " \t,");
        size_t n = strcspn(p, " \t,");
        if (!n)
            break;
        if (n >= sizeof word)
            n = sizeof word - 1;
        memcpy(word, p, n);
        word[n] = '\0';
        p += strcspn(p, " \t,");
        if (!strcasecmp(word, "none"))
            continue;
        int c = imi_code_from_name(word);
        if (!c)
            return imi_settings_error(s, line, "%s: '%s' is not an error code name (e.g. "
                                      "unavailable, timedout, conflict)", key, word);
        mask |= 1u << -c;
    }
    *out = mask;
    return IMI_OK;
}
