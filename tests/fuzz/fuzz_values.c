/* Fuzz target: one option value through every value parser, the public ones
 * (imi_parse_*) and the config's typed readers, plus the list and path helpers. The
 * first byte picks the parser, the rest is the value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/iminfra.h"
#include "reload_internal.h"
#include "util.h"

static imi_config *cfg;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (imi_config_parse("[v]\n", "fuzz.ini", "/fuzz", &cfg))
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 512)
        return 0;
    char *s = malloc(size);
    if (!s)
        return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    int64_t i = 0;
    int b = 0;
    double d = 0;
    switch (data[0] % 8) {
    case 0:
        imi_parse_int(s, &i);
        break;
    case 1:
        imi_parse_bool(s, &b);
        break;
    case 2:
        imi_parse_double(s, &d);
        break;
    case 3:
        imi_parse_duration_ms(s, &i);
        break;
    case 4:
        imi_parse_size(s, &i);
        break;
    case 5: {                           /* the config's typed readers on one value */
        if (imi_config_set(cfg, "v", "k", s))
            break;
        imi_config_get_int(cfg, "v", "k", &i);
        imi_config_get_bool(cfg, "v", "k", &b);
        imi_config_get_double(cfg, "v", "k", &d);
        imi_config_get_duration_ms(cfg, "v", "k", &i);
        imi_config_get_size(cfg, "v", "k", &i);
        break;
    }
    case 6: {                           /* a list: error code names */
        imi_settings st = { 0 };
        char text[600];
        snprintf(text, sizeof text, "retry_on = %s", s);
        uint32_t mask;
        if (!imi_settings_from_text(&st, "fuzz", text, strlen(text)))
            imi_settings_codes(&st, "retry_on", &mask);
        imi_settings_free(&st);
        break;
    }
    case 7: {                           /* paths */
        char *dir = imi_dirname(s);
        char *joined = imi_path_join(dir ? dir : "/", s);
        free(dir);
        free(joined);
        break;
    }
    }
    free(s);
    return 0;
}
