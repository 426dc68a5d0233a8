/* The hot path's JSON: request bodies written straight into a buffer (every value the
 * driver sends is base64 or a decimal number, so nothing needs escaping), and replies
 * read in place by a small scanner that walks valid JSON without building a tree. The
 * gateway's replies to unary calls are small objects whose strings are base64 or
 * digits; anything unusual (errors, listings, watch messages) goes through jansson. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "etcd.h"

/* ---- writing ------------------------------------------------------------------------- */

void etcd_jw_init(etcd_jw *w)
{
    w->p = w->small;
    w->len = 0;
    w->cap = sizeof w->small;
    w->oom = false;
    w->small[0] = '\0';
}

void etcd_jw_free(etcd_jw *w)
{
    if (w->p != w->small)
        free(w->p);
}

static bool reserve(etcd_jw *w, size_t add)
{
    if (w->oom)
        return false;
    if (w->len + add + 1 <= w->cap)
        return true;
    size_t cap = w->cap * 2;
    while (cap < w->len + add + 1)
        cap *= 2;
    char *p = w->p == w->small ? malloc(cap) : realloc(w->p, cap);
    if (!p) {
        w->oom = true;
        return false;
    }
    if (w->p == w->small)
        memcpy(p, w->small, w->len + 1);
    w->p = p;
    w->cap = cap;
    return true;
}

void etcd_jw_raw(etcd_jw *w, const char *s)
{
    size_t n = strlen(s);
    if (!reserve(w, n))
        return;
    memcpy(w->p + w->len, s, n + 1);
    w->len += n;
}

void etcd_jw_b64(etcd_jw *w, const void *data, size_t len)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    if (!reserve(w, (len + 2) / 3 * 4 + 2))
        return;
    const unsigned char *p = data;
    char *o = w->p + w->len;
    *o++ = '"';
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *o++ = t[(v >> 18) & 63];
        *o++ = t[(v >> 12) & 63];
        *o++ = i + 1 < len ? t[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? t[v & 63] : '=';
    }
    *o++ = '"';
    *o = '\0';
    w->len = (size_t)(o - w->p);
}

void etcd_jw_int(etcd_jw *w, int64_t v)
{
    char s[32];
    snprintf(s, sizeof s, "\"%lld\"", (long long)v);
    etcd_jw_raw(w, s);
}

/* ---- reading ------------------------------------------------------------------------- */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* The end of the string starting at p (on its opening quote), past the closing quote. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

/* Past `"key" :` at p (after an object's '{' or ','); NULL when it is not there. */
static const char *member_key(const char *p, const char *end)
{
    if (p >= end || *p != '"' || !(p = skip_string(p, end)))
        return NULL;
    p = ws(p, end);
    return p < end && *p == ':' ? p + 1 : NULL;
}

/* The end of the value starting at p; NULL when it is not valid or nested deeper than
 * ETCD_JSON_MAX_DEPTH. A loop with a stack of the open containers' closing brackets, not
 * recursion: a hostile reply nested a million levels deep costs nothing but a refusal. */
static const char *skip_value(const char *p, const char *end)
{
    char open[ETCD_JSON_MAX_DEPTH];
    size_t depth = 0;
    for (;;) {
        /* one value at p */
        p = ws(p, end);
        if (p >= end)
            return NULL;
        if (*p == '{' || *p == '[') {
            char close = *p == '{' ? '}' : ']';
            p = ws(p + 1, end);
            if (p < end && *p == close) {
                p++;
            } else {
                if (depth == ETCD_JSON_MAX_DEPTH)
                    return NULL;
                open[depth++] = close;
                if (close == '}' && !(p = member_key(p, end)))
                    return NULL;
                continue;
            }
        } else if (*p == '"') {
            if (!(p = skip_string(p, end)))
                return NULL;
        } else { /* number, true, false, null */
            const char *s = p;
            while (p < end && !strchr(",}] \t\r\n", *p))
                p++;
            if (p == s)
                return NULL;
        }
        /* after a value: close what ends here, or go on to the next member or element */
        for (;;) {
            if (depth == 0)
                return p;
            p = ws(p, end);
            if (p >= end)
                return NULL;
            if (*p == open[depth - 1]) {
                p++;
                depth--;
                continue;
            }
            if (*p != ',')
                return NULL;
            p = ws(p + 1, end);
            if (open[depth - 1] == '}' && !(p = member_key(p, end)))
                return NULL;
            break;
        }
    }
}

bool etcd_jr_valid(etcd_jv v)
{
    const char *e = skip_value(v.p, v.end);
    return e && ws(e, v.end) == v.end;
}

bool etcd_jr_member(etcd_jv obj, const char *name, etcd_jv *out)
{
    const char *p = ws(obj.p, obj.end), *end = obj.end;
    if (p >= end || *p != '{')
        return false;
    size_t nlen = strlen(name);
    p = ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *k = p + 1, *kend = skip_string(p, end);
        if (!kend)
            return false;
        p = ws(kend, end);
        if (p >= end || *p++ != ':')
            return false;
        p = ws(p, end);
        const char *vend = skip_value(p, end);
        if (!vend)
            return false;
        if ((size_t)(kend - 1 - k) == nlen && !memcmp(k, name, nlen)) {
            *out = (etcd_jv){ .p = p, .end = vend };
            return true;
        }
        p = ws(vend, end);
        if (p < end && *p == ',')
            p = ws(p + 1, end);
    }
    return false;
}

bool etcd_jr_index(etcd_jv arr, size_t i, etcd_jv *out)
{
    const char *p = ws(arr.p, arr.end), *end = arr.end;
    if (p >= end || *p != '[')
        return false;
    p = ws(p + 1, end);
    for (size_t n = 0; p < end && *p != ']'; n++) {
        const char *vend = skip_value(p, end);
        if (!vend)
            return false;
        if (n == i) {
            *out = (etcd_jv){ .p = p, .end = vend };
            return true;
        }
        p = ws(vend, end);
        if (p < end && *p == ',')
            p = ws(p + 1, end);
    }
    return false;
}

bool etcd_jr_path(etcd_jv root, const char *a, const char *b, etcd_jv *out)
{
    etcd_jv mid;
    return etcd_jr_member(root, a, &mid) && (!b || etcd_jr_member(mid, b, &mid)) &&
           (*out = mid, true);
}

int64_t etcd_jr_int(etcd_jv v)
{
    const char *p = v.p;
    if (p < v.end && *p == '"')
        p++;
    return p < v.end ? strtoll(p, NULL, 10) : 0;
}

int64_t etcd_jr_int_at(etcd_jv root, const char *a, const char *b)
{
    etcd_jv v;
    return etcd_jr_path(root, a, b, &v) ? etcd_jr_int(v) : 0;
}

bool etcd_jr_true(etcd_jv v) { return v.end - v.p == 4 && !memcmp(v.p, "true", 4); }

char *etcd_jr_b64(etcd_jv v, size_t *len)
{
    /* Base64 strings never hold escapes; anything else is refused. */
    if (v.end - v.p < 2 || *v.p != '"' || memchr(v.p, '\\', (size_t)(v.end - v.p)))
        return NULL;
    size_t n = (size_t)(v.end - v.p) - 2;
    char small[256], *s = n < sizeof small ? small : malloc(n + 1);
    if (!s)
        return NULL;
    memcpy(s, v.p + 1, n);
    s[n] = '\0';
    char *out = etcd_b64_decode(s, len);
    if (s != small)
        free(s);
    return out;
}
