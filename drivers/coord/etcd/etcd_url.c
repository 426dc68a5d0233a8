/* Endpoint URLs: the user:password part is taken out of every URL the driver keeps, so
 * no message can print it, and any URL text that still must be shown (a refused one) has
 * its password replaced by ***. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

/* The span of "user:password" (or "user") in url, before the host; false when none. */
static bool userinfo(const char *url, size_t len, size_t *start, size_t *end)
{
    const char *sep = NULL;
    for (size_t i = 0; i + 2 < len; i++)
        if (url[i] == ':' && url[i + 1] == '/' && url[i + 2] == '/') {
            sep = url + i + 3;
            break;
        }
    const char *auth = sep ? sep : url;
    size_t alen = strcspn(auth, "/?#");
    if (alen > len - (size_t)(auth - url))
        alen = len - (size_t)(auth - url);
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (auth[i] == '@')
            at = auth + i; /* the last '@' ends the userinfo */
    if (!at)
        return false;
    *start = (size_t)(auth - url);
    *end = (size_t)(at - url);
    return true;
}

void etcd_url_redact(const char *url, size_t len, char *out, size_t n)
{
    size_t s, e;
    if (!userinfo(url, len, &s, &e)) {
        snprintf(out, n, "%.*s", (int)len, url);
        return;
    }
    const char *colon = memchr(url + s, ':', e - s);
    if (!colon) {
        snprintf(out, n, "%.*s", (int)len, url);
        return;
    }
    size_t upto = (size_t)(colon - url) + 1;
    snprintf(out, n, "%.*s***%.*s", (int)upto, url, (int)(len - e), url + e);
}

char *etcd_url_split(const char *url, size_t len, char **user, char **password)
{
    *user = *password = NULL;
    size_t s, e;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    if (!userinfo(url, len, &s, &e)) {
        memcpy(out, url, len);
        out[len] = '\0';
        return out;
    }
    const char *colon = memchr(url + s, ':', e - s);
    size_t ulen = colon ? (size_t)(colon - url) - s : e - s;
    *user = strndup(url + s, ulen);
    *password = colon ? strndup(colon + 1, e - (size_t)(colon - url) - 1) : NULL;
    /* the URL without "userinfo@" */
    memcpy(out, url, s);
    memcpy(out + s, url + e + 1, len - e - 1);
    out[len - (e + 1 - s)] = '\0';
    if (!*user || (colon && !*password)) {
        free(*user);
        free(*password);
        free(out);
        *user = *password = NULL;
        return NULL;
    }
    return out;
}
