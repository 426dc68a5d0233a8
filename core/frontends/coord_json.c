/* Typed config values: a JSON object decoded into a C struct through a field table, read
 * once or kept current by a watch. Above coord_kv.c: it uses only the public calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include "coord_internal.h"
#include "iminfra/error.h"

#define JSON_MAX_DEPTH 32

static const char *json_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "?";
}

static const char *type_words(imi_json_type t)
{
    switch (t) {
    case IMI_JSON_STRING: return "a string";
    case IMI_JSON_INT: return "an integer";
    case IMI_JSON_DOUBLE: return "a number";
    case IMI_JSON_BOOL: return "a boolean";
    }
    return "?";
}

/* The member at a dotted path, or NULL when absent (a missing parent counts as absent;
 * a parent that is not an object is an error). */
static int lookup(const char *what, json_t *root, const char *path, json_t **out)
{
    char part[128];
    json_t *v = root;
    const char *p = path;
    for (int depth = 0; depth < JSON_MAX_DEPTH; depth++) {
        size_t n = strcspn(p, ".");
        if (n == 0 || n >= sizeof part)
            return imi_error_set(IMI_EINVALID, 0, "%s: field path '%s' is not valid", what, path);
        memcpy(part, p, n);
        part[n] = '\0';
        if (!json_is_object(v))
            return imi_error_set(IMI_EINVALID, 0, "%s: $.%.*s: expected an object, got %s",
                                 what, (int)(p - path - 1 > 0 ? p - path - 1 : 0), path,
                                 json_kind(v));
        v = json_object_get(v, part);
        if (!v || !p[n]) {
            *out = v;
            return IMI_OK;
        }
        p += n + 1;
    }
    return imi_error_set(IMI_EINVALID, 0, "%s: field path '%s' is too deep", what, path);
}

/* The member size a type needs (0: any, for strings). */
static size_t member_size(imi_json_type t)
{
    return t == IMI_JSON_INT ? sizeof(int64_t) : t == IMI_JSON_DOUBLE ? sizeof(double)
         : t == IMI_JSON_BOOL ? sizeof(bool) : 0;
}

static int store(const char *what, const imi_json_field *f, json_t *v, char *base)
{
    void *dst = base + f->offset;
    if (f->type < IMI_JSON_STRING || f->type > IMI_JSON_BOOL)
        return imi_error_set(IMI_EINVALID, 0, "%s: field %s has no valid type", what, f->path);
    if (member_size(f->type) ? f->size != member_size(f->type) : f->size == 0)
        return imi_error_set(IMI_EINVALID, 0, "%s: field %s: a member of %zu bytes cannot hold "
                             "%s", what, f->path, f->size, type_words(f->type));
    bool b;
    int64_t i;
    double d;
    switch (f->type) {
    case IMI_JSON_STRING:
        if (!json_is_string(v))
            break;
        size_t len = json_string_length(v);
        if (len + 1 > f->size || memchr(json_string_value(v), '\0', len))
            return imi_error_set(IMI_EINVALID, 0, "%s: $.%s: a string of %zu bytes does not fit "
                                 "%zu (or holds a NUL)", what, f->path, len, f->size - 1);
        memcpy(dst, json_string_value(v), len + 1);
        return IMI_OK;
    case IMI_JSON_INT:
        if (!json_is_integer(v))
            break;
        i = (int64_t)json_integer_value(v);
        memcpy(dst, &i, sizeof i);
        return IMI_OK;
    case IMI_JSON_DOUBLE:
        if (!json_is_number(v))
            break;
        d = json_number_value(v);
        memcpy(dst, &d, sizeof d);
        return IMI_OK;
    case IMI_JSON_BOOL:
        if (!json_is_boolean(v))
            break;
        b = json_is_true(v);
        memcpy(dst, &b, sizeof b);
        return IMI_OK;
    }
    return imi_error_set(IMI_EINVALID, 0, "%s: $.%s: expected %s, got %s", what, f->path,
                         type_words(f->type), json_kind(v));
}

/* A default's text, read as JSON where it is a number or boolean, else as a string. */
static int store_default(const char *what, const imi_json_field *f, char *base)
{
    json_t *v = f->type == IMI_JSON_STRING ? json_string(f->default_value)
                                           : json_loads(f->default_value, JSON_DECODE_ANY, NULL);
    if (!v)
        return imi_error_set(IMI_EINVALID, 0, "%s: field %s: default '%s' is not %s", what,
                             f->path, f->default_value, type_words(f->type));
    int rc = store(what, f, v, base);
    json_decref(v);
    return rc;
}

