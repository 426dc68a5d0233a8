/* The ABI tables of the four kinds, the checks run on a driver at load, and the
 * normalised copy of its vtable the front-ends call through. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "iminfra/driver/cache_driver.h"
#include "iminfra/driver/coord_driver.h"
#include "iminfra/driver/db_driver.h"
#include "iminfra/driver/mq_driver.h"
#include "kind_abi.h"
#include "util.h"

#define FN sizeof(void (*)(void))

/* The 1.0 layouts are frozen: a slot inserted before the end of 1.0, or a 1.0 slot
 * removed, changes these sums and stops the build. Only appending is allowed. */
_Static_assert(IMI_DRIVER_DESC_SIZE_1_0 == offsetof(imi_driver_desc, vtable) + sizeof(void *) &&
               offsetof(imi_driver_desc, caps) == offsetof(imi_driver_desc, description) + sizeof(void *),
               "imi_driver_desc 1.0 layout changed");
_Static_assert(IMI_CACHE_DRIVER_SIZE_1_0 == offsetof(imi_cache_driver, open) + 29 * FN,
               "imi_cache_driver 1.0 layout changed: slots may only be appended");
_Static_assert(IMI_COORD_DRIVER_SIZE_1_0 == offsetof(imi_coord_driver, open) + 14 * FN,
               "imi_coord_driver 1.0 layout changed: slots may only be appended");
_Static_assert(IMI_DB_DRIVER_SIZE_1_0 == offsetof(imi_db_driver, d_open) + 21 * FN,
               "imi_db_driver 1.0 layout changed: slots may only be appended");
_Static_assert(IMI_MQ_DRIVER_SIZE_1_0 == offsetof(imi_mq_driver, open) + 6 * FN,
               "imi_mq_driver 1.0 layout changed: slots may only be appended");
_Static_assert(IMI_MQ_PRODUCER_OPS_SIZE_1_0 == offsetof(imi_mq_producer_ops, p_publish) + 3 * FN,
               "imi_mq_producer_ops 1.0 layout changed: slots may only be appended");
_Static_assert(IMI_MQ_SUB_OPS_SIZE_1_0 == offsetof(imi_mq_sub_ops, s_open) + 2 * FN,
               "imi_mq_sub_ops 1.0 layout changed: slots may only be appended");
_Static_assert(IMI_SIZE_THROUGH(imi_host_api, buf_append) ==
               offsetof(imi_host_api, log) + 11 * FN, "imi_host_api 1.0 layout changed");
_Static_assert(IMI_SIZE_THROUGH(imi_driver_env, n_passthrough) ==
               offsetof(imi_driver_env, host) + 9 * sizeof(void *), "imi_driver_env 1.0 layout changed");

#define REQ(type, s) { #s, 0, offsetof(type, s), 0 }
#define CAP(type, s, bit) { #s, 0, offsetof(type, s), (bit) }

