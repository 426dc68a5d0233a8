/* ratelimit: rules from config and at run time, and the (rule, resource) bucket table. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/error.h"
#include "metrics.h"
#include "ratelimit_internal.h"
#include "reload_internal.h"
#include "util.h"

static void bucket_free(imi_ratelimit_bucket *b);

/* ---- rule specs --------------------------------------------------------------------- */

/* "RATE/UNIT [burst N] [local|distributed]"; err names what is wrong and the range.
 * The numbers are checked so that every product the bucket forms (n * interval, burst *
 * interval, plus a clock reading) stays far inside an int64_t. */
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
    if (!slash || !per || imi_parse_double(tok, &n)) {
        snprintf(err, errsz, "'%s' is not RATE/UNIT (e.g. 10/s, 600/m, 0.5/s; units s, m, h, d)",
                 spec);
        return IMI_ECONFIG;
    }
    p->rate = n / per;
    if (!(p->rate >= IMI_RATELIMIT_RATE_MIN && p->rate <= IMI_RATELIMIT_RATE_MAX)) {
        snprintf(err, errsz, "rate '%s' is outside 1/d to %.0f/s", spec, IMI_RATELIMIT_RATE_MAX);
        return IMI_ECONFIG;
    }
    p->burst = n > 1 ? (int64_t)ceil(n) : 1;
    p->distributed = dflt_distributed;
    while ((tok = strtok_r(NULL, " \t", &save))) {
        int64_t b;
        if (!strcmp(tok, "burst")) {
            tok = strtok_r(NULL, " \t", &save);
            if (!tok || imi_parse_int(tok, &b) || b < 1 || b > IMI_RATELIMIT_BURST_MAX) {
                snprintf(err, errsz, "burst takes a whole number from 1 to %lld",
                         (long long)IMI_RATELIMIT_BURST_MAX);
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
    if (p->burst > IMI_RATELIMIT_BURST_MAX) {
        snprintf(err, errsz, "'%s': the burst (by default RATE) is from 1 to %lld", spec,
                 (long long)IMI_RATELIMIT_BURST_MAX);
        return IMI_ECONFIG;
    }
    /* rate <= 1e9/s: at least 1 ns per token; rate >= 1/d: at most 8.64e13 ns. */
    p->interval_ns = (int64_t)(1e9 / p->rate);
    if (p->interval_ns < 1)
        p->interval_ns = 1;
    /* The time a bucket takes to refill from empty; bounded so that it stays a duration. */
    if (p->burst > IMI_DURATION_MAX_MS * 1000000 / p->interval_ns) {
        snprintf(err, errsz, "burst %lld at %s takes more than 100 years to refill; at this "
                 "rate burst is from 1 to %lld", (long long)p->burst, spec,
                 (long long)(IMI_DURATION_MAX_MS * 1000000 / p->interval_ns));
        return IMI_ECONFIG;
    }
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
    static const char *const keys[] = { "mode", "cache", "key_prefix", "on_backend_error",
                                        "max_buckets", "unknown_rule", NULL };
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
    if (!rc && (v = imi_settings_get(&s, "unknown_rule", &line))) {
        if (strcmp(v, "deny") && strcmp(v, "allow"))
            rc = imi_settings_error(&s, line, "unknown_rule = '%s' is not deny or allow", v);
        rl->unknown_allow = !strcmp(v, "allow");
    }
    int64_t maxb = RL_MAX_BUCKETS_DEFAULT;
    if (!rc)
        rc = imi_settings_int(&s, "max_buckets", 1, 1000000000, &maxb);
    rl->max_buckets = (size_t)maxb;
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
    rl->sweep_at = RL_SWEEP_MIN;
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
            bucket_free(b);
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
    if (!rl || !rule || !info)
        return imi_error_set(IMI_EINVALID, 0, "ratelimit rule: a handle, a rule and an output "
                             "are required");
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
    return rl ? atomic_load(&((imi_ratelimit *)rl)->backend_errors) : 0;
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

static void bucket_free(imi_ratelimit_bucket *b)
{
    free(b->resource);
    free(b->key);
    free(b);
}

/* Drops the unpinned buckets that are full again: a full bucket is what a new one would
 * be, so forgetting it changes no answer. Lock held. */
static void sweep(imi_ratelimit *rl, int64_t now)
{
    for (size_t i = 0; i < rl->table_cap; i++)
        for (imi_ratelimit_bucket **pb = &rl->table[i]; *pb;) {
            imi_ratelimit_bucket *b = *pb;
            if (b->pinned || atomic_load_explicit(&b->tat, memory_order_relaxed) > now) {
                pb = &b->next;
                continue;
            }
            *pb = b->next;
            bucket_free(b);
            rl->n_buckets--;
            rl->evicted++;
        }
    rl->last_sweep_ns = now;
    rl->sweep_at = rl->n_buckets * 2 > RL_SWEEP_MIN ? rl->n_buckets * 2 : RL_SWEEP_MIN;
}

static imi_ratelimit_bucket *find_bucket(imi_ratelimit *rl, uint64_t h, const char *rule,
                                         const char *resource)
{
    if (!rl->table_cap)
        return NULL;
    for (imi_ratelimit_bucket *b = rl->table[h % rl->table_cap]; b; b = b->next)
        if (b->hash == h && !strcmp(b->rule->name, rule) && !strcmp(b->resource, resource))
            return b;
    return NULL;
}

/* "<key_prefix><rule>:<resource>", malloc'd. */
static char *cache_key(const imi_ratelimit *rl, const char *rule, const char *resource)
{
    size_t kl = strlen(rl->key_prefix) + strlen(rule) + strlen(resource) + 2;
    char *key = malloc(kl);
    if (key)
        snprintf(key, kl, "%s%s:%s", rl->key_prefix, rule, resource);
    return key;
}

/* A new bucket for (rule r, resource). NULL with the error set: IMI_ENOMEM, or
 * IMI_ELIMITED when max_buckets unpinned ones are all still in use. Lock held. */
static imi_ratelimit_bucket *bucket_make(imi_ratelimit *rl, rl_rule *r, uint64_t h,
                                         const char *resource, bool pinned)
{
    int64_t now = imi_now_mono_ns();
    bool full = !pinned && rl->n_buckets - rl->n_pinned >= rl->max_buckets;
    /* when full, sweep at most once a ms: a sweep walks the whole table */
    if (rl->n_buckets >= rl->sweep_at || (full && now - rl->last_sweep_ns >= 1000000)) {
        sweep(rl, now);
        full = !pinned && rl->n_buckets - rl->n_pinned >= rl->max_buckets;
    }
    if (full) {
        imi_error_set(IMI_ELIMITED, 0, "[%s] holds max_buckets = %zu buckets, none of them "
                      "full again; no room for resource '%s'", rl->section, rl->max_buckets,
                      resource);
        return NULL;
    }
    if (rl->n_buckets + 1 > rl->table_cap * 2 && grow(rl)) {
        imi_error_set(IMI_ENOMEM, 0, "out of memory");
        return NULL;
    }
    imi_ratelimit_bucket *b = aligned_alloc(RL_CACHELINE, (sizeof *b + RL_CACHELINE - 1) /
                                                              RL_CACHELINE * RL_CACHELINE);
    char *res = strdup(resource);
    if (!b || !res) {
        free(b);
        free(res);
        imi_error_set(IMI_ENOMEM, 0, "out of memory");
        return NULL;
    }
    memset(b, 0, sizeof *b);
    b->rule = r;
    b->rl = rl;
    b->hash = h;
    b->resource = res;
    b->pinned = pinned;
    rl->n_pinned += pinned;
    b->next = rl->table[h % rl->table_cap];
    rl->table[h % rl->table_cap] = b;
    rl->n_buckets++;
    return b;
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
    imi_ratelimit_bucket *b = find_bucket(rl, h, rule, resource);
    rl_rule *r = b ? b->rule : find_rule(rl, rule);
    if (!b && (!r || !atomic_load(&r->p)))
        imi_error_set(IMI_ENOTFOUND, 0, "[%s] has no rule '%s'", rl->section, rule);
    else if (!b)
        b = bucket_make(rl, r, h, resource, true);  /* the caller keeps it: never evicted */
    if (b && !b->key && !(b->key = cache_key(rl, rule, resource))) {
        imi_error_set(IMI_ENOMEM, 0, "out of memory");
        b = NULL;  /* stays in the table; pinned or evictable as it was */
    }
    if (b && !b->pinned) {
        b->pinned = true;
        rl->n_pinned++;
    }
    pthread_mutex_unlock(&rl->mu);
    return b;
}

/* A distributed rule keeps its state in the cache: a bucket on the stack names it. */
static int check_remote(imi_ratelimit *rl, rl_rule *r, const rl_params *p, const imi_ctx *ctx,
                        const char *resource, int64_t n, int64_t *retry_after_ms)
{
    imi_ratelimit_bucket b = { .rule = r, .rl = rl, .key = cache_key(rl, r->name, resource) };
    if (!b.key)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    int rc = imi_ratelimit_take_remote(&b, p, ctx, n, retry_after_ms);
    free(b.key);
    return rc;
}

int imi_ratelimit_check(imi_ratelimit *rl, const imi_ctx *ctx, const char *rule,
                        const char *resource, int64_t n, int64_t *retry_after_ms)
{
    if (!rl || !rule || !resource)
        return imi_error_set(IMI_EINVALID, 0, "imi_ratelimit_check: limiter, rule and "
                             "resource are required");
    uint64_t h = hash_of(rule, resource);
    pthread_mutex_lock(&rl->mu);
    imi_ratelimit_bucket *b = find_bucket(rl, h, rule, resource);
    rl_rule *r = b ? b->rule : find_rule(rl, rule);
    const rl_params *p = r ? atomic_load_explicit(&r->p, memory_order_acquire) : NULL;
    int rc = IMI_OK;
    if (!p) {
        /* A misspelt rule must not quietly allow everything: fail closed unless asked. */
        if (!rl->unknown_allow)
            rc = imi_error_set(IMI_ENOTFOUND, 0, "[%s] has no rule '%s' (set unknown_rule = "
                               "allow to let calls of unknown rules through)", rl->section, rule);
    } else if (n < 1 || n > p->burst) {
        rc = imi_error_set(IMI_EINVALID, 0, "ratelimit %s: n = %lld is outside [1, burst %lld]",
                           rule, (long long)n, (long long)p->burst);
    } else if (p->distributed) {
        pthread_mutex_unlock(&rl->mu);
        rc = check_remote(rl, r, p, ctx, resource, n, retry_after_ms);
        imi_metrics_count_ratelimit(rc);
        return rc;
    } else if (b || (b = bucket_make(rl, r, h, resource, false))) {
        /* under the lock: a sweep cannot free the bucket in between */
        rc = imi_ratelimit_take_local(b, p, n, retry_after_ms);
    } else if ((rc = imi_error_code()) == IMI_ELIMITED) {
        /* the table is full of buckets in use: the backend policy decides */
        atomic_fetch_add_explicit(&rl->backend_errors, 1, memory_order_relaxed);
        if (rl->fail_open)
            rc = IMI_OK;
        else if (retry_after_ms)
            *retry_after_ms = 0;
    }
    pthread_mutex_unlock(&rl->mu);
    if (p)
        imi_metrics_count_ratelimit(rc);
    return rc;
}
