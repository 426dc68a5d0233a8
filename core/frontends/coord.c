/* The coord front-end's top: the handle's open and close. Locks, the registry and ids
 * stop here before the driver closes; the primitives are in coord_kv.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "coord_internal.h"
#include "uid_internal.h"
#include "iminfra/error.h"
#include "util.h"

#define COORD_DEFAULT_LEASE_TTL_MS 10000

/* host-pid-random: the value of this instance's locks and the stem of generated names.
 * The random part comes from the CSPRNG: a client that can guess another's owner token
 * could release its lock. */
static void make_owner(imi_coord *c)
{
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    unsigned char r[8];
    imi_random_bytes(r, sizeof r);
    snprintf(c->owner, sizeof c->owner, "%s-%d-%02x%02x%02x%02x%02x%02x%02x%02x", host,
             (int)getpid(), r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
}

static int coord_configure(imi_instance *in)
{
    imi_coord *c = (imi_coord *)in;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->stopped, NULL);
    pthread_mutex_init(&c->resolve_mu, NULL);
    make_owner(c);
    const imi_config *cfg = imi_app_config(in->app);
    c->lease_ttl_ms = COORD_DEFAULT_LEASE_TTL_MS;
    int rc = imi_config_get_duration_ms(cfg, in->section, "lease_ttl", &c->lease_ttl_ms);
    if (!rc && c->lease_ttl_ms <= 0) {
        int line = 0;
        imi_config_get(cfg, in->section, "lease_ttl", &line);
        rc = imi_error_set(IMI_ECONFIG, 0, "%s:%d: [%s] lease_ttl must be positive",
                           imi_config_name(cfg), line, in->section);
    }
    return rc;
}

/* Closed first (new calls fail, calls in flight finish), then the background work stops,
 * then the driver closes. */
static void coord_stopping(imi_instance *in)
{
    imi_coord *c = (imi_coord *)in;
    imi_coord_keeper_stop(c);
    imi_coord_resolvers_close(c);
    imi_coord_watches_stop(c);
}

static void coord_release(imi_instance *in)
{
    imi_coord *c = (imi_coord *)in;
    imi_coord_keeper_free(c);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->stopped);
    pthread_mutex_destroy(&c->resolve_mu);
}

static const char *const coord_keys[] = { "lease_ttl", NULL };

const char *const imi_coord_ops[COORD_OP_COUNT_] = {
    "ping", "get", "put", "del", "del_prefix", "cas", "list", "lease_grant", "lease_keepalive",
};

static const imi_frontend coord_frontend = {
    .kind = IMI_KIND_COORD,
    .handle_size = sizeof(imi_coord),
    .keys = coord_keys,
    .prefixed = true,
    .configure = coord_configure,
    .stopping = coord_stopping,
    .release = coord_release,
    .ops = imi_coord_ops,
    .n_ops = COORD_OP_COUNT_,
};

int imi_coord_open(imi_app *app, const char *name, imi_coord **out)
{
    return imi_instance_open(app, &coord_frontend, name, (imi_instance **)out);
}

int imi_coord_close(imi_coord *c) { return imi_instance_close(c ? &c->in : NULL); }
void imi_coord_free(imi_coord *c) { imi_instance_free(c ? &c->in : NULL); }
uint64_t imi_coord_caps(const imi_coord *c) { return c ? c->in.caps : 0; }
const char *imi_coord_driver_name(const imi_coord *c) { return c ? c->in.desc->name : NULL; }