/* ---- cache ---- */
static const imi_abi_slot cache_slots[] = {
    REQ(imi_cache_driver, open), REQ(imi_cache_driver, close), REQ(imi_cache_driver, ping),
    REQ(imi_cache_driver, get), REQ(imi_cache_driver, set), REQ(imi_cache_driver, setnx),
    REQ(imi_cache_driver, del), REQ(imi_cache_driver, exists), REQ(imi_cache_driver, expire),
    REQ(imi_cache_driver, ttl), REQ(imi_cache_driver, incr),
    /* mget and mset are optional without a bit: the front-end loops over get and set. */
    CAP(imi_cache_driver, hset, IMI_CACHE_CAP_HASH), CAP(imi_cache_driver, hget, IMI_CACHE_CAP_HASH),
    CAP(imi_cache_driver, hdel, IMI_CACHE_CAP_HASH),
    CAP(imi_cache_driver, hgetall, IMI_CACHE_CAP_HASH),
    CAP(imi_cache_driver, sadd, IMI_CACHE_CAP_SET), CAP(imi_cache_driver, srem, IMI_CACHE_CAP_SET),
    CAP(imi_cache_driver, sismember, IMI_CACHE_CAP_SET),
    CAP(imi_cache_driver, smembers, IMI_CACHE_CAP_SET),
    CAP(imi_cache_driver, zadd, IMI_CACHE_CAP_ZSET), CAP(imi_cache_driver, zrem, IMI_CACHE_CAP_ZSET),
    CAP(imi_cache_driver, zscore, IMI_CACHE_CAP_ZSET),
    CAP(imi_cache_driver, zrange, IMI_CACHE_CAP_ZSET),
    CAP(imi_cache_driver, lock, IMI_CACHE_CAP_LOCK), CAP(imi_cache_driver, unlock, IMI_CACHE_CAP_LOCK),
    CAP(imi_cache_driver, lock_renew, IMI_CACHE_CAP_LOCK),
    CAP(imi_cache_driver, take, IMI_CACHE_CAP_TOKEN_BUCKET),
};
static const char *const cache_caps[] = { "hash", "set", "zset", "lock", "token_bucket", NULL };

/* ---- mq ---- */
static const imi_abi_table mq_tables[] = {
    { "producer", offsetof(imi_mq_driver, producer), IMI_MQ_PRODUCER_OPS_SIZE_1_0,
      sizeof(imi_mq_producer_ops) },
    { "sub", offsetof(imi_mq_driver, sub), IMI_MQ_SUB_OPS_SIZE_1_0, sizeof(imi_mq_sub_ops) },
};
static const imi_abi_slot mq_slots[] = {
    REQ(imi_mq_driver, open), REQ(imi_mq_driver, close), REQ(imi_mq_driver, ping),
    { "producer->p_publish", 1, offsetof(imi_mq_producer_ops, p_publish), 0 },
    { "producer->p_publish_async", 1, offsetof(imi_mq_producer_ops, p_publish_async), IMI_MQ_CAP_ASYNC },
    { "producer->p_flush", 1, offsetof(imi_mq_producer_ops, p_flush), IMI_MQ_CAP_ASYNC },
    { "sub->s_open", 2, offsetof(imi_mq_sub_ops, s_open), 0 },
    { "sub->s_close", 2, offsetof(imi_mq_sub_ops, s_close), 0 },
};
static const char *const mq_caps[] = { "async", "durable", "key_order", NULL };

/* ---- db ---- */
static const imi_abi_slot db_slots[] = {
    REQ(imi_db_driver, d_open), REQ(imi_db_driver, d_close), REQ(imi_db_driver, d_endpoint),
    REQ(imi_db_driver, d_connect), REQ(imi_db_driver, c_close), REQ(imi_db_driver, c_ping),
    REQ(imi_db_driver, c_exec), REQ(imi_db_driver, c_query),
    CAP(imi_db_driver, c_begin, IMI_DB_CAP_TX), CAP(imi_db_driver, c_commit, IMI_DB_CAP_TX),
    CAP(imi_db_driver, c_rollback, IMI_DB_CAP_TX),
    REQ(imi_db_driver, r_columns), REQ(imi_db_driver, r_column_name), REQ(imi_db_driver, r_next),
    REQ(imi_db_driver, r_type), REQ(imi_db_driver, r_int), REQ(imi_db_driver, r_double),
    REQ(imi_db_driver, r_bytes), REQ(imi_db_driver, r_close),
    CAP(imi_db_driver, d_control, IMI_DB_CAP_CONTROL),
};
static const char *const db_caps[] = { "tx", "readers", "control", NULL };

