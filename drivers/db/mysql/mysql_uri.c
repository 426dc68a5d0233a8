/* Parsing mysql:// connection URIs. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mysql_uri.h"

static int hexv(char c)
{
    return isdigit((unsigned char)c) ? c - '0' : tolower((unsigned char)c) - 'a' + 10;
}

static char *decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
            isxdigit((unsigned char)s[i + 2])) {
            out[o++] = (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

void my_uri_free(my_uri *u)
{
    free(u->user);
    free(u->password);
    free(u->host);
    free(u->database);
    free(u->socket);
    free(u->ssl_ca);
    free(u->ssl_cert);
    free(u->ssl_key);
    memset(u, 0, sizeof *u);
}

/* The field of a URI parameter that takes a string, or NULL. */
static char **string_param(my_uri *u, const char *key, size_t kl)
{
    struct { const char *name; char **field; } known[] = {
        { "ssl_ca", &u->ssl_ca }, { "ssl_cert", &u->ssl_cert }, { "ssl_key", &u->ssl_key },
        { "socket", &u->socket },
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == kl && !strncmp(key, known[i].name, kl))
            return known[i].field;
    return NULL;
}

int my_uri_parse(const char *text, my_uri *u, char *why, unsigned why_len)
{
    memset(u, 0, sizeof *u);
    u->port = 3306;
    const char *p = text;
    if (strncmp(p, "mysql://", 8) && strncmp(p, "mariadb://", 10)) {
        snprintf(why, why_len, "'%.20s...' is not a mysql:// URI", text);
        return -1;
    }
    p = strstr(p, "://") + 3;
    const char *end = p + strcspn(p, "/?");
    const char *at = memchr(p, '@', (size_t)(end - p));
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        u->user = decode(p, (size_t)((colon ? colon : at) - p));
        if (colon)
            u->password = decode(colon + 1, (size_t)(at - colon - 1));
        p = at + 1;
    }
    const char *colon = memchr(p, ':', (size_t)(end - p));
    u->host = decode(p, (size_t)((colon ? colon : end) - p));
    if (colon) {
        char *e;
        unsigned long port = strtoul(colon + 1, &e, 10);
        if (e != end || port == 0 || port > 65535) {
            snprintf(why, why_len, "bad port in the URI");
            return -1;
        }
        u->port = (unsigned)port;
    }
    p = end;
    if (*p == '/') {
        size_t n = strcspn(p + 1, "?");
        u->database = decode(p + 1, n);
        p += 1 + n;
    }
    if (*p == '?') {
        p++;
        while (*p) {
            size_t n = strcspn(p, "&");
            const char *eq = memchr(p, '=', n);
            size_t kl = eq ? (size_t)(eq - p) : n;
            char *val = eq ? decode(eq + 1, n - kl - 1) : strdup(""), **slot;
            if (!val)
                return -1;
            if (kl == 3 && !strncmp(p, "ssl", 3)) {
                u->ssl = !strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "required");
                free(val);
            } else if ((slot = string_param(u, p, kl))) {
                free(*slot);
                *slot = val;
            } else {
                snprintf(why, why_len, "unknown URI parameter '%.*s' (known: ssl, ssl_ca, "
                         "ssl_cert, ssl_key, socket)", (int)kl, p);
                free(val);
                return -1;
            }
            p += n + (p[n] == '&');
        }
    }
    if (!u->host || (!*u->host && !u->socket)) {
        snprintf(why, why_len, "the URI names no host");
        return -1;
    }
    return 0;
}
