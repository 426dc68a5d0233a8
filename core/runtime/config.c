/* INI config: parsing with inih, ${VAR} expansion, lookups, key checks, secret-safe dump. */
#include <errno.h>
#include <math.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <ini.h>
#include "iminfra/config.h"
#include "iminfra/error.h"
#include "util.h"

typedef struct entry {
    char *section, *key, *value;
    int line;
    bool secret;
} entry;

typedef struct section {
    char *name;
    int line;
} section;

struct imi_config {
    char *name;
    char *dir;
    entry *e;
    size_t n, cap;
    section *s;
    size_t ns, caps;
};

/* inih reads through this, so that we know the line of every key and can strip leading
 * white space (inih would take an indented line as a continuation of the previous value).
 * inih's line buffer is fixed when it is built (200 bytes in Debian's): a longer
 * key = value line (a list of brokers, a DSN) is split here the way inih splits one, and
 * inih gets the key with a stand-in value, which on_key replaces by the whole one. */
#define CONFIG_LINE_MAX 65536

typedef struct reader {
    imi_config *cfg;
    const char *p, *end;
    int line;
    int err;                     /* first error found by us (not by inih) */
    char *long_value;            /* the value of the line inih is reading, when too long */
} reader;

static int fail(reader *r, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(reader *r, int line, const char *fmt, ...)
{
    if (r->err)
        return 0;
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->err = imi_error_set(IMI_ECONFIG, 0, "%s:%d: %s", r->cfg->name, line, msg);
    return 0;
}

static bool push_section(imi_config *cfg, const char *name, size_t len, int line)
{
    for (size_t i = 0; i < cfg->ns; i++)
        if (strlen(cfg->s[i].name) == len && !memcmp(cfg->s[i].name, name, len))
            return true;
    if (cfg->ns == cfg->caps) {
        size_t cap = cfg->caps ? cfg->caps * 2 : 8;
        section *s = realloc(cfg->s, cap * sizeof *s);
        if (!s)
            return false;
        cfg->s = s;
        cfg->caps = cap;
    }
    cfg->s[cfg->ns].name = imi_strndup(name, len);
    cfg->s[cfg->ns].line = line;
    return cfg->s[cfg->ns++].name != NULL;
}

static bool valid_section_name(const char *s, size_t len)
{
    if (!len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.'))
            return false;
    }
    return s[0] != '.' && s[len - 1] != '.';
}

static bool blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

/* A key = value line too long for inih's buffer, [s, e): the key and a stand-in go to
 * buf, the value (as inih would cut it: after the first '=' or ':', up to a ';' that
 * follows a blank, trimmed) to r->long_value. Returns the length written to buf. */
static size_t split_long(reader *r, const char *s, const char *e, char *buf, int max)
{
    if (*s == ';' || *s == '#')
        return 0; /* a comment */
    if (*s == '[') {
        fail(r, r->line, "section header too long");
        return 0;
    }
    const char *sep = s;
    bool was_blank = false;
    while (sep < e && *sep != '=' && *sep != ':' && !(was_blank && *sep == ';'))
        was_blank = blank(*sep++);
    if (sep == e || *sep == ';') {
        fail(r, r->line, "syntax error (expected [section], key = value, or a ; comment)");
        return 0;
    }
    const char *key_end = sep;
    while (key_end > s && blank(key_end[-1]))
        key_end--;
    const char *v = sep + 1, *v_end = v;
    was_blank = false;
    while (v_end < e && !(was_blank && *v_end == ';'))
        was_blank = blank(*v_end++);
    if (v_end < e) /* an inline comment: the blank before it goes too */
        v_end--;
    while (v < v_end && blank(*v))
        v++;
    while (v_end > v && blank(v_end[-1]))
        v_end--;
    size_t klen = (size_t)(key_end - s);
    if (klen + 8 >= (size_t)max) {
        fail(r, r->line, "key too long");
        return 0;
    }
    free(r->long_value);
    if (!(r->long_value = imi_strndup(v, (size_t)(v_end - v)))) {
        fail(r, r->line, "out of memory");
        return 0;
    }
    memcpy(buf, s, klen);
    memcpy(buf + klen, " = x", 4);
    return klen + 4;
}

static char *read_line(char *buf, int max, void *stream)
{
    reader *r = stream;
    if (r->p >= r->end)
        return NULL;
    const char *nl = memchr(r->p, '\n', (size_t)(r->end - r->p));
    const char *stop = nl ? nl : r->end;
    r->line++;
    const char *start = r->p;
    r->p = nl ? nl + 1 : r->end;
    while (start < stop && (*start == ' ' || *start == '\t'))
        start++;
    size_t len = (size_t)(stop - start);
    if (len > CONFIG_LINE_MAX) {
        fail(r, r->line, "line too long (at most %d characters)", CONFIG_LINE_MAX);
        len = 0;
    } else if (len >= (size_t)max - 1) {
        len = split_long(r, start, stop, buf, max);
        start = buf;
    }
    memmove(buf, start, len);
    buf[len] = '\n';
    buf[len + 1] = '\0';
    if (len && buf[0] == '[') {
        const char *close = memchr(buf, ']', len);
        if (!close)
            fail(r, r->line, "section header without ']'");
        else if (!valid_section_name(buf + 1, (size_t)(close - buf - 1)))
            fail(r, r->line, "bad section name '%.*s' (letters, digits, _ - and . only)",
                 (int)(close - buf - 1), buf + 1);
        else if (!push_section(r->cfg, buf + 1, (size_t)(close - buf - 1), r->line))
            fail(r, r->line, "out of memory");
    }
    return buf;
}

/* Expands ${VAR} and ${VAR:-default}; "$$" is a literal '$'. */
static char *expand(reader *r, const char *v)
{
    size_t cap = strlen(v) + 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *p = v; *p;) {
        const char *piece = p;
        size_t plen = 1;
        char *tmp = NULL;
        if (p[0] == '$' && p[1] == '$') {
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            const char *close = strchr(p, '}');
            if (!close) {
                fail(r, r->line, "unterminated ${ in value");
                free(out);
                return NULL;
            }
            const char *name = p + 2;
            const char *dflt = strstr(name, ":-");
            if (dflt && dflt > close)
                dflt = NULL;
            size_t nlen = (size_t)((dflt ? dflt : close) - name);
            tmp = imi_strndup(name, nlen);
            const char *val = tmp ? getenv(tmp) : NULL;
            if (val && *val) {
                piece = val;
                plen = strlen(val);
            } else if (dflt) {
                piece = dflt + 2;
                plen = (size_t)(close - piece);
            } else if (val) {
                plen = 0;
            } else {
                fail(r, r->line, "environment variable %s is not set (write ${%s:-} for empty)",
                     tmp ? tmp : "?", tmp ? tmp : "?");
                free(tmp);
                free(out);
                return NULL;
            }
            p = close + 1;
        } else {
            p++;
        }
        if (n + plen + 1 > cap) {
            cap = (n + plen + 1) * 2;
            char *grown = realloc(out, cap);
            if (!grown) {
                free(tmp);
                free(out);
                return NULL;
            }
            out = grown;
        }
        memcpy(out + n, piece, plen);
        n += plen;
        free(tmp);
    }
    out[n] = '\0';
    return out;
}