/* ---- coord ---- */
static const imi_abi_slot coord_slots[] = {
    REQ(imi_coord_driver, open), REQ(imi_coord_driver, close), REQ(imi_coord_driver, ping),
    REQ(imi_coord_driver, get), REQ(imi_coord_driver, put), REQ(imi_coord_driver, del),
    REQ(imi_coord_driver, list), REQ(imi_coord_driver, cas),
    CAP(imi_coord_driver, lease_grant, IMI_COORD_CAP_LEASE),
    CAP(imi_coord_driver, lease_keepalive, IMI_COORD_CAP_LEASE),
    CAP(imi_coord_driver, lease_revoke, IMI_COORD_CAP_LEASE),
    CAP(imi_coord_driver, watch_start, IMI_COORD_CAP_WATCH),
    CAP(imi_coord_driver, watch_cancel, IMI_COORD_CAP_WATCH),
};
static const char *const coord_caps[] = { "watch", "lease", NULL };

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static const imi_kind_abi kinds[] = {
    { IMI_KIND_CACHE, IMI_CACHE_DRIVER_SIZE_1_0, sizeof(imi_cache_driver),
      offsetof(imi_cache_driver, open), offsetof(imi_cache_driver, close), 0,
      NULL, 0, cache_slots, COUNT(cache_slots), cache_caps },
    { IMI_KIND_MQ, IMI_MQ_DRIVER_SIZE_1_0, sizeof(imi_mq_driver),
      offsetof(imi_mq_driver, open), offsetof(imi_mq_driver, close), offsetof(imi_mq_driver, caps),
      mq_tables, COUNT(mq_tables), mq_slots, COUNT(mq_slots), mq_caps },
    { IMI_KIND_DB, IMI_DB_DRIVER_SIZE_1_0, sizeof(imi_db_driver),
      offsetof(imi_db_driver, d_open), offsetof(imi_db_driver, d_close), 0,
      NULL, 0, db_slots, COUNT(db_slots), db_caps },
    { IMI_KIND_COORD, IMI_COORD_DRIVER_SIZE_1_0, sizeof(imi_coord_driver),
      offsetof(imi_coord_driver, open), offsetof(imi_coord_driver, close),
      offsetof(imi_coord_driver, caps), NULL, 0, coord_slots, COUNT(coord_slots), coord_caps },
};

const imi_kind_abi *imi_kind_abi_of(imi_kind kind)
{
    for (size_t i = 0; i < COUNT(kinds); i++)
        if (kinds[i].kind == kind)
            return &kinds[i];
    return NULL;
}

static uint32_t struct_size(const void *p)
{
    uint32_t n;
    memcpy(&n, p, sizeof n);
    return n;
}

/* The struct a slot lives in, as the driver built it (NULL when absent), and its size. */
static const void *slot_struct(const imi_kind_abi *k, const void *vt, int table, size_t *size)
{
    if (table == 0) {
        *size = struct_size(vt);
        return vt;
    }
    const void *t = imi_abi_slot_at(vt, k->tables[table - 1].field);
    if (struct_size(vt) < k->tables[table - 1].field + sizeof(void *))
        t = NULL;
    *size = t ? struct_size(t) : 0;
    return t;
}

static void cap_name(const imi_kind_abi *k, uint64_t bit, char *out, size_t cap)
{
    for (int i = 0; k->cap_names[i]; i++)
        if (bit == (uint64_t)1 << i) {
            snprintf(out, cap, "%s", k->cap_names[i]);
            return;
        }
    snprintf(out, cap, "0x%llx", (unsigned long long)bit);
}

