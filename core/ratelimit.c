/* ratelimit: rules from config and at run time, and the (rule, resource) bucket table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "ratelimit_internal.h"
#include "reload_internal.h"
#include "util.h"

/* ---- rule specs --------------------------------------------------------------------- */

/* "RATE/UNIT [burst N] [local|distributed]"; err names what is wrong. */
static int spec_parse(const char *spec, bool dflt_distributed, rl_params *p, char *err,
                      size_t errsz)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    char *save = NULL, *tok = strtok_r(buf, " \t", &save);
    if (!tok) {
        snprintf(err, errsz, "empty rule; expected RATE/UNIT [burst N] [local|distributed]");
        return IMI_ECONFIG;
    }
    char *slash = strchr(tok, '/');
    double n;
    static const struct { const char *u; double s; } units[] = {
        { "s", 1 }, { "sec", 1 }, { "m", 60 }, { "min", 60 }, { "h", 3600 }, { "d", 86400 },
    };
    double per = 0;
    if (slash) {
        *slash = '\0';
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (!strcmp(slash + 1, units[i].u))
                per = units[i].s;
    }
    if (!slash || !per || imi_parse_double(tok, &n) || !(n > 0) || n > 1e12) {
        snprintf(err, errsz, "'%s' is not RATE/UNIT (e.g. 10/s, 600/m, 0.5/s; units s, m, h, d)",
                 spec);
        return IMI_ECONFIG;
    }
    p->rate = n / per;
    p->burst = (int64_t)ceil(n) > 0 ? (int64_t)ceil(n) : 1;
    p->distributed = dflt_distributed;
    while ((tok = strtok_r(NULL, " \t", &save))) {
        int64_t b;
        if (!strcmp(tok, "burst")) {
            tok = strtok_r(NULL, " \t", &save);
            if (!tok || imi_parse_int(tok, &b) || b < 1 || b > 1000000000000LL) {
                snprintf(err, errsz, "burst takes a whole number from 1 to 10^12");
                return IMI_ECONFIG;
            }
            p->burst = b;
        } else if (!strcmp(tok, "local")) {
            p->distributed = false;
        } else if (!strcmp(tok, "distributed")) {
            p->distributed = true;
        } else {
            snprintf(err, errsz, "'%s' is not burst N, local or distributed", tok);
            return IMI_ECONFIG;
        }
    }
    p->interval_ns = (int64_t)(1e9 / p->rate);
    if (p->interval_ns < 1)
        p->interval_ns = 1;
    p->tau_ns = p->burst * p->interval_ns;
    return IMI_OK;
}

static rl_rule *find_rule(imi_ratelimit *rl, const char *name)
{
    for (rl_rule *r = rl->rules; r; r = r->next)
        if (!strcmp(r->name, name))
            return r;
    return NULL;
}

static rl_rule *add_rule(imi_ratelimit *rl, const char *name)
{
    rl_rule *r = find_rule(rl, name);
    if (r)
        return r;
    size_t n = strlen(name);
    if (!(r = calloc(1, sizeof *r + n + 1)))
        return NULL;
    memcpy(r->name, name, n + 1);
    r->next = rl->rules;
    rl->rules = r;
    return r;
}

/* Publishes p (may be NULL) as r's numbers; the old ones are retired. Lock held. */
static void publish(imi_ratelimit *rl, rl_rule *r, rl_params *p)
{
    rl_params *old = (rl_params *)atomic_load(&r->p);
    atomic_store_explicit(&r->p, p, memory_order_release);
    if (old && old != r->file) {
        old->retired_next = rl->retired;
        rl->retired = old;
    }
}

static int ensure_cache(imi_ratelimit *rl)
{
    if (atomic_load(&rl->cache))
        return IMI_OK;
    imi_cache *c;
    int rc = imi_cache_open(rl->app, rl->cache_name, &c);
    if (rc)
        return imi_error_prefix("[%s] distributed rules need a cache", rl->section);
    atomic_store(&rl->cache, c);
    return IMI_OK;
}

/* ---- open / free ------------------------------------------------------------------------ */

