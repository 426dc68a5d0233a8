/* clog: root loggers, named sub-loggers and levels. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include "clog_internal.h"
#include "iminfra/error.h"

static const char *const level_names[] = { "debug", "info", "warn", "error", "off" };
int imi_log_level_parse(const char *name)
{
    if (!name)
        return -1;
    for (int i = 0; i <= IMI_LOG_OFF; i++)
        if (strcasecmp(name, level_names[i]) == 0)
            return i;
    if (strcasecmp(name, "warning") == 0)
        return IMI_LOG_WARN;
    return -1;
}

const char *imi_log_level_name(imi_log_level level)
{
    if ((int)level < 0 || level > IMI_LOG_OFF)
        return "?";
    return level_names[level];
}

/* key, then s escaped and cut to IMI_CLOG_NAME_MAX, then close; malloc'd. */
static char *escaped(const char *key, const char *s, const char *close, bool json,
                     size_t *len)
{
    size_t kl = strlen(key), cl = strlen(close);
    char *out = malloc(kl + IMI_CLOG_NAME_MAX + cl + 1);
    if (!out)
        return NULL;
    memcpy(out, key, kl);
    imi_clog_buf b = { out + kl, out + kl + IMI_CLOG_NAME_MAX, false };
    imi_clog_esc(&b, s, strlen(s), json);
    memcpy(b.p, close, cl + 1);
    *len = (size_t)(b.p - out) + cl;
    return out;
}

/* The parts of a line that never change for this logger. */
static int build_heads(imi_logger *lg, const char *service)
{
    size_t sl = 0, ll = 0;
    char *s = service ? escaped(",\"service\":\"", service, "\"", true, &sl) : NULL;
    char *l = lg->name ? escaped(",\"logger\":\"", lg->name, "\"", true, &ll) : NULL;
    lg->json_head = calloc(1, sl + ll + 1 + 16); /* 16 spare: copied 16 bytes a step */
    if ((service && !s) || (lg->name && !l) || !lg->json_head) {
        free(s);
        free(l);
        return IMI_ENOMEM;
    }
    memcpy(lg->json_head, s ? s : "", sl);
    memcpy(lg->json_head + sl, l ? l : "", ll + 1);
    lg->json_head_len = sl + ll;
    free(s);
    free(l);
    /* A console name or service that could be read as something else is quoted. */
    bool q = lg->name && (imi_clog_needs_quote(lg->name, strlen(lg->name)) ||
                          strchr(lg->name, ']'));
    lg->con_name = escaped(!lg->name ? "" : q ? " [\"" : " [", lg->name ? lg->name : "",
                           !lg->name ? "" : q ? "\"]" : "]", q, &lg->con_name_len);
    return lg->con_name ? IMI_OK : IMI_ENOMEM;
}

static void logger_free(imi_logger *lg)
{
    free(lg->name);
    free(lg->json_head);
    free(lg->con_name);
}

static void root_free(clog_root *r)
{
    for (size_t i = 0; i < r->n_kids; i++) {
        logger_free(r->kids[i]);
        free(r->kids[i]);
    }
    free(r->kids);
    logger_free(&r->self);
    free(r->con_service);
    free(r->service);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static int check_options(const imi_log_options *o)
{
    if ((int)o->level < 0 || o->level > IMI_LOG_OFF)
        return imi_error_set(IMI_EINVALID, 0, "log level %d out of range", (int)o->level);
    if (o->format != IMI_LOG_JSON && o->format != IMI_LOG_CONSOLE)
        return imi_error_set(IMI_EINVALID, 0, "log format %d unknown", (int)o->format);
    if (o->buffer_bytes && (o->buffer_bytes < IMI_LOG_BUFFER_MIN ||
                            o->buffer_bytes > IMI_LOG_BUFFER_MAX))
        return imi_error_set(IMI_EINVALID, 0, "log buffer %zu bytes out of range: 0 (none) or "
                             "%zu .. %zu", o->buffer_bytes, IMI_LOG_BUFFER_MIN,
                             IMI_LOG_BUFFER_MAX);
    if (o->flush_interval_ms && (o->flush_interval_ms < IMI_LOG_FLUSH_MIN_MS ||
                                 o->flush_interval_ms > IMI_LOG_FLUSH_MAX_MS))
        return imi_error_set(IMI_EINVALID, 0, "log flush interval %lld ms out of range: "
                             "%d .. %d ms", (long long)o->flush_interval_ms,
                             IMI_LOG_FLUSH_MIN_MS, IMI_LOG_FLUSH_MAX_MS);
    if (o->on_full != IMI_LOG_BLOCK && o->on_full != IMI_LOG_DROP)
        return imi_error_set(IMI_EINVALID, 0, "log on_full %d is not block or drop",
                             (int)o->on_full);
    return IMI_OK;
}

int imi_logger_open(const imi_log_options *opts, imi_logger **out)
{
    static const imi_log_options defaults = { .level = IMI_LOG_INFO };
    const imi_log_options *o = opts ? opts : &defaults;
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "imi_logger_open: out is NULL");
    *out = NULL;
    int rc = check_options(o);
    if (rc)
        return rc;
    clog_root *r = calloc(1, sizeof *r);
    if (!r)
        return imi_error_set(IMI_ENOMEM, 0, "logger: out of memory");
    r->self.root = r;
    atomic_init(&r->level, (int)o->level);
    r->format = o->format;
    pthread_mutex_init(&r->mu, NULL);
    if ((o->service && !(r->service = strdup(o->service))) ||
        build_heads(&r->self, o->service) != IMI_OK ||
        !(r->con_service = !o->service ? calloc(1, 1)
                           : imi_clog_needs_quote(o->service, strlen(o->service))
                               ? escaped(" service=\"", o->service, "\"", true,
                                         &r->con_service_len)
                               : escaped(" service=", o->service, "", false,
                                         &r->con_service_len))) {
        root_free(r);
        return imi_error_set(IMI_ENOMEM, 0, "logger: out of memory");
    }
    imi_clog_sink_opts so = {
        .output = o->output,
        .rotate_bytes = o->rotate_bytes,
        .keep = o->rotate_keep,
        .buffer = o->buffer_bytes,
        .interval_ms = o->flush_interval_ms,
        .async = o->async,
        .drop = o->on_full == IMI_LOG_DROP,
        .drop_line = imi_clog_drop_line,
        .drop_arg = &r->self,
    };
    rc = imi_clog_sink_open(&r->sink, &so);
    if (rc) {
        root_free(r);
        return rc;
    }
    *out = &r->self;
    return IMI_OK;
}

