/* The counter blocks of instances, the registry of an app's instances and the
 * process-wide counters of breaker and ratelimit. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/breaker.h"
#include "iminfra/error.h"
#include "instance.h"
#include "metrics.h"

/* Prometheus' usual latency bounds, from 100 us to 10 s. */
const int64_t imi_metric_bounds_ns[IMI_METRIC_BUCKETS - 1] = {
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
    100000000, 250000000, 500000000, 1000000000, 2500000000, 5000000000, 10000000000,
};

int imi_op_metrics_init(imi_op_metrics *m, unsigned n_ops)
{
    size_t stride = (size_t)n_ops * IMI_OP_CELLS;
    stride = (stride + 7) / 8 * 8;
    *m = (imi_op_metrics){ .n_ops = n_ops, .stride = stride };
    if (!stride)
        return IMI_OK;
    /* 64-byte aligned so that two stripes never share a cache line. */
    void *p = NULL;
    size_t bytes = IMI_METRIC_STRIPES * stride * sizeof(uint64_t);
    if (posix_memalign(&p, 64, bytes))
        return imi_error_set(IMI_ENOMEM, 0, "out of memory");
    m->cells = p;
    for (size_t i = 0; i < IMI_METRIC_STRIPES * stride; i++)
        atomic_init(&m->cells[i], 0);
    return IMI_OK;
}

void imi_op_metrics_free(imi_op_metrics *m)
{
    free(m->cells);
    m->cells = NULL;
}

static uint64_t sum_cell(const imi_op_metrics *m, size_t at)
{
    uint64_t total = 0;
    if (!m->cells)
        return 0;
    for (unsigned s = 0; s < IMI_METRIC_STRIPES; s++)
        total += atomic_load_explicit(imi_op_metrics_stripe(m, s) + at, memory_order_relaxed);
    return total;
}

uint64_t imi_op_metrics_calls(const imi_op_metrics *m, unsigned op, unsigned code_idx)
{
    return sum_cell(m, (size_t)op * IMI_OP_CELLS + code_idx);
}

uint64_t imi_op_metrics_bucket(const imi_op_metrics *m, unsigned op, unsigned b)
{
    return sum_cell(m, (size_t)op * IMI_OP_CELLS + IMI_METRIC_CODES + b);
}

uint64_t imi_op_metrics_sum_ns(const imi_op_metrics *m, unsigned op)
{
    return sum_cell(m, (size_t)op * IMI_OP_CELLS + IMI_METRIC_CODES + IMI_METRIC_BUCKETS);
}

const char *imi_metric_code_label(unsigned i)
{
    static const char *const labels[IMI_METRIC_CODES] = {
        "ok", "notfound", "exists", "invalid", "timedout", "canceled", "unavailable",
        "conflict", "notsup", "open", "limited", "config", "driver", "nomem", "closed",
        "internal",
    };
    return i < IMI_METRIC_CODES ? labels[i] : "internal";
}

/* ---- the threads' stripes ------------------------------------------------------------ */

_Thread_local imi_thread_slot imi_tls;

/* Owned stripes not held by a live thread, one bit each; a thread gives its stripe back
 * when it exits (the key's destructor), so that pools that start new threads keep getting
 * stripes of their own. The release/acquire on the bits hands the stripe's counters over:
 * the next owner's plain load sees the last store of the previous one. */
static atomic_uint free_stripes = (1u << IMI_OWNED_STRIPES) - 1;
_Static_assert(IMI_OWNED_STRIPES < 32, "the free stripes fit in one unsigned");
static pthread_key_t stripe_key;
static pthread_once_t stripe_once = PTHREAD_ONCE_INIT;
static bool stripe_key_ok;

static void stripe_give_back(void *v)
{
    unsigned stripe = (unsigned)(uintptr_t)v - 1;
    /* A later destructor that makes a call takes a stripe again (and this runs again). */
    imi_tls = (imi_thread_slot){ 0 };
    atomic_fetch_or_explicit(&free_stripes, 1u << stripe, memory_order_release);
}

static void stripe_key_init(void)
{
    stripe_key_ok = pthread_key_create(&stripe_key, stripe_give_back) == 0;
}

void imi_thread_assign(void)
{
    pthread_once(&stripe_once, stripe_key_init);
    unsigned bits = atomic_load_explicit(&free_stripes, memory_order_relaxed);
    unsigned stripe = IMI_OWNED_STRIPES; /* the shared one */
    while (stripe_key_ok && bits) {
        unsigned s = (unsigned)__builtin_ctz(bits);
        if (atomic_compare_exchange_weak_explicit(&free_stripes, &bits, bits & ~(1u << s),
                                                  memory_order_acquire, memory_order_relaxed)) {
            if (pthread_setspecific(stripe_key, (void *)(uintptr_t)(s + 1)) == 0) {
                stripe = s;
            } else {
                atomic_fetch_or_explicit(&free_stripes, 1u << s, memory_order_release);
            }
            break;
        }
    }
    imi_tls.stripe = stripe;
    imi_tls.owned = stripe < IMI_OWNED_STRIPES;
    imi_tls.assigned = true;
}

/* ---- registry ------------------------------------------------------------------------ */

struct imi_metrics_reg {
    pthread_mutex_t mu;
    bool timed;
    unsigned sample;
    imi_metrics_node *head;
    imi_metrics_node **tail;
};

imi_metrics_reg *imi_metrics_reg_new(void)
{
    imi_metrics_reg *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    pthread_mutex_init(&r->mu, NULL);
    r->tail = &r->head;
    r->timed = true;
    r->sample = IMI_METRIC_SAMPLE_DEFAULT;
    return r;
}