static int configure(imi_ratelimit *rl, const imi_config *cfg)
{
    static const char *const keys[] = { "mode", "cache", "key_prefix", "on_backend_error", NULL };
    static const char *const prefixes[] = { "rule.", NULL };
    imi_settings s;
    int rc = imi_settings_from_config(&s, cfg, NULL, rl->section);
    if (!rc)
        rc = imi_settings_check(&s, keys, prefixes);
    int line;
    const char *v;
    if (!rc && (v = imi_settings_get(&s, "mode", &line))) {
        if (strcmp(v, "local") && strcmp(v, "distributed"))
            rc = imi_settings_error(&s, line, "mode = '%s' is not local or distributed", v);
        rl->default_distributed = !strcmp(v, "distributed");
    }
    if (!rc && (v = imi_settings_get(&s, "on_backend_error", &line))) {
        if (strcmp(v, "open") && strcmp(v, "closed"))
            rc = imi_settings_error(&s, line, "on_backend_error = '%s' is not open or closed", v);
        rl->fail_open = !strcmp(v, "open");
    }
    v = imi_settings_get(&s, "cache", NULL);
    if (!rc && v && *v && !(rl->cache_name = strdup(v)))
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    v = imi_settings_get(&s, "key_prefix", NULL);
    if (!rc && !(rl->key_prefix = strdup(v ? v : "rl:")))
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    bool any_distributed = false;
    for (size_t i = 0; !rc && i < s.n; i++) {
        if (strncmp(s.kv[i].key, "rule.", 5))
            continue;
        const char *name = s.kv[i].key + 5;
        char err[200];
        rl_params p;
        rl_rule *r;
        if (!*name) {
            rc = imi_settings_error(&s, s.kv[i].line, "rule. needs a name: rule.NAME = 10/s");
        } else if (spec_parse(s.kv[i].val, rl->default_distributed, &p, err, sizeof err)) {
            rc = imi_settings_error(&s, s.kv[i].line, "%s: %s", s.kv[i].key, err);
        } else if (!(r = add_rule(rl, name)) || (!r->file && !(r->file = malloc(sizeof p)))) {
            rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
        } else {
            *r->file = p;
            atomic_store(&r->p, r->file);
            any_distributed |= p.distributed;
        }
    }
    imi_settings_free(&s);
    if (!rc && any_distributed)
        rc = ensure_cache(rl);
    return rc;
}

int imi_ratelimit_open(imi_app *app, const char *name, imi_ratelimit **out)
{
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_ratelimit_open: app and out are required");
    *out = NULL;
    imi_ratelimit *rl = calloc(1, sizeof *rl);
    if (!rl)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    pthread_mutex_init(&rl->mu, NULL);
    rl->app = app;
    rl->fail_open = true;
    snprintf(rl->section, sizeof rl->section, "ratelimit%s%s", name && *name ? "." : "",
             name ? name : "");
    rl->log = imi_logger_named(imi_app_logger(app), "ratelimit");
    const imi_config *cfg = imi_app_config(app);
    int rc = IMI_OK;
    if (name && *name && !imi_config_has_section(cfg, rl->section))
        rc = imi_error_set(IMI_ECONFIG, 0, "%s: no section [%s]", imi_config_name(cfg),
                           rl->section);
    if (!rc)
        rc = configure(rl, cfg);
    if (rc) {
        imi_ratelimit_free(rl);
        return rc;
    }
    *out = rl;
    return IMI_OK;
}

void imi_ratelimit_free(imi_ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->table_cap; i++)
        for (imi_ratelimit_bucket *b = rl->table[i], *next; b; b = next) {
            next = b->next;
            free(b->resource);
            free(b->key);
            free(b);
        }
    free(rl->table);
    for (rl_rule *r = rl->rules, *next; r; r = next) {
        next = r->next;
        rl_params *p = (rl_params *)atomic_load(&r->p);
        if (p != r->file)
            free(p);
        free(r->file);
        free(r);
    }
    for (rl_params *p = rl->retired, *next; p; p = next) {
        next = p->retired_next;
        free(p);
    }
    imi_cache_free(atomic_load(&rl->cache));
    free(rl->cache_name);
    free(rl->key_prefix);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

/* ---- run-time rules --------------------------------------------------------------------- */

int imi_ratelimit_set_rule(imi_ratelimit *rl, const char *rule, const char *spec,
                           const char *origin)
{
    if (!rl || !rule || !*rule)
        return imi_error_set(IMI_EINVALID, 0, "imi_ratelimit_set_rule: limiter and rule are "
                             "required");
    rl_params *p = NULL;
    if (spec) {
        char err[200];
        if (!(p = calloc(1, sizeof *p)))
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        if (spec_parse(spec, rl->default_distributed, p, err, sizeof err)) {
            free(p);
            return imi_error_set(IMI_ECONFIG, 0, "%s: rule %s: %s", origin ? origin : "ratelimit",
                                 rule, err);
        }
    }
    pthread_mutex_lock(&rl->mu);
    int rc = p && p->distributed ? ensure_cache(rl) : IMI_OK;
    rl_rule *r = rc ? NULL : add_rule(rl, rule);
    if (!rc && !r)
        rc = imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if (rc) {
        pthread_mutex_unlock(&rl->mu);
        free(p);
        return rc;
    }
    const rl_params *cur = atomic_load(&r->p);
    if (p && cur && cur->rate == p->rate && cur->burst == p->burst &&
        cur->distributed == p->distributed) {
        free(p);  /* the same numbers: leave the buckets alone */
    } else {
        publish(rl, r, p ? p : r->file);
    }
    r->overridden = p != NULL;
    pthread_mutex_unlock(&rl->mu);
    return IMI_OK;
}

