/* The life of a component instance, the same for every kind: open, close, free; the
 * closed flag, calls in flight, capabilities and the key prefix. */
#include <ctype.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/error.h"
#include "instance.h"
#include "uid_internal.h"
#include "util.h"

#define IMI_DEFAULT_TIMEOUT_MS 5000

typedef int (*driver_open_fn)(void *st, const imi_driver_env *env);
typedef void (*driver_close_fn)(void *st);
typedef uint64_t (*driver_caps_fn)(void *st);

static const imi_kind_abi *abi_of(const imi_instance *in)
{
    return imi_kind_abi_of(in->fe->kind);
}

/* Checks the driver's vtable against its kind; a refusal names the file, every
 * offending slot, and the config line that asked for the driver. */
static int check_driver(imi_instance *in, const imi_config *cfg)
{
    char why[700];
    if (!imi_kind_abi_check(in->desc, why, sizeof why))
        return IMI_OK;
    int line = 0;
    imi_config_get(cfg, in->section, "driver", &line);
    return imi_error_set(IMI_EDRIVER, 0, "%s:%d: [%s] driver %s refused: %s",
                         imi_config_name(cfg), line, in->section,
                         imi_driver_file(in->driver), why);
}

static int read_instance_keys(imi_instance *in, const imi_config *cfg)
{
    in->timeout_ms = IMI_DEFAULT_TIMEOUT_MS;
    int rc = imi_config_get_duration_ms(cfg, in->section, "timeout", &in->timeout_ms);
    if (rc)
        return rc;
    if (in->timeout_ms <= 0) {
        int line = 0;
        imi_config_get(cfg, in->section, "timeout", &line);
        return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] timeout must be positive",
                             imi_config_name(cfg), line, in->section);
    }
    const char *prefix = in->fe->prefixed ? imi_config_get(cfg, in->section, "prefix", NULL)
                                          : NULL;
    if (prefix && *prefix) {
        if (!(in->prefix = strdup(prefix)))
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        in->prefix_len = strlen(prefix);
        if (in->prefix_len <= IMI_PREFIX_HEAD)
            memcpy(in->prefix_head, prefix, in->prefix_len); /* calloc'd: NUL-padded */
    }
    return IMI_OK;
}

/* Everything before the driver's open: driver, options, state. */
static int prepare(imi_instance *in, const char *name)
{
    const imi_config *cfg = imi_app_config(in->app);
    if (name && *name)
        snprintf(in->section, sizeof in->section, "%s.%s", imi_kind_name(in->fe->kind), name);
    else
        snprintf(in->section, sizeof in->section, "%s", imi_kind_name(in->fe->kind));
    if (!imi_config_has_section(cfg, in->section))
        return imi_error_set(IMI_ECONFIG, 0, "%s: no [%s] section", imi_config_name(cfg),
                             in->section);
    int rc = imi_chaos_from_config(cfg, in->section, &in->chaos);
    if (rc)
        return rc;
    rc = in->chaos ? imi_driver_load_key(cfg, in->section, "target", in->fe->kind, &in->driver)
                   : imi_driver_load_for(cfg, in->section, in->fe->kind, &in->driver);
    if (rc)
        return rc;
    in->desc = imi_driver_descriptor(in->driver);
    if ((rc = check_driver(in, cfg)))
        return rc;
    if (!(in->vt = imi_kind_abi_normalise(in->desc)))
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if ((rc = imi_instance_parse_options(in, cfg)) || (rc = read_instance_keys(in, cfg)))
        return rc;
    in->logger = imi_logger_named(imi_app_logger(in->app), in->section);
    if (in->chaos)
        imi_logf(in->logger, IMI_LOG_WARN, NULL, "chaos: faults injected in front of driver %s "
                 "(chaos_seed = %llu replays this run)", in->desc->name,
                 (unsigned long long)imi_chaos_seed(in->chaos));
    in->env = (imi_driver_env){
        .size = sizeof(imi_driver_env),
        .host = &imi_host,
        .logger = in->logger,
        .instance = in->section,
        .config_dir = imi_config_dir(cfg),
        .opts = in->opts,
        .n_opts = in->desc->n_options,
        .default_timeout_ms = in->timeout_ms,
        .passthrough = in->passthrough,
        .n_passthrough = in->n_passthrough,
    };
    in->state = calloc(1, in->desc->state_size ? in->desc->state_size : 1);
    if (!in->state)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    in->caps = in->desc->caps;
    return IMI_OK;
}

