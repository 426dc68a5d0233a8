/* The one placeholder style of every db driver: `?` outside quotes, names and comments.
 *
 * The scanner does not know the driver, so it reads a statement the way every dialect
 * the drivers speak would, and refuses (fails closed) where they disagree about which
 * `?` are placeholders, rather than guess:
 *  - '...' and "..." are read twice: with a backslash escaping the next character
 *    (MySQL's default, PostgreSQL's E'...') and without (standard SQL: SQLite,
 *    PostgreSQL). When the two readings find different placeholders ('a\', ?) the
 *    statement is refused: write a quote as '' and bind values instead.
 *  - `...` (MySQL, SQLite) has no backslash escape in any dialect.
 *  - [...] after a space, an operator, '(' or ',' is a bracket name (SQLite, T-SQL),
 *    so `SELECT [x?] FROM t` has no placeholder. Right after a name, ')' or ']' it is a
 *    PostgreSQL subscript (arr[1]) where SQLite would read a name: a `?` inside is
 *    refused.
 *  - `?1` is SQLite's numbered placeholder (the PostgreSQL driver would make it $11):
 *    refused.
 *  - `--` not followed by a space starts no comment in MySQL: refused when the rest of
 *    its line holds a `?`, a quote or a bracket. MySQL runs the inside of a version
 *    comment (slash, star, bang) as code: refused when it holds a `?`. Block comments
 *    nest in PostgreSQL only: a comment opened inside one is refused.
 *  - $tag$...$tag$ is a PostgreSQL dollar quote.
 *  - An unterminated quote, name or dollar quote is refused.
 * The one rule that depends on the driver: in the "mysql" dialect `#` starts a comment
 * to the end of the line (elsewhere it is an operator, as in PostgreSQL's a # b and
 * data #> '{a}', and a `?` after it is a placeholder). */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include "db_internal.h"
#include "iminfra/error.h"

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '$' || (unsigned char)c >= 0x80;
}

/* One reading of the statement, walked one placeholder at a time. */
typedef struct scan {
    const char *s;
    size_t len, i;
    bool backslash;            /* does a backslash escape inside '...' and "..."? */
    bool hash_comments;        /* does `#` start a comment to the end of the line? */
    unsigned subscript;        /* depth of [ ] read as subscripts */
    size_t at;                 /* the mark found, or where the refusal is */
    const char *why;           /* the refusal */
} scan;

enum { SCAN_END, SCAN_MARK, SCAN_REFUSED };

static int refuse(scan *sc, size_t at, const char *why)
{
    sc->at = at;
    sc->why = why;
    return SCAN_REFUSED;
}

/* The offset of the two-character string ab in s[from, len), or len. */
static size_t find2(const scan *sc, size_t from, char a, char b)
{
    for (size_t k = from; k + 1 < sc->len; k++)
        if (sc->s[k] == a && sc->s[k + 1] == b)
            return k;
    return sc->len;
}

static bool span_has(const scan *sc, size_t from, size_t to, const char *set)
{
    for (size_t k = from; k < to; k++)
        if (strchr(set, sc->s[k]))
            return true;
    return false;
}

/* Past the closing quote q of a quoted run whose opening quote is at i; 0 when it is
 * never closed. A doubled quote stands for itself in every dialect. */
static size_t skip_quoted(const scan *sc, size_t i, char q, bool backslash)
{
    for (i++; i < sc->len; i++) {
        if (backslash && sc->s[i] == '\\' && i + 1 < sc->len)
            i++;
        else if (sc->s[i] == q && i + 1 < sc->len && sc->s[i + 1] == q)
            i++;
        else if (sc->s[i] == q)
            return i + 1;
    }
    return 0;
}

/* $tag$ ... $tag$ (postgres); i is at the first '$'. Returns i unchanged when it is not
 * the start of a dollar quote (e.g. $1), len when it is never closed. */
static size_t skip_dollar(const scan *sc, size_t i)
{
    const char *s = sc->s;
    size_t j = i + 1;
    if (j < sc->len && isdigit((unsigned char)s[j]))
        return i;
    while (j < sc->len && ident_char(s[j]) && s[j] != '$')
        j++;
    if (j >= sc->len || s[j] != '$')
        return i;
    size_t tag_len = j + 1 - i;          /* "$tag$" */
    for (size_t k = j + 1; k + tag_len <= sc->len; k++)
        if (!memcmp(s + k, s + i, tag_len))
            return k + tag_len;
    return sc->len;
}