void imi_logger_free(imi_logger *lg)
{
    if (!lg || lg != &lg->root->self)
        return; /* only a root closes */
    imi_clog_sink_close(&lg->root->sink);
    root_free(lg->root);
}

/* "parent.name", or name under the root; malloc'd. */
static char *full_name(const imi_logger *parent, const char *name)
{
    size_t pl = parent->name ? strlen(parent->name) + 1 : 0, nl = strlen(name);
    char *s = malloc(pl + nl + 1);
    if (!s)
        return NULL;
    if (pl) {
        memcpy(s, parent->name, pl - 1);
        s[pl - 1] = '.';
    }
    memcpy(s + pl, name, nl + 1);
    return s;
}

static imi_logger *find_kid(clog_root *r, const char *name)
{
    for (size_t i = 0; i < r->n_kids; i++)
        if (strcmp(r->kids[i]->name, name) == 0)
            return r->kids[i];
    return NULL;
}

static imi_logger *add_kid(clog_root *r, char *name)
{
    if (r->n_kids == r->cap_kids) {
        size_t cap = r->cap_kids ? r->cap_kids * 2 : 8;
        imi_logger **k = realloc(r->kids, cap * sizeof *k);
        if (!k)
            return NULL;
        r->kids = k;
        r->cap_kids = cap;
    }
    imi_logger *lg = calloc(1, sizeof *lg);
    if (!lg)
        return NULL;
    lg->root = r;
    lg->name = name;
    if (build_heads(lg, r->service) != IMI_OK) {
        lg->name = NULL;
        logger_free(lg);
        free(lg);
        return NULL;
    }
    r->kids[r->n_kids++] = lg;
    return lg;
}

imi_logger *imi_logger_named(imi_logger *parent, const char *name)
{
    if (!parent || !name || !*name)
        return NULL;
    char *full = full_name(parent, name);
    if (!full)
        return NULL;
    clog_root *r = parent->root;
    pthread_mutex_lock(&r->mu);
    imi_logger *lg = find_kid(r, full);
    if (!lg && !(lg = add_kid(r, full)))
        free(full);
    else if (lg->name != full)
        free(full);
    pthread_mutex_unlock(&r->mu);
    return lg;
}

void imi_logger_set_level(imi_logger *lg, imi_log_level level)
{
    if (lg && (int)level >= 0 && level <= IMI_LOG_OFF)
        atomic_store_explicit(&lg->root->level, (int)level, memory_order_relaxed);
}

imi_log_level imi_logger_level(const imi_logger *lg)
{
    return lg ? (imi_log_level)atomic_load_explicit(&lg->root->level, memory_order_relaxed)
              : IMI_LOG_OFF;
}

bool imi_log_enabled(const imi_logger *lg, imi_log_level level)
{
    return lg && (int)level >= 0 && level < IMI_LOG_OFF &&
           (int)level >= atomic_load_explicit(&lg->root->level, memory_order_relaxed);
}
