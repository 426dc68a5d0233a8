/* Inside the breaker: the state of one breaker, shared by breaker.c (the state machine)
 * and breaker_set.c (names, policies, config). */
#ifndef IMI_CORE_BREAKER_INTERNAL_H
#define IMI_CORE_BREAKER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include "iminfra/breaker.h"

#define BRK_BUCKETS 10

/* A policy with its derived values; immutable once published. Replaced ones are kept on
 * the set's retired list until the set is freed, so a reader never sees one freed. */
typedef struct brk_policy {
    imi_breaker_policy p;
    int64_t bucket_ns;     /* window / BRK_BUCKETS; 0: no ratio */
    int64_t open_ns;
    struct brk_policy *retired_next;
} brk_policy;

#define BRK_CACHELINE 64

typedef struct brk_callback {
    imi_breaker_change_fn fn;
    void *ud;
    struct brk_callback *next;
} brk_callback;

struct imi_breaker {
    /* read on every call */
    _Alignas(BRK_CACHELINE) _Atomic uint64_t state;   /* see breaker.c: gen|probes|ok|st */
    _Atomic(const brk_policy *) pol;
    imi_breaker_set *set;
    /* written by failures */
    _Alignas(BRK_CACHELINE) atomic_int consec;
    _Atomic int64_t opened_ns;
    _Atomic uint32_t opened_gen;
    /* written by every call when a ratio is set */
    _Alignas(BRK_CACHELINE) _Atomic uint64_t buckets[BRK_BUCKETS];
    _Alignas(BRK_CACHELINE) _Atomic uint64_t rejected, opened, half_opened, closed;
    imi_breaker *next;
    char name[];
};

struct imi_breaker_set {
    pthread_mutex_t mu;            /* lookups, overrides, policy changes */
    imi_breaker *list;
    const imi_config *cfg;         /* NULL: every name has dflt */
    imi_breaker_policy dflt;
    imi_logger *log;
    struct brk_override *overrides;
    brk_policy *retired;
    _Atomic(struct brk_callback *) cb;  /* replaced ones are kept until free */
    struct brk_callback *old_cbs;
};

/* Installs pol in b: resets it to closed unless it equals the current one. Set lock held. */
void imi_breaker_install(imi_breaker *b, brk_policy *pol);
/* Field by field: the struct has padding, which memcmp would read uninitialised. */
bool imi_breaker_policy_equal(const imi_breaker_policy *a, const imi_breaker_policy *b);
/* Derives the internal values of a policy. NULL when out of memory. */
brk_policy *imi_breaker_policy_make(const imi_breaker_policy *p);

#endif