static const entry *find(const imi_config *cfg, const char *section, const char *key)
{
    if (!cfg || !section || !key)
        return NULL;
    for (size_t i = 0; i < cfg->n; i++)
        if (!strcmp(cfg->e[i].section, section) && !strcmp(cfg->e[i].key, key))
            return &cfg->e[i];
    return NULL;
}

static int on_key_value(reader *r, const char *sec, const char *key, const char *value)
{
    imi_config *cfg = r->cfg;
    if (r->err)
        return 0;
    if (!*sec)
        return fail(r, r->line, "key '%s' outside any section", key);
    const entry *dup = find(cfg, sec, key);
    if (dup)
        return fail(r, r->line, "duplicate key '%s' in [%s] (first set at line %d)", key, sec,
                    dup->line);
    if (cfg->n == cfg->cap) {
        size_t cap = cfg->cap ? cfg->cap * 2 : 32;
        entry *e = realloc(cfg->e, cap * sizeof *e);
        if (!e)
            return fail(r, r->line, "out of memory");
        cfg->e = e;
        cfg->cap = cap;
    }
    char *val = expand(r, value);
    if (!val)
        return r->err ? 0 : fail(r, r->line, "out of memory");
    entry *e = &cfg->e[cfg->n];
    e->section = strdup(sec);
    e->key = strdup(key);
    e->value = val;
    e->line = r->line;
    /* Secret until proven otherwise: a driver schema marks more at open. */
    e->secret = strstr(key, "password") || strstr(key, "secret") || strstr(key, "token");
    cfg->n++;
    if (!e->section || !e->key)
        return fail(r, r->line, "out of memory");
    return 1;
}

