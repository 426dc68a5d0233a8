/* Fault injection in front of any driver (see chaos.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "chaos.h"
#include "iminfra/error.h"
#include "uid_internal.h"
#include "util.h"

struct imi_chaos {
    pthread_mutex_t mu;        /* the generator: one sequence per instance */
    uint64_t state, seed;
    double error_rate, latency_rate, timeout_rate;
    int error_code;
    int64_t latency_ms;
};

const char *const imi_chaos_keys[] = { "target", "chaos_error_rate", "chaos_error",
                                       "chaos_latency", "chaos_latency_rate",
                                       "chaos_timeout_rate", "chaos_seed", NULL };

static int rate_of(const imi_config *cfg, const char *sec, const char *key, double *out)
{
    *out = 0;
    int rc = imi_config_get_double(cfg, sec, key, out);
    if (!rc && !(*out >= 0 && *out <= 1)) {
        int line = 0;
        imi_config_get(cfg, sec, key, &line);
        rc = imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] %s must be from 0 to 1",
                           imi_config_name(cfg), line, sec, key);
    }
    return rc;
}

static int code_of(const imi_config *cfg, const char *sec, int *out)
{
    int line = 0;
    const char *v = imi_config_get(cfg, sec, "chaos_error", &line);
    *out = IMI_EUNAVAILABLE;
    if (!v)
        return IMI_OK;
    for (int code = -1; code >= IMI_ERRNO_MIN_; code--) {
        const char *name = imi_err_name(code) + 5; /* past "IMI_E" */
        if (!strcasecmp(v, name)) {
            *out = code;
            return IMI_OK;
        }
    }
    return imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] chaos_error = '%s' is not an error name "
                         "(unavailable, timedout, conflict, notfound ...)", imi_config_name(cfg),
                         line, sec, v);
}

int imi_chaos_from_config(const imi_config *cfg, const char *section, imi_chaos **out)
{
    *out = NULL;
    const char *drv = imi_config_get(cfg, section, "driver", NULL);
    if (!drv || strcmp(drv, "chaos"))
        return IMI_OK;
    imi_chaos *ch = calloc(1, sizeof *ch);
    if (!ch)
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    pthread_mutex_init(&ch->mu, NULL);
    int64_t seed = 0;
    int rc = rate_of(cfg, section, "chaos_error_rate", &ch->error_rate);
    if (!rc)
        rc = rate_of(cfg, section, "chaos_latency_rate", &ch->latency_rate);
    if (!rc)
        rc = rate_of(cfg, section, "chaos_timeout_rate", &ch->timeout_rate);
    if (!rc)
        rc = code_of(cfg, section, &ch->error_code);
    if (!rc)
        rc = imi_config_get_duration_ms(cfg, section, "chaos_latency", &ch->latency_ms);
    if (!rc)
        rc = imi_config_get_int(cfg, section, "chaos_seed", &seed);
    if (rc) {
        imi_chaos_free(ch);
        return rc;
    }
    if (seed)
        ch->seed = (uint64_t)seed;
    else
        imi_random_bytes(&ch->seed, sizeof ch->seed);
    ch->state = ch->seed ? ch->seed : 0x9e3779b97f4a7c15ull;
    *out = ch;
    return IMI_OK;
}

void imi_chaos_free(imi_chaos *ch)
{
    if (!ch)
        return;
    pthread_mutex_destroy(&ch->mu);
    free(ch);
}

uint64_t imi_chaos_seed(const imi_chaos *ch) { return ch->seed; }

/* A uniform double in [0, 1) from the instance's own sequence (splitmix64). */
static double roll(imi_chaos *ch)
{
    pthread_mutex_lock(&ch->mu);
    uint64_t z = (ch->state += 0x9e3779b97f4a7c15ull);
    pthread_mutex_unlock(&ch->mu);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

static void sleep_ms(int64_t ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int imi_chaos_enter(imi_chaos *ch, const imi_ctx *ctx, int64_t default_timeout_ms)
{
    /* Three rolls per call whatever happens, so the sequence does not depend on timing. */
    double e = roll(ch), t = roll(ch), l = roll(ch);
    if (e < ch->error_rate)
        return imi_error_set(ch->error_code, 0, "chaos: injected %s", imi_err_name(ch->error_code));
    if (t < ch->timeout_rate) {
        sleep_ms(imi_ctx_remaining_ms(ctx, default_timeout_ms));
        return imi_error_set(IMI_ETIMEDOUT, 0, "chaos: injected timeout");
    }
    if (l < ch->latency_rate) {
        int64_t left = imi_ctx_remaining_ms(ctx, default_timeout_ms);
        sleep_ms(ch->latency_ms < left ? ch->latency_ms : left);
        if (ch->latency_ms >= left)
            return imi_error_set(IMI_ETIMEDOUT, 0, "chaos: injected latency of %lld ms passed "
                                 "the deadline", (long long)ch->latency_ms);
    }
    return IMI_OK;
}
