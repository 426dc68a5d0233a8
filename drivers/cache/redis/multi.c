/* The redis driver's multi-key operations, mget and mset. In a cluster a command may
 * only name keys of one slot: the keys are grouped by slot, one command per group, all
 * sent at once (rds_scatter: pipelined per node, the nodes in parallel), and the answers
 * put back in the caller's order. Elsewhere all keys are one group. */
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

/* The commands of one multi-key call: cmd c is argv[at[c]] .. (argc[c] words), routed
 * by the key at keys[c]. */
typedef struct batch {
    size_t n;                    /* commands */
    const char **argv;           /* all words, command after command */
    size_t *lens;
    int *argcs;
    const char **keys;
    size_t *klens;
    const char *const **argvs;   /* per command, into argv */
    const size_t **lensv;
    redisReply **reps;
    slotted *g;                  /* the keys by slot */
    size_t *first;               /* per command: its first key's place in g */
} batch;

static void batch_free(batch *b)
{
    free(b->argv), free(b->lens), free(b->argcs), free(b->keys), free(b->klens);
    free(b->argvs), free(b->lensv), free(b->reps), free(b->g), free(b->first);
}

/* Room for up to n commands of `words` words in all, and the keys grouped by slot. */
static int batch_init(rds *r, batch *b, const char *const *keys, const size_t *klens,
                      size_t n, size_t cmds, size_t words)
{
    *b = (batch){
        .argv = malloc(words * sizeof *b->argv), .lens = malloc(words * sizeof *b->lens),
        .argcs = malloc(cmds * sizeof *b->argcs), .keys = malloc(cmds * sizeof *b->keys),
        .klens = malloc(cmds * sizeof *b->klens), .argvs = malloc(cmds * sizeof *b->argvs),
        .lensv = malloc(cmds * sizeof *b->lensv), .reps = calloc(cmds, sizeof *b->reps),
        .g = malloc(n * sizeof *b->g), .first = malloc(cmds * sizeof *b->first),
    };
    if (!b->argv || !b->lens || !b->argcs || !b->keys || !b->klens || !b->argvs ||
        !b->lensv || !b->reps || !b->g || !b->first) {
        batch_free(b);
        return r->host->error(IMI_ENOMEM, 0, "out of memory");
    }
    for (size_t i = 0; i < n; i++)
        b->g[i] = (slotted){ .slot = r->mode == RDS_CLUSTER ? rds_key_slot(keys[i], klens[i]) : 0,
                             .i = i };
    if (r->mode == RDS_CLUSTER)
        qsort(b->g, n, sizeof *b->g, by_slot);
    return IMI_OK;
}

/* Starts a command at word w, for the group starting at g[from]. */
static void batch_cmd(batch *b, size_t w, size_t from, const char *const *keys,
                      const size_t *klens)
{
    b->argvs[b->n] = b->argv + w;
    b->lensv[b->n] = b->lens + w;
    b->keys[b->n] = keys[b->g[from].i];
    b->klens[b->n] = klens[b->g[from].i];
    b->first[b->n] = from;
}

static int batch_run(rds *r, const imi_ctx *ctx, int64_t deadline, batch *b)
{
    return rds_scatter(r, ctx, deadline, b->n, b->keys, b->klens, b->argcs, b->argvs,
                       b->lensv, b->reps);
}