static int on_key(void *user, const char *sec, const char *key, const char *value)
{
    reader *r = user;
    char *long_value = r->long_value; /* the whole value of a line too long for inih */
    r->long_value = NULL;
    int rc = on_key_value(r, sec, key, long_value ? long_value : value);
    free(long_value);
    return rc;
}

int imi_config_parse(const char *text, const char *name, const char *base_dir,
                     imi_config **out)
{
    if (!out || !text)
        return imi_error_set(IMI_EINVALID, 0, "config: %s", out ? "no text" : "no output");
    *out = NULL;
    imi_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    cfg->name = strdup(name ? name : "<config>");
    cfg->dir = strdup(base_dir ? base_dir : ".");
    if (!cfg->name || !cfg->dir) {
        imi_config_free(cfg);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    reader r = { .cfg = cfg, .p = text, .end = text + strlen(text) };
    int bad = ini_parse_stream(read_line, &r, on_key, &r);
    free(r.long_value);
    if (r.err) {
        imi_config_free(cfg);
        return r.err;
    }
    if (bad) {
        imi_config_free(cfg);
        if (bad < 0)
            return imi_error_set(IMI_ECONFIG, 0, "%s: cannot be parsed", name);
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: syntax error (expected [section], "
                             "key = value, or a ; comment)", name, bad);
    }
    *out = cfg;
    return IMI_OK;
}

int imi_config_load(const char *path, imi_config **out)
{
    if (!out || !path)
        return imi_error_set(IMI_EINVALID, 0, "config: %s", out ? "no path" : "no output");
    *out = NULL;
    size_t len = 0;
    char *text = imi_read_file(path, &len);
    if (!text)
        return imi_error_set(IMI_ECONFIG, errno, "%s: cannot read config: %s", path,
                             strerror(errno));
    if (memchr(text, '\0', len)) {
        free(text);
        return imi_error_set(IMI_ECONFIG, 0, "%s: not a text file (holds a NUL byte)", path);
    }
    char *dir = imi_dirname(path);
    int rc = dir ? imi_config_parse(text, path, dir, out)
                 : imi_error_set(IMI_ENOMEM, 0, "out of memory");
    free(dir);
    free(text);
    return rc;
}

void imi_config_free(imi_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->n; i++) {
        free(cfg->e[i].section);
        free(cfg->e[i].key);
        free(cfg->e[i].value);
    }
    for (size_t i = 0; i < cfg->ns; i++)
        free(cfg->s[i].name);
    free(cfg->e);
    free(cfg->s);
    free(cfg->name);
    free(cfg->dir);
    free(cfg);
}

const char *imi_config_name(const imi_config *cfg) { return cfg ? cfg->name : "<no config>"; }
const char *imi_config_dir(const imi_config *cfg) { return cfg ? cfg->dir : "."; }

const char *imi_config_get(const imi_config *cfg, const char *section, const char *key,
                           int *line)
{
    const entry *e = find(cfg, section, key);
    if (line)
        *line = e ? e->line : 0;
    return e ? e->value : NULL;
}

const char *imi_config_section(const imi_config *cfg, size_t i, int *line)
{
    if (!cfg || i >= cfg->ns)
        return NULL;
    if (line)
        *line = cfg->s[i].line;
    return cfg->s[i].name;
}

int imi_config_has_section(const imi_config *cfg, const char *section)
{
    for (size_t i = 0; cfg && section && i < cfg->ns; i++)
        if (!strcmp(cfg->s[i].name, section))
            return 1;
    return 0;
}

int imi_config_section_line(const imi_config *cfg, const char *section)
{
    for (size_t i = 0; cfg && section && i < cfg->ns; i++)
        if (!strcmp(cfg->s[i].name, section))
            return cfg->s[i].line;
    return 0;
}

const char *imi_config_key(const imi_config *cfg, const char *section, size_t i,
                           const char **value, int *line)
{
    for (size_t k = 0; cfg && section && k < cfg->n; k++) {
        if (strcmp(cfg->e[k].section, section))
            continue;
        if (i-- == 0) {
            if (value)
                *value = cfg->e[k].value;
            if (line)
                *line = cfg->e[k].line;
            return cfg->e[k].key;
        }
    }
    return NULL;
}

typedef int (*parse_fn)(const char *s, void *out);

static int get_typed(const imi_config *cfg, const char *section, const char *key, void *out,
                     parse_fn parse, const char *what)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "config: no output for [%s] %s",
                             section ? section : "", key ? key : "");
    const entry *e = find(cfg, section, key);
    if (!e)
        return IMI_OK;
    if (parse(e->value, out) != IMI_OK)
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] %s = '%s' is not %s", cfg->name,
                             e->line, section, key, e->secret ? "***" : e->value, what);
    return IMI_OK;
}

