/* Per-call counters of a component instance, and the registry imi_metrics_write reads.
 *
 * Each series has one block of counters, split in IMI_METRIC_STRIPES stripes: a thread
 * adds to its own stripe (below), so the call path takes no lock, allocates nothing and
 * shares no cache line with other threads; the writer sums the stripes. Per stripe and operation: one counter per
 * result code, one per histogram bucket (not cumulative; the writer accumulates) and the
 * summed duration in ns; after the operations, the front-end's extra counters (hits,
 * published, ...). */
#ifndef IMI_CORE_METRICS_H
#define IMI_CORE_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include "iminfra/error.h"

#define IMI_METRIC_CODES (1 - IMI_ERRNO_MIN_) /* ok and every error code */
#define IMI_METRIC_BUCKETS 17                 /* 16 bounds and +Inf */
#define IMI_METRIC_SAMPLE_DEFAULT 16          /* one call in 16 per thread is timed */
#define IMI_METRIC_EXTRA_MAX 8                /* extra values of a front-end */

/* The upper bounds of the duration histogram, in ns (the last bucket is +Inf). */
extern const int64_t imi_metric_bounds_ns[IMI_METRIC_BUCKETS - 1];

typedef struct imi_op_metrics {
    bool timed;                    /* durations measured ([metrics] durations) */
    unsigned sample_mask;          /* one call in sample_mask + 1 per thread is timed */
    unsigned n_ops;
    size_t stride;                 /* counters per stripe, a multiple of 8 (a cache line) */
    _Atomic uint64_t *cells;       /* IMI_METRIC_STRIPES * stride */
} imi_op_metrics;

#define IMI_OP_CELLS (IMI_METRIC_CODES + IMI_METRIC_BUCKETS + 1)

/* Allocates the block; IMI_ENOMEM on failure. */
int imi_op_metrics_init(imi_op_metrics *m, unsigned n_ops);
void imi_op_metrics_free(imi_op_metrics *m);

/* The sums over the stripes. */
uint64_t imi_op_metrics_calls(const imi_op_metrics *m, unsigned op, unsigned code_idx);
uint64_t imi_op_metrics_bucket(const imi_op_metrics *m, unsigned op, unsigned b);
uint64_t imi_op_metrics_sum_ns(const imi_op_metrics *m, unsigned op);

static inline unsigned imi_metric_bucket_of(int64_t ns)
{
    unsigned b = 0;
    while (b < IMI_METRIC_BUCKETS - 1 && ns > imi_metric_bounds_ns[b])
        b++;
    return b;
}

static inline _Atomic uint64_t *imi_op_metrics_stripe(const imi_op_metrics *m, unsigned stripe)
{
    return m->cells + (size_t)stripe * m->stride;
}

/* Stripes of counters: one for each of the first IMI_OWNED_STRIPES threads that make a
 * call, which owns it for good and adds with a plain load and store (no locked
 * instruction), and a last one that later threads share, adding atomically. Readers load
 * relaxed either way. imi_thread_assign (metrics.c) hands them out. The calls in flight of
 * an instance (instance.h) are striped the same way. */
#define IMI_OWNED_STRIPES 16
#define IMI_METRIC_STRIPES (IMI_OWNED_STRIPES + 1)

/* The calling thread's place in every striped counter, in one thread-local block. The
 * library is position-independent code, so each access to it is a call (through a TLS
 * descriptor where core/CMakeLists.txt can ask for them, else __tls_get_addr): a hot path
 * takes its address once per call. (The initial-exec model would make it one load off %fs,
 * but would stop the library from being dlopen'ed: glibc's static TLS surplus cannot take
 * the library's whole TLS block.) */
typedef struct imi_thread_slot {
    unsigned stripe;               /* 0 .. IMI_METRIC_STRIPES - 1, once assigned */
    bool assigned;
    bool owned;                    /* stripe < IMI_OWNED_STRIPES: this thread's alone */
    unsigned tick;                 /* calls seen for duration sampling (instance.h) */
} imi_thread_slot;
extern _Thread_local imi_thread_slot imi_tls;
void imi_thread_assign(void);

/* The calling thread's slot, assigned on first use. */
static inline imi_thread_slot *imi_thread(void)
{
    imi_thread_slot *t = &imi_tls;
    if (__builtin_expect(!t->assigned, 0))
        imi_thread_assign();
    /* An opaque copy: the compiler keeps it in a register for the rest of the call where
     * it would otherwise compute &imi_tls again (a descriptor call) at every use. */
    __asm__("" : "+r"(t));
    return t;
}

static inline void imi_metric_bump(_Atomic uint64_t *c, uint64_t n, bool owned)
{
    if (owned)
        atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
                              memory_order_relaxed);
    else
        atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

/* The sum of one counter kept in IMI_METRIC_STRIPES stripes: the counter at `offset` in
 * each of the stripes, `stride` bytes apart from `first`. */
static inline uint64_t imi_stripes_sum(const void *first, size_t stride, size_t offset)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < IMI_METRIC_STRIPES; i++)
        sum += atomic_load_explicit((const _Atomic uint64_t *)((const char *)first +
                                                                i * stride + offset),
                                    memory_order_relaxed);
    return sum;
}

/* One call of op that returned rc, on the stripe of thread slot t; its duration ns when
 * timed (ns < 0: not timed). */
