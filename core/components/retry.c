/* retry: attempts, backoff with cap and full jitter, retryable codes, ctx deadline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "iminfra/error.h"
#include "iminfra/retry.h"
#include "reload_internal.h"
#include "uid_internal.h"

struct imi_retry {
    imi_retry_policy p;
    imi_retry_pred pred;
    void *pred_ud;
    imi_retry_hooks h;
};

imi_retry_policy imi_retry_policy_default(void)
{
    return (imi_retry_policy){
        .max_attempts = 3,
        .max_elapsed_ms = 10000,
        .backoff = IMI_BACKOFF_EXPONENTIAL,
        .initial_ms = 100,
        .max_delay_ms = 5000,
        .multiplier = 2.0,
        .jitter = true,
        .retry_on = IMI_CODE_BIT(IMI_EUNAVAILABLE) | IMI_CODE_BIT(IMI_ETIMEDOUT),
    };
}

/* ---- real hooks ----------------------------------------------------------------------- */

static int64_t real_now(void *ud)
{
    (void)ud;
    return imi_now_mono_ns();
}

/* Sleeps in slices so that a cancel is seen within a few ms. */
static int real_sleep(void *ud, const imi_ctx *ctx, int64_t ns)
{
    (void)ud;
    const int64_t slice = 5000000;
    int64_t end = imi_now_mono_ns() + ns;
    for (;;) {
        if (imi_ctx_canceled(ctx))
            return IMI_ECANCELED;
        int64_t left = end - imi_now_mono_ns();
        if (left <= 0)
            return IMI_OK;
        if (ctx && left > slice)
            left = slice;
        struct timespec ts = { .tv_sec = left / 1000000000, .tv_nsec = left % 1000000000 };
        while (nanosleep(&ts, &ts) && errno == EINTR)
            ;
    }
}

static uint64_t real_rand(void *ud)
{
    (void)ud;
    return imi_rand64();
}

/* ---- making one ------------------------------------------------------------------------- */