int imi_config_get_int(const imi_config *cfg, const char *section, const char *key, int64_t *out)
{
    return get_typed(cfg, section, key, out, (parse_fn)imi_parse_int, "an integer");
}
int imi_config_get_bool(const imi_config *cfg, const char *section, const char *key, int *out)
{
    return get_typed(cfg, section, key, out, (parse_fn)imi_parse_bool, "a boolean (true/false)");
}
int imi_config_get_double(const imi_config *cfg, const char *section, const char *key, double *out)
{
    return get_typed(cfg, section, key, out, (parse_fn)imi_parse_double, "a finite decimal number");
}
int imi_config_get_duration_ms(const imi_config *cfg, const char *section, const char *key,
                               int64_t *out)
{
    return get_typed(cfg, section, key, out, (parse_fn)imi_parse_duration_ms,
                     "a duration from 0 to " IMI_DURATION_MAX_TEXT);
}
int imi_config_get_size(const imi_config *cfg, const char *section, const char *key, int64_t *out)
{
    return get_typed(cfg, section, key, out, (parse_fn)imi_parse_size, "a size from 0 to " IMI_SIZE_MAX_TEXT);
}

/* An entry "prefix.*" stands for every key that starts with "prefix.". */
static bool listed(const char *const *list, const char *key)
{
    for (; list && *list; list++) {
        size_t n = strlen(*list);
        if (!strcmp(*list, key) ||
            (n > 2 && !strcmp(*list + n - 2, ".*") && !strncmp(*list, key, n - 1) && key[n - 1]))
            return true;
    }
    return false;
}

static void append_list(char *buf, size_t cap, const char *const *list)
{
    for (; list && *list; list++) {
        size_t used = strlen(buf);
        snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", *list);
    }
}

int imi_config_check_keys(const imi_config *cfg, const char *section,
                          const char *const *known, const char *const *more_known)
{
    if (!cfg || !section)
        return imi_error_set(IMI_EINVALID, 0, "config: no config or section");
    for (size_t i = 0; i < cfg->n; i++) {
        const entry *e = &cfg->e[i];
        if (strcmp(e->section, section) || listed(known, e->key) || listed(more_known, e->key))
            continue;
        char keys[600] = "";
        append_list(keys, sizeof keys, known);
        append_list(keys, sizeof keys, more_known);
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: unknown key '%s' in [%s]; known keys: %s",
                             cfg->name, e->line, e->key, section, keys);
    }
    return IMI_OK;
}

void imi_config_mark_secret(imi_config *cfg, const char *section, const char *key)
{
    entry *e = (entry *)find(cfg, section, key);
    if (e)
        e->secret = true;
}

void imi_config_dump(const imi_config *cfg, FILE *out)
{
    for (size_t s = 0; cfg && out && s < cfg->ns; s++) {
        fprintf(out, "%s[%s]\n", s ? "\n" : "", cfg->s[s].name);
        for (size_t i = 0; i < cfg->n; i++)
            if (!strcmp(cfg->e[i].section, cfg->s[s].name))
                fprintf(out, "%s = %s\n", cfg->e[i].key, cfg->e[i].secret ? "***" : cfg->e[i].value);
    }
}

/* ---- value parsers -------------------------------------------------------------------- */

int imi_parse_int(const char *s, int64_t *out)
{
    if (!s || !out)
        return IMI_EINVALID;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (end == s || *end || errno)
        return IMI_EINVALID;
    *out = v;
    return IMI_OK;
}

int imi_parse_bool(const char *s, int *out)
{
    if (!s || !out)
        return IMI_EINVALID;
    static const char *const yes[] = { "true", "yes", "on", "1", NULL };
    static const char *const no[] = { "false", "no", "off", "0", NULL };
    for (size_t i = 0; yes[i]; i++) {
        if (!strcasecmp(s, yes[i])) { *out = 1; return IMI_OK; }
        if (!strcasecmp(s, no[i])) { *out = 0; return IMI_OK; }
    }
    return IMI_EINVALID;
}

/* A plain decimal number: digits with an optional fraction and exponent, no sign, no
 * hex, nan or inf (strtod takes all of those). Returns the length it spans, 0 if none. */