static inline void imi_op_metrics_add(const imi_op_metrics *m, const imi_thread_slot *t,
                                      unsigned op, int rc, int64_t ns)
{
    if (!m->cells || op >= m->n_ops)
        return;
    _Atomic uint64_t *c = imi_op_metrics_stripe(m, t->stripe) + (size_t)op * IMI_OP_CELLS;
    unsigned code = (rc <= 0 && rc >= IMI_ERRNO_MIN_) ? (unsigned)-rc : IMI_METRIC_CODES - 1;
    imi_metric_bump(&c[code], 1, t->owned);
    if (ns < 0)
        return;
    imi_metric_bump(&c[IMI_METRIC_CODES + imi_metric_bucket_of(ns)], 1, t->owned);
    imi_metric_bump(&c[IMI_METRIC_CODES + IMI_METRIC_BUCKETS], (uint64_t)ns, t->owned);
}

/* The label value of result code index i: "ok", "notfound", "timedout", ... */
const char *imi_metric_code_label(unsigned i);

/* ---- the registry of an app ------------------------------------------------------------ */

/* One series of an app: a kind, a section and a driver. Its counters outlive the
 * instance: a handle closed and opened again continues them (counters only go up), and
 * imi_metrics_write still shows what a freed handle did. */
typedef struct imi_instance imi_instance;
typedef struct imi_metrics_node {
    struct imi_metrics_node *next;
    int kind;
    char section[128];
    char driver[64];
    const char *const *ops;
    unsigned n_ops;
    imi_op_metrics block;          /* owned here; the live instance holds a copy */
    /* The front-end's extras of one instance; with in NULL, what m alone holds. */
    void (*read_extras)(imi_instance *in, const imi_op_metrics *m, uint64_t *vals);
    imi_instance *live;            /* the open instances of the series (a list through
                                      their metrics_next); they share the block */
    uint64_t base[IMI_METRIC_EXTRA_MAX];              /* extras of the earlier instances of this series */
} imi_metrics_node;

typedef struct imi_metrics_reg imi_metrics_reg;

imi_metrics_reg *imi_metrics_reg_new(void);
/* [metrics] durations and duration_sample: whether instances attached from now on time
 * their calls, and one call in how many (a power of two) per thread. */
void imi_metrics_reg_set_timed(imi_metrics_reg *r, bool timed, unsigned sample);
/* The registry of app (app.c); NULL when it could not be allocated. */
struct imi_app;
imi_metrics_reg *imi_app_metrics(struct imi_app *app);
void imi_metrics_reg_free(imi_metrics_reg *r);
/* Gives the open instance in its series' counters (in->metrics): handles open at the
 * same time on one section share them, a handle opened again continues them. Without
 * memory, in counts nothing. */
void imi_metrics_reg_attach(imi_metrics_reg *r, imi_instance *in);
/* After in's close: its series keeps the counters, and the extras as they are now. */
void imi_metrics_reg_detach(imi_metrics_reg *r, imi_instance *in);
/* The extras of a series: its base, what the block holds, what each live instance adds. */
void imi_metrics_node_extras(const imi_metrics_node *n, uint64_t *vals);
/* Calls fn for every series, under the registry lock (no instance is attached or
 * detached while fn reads it). */
void imi_metrics_reg_each(imi_metrics_reg *r, void (*fn)(imi_metrics_node *n, void *ud),
                          void *ud);

/* Process-wide counters of the components that are not instances. */
typedef enum imi_global_counter {
    IMI_GC_BREAKER_TO_CLOSED,
    IMI_GC_BREAKER_TO_OPEN,
    IMI_GC_BREAKER_TO_HALF_OPEN,
    IMI_GC_RATELIMIT_GRANTED,
    IMI_GC_RATELIMIT_REFUSED,
    IMI_GC_COUNT_
} imi_global_counter;
void imi_metrics_global_add(imi_global_counter c, uint64_t n);
uint64_t imi_metrics_global(imi_global_counter c);
/* The one-line hooks of breaker.c (a transition into state `to`, an imi_breaker_state)
 * and ratelimit_take.c (the result of a take: IMI_OK granted, IMI_ELIMITED refused). */
void imi_metrics_count_breaker(int to);
void imi_metrics_count_ratelimit(int rc);


/* ---- the table of every metric (metrics_table.c) ------------------------------------- */

typedef enum imi_metric_src {
    IMI_MSRC_CALLS,     /* per instance, op and code, from the counter block */
    IMI_MSRC_DURATION,  /* per instance and op, the histogram of the counter block */
    IMI_MSRC_EXTRA,     /* per instance, value `arg` of the front-end's read_extras */
    IMI_MSRC_GLOBAL,    /* process-wide counter `arg` */
} imi_metric_src;

typedef struct imi_metric_def {
    const char *name;
    const char *type;       /* counter, gauge, histogram */
    const char *help;
    const char *labels;     /* as documented: "instance, driver, op, code" */
    int kind;               /* imi_kind of the instances it reads; 0: none */
    imi_metric_src src;
    unsigned arg;
    const char *label;      /* an extra label of this row, "endpoint=\"writer\"", or NULL */
} imi_metric_def;

/* Rows with the same name follow each other (one family, several label values). */
extern const imi_metric_def imi_metric_defs[];
extern const size_t imi_n_metric_defs;

/* The values read_extras fills, per kind. */
enum { IMI_CACHE_X_HITS, IMI_CACHE_X_MISSES, IMI_CACHE_X_COUNT_ };
enum {
    IMI_MQ_X_PUBLISHED, IMI_MQ_X_PUBLISH_FAILED, IMI_MQ_X_DELIVERED, IMI_MQ_X_ACKED,
    IMI_MQ_X_NACKED, IMI_MQ_X_REDELIVERED, IMI_MQ_X_DEAD_LETTERED, IMI_MQ_X_COUNT_
};
enum {
    IMI_DB_X_WRITER_CALLS, IMI_DB_X_READER_CALLS, IMI_DB_X_POOL_IN_USE, IMI_DB_X_POOL_IDLE,
    IMI_DB_X_POOL_WAITS, IMI_DB_X_COUNT_
};

#endif