static void close_driver(imi_instance *in)
{
    driver_close_fn close_fn = (driver_close_fn)imi_abi_slot_at(in->vt, abi_of(in)->close_slot);
    close_fn(in->state);
    in->opened = false;
}

/* Where in the config a driver's refusal of its options points: the line of the first
 * key of the section that the message names as a word, else the section's header. */
static int config_line_of(const imi_instance *in, const char *msg)
{
    const imi_config *cfg = imi_app_config(in->app);
    const char *key, *value;
    int line = 0;
    for (size_t i = 0; (key = imi_config_key(cfg, in->section, i, &value, &line)); i++) {
        if (!strcmp(key, "driver"))
            continue; /* a common word in messages, never the option refused */
        size_t n = strlen(key);
        for (const char *at = strstr(msg, key); at; at = strstr(at + 1, key)) {
            bool starts = at == msg || !(isalnum((unsigned char)at[-1]) || at[-1] == '_' ||
                                         at[-1] == '.');
            bool ends = !(isalnum((unsigned char)at[n]) || at[n] == '_' || at[n] == '.');
            if (starts && ends)
                return line;
        }
    }
    return imi_config_section_line(cfg, in->section);
}

/* The driver's open; after a failure only its close is called. */
static int open_driver(imi_instance *in)
{
    const imi_kind_abi *abi = abi_of(in);
    driver_open_fn open_fn = (driver_open_fn)imi_abi_slot_at(in->vt, abi->open_slot);
    int rc = open_fn(in->state, &in->env);
    in->opened = true;
    if (rc) {
        /* The driver's own detail stays; the prefix says who failed. */
        if (rc > 0 || rc < IMI_ERRNO_MIN_)
            rc = imi_error_set(IMI_EDRIVER, 0, "open returned %d, not an imi code", rc);
        /* A refused option names the config's file:line, like the core's own checks. */
        int line = rc == IMI_ECONFIG ? config_line_of(in, imi_error_message()) : 0;
        if (line > 0)
            imi_error_prefix("%s:%d: [%s] driver %s failed to open",
                             imi_config_name(imi_app_config(in->app)), line, in->section,
                             in->desc->name);
        else
            imi_error_prefix("[%s] driver %s failed to open", in->section, in->desc->name);
        close_driver(in);
        return rc;
    }
    driver_caps_fn caps_fn = abi->caps_slot
        ? (driver_caps_fn)imi_abi_slot_at(in->vt, abi->caps_slot) : NULL;
    if (caps_fn)
        in->caps &= caps_fn(in->state); /* a subset: a driver cannot add to its descriptor */
    return IMI_OK;
}

int imi_instance_open(imi_app *app, const imi_frontend *fe, const char *name,
                      imi_instance **out)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "imi_%s_open: out is required",
                             imi_kind_name(fe->kind));
    *out = NULL;
    if (!app)
        return imi_error_set(IMI_EINVALID, 0, "imi_%s_open: app is required",
                             imi_kind_name(fe->kind));
    imi_fence_init(); /* before any call can enter an instance */
    imi_instance *in = calloc(1, fe->handle_size);
    if (!in)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    in->app = app;
    in->fe = fe;
    for (int i = 0; i < IMI_METRIC_STRIPES; i++)
        atomic_init(&in->inflight[i].n, 0);
    atomic_init(&in->closed, false);
    in->fork_gen = imi_fork_generation();
    int rc = prepare(in, name);
    if (!rc && fe->configure) {
        in->configured = true;
        rc = fe->configure(in);
    }
    if (!rc)
        rc = open_driver(in);
    if (!rc && fe->started && (rc = fe->started(in)))
        imi_error_prefix("[%s]", in->section);
    if (rc) {
        imi_instance_free(in);
        return rc;
    }
    imi_metrics_reg_attach(imi_app_metrics(app), in);
    in->registered = true;
    *out = in;
    return IMI_OK;
}

