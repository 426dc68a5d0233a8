/* The mock's script language: values, commands, matching and descriptions. */
#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "mock.h"

const char *mock_call_name(mock_call c)
{
    static const char *const names[] = { "exec", "query", "begin", "commit", "rollback" };
    return names[c];
}

void mock_append(char **buf, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *grown = realloc(*buf, *len + (size_t)n + 1);
    if (!grown)
        return;
    *buf = grown;
    va_start(ap, fmt);
    vsnprintf(*buf + *len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *len += (size_t)n;
}

void mock_vals_free(mock_vals *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->v[i].s);
    free(v->v);
    *v = (mock_vals){ 0 };
}

void mock_expect_free(mock_expect *e)
{
    free(e->sql);
    if (e->is_regex)
        regfree(&e->re);
    mock_vals_free(&e->args);
    for (size_t i = 0; i < e->n_columns; i++)
        free(e->columns[i]);
    free(e->columns);
    for (size_t i = 0; i < e->n_rows; i++)
        mock_vals_free(&e->rows[i]);
    free(e->rows);
    free(e->error_text);
}

char *mock_normalize_sql(const char *sql, size_t len)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    bool space = false;
    for (size_t i = 0; i < len; i++) {
        if (isspace((unsigned char)sql[i])) {
            space = n > 0;
            continue;
        }
        if (space)
            out[n++] = ' ';
        space = false;
        out[n++] = sql[i];
    }
    out[n] = '\0';
    return out;
}

static const char *skip_ws(const char *p)
{
    while (*p && isspace((unsigned char)*p))
        p++;
    return p;
}

static int hexval(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10);
}

/* One value at *pp; advances past it. */
static int parse_val(mock_state *m, const char **pp, bool allow_any, mock_val *v)
{
    const char *p = skip_ws(*pp);
    *v = (mock_val){ 0 };
    if (*p == '\'' || ((*p == 'x' || *p == 'X') && p[1] == '\'')) {
        bool blob = *p != '\'';
        p += blob ? 2 : 1;
        size_t cap = strlen(p) + 1, n = 0;
        char *s = malloc(cap);
        if (!s)
            return m->host->error(IMI_ENOMEM, 0, "out of memory");
        for (;;) {
            if (!*p) {
                free(s);
                return m->host->error(IMI_EINVALID, 0, "mock: unterminated quote in script");
            }
            if (*p == '\'' && p[1] == '\'' && !blob) {
                s[n++] = '\'';
                p += 2;
            } else if (*p == '\'') {
                p++;
                break;
            } else if (blob) {
                if (!isxdigit((unsigned char)p[0]) || !isxdigit((unsigned char)p[1])) {
                    free(s);
                    return m->host->error(IMI_EINVALID, 0, "mock: bad hex in x'...'");
                }
                s[n++] = (char)(hexval(p[0]) << 4 | hexval(p[1]));
                p += 2;
            } else {
                s[n++] = *p++;
            }
        }
        s[n] = '\0';
        *v = (mock_val){ .type = blob ? IMI_DB_BLOB : IMI_DB_TEXT, .s = s, .len = n };
        *pp = p;
        return IMI_OK;
    }
    const char *end = p;
    while (*end && *end != ',' && !isspace((unsigned char)*end))
        end++;
    size_t n = (size_t)(end - p);
    if (n == 4 && !strncasecmp(p, "null", 4)) {
        v->type = IMI_DB_NULL;
    } else if (n == 4 && !strncasecmp(p, "true", 4)) {
        *v = (mock_val){ .type = IMI_DB_BOOL, .i = 1 };
    } else if (n == 5 && !strncasecmp(p, "false", 5)) {
        *v = (mock_val){ .type = IMI_DB_BOOL, .i = 0 };
    } else if (n == 3 && !strncasecmp(p, "any", 3) && allow_any) {
        v->any = true;
    } else {
        char num[64];
        if (n == 0 || n >= sizeof num)
            return m->host->error(IMI_EINVALID, 0, "mock: bad value '%.*s'", (int)n, p);
        memcpy(num, p, n);
        num[n] = '\0';
        char *e;
        if (strpbrk(num, ".eEnN")) {
            *v = (mock_val){ .type = IMI_DB_DOUBLE, .d = strtod(num, &e) };
        } else {
            *v = (mock_val){ .type = IMI_DB_INT, .i = strtoll(num, &e, 10) };
        }
        if (*e)
            return m->host->error(IMI_EINVALID, 0, "mock: bad value '%s'", num);
    }
    *pp = end;
    return IMI_OK;
}