static size_t decimal_span(const char *s)
{
    size_t i = 0, digits = 0;
    while (s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (s[i] == '.')
        for (i++; s[i] >= '0' && s[i] <= '9'; i++)
            digits++;
    if (!digits)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        size_t j = i + 1;
        if (s[j] == '+' || s[j] == '-')
            j++;
        if (s[j] >= '0' && s[j] <= '9') {
            while (s[j] >= '0' && s[j] <= '9')
                j++;
            i = j;
        }
    }
    return i;
}

/* A finite decimal number, optionally signed; never hex, nan or inf. */
int imi_parse_double(const char *s, double *out)
{
    if (!s || !out)
        return IMI_EINVALID;
    size_t sign = s[0] == '-' || s[0] == '+';
    size_t n = decimal_span(s + sign);
    if (!n || s[sign + n])
        return IMI_EINVALID;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno || !isfinite(v))
        return IMI_EINVALID;
    *out = v;
    return IMI_OK;
}

/* A non-negative decimal number followed by one of units[] (first unit: no suffix),
 * scaled and at most max; the unit conversion is checked before it is done, so nothing
 * wraps. */
static int parse_scaled(const char *s, const char *const *units, const int64_t *scale,
                        int64_t max, int64_t *out)
{
    if (!s || !out)
        return IMI_EINVALID;
    size_t n = decimal_span(s);
    if (!n)
        return IMI_EINVALID;
    errno = 0;
    double v = strtod(s, NULL);
    if (errno == ERANGE && v != 0)
        return IMI_EINVALID;  /* overflow; an underflow is a (tiny) 0 */
    for (size_t i = 0; units[i]; i++) {
        if (strcasecmp(s + n, units[i]))
            continue;
        if (!(v <= (double)max / (double)scale[i]))
            return IMI_EINVALID;
        double r = v * (double)scale[i];
        *out = r >= (double)max ? max : (int64_t)r;
        return IMI_OK;
    }
    return IMI_EINVALID;
}

int imi_parse_duration_ms(const char *s, int64_t *out)
{
    static const char *const units[] = { "", "ms", "s", "m", "h", NULL };
    static const int64_t scale[] = { 1, 1, 1000, 60000, 3600000 };
    return parse_scaled(s, units, scale, IMI_DURATION_MAX_MS, out);
}

int imi_parse_size(const char *s, int64_t *out)
{
    static const char *const units[] = { "", "b", "k", "kb", "m", "mb", "g", "gb", NULL };
    static const int64_t scale[] = { 1, 1, 1 << 10, 1 << 10, 1 << 20, 1 << 20, 1 << 30, 1 << 30 };
    return parse_scaled(s, units, scale, IMI_SIZE_MAX, out);
}

/* ---- copies and overrides ------------------------------------------------------------- */

imi_config *imi_config_copy(const imi_config *src)
{
    if (!src)
        return NULL;
    imi_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return NULL;
    cfg->name = strdup(src->name);
    cfg->dir = strdup(src->dir);
    cfg->e = calloc(src->n + 1, sizeof *cfg->e);
    cfg->s = calloc(src->ns + 1, sizeof *cfg->s);
    cfg->cap = src->n + 1;
    cfg->caps = src->ns + 1;
    bool ok = cfg->name && cfg->dir && cfg->e && cfg->s;
    for (size_t i = 0; ok && i < src->n; i++, cfg->n++) {
        entry *e = &cfg->e[i];
        *e = src->e[i];
        e->section = strdup(src->e[i].section);
        e->key = strdup(src->e[i].key);
        e->value = strdup(src->e[i].value);
        ok = e->section && e->key && e->value;
    }
    for (size_t i = 0; ok && i < src->ns; i++, cfg->ns++) {
        cfg->s[i].line = src->s[i].line;
        ok = (cfg->s[i].name = strdup(src->s[i].name)) != NULL;
    }
    if (!ok) {
        imi_config_free(cfg);
        return NULL;
    }
    return cfg;
}

int imi_config_set(imi_config *cfg, const char *section, const char *key, const char *value)
{
    if (!cfg || !section || !key || !value)
        return imi_error_set(IMI_EINVALID, 0, "config set: config, section, key and value "
                             "are required");
    entry *e = (entry *)find(cfg, section, key);
    if (e) {
        char *v = strdup(value);
        if (!v)
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        free(e->value);
        e->value = v;
        return IMI_OK;
    }
    reader r = { .cfg = cfg };
    if (!push_section(cfg, section, strlen(section), 0))
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    on_key(&r, section, key, "");
    if (r.err)
        return r.err;
    return imi_config_set(cfg, section, key, value);
}
