/* What the db drivers' prepared-statement caches share: how a cache entry knows its SQL
 * text. The core's key (imi_db_stmt.key, ABI 1.1) tells two texts apart with one compare;
 * without one (an older core, or a text the core does not keep) the text's hash, length
 * and bytes do, and a match learns the key. Header-only: each driver is its own .so. */
#ifndef IMI_DRIVERS_DB_STMT_ID_H
#define IMI_DRIVERS_DB_STMT_ID_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/driver/db_driver.h"

typedef struct db_stmt_id {
    char *sql;                     /* owned copy of the text */
    size_t len;
    uint64_t hash;
    const void *key;               /* the core's identity of sql, or NULL */
} db_stmt_id;

/* One lookup of s: its key, and its text's hash once a compare has needed it. */
typedef struct db_stmt_probe {
    const imi_db_stmt *s;
    const void *key;
    uint64_t hash;
    bool hashed;
} db_stmt_probe;

static inline db_stmt_probe db_stmt_probe_of(const imi_db_stmt *s)
{
    db_stmt_probe p = { .s = s };
#ifdef IMI_DB_STMT_KEY /* headers of ABI 1.1 or later; a core of 1.0 sets no key */
    p.key = IMI_HAS_FIELD(s, imi_db_stmt, key) ? s->key : NULL;
#endif
    return p;
}

/* FNV-1a of the text, computed at most once per lookup. */
static inline uint64_t db_stmt_probe_hash(db_stmt_probe *p)
{
    if (!p->hashed) {
        uint64_t h = 1469598103934665603u;
        for (size_t i = 0; i < p->s->sql_len; i++)
            h = (h ^ (unsigned char)p->s->sql[i]) * 1099511628211u;
        p->hash = h;
        p->hashed = true;
    }
    return p->hash;
}

/* Is id the text of p? Two keys decide alone; else the bytes do (no hash: for checking
 * one likely entry), and a match learns the key. */
static inline bool db_stmt_id_same(db_stmt_id *id, const db_stmt_probe *p)
{
    if (p->key && id->key)
        return id->key == p->key;
    if (!id->sql || id->len != p->s->sql_len || memcmp(id->sql, p->s->sql, id->len))
        return false;
    if (p->key)
        id->key = p->key;
    return true;
}

/* The same for a search over many entries: the hash rules most of them out first. */
static inline bool db_stmt_id_is(db_stmt_id *id, db_stmt_probe *p)
{
    if (!(p->key && id->key) && id->hash != db_stmt_probe_hash(p))
        return false;
    return db_stmt_id_same(id, p);
}

/* id for the text of p: a copy of it (false when out of memory), its hash and key. */
static inline bool db_stmt_id_set(db_stmt_id *id, db_stmt_probe *p)
{
    const imi_db_stmt *s = p->s;
    *id = (db_stmt_id){ .len = s->sql_len, .hash = db_stmt_probe_hash(p), .key = p->key,
                        .sql = malloc(s->sql_len + 1) };
    if (!id->sql)
        return false;
    memcpy(id->sql, s->sql, s->sql_len);
    id->sql[s->sql_len] = '\0';
    return true;
}

#endif