int mock_parse_vals(mock_state *m, const char *text, bool allow_any, mock_vals *out)
{
    *out = (mock_vals){ 0 };
    const char *p = skip_ws(text ? text : "");
    while (*p) {
        mock_val *grown = realloc(out->v, (out->n + 1) * sizeof *grown);
        if (!grown) {
            mock_vals_free(out);
            return m->host->error(IMI_ENOMEM, 0, "out of memory");
        }
        out->v = grown;
        int rc = parse_val(m, &p, allow_any, &out->v[out->n]);
        if (rc) {
            mock_vals_free(out);
            return rc;
        }
        out->n++;
        p = skip_ws(p);
        if (*p == ',')
            p = skip_ws(p + 1);
        else if (*p) {
            mock_vals_free(out);
            return m->host->error(IMI_EINVALID, 0, "mock: expected ',' at '%s'", p);
        }
    }
    return IMI_OK;
}

static int parse_code(mock_state *m, const char *arg, int *code, const char **rest)
{
#define MOCK_CODE_(name, val, msg) { "IMI_" #name, val },
    static const struct { const char *name; int val; } codes[] = { IMI_ERRNO_MAP(MOCK_CODE_) };
#undef MOCK_CODE_
    const char *p = skip_ws(arg ? arg : "");
    const char *end = p;
    while (*end && !isspace((unsigned char)*end))
        end++;
    *rest = skip_ws(end);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (strlen(codes[i].name) == (size_t)(end - p) && !strncmp(codes[i].name, p, (size_t)(end - p))) {
            *code = codes[i].val;
            return *code ? IMI_OK : m->host->error(IMI_EINVALID, 0, "mock: error IMI_OK");
        }
    char *e;
    long v = strtol(p, &e, 10);
    if (e == end && e != p && v < 0) {
        *code = (int)v;
        return IMI_OK;
    }
    return m->host->error(IMI_EINVALID, 0, "mock: '%.*s' is no error code", (int)(end - p), p);
}

/* A scripted delay: 0 to 1 hour, so that `delay 1e300` or `delay nan` is an error and
 * not an undefined conversion. */
#define MOCK_MAX_DELAY_MS 3600000.0

static int parse_ms(mock_state *m, const char *arg, int64_t *out)
{
    char *e;
    double v = strtod(arg ? arg : "", &e);
    e = (char *)skip_ws(e);
    double mult = !*e || !strcmp(e, "ms") ? 1 : !strcmp(e, "s") ? 1000 : !strcmp(e, "us") ? 1e-3 : -1;
    if (mult < 0 || e == arg)
        return m->host->error(IMI_EINVALID, 0, "mock: bad duration '%s'", arg ? arg : "");
    double ms = v * mult;
    if (!(ms >= 0 && ms <= MOCK_MAX_DELAY_MS))
        return m->host->error(IMI_EINVALID, 0, "mock: delay '%s' is out of range (0 to 1h)", arg);
    *out = (int64_t)ms;
    return IMI_OK;
}

/* glibc's regcomp copies the operand of a repeat: `x+` becomes x x*, `x{m,n}` n copies
 * of x, so nested or stacked repeats (((a+)+)+, a++++, (a{9}){9}) multiply, and its
 * work grows faster than the copies (measured: 1,000 nodes 0.15 s, 6,400 nodes 5 s;
 * a followed by 20 '+' 13 s). Back-references make regexec exponential. So a mock
 * pattern is bounded by the size it has once expanded, computed the way glibc expands
 * it: at most MOCK_RE_MAX_EXPANDED nodes, at most MOCK_RE_MAX_LEN bytes, no
 * back-reference. */
#define MOCK_RE_MAX_LEN 256
#define MOCK_RE_MAX_EXPANDED 1024
#define MOCK_RE_MAX_REPEATS 32

/* Past a bracket expression [...] starting at p ('['), or at its end when unterminated
 * (regcomp then refuses the pattern). */
static const char *skip_bracket(const char *p)
{
    p++;
    if (*p == '^')
        p++;
    if (*p == ']')
        p++;
    for (; *p && *p != ']'; p++)
        if (*p == '[' && (p[1] == ':' || p[1] == '=' || p[1] == '.')) {
            const char *close = p + 2;
            while (*close && !(close[0] == p[1] && close[1] == ']'))
                close++;
            if (!*close)
                return close;
            p = close + 1;
        }
    return *p ? p + 1 : p;
}

/* How many copies of its operand the repeat at p makes (1 for * and ?), and its end;
 * 0 when p is no repeat. */
