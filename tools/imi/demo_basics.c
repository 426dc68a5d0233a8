/* imi demo: clog and cache. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "demo.h"

void demo_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("   ", stdout);
    vprintf(fmt, ap);
    fputc('\n', stdout);
    va_end(ap);
    fflush(stdout);
}

int demo_clog(imi_app *app)
{
    imi_logger *lg = imi_logger_named(imi_app_logger(app), "demo");
    imi_ctx *ctx = imi_ctx_new(1000);
    const char *trace = imi_ctx_new_trace_id(ctx);
    demo_say("writing one structured line with trace id %s (to the [log] output):", trace);
    fflush(stdout);
    IMI_INFO(lg, ctx, "user logged in", IMI_FSTR("user", "alice"), IMI_FINT("device", 3),
             IMI_FDUR("took", 1250000), IMI_FBOOL("new_session", true));
    imi_ctx_free(ctx);
    return IMI_OK;
}

int demo_cache(imi_app *app)
{
    imi_cache *c;
    int rc = imi_cache_open(app, NULL, &c);
    if (rc)
        return rc;
    demo_say("opened [cache] on driver '%s'", imi_cache_driver_name(c));
    imi_buf v = IMI_BUF_INIT;
    int64_t ttl = 0;
    if ((rc = imi_cache_set(c, NULL, "session:alice", "token-123", 9, 1500)))
        goto out;
    demo_say("set session:alice = token-123 with a 1.5 s TTL");
    if ((rc = imi_cache_get(c, NULL, "session:alice", &v)) ||
        (rc = imi_cache_ttl(c, NULL, "session:alice", &ttl)))
        goto out;
    demo_say("get session:alice -> '%s' (ttl %lld ms left)", v.data, (long long)ttl);
    rc = imi_cache_get(c, NULL, "session:bob", &v);
    demo_say("get session:bob -> %s (a miss)", imi_err_name(rc));
    if (rc != IMI_ENOTFOUND)
        goto out;
    demo_say("waiting 1.6 s for the TTL to pass ...");
    struct timespec ts = { 1, 600000000 };
    nanosleep(&ts, NULL);
    rc = imi_cache_get(c, NULL, "session:alice", &v);
    demo_say("get session:alice -> %s (expired)", imi_err_name(rc));
    rc = rc == IMI_ENOTFOUND ? IMI_OK : IMI_EINTERNAL;
out:
    imi_buf_free(&v);
    imi_cache_free(c);
    return rc;
}
