/* Shared by the files of the coord conformance suite (coord_suite*.c): helpers, and the
 * cases that live outside coord_suite.c, whose table lists them all. */
#ifndef IMI_TESTS_CONFORMANCE_COORD_SUITE_H
#define IMI_TESTS_CONFORMANCE_COORD_SUITE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "contract.h"
#include "imi_test.h"
#include "coord_collect.h"

/* The free function of a kept coord handle (imi_conf_keep). */
static inline void conf_free_coord(void *h) { imi_coord_free(h); }

/* Opens the default coord of the config under test, kept for the runner to free if the
 * case fails before imi_conf_free; fails the case if it can't. */
#define OPEN_COORD(t, c) \
    imi_coord *c = NULL; \
    CONF_OK(t, imi_coord_open((t)->app, NULL, &c)); \
    imi_conf_keep(t, conf_free_coord, c)

/* Cases of coord_suite_*.c */
void imi_conf_coord_watch_put_delete_in_order(imi_conf_t *t);
void imi_conf_coord_lease_keepalive_revoke_expire(imi_conf_t *t);
void imi_conf_coord_lock_try_unlock_wrong_owner(imi_conf_t *t);
void imi_conf_coord_lock_acquire_waits(imi_conf_t *t);
void imi_conf_coord_lock_expire_and_renew(imi_conf_t *t);
void imi_conf_coord_registry_register_discover_watch(imi_conf_t *t);
void imi_conf_coord_registry_lease_loss_reregisters(imi_conf_t *t);
void imi_conf_coord_instance_ids_unique_under_race(imi_conf_t *t);

#endif