static double repeat_at(const char *p, const char **end)
{
    *end = p + 1;
    if (*p == '*' || *p == '?')
        return 1;
    if (*p == '+')
        return 2;
    if (*p != '{')
        return 0;
    /* {m}, {m,}, {,n} or {m,n} */
    char *e = (char *)p + 1;
    double lo = isdigit((unsigned char)*e) ? strtod(e, &e) : 0, hi = lo;
    bool open = false;
    if (*e == ',' && isdigit((unsigned char)e[1]))
        hi = strtod(e + 1, &e);
    else if (*e == ',') {
        e++;
        open = true;
    }
    if (*e != '}' || e == p + 1)
        return 0;
    *end = e + 1;
    double n = open ? lo + 1 : (hi > lo ? hi : lo);
    return n > 1 ? n : 1;
}

static int check_pattern(mock_state *m, const char *re)
{
    size_t len = strlen(re);
    if (len > MOCK_RE_MAX_LEN)
        return m->host->error(IMI_EINVALID, 0, "mock: regex of %zu bytes (at most %d)", len,
                              MOCK_RE_MAX_LEN);
    /* Per open group: the size of its finished alternatives, of the current one, and of
     * the last operand (group or atom) a repeat would copy. */
    struct { double done, branch, last; } g[MOCK_RE_MAX_LEN + 1] = { { 0, 0, 0 } };
    /* Whether the operand a repeat would apply to ends in a repeat itself: `a**`, `a*+`,
     * `(a*)*`. POSIX leaves stacked repeats undefined and glibc's regcomp spends
     * exponential time on chains of them (the fuzzer found `U***...+***` taking > 10 s). */
    bool last_repeated = false, group_ends_repeated[MOCK_RE_MAX_LEN + 1] = { false };
    int repeats = 0;
    size_t d = 0;
    for (const char *p = re; *p;) {
        const char *next = p + 1;
        double copies;
        bool repeated = false;
        if (*p == '(') {
            d++;
            g[d].done = g[d].branch = g[d].last = 0;
            group_ends_repeated[d] = false;
        } else if (*p == ')' && d > 0) {
            double size = g[d].done + g[d].branch;
            repeated = last_repeated || group_ends_repeated[d];
            d--;
            g[d].branch += size;
            g[d].last = size;
        } else if (*p == '|') {
            g[d].done += g[d].branch;
            g[d].branch = g[d].last = 0;
            group_ends_repeated[d] |= last_repeated;
        } else if ((copies = repeat_at(p, &next)) > 0) {
            if (last_repeated)
                return m->host->error(IMI_EINVALID, 0, "mock: regex repeat at offset %zu "
                                      "applies to something already repeated (not allowed)",
                                      (size_t)(p - re));
            if (++repeats > MOCK_RE_MAX_REPEATS)
                return m->host->error(IMI_EINVALID, 0, "mock: regex with more than %d repeats "
                                      "(*, +, ?, {m,n})", MOCK_RE_MAX_REPEATS);
            repeated = true;
            /* the copies, and one node for the repeat itself */
            g[d].branch += g[d].last * (copies - 1) + 1;
            g[d].last = g[d].last * copies + 1;
        } else {
            if (*p == '\\' && p[1] >= '1' && p[1] <= '9')
                return m->host->error(IMI_EINVALID, 0, "mock: regex back-reference '\\%c' at "
                                      "offset %zu (not allowed)", p[1], (size_t)(p - re));
            next = *p == '[' ? skip_bracket(p) : *p == '\\' && p[1] ? p + 2 : p + 1;
            g[d].branch += 1;
            g[d].last = 1;
        }
        last_repeated = repeated;
        double total = 0;
        for (size_t i = 0; i <= d; i++)
            total += g[i].done + g[i].branch;
        if (total > MOCK_RE_MAX_EXPANDED)
            return m->host->error(IMI_EINVALID, 0, "mock: regex too large once its repeats are "
                                  "expanded (more than %d nodes, at offset %zu)",
                                  MOCK_RE_MAX_EXPANDED, (size_t)(p - re));
        p = next;
    }
    return IMI_OK;
}

