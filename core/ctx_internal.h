/* The ctx's logger slot, kept in ctx.c and filled by ctx_log.c. */
#ifndef IMI_CORE_CTX_INTERNAL_H
#define IMI_CORE_CTX_INTERNAL_H

#include "iminfra/ctx.h"

struct imi_ctx_log;

/* The slot of ctx itself (not inherited). */
struct imi_ctx_log *imi_ctx_log_own_(const imi_ctx *ctx);
/* The nearest slot up the parent chain, ctx included; NULL when none. */
struct imi_ctx_log *imi_ctx_log_find_(const imi_ctx *ctx);
/* Replaces ctx's own slot (the old one is freed). */
void imi_ctx_log_put_(imi_ctx *ctx, struct imi_ctx_log *log);

#endif
