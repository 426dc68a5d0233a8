/* The one placeholder style of every db driver: `?` outside quotes and comments. */
#include <ctype.h>
#include <string.h>
#include "db_internal.h"

static bool ident_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Past the closing quote q of a string starting after the opening one; a backslash
 * escapes the next character, a doubled quote closes and reopens (same effect). */
static size_t skip_quoted(const char *s, size_t i, size_t len, char q)
{
    while (i < len) {
        if (s[i] == '\\' && i + 1 < len)
            i += 2;
        else if (s[i++] == q)
            return i;
    }
    return len;
}

/* $tag$ ... $tag$ (postgres); i is at the first '$'. Returns i unchanged when it is not
 * the start of a dollar quote (e.g. $1). */
static size_t skip_dollar(const char *s, size_t i, size_t len)
{
    size_t j = i + 1;
    if (j < len && (isdigit((unsigned char)s[j])))
        return i;
    while (j < len && ident_char(s[j]))
        j++;
    if (j >= len || s[j] != '$')
        return i;
    size_t tag_len = j + 1 - i;          /* "$tag$" */
    const char *tag = s + i;
    for (size_t k = j + 1; k + tag_len <= len; k++)
        if (s[k] == '$' && !memcmp(s + k, tag, tag_len))
            return k + tag_len;
    return len;
}

size_t imi_db_sql_scan(const char *s, size_t len, size_t *marks, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len;) {
        char c = s[i];
        if (c == '\'' || c == '"' || c == '`') {
            i = skip_quoted(s, i + 1, len, c);
        } else if (c == '-' && i + 1 < len && s[i + 1] == '-') {
            const char *nl = memchr(s + i, '\n', len - i);
            i = nl ? (size_t)(nl - s) + 1 : len;
        } else if (c == '/' && i + 1 < len && s[i + 1] == '*') {
            const char *end = i + 2 < len ? strstr(s + i + 2, "*/") : NULL;
            i = end ? (size_t)(end - s) + 2 : len;
        } else if (c == '$' && (i == 0 || !ident_char(s[i - 1]))) {
            size_t j = skip_dollar(s, i, len);
            i = j == i ? i + 1 : j;
        } else if (c == '?') {
            if (n < cap)
                marks[n] = i;
            n++;
            i++;
        } else {
            i++;
        }
    }
    return n;
}