int imi_json_decode(const char *what, const void *json, size_t len, const imi_json_field *fields,
                    size_t n, void *out)
{
    if (!what || (!json && len) || (!fields && n) || !out)
        return imi_error_set(IMI_EINVALID, 0, "json decode: name, fields and out are required");
    json_error_t err;
    json_t *root = json_loadb(json ? json : "", len, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return imi_error_set(IMI_EINVALID, 0, "%s: not JSON: %s (line %d, column %d)", what,
                             err.text, err.line, err.column);
    int rc = IMI_OK;
    if (!json_is_object(root))
        rc = imi_error_set(IMI_EINVALID, 0, "%s: $: expected an object, got %s", what,
                           json_kind(root));
    for (size_t i = 0; i < n && !rc; i++) {
        const imi_json_field *f = &fields[i];
        json_t *v = NULL;
        if (!f->path || (rc = lookup(what, root, f->path, &v)))
            rc = rc ? rc : imi_error_set(IMI_EINVALID, 0, "%s: field %zu has no path", what, i);
        else if (v)
            rc = store(what, f, v, out);
        else if (f->required)
            rc = imi_error_set(IMI_EINVALID, 0, "%s: $.%s is required", what, f->path);
        else if (f->default_value)
            rc = store_default(what, f, out);
        else
            memset((char *)out + f->offset, 0, f->size);
    }
    json_decref(root);
    return rc;
}

int imi_coord_get_json(imi_coord *c, const imi_ctx *ctx, const char *key,
                       const imi_json_field *fields, size_t n, void *out, imi_coord_meta *meta)
{
    imi_buf buf = IMI_BUF_INIT;
    int rc = imi_coord_get(c, ctx, key, &buf, meta);
    if (!rc)
        rc = imi_json_decode(key, buf.data, buf.len, fields, n, out);
    imi_buf_free(&buf);
    return rc;
}

/* ---- the watch ---- */

typedef struct json_watch {
    char *key;
    const imi_json_field *fields;
    size_t n, value_size;
    imi_coord_json_fn fn;
    void *ud;
    void *value;                 /* value_size bytes, decoded anew for each event */
} json_watch;

static void deliver(json_watch *jw, const void *data, size_t len)
{
    memset(jw->value, 0, jw->value_size);
    if (imi_json_decode(jw->key, data, len, jw->fields, jw->n, jw->value))
        jw->fn(jw->ud, NULL, IMI_EINVALID, imi_error_message());
    else
        jw->fn(jw->ud, jw->value, IMI_OK, NULL);
}

static void on_event(void *ud, const imi_coord_event *ev)
{
    json_watch *jw = ud;
    if (ev->type == IMI_COORD_EVENT_PUT)
        deliver(jw, ev->value, ev->value_len);
    else if (ev->type == IMI_COORD_EVENT_DELETE)
        jw->fn(jw->ud, NULL, IMI_ENOTFOUND, "deleted");
}

static void json_watch_free(void *ud)
{
    json_watch *jw = ud;
    free(jw->key);
    free(jw->value);
    free(jw);
}

typedef struct first_read {
    const char *key;
    json_watch *jw;
    bool found;
} first_read;

static int exact_key(void *ud, const char *key, const void *val, size_t len,
                     const imi_coord_meta *meta)
{
    (void)meta;
    first_read *fr = ud;
    if (strcmp(key, fr->key))
        return 0;
    fr->found = true;
    deliver(fr->jw, val, len);
    return 1;
}

int imi_coord_watch_json(imi_coord *c, const imi_ctx *ctx, const char *key,
                         const imi_json_field *fields, size_t n, size_t value_size,
                         imi_coord_json_fn fn, void *ud, imi_coord_watch **out)
{
    if (!c || !key || !*key || !fn || !out || !value_size || (!fields && n))
        return imi_error_set(IMI_EINVALID, 0, "watch_json: handle, key, fields, value size, "
                             "callback and output are required");
    *out = NULL;
    int rc = coord_need(c, IMI_COORD_CAP_WATCH, "watches");
    if (rc)
        return rc;
    json_watch *jw = calloc(1, sizeof *jw);
    if (jw) {
        jw->key = strdup(key);
        jw->value = calloc(1, value_size);
    }
    if (!jw || !jw->key || !jw->value) {
        if (jw)
            json_watch_free(jw);
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    }
    *jw = (json_watch){ .key = jw->key, .fields = fields, .n = n, .value_size = value_size,
                        .fn = fn, .ud = ud, .value = jw->value };
    /* One consistent read gives the value and the revision the watch goes on from. */
    first_read fr = { .key = key, .jw = jw };
    int64_t rev = 0;
    rc = imi_coord_list(c, ctx, key, exact_key, &fr, &rev);
    if (!rc)
        rc = imi_coord_watch_open(c, ctx, key, 0, rev + 1, on_event, jw, json_watch_free, out);
    if (rc)
        json_watch_free(jw);
    return rc;
}