static int add_expect(mock_state *m, const char *arg)
{
    static const char *const kinds[] = { "exec", "query", "begin", "commit", "rollback" };
    const char *p = skip_ws(arg ? arg : "");
    size_t kl = strcspn(p, " \t\r\n");
    int kind = -1;
    for (int i = 0; i < 5; i++)
        if (strlen(kinds[i]) == kl && !strncmp(p, kinds[i], kl))
            kind = i;
    if (kind < 0)
        return m->host->error(IMI_EINVALID, 0, "mock: expect exec|query|begin|commit|rollback");
    const char *sql = skip_ws(p + kl);
    if ((kind <= MC_QUERY) != (*sql != '\0'))
        return m->host->error(IMI_EINVALID, 0, "mock: expect %s %s", kinds[kind],
                              kind <= MC_QUERY ? "needs SQL" : "takes no SQL");
    mock_expect *grown = realloc(m->ex, (m->n_ex + 1) * sizeof *grown);
    if (!grown)
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    m->ex = grown;
    mock_expect *e = &m->ex[m->n_ex];
    *e = (mock_expect){ .call = (mock_call)kind, .on = -1 };
    if (!strncmp(sql, "re:", 3)) {
        int bad = check_pattern(m, sql + 3);
        if (bad)
            return bad;
        e->is_regex = true;
        e->sql = strdup(sql + 3);
        int rc = e->sql ? regcomp(&e->re, e->sql, REG_EXTENDED | REG_NOSUB) : REG_ESPACE;
        if (rc) {
            e->is_regex = false;
            free(e->sql);
            return m->host->error(IMI_EINVALID, 0, "mock: bad regex '%s'", sql + 3);
        }
    } else if (*sql && !(e->sql = mock_normalize_sql(sql, strlen(sql)))) {
        return m->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    m->n_ex++;
    return IMI_OK;
}

static int split_names(mock_state *m, const char *arg, mock_expect *e)
{
    const char *p = skip_ws(arg ? arg : "");
    while (*p) {
        size_t n = strcspn(p, ",");
        size_t t = n;
        while (t && isspace((unsigned char)p[t - 1]))
            t--;
        char **grown = realloc(e->columns, (e->n_columns + 1) * sizeof *grown);
        if (!grown)
            return m->host->error(IMI_ENOMEM, 0, "out of memory");
        e->columns = grown;
        if (!(e->columns[e->n_columns] = strndup(p, t)))
            return m->host->error(IMI_ENOMEM, 0, "out of memory");
        e->n_columns++;
        p = skip_ws(p + n + (p[n] == ','));
    }
    return IMI_OK;
}

int mock_command(mock_state *m, const char *cmd, const char *arg)
{
    if (!strcmp(cmd, "expect"))
        return add_expect(m, arg);
    if (!strcmp(cmd, "ordered")) {
        m->ordered = !arg || !strcmp(skip_ws(arg), "true");
        return IMI_OK;
    }
    mock_expect *e = m->n_ex ? &m->ex[m->n_ex - 1] : NULL;
    if (!e)
        return m->host->error(IMI_EINVALID, 0, "mock: '%s' before any expect", cmd);
    if (!strcmp(cmd, "args")) {
        mock_vals_free(&e->args);
        e->has_args = true;
        return mock_parse_vals(m, arg, true, &e->args);
    }
    if (!strcmp(cmd, "columns")) {
        /* Rows already given hold as many values as the columns then: more columns
         * would make the driver read past them. */
        if (e->n_rows)
            return m->host->error(IMI_EINVALID, 0, "mock: 'columns' after a 'row' (give "
                                  "columns first)");
        return split_names(m, arg, e);
    }
    if (!strcmp(cmd, "row")) {
        mock_vals v;
        int rc = mock_parse_vals(m, arg, false, &v);
        if (rc)
            return rc;
        if (v.n != e->n_columns) {
            mock_vals_free(&v);
            return m->host->error(IMI_EINVALID, 0, "mock: a row of %zu values for %zu columns "
                                  "(give columns first)", v.n, e->n_columns);
        }
        mock_vals *grown = realloc(e->rows, (e->n_rows + 1) * sizeof *grown);
        if (!grown) {
            mock_vals_free(&v);
            return m->host->error(IMI_ENOMEM, 0, "out of memory");
        }
        e->rows = grown;
        e->rows[e->n_rows++] = v;
        return IMI_OK;
    }
    if (!strcmp(cmd, "affected")) {
        char *end;
        e->affected = strtoll(arg ? arg : "", &end, 10);
        return *skip_ws(end) || end == arg ? m->host->error(IMI_EINVALID, 0, "mock: affected N")
                                           : IMI_OK;
    }
    if (!strcmp(cmd, "error")) {
        const char *rest;
        int rc = parse_code(m, arg, &e->error, &rest);
        if (rc)
            return rc;
        free(e->error_text);
        e->error_text = strdup(*rest ? rest : "scripted error");
        return IMI_OK;
    }
    if (!strcmp(cmd, "delay"))
        return parse_ms(m, arg, &e->delay_ms);
    if (!strcmp(cmd, "on")) {
        const char *w = skip_ws(arg ? arg : "");
        if (strcmp(w, "writer") && strcmp(w, "reader"))
            return m->host->error(IMI_EINVALID, 0, "mock: on writer|reader");
        e->on = !strcmp(w, "reader");
        return IMI_OK;
    }
    return m->host->error(IMI_EINVALID, 0, "mock: unknown command '%s'", cmd);
}

static bool val_matches(const mock_val *v, const imi_db_param *p)
{
    if (v->any)
        return true;
    if (v->type != p->type)
        return false;
    switch (p->type) {
    case IMI_DB_NULL: return true;
    case IMI_DB_INT: return v->i == p->v.i;
    case IMI_DB_BOOL: return (v->i != 0) == p->v.b;
    case IMI_DB_DOUBLE: return v->d == p->v.d;
    case IMI_DB_TEXT:
    case IMI_DB_BLOB:
        return v->len == p->v.s.len && (!v->len || !memcmp(v->s, p->v.s.ptr, v->len));
    }
    return false;
}

bool mock_expect_matches(const mock_expect *e, mock_call call, const char *norm_sql,
                         const char *raw_sql, const imi_db_param *p, size_t n, bool reader)
{
    if (e->call != call)
        return false;
    if (e->on >= 0 && e->on != (int)reader)
        return false;
    if (call <= MC_QUERY) {
        if (e->is_regex ? regexec(&e->re, raw_sql, 0, NULL, 0) != 0 : strcmp(e->sql, norm_sql))
            return false;
        if (e->has_args) {
            if (e->args.n != n)
                return false;
            for (size_t i = 0; i < n; i++)
                if (!val_matches(&e->args.v[i], &p[i]))
                    return false;
        }
    }
    return true;
}

static void describe_text(char **buf, size_t *len, const char *s, size_t n, bool blob)
{
    if (blob) {
        mock_append(buf, len, "x'");
        for (size_t i = 0; i < n; i++)
            mock_append(buf, len, "%02x", (unsigned char)s[i]);
        mock_append(buf, len, "'");
        return;
    }
    mock_append(buf, len, "'");
    for (size_t i = 0; i < n; i++)
        mock_append(buf, len, s[i] == '\'' ? "''" : "%c", s[i]);
    mock_append(buf, len, "'");
}

void mock_describe_call(char **buf, size_t *len, mock_call call, bool reader, const char *sql,
                        const imi_db_param *p, size_t n)
{
    mock_append(buf, len, "%s %s", mock_call_name(call), reader ? "reader" : "writer");
    if (call > MC_QUERY) {
        mock_append(buf, len, "\n");
        return;
    }
    mock_append(buf, len, " %s [", sql);
    for (size_t i = 0; i < n; i++) {
        if (i)
            mock_append(buf, len, ", ");
        switch (p[i].type) {
        case IMI_DB_NULL: mock_append(buf, len, "null"); break;
        case IMI_DB_INT: mock_append(buf, len, "%" PRId64, p[i].v.i); break;
        case IMI_DB_BOOL: mock_append(buf, len, "%s", p[i].v.b ? "true" : "false"); break;
        case IMI_DB_DOUBLE: mock_append(buf, len, "%.17g", p[i].v.d); break;
        case IMI_DB_TEXT:
        case IMI_DB_BLOB:
            describe_text(buf, len, p[i].v.s.ptr, p[i].v.s.len, p[i].type == IMI_DB_BLOB);
            break;
        }
    }
    mock_append(buf, len, "]\n");
}

void mock_describe_expect(char **buf, size_t *len, const mock_expect *e)
{
    mock_append(buf, len, "%s", mock_call_name(e->call));
    if (e->on >= 0)
        mock_append(buf, len, " on %s", e->on ? "reader" : "writer");
    if (e->sql)
        mock_append(buf, len, " %s%s", e->is_regex ? "re:" : "", e->sql);
    if (e->has_args) {
        mock_append(buf, len, " [");
        for (size_t i = 0; i < e->args.n; i++) {
            const mock_val *v = &e->args.v[i];
            if (i)
                mock_append(buf, len, ", ");
            if (v->any)
                mock_append(buf, len, "any");
            else if (v->type == IMI_DB_NULL)
                mock_append(buf, len, "null");
            else if (v->type == IMI_DB_INT)
                mock_append(buf, len, "%" PRId64, v->i);
            else if (v->type == IMI_DB_BOOL)
                mock_append(buf, len, "%s", v->i ? "true" : "false");
            else if (v->type == IMI_DB_DOUBLE)
                mock_append(buf, len, "%.17g", v->d);
            else
                describe_text(buf, len, v->s, v->len, v->type == IMI_DB_BLOB);
        }
        mock_append(buf, len, "]");
    }
    mock_append(buf, len, "\n");
}