static int next_mark(scan *sc)
{
    const char *s = sc->s;
    while (sc->i < sc->len) {
        size_t i = sc->i;
        char c = s[i];
        char next = i + 1 < sc->len ? s[i + 1] : '\0';
        if (c == '\'' || c == '"' || c == '`') {
            size_t end = skip_quoted(sc, i, c, c != '`' && sc->backslash);
            if (!end)
                return refuse(sc, i, "an unterminated quote");
            sc->i = end;
        } else if (c == '-' && next == '-') {
            size_t eol = i + 2;
            while (eol < sc->len && s[eol] != '\n')
                eol++;
            if (i + 2 < sc->len && !isspace((unsigned char)s[i + 2]) &&
                span_has(sc, i + 2, eol, "?'\"`["))
                return refuse(sc, i, "'--' without a space after it, which MySQL does not "
                                     "read as a comment");
            sc->i = eol;
        } else if (c == '#' && sc->hash_comments) {
            const char *eol = memchr(s + i, '\n', sc->len - i);
            sc->i = eol ? (size_t)(eol - s) : sc->len;
        } else if (c == '/' && next == '*') {
            size_t end = find2(sc, i + 2, '*', '/');
            if (i + 2 < sc->len && s[i + 2] == '!' && span_has(sc, i + 2, end, "?"))
                return refuse(sc, i, "a '?' in a /*! */ comment, which MySQL runs as code");
            if (find2(sc, i + 2, '/', '*') < end)
                return refuse(sc, i, "a comment inside a comment (PostgreSQL nests them, "
                                     "SQLite and MySQL do not)");
            sc->i = end < sc->len ? end + 2 : sc->len;
        } else if (c == '$' && (i == 0 || !ident_char(s[i - 1]))) {
            size_t end = skip_dollar(sc, i);
            if (end == sc->len)
                return refuse(sc, i, "an unterminated dollar quote");
            sc->i = end == i ? i + 1 : end;
        } else if (c == '[') {
            char before = i ? s[i - 1] : ' ';
            if (ident_char(before) || strchr(")]'\"`", before)) {
                sc->subscript++;
                sc->i = i + 1;
            } else {
                const char *close = memchr(s + i, ']', sc->len - i);
                if (!close)
                    return refuse(sc, i, "an unterminated [name]");
                sc->i = (size_t)(close - s) + 1;
            }
        } else if (c == ']') {
            if (sc->subscript)
                sc->subscript--;
            sc->i = i + 1;
        } else if (c == '?') {
            if (sc->subscript)
                return refuse(sc, i, "a '?' in [ ] after a name (a subscript in PostgreSQL, "
                                     "a name in SQLite)");
            if (isdigit((unsigned char)next))
                return refuse(sc, i, "a numbered placeholder ?N (use plain '?')");
            sc->at = i;
            sc->i = i + 1;
            return SCAN_MARK;
        } else {
            sc->i = i + 1;
        }
    }
    return SCAN_END;
}

unsigned imi_db_sql_flags(const char *dialect)
{
    return dialect && !strcmp(dialect, "mysql") ? IMI_DB_SQL_HASH_COMMENTS : 0;
}

size_t imi_db_sql_scan(const char *s, size_t len, unsigned flags, size_t *marks, size_t cap)
{
    bool hash = flags & IMI_DB_SQL_HASH_COMMENTS;
    scan std = { .s = s, .len = len, .hash_comments = hash },
         bsl = { .s = s, .len = len, .backslash = true, .hash_comments = hash };
    size_t n = 0;
    for (;;) {
        int a = next_mark(&std), b = next_mark(&bsl);
        if (a == SCAN_REFUSED && b == SCAN_REFUSED) {
            imi_error_set(IMI_EINVALID, 0, "db: SQL refused at offset %zu: %s", std.at, std.why);
            return IMI_DB_SQL_REFUSED;
        }
        if (a != b || (a == SCAN_MARK && std.at != bsl.at)) {
            /* Only the backslash tells the readings apart. */
            imi_error_set(IMI_EINVALID, 0, "db: SQL refused at offset %zu: a backslash in a "
                          "quoted string, which MySQL reads as an escape and standard SQL "
                          "does not, changes the placeholders (write a quote as '' or bind "
                          "the value)", a == SCAN_MARK ? std.at : bsl.at);
            return IMI_DB_SQL_REFUSED;
        }
        if (a == SCAN_END)
            return n;
        if (n < cap)
            marks[n] = std.at;
        n++;
    }
}
