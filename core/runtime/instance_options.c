/* A driver's options from its config section: typed values checked against the
 * driver's option schema, option families handed over unparsed, unknown keys refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "instance.h"
#include "util.h"

static int parse_value(const imi_option_spec *spec, const char *text, const char *dir,
                       imi_opt_value *v, char **owned)
{
    v->set = true;
    v->str = text;
    int b = 0;
    switch (spec->type) {
    case IMI_OPT_STRING:
    case IMI_OPT_LIST:
        return IMI_OK;
    case IMI_OPT_PATH:
        /* ":memory:"-style names and absolute paths stay as they are. */
        if (text[0] && text[0] != '/' && text[0] != ':') {
            *owned = imi_path_join(dir, text);
            if (!*owned)
                return IMI_ENOMEM;
            v->str = *owned;
        }
        return IMI_OK;
    case IMI_OPT_INT:
        return imi_parse_int(text, &v->i);
    case IMI_OPT_BOOL:
        if (imi_parse_bool(text, &b))
            return IMI_EINVALID;
        v->i = b;
        return IMI_OK;
    case IMI_OPT_DOUBLE:
        return imi_parse_double(text, &v->d);
    case IMI_OPT_DURATION:
        return imi_parse_duration_ms(text, &v->i);
    case IMI_OPT_SIZE:
        return imi_parse_size(text, &v->i);
    }
    return IMI_EINVALID;
}

static const char *type_words(imi_opt_type t)
{
    switch (t) {
    case IMI_OPT_INT: return "an integer";
    case IMI_OPT_BOOL: return "a boolean (true/false)";
    case IMI_OPT_DOUBLE: return "a finite decimal number";
    case IMI_OPT_DURATION: return "a duration from 0 to " IMI_DURATION_MAX_TEXT;
    case IMI_OPT_SIZE: return "a size from 0 to " IMI_SIZE_MAX_TEXT;
    default: return "valid";
    }
}

/* "kafka.*": an option family (see driver.h). */
static bool is_family(const char *name)
{
    size_t n = strlen(name);
    return n > 2 && !strcmp(name + n - 2, ".*");
}

/* The section's keys that belong to an option family, in file order. */
static int collect_passthrough(imi_instance *inst, const imi_config *cfg)
{
    const imi_driver_desc *d = inst->desc;
    const char *key, *value;
    size_t n = 0;
    for (size_t k = 0; (key = imi_config_key(cfg, inst->section, k, &value, NULL)); k++)
        n++;
    inst->passthrough = calloc(n + 1, sizeof *inst->passthrough);
    if (!inst->passthrough)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    for (size_t k = 0; (key = imi_config_key(cfg, inst->section, k, &value, NULL)); k++)
        for (size_t i = 0; i < d->n_options; i++) {
            size_t len = strlen(d->options[i].name);
            if (is_family(d->options[i].name) && !strncmp(key, d->options[i].name, len - 1)) {
                inst->passthrough[inst->n_passthrough++] = (imi_opt_kv){ key, value };
                break;
            }
        }
    return IMI_OK;
}

/* Option values point into the config, except resolved paths, which the instance owns
 * (inst->owned_strs, one slot per option). */
static int parse_options(imi_instance *inst, const imi_config *cfg)
{
    const imi_driver_desc *d = inst->desc;
    inst->opts = calloc(d->n_options + 1, sizeof *inst->opts);
    inst->owned_strs = calloc(d->n_options + 1, sizeof *inst->owned_strs);
    if (!inst->opts || !inst->owned_strs)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < d->n_options; i++) {
        const imi_option_spec *spec = &d->options[i];
        if (is_family(spec->name))
            continue; /* handed over in env.passthrough */
        int line = 0;
        const char *text = imi_config_get(cfg, inst->section, spec->name, &line);
        if (spec->flags & IMI_OPT_SECRET)
            imi_config_mark_secret((imi_config *)cfg, inst->section, spec->name);
        if (!text)
            text = spec->default_value;
        if (!text) {
            if (spec->flags & IMI_OPT_REQUIRED)
                return imi_error_set(IMI_ECONFIG, 0,
                                     "%s:%d: [%s] needs '%s' (driver %s: %s)",
                                     imi_config_name(cfg), imi_config_section_line(cfg, inst->section),
                                     inst->section, spec->name, d->name,
                                     spec->help ? spec->help : "required");
            continue;
        }
        int rc = parse_value(spec, text, imi_config_dir(cfg), &inst->opts[i], &inst->owned_strs[i]);
        if (rc == IMI_ENOMEM)
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        if (rc)
            return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] %s = '%s' is not %s",
                                 imi_config_name(cfg), line, inst->section, spec->name,
                                 (spec->flags & IMI_OPT_SECRET) ? "***" : text,
                                 type_words(spec->type));
    }
    return IMI_OK;
}

/* Keys every component section takes besides the front-end's and the driver's. */
static const char *const instance_keys[] = { "driver", "driver_path", "timeout" };

static int check_keys(const imi_instance *inst, const imi_config *cfg)
{
    const imi_driver_desc *d = inst->desc;
    size_t n_fe = 0;
    while (inst->fe->keys && inst->fe->keys[n_fe])
        n_fe++;
    size_t n_chaos = 0;
    while (inst->chaos && imi_chaos_keys[n_chaos])
        n_chaos++;
    const char **core = calloc(IMI_COUNT_OF(instance_keys) + n_fe + n_chaos + 2, sizeof *core);
    const char **names = calloc(d->n_options + 1, sizeof *names);
    int rc = IMI_OK;
    if (!core || !names) {
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
        goto out;
    }
    size_t n = 0;
    for (size_t i = 0; i < IMI_COUNT_OF(instance_keys); i++)
        core[n++] = instance_keys[i];
    if (inst->fe->prefixed)
        core[n++] = "prefix";
    for (size_t i = 0; i < n_fe; i++)
        core[n++] = inst->fe->keys[i];
    for (size_t i = 0; i < n_chaos; i++)
        core[n++] = imi_chaos_keys[i];
    for (size_t i = 0; i < d->n_options; i++)
        names[i] = d->options[i].name;
    rc = imi_config_check_keys(cfg, inst->section, core, names);
out:
    free(core);
    free(names);
    return rc;
}

int imi_instance_parse_options(imi_instance *inst, const imi_config *cfg)
{
    int rc = check_keys(inst, cfg);
    if (!rc)
        rc = parse_options(inst, cfg);
    if (!rc)
        rc = collect_passthrough(inst, cfg);
    return rc;
}
