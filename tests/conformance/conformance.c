/* Running conformance cases: the suites by kind, app per case, unique names, failure
 * recording, and the run of a whole suite with every case isolated (isolate.c). */
#include <stdarg.h>
#include <sys/types.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "conformance.h"

extern const imi_conf_suite imi_conf_cache_suite;
#ifdef IMI_CONF_HAVE_MQ
extern const imi_conf_suite imi_conf_mq_suite;
#endif
#ifdef IMI_CONF_HAVE_DB
extern const imi_conf_suite imi_conf_db_suite;
#endif
#ifdef IMI_CONF_HAVE_COORD
extern const imi_conf_suite imi_conf_coord_suite;
#endif

static const imi_conf_suite *const suites[] = {
    &imi_conf_cache_suite,
#ifdef IMI_CONF_HAVE_MQ
    &imi_conf_mq_suite,
#endif
#ifdef IMI_CONF_HAVE_DB
    &imi_conf_db_suite,
#endif
#ifdef IMI_CONF_HAVE_COORD
    &imi_conf_coord_suite,
#endif
};

const imi_conf_suite *imi_conf_suite_find(const char *kind)
{
    for (size_t i = 0; i < sizeof suites / sizeof suites[0]; i++)
        if (!strcmp(suites[i]->kind, kind))
            return suites[i];
    return NULL;
}

void imi_conf_fail(imi_conf_t *t, const char *file, int line, const char *fmt, ...)
{
    if (t->failed)
        return;
    t->failed = true;
    const char *base = strrchr(file, '/');
    int n = snprintf(t->message, sizeof t->message, "%s:%d: ", base ? base + 1 : file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->message + n, sizeof t->message - (size_t)n, fmt, ap);
    va_end(ap);
}

const char *imi_conf_name(const imi_conf_t *t, const char *suffix, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s:%s", t->unique, suffix);
    return buf;
}

void imi_conf_keep(imi_conf_t *t, void (*free_fn)(void *), void *handle)
{
    if (t->n_kept < IMI_CONF_MAX_HANDLES) {
        t->kept[t->n_kept].free = free_fn;
        t->kept[t->n_kept].handle = handle;
        t->n_kept++;
        return;
    }
    imi_conf_fail(t, __FILE__, __LINE__, "more than %d handles open in one case",
                  IMI_CONF_MAX_HANDLES);
}

void imi_conf_free(imi_conf_t *t, void *handle)
{
    if (!handle)
        return;
    for (size_t i = t->n_kept; i-- > 0;)
        if (t->kept[i].handle == handle) {
            void (*free_fn)(void *) = t->kept[i].free;
            /* shift, keeping the order the runner frees the rest in */
            memmove(&t->kept[i], &t->kept[i + 1], (t->n_kept - i - 1) * sizeof t->kept[0]);
            t->n_kept--;
            free_fn(handle);
            return;
        }
    imi_conf_fail(t, __FILE__, __LINE__, "imi_conf_free of a handle never kept");
}

bool imi_conf_run_case(const imi_conf_suite *s, size_t i, imi_config *cfg, imi_conf_t *t)
{
    memset(t, 0, sizeof *t);
    t->kind = s->kind;
    /* Unique across runs and processes sharing one server. The pid and the time come first
     * so that a long case name can only ever be cut, never the part that makes it unique. */
    snprintf(t->unique, sizeof t->unique, "conf-%d-%llx-%s", (int)getpid(),
             (unsigned long long)imi_now_real_ns(), s->cases[i].name);
    int rc = imi_app_open_config(cfg, &t->app);
    if (rc) {
        snprintf(t->message, sizeof t->message, "config: %s", imi_error_message());
        t->failed = true;
        return false;
    }
    /* The driver as the config names it: a name, or a path that is never compared with
     * anything (a driver is judged by what it does, not by its file name). */
    const char *driver = imi_config_get(imi_app_config(t->app), s->kind, "driver", NULL);
    snprintf(t->driver, sizeof t->driver, "%s", driver ? driver : "?");
    s->cases[i].fn(t);
    while (t->n_kept > 0) { /* what a failed check left open, newest first */
        t->n_kept--;
        t->kept[t->n_kept].free(t->kept[t->n_kept].handle);
    }
    imi_app_free(t->app);
    t->app = NULL;
    return !t->failed;
}

typedef struct one_case {
    const imi_conf_suite *suite;
    size_t index;
    const imi_config *cfg;
} one_case;

/* In the child process. */
static bool run_one(void *arg, char *msg, size_t cap)
{
    one_case *c = arg;
    imi_config *copy = imi_config_copy(c->cfg);
    if (!copy) {
        snprintf(msg, cap, "out of memory copying the config");
        return false;
    }
    imi_conf_t t;
    bool ok = imi_conf_run_case(c->suite, c->index, copy, &t);
    snprintf(msg, cap, "%s", t.message);
    return ok;
}

static ssize_t find_case(const imi_conf_suite *s, const char *name)
{
    for (size_t i = 0; i < s->n_cases; i++)
        if (!strcmp(s->cases[i].name, name))
            return (ssize_t)i;
    return -1;
}

int imi_conf_run_all(const imi_conf_run *run, const imi_config *cfg)
{
    FILE *out = run->out ? run->out : stdout;
    const imi_conf_suite *s = imi_conf_suite_find(run->kind);
    if (!s) {
        fprintf(out, "no conformance suite for kind '%s'\n", run->kind);
        return -1;
    }
    ssize_t only = run->only_case ? find_case(s, run->only_case) : -1;
    if (run->only_case && only < 0) {
        fprintf(out, "no case '%s' in the %s suite (its cases:", run->only_case, s->kind);
        for (size_t i = 0; i < s->n_cases; i++)
            fprintf(out, " %s", s->cases[i].name);
        fprintf(out, ")\n");
        return -1;
    }
    int timeout = run->timeout_s > 0 ? run->timeout_s : IMI_CONF_DEFAULT_TIMEOUT_S;
    imi_conf_result *res = calloc(s->n_cases, sizeof *res);
    if (!res) {
        fprintf(out, "out of memory\n");
        return -1;
    }
    size_t n = 0;
    int passed = 0, failed = 0;
    for (size_t i = 0; i < s->n_cases; i++) {
        if (only >= 0 && (size_t)only != i)
            continue;
        imi_conf_result *r = &res[n++];
        r->name = s->cases[i].name;
        one_case c = { .suite = s, .index = i, .cfg = cfg };
        int64_t t0 = imi_now_mono_ns();
        r->passed = imi_conf_isolate(run_one, &c, timeout, r->message, sizeof r->message);
        r->seconds = (double)(imi_now_mono_ns() - t0) / 1e9;
        if (r->passed) {
            fprintf(out, "ok   %-40s %8.1f ms\n", r->name, r->seconds * 1e3);
            passed++;
        } else {
            fprintf(out, "FAIL %-40s %s\n", r->name, r->message);
            failed++;
        }
        fflush(out);
    }
    int rc = 0;
    if (run->junit_path &&
        imi_conf_junit_write(run->junit_path, s->kind, run->driver ? run->driver : "?", res, n)) {
        fprintf(out, "cannot write the JUnit report %s\n", run->junit_path);
        rc = -1;
    }
    free(res);
    fprintf(out, "%d passed, %d failed\n", passed, failed);
    return rc < 0 && failed == 0 ? -1 : failed;
}
