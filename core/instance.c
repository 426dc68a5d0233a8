/* Opening a component instance from its config section: driver, options, state. */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/error.h"
#include "instance.h"
#include "util.h"

#define IMI_DEFAULT_TIMEOUT_MS 5000

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
    case IMI_OPT_DOUBLE: return "a number";
    case IMI_OPT_DURATION: return "a duration (e.g. 250ms, 5s)";
    case IMI_OPT_SIZE: return "a size (e.g. 4096, 64k, 16M)";
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

static int check_keys(const imi_instance *inst, const imi_config *cfg,
                      const char *const *core_keys)
{
    const imi_driver_desc *d = inst->desc;
    const char **names = calloc(d->n_options + 1, sizeof *names);
    if (!names)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < d->n_options; i++)
        names[i] = d->options[i].name;
    int rc = imi_config_check_keys(cfg, inst->section, core_keys, names);
    free(names);
    return rc;
}

int imi_instance_init(imi_instance *inst, imi_app *app, imi_kind kind, const char *name,
                      const char *const *core_keys, size_t min_vtable_size)
{
    memset(inst, 0, sizeof *inst);
    inst->app = app;
    const imi_config *cfg = imi_app_config(app);
    if (name && *name)
        snprintf(inst->section, sizeof inst->section, "%s.%s", imi_kind_name(kind), name);
    else
        snprintf(inst->section, sizeof inst->section, "%s", imi_kind_name(kind));
    if (!imi_config_has_section(cfg, inst->section))
        return imi_error_set(IMI_ECONFIG, 0, "%s: no [%s] section", imi_config_name(cfg),
                             inst->section);

    int rc = imi_driver_load_for(cfg, inst->section, kind, &inst->driver);
    if (rc)
        return rc;
    inst->desc = imi_driver_descriptor(inst->driver);
    inst->vtable = inst->desc->vtable;
    if (*(const uint32_t *)inst->vtable < min_vtable_size) {
        rc = imi_error_set(IMI_EDRIVER, 0, "driver %s refused: %s vtable too small: %u bytes, "
                           "core needs at least %zu", imi_driver_file(inst->driver),
                           imi_kind_name(kind), *(const uint32_t *)inst->vtable, min_vtable_size);
        goto fail;
    }
    if ((rc = check_keys(inst, cfg, core_keys)))
        goto fail;

    if ((rc = parse_options(inst, cfg)) || (rc = collect_passthrough(inst, cfg)))
        goto fail;
    inst->timeout_ms = IMI_DEFAULT_TIMEOUT_MS;
    if ((rc = imi_config_get_duration_ms(cfg, inst->section, "timeout", &inst->timeout_ms)))
        goto fail;
    inst->logger = imi_logger_named(imi_app_logger(app), inst->section);
    inst->env = (imi_driver_env){
        .size = sizeof(imi_driver_env),
        .host = &imi_host,
        .logger = inst->logger,
        .instance = inst->section,
        .config_dir = imi_config_dir(cfg),
        .opts = inst->opts,
        .n_opts = inst->desc->n_options,
        .default_timeout_ms = inst->timeout_ms,
        .passthrough = inst->passthrough,
        .n_passthrough = inst->n_passthrough,
    };
    inst->state = calloc(1, inst->desc->state_size ? inst->desc->state_size : 1);
    if (!inst->state) {
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
        goto fail;
    }
    for (int i = 0; i < IMI_INFLIGHT_STRIPES; i++)
        atomic_init(&inst->inflight[i].n, 0);
    atomic_init(&inst->closed, false);
    return IMI_OK;
fail:
    imi_instance_release(inst);
    return rc;
}

void imi_instance_release(imi_instance *inst)
{
    if (inst->owned_strs)
        for (size_t i = 0; i < inst->desc->n_options; i++)
            free(inst->owned_strs[i]);
    free(inst->owned_strs);
    free(inst->opts);
    free(inst->passthrough);
    free(inst->state);
    imi_driver_release(inst->driver);
    memset(inst, 0, sizeof *inst);
}

_Thread_local unsigned imi_inflight_tls;

unsigned imi_inflight_assign(void)
{
    static atomic_uint next;
    imi_inflight_tls = atomic_fetch_add(&next, 1) % IMI_INFLIGHT_STRIPES + 1;
    return imi_inflight_tls;
}

static int inflight_total(imi_instance *inst)
{
    int total = 0;
    for (int i = 0; i < IMI_INFLIGHT_STRIPES; i++)
        total += atomic_load(&inst->inflight[i].n);
    return total;
}

int imi_instance_begin_close(imi_instance *inst)
{
    if (atomic_exchange(&inst->closed, true))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is already closed", inst->section);
    /* Calls that entered before the flag was set finish first. */
    while (inflight_total(inst) > 0) {
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
    return IMI_OK;
}