void imi_metrics_reg_set_timed(imi_metrics_reg *r, bool timed, unsigned sample)
{
    if (r) {
        r->timed = timed;
        r->sample = sample;
    }
}

void imi_metrics_reg_free(imi_metrics_reg *r)
{
    if (!r)
        return;
    while (r->head) {
        imi_metrics_node *n = r->head;
        r->head = n->next;
        imi_op_metrics_free(&n->block);
        free(n);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static imi_metrics_node *find_series(imi_metrics_reg *r, const imi_instance *in)
{
    for (imi_metrics_node *n = r->head; n; n = n->next)
        if (n->kind == (int)in->fe->kind && n->n_ops == in->fe->n_ops &&
            !strcmp(n->section, in->section) && !strcmp(n->driver, in->desc->name))
            return n;
    return NULL;
}

void imi_metrics_reg_attach(imi_metrics_reg *r, imi_instance *in)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    imi_metrics_node *n = find_series(r, in);
    if (!n && (n = calloc(1, sizeof *n))) {
        if (imi_op_metrics_init(&n->block, in->fe->n_ops)) {
            free(n);
            n = NULL;
        } else {
            n->kind = (int)in->fe->kind;
            snprintf(n->section, sizeof n->section, "%s", in->section);
            snprintf(n->driver, sizeof n->driver, "%s", in->desc->name);
            n->ops = in->fe->ops;
            n->n_ops = in->fe->n_ops;
            n->read_extras = in->fe->read_extras;
            *r->tail = n; /* in open order, so the output is stable */
            r->tail = &n->next;
        }
    }
    if (n) {
        in->metrics_next = n->live;
        n->live = in;
        in->metrics = n->block;
        in->metrics.timed = r->timed;
        in->metrics.sample_mask = r->sample - 1;
    }
    pthread_mutex_unlock(&r->mu);
}

/* What instance in holds outside the block (mq and db counters), into out. */
static void added_by(const imi_metrics_node *n, imi_instance *in, uint64_t *out)
{
    uint64_t live[IMI_METRIC_EXTRA_MAX] = { 0 }, kept[IMI_METRIC_EXTRA_MAX] = { 0 };
    n->read_extras(in, &n->block, live);
    n->read_extras(NULL, &n->block, kept);
    for (int i = 0; i < IMI_METRIC_EXTRA_MAX; i++)
        out[i] += live[i] - kept[i];
}

void imi_metrics_node_extras(const imi_metrics_node *n, uint64_t *vals)
{
    if (!n->read_extras)
        return;
    n->read_extras(NULL, &n->block, vals);
    for (int i = 0; i < IMI_METRIC_EXTRA_MAX; i++)
        vals[i] += n->base[i];
    for (imi_instance *in = n->live; in; in = in->metrics_next)
        added_by(n, in, vals);
}

void imi_metrics_reg_detach(imi_metrics_reg *r, imi_instance *in)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    for (imi_metrics_node *n = r->head; n; n = n->next) {
        imi_instance **p = &n->live;
        while (*p && *p != in)
            p = &(*p)->metrics_next;
        if (!*p)
            continue;
        if (n->read_extras)
            added_by(n, in, n->base); /* what it kept outside the block stays */
        *p = in->metrics_next;
        break;
    }
    in->metrics = (imi_op_metrics){ 0 };
    in->metrics_next = NULL;
    pthread_mutex_unlock(&r->mu);
}

void imi_metrics_reg_each(imi_metrics_reg *r, void (*fn)(imi_metrics_node *n, void *ud),
                          void *ud)
{
    if (!r)
        return;
    pthread_mutex_lock(&r->mu);
    for (imi_metrics_node *n = r->head; n; n = n->next)
        fn(n, ud);
    pthread_mutex_unlock(&r->mu);
}

/* ---- process-wide counters ---------------------------------------------------------- */

/* Striped like the instance counters: rate limiters are on hot paths too. */
typedef struct global_stripe {
    _Alignas(64) _Atomic uint64_t v[8];
} global_stripe;
_Static_assert(IMI_GC_COUNT_ <= 8, "one cache line of globals per stripe");
static global_stripe globals[IMI_METRIC_STRIPES];

void imi_metrics_global_add(imi_global_counter c, uint64_t n)
{
    if ((unsigned)c >= IMI_GC_COUNT_)
        return;
    const imi_thread_slot *t = imi_thread();
    imi_metric_bump(&globals[t->stripe].v[c], n, t->owned);
}

uint64_t imi_metrics_global(imi_global_counter c)
{
    uint64_t total = 0;
    if ((unsigned)c >= IMI_GC_COUNT_)
        return 0;
    for (unsigned s = 0; s < IMI_METRIC_STRIPES; s++)
        total += atomic_load_explicit(&globals[s].v[c], memory_order_relaxed);
    return total;
}

void imi_metrics_count_breaker(int to)
{
    imi_metrics_global_add(to == IMI_BREAKER_OPEN ? IMI_GC_BREAKER_TO_OPEN
                           : to == IMI_BREAKER_HALF_OPEN ? IMI_GC_BREAKER_TO_HALF_OPEN
                           : IMI_GC_BREAKER_TO_CLOSED, 1);
}

void imi_metrics_count_ratelimit(int rc)
{
    if (rc == IMI_OK)
        imi_metrics_global_add(IMI_GC_RATELIMIT_GRANTED, 1);
    else if (rc == IMI_ELIMITED)
        imi_metrics_global_add(IMI_GC_RATELIMIT_REFUSED, 1);
}
