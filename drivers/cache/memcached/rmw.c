/* The memcached driver's read-modify-write operations: read the value with its CAS,
 * decide, write it back only if nobody changed it meanwhile (CAS, or ADD when the key was
 * absent), and start over when someone did, until the deadline.
 *
 * A value past its logical expiry (see mc.h) that memcached still holds counts as absent
 * but is replaced by CAS, and a removal is a CAS write that expires at once: an absolute
 * exptime in 1970. Decisions see values without the marker; writes put it back where
 * values.c says. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mc.h"

#define EXPIRE_NOW ((time_t)(60 * 60 * 24 * 30 + 1)) /* absolute: long past */

typedef enum { RMW_KEEP, RMW_WRITE, RMW_DELETE } rmw_action;

/* What a decision sees and says. */
typedef struct rmw {
    bool found;
    const char *val;
    size_t len;
    uint32_t flags;             /* the current expiry flags (no marker bit) */
    rmw_action action;
    const void *out;            /* RMW_WRITE: the new value ... */
    size_t out_len;
    uint32_t out_flags;         /* ... and its expiry flags (no marker bit) */
    int rc;                     /* what the operation returns */
} rmw;

typedef void (*rmw_fn)(mc *m, void *ud, rmw *x);

/* Writes x's decision: IMI_OK with *r set, or IMI_ENOMEM. */
static int write_back(mc *m, mc_lease *l, const char *mkey, size_t mlen, const mc_item *it,
                      const rmw *x, memcached_return_t *r)
{
    *r = MEMCACHED_SUCCESS;
    if (x->action == RMW_DELETE && it->present) {
        *r = memcached_cas(l->h, mkey, mlen, "", 0, EXPIRE_NOW, 0, it->cas);
        return IMI_OK;
    }
    if (x->action != RMW_WRITE)
        return IMI_OK;
    mc_value v;
    int rc = mc_value_make(m, &v, x->out, x->out_len, x->out_flags);
    if (rc)
        return rc;
    if (it->present)
        *r = memcached_cas(l->h, mkey, mlen, v.p, v.len, mc_exptime(m, v.flags), v.flags,
                           it->cas);
    else
        *r = memcached_add(l->h, mkey, mlen, v.p, v.len, mc_exptime(m, v.flags), v.flags);
    mc_value_free(&v);
    return IMI_OK;
}

static int run_rmw(mc *m, const imi_ctx *ctx, const char *key, size_t klen, rmw_fn fn, void *ud)
{
    char buf[MC_KEY_MAX];
    size_t mlen;
    const char *mkey = mc_key(key, klen, buf, &mlen);
    mc_lease l;
    int rc = mc_acquire(m, ctx, &l);
    if (rc)
        return rc;
    for (;;) {
        mc_item it;
        if ((rc = mc_read(m, &l, mkey, mlen, &it)))
            break;
        rmw x = { .found = it.found, .val = it.val, .len = it.len,
                  .flags = it.found ? it.flags & MC_FLAG_EXPIRY : 0 };
        fn(m, ud, &x);
        memcached_return_t r;
        rc = write_back(m, &l, mkey, mlen, &it, &x, &r);
        free(it.mem);
        if (rc)
            break;
        if (r == MEMCACHED_SUCCESS) {
            rc = x.rc;
            break;
        }
        /* lost a race (CAS changed, or the key appeared or vanished): read again */
        if (r != MEMCACHED_DATA_EXISTS && r != MEMCACHED_NOTSTORED && r != MEMCACHED_NOTFOUND) {
            rc = mc_error(m, l.h, r, "cas");
            break;
        }
        if (m->host->mono_ns() >= l.deadline_ns) {
            rc = m->host->error(IMI_ETIMEDOUT, 0, "memcached: deadline exceeded while "
                                "contending for the key");
            break;
        }
    }
    mc_release(m, &l);
    return rc;
}

/* ---- setnx and expire ---------------------------------------------------------------- */

typedef struct put_args { const void *val; size_t len; int64_t ttl_ms; } put_args;

