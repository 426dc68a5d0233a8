/* The redis driver's command paths: one command, a pipeline, reply errors, scripts. */
#include <stdlib.h>
#include <string.h>
#include "redis.h"

/* The Lua scripts behind the lock and the token bucket (see lock.c). */
extern const char *const rds_scripts[N_SCRIPTS];

int rds_reply_error(rds *r, const redisReply *rep)
{
    const char *s = rep->str ? rep->str : "";
    if (!strncmp(s, "WRONGTYPE", 9))
        return r->host->error(IMI_EINVALID, 0, "redis: key holds a value of another type");
    if (strstr(s, "not an integer") || strstr(s, "overflow") || strstr(s, "not a valid float"))
        return r->host->error(IMI_EINVALID, 0, "redis: %s", s);
    if (!strncmp(s, "LOADING", 7) || !strncmp(s, "READONLY", 8) || !strncmp(s, "MASTERDOWN", 10) ||
        !strncmp(s, "BUSY", 4))
        return r->host->error(IMI_EUNAVAILABLE, 0, "redis: %s", s);
    if (!strncmp(s, "NOAUTH", 6) || !strncmp(s, "WRONGPASS", 9) || !strncmp(s, "NOPERM", 6))
        return r->host->error(IMI_ECONFIG, 0, "redis: %s", s);
    if (!strncmp(s, "OOM", 3))
        return r->host->error(IMI_ENOMEM, 0, "redis: %s", s);
    return r->host->error(IMI_EDRIVER, 0, "redis: %s", s);
}

int rds_miss(void *st)
{
    rds *r = st;
    return r->host->error(IMI_ENOTFOUND, 0, "redis: no such key");
}

int rds_expect(rds *r, redisReply *rep, int type)
{
    if (rep->type == type)
        return IMI_OK;
    int t = rep->type;
    freeReplyObject(rep);
    return r->host->error(IMI_EDRIVER, t, "redis: unexpected reply type %d (wanted %d)", t, type);
}

/* One command on a leased connection: a reply (error replies too: the caller decides,
 * e.g. on NOSCRIPT), or the code of an I/O error that broke the connection. */
static int exchange(rds *r, rlease *l, int argc, const char **argv, const size_t *lens,
                    redisReply **out)
{
    *out = redisCommandArgv(l->c->rc, argc, argv, lens);
    return *out ? IMI_OK : rds_io_error(r, l->c->rc, argv[0]);
}

int rds_cmd(rds *r, const imi_ctx *ctx, redisReply **out, int argc, const char **argv,
            const size_t *lens)
{
    rlease l;
    *out = NULL;
    int rc = rds_acquire(r, ctx, &l);
    if (rc)
        return rc;
    rc = exchange(r, &l, argc, argv, lens, out);
    rds_release(r, &l, rc != IMI_OK);
    if (!rc && (*out)->type == REDIS_REPLY_ERROR) {
        rc = rds_reply_error(r, *out);
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}

int rds_pipeline(rds *r, const imi_ctx *ctx, size_t n, const int *argcs,
                 const char *const *const *argvs, const size_t *const *lens,
                 redisReply **replies)
{
    rlease l;
    memset(replies, 0, n * sizeof *replies);
    int rc = rds_acquire(r, ctx, &l);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && !rc; i++)
        if (redisAppendCommandArgv(l.c->rc, argcs[i], (const char **)argvs[i], lens[i]) != REDIS_OK)
            rc = r->host->error(IMI_ENOMEM, 0, "redis: out of memory");
    for (size_t i = 0; i < n && !rc; i++)
        if (redisGetReply(l.c->rc, (void **)&replies[i]) != REDIS_OK)
            rc = rds_io_error(r, l.c->rc, "pipeline");
    rds_release(r, &l, rc != IMI_OK);
    if (rc)
        for (size_t i = 0; i < n; i++)
            if (replies[i]) {
                freeReplyObject(replies[i]);
                replies[i] = NULL;
            }
    return rc;
}

/* Loads a script on the leased connection; its SHA is the same on every connection. */
static int load_script(rds *r, rlease *l, int script, char *sha)
{
    const char *argv[] = { "SCRIPT", "LOAD", rds_scripts[script] };
    redisReply *rep = NULL;
    int rc = exchange(r, l, 3, argv, NULL, &rep);
    if (rc)
        return rc;
    if (rep->type != REDIS_REPLY_STRING || rep->len != 40) {
        rc = rep->type == REDIS_REPLY_ERROR ? rds_reply_error(r, rep)
                                            : r->host->error(IMI_EDRIVER, 0, "redis: SCRIPT LOAD gave no SHA");
        freeReplyObject(rep);
        return rc;
    }
    memcpy(sha, rep->str, 41);
    freeReplyObject(rep);
    pthread_mutex_lock(&r->mu);
    memcpy(r->sha[script], sha, 41);
    pthread_mutex_unlock(&r->mu);
    return IMI_OK;
}

int rds_script(rds *r, const imi_ctx *ctx, int script, const char *key, size_t klen,
               int nargs, const char **args, redisReply **out)
{
    char sha[41];
    const char *argv[8] = { "EVALSHA", sha, "1", key };
    size_t lens[8] = { 7, 40, 1, klen };
    for (int i = 0; i < nargs; i++) {
        argv[4 + i] = args[i];
        lens[4 + i] = strlen(args[i]);
    }
    pthread_mutex_lock(&r->mu);
    memcpy(sha, r->sha[script], sizeof sha);
    pthread_mutex_unlock(&r->mu);

    rlease l;
    *out = NULL;
    int rc = rds_acquire(r, ctx, &l);
    if (rc)
        return rc;
    if (!sha[0])
        rc = load_script(r, &l, script, sha);
    if (!rc)
        rc = exchange(r, &l, 4 + nargs, argv, lens, out);
    if (!rc && (*out)->type == REDIS_REPLY_ERROR && !strncmp((*out)->str, "NOSCRIPT", 8)) {
        freeReplyObject(*out); /* the server forgot it: restarted or SCRIPT FLUSH */
        *out = NULL;
        rc = load_script(r, &l, script, sha);
        if (!rc)
            rc = exchange(r, &l, 4 + nargs, argv, lens, out);
    }
    rds_release(r, &l, rc != IMI_OK);
    if (!rc && (*out)->type == REDIS_REPLY_ERROR) {
        rc = rds_reply_error(r, *out);
        freeReplyObject(*out);
        *out = NULL;
    }
    return rc;
}
