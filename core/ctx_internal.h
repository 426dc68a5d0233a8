/* The ctx's logger slot, kept in ctx.c and filled by ctx_log.c. */
#ifndef IMI_CORE_CTX_INTERNAL_H
#define IMI_CORE_CTX_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>
#include "iminfra/ctx.h"

struct imi_ctx_log;

/* Opaque to users; known here so that the core can keep a ctx in its own storage (a
 * delivery's, on the stack) instead of allocating one per call. */
struct imi_ctx {
    struct imi_ctx_log *log;        /* logger and fields (ctx_log.c), NULL: inherited */
    const imi_ctx *parent;
    int64_t deadline_ns;            /* own deadline, 0: none */
    atomic_bool canceled;
    char trace_id[IMI_TRACE_ID_MAX + 1];
    char span_id[IMI_SPAN_ID_LEN + 1];
};

/* A ctx in the caller's storage: a child of parent (may be NULL) without a deadline. */
void imi_ctx_init_(imi_ctx *c, const imi_ctx *parent);
/* Frees what a ctx made by imi_ctx_init_ owns (a logger set on it), not the ctx. */
void imi_ctx_fini_(imi_ctx *c);

/* The slot of ctx itself (not inherited). */
struct imi_ctx_log *imi_ctx_log_own_(const imi_ctx *ctx);
/* The nearest slot up the parent chain, ctx included; NULL when none. */
struct imi_ctx_log *imi_ctx_log_find_(const imi_ctx *ctx);
/* Replaces ctx's own slot (the old one is freed). */
void imi_ctx_log_put_(imi_ctx *ctx, struct imi_ctx_log *log);

#endif