static void setnx_fn(mc *m, void *ud, rmw *x)
{
    put_args *a = ud;
    if (x->found) {
        x->rc = IMI_EEXISTS;
        return;
    }
    *x = (rmw){ .action = RMW_WRITE, .out = a->val, .out_len = a->len,
                .out_flags = mc_expiry_flags(m, a->ttl_ms) };
}

/* memcached's add, one round trip: IMI_OK when it stored the value, 1 when memcached
 * holds the key (perhaps past its logical expiry: the CAS loop decides), else an error. */
static int setnx_add(mc *m, const imi_ctx *ctx, const char *key, size_t klen, const put_args *a)
{
    char buf[MC_KEY_MAX];
    size_t mlen;
    const char *mkey = mc_key(key, klen, buf, &mlen);
    mc_value v;
    int rc = mc_value_make(m, &v, a->val, a->len, mc_expiry_flags(m, a->ttl_ms));
    if (rc)
        return rc;
    mc_lease l;
    if (!(rc = mc_acquire(m, ctx, &l))) {
        memcached_return_t r = memcached_add(l.h, mkey, mlen, v.p, v.len,
                                             mc_exptime(m, v.flags), v.flags);
        rc = r == MEMCACHED_SUCCESS ? IMI_OK
             : r == MEMCACHED_NOTSTORED || r == MEMCACHED_DATA_EXISTS ? 1
                                                                       : mc_error(m, l.h, r, "add");
        mc_release(m, &l);
    }
    mc_value_free(&v);
    return rc;
}

int mc_setnx(void *st, const imi_ctx *ctx, const char *key, size_t klen, const void *val,
             size_t len, int64_t ttl_ms)
{
    mc *m = st;
    put_args a = { val, len, ttl_ms };
    int rc = mc_check_ttl(m, ttl_ms);
    if (!rc)
        rc = mc_check_value(m, len);
    if (!rc)
        rc = setnx_add(m, ctx, key, klen, &a);
    return rc != 1 ? rc : run_rmw(m, ctx, key, klen, setnx_fn, &a);
}

static void expire_fn(mc *m, void *ud, rmw *x)
{
    if (!x->found) {
        x->rc = m->host->error(IMI_ENOTFOUND, 0, "memcached: no such key");
        return;
    }
    /* the same value with a new expiry (touch would leave the flags behind) */
    x->action = RMW_WRITE;
    x->out = x->val;
    x->out_len = x->len;
    x->out_flags = mc_expiry_flags(m, *(int64_t *)ud);
}

int mc_expire(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t ttl_ms)
{
    int rc = mc_check_ttl(st, ttl_ms);
    return rc ? rc : run_rmw(st, ctx, key, klen, expire_fn, &ttl_ms);
}

/* ---- incr ------------------------------------------------------------------------------
 *
 * A delta >= 0 goes to memcached's own increment, one round trip: it adds to a value of
 * decimal digits, creates a missing key as the delta (no TTL) and keeps the item's flags
 * and exptime. What it cannot do falls back to the CAS loop: a negative delta (memcached's
 * decr stops at 0), and a value it refuses ("non-numeric", which libmemcached reports as
 * UNKNOWN_READ_FAILURE). memcached counts in uint64: a sum past INT64_MAX is written before
 * it is seen, so it is undone by CAS before IMI_EINVALID is returned.
 *
 * Exact because memcached only ever meets, as a number, a counter without a TTL written
 * as incr writes it: every other value it could count on carries the marker (values.c).
 * A counter with a TTL would otherwise be counted on for up to two seconds after its TTL
 * ran out (memcached holds the item that long, see mc.h), where the CAS loop starts again
 * from 0. Its increments take the CAS loop (three round trips with the refused one); its
 * expire, a CAS rewrite, fails and starts over when an increment came in between. */

typedef struct incr_args { int64_t delta, result; char text[24]; } incr_args;

/* The int64 of a counter's text: digits with an optional sign, as written by incr; blanks
 * around them are taken, as memcached's incr leaves them when a number gets shorter. */
static bool parse_int64(const char *s, size_t len, long long *out)
{
    char text[40];
    if (!len || len >= sizeof text)
        return false;
    memcpy(text, s, len); /* strtoll wants a terminated string */
    text[len] = '\0';
    char *end;
    errno = 0;
    *out = strtoll(text, &end, 10);
    while (end < text + len && *end == ' ')
        end++;
    return end != text && end == text + len && errno != ERANGE;
}

