/* A partition's log: a ring of message pointers over reusable segments (mem_log.h). */
#include <stdlib.h>
#include <string.h>
#include "mem_log.h"

#define SEG_FIRST 4096              /* a quiet partition keeps one small segment */
#define SEG_MAX (64 * 1024)         /* a busy one grows its segments up to this */
#define RING_FIRST 64

struct mem_seg {
    mem_seg *next;                  /* in the pool */
    size_t cap, used;               /* bytes of data */
    size_t live;                    /* messages in it not yet dropped */
    max_align_t data[];
};

#define ALIGN(n) (((n) + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1))

#define PAGE 4096

size_t mem_msg_size(const imi_mq_msg *in)
{
    size_t size = sizeof(mem_msg) + in->n_headers * sizeof(imi_mq_header) + in->key_len +
                  in->body_len;
    for (size_t i = 0; i < in->n_headers; i++)
        size += strlen(in->headers[i].name) + 1 + in->headers[i].len;
    return ALIGN(size);
}

/* Large blocks are allocated in whole pages, so that one freed can carry the next
 * message of a like size. */
static size_t large_cap(size_t size) { return (size + PAGE - 1) & ~(size_t)(PAGE - 1); }

static void fill_msg(mem_msg *m, mem_seg *seg, const imi_mq_msg *in, size_t size)
{
    m->seg = seg;
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
}

/* A large block kept in the pool: its first bytes link it. */
typedef struct free_block {
    struct free_block *next;
    size_t size;
} free_block;

mem_msg *mem_msg_new_large(mem_pool *pool, const imi_mq_msg *in, size_t size)
{
    mem_msg *m = NULL;
    size_t cap = large_cap(size);
    pthread_mutex_lock(&pool->lock);
    for (free_block **p = &pool->blocks; *p; p = &(*p)->next)
        if ((*p)->size == cap) {
            m = (mem_msg *)*p;
            *p = (*p)->next;
            pool->bytes -= cap;
            break;
        }
    pthread_mutex_unlock(&pool->lock);
    if (m || (m = malloc(cap)))
        fill_msg(m, NULL, in, size);
    return m;
}

/* A large message dropped: its block goes to the pool while there is room. Freeing it
 * would hand its pages back to the system when it borders the heap's top, and the
 * next large publish would fault them in again. */
static void large_drop(mem_pool *pool, mem_msg *m)
{
    size_t size = large_cap(m->size);
    pthread_mutex_lock(&pool->lock);
    bool kept = pool->bytes + size <= MEM_POOL_MAX;
    if (kept) {
        free_block *b = (free_block *)m;
        *b = (free_block){ .next = pool->blocks, .size = size };
        pool->blocks = b;
        pool->bytes += size;
    }
    pthread_mutex_unlock(&pool->lock);
    if (!kept)
        free(m);
}

/* A segment with room for size bytes: the spare one, one from the pool, or a new one
 * twice the size of the one it follows (a partition that fills segments quickly gets
 * larger ones). */
static mem_seg *seg_for(mem_log *l, mem_pool *pool, size_t size)
{
    mem_seg *s = NULL;
    if (l->spare && l->spare->cap >= size) {
        s = l->spare;
        l->spare = NULL;
        return s;
    }
    size_t cap = l->fill ? l->fill->cap * 2 : SEG_FIRST;
    if (cap > SEG_MAX)
        cap = SEG_MAX;
    if (cap == SEG_MAX && size <= SEG_MAX) {
        pthread_mutex_lock(&pool->lock);
        if ((s = pool->segs)) {
            pool->segs = s->next;
            pool->bytes -= SEG_MAX;
        }
        pthread_mutex_unlock(&pool->lock);
        if (s)
            return s;
    }
    if (cap < size)
        cap = size;
    if ((s = malloc(sizeof *s + cap)))
        *s = (mem_seg){ .cap = cap };
    return s;
}

/* A segment none of whose messages is held any more: the one being filled starts over,
 * another becomes the spare (the larger one wins) and the other goes to the pool, or is
 * freed when the pool is full or it is not of the pool's size. */
static void seg_empty(mem_log *l, mem_pool *pool, mem_seg *s)
{
    s->used = 0;
    if (s == l->fill)
        return;
    if (!l->spare || l->spare->cap < s->cap) {
        mem_seg *t = l->spare;
        l->spare = s;
        s = t;
    }
    if (!s)
        return;
    if (s->cap == SEG_MAX) {
        pthread_mutex_lock(&pool->lock);
        bool kept = pool->bytes + SEG_MAX <= MEM_POOL_MAX;
        if (kept) {
            s->next = pool->segs;
            pool->segs = s;
            pool->bytes += SEG_MAX;
        }
        pthread_mutex_unlock(&pool->lock);
        if (kept)
            return;
    }
    free(s);
}

void mem_pool_free(mem_pool *pool)
{
    for (mem_seg *s = pool->segs, *next; s; s = next) {
        next = s->next;
        free(s);
    }
    for (free_block *b = pool->blocks, *next; b; b = next) {
        next = b->next;
        free(b);
    }
    pool->segs = NULL;
    pool->blocks = NULL;
    pool->bytes = 0;
}

static bool ring_room(mem_log *l)
{
    size_t cap = l->ring ? l->mask + 1 : 0;
    if (l->end - l->base < cap)
        return true;
    size_t ncap = cap ? cap * 2 : RING_FIRST;
    mem_msg **ring = malloc(ncap * sizeof *ring);
    if (!ring)
        return false;
    for (uint64_t o = l->base; o < l->end; o++)
        ring[o & (ncap - 1)] = l->ring[o & l->mask];
    free(l->ring);
    l->ring = ring;
    l->mask = ncap - 1;
    return true;
}

bool mem_log_push(mem_log *l, mem_pool *pool, const imi_mq_msg *in, size_t size,
                  mem_msg *large)
{
    if (!ring_room(l))
        return false;
    mem_msg *m = large;
    if (!m) {
        if (!l->fill || l->fill->cap - l->fill->used < size) {
            mem_seg *s = seg_for(l, pool, size);
            if (!s)
                return false;
            mem_seg *old = l->fill;
            l->fill = s;
            if (old && !old->live)
                seg_empty(l, pool, old);
        }
        m = (mem_msg *)((char *)l->fill->data + l->fill->used);
        l->fill->used += size;
        l->fill->live++;
        fill_msg(m, l->fill, in, size);
    }
    l->ring[l->end++ & l->mask] = m;
    return true;
}

void mem_log_drop(mem_log *l, mem_pool *pool, uint64_t to, size_t *n, size_t *bytes)
{
    for (; l->base < to && l->base < l->end; l->base++) {
        mem_msg *m = l->ring[l->base & l->mask];
        ++*n;
        *bytes += m->size;
        mem_seg *s = m->seg;
        if (!s)
            large_drop(pool, m);
        else if (--s->live == 0)
            seg_empty(l, pool, s);
    }
}

/* Frees everything, the segments included (the pool is going too). */
void mem_log_free(mem_log *l)
{
    for (uint64_t o = l->base; o < l->end; o++) {
        mem_msg *m = l->ring[o & l->mask];
        mem_seg *s = m->seg;
        if (!s)
            free(m);
        else if (--s->live == 0 && s != l->fill)
            free(s);
    }
    free(l->ring);
    free(l->fill);
    free(l->spare);
    *l = (mem_log){ 0 };
}
