/* Fuzz target: config text -> parse -> open every component it names on the in-process
 * drivers -> close.
 *
 * Whatever the text says, a component's driver is forced to the in-process one of its
 * kind (cache/mq/coord mem, db sqlite on :memory:) loaded from the build tree, and the
 * log goes to stdout (tools/fuzz.sh closes it): the input must not make the fuzzer load
 * arbitrary shared objects or write files. Everything else in the text is used as is. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/iminfra.h"

#define MAX_OPENS 12

static const char *kind_of(const char *section, const char **name)
{
    static const char *const kinds[] = { "cache", "mq", "coord", "db", "uid", "ratelimit",
                                         "retry", "breaker", NULL };
    for (size_t i = 0; kinds[i]; i++) {
        size_t n = strlen(kinds[i]);
        if (!strncmp(section, kinds[i], n) && (section[n] == '\0' || section[n] == '.')) {
            *name = section[n] ? section + n + 1 : NULL;
            return kinds[i];
        }
    }
    return NULL;
}

static void force_in_process(imi_config *cfg)
{
    const char *sec;
    for (size_t i = 0; (sec = imi_config_section(cfg, i, NULL)); i++) {
        const char *name, *kind = kind_of(sec, &name);
        if (!kind || !strcmp(kind, "uid") || !strcmp(kind, "ratelimit") ||
            !strcmp(kind, "retry") || !strcmp(kind, "breaker"))
            continue;
        int is_db = !strcmp(kind, "db");
        /* imi_config_set may move the section's strings: work on a copy of the name. */
        char *s = strdup(sec);
        if (!s)
            abort();
        imi_config_set(cfg, s, "driver", is_db ? "sqlite" : "mem");
        imi_config_set(cfg, s, "driver_path", IMI_FUZZ_DRIVER_DIR);
        if (is_db) {
            imi_config_set(cfg, s, "path", ":memory:");
            imi_config_set(cfg, s, "readers", "");
        }
        free(s);
    }
    imi_config_set(cfg, "drivers", "path", IMI_FUZZ_DRIVER_DIR);
    imi_config_set(cfg, "log", "output", "stdout");
}

static void open_close(imi_app *app, const char *kind, const char *name)
{
    if (!strcmp(kind, "cache")) {
        imi_cache *c;
        if (!imi_cache_open(app, name, &c))
            imi_cache_free(c);
    } else if (!strcmp(kind, "mq")) {
        imi_mq *m;
        if (!imi_mq_open(app, name, &m))
            imi_mq_free(m);
    } else if (!strcmp(kind, "coord")) {
        imi_coord *c;
        if (!imi_coord_open(app, name, &c))
            imi_coord_free(c);
    } else if (!strcmp(kind, "db")) {
        imi_db *d;
        if (!imi_db_open(app, name, &d))
            imi_db_free(d);
    } else if (!strcmp(kind, "uid")) {
        imi_uid *u;
        if (!imi_uid_open(app, name, &u))
            imi_uid_free(u);
    } else if (!strcmp(kind, "ratelimit")) {
        imi_ratelimit *r;
        if (!imi_ratelimit_open(app, name, &r))
            imi_ratelimit_free(r);
    } else if (!strcmp(kind, "retry")) {
        imi_retry *r;
        if (!imi_retry_open(app, name, &r))
            imi_retry_free(r);
    } else if (!name) {                 /* breaker: one set for [breaker] and its names */
        imi_breaker_set *b;
        if (!imi_breaker_set_open(app, &b))
            imi_breaker_set_free(b);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    imi_config *cfg;
    int rc = imi_config_parse(text, "fuzz.ini", "/nonexistent-fuzz-dir", &cfg);
    free(text);
    if (rc)
        return 0;
    force_in_process(cfg);
    imi_app *app;
    if (imi_app_open_config(cfg, &app))
        return 0;
    const imi_config *c = imi_app_config(app);
    const char *sec;
    int opens = 0;
    for (size_t i = 0; (sec = imi_config_section(c, i, NULL)) && opens < MAX_OPENS; i++) {
        const char *name, *kind = kind_of(sec, &name);
        if (kind) {
            open_close(app, kind, name);
            opens++;
        }
    }
    imi_app_free(app);
    return 0;
}