int imi_retry_new(const imi_retry_policy *p, imi_retry_pred pred, void *pred_ud,
                  const imi_retry_hooks *hooks, imi_retry **out)
{
    if (!p || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_retry_new: policy and out are required");
    *out = NULL;
    if (p->max_attempts < 0 || p->max_elapsed_ms < 0 || p->initial_ms < 0 ||
        p->max_delay_ms < 0 || p->max_elapsed_ms > IMI_DURATION_MAX_MS ||
        p->initial_ms > IMI_DURATION_MAX_MS || p->max_delay_ms > IMI_DURATION_MAX_MS ||
        (p->backoff != IMI_BACKOFF_CONSTANT && p->backoff != IMI_BACKOFF_EXPONENTIAL))
        return imi_error_set(IMI_EINVALID, 0, "imi_retry_new: negative, unknown or too large "
                             "policy value (durations from 0 to %lld ms)",
                             (long long)IMI_DURATION_MAX_MS);
    imi_retry *r = calloc(1, sizeof *r);
    if (!r)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    r->p = *p;
    r->pred = pred;
    r->pred_ud = pred_ud;
    r->h = hooks ? *hooks : (imi_retry_hooks){ 0 };
    if (!r->h.now_ns)
        r->h.now_ns = real_now;
    if (!r->h.sleep_ns)
        r->h.sleep_ns = real_sleep;
    if (!r->h.rand64)
        r->h.rand64 = real_rand;
    *out = r;
    return IMI_OK;
}

int imi_retry_open(imi_app *app, const char *name, imi_retry **out)
{
    static const char *const keys[] = { "max_attempts", "max_elapsed", "backoff", "initial",
                                        "max_delay", "multiplier", "jitter", "retry_on", NULL };
    if (!app || !out)
        return imi_error_set(IMI_EINVALID, 0, "imi_retry_open: app and out are required");
    *out = NULL;
    char section[128];
    snprintf(section, sizeof section, "retry%s%s", name && *name ? "." : "", name ? name : "");
    const imi_config *cfg = imi_app_config(app);
    if (name && *name && !imi_config_has_section(cfg, section))
        return imi_error_set(IMI_ECONFIG, 0, "%s: no section [%s]", imi_config_name(cfg), section);
    imi_settings s;
    imi_retry_policy p = imi_retry_policy_default();
    int64_t attempts = p.max_attempts;
    double mult = p.multiplier;
    int rc = imi_settings_from_config(&s, cfg, "retry", section);
    if (!rc)
        rc = imi_settings_check(&s, keys, NULL);
    if (!rc)
        rc = imi_settings_int(&s, "max_attempts", 0, 1000000, &attempts);
    if (!rc)
        rc = imi_settings_duration_ms(&s, "max_elapsed", &p.max_elapsed_ms);
    if (!rc)
        rc = imi_settings_duration_ms(&s, "initial", &p.initial_ms);
    if (!rc)
        rc = imi_settings_duration_ms(&s, "max_delay", &p.max_delay_ms);
    if (!rc)
        rc = imi_settings_double(&s, "multiplier", 1.0, 1000.0, &mult);
    if (!rc)
        rc = imi_settings_codes(&s, "retry_on", &p.retry_on);
    int line;
    const char *v;
    if (!rc && (v = imi_settings_get(&s, "backoff", &line))) {
        if (!strcmp(v, "constant"))
            p.backoff = IMI_BACKOFF_CONSTANT;
        else if (!strcmp(v, "exponential"))
            p.backoff = IMI_BACKOFF_EXPONENTIAL;
        else
            rc = imi_settings_error(&s, line, "backoff = '%s' is not constant or exponential", v);
    }
    if (!rc && (v = imi_settings_get(&s, "jitter", &line))) {
        if (!strcmp(v, "full") || !strcmp(v, "none"))
            p.jitter = !strcmp(v, "full");
        else
            rc = imi_settings_error(&s, line, "jitter = '%s' is not full or none", v);
    }
    imi_settings_free(&s);
    if (rc)
        return rc;
    p.max_attempts = (int)attempts;
    p.multiplier = mult;
    return imi_retry_new(&p, NULL, NULL, NULL, out);
}

void imi_retry_free(imi_retry *r) { free(r); }
const imi_retry_policy *imi_retry_get_policy(const imi_retry *r) { return r ? &r->p : NULL; }

/* ---- running ---------------------------------------------------------------------------- */

int64_t imi_retry_delay_ms(const imi_retry_policy *p, int attempt)
{
    if (!p)
        return 0;
    double d = (double)p->initial_ms;
    if (p->backoff == IMI_BACKOFF_EXPONENTIAL) {
        double m = p->multiplier >= 1.0 ? p->multiplier : 1.0;  /* also for nan */
        for (int i = 1; i < attempt && (!p->max_delay_ms || d < (double)p->max_delay_ms) &&
                        d < (double)IMI_DURATION_MAX_MS; i++)
            d *= m;
    }
    if (p->max_delay_ms && d > (double)p->max_delay_ms)
        d = (double)p->max_delay_ms;
    /* at most 100 years, so that it still fits in ns */
    return d > (double)IMI_DURATION_MAX_MS ? IMI_DURATION_MAX_MS : (int64_t)d;
}

bool imi_retry_retryable(const imi_retry *r, int code)
{
    if (code >= 0 || code == IMI_ECANCELED)
        return false;
    if (r->pred)
        return r->pred(r->pred_ud, code);
    return code >= IMI_ERRNO_MIN_ && (r->p.retry_on & IMI_CODE_BIT(code));
}

int imi_retry_run(const imi_retry *r, const imi_ctx *ctx, imi_retry_fn fn, void *ud,
                  int *attempts)
{
    if (attempts)
        *attempts = 0;
    if (!r || !fn)
        return imi_error_set(IMI_EINVALID, 0, "imi_retry_run: retry and fn are required");
    const imi_retry_hooks *h = &r->h;
    int64_t start = h->now_ns(h->ud);
    for (int attempt = 1;; attempt++) {
        int rc = imi_ctx_err(ctx);
        if (rc)
            return rc;
        if (attempts)
            *attempts = attempt;
        rc = fn(ud, ctx, attempt);
        if (rc == IMI_OK || !imi_retry_retryable(r, rc) ||
            (r->p.max_attempts && attempt >= r->p.max_attempts))
            return rc;
        int64_t delay = imi_ms_to_ns_sat(imi_retry_delay_ms(&r->p, attempt));
        if (r->p.jitter)
            delay = delay > 0 ? (int64_t)(h->rand64(h->ud) % ((uint64_t)delay + 1)) : 0;
        int64_t now = h->now_ns(h->ud);
        if (r->p.max_elapsed_ms && now + delay - start > imi_ms_to_ns_sat(r->p.max_elapsed_ms))
            return rc;
        int64_t deadline = imi_ctx_deadline_ns(ctx);
        if (deadline && now + delay >= deadline)
            return imi_error_set(IMI_ETIMEDOUT, rc, "retry: the deadline comes before attempt "
                                 "%d; attempt %d failed with %s", attempt + 1, attempt,
                                 imi_err_name(rc));
        if (delay > 0 && (rc = h->sleep_ns(h->ud, ctx, delay)))
            return imi_error_set(rc, 0, "retry: %s while waiting for attempt %d",
                                 imi_strerror(rc), attempt + 1);
    }
}