int imi_ratelimit_rule(imi_ratelimit *rl, const char *rule, imi_ratelimit_rule_info *info)
{
    pthread_mutex_lock(&rl->mu);
    rl_rule *r = find_rule(rl, rule);
    const rl_params *p = r ? atomic_load(&r->p) : NULL;
    if (p)
        *info = (imi_ratelimit_rule_info){ p->rate, p->burst, p->distributed };
    pthread_mutex_unlock(&rl->mu);
    return p ? IMI_OK : imi_error_set(IMI_ENOTFOUND, 0, "no rate limit rule '%s'", rule);
}

uint64_t imi_ratelimit_backend_errors(const imi_ratelimit *rl)
{
    return atomic_load(&((imi_ratelimit *)rl)->backend_errors);
}

/* ---- buckets ---------------------------------------------------------------------------- */

static uint64_t hash_of(const char *rule, const char *res)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = rule; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = res; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static int grow(imi_ratelimit *rl)
{
    size_t cap = rl->table_cap ? rl->table_cap * 2 : 64;
    imi_ratelimit_bucket **t = calloc(cap, sizeof *t);
    if (!t)
        return IMI_ENOMEM;
    for (size_t i = 0; i < rl->table_cap; i++)
        for (imi_ratelimit_bucket *b = rl->table[i], *next; b; b = next) {
            next = b->next;
            b->next = t[b->hash % cap];
            t[b->hash % cap] = b;
        }
    free(rl->table);
    rl->table = t;
    rl->table_cap = cap;
    return IMI_OK;
}

imi_ratelimit_bucket *imi_ratelimit_get(imi_ratelimit *rl, const char *rule,
                                        const char *resource)
{
    if (!rl || !rule || !resource) {
        imi_error_set(IMI_EINVALID, 0, "imi_ratelimit_get: limiter, rule and resource are "
                      "required");
        return NULL;
    }
    uint64_t h = hash_of(rule, resource);
    pthread_mutex_lock(&rl->mu);
    imi_ratelimit_bucket *b = NULL;
    if (rl->table_cap)
        for (b = rl->table[h % rl->table_cap]; b; b = b->next)
            if (b->hash == h && !strcmp(b->rule->name, rule) && !strcmp(b->resource, resource))
                break;
    rl_rule *r = b ? b->rule : find_rule(rl, rule);
    if (!b && (!r || !atomic_load(&r->p))) {
        imi_error_set(IMI_ENOTFOUND, 0, "[%s] has no rule '%s'", rl->section, rule);
    } else if (!b && (rl->n_buckets + 1 > rl->table_cap * 2 && grow(rl))) {
        imi_error_set(IMI_ENOMEM, 0, "out of memory");
    } else if (!b) {
        size_t kl = strlen(rl->key_prefix) + strlen(rule) + strlen(resource) + 2;
        b = aligned_alloc(RL_CACHELINE, (sizeof *b + RL_CACHELINE - 1) / RL_CACHELINE *
                                            RL_CACHELINE);
        char *res = strdup(resource), *key = malloc(kl);
        if (!b || !res || !key) {
            free(b);
            free(res);
            free(key);
            b = NULL;
            imi_error_set(IMI_ENOMEM, 0, "out of memory");
        } else {
            memset(b, 0, sizeof *b);
            snprintf(key, kl, "%s%s:%s", rl->key_prefix, rule, resource);
            b->rule = r;
            b->rl = rl;
            b->hash = h;
            b->resource = res;
            b->key = key;
            b->next = rl->table[h % rl->table_cap];
            rl->table[h % rl->table_cap] = b;
            rl->n_buckets++;
        }
    }
    pthread_mutex_unlock(&rl->mu);
    return b;
}

int imi_ratelimit_check(imi_ratelimit *rl, const imi_ctx *ctx, const char *rule,
                        const char *resource, int64_t n, int64_t *retry_after_ms)
{
    imi_ratelimit_bucket *b = imi_ratelimit_get(rl, rule, resource);
    if (!b) {
        int rc = imi_error_code();
        return rc == IMI_ENOTFOUND ? IMI_OK : rc;  /* no such rule: not limited */
    }
    return imi_ratelimit_allow_n(b, ctx, n, retry_after_ms);
}
