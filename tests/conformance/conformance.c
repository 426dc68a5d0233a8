/* Running conformance cases: app per case, unique names, failure recording. */
#include <stdarg.h>
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

bool imi_conf_run_case(const imi_conf_suite *s, size_t i, imi_config *cfg, imi_conf_t *t)
{
    memset(t, 0, sizeof *t);
    t->kind = s->kind;
    /* Unique across runs and processes sharing one server. */
    snprintf(t->unique, sizeof t->unique, "conf-%s-%d-%llx", s->cases[i].name, (int)getpid(),
             (unsigned long long)imi_now_real_ns());
    int rc = imi_app_open_config(cfg, &t->app);
    if (rc) {
        snprintf(t->message, sizeof t->message, "config: %s", imi_error_message());
        t->failed = true;
        return false;
    }
    const char *driver = imi_config_get(imi_app_config(t->app), s->kind, "driver", NULL);
    snprintf(t->driver, sizeof t->driver, "%s", driver ? driver : "?");
    /* A driver loaded by path is named by its file: .../imi_<kind>_<name>.so is <name>. */
    char *base = strrchr(t->driver, '/'), prefix[48];
    size_t blen = strlen(base ? ++base : (base = t->driver));
    int plen = snprintf(prefix, sizeof prefix, "imi_%s_", s->kind);
    if (blen > (size_t)plen + 3 && !strncmp(base, prefix, (size_t)plen) &&
        !strcmp(base + blen - 3, ".so")) {
        base[blen - 3] = '\0';
        memmove(t->driver, base + plen, blen - 3 - (size_t)plen + 1);
    }
    s->cases[i].fn(t);
    imi_app_close(t->app);
    t->app = NULL;
    return !t->failed;
}

int imi_conf_run_all(const char *kind, imi_config *cfg, const char *filter, FILE *out)
{
    const imi_conf_suite *s = imi_conf_suite_find(kind);
    if (!s) {
        fprintf(out, "no conformance suite for kind '%s'\n", kind);
        imi_config_free(cfg);
        return 1;
    }
    int passed = 0, failed = 0;
    for (size_t i = 0; i < s->n_cases; i++) {
        if (filter && !strstr(s->cases[i].name, filter))
            continue;
        imi_config *copy = imi_config_copy(cfg);
        if (!copy) {
            fprintf(out, "FAIL %s: out of memory\n", s->cases[i].name);
            failed++;
            continue;
        }
        imi_conf_t t;
        int64_t t0 = imi_now_mono_ns();
        if (imi_conf_run_case(s, i, copy, &t)) {
            fprintf(out, "ok   %-32s %8.1f ms\n", s->cases[i].name,
                    (double)(imi_now_mono_ns() - t0) / 1e6);
            passed++;
        } else {
            fprintf(out, "FAIL %-32s %s\n", s->cases[i].name, t.message);
            failed++;
        }
        fflush(out);
    }
    imi_config_free(cfg);
    fprintf(out, "%d passed, %d failed\n", passed, failed);
    return failed;
}