static void incr_fn(mc *m, void *ud, rmw *x)
{
    incr_args *a = ud;
    long long cur = 0;
    if (x->found && !parse_int64(x->val, x->len, &cur)) {
        x->rc = m->host->error(IMI_EINVALID, 0, "value is not an integer");
        return;
    }
    if ((a->delta > 0 && cur > INT64_MAX - a->delta) || (a->delta < 0 && cur < INT64_MIN - a->delta)) {
        x->rc = m->host->error(IMI_EINVALID, 0, "increment would overflow");
        return;
    }
    a->result = cur + a->delta;
    int n = snprintf(a->text, sizeof a->text, "%" PRId64, a->result);
    x->action = RMW_WRITE;
    x->out = a->text;
    x->out_len = (size_t)n;
    x->out_flags = x->flags; /* keeps its expiry */
    x->rc = IMI_OK;
}

/* Takes back an increment memcached made past INT64_MAX (or around 2^64): the value less
 * the delta, modulo 2^64 as memcached counts; a value someone replaced meanwhile is left. */
static void undo_fn(mc *m, void *ud, rmw *x)
{
    (void)m;
    incr_args *a = ud;
    char text[24], *end;
    if (!x->found || !x->len || x->len >= sizeof text || *x->val == '-')
        return;
    memcpy(text, x->val, x->len);
    text[x->len] = '\0';
    errno = 0;
    unsigned long long cur = strtoull(text, &end, 10);
    if (errno == ERANGE || end == text)
        return;
    int n = snprintf(a->text, sizeof a->text, "%llu", cur - (unsigned long long)a->delta);
    x->action = RMW_WRITE;
    x->out = a->text;
    x->out_len = (size_t)n;
    x->out_flags = x->flags;
}

/* memcached's increment: IMI_OK with *result, 1 when the CAS loop must do it, else an
 * error. */
static int native_incr(mc *m, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
                       int64_t *result)
{
    char buf[MC_KEY_MAX];
    size_t mlen;
    const char *mkey = mc_key(key, klen, buf, &mlen);
    mc_lease l;
    int rc = mc_acquire(m, ctx, &l);
    if (rc)
        return rc;
    uint64_t v = 0, d = (uint64_t)delta;
    /* a missing key is created as the delta itself, with no expiry; when another client
     * created it first, the creation is refused and the increment is tried again */
    memcached_return_t r;
    do
        r = memcached_increment_with_initial(l.h, mkey, mlen, d, d, 0, &v);
    while ((r == MEMCACHED_NOTSTORED || r == MEMCACHED_DATA_EXISTS) &&
           m->host->mono_ns() < l.deadline_ns);
    if (r == MEMCACHED_SUCCESS && v <= (uint64_t)INT64_MAX && v >= d)
        *result = (int64_t)v;
    else if (r == MEMCACHED_SUCCESS)
        rc = 2; /* past INT64_MAX, or wrapped around 2^64 */
    else if (r == MEMCACHED_UNKNOWN_READ_FAILURE)
        rc = 1; /* the server's "non-numeric value" */
    else
        rc = mc_error(m, l.h, r, "incr");
    mc_release(m, &l);
    if (rc == 2) {
        incr_args a = { .delta = delta };
        rc = run_rmw(m, ctx, key, klen, undo_fn, &a);
        if (!rc)
            rc = m->host->error(IMI_EINVALID, 0, "increment would overflow (or the value is "
                                "past int64)");
    }
    return rc;
}

int mc_incr(void *st, const imi_ctx *ctx, const char *key, size_t klen, int64_t delta,
            int64_t *result)
{
    mc *m = st;
    int rc = delta >= 0 ? native_incr(m, ctx, key, klen, delta, result) : 1;
    if (rc != 1)
        return rc;
    incr_args a = { .delta = delta };
    rc = run_rmw(st, ctx, key, klen, incr_fn, &a);
    if (!rc)
        *result = a.result;
    return rc;
}

/* ---- the lock: the value is the owner ------------------------------------------------ */

typedef struct lock_args { const char *owner; int64_t ttl_ms; bool acquire; } lock_args;

