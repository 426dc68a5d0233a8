/* What the core knows of each kind's driver ABI: the vtable's frozen 1.0 size, the ops
 * structs it points to (mq's producer and subscription ops), the slots that are required
 * and the slots each capability bit needs. One table per kind, one policy for all: the
 * loader and the instance layer check a driver against it before anything is called. */
#ifndef IMI_CORE_KIND_ABI_H
#define IMI_CORE_KIND_ABI_H

#include <stddef.h>
#include <stdint.h>
#include "iminfra/driver/driver.h"

#define IMI_ABI_MAX_TABLES 2

/* An ops struct the vtable points to: normalised like the vtable itself. */
typedef struct imi_abi_table {
    const char *name;          /* "producer" */
    size_t field;              /* offset in the vtable of the pointer to it */
    size_t size_1_0;           /* the smallest the core accepts */
    size_t size_now;           /* the core's sizeof */
} imi_abi_table;

/* A slot: required (cap 0) or needed by a capability bit. */
typedef struct imi_abi_slot {
    const char *name;          /* as the SDK header spells it */
    int table;                 /* 0: the vtable; i: tables[i - 1] */
    size_t offset;             /* in its struct */
    uint64_t cap;              /* 0: required */
} imi_abi_slot;

typedef struct imi_kind_abi {
    imi_kind kind;
    size_t size_1_0, size_now; /* the vtable's */
    size_t open_slot;          /* int (*)(void *st, const imi_driver_env *) */
    size_t close_slot;         /* void (*)(void *st) */
    size_t caps_slot;          /* uint64_t (*)(void *st), optional; 0: the kind has none */
    const imi_abi_table *tables;
    size_t n_tables;
    const imi_abi_slot *slots;
    size_t n_slots;
    const char *const *cap_names; /* bit i's name, NULL-terminated */
} imi_kind_abi;

const imi_kind_abi *imi_kind_abi_of(imi_kind kind);

/* Checks a descriptor's vtable against its kind: sizes, required slots, capability
 * slots. On failure writes every problem, "; "-separated, into why and returns
 * IMI_EDRIVER (no error detail is set: the caller words the refusal). */
int imi_kind_abi_check(const imi_driver_desc *d, char *why, size_t cap);

/* The vtable (and its ops structs) copied into zero-filled structs of the core's size,
 * so that a slot past the driver's size reads NULL. One allocation; free() it. NULL when
 * out of memory. d must have passed imi_kind_abi_check. */
void *imi_kind_abi_normalise(const imi_driver_desc *d);

/* "hash,set,lock": the names of the bits in caps. */
void imi_kind_abi_cap_names(imi_kind kind, uint64_t caps, char *out, size_t cap);

/* Reads a function pointer stored at offset off of a normalised struct. */
static inline void *imi_abi_slot_at(const void *base, size_t off)
{
    void *fn;
    __builtin_memcpy(&fn, (const char *)base + off, sizeof fn);
    return fn;
}

#endif
