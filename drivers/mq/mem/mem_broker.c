/* The in-memory broker (see mem.c for the model). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mem_broker.h"

/* A stored message: one allocation holding everything. */
typedef struct mem_msg {
    const void *key;                /* NULL: none */
    size_t key_len;
    imi_mq_header *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    size_t size;                    /* bytes of the allocation: what max_bytes counts */
} mem_msg;

typedef struct partition {
    mem_msg **log;                  /* offsets base .. base + (len - head) - 1 at log[head..] */
    size_t head, len, cap;
    uint64_t base;
} partition;

struct mem_group {
    mem_group *next;                /* in the topic's list */
    char *name;
    uint64_t *next_off;             /* per partition: next offset to deliver (committed) */
    bool *busy;                     /* per partition: a delivery is in flight */
    int *failed;                    /* per partition: failed attempts of the next message */
    int64_t *not_before;            /* per partition: redelivery not before (mono ns) */
};

struct mem_topic {
    mem_topic *next;
    char *name;
    partition *parts;
    size_t count;                   /* messages held, all partitions */
    size_t bytes;                   /* their size (mem_msg.size) */
    uint64_t rr;                    /* keyless messages go round-robin */
    mem_group *groups;
};

struct mem_broker {
    mem_broker *next;               /* in the registry */
    char *ns;
    int refs;
    size_t np, max_queue, max_bytes;
    pthread_mutex_t lock;
    pthread_cond_t changed;         /* broadcast on publish, ack, nack and member stop */
    mem_topic *topics;
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mem_broker *registry;

void mem_timedwait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t now_ns,
                   int64_t deadline_ns)
{
    /* The conds use CLOCK_REALTIME; waits are short and re-check the monotonic clock. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t wait = deadline_ns - now_ns;
    if (wait > 50000000)
        wait = 50000000; /* re-check cancel at least every 50 ms */
    int64_t ns = ts.tv_nsec + wait;
    ts.tv_sec += ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    pthread_cond_timedwait(cond, lock, &ts);
}

/* ---- registry ---------------------------------------------------------------------- */

mem_broker *mem_broker_get(const char *ns, size_t partitions, size_t max_queue,
                           size_t max_bytes)
{
    pthread_mutex_lock(&registry_lock);
    mem_broker *b = registry;
    while (b && strcmp(b->ns, ns))
        b = b->next;
    if (!b && (b = calloc(1, sizeof *b))) {
        if (!(b->ns = strdup(ns))) {
            free(b);
            b = NULL;
        } else {
            /* The first handle of a namespace sets its shape. */
            b->np = partitions;
            b->max_queue = max_queue;
            b->max_bytes = max_bytes;
            pthread_mutex_init(&b->lock, NULL);
            pthread_cond_init(&b->changed, NULL);
            b->next = registry;
            registry = b;
        }
    }
    if (b)
        b->refs++;
    pthread_mutex_unlock(&registry_lock);
    return b;
}

static void free_topic(mem_topic *t, size_t np)
{
    for (size_t p = 0; p < np; p++) {
        for (size_t i = t->parts[p].head; i < t->parts[p].len; i++)
            free(t->parts[p].log[i]);
        free(t->parts[p].log);
    }
    for (mem_group *g = t->groups, *next; g; g = next) {
        next = g->next;
        free(g->name);
        free(g->next_off);
        free(g->busy);
        free(g->failed);
        free(g->not_before);
        free(g);
    }
    free(t->parts);
    free(t->name);
    free(t);
}