bool imi_instance_inherited(const imi_instance *in)
{
    return imi_fork_generation() != in->fork_gen;
}

static int inflight_total(imi_instance *in)
{
    int total = 0;
    for (int i = 0; i < IMI_METRIC_STRIPES; i++)
        total += atomic_load_explicit(&in->inflight[i].n, memory_order_acquire);
    return total;
}

int imi_instance_close(imi_instance *in)
{
    if (!in)
        return imi_error_set(IMI_EINVALID, 0, "close: no handle");
    if (atomic_exchange(&in->closed, true))
        return imi_error_set(IMI_ECLOSED, 0, "[%s] is already closed", in->section);
    if (imi_instance_inherited(in))
        return IMI_OK; /* calls the parent had in flight never leave in this process */
    imi_fence_heavy();
    /* Calls that entered before the flag was set finish first. */
    while (inflight_total(in) > 0) {
        struct timespec ts = { 0, 200000 };
        nanosleep(&ts, NULL);
    }
    if (in->opened) {
        if (in->fe->stopping)
            in->fe->stopping(in);
        close_driver(in);
    }
    return IMI_OK;
}

void imi_instance_free(imi_instance *in)
{
    if (!in)
        return;
    /* Left allocated on purpose: the app's metrics registry and the front-end's holds
     * still point at it, and its locks may have been held by threads this process does
     * not have. It goes with the process (a forked worker leaves with _exit or exec). */
    if (imi_instance_inherited(in)) {
        atomic_store(&in->closed, true);
        return;
    }
    if (!atomic_load(&in->closed))
        imi_instance_close(in);
    else if (in->opened)
        close_driver(in); /* a close that raced a failed start */
    /* Closed: its counters stay with its series; before release, as the front-end's
     * extras are read one last time. */
    if (in->registered)
        imi_metrics_reg_detach(imi_app_metrics(in->app), in);
    if (in->configured && in->fe->release)
        in->fe->release(in);
    if (in->owned_strs && in->desc)
        for (size_t i = 0; i < in->desc->n_options; i++)
            free(in->owned_strs[i]);
    free(in->owned_strs);
    free(in->opts);
    free(in->passthrough);
    free(in->state);
    free((void *)in->vt);
    free(in->prefix);
    imi_chaos_free(in->chaos);
    imi_driver_release(in->driver);
    free(in);
}

int imi_instance_closed_error(const imi_instance *in)
{
    return imi_error_set(IMI_ECLOSED, 0, "[%s] is closed", in->section);
}

int imi_instance_odd_code(const imi_instance *in, unsigned op, int rc)
{
    const char *name = op < in->fe->n_ops && in->fe->ops ? in->fe->ops[op] : "a call";
    return imi_error_set(IMI_EDRIVER, 0, "[%s] driver %s: %s returned %d, not an imi code",
                         in->section, in->desc->name, name, rc);
}

int imi_instance_unsupported(const imi_instance *in, const char *what)
{
    return imi_error_set(IMI_ENOTSUP, 0, "[%s] driver %s does not support %s", in->section,
                         in->desc->name, what);
}

int imi_pkey_bad(const char *what, const char *key)
{
    return imi_error_set(IMI_EINVALID, 0, "%s: key is %s", what, key ? "empty" : "NULL");
}

int imi_pkey_long(const imi_instance *in, const char *key, imi_pkey *k)
{
    size_t n = strlen(key);
    k->len = in->prefix_len + n;
    k->p = k->len < sizeof k->small ? k->small : malloc(k->len + 1);
    if (!k->p)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    memcpy(k->p, in->prefix, in->prefix_len);
    memcpy(k->p + in->prefix_len, key, n + 1);
    return IMI_OK;
}
