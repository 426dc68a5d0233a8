/* uid: 64-bit snowflake ids, UUID v4 and v7.
 *
 * A snowflake id is 0 (sign) | 41 bits of ms since the epoch | 10 bits of worker id |
 * 12 bits of sequence: up to 4096 ids per ms per worker, increasing on one generator,
 * unique across workers. Ids are never repeated: a full sequence waits for the next ms;
 * a clock that steps back is waited out for up to max_clock_back, and past that the call
 * fails with IMI_EUNAVAILABLE (retry later) rather than risk a repeat.
 *
 * The worker id comes from a source: fixed, or held through coord's instance-id
 * allocation (a lease). While the source's id is lost or unconfirmed for too long, next
 * fails with IMI_EUNAVAILABLE; a background thread takes an id again. A forked child must
 * open its own generator: one inherited from the parent refuses to issue, and
 * imi_uid_free there only forgets it, leaving the worker id with the parent (app.h).
 *
 * Config: [uid] (or [uid.NAME], whose keys override [uid]'s):
 *   epoch           = 2024-01-01   ; YYYY-MM-DD (UTC) or unix ms; fixed for a system's life
 *   worker_id       = 7            ; a fixed worker id: no coord
 *   coord           =              ; else: the coord instance to take the id from ("": [coord])
 *   service         =              ; ids are per service (default: [service] name)
 *   max_clock_back  = 1s           ; how far back a clock step is waited out
 *   timeout         = 5s           ; for taking the worker id at open
 * A generator is safe to use from many threads.
 */
#ifndef IMINFRA_UID_H
#define IMINFRA_UID_H

#include <stdint.h>
#include "iminfra/app.h"
#include "iminfra/coord.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IMI_UID_TIME_BITS 41
#define IMI_UID_WORKER_BITS 10
#define IMI_UID_SEQ_BITS 12
#define IMI_UID_MAX_WORKER ((1 << IMI_UID_WORKER_BITS) - 1)
#define IMI_UID_DEFAULT_EPOCH_MS 1704067200000LL   /* 2024-01-01T00:00:00Z */

typedef struct imi_uid imi_uid;

/* Wall-clock time in ms, and a wait until it reaches a value; replaceable for tests. The
 * real wait spins for the last ms and sleeps before that. */
typedef struct imi_uid_clock {
    int64_t (*now_ms)(void *ud);
    void (*wait_until_ms)(void *ud, int64_t unix_ms);
    void *ud;
} imi_uid_clock;

typedef struct imi_uid_options {
    int64_t epoch_ms;            /* unix ms */
    int64_t max_clock_back_ms;   /* 0: refuse at once */
    const imi_uid_clock *clock;  /* NULL: the real clock */
} imi_uid_options;

/* epoch 2024-01-01, max_clock_back 1 s, the real clock. */
imi_uid_options imi_uid_options_default(void);

/* Where a worker id comes from. acquire may block; check is called every
 * check_every_ms from the generator's thread and says IMI_OK while the id is held,
 * IMI_ECONFLICT once it is lost, anything else when it cannot tell. Without a successful
 * check (or acquire) for valid_for_ms, the generator stops issuing until the next one.
 * release gives the id back (also called after a loss, before acquiring again). */
typedef struct imi_uid_source {
    int (*acquire)(void *ud, int *worker);
    int (*check)(void *ud);
    void (*release)(void *ud);
    void *ud;
    int64_t check_every_ms;
    int64_t valid_for_ms;
} imi_uid_source;

/* From [uid] or [uid.NAME] (name NULL or ""): a fixed worker_id, or one from coord. */
int imi_uid_open(imi_app *app, const char *name, imi_uid **out);
/* As imi_uid_open, but the worker id is taken through coord, a handle the application
 * already holds (it must outlive the generator; the generator never closes it). [uid] or
 * [uid.NAME] give epoch, service, max_clock_back and timeout; worker_id there is an error. */
int imi_uid_open_with(imi_app *app, const char *name, imi_coord *coord, imi_uid **out);
/* A generator with a fixed worker id. */
int imi_uid_new(const imi_uid_options *o, int worker, imi_uid **out);
/* A generator whose worker id comes from src; the first acquire happens before this
 * returns (its failure is this call's). */
int imi_uid_new_with_source(const imi_uid_options *o, const imi_uid_source *src,
                            imi_uid **out);
void imi_uid_free(imi_uid *u);

/* The next id: IMI_OK, or IMI_EUNAVAILABLE (no worker id held now, the clock stepped back
 * past max_clock_back or is before the epoch, or a forked copy). */
int imi_uid_next(imi_uid *u, int64_t *id);
/* The worker id held now, -1 when none. */
int imi_uid_worker(const imi_uid *u);
/* For a source that learns of a loss itself (any thread): stop issuing, take a new id. */
void imi_uid_worker_lost(imi_uid *u);

typedef struct imi_uid_parts {
    int64_t unix_ms;
    int worker;
    int sequence;
} imi_uid_parts;

/* IMI_EINVALID for a negative id. */
int imi_uid_parse(const imi_uid *u, int64_t id, imi_uid_parts *out);
int imi_uid_parse_epoch(int64_t epoch_ms, int64_t id, imi_uid_parts *out);
int64_t imi_uid_epoch(const imi_uid *u);

/* ---- UUIDs ------------------------------------------------------------------------------ */

typedef struct imi_uuid {
    uint8_t b[16];
} imi_uuid;

#define IMI_UUID_STR_LEN 36   /* 8-4-4-4-12 hex digits, lowercase */

/* v4: 122 random bits. v7: 48-bit unix ms, then a 12-bit counter (ids from one process
 * increase), then 62 random bits. Both read a per-thread generator seeded from the
 * kernel's random source (reseeded after fork). */
imi_uuid imi_uuid_v4(void);
imi_uuid imi_uuid_v7(void);
/* Writes IMI_UUID_STR_LEN chars and a NUL into out. */
void imi_uuid_format(const imi_uuid *u, char out[IMI_UUID_STR_LEN + 1]);
/* IMI_EINVALID unless s is 8-4-4-4-12 hex (either case). */
int imi_uuid_parse(const char *s, imi_uuid *out);
int imi_uuid_version(const imi_uuid *u);
/* v7 only: the unix ms it holds; -1 for other versions. */
int64_t imi_uuid_v7_unix_ms(const imi_uuid *u);

#ifdef __cplusplus
}
#endif
#endif