void mem_broker_put(mem_broker *b)
{
    pthread_mutex_lock(&registry_lock);
    if (--b->refs > 0) {
        pthread_mutex_unlock(&registry_lock);
        return;
    }
    for (mem_broker **p = &registry; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    pthread_mutex_unlock(&registry_lock);
    for (mem_topic *t = b->topics, *next; t; t = next) {
        next = t->next;
        free_topic(t, b->np);
    }
    pthread_cond_destroy(&b->changed);
    pthread_mutex_destroy(&b->lock);
    free(b->ns);
    free(b);
}

/* ---- topics and groups (broker lock held) ------------------------------------------ */

static mem_topic *topic_get(mem_broker *b, const char *name)
{
    for (mem_topic *t = b->topics; t; t = t->next)
        if (!strcmp(t->name, name))
            return t;
    mem_topic *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->name = strdup(name);
    t->parts = calloc(b->np, sizeof *t->parts);
    if (!t->name || !t->parts) {
        free(t->name);
        free(t->parts);
        free(t);
        return NULL;
    }
    t->next = b->topics;
    b->topics = t;
    return t;
}

static uint64_t end_of(const partition *p) { return p->base + (p->len - p->head); }

/* A group's position on t: new groups start at the oldest message held. */
static mem_group *group_get(mem_broker *b, mem_topic *t, const char *name)
{
    for (mem_group *g = t->groups; g; g = g->next)
        if (!strcmp(g->name, name))
            return g;
    mem_group *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->name = strdup(name);
    g->next_off = calloc(b->np, sizeof *g->next_off);
    g->busy = calloc(b->np, sizeof *g->busy);
    g->failed = calloc(b->np, sizeof *g->failed);
    g->not_before = calloc(b->np, sizeof *g->not_before);
    if (!g->name || !g->next_off || !g->busy || !g->failed || !g->not_before) {
        free(g->name);
        free(g->next_off);
        free(g->busy);
        free(g->failed);
        free(g->not_before);
        free(g);
        return NULL;
    }
    for (size_t p = 0; p < b->np; p++)
        g->next_off[p] = t->parts[p].base;
    g->next = t->groups;
    t->groups = g;
    return g;
}

/* Drops the messages of partition p that every group has acknowledged. */
static void trim(mem_broker *b, mem_topic *t, size_t pi)
{
    if (!t->groups)
        return;
    partition *p = &t->parts[pi];
    uint64_t min = UINT64_MAX;
    for (mem_group *g = t->groups; g; g = g->next)
        if (g->next_off[pi] < min)
            min = g->next_off[pi];
    while (p->base < min && p->head < p->len) {
        t->bytes -= p->log[p->head]->size;
        free(p->log[p->head++]);
        p->base++;
        t->count--;
    }
    if (p->head == p->len) {
        p->head = p->len = 0;
    } else if (p->head > 1024 && p->head > p->len / 2) {
        memmove(p->log, p->log + p->head, (p->len - p->head) * sizeof *p->log);
        p->len -= p->head;
        p->head = 0;
    }
    (void)b;
}

static uint64_t hash_bytes(const void *data, size_t n)
{
    const unsigned char *s = data;
    uint64_t h = 1469598103934665603u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211u;
    return h;
}

/* ---- publish ----------------------------------------------------------------------- */

static mem_msg *copy_msg(const imi_mq_msg *in)
{
    size_t size = sizeof(mem_msg) + in->n_headers * sizeof(imi_mq_header) + in->key_len +
                  in->body_len;
    for (size_t i = 0; i < in->n_headers; i++)
        size += strlen(in->headers[i].name) + 1 + in->headers[i].len;
    mem_msg *m = malloc(size);
    if (!m)
        return NULL;
    m->size = size;
    char *p = (char *)(m + 1);
    m->headers = (imi_mq_header *)p;
    m->n_headers = in->n_headers;
    p += in->n_headers * sizeof(imi_mq_header);
    for (size_t i = 0; i < in->n_headers; i++) {
        size_t nl = strlen(in->headers[i].name) + 1;
        memcpy(p, in->headers[i].name, nl);
        m->headers[i].name = p;
        p += nl;
        if (in->headers[i].len)
            memcpy(p, in->headers[i].value, in->headers[i].len);
        m->headers[i].value = p;
        m->headers[i].len = in->headers[i].len;
        p += in->headers[i].len;
    }
    m->key = in->key ? p : NULL;
    m->key_len = in->key_len;
    if (in->key_len)
        memcpy(p, in->key, in->key_len);
    p += in->key_len;
    m->body = p;
    m->body_len = in->body_len;
    if (in->body_len)
        memcpy(p, in->body, in->body_len);
    return m;
}

int mem_broker_append(mem_broker *b, const imi_host_api *host, const imi_ctx *ctx,
                      int64_t deadline_ns, const imi_mq_msg *msg)
{
    mem_msg *m = copy_msg(msg);
    if (!m)
        return host->error(IMI_ENOMEM, 0, "out of memory");
    int rc = IMI_OK;
    pthread_mutex_lock(&b->lock);
    mem_topic *t = topic_get(b, msg->topic);
    if (!t) {
        rc = host->error(IMI_ENOMEM, 0, "out of memory");
        goto out;
    }
    if (m->size > b->max_bytes) {
        /* it would wait for room that never comes */
        rc = host->error(IMI_EINVALID, 0, "publish to '%s': the message takes %zu bytes, "
                         "more than max_bytes=%zu of the topic", msg->topic, m->size,
                         b->max_bytes);
        goto out;
    }
    /* Back-pressure on either bound: messages or bytes not yet acknowledged by every group. */
    while (t->count >= b->max_queue || t->bytes + m->size > b->max_bytes) {
        int64_t now = host->mono_ns();
        if (host->ctx_canceled(ctx)) {
            rc = host->error(IMI_ECANCELED, 0, "publish to '%s' canceled while waiting for "
                             "room", msg->topic);
            goto out;
        }
        if (now >= deadline_ns) {
            rc = host->error(IMI_ETIMEDOUT, 0, "publish to '%s' timed out: the topic holds "
                             "%zu messages (max_queue=%zu) of %zu bytes (max_bytes=%zu) not "
                             "yet acknowledged by every group", msg->topic, t->count,
                             b->max_queue, t->bytes, b->max_bytes);
            goto out;
        }
        mem_timedwait(&b->changed, &b->lock, now, deadline_ns);
    }
    size_t pi = m->key ? hash_bytes(m->key, m->key_len) % b->np : t->rr++ % b->np;
    partition *p = &t->parts[pi];
    if (p->len == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        mem_msg **log = realloc(p->log, cap * sizeof *log);
        if (!log) {
            rc = host->error(IMI_ENOMEM, 0, "out of memory");
            goto out;
        }
        p->log = log;
        p->cap = cap;
    }
    t->bytes += m->size;
    p->log[p->len++] = m;
    m = NULL;
    t->count++;
    pthread_cond_broadcast(&b->changed);
out:
    pthread_mutex_unlock(&b->lock);
    free(m);
    return rc;
}

/* ---- members ----------------------------------------------------------------------- */

typedef struct pick {
    mem_topic *t;
    mem_group *g;
    size_t p;
    mem_msg *m;
    int attempt;
} pick;

/* The next message this member may take: a partition with no delivery in flight for the
 * group and a message due. *wake_ns gets the earliest pending redelivery (0: none). */
static bool take(mem_member *mb, int64_t now, pick *out, int64_t *wake_ns)
{
    size_t np = mb->b->np, total = mb->n * np;
    *wake_ns = 0;
    for (size_t k = 0; k < total; k++) {
        size_t slot = (mb->scan + k) % total, i = slot / np, pi = slot % np;
        mem_group *g = mb->groups[i];
        partition *p = &mb->topics[i]->parts[pi];
        if (g->busy[pi] || g->next_off[pi] >= end_of(p))
            continue;
        if (g->not_before[pi] > now) {
            if (!*wake_ns || g->not_before[pi] < *wake_ns)
                *wake_ns = g->not_before[pi];
            continue;
        }
        g->busy[pi] = true;
        mb->scan = slot + 1;
        *out = (pick){ .t = mb->topics[i], .g = g, .p = pi,
                       .m = p->log[p->head + (g->next_off[pi] - p->base)],
                       .attempt = g->failed[pi] + 1 };
        return true;
    }
    return false;
}

static void *member_loop(void *arg)
{
    mem_member *mb = arg;
    mem_broker *b = mb->b;
    pthread_mutex_lock(&b->lock);
    while (!mb->stop) {
        int64_t now = mb->host->mono_ns(), wake = 0;
        pick pk;
        if (!take(mb, now, &pk, &wake)) {
            if (wake)
                mem_timedwait(&b->changed, &b->lock, now, wake);
            else
                pthread_cond_wait(&b->changed, &b->lock);
            continue;
        }
        /* The message stays held while busy: trim never passes an unacknowledged one. */
        pthread_mutex_unlock(&b->lock);
        imi_mq_msg msg = { .topic = pk.t->name, .key = pk.m->key, .key_len = pk.m->key_len,
                           .headers = pk.m->headers, .n_headers = pk.m->n_headers,
                           .body = pk.m->body, .body_len = pk.m->body_len,
                           .attempt = pk.attempt };
        int rc = mb->deliver(mb->core_sub, &msg);
        pthread_mutex_lock(&b->lock);
        pk.g->busy[pk.p] = false;
        if (rc == IMI_OK) {
            pk.g->next_off[pk.p]++;
            pk.g->failed[pk.p] = 0;
            pk.g->not_before[pk.p] = 0;
            trim(b, pk.t, pk.p);
        } else {
            pk.g->failed[pk.p]++;
            pk.g->not_before[pk.p] = mb->host->mono_ns() + mb->delay_ns;
        }
        pthread_cond_broadcast(&b->changed);
    }
    pthread_mutex_unlock(&b->lock);
    return NULL;
}

int mem_member_start(mem_broker *b, const imi_host_api *host, mem_member *mb,
                     const imi_mq_sub_spec *spec, imi_mq_deliver_fn deliver, void *core_sub)
{
    *mb = (mem_member){ .b = b, .host = host, .deliver = deliver, .core_sub = core_sub,
                        .delay_ns = mem_ms_to_ns(spec->redelivery_delay_ms) };
    mb->topics = calloc(spec->n_topics, sizeof *mb->topics);
    mb->groups = calloc(spec->n_topics, sizeof *mb->groups);
    if (!mb->topics || !mb->groups)
        return host->error(IMI_ENOMEM, 0, "out of memory");
    int rc = IMI_OK;
    pthread_mutex_lock(&b->lock);
    for (size_t i = 0; i < spec->n_topics && !rc; i++) {
        mb->topics[i] = topic_get(b, spec->topics[i]);
        mb->groups[i] = mb->topics[i] ? group_get(b, mb->topics[i], spec->group) : NULL;
        if (!mb->groups[i])
            rc = host->error(IMI_ENOMEM, 0, "out of memory");
        mb->n = i + 1;
    }
    if (!rc) {
        if (pthread_create(&mb->thread, NULL, member_loop, mb))
            rc = host->error(IMI_EINTERNAL, 0, "cannot start a delivery thread");
        else
            mb->started = true;
    }
    pthread_mutex_unlock(&b->lock);
    return rc;
}

void mem_member_stop(mem_member *mb)
{
    if (!mb->b)
        return;
    if (mb->started) {
        pthread_mutex_lock(&mb->b->lock);
        mb->stop = true;
        pthread_cond_broadcast(&mb->b->changed);
        pthread_mutex_unlock(&mb->b->lock);
        pthread_join(mb->thread, NULL);
    }
    free(mb->topics);
    free(mb->groups);
    mb->b = NULL;
}
