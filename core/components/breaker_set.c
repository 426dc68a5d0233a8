/* Breaker sets: names to breakers, policies from config and overrides. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "breaker_internal.h"
#include "iminfra/error.h"
#include "iminfra/retry.h"
#include "reload_internal.h"

typedef struct brk_override {
    struct brk_override *next;
    char *name;
    imi_settings kv;
} brk_override;

static const char *const policy_keys[] = {
    "consecutive_failures", "failure_ratio", "window", "min_calls", "open_for",
    "half_open_probes", "half_open_successes", "failure_on", NULL
};

imi_breaker_policy imi_breaker_policy_default(void)
{
    return (imi_breaker_policy){
        .consecutive_failures = 5,
        .failure_ratio = 0.5,
        .window_ms = 10000,
        .min_calls = 20,
        .open_ms = 5000,
        .half_open_probes = 1,
        .half_open_successes = 1,
        .failure_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) | IMI_CODE_BIT(IMI_ETIMEDOUT) |
                      IMI_CODE_BIT(IMI_EINTERNAL) | IMI_CODE_BIT(IMI_EDRIVER),
    };
}

static int policy_parse(const imi_settings *s, imi_breaker_policy *p)
{
    int64_t consec = p->consecutive_failures, min_calls = p->min_calls;
    int64_t probes = p->half_open_probes, oks = p->half_open_successes;
    int rc;
    if ((rc = imi_settings_check(s, policy_keys, NULL)) ||
        (rc = imi_settings_int(s, "consecutive_failures", 0, 1000000000, &consec)) ||
        (rc = imi_settings_double(s, "failure_ratio", 0.0, 1.0, &p->failure_ratio)) ||
        (rc = imi_settings_duration_ms(s, "window", &p->window_ms)) ||
        (rc = imi_settings_int(s, "min_calls", 0, 1000000000, &min_calls)) ||
        (rc = imi_settings_duration_ms(s, "open_for", &p->open_ms)) ||
        (rc = imi_settings_int(s, "half_open_probes", 1, 10000, &probes)) ||
        (rc = imi_settings_int(s, "half_open_successes", 1, 10000, &oks)) ||
        (rc = imi_settings_codes(s, "failure_on", &p->failure_on)))
        return rc;
    int line = 0;
    if (p->failure_ratio > 0 && p->window_ms < 10) {
        imi_settings_get(s, "window", &line);
        return imi_settings_error(s, line, "window must be at least 10ms when failure_ratio "
                                  "is set");
    }
    p->consecutive_failures = (int)consec;
    p->min_calls = (int)min_calls;
    p->half_open_probes = (int)probes;
    p->half_open_successes = (int)oks;
    return IMI_OK;
}

brk_policy *imi_breaker_policy_make(const imi_breaker_policy *p)
{
    brk_policy *bp = calloc(1, sizeof *bp);
    if (!bp)
        return NULL;
    bp->p = *p;
    bp->bucket_ns = p->failure_ratio > 0 ? imi_ms_to_ns_sat(p->window_ms) / BRK_BUCKETS : 0;
    bp->open_ns = imi_ms_to_ns_sat(p->open_ms);
    return bp;
}

static brk_override *find_override(imi_breaker_set *s, const char *name)
{
    for (brk_override *o = s->overrides; o; o = o->next)
        if (!strcmp(o->name, name))
            return o;
    return NULL;
}

bool imi_breaker_policy_equal(const imi_breaker_policy *a, const imi_breaker_policy *b)
{
    return a->consecutive_failures == b->consecutive_failures &&
           a->failure_ratio == b->failure_ratio && a->window_ms == b->window_ms &&
           a->min_calls == b->min_calls && a->open_ms == b->open_ms &&
           a->half_open_probes == b->half_open_probes &&
           a->half_open_successes == b->half_open_successes && a->failure_on == b->failure_on;
}

/* The policy of name: [breaker], [breaker.NAME], then the override of name, or of
 * "default" for names without a section of their own. Set lock held. */
static int effective(imi_breaker_set *s, const char *name, imi_breaker_policy *p)
{
    *p = s->dflt;
    imi_settings kv = { .n = 0 };
    char section[160];
    snprintf(section, sizeof section, "breaker.%s", name);
    bool own_section = false;
    int rc = IMI_OK;
    if (s->cfg) {
        own_section = imi_config_has_section(s->cfg, section);
        rc = imi_settings_from_config(&kv, s->cfg, "breaker", own_section ? section : NULL);
    }
    brk_override *o = find_override(s, name);
    if (!o && !own_section)
        o = find_override(s, "default");
    if (!rc && o)
        rc = imi_settings_append(&kv, &o->kv);
    if (!rc)
        rc = policy_parse(&kv, p);
    imi_settings_free(&kv);
    return rc;
}

/* Gives b its effective policy. Set lock held. */
static int refresh(imi_breaker_set *s, imi_breaker *b)
{
    imi_breaker_policy p;
    int rc = effective(s, b->name, &p);
    if (rc)
        return rc;
    const brk_policy *cur = atomic_load(&b->pol);
    if (cur && imi_breaker_policy_equal(&cur->p, &p))
        return IMI_OK;
    brk_policy *bp = imi_breaker_policy_make(&p);
    if (!bp)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    if (cur) {
        brk_policy *old = (brk_policy *)cur;
        old->retired_next = s->retired;
        s->retired = old;
    }
    imi_breaker_install(b, bp);
    return IMI_OK;
}

static int set_make(imi_breaker_set **out, const imi_config *cfg, const imi_breaker_policy *dflt,
                    imi_logger *log)
{
    imi_breaker_set *s = calloc(1, sizeof *s);
    if (!s)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    pthread_mutex_init(&s->mu, NULL);
    s->cfg = cfg;
    s->dflt = *dflt;
    s->log = log ? imi_logger_named(log, "breaker") : NULL;
    *out = s;
    return IMI_OK;
}

