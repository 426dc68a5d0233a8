/* The driver SDK: everything a driver shared object needs, and nothing that links it to
 * libiminfra.
 *
 * A driver is one shared object exporting one function, IMI_DRIVER_ENTRY_NAME, that
 * returns a pointer to a const imi_driver_desc. The loader checks the descriptor (size,
 * ABI, kind, name) before anything else is called. At open, the core hands the driver an
 * imi_driver_env: the host table (logging, error detail, clocks, ctx accessors) and the
 * option values already parsed and checked against the driver's option schema.
 *
 * ABI rules:
 *  - IMI_ABI_MAJOR changes when anything is removed or changes meaning; the loader
 *    refuses a driver of another major.
 *  - Within a major, structs only grow at the end and IMI_ABI_MINOR is bumped. Every
 *    struct that can grow starts with its size; a reader checks the size before touching
 *    a newer field (IMI_HAS_FIELD). A driver built against a newer minor than the core is
 *    refused.
 *  - The core accepts a descriptor or vtable (and mq's ops structs) as small as its ABI
 *    1.0 size (the IMI_*_SIZE_1_0 macros below and in each kind's header) and treats every
 *    field past the driver's size as 0/NULL: it works on a zero-filled copy of the core's
 *    own size, so a driver built against 1.0 keeps loading in every 1.x core.
 *  - Structs without a size field are frozen for ABI 1 and never change within the major:
 *    imi_option_spec (the schema is an array the core walks with this stride),
 *    imi_opt_value, imi_opt_kv, and the public value types drivers read or fill
 *    (imi_bytes, imi_mq_header, imi_mq_msg, imi_db_param, imi_coord_meta, imi_coord_event,
 *    imi_coord_write, imi_mq_done). A minor that needs more per-option data adds a
 *    parallel array at the descriptor's end.
 *  - Slots are required or optional. A required slot that is NULL gets the driver
 *    refused at load. An optional slot serves a capability bit: a driver that advertises
 *    the bit must fill its slots (else it is refused at load); for a bit it does not
 *    advertise the front-end answers IMI_ENOTSUP without calling. One policy, every kind.
 *  - After a failed open, only close is called (once); nothing else.
 *
 * Adding a minor (see docs/driver-guide.md): append the new fields after the last "end of
 * ABI 1.x" line, add a new end line, bump IMI_ABI_MINOR, leave every *_SIZE_1_x macro
 * alone, and teach the core to treat the new slot as NULL for older drivers (it does so
 * by construction: a driver's struct is copied into a zero-filled struct of the core's
 * size).
 */
#ifndef IMINFRA_DRIVER_DRIVER_H
#define IMINFRA_DRIVER_DRIVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include "iminfra/error.h"
#include "iminfra/ctx.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMI_ABI_MAJOR 1
#ifdef IMI_ABI_SIMULATE_NEXT_MINOR
/* A test-only build (CMake IMI_ABI_NEXT_TEST=ON) that pretends to be the next minor: every
 * growable struct gets one more field appended, so tests/abi can prove that a driver
 * built against the frozen 1.0 headers still loads and works. Never in a release. */
#define IMI_ABI_MINOR 2
#define IMI_ABI_NEXT_SLOT void (*abi_next_probe)(void);
#else
/* 1.1: imi_db_stmt.key */
#define IMI_ABI_MINOR 1
#define IMI_ABI_NEXT_SLOT
#endif

/* True when a struct that starts with `uint32_t size` is large enough to hold field f. */
#define IMI_HAS_FIELD(ptr, type, f) \
    ((ptr)->size >= offsetof(type, f) + sizeof(((type *)0)->f))
/* The size of type up to and including field f: how the *_SIZE_1_0 macros are written. */
#define IMI_SIZE_THROUGH(type, f) (offsetof(type, f) + sizeof(((type *)0)->f))

typedef enum imi_kind {
    IMI_KIND_CACHE = 1,
    IMI_KIND_MQ    = 2,
    IMI_KIND_DB    = 3,
    IMI_KIND_COORD = 4
} imi_kind;

/* ---- option schema ----------------------------------------------------------------- */

typedef enum imi_opt_type {
    IMI_OPT_STRING = 1,
    IMI_OPT_INT,       /* int64 */
    IMI_OPT_BOOL,      /* true/false, yes/no, on/off, 1/0 */
    IMI_OPT_DOUBLE,
    IMI_OPT_DURATION,  /* "250ms", "5s", "2m", "1h"; a bare number is milliseconds */
    IMI_OPT_SIZE,      /* "64k", "16M", "1G"; a bare number is bytes */
    IMI_OPT_PATH,      /* a string; relative paths are resolved against the config folder */
    IMI_OPT_LIST       /* a comma-separated list; handed over as the trimmed string */
} imi_opt_type;

/* An option whose name ends in ".*" (e.g. "kafka.*", type IMI_OPT_STRING) declares a
 * family: every key of the section with that prefix is accepted and handed to the driver
 * unparsed in env->passthrough (for client libraries with more settings than a schema
 * can list). Its own entry in env->opts stays unset. */
