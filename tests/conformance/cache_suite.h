/* Shared by the files of the cache conformance suite (cache_suite*.c): helpers, and the
 * cases that live outside cache_suite.c, whose table lists them all. */
#ifndef IMI_TESTS_CONFORMANCE_CACHE_SUITE_H
#define IMI_TESTS_CONFORMANCE_CACHE_SUITE_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "contract.h"
#include "imi_test.h"

#define TTL_SLACK_MS 1000

/* The free function of a kept cache handle (imi_conf_keep). */
static inline void conf_free_cache(void *h) { imi_cache_free(h); }

/* Opens the default cache of the config under test, kept for the runner to free if the
 * case fails before imi_conf_free; fails the case if it can't. */
#define OPEN_CACHE(t, c) \
    imi_cache *c = NULL; \
    CONF_OK(t, imi_cache_open((t)->app, NULL, &c)); \
    imi_conf_keep(t, conf_free_cache, c)

#define HAS(c, cap) ((imi_cache_caps(c) & (cap)) != 0)

/* Cases of cache_suite_*.c */
void imi_conf_cache_set_get_del_miss(imi_conf_t *t);
void imi_conf_cache_binary_values_weird_keys(imi_conf_t *t);
void imi_conf_cache_ttl_expiry(imi_conf_t *t);
void imi_conf_cache_setnx_incr(imi_conf_t *t);
void imi_conf_cache_mget_mset(imi_conf_t *t);
void imi_conf_cache_hashes(imi_conf_t *t);
void imi_conf_cache_sets(imi_conf_t *t);
void imi_conf_cache_sorted_sets(imi_conf_t *t);
void imi_conf_cache_lock_owner(imi_conf_t *t);
void imi_conf_cache_token_bucket(imi_conf_t *t);

#endif