int imi_breaker_set_new(const imi_breaker_policy *dflt, imi_logger *logger,
                        imi_breaker_set **out)
{
    if (!out)
        return imi_error_set(IMI_EINVALID, 0, "imi_breaker_set_new: out is required");
    *out = NULL;
    imi_breaker_policy p = dflt ? *dflt : imi_breaker_policy_default();
    if (p.half_open_probes < 1 || p.half_open_successes < 1 || p.consecutive_failures < 0 ||
        !(p.failure_ratio >= 0 && p.failure_ratio <= 1) || p.open_ms < 0 ||
        p.open_ms > IMI_DURATION_MAX_MS || p.window_ms < 0 || p.window_ms > IMI_DURATION_MAX_MS ||
        (p.failure_ratio > 0 && p.window_ms < 10))
        return imi_error_set(IMI_EINVALID, 0, "imi_breaker_set_new: policy out of range "
                             "(open_ms and window_ms from 0 to %lld, failure_ratio from 0 "
                             "to 1, half_open_* at least 1)", (long long)IMI_DURATION_MAX_MS);
    return set_make(out, NULL, &p, logger);
}

int imi_breaker_set_open(imi_app *app, imi_breaker_set **out)
{
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_breaker_set_open: app and out are required");
    *out = NULL;
    const imi_config *cfg = imi_app_config(app);
    imi_breaker_policy dflt = imi_breaker_policy_default();
    /* check every [breaker] and [breaker.NAME] section now, not at first use */
    const char *sec;
    for (size_t i = 0; (sec = imi_config_section(cfg, i, NULL)); i++) {
        if (strcmp(sec, "breaker") && strncmp(sec, "breaker.", 8))
            continue;
        imi_settings kv;
        imi_breaker_policy p = dflt;
        int rc = imi_settings_from_config(&kv, cfg, "breaker", sec);
        if (!rc)
            rc = policy_parse(&kv, &p);
        imi_settings_free(&kv);
        if (rc)
            return rc;
    }
    return set_make(out, cfg, &dflt, imi_app_logger(app));
}

void imi_breaker_set_free(imi_breaker_set *s)
{
    if (!s)
        return;
    for (imi_breaker *b = s->list, *next; b; b = next) {
        next = b->next;
        free((void *)atomic_load(&b->pol));
        free(b);
    }
    for (brk_policy *p = s->retired, *next; p; p = next) {
        next = p->retired_next;
        free(p);
    }
    for (brk_override *o = s->overrides, *next; o; o = next) {
        next = o->next;
        imi_settings_free(&o->kv);
        free(o->name);
        free(o);
    }
    free(atomic_load(&s->cb));
    for (brk_callback *c = s->old_cbs, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void imi_breaker_set_on_change(imi_breaker_set *s, imi_breaker_change_fn fn, void *ud)
{
    if (!s)
        return;
    brk_callback *cb = calloc(1, sizeof *cb);
    if (!cb)
        return; /* keeps the one there */
    cb->fn = fn;
    cb->ud = ud;
    pthread_mutex_lock(&s->mu);
    brk_callback *old = atomic_exchange(&s->cb, cb);
    if (old) {
        old->next = s->old_cbs;
        s->old_cbs = old;
    }
    pthread_mutex_unlock(&s->mu);
}

imi_breaker *imi_breaker_get(imi_breaker_set *s, const char *name)
{
    if (!s || !name)
        return NULL;
    pthread_mutex_lock(&s->mu);
    imi_breaker *b;
    for (b = s->list; b; b = b->next)
        if (!strcmp(b->name, name))
            break;
    if (!b) {
        size_t n = strlen(name);
        b = aligned_alloc(BRK_CACHELINE, (sizeof *b + n + 1 + BRK_CACHELINE - 1) /
                                             BRK_CACHELINE * BRK_CACHELINE);
        if (b) {
            memset(b, 0, sizeof *b);
            memcpy(b->name, name, n + 1);
            b->set = s;
            if (refresh(s, b)) {
                /* the config was checked at open: only memory can fail here */
                free(b);
                b = NULL;
            } else {
                b->next = s->list;
                s->list = b;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
    return b;
}

int imi_breaker_set_override(imi_breaker_set *s, const char *name, const char *text,
                             const char *origin)
{
    if (!s || !name || !*name)
        return imi_error_set(IMI_EINVALID, 0, "imi_breaker_set_override: set and name are "
                             "required");
    char where[160];
    snprintf(where, sizeof where, "%s", origin ? origin : name);
    brk_override *o = NULL;
    if (text) {
        if (!(o = calloc(1, sizeof *o)) || !(o->name = strdup(name))) {
            free(o);
            return imi_error_set(IMI_ENOMEM, 0, "out of memory");
        }
        int rc = imi_settings_from_text(&o->kv, where, text, strlen(text));
        imi_breaker_policy p = s->dflt;
        if (!rc) /* the text alone over the defaults must parse */
            rc = policy_parse(&o->kv, &p);
        if (rc) {
            imi_settings_free(&o->kv);
            free(o->name);
            free(o);
            return rc;
        }
    }
    pthread_mutex_lock(&s->mu);
    for (brk_override **pp = &s->overrides; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->name, name)) {
            brk_override *old = *pp;
            *pp = old->next;
            imi_settings_free(&old->kv);
            free(old->name);
            free(old);
            break;
        }
    if (o) {
        o->next = s->overrides;
        s->overrides = o;
    }
    int rc = IMI_OK;
    for (imi_breaker *b = s->list; b; b = b->next) {
        int r = refresh(s, b);
        rc = rc ? rc : r;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