/* The end of the group starting at `from`: keys of one slot (all keys outside a cluster). */
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
    for (size_t i = 0; i < n; i++)
        found[i] = 0;
    if (!n)
        return IMI_OK;
    batch b;
    int rc = batch_init(r, &b, keys, klens, n, n, 2 * n);
    if (rc)
        return rc;
    for (size_t from = 0, to, w = 0; from < n; from = to, b.n++) { /* MGET k... per slot */
        to = group_end(b.g, n, from);
        batch_cmd(&b, w, from, keys, klens);
        b.argv[w] = "MGET", b.lens[w++] = 4;
        for (size_t k = from; k < to; k++)
            b.argv[w] = keys[b.g[k].i], b.lens[w++] = klens[b.g[k].i];
        b.argcs[b.n] = (int)(to - from + 1);
    }
    rc = batch_run(r, ctx, rds_deadline(r, ctx), &b);
    for (size_t c = 0; c < b.n && !rc; c++) {
        redisReply *rep = b.reps[c];
        size_t asked = (size_t)b.argcs[c] - 1;
        if (rep->type == REDIS_REPLY_ERROR) {
            rc = rds_reply_error(r, rep, "MGET");
            break;
        }
        /* one bulk string or nil per key, nothing else: a short array is no miss */
        if (rep->type != REDIS_REPLY_ARRAY || rep->elements != asked) {
            rc = rep->type != REDIS_REPLY_ARRAY
                     ? r->host->error(IMI_EDRIVER, rep->type, "redis: MGET: unexpected %s reply "
                                      "(wanted array)", rds_type_name(rep->type))
                     : r->host->error(IMI_EDRIVER, 0, "redis: MGET: unexpected reply: %zu "
                                      "elements for %zu keys", rep->elements, asked);
            break;
        }
        for (size_t k = 0; k < asked && !rc; k++) {
            int t = rep->element[k]->type;
            if (t != REDIS_REPLY_STRING && t != REDIS_REPLY_NIL)
                rc = r->host->error(IMI_EDRIVER, t, "redis: MGET: unexpected %s element "
                                    "(wanted bulk string or nil)", rds_type_name(t));
        }
        for (size_t k = 0; k < asked && !rc; k++) {
            const redisReply *e = rep->element[k];
            size_t at = b.g[b.first[c] + k].i;
            found[at] = e->type == REDIS_REPLY_STRING;
            if (found[at])
                rc = r->host->buf_set(&vals[at], e->str, e->len);
        }
    }
    if (rc) /* no half answer */
        for (size_t i = 0; i < n; i++)
            found[i] = 0;
    for (size_t c = 0; c < b.n; c++)
        if (b.reps[c])
            freeReplyObject(b.reps[c]);
    batch_free(&b);
    return rc;
}

int rds_mset(void *st, const imi_ctx *ctx, const char *const *keys, const size_t *klens,
             const imi_bytes *vals, size_t n, int64_t ttl_ms)
{
    rds *r = st;
    if (!n)
        return IMI_OK;
    char ttl[24];
    size_t tl = (size_t)snprintf(ttl, sizeof ttl, "%" PRId64, ttl_ms);
    batch b;
    /* no TTL: MSET k v ... per slot; a TTL: SET k v PX ttl per key */
    int rc = batch_init(r, &b, keys, klens, n, n, ttl_ms ? 5 * n : 3 * n);
    if (rc)
        return rc;
    for (size_t from = 0, to, w = 0; from < n; from = to) {
        to = ttl_ms ? from + 1 : group_end(b.g, n, from);
        batch_cmd(&b, w, from, keys, klens);
        size_t w0 = w;
        b.argv[w] = ttl_ms ? "SET" : "MSET", b.lens[w++] = ttl_ms ? 3 : 4;
        for (size_t k = from; k < to; k++) {
            size_t i = b.g[k].i;
            b.argv[w] = keys[i], b.lens[w++] = klens[i];
            b.argv[w] = vals[i].data, b.lens[w++] = vals[i].len;
        }
        if (ttl_ms) {
            b.argv[w] = "PX", b.lens[w++] = 2;
            b.argv[w] = ttl, b.lens[w++] = tl;
        }
        b.argcs[b.n++] = (int)(w - w0);
    }
    rc = batch_run(r, ctx, rds_deadline(r, ctx), &b);
    const char *what = ttl_ms ? "SET" : "MSET";
    for (size_t c = 0; c < b.n; c++) {
        redisReply *rep = b.reps[c];
        if (!rc && rep && rep->type == REDIS_REPLY_ERROR)
            rc = rds_reply_error(r, rep, what);
        else if (!rc && rep && (rep->type != REDIS_REPLY_STATUS || strcmp(rep->str, "OK")))
            rc = r->host->error(IMI_EDRIVER, rep->type, "redis: %s: unexpected %s reply (wanted "
                                "+OK)", what, rds_type_name(rep->type));
        if (rep)
            freeReplyObject(rep);
    }
    batch_free(&b);
    return rc;
}
