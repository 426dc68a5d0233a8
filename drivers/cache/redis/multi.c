/* The redis driver's multi-key operations, mget and mset. In a cluster a command may
 * only name keys of one slot: the keys are grouped by slot, one command per group, and
 * the answers put back in the caller's order. Elsewhere all keys are one group. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "redis.h"

typedef struct slotted {
    unsigned slot;
    size_t i;     /* the key's place in the caller's arrays */
} slotted;

static int by_slot(const void *a, const void *b)
{
    const slotted *x = a, *y = b;
    if (x->slot != y->slot)
        return x->slot < y->slot ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* The keys' places ordered by slot (in a cluster), else in the caller's order. */
static slotted *group(rds *r, const char *const *keys, const size_t *klens, size_t n)
{
    slotted *g = malloc((n ? n : 1) * sizeof *g);
    if (!g)
        return NULL;
    for (size_t i = 0; i < n; i++)
        g[i] = (slotted){ .slot = r->mode == RDS_CLUSTER ? rds_key_slot(keys[i], klens[i]) : 0,
                          .i = i };
    if (r->mode == RDS_CLUSTER)
        qsort(g, n, sizeof *g, by_slot);
    return g;
}

/* The end of the group starting at `from`. */
static size_t group_end(const slotted *g, size_t n, size_t from)
{
    size_t to = from + 1;
    while (to < n && g[to].slot == g[from].slot)
        to++;
    return to;
}

int rds_mget(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             size_t n, imi_buf *vals, int *found)
{
    rds *r = st;
    int64_t deadline = rds_deadline(r, ctx);
    slotted *g = group(r, keys, klens, n);
    const char **argv = malloc((n + 1) * sizeof *argv);
    size_t *lens = malloc((n + 1) * sizeof *lens);
    int rc = g && argv && lens ? IMI_OK : r->host->error(IMI_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < n; i++)
        found[i] = 0;
    for (size_t from = 0, to; from < n && !rc; from = to) {
        to = group_end(g, n, from);
        argv[0] = "MGET";
        lens[0] = 4;
        for (size_t k = from; k < to; k++) {
            argv[1 + k - from] = keys[g[k].i];
            lens[1 + k - from] = klens[g[k].i];
        }
        redisReply *rep = NULL;
        rc = rds_cmd_on(r, ctx, deadline, argv[1], lens[1], &rep, (int)(to - from + 1), argv,
                        lens);
        if (rc || (rc = rds_expect(r, rep, REDIS_REPLY_ARRAY)))
            break;
        for (size_t k = 0; k < to - from && k < rep->elements && !rc; k++) {
            const redisReply *e = rep->element[k];
            size_t at = g[from + k].i;
            found[at] = e->type == REDIS_REPLY_STRING;
            if (found[at])
                rc = r->host->buf_set(&vals[at], e->str, e->len);
        }
        freeReplyObject(rep);
    }
    free(g), free(argv), free(lens);
    return rc;
}

/* One MSET for the keys of a group. */
static int mset_group(rds *r, const imi_ctx *ctx, int64_t deadline, const slotted *g, size_t m,
                      const char *const *keys, const size_t *klens, const imi_bytes *vals,
                      const char **argv, size_t *lens)
{
    argv[0] = "MSET";
    lens[0] = 4;
    for (size_t k = 0; k < m; k++) {
        size_t i = g[k].i;
        argv[1 + 2 * k] = keys[i];
        lens[1 + 2 * k] = klens[i];
        argv[2 + 2 * k] = vals[i].data;
        lens[2 + 2 * k] = vals[i].len;
    }
    redisReply *rep = NULL;
    int rc = rds_cmd_on(r, ctx, deadline, argv[1], lens[1], &rep, (int)(2 * m + 1), argv, lens);
    if (rep)
        freeReplyObject(rep);
    return rc;
}

/* SET ... PX for each key of a group, pipelined in one round trip. */
static int mset_ttl_group(rds *r, const imi_ctx *ctx, int64_t deadline, const slotted *g,
                          size_t m, const char *const *keys, const size_t *klens,
                          const imi_bytes *vals, const char *ttl, size_t tl)
{
    const char **argv = malloc(m * 5 * sizeof *argv);
    size_t *lens = malloc(m * 5 * sizeof *lens);
    int *argcs = malloc(m * sizeof *argcs);
    const char *const **argvs = malloc(m * sizeof *argvs);
    const size_t **lensv = malloc(m * sizeof *lensv);
    redisReply **reps = calloc(m, sizeof *reps);
    int rc = argv && lens && argcs && argvs && lensv && reps
                 ? IMI_OK : r->host->error(IMI_ENOMEM, 0, "out of memory");
    for (size_t k = 0; k < m && !rc; k++) {
        const char **a = argv + 5 * k;
        size_t *l = lens + 5 * k;
        size_t i = g[k].i;
        a[0] = "SET", l[0] = 3;
        a[1] = keys[i], l[1] = klens[i];
        a[2] = vals[i].data, l[2] = vals[i].len;
        a[3] = "PX", l[3] = 2;
        a[4] = ttl, l[4] = tl;
        argcs[k] = 5;
        argvs[k] = a;
        lensv[k] = l;
    }
    if (!rc)
        rc = rds_pipeline(r, ctx, deadline, keys[g[0].i], klens[g[0].i], m, argcs, argvs,
                          lensv, reps);
    for (size_t k = 0; k < m && reps; k++) {
        if (!rc && reps[k] && reps[k]->type == REDIS_REPLY_ERROR)
            rc = rds_reply_error(r, reps[k]);
        if (reps[k])
            freeReplyObject(reps[k]);
    }
    free(argv), free(lens), free(argcs), free(argvs), free(lensv), free(reps);
    return rc;
}

int rds_mset(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             const imi_bytes *vals, size_t n, int64_t ttl_ms)
{
    rds *r = st;
    int64_t deadline = rds_deadline(r, ctx);
    char ttl[24];
    size_t tl = (size_t)snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    slotted *g = group(r, keys, klens, n);
    const char **argv = malloc((2 * n + 1) * sizeof *argv);
    size_t *lens = malloc((2 * n + 1) * sizeof *lens);
    int rc = g && argv && lens ? IMI_OK : r->host->error(IMI_ENOMEM, 0, "out of memory");
    for (size_t from = 0, to; from < n && !rc; from = to) {
        to = group_end(g, n, from);
        rc = ttl_ms == 0
                 ? mset_group(r, ctx, deadline, g + from, to - from, keys, klens, vals, argv, lens)
                 : mset_ttl_group(r, ctx, deadline, g + from, to - from, keys, klens, vals, ttl, tl);
    }
    free(g), free(argv), free(lens);
    return rc;
}
