/* Fuzz target: the settings the hot-reload watcher applies from coord (reload.h), each
 * through the function the watcher calls: the log level, a breaker policy override, a
 * ratelimit rule spec, and the "k = v; k = v" settings text with its typed readers. The
 * first byte picks which, the rest is the value. An accepted rule or policy is then used
 * once, so a value that parses into nonsense shows in the arithmetic behind it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/iminfra.h"
#include "reload_internal.h"

static imi_app *app;
static imi_ratelimit *rl;
static imi_breaker_set *breakers;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    imi_config *cfg;
    imi_breaker_policy dflt = imi_breaker_policy_default();
    if (imi_config_parse("[log]\noutput = stdout\n[ratelimit]\nrule.fuzz = 10/s\n", "fuzz.ini",
                         "/fuzz", &cfg) ||
        imi_app_open_config(cfg, &app) || imi_ratelimit_open(app, NULL, &rl) ||
        imi_breaker_set_new(&dflt, imi_app_logger(app), &breakers)) {
        fprintf(stderr, "fuzz_settings: %s\n", imi_error_message());
        abort();
    }
    return 0;
}

static void use_breaker(const char *name)
{
    imi_breaker *b = imi_breaker_get(breakers, name);
    if (!b)
        return;
    for (int i = 0; i < 4; i++) {
        imi_breaker_ticket t;
        if (imi_breaker_enter(b, &t) == IMI_OK)
            imi_breaker_leave(b, t, i % 2 ? IMI_OK : IMI_EUNAVAILABLE);
    }
}

static void settings_text(const char *text)
{
    imi_settings s;
    int64_t i;
    double d;
    int b;
    uint32_t codes;
    if (!imi_settings_from_text(&s, "coord key fuzz", text, strlen(text))) {
        imi_settings_int(&s, "n", INT64_MIN, INT64_MAX, &i);
        imi_settings_double(&s, "x", -1e300, 1e300, &d);
        imi_settings_duration_ms(&s, "t", &i);
        imi_settings_bool(&s, "on", &b);
        imi_settings_codes(&s, "retry_on", &codes);
        static const char *const known[] = { "n", "x", "t", "on", "retry_on", NULL };
        static const char *const prefixes[] = { "kafka.", NULL };
        imi_settings_check(&s, known, prefixes);
    }
    imi_settings_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 1024)
        return 0;
    char *text = malloc(size);
    if (!text)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0:
        imi_log_level_parse(text);
        break;
    case 1:
        if (!imi_breaker_set_override(breakers, "fuzz", text, "coord key breaker/fuzz"))
            use_breaker("fuzz");
        imi_breaker_set_override(breakers, "fuzz", NULL, NULL);
        break;
    case 2: {
        int64_t wait;
        if (!imi_ratelimit_set_rule(rl, "fuzz", text, "coord key ratelimit/fuzz")) {
            imi_ratelimit_check(rl, NULL, "fuzz", "r", 1, &wait);
            imi_ratelimit_check(rl, NULL, "fuzz", "r", 1000, &wait);
        }
        imi_ratelimit_set_rule(rl, "fuzz", NULL, NULL);
        break;
    }
    case 3:
        settings_text(text);
        break;
    }
    free(text);
    return 0;
}