int imi_kind_abi_check(const imi_driver_desc *d, char *why, size_t cap)
{
    why[0] = '\0';
    const imi_kind_abi *k = imi_kind_abi_of(d->kind);
    if (!k || !d->vtable) {
        imi_str_appendf(why, cap, "; ", "no vtable");
        return IMI_EDRIVER;
    }
    size_t vsize = struct_size(d->vtable);
    if (vsize < k->size_1_0) {
        imi_str_appendf(why, cap, "; ", "vtable too small: %zu bytes, ABI 1.0 has %zu", vsize, k->size_1_0);
        return IMI_EDRIVER;
    }
    for (size_t t = 0; t < k->n_tables; t++) {
        size_t size;
        const void *ops = slot_struct(k, d->vtable, (int)t + 1, &size);
        if (!ops)
            imi_str_appendf(why, cap, "; ", "required slot %s is NULL", k->tables[t].name);
        else if (size < k->tables[t].size_1_0)
            imi_str_appendf(why, cap, "; ", "%s ops too small: %zu bytes, ABI 1.0 has %zu", k->tables[t].name,
                size, k->tables[t].size_1_0);
    }
    if (why[0])
        return IMI_EDRIVER;
    /* One phrase for the required slots that are NULL, one per capability claimed
     * without its slots: "required slots NULL: get, set; it advertises 'hash' but these
     * slots are NULL: hset". */
    char missing[400] = "";
    uint64_t claimed_bad = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < k->n_slots; i++) {
            const imi_abi_slot *s = &k->slots[i];
            size_t size;
            const void *st = slot_struct(k, d->vtable, s->table, &size);
            if (size >= s->offset + FN && imi_abi_slot_at(st, s->offset))
                continue;
            if (pass == 0 && !s->cap)
                imi_str_appendf(missing, sizeof missing, ", ", "%s", s->name);
            else if (pass == 1 && s->cap && (d->caps & s->cap))
                claimed_bad |= s->cap;
        }
    if (missing[0])
        imi_str_appendf(why, cap, "; ", "required slots NULL: %s", missing);
    for (int bit = 0; bit < 64; bit++) {
        uint64_t b = (uint64_t)1 << bit;
        if (!(claimed_bad & b))
            continue;
        char names[300] = "", name[32];
        for (size_t i = 0; i < k->n_slots; i++) {
            const imi_abi_slot *s = &k->slots[i];
            size_t size;
            const void *st = slot_struct(k, d->vtable, s->table, &size);
            if (s->cap == b && !(size >= s->offset + FN && imi_abi_slot_at(st, s->offset)))
                imi_str_appendf(names, sizeof names, ", ", "%s", s->name);
        }
        cap_name(k, b, name, sizeof name);
        imi_str_appendf(why, cap, "; ", "it advertises '%s' but these slots are NULL: %s", name, names);
    }
    return why[0] ? IMI_EDRIVER : IMI_OK;
}

void *imi_kind_abi_normalise(const imi_driver_desc *d)
{
    const imi_kind_abi *k = imi_kind_abi_of(d->kind);
    size_t total = k->size_now;
    for (size_t t = 0; t < k->n_tables; t++)
        total += k->tables[t].size_now;
    char *copy = calloc(1, total);
    if (!copy)
        return NULL;
    size_t vsize = struct_size(d->vtable);
    memcpy(copy, d->vtable, vsize < k->size_now ? vsize : k->size_now);
    char *next = copy + k->size_now;
    for (size_t t = 0; t < k->n_tables; t++) {
        const imi_abi_table *tb = &k->tables[t];
        const void *ops = imi_abi_slot_at(d->vtable, tb->field);
        size_t size = struct_size(ops);
        memcpy(next, ops, size < tb->size_now ? size : tb->size_now);
        memcpy(copy + tb->field, &next, sizeof next); /* the copy points at the copies */
        next += tb->size_now;
    }
    return copy;
}

void imi_kind_abi_cap_names(imi_kind kind, uint64_t caps, char *out, size_t cap)
{
    const imi_kind_abi *k = imi_kind_abi_of(kind);
    out[0] = '\0';
    size_t used = 0;
    for (int i = 0; k && k->cap_names[i] && used < cap; i++)
        if (caps & ((uint64_t)1 << i))
            used += (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "",
                                     k->cap_names[i]);
    if (!out[0])
        snprintf(out, cap, "-");
}
