/* Cases every kind's suite shares, written once: each kind supplies small hooks (open a
 * handle of its kind, free it) and a case of the same name calls the shared body. */
#ifndef IMI_TESTS_CONFORMANCE_CONTRACT_H
#define IMI_TESTS_CONFORMANCE_CONTRACT_H

#include "conformance.h"

/* One call a kind's hook made, and what it returned. */
typedef struct imi_conf_call {
    const char *name;
    int rc;
} imi_conf_call;

typedef struct imi_conf_kind {
    const char *kind;          /* "cache", "mq", "db", "coord" */
    const char *required_slot; /* a slot the kind requires, NULL in imi_<kind>_null_slot.so */
    int (*open)(imi_app *app, void **out);   /* imi_<kind>_open of the default section */
    void (*free)(void *handle);              /* imi_<kind>_free */
    int (*close)(void *handle);              /* imi_<kind>_close */
    int (*ping)(void *handle, const imi_ctx *ctx);
    const char *(*driver_name)(void *handle);
    /* Makes each I/O call of the kind once with ctx (keys from t->unique), releases
     * whatever a call that should have failed handed out, and records the codes in
     * out[0..cap); returns how many. */
    size_t (*calls)(imi_conf_t *t, void *handle, const imi_ctx *ctx, imi_conf_call *out,
                    size_t cap);
} imi_conf_kind;

/* Cases of DESIGN.md's "all kinds" list, written once (all_kinds.c):
 * open_ping_close_twice: ping works and the driver has a name; close, then close again
 * answers IMI_ECLOSED, and so do ping and every call of the kind after close.
 * canceled_and_expired_ctx: a cancelled ctx makes ping and every call answer
 * IMI_ECANCELED, a passed deadline IMI_ETIMEDOUT, before any I/O; a live deadline works. */
void imi_conf_open_ping_close_twice(imi_conf_t *t, const imi_conf_kind *k);
void imi_conf_canceled_and_expired_ctx(imi_conf_t *t, const imi_conf_kind *k);

/* open_fails_cleanly: tests/conformance/bad_drivers' imi_<kind>_open_fails.so, whose open
 * fails with IMI_EUNAVAILABLE "open fails on purpose". Expected: imi_<kind>_open returns
 * that code with the driver's message and no handle; the core then calls the driver's
 * close exactly once and nothing else (any other slot aborts the case), and nothing
 * leaks (the sanitizer builds check). */
void imi_conf_open_fails_cleanly(imi_conf_t *t, const imi_conf_kind *k);
/* required_slot_null_refused: imi_<kind>_null_slot.so lacks k->required_slot. Expected:
 * imi_<kind>_open refuses it with IMI_EDRIVER and a message naming the .so file and the
 * slot, before calling any slot of the driver (not even open or close). */
void imi_conf_required_slot_null_refused(imi_conf_t *t, const imi_conf_kind *k);

/* The path of a broken test driver imi_<kind>_<what>.so: $IMI_CONF_BAD_DRIVERS, else
 * beside the running program (bad_drivers/ of a build tree, or the installed
 * lib/iminfra/conformance). false with a message in t when it is nowhere. */
bool imi_conf_bad_driver(imi_conf_t *t, const char *kind, const char *what, char *path,
                         size_t cap);

#endif