#define IMI_OPT_REQUIRED 0x1u  /* no default: config must set it */
#define IMI_OPT_SECRET   0x2u  /* never printed nor logged: shown as *** */

typedef struct imi_option_spec {
    const char *name;
    imi_opt_type type;
    const char *default_value; /* text form, parsed like config values; NULL: unset */
    unsigned flags;
    const char *help;          /* one line */
} imi_option_spec;

/* A parsed option value. `set` is false when neither config nor default gave one. */
typedef struct imi_opt_value {
    bool set;
    const char *str;    /* the text (after ${VAR} expansion; resolved for PATH) */
    int64_t i;          /* INT, BOOL (0/1), DURATION (ms), SIZE (bytes) */
    double d;           /* DOUBLE */
} imi_opt_value;

/* ---- the host table: what the core offers a driver ----------------------------------- */

typedef enum imi_host_log_level {
    IMI_HOST_LOG_DEBUG = 0, IMI_HOST_LOG_INFO = 1, IMI_HOST_LOG_WARN = 2, IMI_HOST_LOG_ERROR = 3
} imi_host_log_level;

typedef struct imi_buf imi_buf; /* a growable byte buffer owned by the core */

typedef struct imi_host_api {
    uint32_t size;
    uint16_t abi_major, abi_minor;

    /* Logs one line on the instance's logger ("driver.<kind>.<instance>"). */
    void (*log)(void *logger, imi_host_log_level level, const imi_ctx *ctx, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
    /* Records the error detail for the calling thread and returns code. */
    int (*error)(int code, long native, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

    int64_t (*mono_ns)(void);
    int64_t (*real_ns)(void);

    /* ctx accessors (all accept NULL ctx). */
    int (*ctx_err)(const imi_ctx *ctx);                       /* OK / ECANCELED / ETIMEDOUT */
    int64_t (*ctx_remaining_ms)(const imi_ctx *ctx, int64_t dflt_ms);
    int64_t (*ctx_deadline_ns)(const imi_ctx *ctx);           /* 0: none */
    const char *(*ctx_trace_id)(const imi_ctx *ctx);          /* NULL: none */
    bool (*ctx_canceled)(const imi_ctx *ctx);

    /* Output buffers handed to drivers by the front-ends. */
    int (*buf_set)(imi_buf *buf, const void *data, size_t len);    /* replace content */
    int (*buf_append)(imi_buf *buf, const void *data, size_t len);
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_host_api;

/* One key = value of an option family (see IMI_OPT_REQUIRED's comment above). */
typedef struct imi_opt_kv {
    const char *key;                /* the whole key, e.g. "kafka.linger.ms" */
    const char *value;              /* after ${VAR} expansion */
} imi_opt_kv;

typedef struct imi_driver_env {
    uint32_t size;
    const imi_host_api *host;
    void *logger;                   /* pass to host->log */
    const char *instance;           /* config section, e.g. "cache" or "cache.sessions" */
    const char *config_dir;         /* folder of the config file */
    const imi_opt_value *opts;      /* one per entry of the descriptor's option schema */
    size_t n_opts;
    int64_t default_timeout_ms;     /* the component's timeout for a NULL ctx */
    const imi_opt_kv *passthrough;  /* keys of the option families, in file order */
    size_t n_passthrough;
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_driver_env;

/* ---- the descriptor ---------------------------------------------------------------- */

typedef struct imi_driver_desc {
    uint32_t size;                  /* sizeof(imi_driver_desc) the driver was built with */
    uint16_t abi_major;             /* IMI_ABI_MAJOR */
    uint16_t abi_minor;             /* IMI_ABI_MINOR */
    imi_kind kind;
    const char *name;               /* "redis": must match the config's driver name */
    const char *version;            /* the driver's own version, e.g. "1.2.0" */
    const char *description;        /* one line */
    uint64_t caps;                  /* capability bits of the kind (IMI_CACHE_CAP_...) */
    const imi_option_spec *options; /* the option schema */
    size_t n_options;
    size_t state_size;              /* bytes of private state the core allocates per open */
    const void *vtable;             /* the kind's vtable: imi_cache_driver ... */
    /* ---- end of ABI 1.0 ---- */
    IMI_ABI_NEXT_SLOT
} imi_driver_desc;

/* The smallest descriptor the core accepts: the ABI 1.0 layout. */
#define IMI_DRIVER_DESC_SIZE_1_0 IMI_SIZE_THROUGH(imi_driver_desc, vtable)

#define IMI_DRIVER_ENTRY_NAME "imi_driver_entry"
typedef const imi_driver_desc *(*imi_driver_entry_fn)(void);

#if defined(__GNUC__)
#define IMI_DRIVER_EXPORT __attribute__((visibility("default")))
#else
#define IMI_DRIVER_EXPORT
#endif

/* In a driver: IMI_DRIVER_DEFINE(my_desc) exports the entry function. */
#define IMI_DRIVER_DEFINE(desc)                                        \
    IMI_DRIVER_EXPORT const imi_driver_desc *imi_driver_entry(void);   \
    IMI_DRIVER_EXPORT const imi_driver_desc *imi_driver_entry(void) { return &(desc); }

#define IMI_COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

#ifdef __cplusplus
}
#endif
#endif
