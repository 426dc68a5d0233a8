/* One partition's log in the mem broker: the messages at offsets base .. end-1, found
 * through a ring of pointers; their bytes (header, key, headers, body in one block) are
 * bump-allocated in segments that are reused once every message in them is dropped, so
 * a topic whose consumers keep up allocates nothing per message. A message larger than
 * MEM_LOG_LARGE gets a block of its own (in whole pages, reused through the pool). The
 * caller serialises all calls on one log; the pool has its own lock. */
#ifndef IMI_DRIVERS_MQ_MEM_LOG_H
#define IMI_DRIVERS_MQ_MEM_LOG_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "iminfra/driver/mq_driver.h"

#define MEM_LOG_LARGE (8 * 1024)

typedef struct mem_seg mem_seg;

/* A stored message: one block holding everything. */
typedef struct mem_msg {
    mem_seg *seg;                   /* the segment it lives in; NULL: a block of its own */
    const void *key;                /* NULL: none */
    size_t key_len;
    imi_mq_header *headers;
    size_t n_headers;
    const void *body;
    size_t body_len;
    size_t size;                    /* bytes of the block: what max_bytes counts */
} mem_msg;

/* Emptied full-size segments and the blocks of dropped large messages, shared by every
 * log of a broker, up to MEM_POOL_MAX bytes: a queue that grows and drains again reuses
 * warm memory instead of new pages. */
#define MEM_POOL_MAX (4 * 1024 * 1024)
typedef struct mem_pool {
    pthread_mutex_t lock;
    mem_seg *segs;
    struct free_block *blocks;      /* large blocks, by exact size */
    size_t bytes;
} mem_pool;

typedef struct mem_log {
    mem_msg **ring;                 /* offset o at ring[o & mask] */
    size_t mask;
    uint64_t base, end;             /* offsets held: base .. end-1 */
    mem_seg *fill;                  /* the segment new messages go into */
    mem_seg *spare;                 /* an empty segment kept for reuse */
} mem_log;

/* Bytes of the block that stores in. */
size_t mem_msg_size(const imi_mq_msg *in);
/* A block of its own for a large message, filled from in (NULL: out of memory). Made
 * outside the partition's lock, so that a large copy does not hold it. */
mem_msg *mem_msg_new_large(mem_pool *pool, const imi_mq_msg *in, size_t size);
/* Appends a message at offset end: `large` when given, else a copy of in into a segment.
 * False when out of memory (nothing appended; `large` stays the caller's). */
bool mem_log_push(mem_log *l, mem_pool *pool, const imi_mq_msg *in, size_t size,
                  mem_msg *large);
static inline mem_msg *mem_log_at(const mem_log *l, uint64_t off)
{
    return l->ring[off & l->mask];
}
/* Drops the messages below offset `to`; adds how many and their bytes to *n and *bytes. */
void mem_log_drop(mem_log *l, mem_pool *pool, uint64_t to, size_t *n, size_t *bytes);
void mem_log_free(mem_log *l);
void mem_pool_free(mem_pool *pool);

#endif