static void lock_fn(mc *m, void *ud, rmw *x)
{
    lock_args *a = ud;
    size_t n = strlen(a->owner);
    bool mine = x->found && x->len == n && !memcmp(x->val, a->owner, n);
    if (!x->found && !a->acquire) {
        x->rc = m->host->error(IMI_ENOTFOUND, 0, "lock is not held");
    } else if (x->found && !mine) {
        x->rc = m->host->error(IMI_ECONFLICT, 0, "lock is held by another owner");
    } else if (a->ttl_ms == 0) {
        x->action = RMW_DELETE;
    } else {
        x->action = RMW_WRITE;
        x->out = a->owner;
        x->out_len = n;
        x->out_flags = mc_expiry_flags(m, a->ttl_ms);
    }
}

int mc_lock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner,
            int64_t ttl_ms)
{
    lock_args a = { owner, ttl_ms, true };
    int rc = mc_check_ttl(st, ttl_ms);
    return rc ? rc : run_rmw(st, ctx, key, klen, lock_fn, &a);
}

int mc_unlock(void *st, const imi_ctx *ctx, const char *key, size_t klen, const char *owner)
{
    lock_args a = { owner, 0, false };
    return run_rmw(st, ctx, key, klen, lock_fn, &a);
}

int mc_lock_renew(void *st, const imi_ctx *ctx, const char *key, size_t klen,
                  const char *owner, int64_t ttl_ms)
{
    lock_args a = { owner, ttl_ms, false };
    int rc = mc_check_ttl(st, ttl_ms);
    return rc ? rc : run_rmw(st, ctx, key, klen, lock_fn, &a);
}

/* ---- the token bucket: "tokens refill_ms" in the value, on the clients' real clocks -- */

typedef struct take_args {
    double rate;
    int64_t burst, n, retry_after_ms;
    char text[64];
} take_args;

/* ms from a double, saturated at 100 years: a tiny rate must not overflow the cast. */
static int64_t ms_of(double ms)
{
    return !(ms > 0) ? 0 : ms >= (double)IMI_DURATION_MAX_MS ? IMI_DURATION_MAX_MS
                                                              : (int64_t)ceil(ms);
}

static void take_fn(mc *m, void *ud, rmw *x)
{
    take_args *a = ud;
    int64_t now = m->host->real_ns() / 1000000;
    double tokens = (double)a->burst;
    long long at = now;
    char text[64];
    size_t n = x->found && x->len < sizeof text ? x->len : 0;
    memcpy(text, x->val ? x->val : "", n); /* sscanf wants a terminated string */
    text[n] = '\0';
    if (x->found && sscanf(text, "%lf %lld", &tokens, &at) != 2) {
        tokens = (double)a->burst;
        at = now;
    }
    if (now > at)
        tokens = fmin((double)a->burst, tokens + (double)(now - at) * a->rate / 1000.0);
    x->rc = IMI_OK;
    a->retry_after_ms = 0;
    if (tokens >= (double)a->n) {
        tokens -= (double)a->n;
    } else {
        a->retry_after_ms = ms_of(((double)a->n - tokens) * 1000.0 / a->rate);
        x->rc = IMI_ELIMITED;
    }
    int len = snprintf(a->text, sizeof a->text, "%.17g %lld", tokens, now > at ? (long long)now : at);
    x->action = RMW_WRITE;
    x->out = a->text;
    x->out_len = (size_t)len;
    x->out_flags = mc_expiry_flags(m, ms_of(((double)a->burst - tokens) * 1000.0 / a->rate) + 1000);
}

int mc_take(void *st, const imi_ctx *ctx, const char *key, size_t klen, double rate,
            int64_t burst, int64_t n, int64_t *retry_after_ms)
{
    mc *m = st;
    take_args a = { .rate = rate, .burst = burst, .n = n };
    int rc = run_rmw(m, ctx, key, klen, take_fn, &a);
    *retry_after_ms = a.retry_after_ms;
    if (rc == IMI_ELIMITED)
        rc = m->host->error(IMI_ELIMITED, 0, "rate limited: retry after %lld ms",
                            (long long)a.retry_after_ms);
    return rc;
}
